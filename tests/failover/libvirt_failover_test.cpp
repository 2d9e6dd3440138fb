// Failover end to end through the API over TLS on a libvirt cloud host (the test driver),
// checked against libvirt's own inventory.
#include "tests/failover/failover_fixture.h"

namespace warmsite::apitest {
namespace {

TEST_F(FailoverTest, LibvirtTestDriverEndToEnd) {
  environment(
      "libvirt",
      {{"uri", "test:///default"}, {"network", {{"mode", "openvswitch"}, {"bridge", "ovsbr0"}}}},
      "default-pool");
  const auto ids = replicas(4);
  const auto plan = failoverPlan(ids, nlohmann::json::array(), 2);

  auto failover = run("/api/v1/failover-plans/" + plan + "/failover");
  EXPECT_EQ(failover["state"], "completed") << failover.dump();
  for (const auto& id : ids) {
    EXPECT_EQ(state(id), "failover");
    EXPECT_EQ(power(id), plugin::PowerState::kOn) << id;
  }
  auto undo = run("/api/v1/failover-plans/" + plan + "/undo");
  EXPECT_EQ(undo["state"], "completed") << undo.dump();
  for (const auto& id : ids) {
    EXPECT_EQ(state(id), "ready");
    EXPECT_EQ(power(id), plugin::PowerState::kOff) << id;
  }

  auto test = run("/api/v1/failover-plans/" + plan + "/test-failover", {{"duration_s", 0}});
  EXPECT_EQ(test["state"], "completed") << test.dump();
  EXPECT_EQ(testCopies(), 0);

  EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/failover")["state"], "completed");
  EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/permanent-failover")["state"], "completed");
  EXPECT_EQ(state(ids[0]), "permanent_failover");
  EXPECT_TRUE(plugin()->compute()->listRestorePoints(ids[0], {})->empty());

  // A ready replica out of the plan can be deleted: it leaves libvirt too.
  auto edited = acme_->request(
      "PUT", "/api/v1/failover-plans/" + plan,
      nlohmann::json{{"name", "DR"}, {"members", {{{"replica_id", ids[1]}}}}}.dump());
  ASSERT_STATUS(edited, 200);
  auto removed = acme_->request("DELETE", "/api/v1/replicas/" + ids[3]);
  ASSERT_STATUS(removed, 202);
  EXPECT_EQ(waitTask(*acme_, removed.json()["task"]["id"])["state"], "succeeded");
  EXPECT_FALSE(plugin()->compute()->machine(ids[3], {}).ok());
  EXPECT_STATUS(acme_->get("/api/v1/replicas/" + ids[3]), 404);
}

}  // namespace
}  // namespace warmsite::apitest

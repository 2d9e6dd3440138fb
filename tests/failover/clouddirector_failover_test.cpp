// Failover end to end through the API over TLS on a clouddirector cloud host in front of the
// Cloud Director simulator, with and without injected faults, checked against what it holds.
#include <gmock/gmock.h>

#include "tests/clouddirector-sim/vcd_simulator.h"
#include "tests/failover/failover_fixture.h"

namespace warmsite::apitest {
namespace {

namespace sim = clouddirector::sim;

class CloudDirectorFailoverTest : public FailoverTest {
 protected:
  // A full failover with a public-IP rule, its undo, a refused test failover, then a partial and a
  // permanent failover on a clouddirector cloud host in front of `site`, checked against what the
  // simulator holds.
  void cloudDirectorRun(sim::VcdSimulator& site) {
    auto config = site.pluginConfig();
    config["task_poll_ms"] = {{"initial", 2}, {"max", 20}};
    config["retry"] = {{"attempts", 8}, {"initial_backoff_ms", 2}, {"max_backoff_ms", 20}};
    environment("clouddirector", config, "gold");
    const auto ids = replicas(3);
    const auto plan = failoverPlan(ids, httpsRule(), 2);
    EXPECT_EQ(site.vappNames().size(), 3u);
    EXPECT_TRUE(site.natRuleNames().empty());

    auto failover = run("/api/v1/failover-plans/" + plan + "/failover");
    EXPECT_EQ(failover["state"], "completed") << failover.dump();
    for (const auto& id : ids) {
      EXPECT_EQ(state(id), "failover");
      EXPECT_EQ(power(id), plugin::PowerState::kOn) << id;
    }
    EXPECT_EQ(site.natRuleNames().size(), 1u);  // the DNAT of the plan's one rule

    auto undo = run("/api/v1/failover-plans/" + plan + "/undo");
    EXPECT_EQ(undo["state"], "completed") << undo.dump();
    for (const auto& id : ids) {
      EXPECT_EQ(state(id), "ready");
      EXPECT_EQ(power(id), plugin::PowerState::kOff) << id;
    }
    EXPECT_TRUE(site.natRuleNames().empty());

    // Cloud Director offers no isolated network to the plugin: refused before anything starts.
    auto test = acme_->post("/api/v1/failover-plans/" + plan + "/test-failover",
                            nlohmann::json{{"duration_s", 0}});
    EXPECT_STATUS(test, 409);
    EXPECT_THAT(test.json()["message"].get<std::string>(),
                ::testing::HasSubstr("offers no test isolation"));
    EXPECT_EQ(acme_->get("/api/v1/failover-plans/" + plan).json()["state"], "ready");
    EXPECT_EQ(site.vappNames().size(), 3u);

    EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/failover")["state"], "completed");
    EXPECT_EQ(power(ids[0]), plugin::PowerState::kOn);
    EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/permanent-failover")["state"], "completed");
    EXPECT_EQ(state(ids[0]), "permanent_failover");
    EXPECT_TRUE(plugin()->compute()->listRestorePoints(ids[0], {})->empty());
    EXPECT_EQ(state(ids[1]), "ready");
  }
};

TEST_F(CloudDirectorFailoverTest, CloudDirectorSimulatorEndToEnd) {
  sim::VcdSimulator site;
  cloudDirectorRun(site);
}

TEST_F(CloudDirectorFailoverTest, CloudDirectorSimulatorWithFaultsEndToEnd) {
  using sim::Fault;
  sim::VcdSimulator site;
  site.addFault({.fault = Fault::kBusyEntity, .method = "POST", .every = 4});
  site.addFault({.fault = Fault::kServiceUnavailable, .every = 9});
  site.addFault({.fault = Fault::kTooManyRequests, .every = 13});
  site.addFault({.fault = Fault::kExpiredToken, .every = 17});
  cloudDirectorRun(site);
  std::size_t refused = 0;
  for (const auto& request : site.requests()) refused += request.status >= 400 ? 1 : 0;
  EXPECT_GT(refused, 0u) << "the faults fired";
}

}  // namespace
}  // namespace warmsite::apitest

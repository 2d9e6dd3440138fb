// Failover plans and operations through the API over TLS, against the vSphere mock with latency
// and injected faults, checked against the mock's own inventory.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include "engine/failover_runner.h"
#include "tests/failover/failover_fixture.h"

namespace warmsite::apitest {
namespace {

using ::testing::HasSubstr;

TEST_F(FailoverTest, FullFailoverBootsEveryReplicaAppliesTheRulesAndUndoReturnsThem) {
  environment();
  const auto ids = replicas(5);
  const auto plan = failoverPlan(ids, httpsRule(), 2);
  auto session = run("/api/v1/failover-plans/" + plan + "/failover");
  EXPECT_EQ(session["state"], "completed") << session.dump();
  EXPECT_EQ(session["vms_finished"], 5);
  for (const auto& id : ids) {
    EXPECT_EQ(state(id), "failover");
    EXPECT_EQ(power(id), plugin::PowerState::kOn);
  }
  EXPECT_EQ(acme_->get("/api/v1/failover-plans/" + plan).json()["state"], "completed");
  auto edge = plugin()->edge()->tenantEdge(tenantId_, {});
  ASSERT_EQ(edge->mappings.size(), 1u);
  EXPECT_EQ(edge->mappings[0].publicIp, ips_[0]);
  EXPECT_EQ(edge->mappings[0].targetPort, 8443);

  // A second failover while it is failed over is refused with the reason.
  auto again =
      acme_->post("/api/v1/failover-plans/" + plan + "/failover", nlohmann::json::object());
  EXPECT_STATUS(again, 409);
  EXPECT_THAT(again.json()["message"].get<std::string>(), HasSubstr("completed"));

  auto undo = run("/api/v1/failover-plans/" + plan + "/undo");
  EXPECT_EQ(undo["state"], "completed") << undo.dump();
  for (const auto& id : ids) {
    EXPECT_EQ(state(id), "ready");
    EXPECT_EQ(power(id), plugin::PowerState::kOff);
  }
  EXPECT_TRUE(plugin()->edge()->tenantEdge(tenantId_, {})->mappings.empty());
  EXPECT_EQ(acme_->get("/api/v1/failover-plans/" + plan).json()["state"], "ready");
}

TEST_F(FailoverTest, TransientFaultsAreRetriedAndTheSessionCompletes) {
  environment({{"faults",
                {{{"operation", "power_on"}, {"nth", 2}, {"kind", "transient"}},
                 {{"operation", "power_on"}, {"nth", 3}, {"kind", "transient"}}}}});
  const auto ids = replicas(3);
  auto session =
      run("/api/v1/failover-plans/" + failoverPlan(ids, nlohmann::json::array(), 1) + "/failover");
  EXPECT_EQ(session["state"], "completed") << session.dump();
  int retries = 0;
  for (const auto& vm : session["vms"]) retries += vm["attempts"].get<int>();
  EXPECT_GE(retries, 2);
  for (const auto& id : ids) EXPECT_EQ(power(id), plugin::PowerState::kOn);
}

TEST_F(FailoverTest, APermanentFaultFailsOneVmAndUndoReturnsAllToReady) {
  environment();
  const auto ids = replicas(4);
  // The same vCenter, now with a fault on one VM.
  ASSERT_NO_FATAL_FAILURE(reconfigure(
      {{"faults", {{{"operation", "power_on"}, {"target", ids[2]}, {"kind", "permanent"}}}}}));
  auto session = run("/api/v1/failover-plans/" + failoverPlan(ids) + "/failover");
  EXPECT_EQ(session["state"], "failed");
  EXPECT_THAT(session["error"].get<std::string>(), HasSubstr("1 of 4 VMs failed"));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(state(ids[i]), i == 2 ? "failover_failed" : "failover") << i;
  }
  EXPECT_THAT(acme_->get("/api/v1/replicas/" + ids[2]).json()["error"].get<std::string>(),
              HasSubstr("injected"));
  auto undo = run("/api/v1/failover-plans/" + session["plan_id"].get<std::string>() + "/undo");
  EXPECT_EQ(undo["state"], "completed") << undo.dump();
  for (const auto& id : ids) {
    EXPECT_EQ(state(id), "ready");
    EXPECT_EQ(power(id), plugin::PowerState::kOff);
  }
}

TEST_F(FailoverTest, TestFailoverRunsCopiesInABubbleAndAlwaysCleansUp) {
  environment();
  const auto ids = replicas(2);
  const auto plan = failoverPlan(ids);
  auto started =
      acme_->post("/api/v1/failover-plans/" + plan + "/test-failover", {{"duration_s", 30}});
  ASSERT_STATUS(started, 202);
  const std::string sessionId = started.json()["session"]["id"];
  // Wait until both copies run, then look at the backend.
  waitVmsFinished(*acme_, sessionId, 2);
  EXPECT_EQ(testCopies(true), 2);
  for (const auto& id : ids) {
    EXPECT_EQ(state(id), "test");
    EXPECT_EQ(power(id), plugin::PowerState::kOff);  // the replica itself never runs
  }
  auto networks = *plugin()->network()->listNetworks({});
  EXPECT_EQ(
      std::count_if(networks.begin(), networks.end(), [](const auto& n) { return n.isolated; }), 1);
  // Another operation on the plan waits its turn.
  EXPECT_STATUS(
      acme_->post("/api/v1/failover-plans/" + plan + "/failover", nlohmann::json::object()), 409);

  // Cancel: the copies and the bubble still go.
  ASSERT_STATUS(acme_->post("/api/v1/sessions/" + sessionId + "/cancel", nlohmann::json::object()),
                202);
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "cancelled");
  EXPECT_EQ(testCopies(), 0);
  networks = *plugin()->network()->listNetworks({});
  EXPECT_TRUE(
      std::none_of(networks.begin(), networks.end(), [](const auto& n) { return n.isolated; }));
  for (const auto& id : ids) EXPECT_EQ(state(id), "ready");
  EXPECT_EQ(acme_->get("/api/v1/failover-plans/" + plan).json()["state"], "ready");

  // A test that runs its course cleans up the same way.
  auto finished = run("/api/v1/failover-plans/" + plan + "/test-failover", {{"duration_s", 0}});
  EXPECT_EQ(finished["state"], "completed") << finished.dump();
  EXPECT_EQ(plugin()->compute()->inventory({})->size(), ids.size());
}

TEST_F(FailoverTest, PartialFailoverFailbackAndPermanentFailoverFollowTheStates) {
  environment();
  const auto ids = replicas(2);
  EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/failover")["state"], "completed");
  EXPECT_EQ(state(ids[0]), "failover");
  EXPECT_EQ(state(ids[1]), "ready");
  EXPECT_TRUE(
      plugin()->edge()->tenantEdge(tenantId_, {})->mappings.empty());  // partial: no public IPs

  EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/failback")["state"], "completed");
  EXPECT_EQ(state(ids[0]), "failback");
  EXPECT_EQ(power(ids[0]), plugin::PowerState::kOff);
  EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/failback/undo")["state"], "completed");
  EXPECT_EQ(state(ids[0]), "failover");
  EXPECT_EQ(power(ids[0]), plugin::PowerState::kOn);
  EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/failback")["state"], "completed");
  EXPECT_EQ(run("/api/v1/replicas/" + ids[0] + "/failback/commit")["state"], "completed");
  EXPECT_EQ(state(ids[0]), "ready");

  EXPECT_EQ(run("/api/v1/replicas/" + ids[1] + "/failover")["state"], "completed");
  EXPECT_EQ(run("/api/v1/replicas/" + ids[1] + "/permanent-failover")["state"], "completed");
  EXPECT_EQ(state(ids[1]), "permanent_failover");
  EXPECT_TRUE(plugin()->compute()->listRestorePoints(ids[1], {})->empty());
  EXPECT_TRUE(acme_->get("/api/v1/replicas/" + ids[1] + "/restore-points").json().empty());
  EXPECT_EQ(power(ids[1]), plugin::PowerState::kOn);  // it is the production VM now
}

TEST_F(FailoverTest, ForbiddenTransitionsAreRefusedWithTheReason) {
  environment();
  const auto id = replicas(1)[0];
  struct Case {
    std::string path;
    std::string because;
  };
  for (const auto& [path, because] :
       std::vector<Case>{{"/undo-failover", "must be failover or failover_failed"},
                         {"/failback", "must be failover"},
                         {"/failback/commit", "must be failback"},
                         {"/permanent-failover", "must be failover"}}) {
    auto refused = acme_->post("/api/v1/replicas/" + id + path, nlohmann::json::object());
    EXPECT_STATUS(refused, 409);
    EXPECT_EQ(refused.json()["code"], "invalid_state") << path;
    EXPECT_THAT(refused.json()["message"].get<std::string>(), HasSubstr(because)) << path;
  }
  EXPECT_EQ(state(id), "ready");
  // Without a restore point there is nothing to boot.
  const auto empty = replica("empty");
  auto noPoint = acme_->post("/api/v1/replicas/" + empty + "/failover", nlohmann::json::object());
  EXPECT_STATUS(noPoint, 409);
  EXPECT_THAT(noPoint.json()["message"].get<std::string>(), HasSubstr("no restore point"));
}

TEST_F(FailoverTest, ReplicasOverThePlanQuotaAreRefusedNamingTheLimit) {
  environment();
  auto tooBig =
      acme_->post("/api/v1/replicas", {{"subscription_id", subscription_},
                                       {"name", "huge"},
                                       {"vcpus", 2},
                                       {"cpu_mhz", 2000},
                                       {"memory_mb", 40000},
                                       {"disks", {{{"storage", "gold"}, {"size_gb", 600}}}}});
  EXPECT_STATUS(tooBig, 409);
  EXPECT_EQ(tooBig.json()["code"], "quota_exceeded");
  EXPECT_THAT(tooBig.json()["message"].get<std::string>(), HasSubstr("memory_mb"));
  EXPECT_THAT(tooBig.json()["message"].get<std::string>(), HasSubstr("storage gold"));
  EXPECT_EQ(tooBig.json()["details"]["exceeded"].size(), 2u);
  EXPECT_TRUE(acme_->get("/api/v1/replicas").json().empty());
  auto otherNetwork =
      acme_->post("/api/v1/replicas", {{"subscription_id", subscription_},
                                       {"name", "x"},
                                       {"vcpus", 1},
                                       {"cpu_mhz", 1},
                                       {"memory_mb", 1},
                                       {"disks", {{{"storage", "gold"}, {"size_gb", 1}}}},
                                       {"nics", {{{"network_id", "net-not-mine"}}}}});
  EXPECT_STATUS(otherNetwork, 400);
}

TEST_F(FailoverTest, PointInTimeFailoverBootsTheNewestPointBeforeIt) {
  environment();
  const auto id = replica("db");
  const auto first = restorePoint(id);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const auto cut = security::nowUnix();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  restorePoint(id);
  auto session = run("/api/v1/replicas/" + id + "/failover", {{"before", cut}});
  EXPECT_EQ(session["vms"][0]["restore_point_id"], first);
  auto latest = acme_->get("/api/v1/replicas/" + id + "/restore-points").json();
  EXPECT_EQ(latest.size(), 2u);
}

TEST_F(FailoverTest, PublicIpRulesAreCheckedAgainstTheTenantsAddresses) {
  environment();
  const auto ids = replicas(1);
  auto notMine = acme_->post("/api/v1/failover-plans", {{"name", "P"},
                                                        {"members",
                                                         {{{"replica_id", ids[0]},
                                                           {"public_ip_rules",
                                                            {{{"public_ip", "198.51.100.1"},
                                                              {"public_port", 80},
                                                              {"target_ip", "10.0.0.5"},
                                                              {"target_port", 80}}}}}}}});
  EXPECT_STATUS(notMine, 409);
  EXPECT_THAT(notMine.json()["message"].get<std::string>(),
              HasSubstr("not allocated to this tenant"));
  const nlohmann::json rule{
      {"public_ip", ips_[0]}, {"public_port", 80}, {"target_ip", "10.0.0.5"}, {"target_port", 80}};
  auto twice = acme_->post(
      "/api/v1/failover-plans",
      {{"name", "P"}, {"members", {{{"replica_id", ids[0]}, {"public_ip_rules", {rule, rule}}}}}});
  EXPECT_STATUS(twice, 409);
  EXPECT_THAT(twice.json()["message"].get<std::string>(), HasSubstr("mapped twice"));
  auto ssh = rule;
  ssh["public_port"] = 22;
  EXPECT_STATUS(acme_->post("/api/v1/failover-plans",
                            {{"name", "P"},
                             {"members", {{{"replica_id", ids[0]}, {"public_ip_rules", {ssh}}}}}}),
                400);
  failoverPlan(ids, {rule});
  const auto other = replica("other");
  auto taken = acme_->post(
      "/api/v1/failover-plans",
      {{"name", "Q"}, {"members", {{{"replica_id", other}, {"public_ip_rules", {rule}}}}}});
  EXPECT_STATUS(taken, 409);
  EXPECT_THAT(taken.json()["message"].get<std::string>(), HasSubstr("already mapped by plan DR"));
}

TEST_F(FailoverTest, ScriptsAreSetByTheProviderAndTheirOutputIsKept) {
  environment();
  const auto script = dataDir_ / "pre.sh";
  std::ofstream(script) << "#!/bin/sh\necho \"pre for $WARMSITE_PLAN_ID ($WARMSITE_OPERATION)\"\n";
  chmod(script.c_str(), 0755);
  const auto plan = failoverPlan(replicas(1));
  EXPECT_STATUS(acme_->request("PUT", "/api/v1/failover-plans/" + plan + "/scripts",
                               nlohmann::json{{"pre_script_command", script.string()}}.dump()),
                403);
  ASSERT_STATUS(sp_->request("PUT", "/api/v1/failover-plans/" + plan + "/scripts",
                             nlohmann::json{{"pre_script_command", script.string()},
                                            {"pre_script_timeout_s", 10}}
                                 .dump()),
                200);
  auto session = run("/api/v1/failover-plans/" + plan + "/failover");
  EXPECT_EQ(session["state"], "completed") << session.dump();
  EXPECT_THAT(session["script_output"].get<std::string>(),
              HasSubstr("pre for " + plan + " (failover)"));
}

TEST_F(FailoverTest, ReconcileReportsAVmDeletedBehindItsBackAndDoesNotRecreateIt) {
  environment();
  const auto ids = replicas(2);
  ASSERT_TRUE(
      plugin()->compute()->deleteReplica(ids[1], {}).ok());  // an operator, outside Warmsite
  auto report = sp_->post("/api/v1/reconcile", nlohmann::json::object());
  ASSERT_STATUS(report, 200);
  const auto drift = report.json()["drift"];
  ASSERT_EQ(drift.size(), 1u) << report.body;
  EXPECT_EQ(drift[0]["kind"], "missing_in_backend");
  EXPECT_EQ(drift[0]["machine_id"], ids[1]);
  EXPECT_FALSE(plugin()->compute()->machine(ids[1], {}).ok());
  EXPECT_STATUS(acme_->get("/api/v1/reconcile"), 403);
}

// A test copy id carries its session's start time, which another session may share: reconcile
// keeps only the copies of a live session's own VMs.
TEST_F(FailoverTest, ReconcileRemovesAStrayTestCopyThoughALiveSessionStartedTheSameMillisecond) {
  environment();
  const auto ids = replicas(3);
  auto started =
      acme_->post("/api/v1/failover-plans/" + failoverPlan({ids[0], ids[1]}) + "/test-failover",
                  {{"duration_s", 30}});
  ASSERT_STATUS(started, 202);
  const std::string sessionId = started.json()["session"]["id"];
  auto session = waitVmsFinished(*acme_, sessionId, 2);
  for (const auto& vm : session["vms"]) ASSERT_EQ(vm["state"], "done") << session.dump();
  // Left by a session that started in the same millisecond and is gone: a copy of a replica that
  // is not one of the live session's, named as that session would have named it.
  domain::FailoverSession sameMillisecond;
  sameMillisecond.id = sessionId;
  const auto stray = engine::testCopyId(sameMillisecond, ids[2]);
  ASSERT_TRUE(plugin()
                  ->testIsolation()
                  ->createTestCopy({stray, ids[2], "", engine::bubbleId(sameMillisecond)}, {})
                  .ok());

  auto report = sp_->post("/api/v1/reconcile", nlohmann::json::object());
  ASSERT_STATUS(report, 200);
  const auto drift = report.json()["drift"];
  ASSERT_EQ(drift.size(), 1u) << report.body;
  EXPECT_EQ(drift[0]["kind"], "test_copy_removed");
  EXPECT_EQ(drift[0]["machine_id"], stray);
  EXPECT_FALSE(plugin()->compute()->machine(stray, {}).ok());
  EXPECT_EQ(testCopies(), 2);  // the live session's own

  ASSERT_STATUS(acme_->post("/api/v1/sessions/" + sessionId + "/cancel", nlohmann::json::object()),
                202);
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "cancelled");
  EXPECT_EQ(testCopies(), 0);
}

TEST_F(FailoverTest, MaintenanceRefusesANewFailoverButNotItsUndo) {
  environment();
  const auto ids = replicas(1);
  const auto plan = failoverPlan(ids);
  EXPECT_EQ(run("/api/v1/failover-plans/" + plan + "/failover")["state"], "completed");
  ASSERT_STATUS(sp_->request("PUT", "/api/v1/service/maintenance",
                             R"({"enabled": true, "message": "until 6"})"),
                200);
  auto refused =
      acme_->post("/api/v1/replicas/" + ids[0] + "/restore-points", nlohmann::json::object());
  EXPECT_STATUS(refused, 503);
  auto blocked =
      acme_->post("/api/v1/replicas", {{"subscription_id", subscription_},
                                       {"name", "n"},
                                       {"vcpus", 1},
                                       {"cpu_mhz", 1},
                                       {"memory_mb", 1},
                                       {"disks", {{{"storage", "gold"}, {"size_gb", 1}}}}});
  EXPECT_STATUS(blocked, 503);
  EXPECT_THAT(blocked.json()["message"].get<std::string>(), HasSubstr("maintenance: until 6"));
  EXPECT_EQ(run("/api/v1/failover-plans/" + plan + "/undo")["state"], "completed");
}

TEST_F(FailoverTest, ATaskStartsAtOnceWhenAWorkerIsFreeAndWaitsWhileItsTenantIsAtItsLimit) {
  environment({{"latency_ms", {{"power_on", 1500}}}});
  const auto ids = replicas(2);
  const auto globex = tenant(*sp_, "Globex");  // made now: a password hash is slow under TSan
  ASSERT_STATUS(
      sp_->request("PATCH", "/api/v1/tenants/" + tenantId_, R"({"max_concurrent_tasks": 1})"), 200);
  // Idle workers, nothing queued: the task is committed running, not left for the scheduler.
  auto first =
      acme_->post("/api/v1/replicas/" + ids[1] + "/restore-points", nlohmann::json::object());
  ASSERT_STATUS(first, 202);
  EXPECT_EQ(first.json()["task"]["state"], "running");
  EXPECT_EQ(waitTask(*acme_, first.json()["task"]["id"])["state"], "succeeded");

  // The failover holds Acme's one task slot while its VM powers on: the next task waits queued.
  auto failover = acme_->post("/api/v1/failover-plans/" + failoverPlan({ids[0]}) + "/failover",
                              nlohmann::json::object());
  ASSERT_STATUS(failover, 202);
  auto waiting =
      acme_->post("/api/v1/replicas/" + ids[1] + "/restore-points", nlohmann::json::object());
  ASSERT_STATUS(waiting, 202);
  EXPECT_EQ(waiting.json()["task"]["state"], "queued");
  const std::string waitingTask = waiting.json()["task"]["id"];
  EXPECT_EQ(acme_->get("/api/v1/tasks/" + waitingTask).json()["state"], "queued");

  // Another tenant's new task queues behind it (oldest first), but Acme's limit holds back only
  // Acme: the scheduler claims the other one, which ends while Acme's failover still runs.
  const auto plans = sp_->get("/api/v1/plans").json();
  ASSERT_FALSE(plans.empty()) << plans.dump();
  auto subscribed =
      sp_->post("/api/v1/subscriptions", {{"tenant_id", globex}, {"plan_id", plans[0]["id"]}});
  ASSERT_STATUS(subscribed, 202);
  EXPECT_EQ(subscribed.json()["task"]["state"], "queued");
  EXPECT_EQ(waitTask(*sp_, subscribed.json()["task"]["id"])["state"], "succeeded");
  const std::string failoverTask = failover.json()["task_id"];
  EXPECT_EQ(acme_->get("/api/v1/tasks/" + failoverTask).json()["state"], "running");
  EXPECT_EQ(acme_->get("/api/v1/tasks/" + waitingTask).json()["state"], "queued");

  EXPECT_EQ(waitTask(*acme_, failoverTask)["state"], "succeeded");
  EXPECT_EQ(waitTask(*acme_, waitingTask)["state"], "succeeded");  // its turn came

  // The start of a session and its audit entry commit together: one entry, with its outcome.
  const auto audit = sp_->get("/api/v1/audit?limit=50").json()["entries"];
  int failoverEntries = 0;
  for (const auto& entry : audit) {
    if (entry["path"].get<std::string>().ends_with("/failover")) {
      ++failoverEntries;
      EXPECT_EQ(entry["status"], 202);
      EXPECT_EQ(entry["actor"], "Acme");
    }
  }
  EXPECT_EQ(failoverEntries, 1) << audit.dump();
}

TEST_F(FailoverTest, AFailoverThatStartsAtOnceHasItsFirstVmsJournalledAsStartedWithTheSession) {
  // Reverts take long enough to read the session while the first VMs are in them, with seconds
  // to spare on a loaded machine.
  environment({{"latency_ms", {{"revert_to_restore_point", 3000}}}});
  const auto ids = replicas(4);
  // The second VM has a boot delay: the third waits for it, so the first two start together.
  const auto plan = failoverPlan(ids, nlohmann::json::array(), 10, {0, 3});
  ASSERT_FALSE(plan.empty());
  const auto before = security::nowUnix();
  auto started =
      acme_->post("/api/v1/failover-plans/" + plan + "/failover", nlohmann::json::object());
  ASSERT_STATUS(started, 202);
  // The 202 carries the summary, whatever the plan's size; the VMs come with the session.
  const auto summary = started.json()["session"];
  EXPECT_FALSE(summary.contains("vms")) << summary.dump();
  EXPECT_EQ(summary["vms_total"], 4);
  const auto sessionPath = "/api/v1/sessions/" + summary["id"].get<std::string>();
  const auto vms = acme_->get(sessionPath).json()["vms"];
  ASSERT_EQ(vms.size(), 4u) << vms.dump();
  for (std::size_t i = 0; i < vms.size(); ++i) {
    EXPECT_EQ(vms[i]["replica_id"], ids[i]);
    EXPECT_EQ(vms[i]["state"], i < 2 ? "running" : "pending") << i;
    if (i < 2) {
      EXPECT_EQ(vms[i]["step"], "revert");
      EXPECT_GE(vms[i]["started_at"].get<std::int64_t>(), before);
    } else {
      EXPECT_TRUE(vms[i]["started_at"].is_null());
    }
  }
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "succeeded");
  const auto ended = acme_->get(sessionPath).json();
  for (const auto& vm : ended["vms"]) EXPECT_EQ(vm["state"], "done") << vm.dump();
  for (const auto& id : ids) {
    EXPECT_EQ(state(id), "failover");
    EXPECT_EQ(power(id), plugin::PowerState::kOn);
  }
}

TEST_F(FailoverTest, AVmCallsItsPluginOnlyOnceItsStartRecordIsCommitted) {
  environment({{"latency_ms", {{"power_on", 500}}}});
  const auto ids = replicas(2);
  auto plan =
      acme_->post("/api/v1/failover-plans", {{"name", "DR"},
                                             {"parallelism", 1},
                                             {"members",
                                              {{{"replica_id", ids[0]}, {"boot_delay_s", 0}},
                                               {{"replica_id", ids[1]}, {"boot_delay_s", 0}}}}});
  ASSERT_STATUS(plan, 201);
  auto started =
      acme_->post("/api/v1/failover-plans/" + plan.json()["id"].get<std::string>() + "/failover",
                  nlohmann::json::object());
  ASSERT_STATUS(started, 202);
  // The store's writer is held while the first VM powers on: the second VM's start record, queued
  // when the first one ends, cannot be committed.
  store::HeldWriter writer(orchestrator_->store());
  ASSERT_NO_FATAL_FAILURE(waitPoweredOn(ids[0]));
  // Twice a power-on: the second VM would be on by now had it not waited for its record.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(power(ids[1]), plugin::PowerState::kOff);
  const auto sessionPath = "/api/v1/sessions/" + started.json()["session"]["id"].get<std::string>();
  EXPECT_EQ(acme_->get(sessionPath).json()["vms"][1]["state"], "pending");
  writer.release();
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "succeeded");
  EXPECT_EQ(power(ids[1]), plugin::PowerState::kOn);
}

TEST_F(FailoverTest, NoMoreVmsRunThanTheParallelismAndABootDelayHoldsTheNextVm) {
  environment();
  const auto ids = replicas(6);
  // Power-ons take 200 ms. The third VM's first power-on fails and is retried: it runs twice as
  // long as the fourth, which frees one slot while it runs.
  ASSERT_NO_FATAL_FAILURE(reconfigure(
      {{"latency_ms", {{"power_on", 200}}},
       {"faults",
        {{{"operation", "power_on"}, {"target", ids[2]}, {"nth", 1}, {"kind", "transient"}}}}}));
  // Parallelism 2; the second VM's boot delay holds the third for a second after it started.
  const auto plan = failoverPlan(ids, nlohmann::json::array(), 2, {0, 1});
  ASSERT_FALSE(plan.empty());
  using Clock = std::chrono::steady_clock;
  const auto posted = Clock::now();
  auto started =
      acme_->post("/api/v1/failover-plans/" + plan + "/failover", nlohmann::json::object());
  ASSERT_STATUS(started, 202);
  const std::string sessionId = started.json()["session"]["id"];
  // The journal, read from the store every 5 ms: when each VM was first seen started, and the
  // most VMs seen running at once.
  std::vector<std::optional<Clock::time_point>> firstSeen(ids.size());
  std::size_t mostRunning = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    const auto session = orchestrator_->store().read(
        [&](store::Transaction& tx) { return tx.findAnySession(sessionId); });
    ASSERT_TRUE(session.has_value());
    std::size_t running = 0;
    for (std::size_t i = 0; i < session->vms.size(); ++i) {
      const auto vmState = session->vms[i].state;
      if (vmState == domain::SessionVmState::kRunning) ++running;
      if (vmState != domain::SessionVmState::kPending && !firstSeen[i]) firstSeen[i] = Clock::now();
    }
    mostRunning = std::max(mostRunning, running);
    if (session->state != domain::SessionState::kInProgress) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "succeeded");
  EXPECT_EQ(mostRunning, 2u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(firstSeen[i].has_value()) << i;
    EXPECT_EQ(power(ids[i]), plugin::PowerState::kOn) << i;
  }
  // The second VM started after the request was sent; without its delay the third would start
  // when the first ends, 200 ms in.
  EXPECT_GE(*firstSeen[2] - posted, std::chrono::seconds(1));
  // The VMs after it have no delay: each starts as soon as a slot frees.
  EXPECT_LT(*firstSeen[5] - *firstSeen[2], std::chrono::milliseconds(1000));
}

TEST_F(FailoverTest, AFreedVmWorkerTakesTheQueuedVmBeforeStartingAnotherItself) {
  // One worker for parallelism 2: the second VM waits in the pool's queue while the first runs.
  startWithVmWorkers(1);
  environment();
  const auto ids = replicas(3);
  ASSERT_NO_FATAL_FAILURE(reconfigure({{"latency_ms", {{"power_on", 200}}}}));
  auto started = acme_->post(
      "/api/v1/failover-plans/" + failoverPlan(ids, nlohmann::json::array(), 2) + "/failover",
      nlohmann::json::object());
  ASSERT_STATUS(started, 202);
  // The order the VMs came up in, from the mock's inventory every 5 ms (a power-on takes 200).
  std::vector<std::size_t> order;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (order.size() < ids.size() && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (std::find(order.begin(), order.end(), i) == order.end() &&
          power(ids[i]) == plugin::PowerState::kOn)
        order.push_back(i);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "succeeded");
  // The first VM's worker takes the second from the queue before the third, which it journals as
  // started and queues behind it.
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2}));
}

TEST_F(FailoverTest, ACancelDuringAVmStartsNoFurtherVmAndLeavesTheirReplicasReady) {
  environment({{"latency_ms", {{"power_on", 300}}}});
  const auto ids = replicas(3);
  auto started = acme_->post(
      "/api/v1/failover-plans/" + failoverPlan(ids, nlohmann::json::array(), 1) + "/failover",
      nlohmann::json::object());
  ASSERT_STATUS(started, 202);
  const auto sessionPath = "/api/v1/sessions/" + started.json()["session"]["id"].get<std::string>();
  // Cancelled while the first VM powers on: its worker, not the session's scheduler, is the first
  // to see the cancel when the VM ends.
  for (int i = 0; i < 1000 && acme_->get(sessionPath).json()["vms"][0]["step"] != "power_on"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(acme_->get(sessionPath).json()["vms"][0]["step"], "power_on");
  ASSERT_STATUS(acme_->post(sessionPath + "/cancel", nlohmann::json::object()), 202);
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "cancelled");
  const auto session = acme_->get(sessionPath).json();
  EXPECT_EQ(session["state"], "cancelled");
  expectNeverStartedFrom(1, session, ids);
}

TEST_F(FailoverTest, AStartTheStoreRefusesFailsTheSessionAndStartsNoFurtherVm) {
  environment({{"latency_ms", {{"power_on", 100}}}});
  const auto ids = replicas(3);
  const auto plan = failoverPlan(ids, nlohmann::json::array(), 1);
  // The store refuses to journal any VM but the first as started, as a full disk would: the
  // first VM's worker, starting the second when the first ends, gets the error.
  {
    SQLite::Database db((dataDir_ / "warmsite.db").string(), SQLite::OPEN_READWRITE);
    db.exec(
        "CREATE TRIGGER refuse_start BEFORE UPDATE OF state ON session_vms "
        "WHEN OLD.state = 'pending' AND NEW.state = 'running' AND NEW.replica_id <> '" +
        ids[0] + "' BEGIN SELECT RAISE(ABORT, 'start refused by the store'); END");
  }
  auto started =
      acme_->post("/api/v1/failover-plans/" + plan + "/failover", nlohmann::json::object());
  ASSERT_STATUS(started, 202);
  // The store's writer is held while the first VM powers on and until its worker queued both its
  // end record and the second VM's start: one piece carries them.
  store::HeldWriter writer(orchestrator_->store());
  ASSERT_NO_FATAL_FAILURE(waitPoweredOn(ids[0]));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  writer.release();
  const auto task = waitTask(*acme_, started.json()["task_id"]);
  EXPECT_EQ(task["state"], "failed");
  EXPECT_THAT(task.value("error", ""), HasSubstr("start refused by the store"));
  const auto session =
      acme_->get("/api/v1/sessions/" + started.json()["session"]["id"].get<std::string>()).json();
  EXPECT_EQ(session["state"], "failed");
  EXPECT_EQ(session["vms"][0]["state"], "done");
  EXPECT_EQ(state(ids[0]), "failover");
  EXPECT_EQ(power(ids[0]), plugin::PowerState::kOn);
  // A VM calls its plugin only once its start is journalled: the others never did.
  expectNeverStartedFrom(1, session, ids);
}

TEST_F(FailoverTest, AReplicaInASessionInProgressCannotBeDeleted) {
  environment({{"latency_ms", {{"revert_to_restore_point", 3000}}}});
  const auto id = replicas(1)[0];
  auto started = acme_->post("/api/v1/replicas/" + id + "/failover", nlohmann::json::object());
  ASSERT_STATUS(started, 202);
  auto refused = acme_->request("DELETE", "/api/v1/replicas/" + id);
  EXPECT_STATUS(refused, 409);
  EXPECT_THAT(refused.json()["message"].get<std::string>(), HasSubstr("still in progress"));
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "succeeded");
  EXPECT_EQ(state(id), "failover");
  EXPECT_EQ(power(id), plugin::PowerState::kOn);
}

}  // namespace
}  // namespace warmsite::apitest

// Replicas, failover plans and sessions through the warmsite CLI: a tenant runs its disaster
// recovery from the command line against a vSphere mock, and follows the sessions VM by VM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/cli/cli_fixture.h"

namespace warmsite::clitest {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

class FailoverCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    restart([](daemon::OrchestratorOptions& o) {
      o.failover.undoBatchPause = std::chrono::milliseconds(0);
      o.failover.retry.firstBackoff = std::chrono::milliseconds(10);
    });
  }

  // A tenant "acme" (profile "default") with 2 public IPs and one internet network, subscribed to
  // a plan on a vSphere mock configured with `extra`; the SP logged in as profile "sp".
  void environment(const nlohmann::json& extra = nlohmann::json::object()) {
    auto sp = admin();
    config_ = {
        {"vcenter", std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())}};
    config_.update(extra);
    auto host = sp.post("/api/v1/cloud-hosts",
                        {{"name", "dr-site"}, {"plugin", "vsphere-mock"}, {"config", config_}});
    ASSERT_STATUS(host, 201);
    host_ = host.json()["id"];
    vlanRange(sp, host_, 100, 109, true);
    publicIps(sp, {"203.0.113.10-203.0.113.11"});
    const auto tenantId = tenant(sp, "acme", kTenantPassword);
    subscription_ = subscribe(sp, tenantId, plan(sp, host_, "Gold", 1, 0), 2);
    const auto subscription = sp.get("/api/v1/subscriptions/" + subscription_).json();
    network_ = subscription["networks"][0]["id"];
    publicIp_ = subscription["public_ips"][0];
    login("sp", "admin", apitest::kAdminPassword);
    login("default", "acme", kTenantPassword);
  }

  // The tenant creates a replica with one restore point; returns its id.
  std::string replica(const std::string& name) {
    const auto created = json({"replica", "create", "--subscription", subscription_, "--name", name,
                               "--vcpus", "2", "--cpu-mhz", "2000", "--memory-mb", "1024", "--disk",
                               "gold:10", "--nic", network_ + ":10.0.0.5", "--wait"});
    const auto taken = run({"replica", "restore-point", "take", name, "--wait"});
    EXPECT_EQ(taken.exitCode, 0) << taken.out << taken.err;
    return created["replica"].value("id", "");
  }

  nlohmann::json config_;
  std::string host_, subscription_, network_, publicIp_;
};

TEST_F(FailoverCliTest, ATenantFailsAPlanOverWatchingItAndUndoesIt) {
  environment();
  const auto web = replica("web");
  const auto db = replica("db");
  const auto replicas = run({"replica", "list"});
  ASSERT_RUN_OK(replicas);
  EXPECT_THAT(replicas.out, AllOf(ContainsRegex("web +ready"), ContainsRegex("db +ready"),
                                  HasSubstr("gold 10 GB")));
  const auto points = run({"replica", "restore-point", "list", "web"});
  ASSERT_RUN_OK(points);
  EXPECT_THAT(points.out, HasSubstr("rp-"));

  const auto created =
      run({"failover-plan", "create", "--name", "DR", "--parallelism", "2", "--member", "web:0",
           "--member", db + ":0", "--rule", "web:" + publicIp_ + ":443->10.0.0.5:8443"});
  ASSERT_RUN_OK(created);
  EXPECT_THAT(created.out, AllOf(ContainsRegex("web +" + web + " +0 +"),
                                 HasSubstr(publicIp_ + ":443 -> 10.0.0.5:8443/tcp"),
                                 ContainsRegex("db +" + db + " +0 +-")));

  const auto failover = run({"failover-plan", "failover", "DR", "--watch"});
  ASSERT_RUN_OK(failover);
  // Not a terminal: a line per change, no cursor movement.
  EXPECT_THAT(failover.err,
              AllOf(ContainsRegex("web +done +power_on +attempts 0"),
                    ContainsRegex("db +done +power_on +attempts 0"),
                    ContainsRegex("fos-[0-9a-f]+ failover: 2/2 VMs finished, completed"),
                    Not(HasSubstr("\033["))));
  EXPECT_THAT(failover.out, AllOf(HasSubstr("started for 2 VM(s)"), HasSubstr("completed")));
  EXPECT_THAT(run({"replica", "show", "web"}).out, ContainsRegex("State: +failover"));

  const auto sessions = run({"session", "list"});
  ASSERT_RUN_OK(sessions);
  EXPECT_THAT(sessions.out, ContainsRegex("failover +completed +2/2"));
  EXPECT_THAT(run({"failover-plan", "show", "DR"}).out, ContainsRegex("State: +completed"));

  // Under --json the final session alone is printed.
  const auto undo = json({"failover-plan", "undo", "DR", "--watch"});
  EXPECT_EQ(undo["kind"], "undo");
  EXPECT_EQ(undo["state"], "completed");
  EXPECT_EQ(undo["vms_finished"], 2);
  EXPECT_EQ(json({"replica", "show", web})["state"], "ready");
  EXPECT_EQ(json({"replica", "show", db})["state"], "ready");
  EXPECT_EQ(json({"session", "list"}).size(), 2u);
}

TEST_F(FailoverCliTest, OneReplicaFailsOverToAPointInTimeAndBack) {
  environment();
  replica("web");
  const auto tooEarly = run({"replica", "failover", "web", "--point-in-time", "2000-01-01"});
  EXPECT_EQ(tooEarly.exitCode, 3);
  EXPECT_THAT(tooEarly.err, HasSubstr("no restore point before"));

  const auto failover = run({"replica", "failover", "web", "--point-in-time", "2999-01-01"});
  ASSERT_RUN_OK(failover);
  EXPECT_THAT(failover.out, HasSubstr("Follow it with: warmsite session watch fos-"));
  const auto sessionId = json({"session", "list"})[0]["id"].get<std::string>();
  const auto watched = run({"session", "watch", sessionId});
  ASSERT_RUN_OK(watched);
  EXPECT_THAT(watched.out, AllOf(HasSubstr("partial_failover"), HasSubstr("completed")));
  EXPECT_EQ(json({"replica", "show", "web"})["state"], "failover");
  const auto cancel = run({"session", "cancel", sessionId});
  EXPECT_EQ(cancel.exitCode, 3);
  EXPECT_THAT(cancel.err, HasSubstr("only a running session can be cancelled"));

  ASSERT_RUN_OK(run({"replica", "undo-failover", "web", "--watch"}));
  EXPECT_EQ(json({"replica", "show", "web"})["state"], "ready");
}

TEST_F(FailoverCliTest, TheServiceProviderWorksOnATenantsPlanWhichTheTenantThenEdits) {
  environment();
  replica("web");
  replica("db");
  EXPECT_EQ(json({"--profile", "sp", "replica", "list", "--tenant", "acme"}).size(), 2u);
  ASSERT_RUN_OK(run({"--profile", "sp", "failover-plan", "create", "--tenant", "acme", "--name",
                     "DR", "--member", "web", "--member", "db", "--rule",
                     "web:" + publicIp_ + ":443->10.0.0.5:8443"}));
  const auto scripts = run({"--profile", "sp", "failover-plan", "scripts", "DR", "--pre",
                            "/bin/true", "--pre-timeout", "30"});
  ASSERT_RUN_OK(scripts);
  EXPECT_THAT(scripts.out, ContainsRegex("Pre-script: +/bin/true \\(30 s\\)"));
  EXPECT_EQ(run({"failover-plan", "scripts", "DR", "--pre", "/bin/true"}).exitCode, 3);

  // What the update does not give is kept.
  const auto updated =
      json({"failover-plan", "update", "DR", "--parallelism", "1", "--description", "Both"});
  EXPECT_EQ(updated["parallelism"], 1);
  EXPECT_EQ(updated["description"], "Both");
  ASSERT_EQ(updated["members"].size(), 2u);
  EXPECT_EQ(updated["members"][0]["boot_delay_s"], 60);
  EXPECT_EQ(updated["members"][0]["public_ip_rules"][0]["target_port"], 8443);
  EXPECT_EQ(updated["pre_script"]["command"], "/bin/true");

  ASSERT_RUN_OK(run({"failover-plan", "update", "DR", "--member", "db:0"}));
  ASSERT_RUN_OK(run({"failover-plan", "test-failover", "DR", "--duration", "0", "--watch"}));
  const auto sessions =
      json({"--profile", "sp", "session", "list", "--tenant", "acme", "--plan", "DR"});
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0]["kind"], "test_failover");
  EXPECT_EQ(sessions[0]["vms_total"], 1);
  const auto deleted = run({"failover-plan", "delete", "DR"});
  ASSERT_RUN_OK(deleted);
  EXPECT_THAT(deleted.out, HasSubstr("Deleted failover plan fp-"));
  EXPECT_TRUE(json({"failover-plan", "list"}).empty());
}

TEST_F(FailoverCliTest, MalformedRulesAndDisksAreUsageErrorsThatChangeNothing) {
  environment();
  replica("web");
  replica("db");
  const auto before = dumpStore();
  for (const auto& disk : {"gold", "gold:", "gold:ten", "gold:0", ":10"}) {
    const auto refused =
        run({"replica", "create", "--subscription", subscription_, "--name", "app", "--vcpus", "1",
             "--cpu-mhz", "100", "--memory-mb", "100", "--disk", disk});
    EXPECT_EQ(refused.exitCode, 2) << disk << ": " << refused.err;
    EXPECT_THAT(refused.err, HasSubstr("STORAGE:GB")) << disk;
  }
  const std::vector<std::string> rules{"web:" + publicIp_ + ":443",
                                       "web:" + publicIp_ + ":443->10.0.0.5",
                                       "web:" + publicIp_ + ":443->10.0.0.5:70000",
                                       "web:" + publicIp_ + ":443->10.0.0.5:80/icmp",
                                       publicIp_ + ":443->10.0.0.5:80",
                                       "web->10.0.0.5:80"};
  for (const auto& rule : rules) {
    const auto refused =
        run({"failover-plan", "create", "--name", "DR", "--member", "web", "--rule", rule});
    EXPECT_EQ(refused.exitCode, 2) << rule << ": " << refused.err;
    EXPECT_THAT(refused.err, HasSubstr("REPLICA:PUBLIC_IP:PORT->TARGET_IP:PORT")) << rule;
  }
  const auto notAMember = run({"failover-plan", "create", "--name", "DR", "--member", "web",
                               "--rule", "db:" + publicIp_ + ":443->10.0.0.5:80"});
  EXPECT_EQ(notAMember.exitCode, 2);
  EXPECT_THAT(notAMember.err, HasSubstr("not a member"));
  EXPECT_EQ(run({"failover-plan", "create", "--name", "DR", "--member", "web:3601"}).exitCode, 2);
  EXPECT_EQ(dumpStore(), before);
  EXPECT_TRUE(json({"failover-plan", "list"}).empty());
}

TEST_F(FailoverCliTest, AFailedSessionExitsWith1AndUndoRecovers) {
  environment();
  const auto web = replica("web");
  const auto db = replica("db");
  // The same vCenter, now failing to power db on.
  auto faulty = config_;
  faulty["faults"] = {{{"operation", "power_on"}, {"target", db}, {"kind", "permanent"}}};
  ASSERT_RUN_OK(run({"--profile", "sp", "cloud-host", "update", host_, "--config", faulty.dump()}));
  ASSERT_RUN_OK(
      run({"failover-plan", "create", "--name", "DR", "--member", "web:0", "--member", "db:0"}));

  const auto failed = run({"failover-plan", "failover", "DR", "--watch"});
  EXPECT_EQ(failed.exitCode, 1);
  EXPECT_THAT(failed.err, AllOf(ContainsRegex("db +failed +power_on .*injected"),
                                ContainsRegex("web +done"), HasSubstr("1 of 2 VMs failed"),
                                ContainsRegex("error: session fos-[0-9a-f]+ failed")));

  const auto sessionId = json({"session", "list"})[0]["id"].get<std::string>();
  const auto watched = run({"session", "watch", sessionId, "--json"});
  EXPECT_EQ(watched.exitCode, 1);
  const auto session = nlohmann::json::parse(watched.out, nullptr, false);
  EXPECT_EQ(session["state"], "failed") << watched.out;
  EXPECT_EQ(session["vms"][1]["replica_id"], db);
  EXPECT_EQ(session["vms"][1]["state"], "failed");
  EXPECT_EQ(run({"session", "watch", sessionId}).exitCode, 1);

  ASSERT_RUN_OK(run({"failover-plan", "undo", "DR", "--watch"}));
  EXPECT_EQ(json({"replica", "show", web})["state"], "ready");
  EXPECT_EQ(json({"replica", "show", db})["state"], "ready");
}

TEST_F(FailoverCliTest, OnATerminalTheSessionIsRedrawnInPlace) {
  environment({{"latency_ms", {{"power_on", 600}}}});
  replica("web");
  replica("db");
  ASSERT_RUN_OK(run({"failover-plan", "create", "--name", "DR", "--parallelism", "1", "--member",
                     "web:0", "--member", "db:0"}));
  const auto started = json({"failover-plan", "failover", "DR"});
  const auto sessionId = started["session"]["id"].get<std::string>();

  const auto watched = runOnTerminal(WARMSITE_CLI, {"session", "watch", sessionId}, {}, home_);
  ASSERT_EQ(watched.exitCode, 0) << watched.out;
  // Two VM lines and the session's: each redraw goes 3 lines up and clears them.
  EXPECT_THAT(watched.out, AllOf(HasSubstr("\033[3A"), HasSubstr("\033[K"),
                                 HasSubstr("2/2 VMs finished, completed")));
}

}  // namespace
}  // namespace warmsite::clitest

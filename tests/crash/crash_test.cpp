// kill -9 of a real warmsited process in the middle of a plan run, a test failover and an undo;
// after a restart the session finishes, every replica is where it should be, no VM is duplicated
// and no test copy is left behind. The vSphere mock keeps its state in a file, so the backend
// survives the daemon like a real vCenter would.
#include <gmock/gmock.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <tuple>

#include "client/api_client.h"

namespace warmsite {
namespace {

using ::testing::HasSubstr;

constexpr const char* kAdminPassword = "crash-admin-1";

class Daemon {
 public:
  explicit Daemon(std::filesystem::path dataDir) : dataDir_(std::move(dataDir)) {}
  ~Daemon() { kill(SIGKILL); }

  void start() {
    std::filesystem::remove(dataDir_ / "port");
    pid_ = fork();
    if (pid_ == 0) {
      const auto log = (dataDir_ / "warmsited.log").string();
      freopen(log.c_str(), "a", stdout);
      freopen(log.c_str(), "a", stderr);
      setenv("WARMSITE_ADMIN_PASSWORD", kAdminPassword, 1);
      const std::string binary = std::string(WARMSITE_BINARY_DIR) + "/bin/warmsited";
      execl(binary.c_str(), binary.c_str(), "--data-dir", dataDir_.c_str(), "--plugin-dir",
            WARMSITE_PLUGIN_DIR, "--listen", "127.0.0.1:0", "--replication-listen", "127.0.0.1:0",
            "--port-file", (dataDir_ / "port").c_str(), "--scrypt-log-n", "10",
            "--no-default-cloud-host", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 1000 && !std::filesystem::exists(dataDir_ / "port"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream(dataDir_ / "port") >> port_;
    ASSERT_NE(port_, 0) << "warmsited did not start; see " << (dataDir_ / "warmsited.log");
  }

  void kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
  }

  client::ApiClient client(const std::string& name = "admin",
                           const std::string& password = kAdminPassword) {
    client::ClientOptions options;
    options.port = port_;
    client::ApiClient c(options);  // trust on first use is fine inside one test
    auto login = c.post("/api/v1/auth/login", {{"name", name}, {"password", password}});
    EXPECT_EQ(login.status, 200) << login.body;
    c.setToken(login.json().value("token", ""));
    return c;
  }

 private:
  std::filesystem::path dataDir_;
  pid_t pid_ = 0;
  std::uint16_t port_ = 0;
};

class CrashTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dataDir_ = std::filesystem::path(WARMSITE_BINARY_DIR) / "crash-test" / name;
    std::filesystem::remove_all(dataDir_);
    std::filesystem::create_directories(dataDir_);
    daemon_ = std::make_unique<Daemon>(dataDir_);
    daemon_->start();
    auto sp = daemon_->client();
    // Every power-on takes 150 ms, so a run of 8 VMs two at a time lasts long enough to be cut.
    auto host =
        sp.post("/api/v1/cloud-hosts", {{"name", "vc"},
                                        {"plugin", "vsphere-mock"},
                                        {"config",
                                         {{"vcenter", "crash"},
                                          {"state_file", (dataDir_ / "vcenter.json").string()},
                                          {"latency_ms",
                                           {{"power_on", 150},
                                            {"power_off", 150},
                                            {"create_test_copy", 100},
                                            {"apply_tenant_resources", 300}}}}}});
    ASSERT_EQ(host.status, 201) << host.body;
    const std::string hostId = host.json()["id"];
    ASSERT_EQ(sp.post("/api/v1/cloud-hosts/" + hostId + "/vlan-ranges",
                      {{"first", 10}, {"last", 20}, {"internet", true}})
                  .status,
              201);
    auto plan = sp.post(
        "/api/v1/plans",
        {{"name", "Gold"},
         {"cloud_host_id", hostId},
         {"storages", {{{"name", "gold"}, {"backend_storage", "datastore1"}, {"quota_gb", 1000}}}},
         {"networks_with_internet", 1}});
    ASSERT_EQ(plan.status, 201) << plan.body;
    hardwarePlan_ = plan.json()["id"];
    auto tenant = sp.post("/api/v1/tenants", {{"name", "Acme"}, {"password", "acme-pass-1"}});
    ASSERT_EQ(tenant.status, 201);
    auto subscribed = sp.post("/api/v1/subscriptions",
                              {{"tenant_id", tenant.json()["id"]}, {"plan_id", plan.json()["id"]}});
    ASSERT_EQ(subscribed.status, 202) << subscribed.body;
    waitTask(sp, subscribed.json()["task"]["id"]);
    const std::string subscription = subscribed.json()["subscription"]["id"];
    const std::string network = subscribed.json()["subscription"]["networks"][0]["id"];
    auto acme = daemon_->client("Acme", "acme-pass-1");
    auto members = nlohmann::json::array();
    for (int i = 0; i < kReplicas; ++i) {
      auto replica =
          acme.post("/api/v1/replicas", {{"subscription_id", subscription},
                                         {"name", "vm-" + std::to_string(i)},
                                         {"vcpus", 1},
                                         {"cpu_mhz", 100},
                                         {"memory_mb", 256},
                                         {"disks", {{{"storage", "gold"}, {"size_gb", 1}}}},
                                         {"nics", {{{"network_id", network}}}}});
      ASSERT_EQ(replica.status, 202) << replica.body;
      waitTask(acme, replica.json()["task"]["id"]);
      const std::string id = replica.json()["replica"]["id"];
      replicas_.push_back(id);
      auto point =
          acme.post("/api/v1/replicas/" + id + "/restore-points", nlohmann::json::object());
      waitTask(acme, point.json()["task"]["id"]);
      members.push_back({{"replica_id", id}, {"boot_delay_s", 0}});
    }
    auto failoverPlan = acme.post("/api/v1/failover-plans",
                                  {{"name", "DR"}, {"parallelism", 2}, {"members", members}});
    ASSERT_EQ(failoverPlan.status, 201) << failoverPlan.body;
    plan_ = failoverPlan.json()["id"];
  }

  void TearDown() override {
    daemon_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dataDir_);
  }

  static nlohmann::json waitTask(client::ApiClient& c, const std::string& taskId) {
    for (int i = 0; i < 3000; ++i) {
      auto task = c.get("/api/v1/tasks/" + taskId).json();
      const std::string state = task.value("state", "");
      if (state == "succeeded" || state == "failed" || state == "cancelled") return task;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "task " << taskId << " did not finish";
    return {};
  }

  // Starts `operation`, waits until `finished` VMs of its session are done, then kills the daemon
  // and starts it again. Returns the session id.
  std::string startAndKill(const std::string& operation, const nlohmann::json& body, int finished) {
    auto acme = daemon_->client("Acme", "acme-pass-1");
    auto started = acme.post("/api/v1/failover-plans/" + plan_ + "/" + operation, body);
    EXPECT_EQ(started.status, 202) << started.body;
    const std::string session = started.json()["session"]["id"];
    const std::string task = started.json()["task_id"];
    // Kill only once the run has begun (a queued task simply starts after the restart).
    for (int i = 0; i < 3000; ++i) {
      const auto progress = acme.get("/api/v1/sessions/" + session).json();
      const auto state = acme.get("/api/v1/tasks/" + task).json().value("state", "");
      if (state != "queued" && progress.value("vms_finished", 0) >= finished) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    daemon_->kill(SIGKILL);
    daemon_->start();
    return session;
  }

  nlohmann::json waitSession(const std::string& id) {
    auto acme = daemon_->client("Acme", "acme-pass-1");
    for (int i = 0; i < 3000; ++i) {
      auto session = acme.get("/api/v1/sessions/" + id).json();
      if (session.value("state", "") != "in_progress") return session;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "session " << id << " did not finish";
    return {};
  }

  // Reconcile now: the store and the vCenter agree (no drift) and hold exactly the replicas.
  void expectNoDrift() {
    auto sp = daemon_->client();
    auto report = sp.post("/api/v1/reconcile", nlohmann::json::object()).json();
    EXPECT_EQ(report["machines_checked"], kReplicas) << report.dump();
    EXPECT_TRUE(report["drift"].empty()) << report.dump();
  }

  void expectStates(const std::string& expected) {
    auto acme = daemon_->client("Acme", "acme-pass-1");
    for (const auto& id : replicas_)
      EXPECT_EQ(acme.get("/api/v1/replicas/" + id).json()["state"], expected) << id;
  }

  static constexpr int kReplicas = 8;
  std::string hardwarePlan_;
  std::filesystem::path dataDir_;
  std::unique_ptr<Daemon> daemon_;
  std::vector<std::string> replicas_;
  std::string plan_;
};

TEST_P(CrashTest, KilledDuringFailoverTheRunResumesAndFinishes) {
  const auto session = startAndKill("failover", nlohmann::json::object(), GetParam());
  auto finished = waitSession(session);
  EXPECT_EQ(finished["state"], "completed") << finished.dump();
  expectStates("failover");
  expectNoDrift();
}

TEST_P(CrashTest, KilledDuringTestFailoverTheCopiesAreCleanedUp) {
  const auto session =
      startAndKill("test-failover", {{"duration_s", 600}}, std::min(GetParam(), kReplicas));
  auto finished = waitSession(session);
  EXPECT_EQ(finished["state"], "failed") << finished.dump();
  EXPECT_THAT(finished["error"].get<std::string>(), HasSubstr("interrupted by a restart"));
  expectStates("ready");
  expectNoDrift();  // machines_checked counts the replicas only: no copy is left
}

TEST_P(CrashTest, KilledDuringUndoTheUndoFinishes) {
  auto acme = daemon_->client("Acme", "acme-pass-1");
  auto failover =
      acme.post("/api/v1/failover-plans/" + plan_ + "/failover", nlohmann::json::object());
  ASSERT_EQ(failover.status, 202);
  waitTask(acme, failover.json()["task_id"]);
  const auto session = startAndKill("undo", nlohmann::json::object(), GetParam());
  auto finished = waitSession(session);
  EXPECT_EQ(finished["state"], "completed") << finished.dump();
  expectStates("ready");
  expectNoDrift();
}

// Kill points: before any VM finished, after some, and after most.
INSTANTIATE_TEST_SUITE_P(KillPoints, CrashTest, ::testing::Values(0, 3, 6));

// Seeded kills: each seed draws the moments (printed, so a failure replays) at which the daemon is
// killed during a plan's failover, its undo and a subscription's provisioning; 8 seeds, 24 kills.
class SeededCrashTest : public CrashTest {
 protected:
  void killAfter(std::chrono::milliseconds delay) {
    std::this_thread::sleep_for(delay);
    daemon_->kill(SIGKILL);
    daemon_->start();
  }
};

TEST_P(SeededCrashTest, RandomKillsDuringFailoverUndoAndProvisioning) {
  std::mt19937 random(static_cast<std::uint32_t>(GetParam()));
  // A run of the plan lasts ~600 ms (8 VMs, 2 at a time, 150 ms each); provisioning ~300 ms.
  std::uniform_int_distribution<int> duringRun(0, 700), duringProvisioning(0, 400);
  const std::chrono::milliseconds failoverKill(duringRun(random)), undoKill(duringRun(random)),
      provisioningKill(duringProvisioning(random));
  SCOPED_TRACE("seed " + std::to_string(GetParam()) + ": kills " +
               std::to_string(failoverKill.count()) + " ms into the failover, " +
               std::to_string(undoKill.count()) + " ms into the undo, " +
               std::to_string(provisioningKill.count()) + " ms into provisioning");

  for (const auto& [operation, delay, endState] :
       {std::tuple{"failover", failoverKill, "failover"}, std::tuple{"undo", undoKill, "ready"}}) {
    auto acme = daemon_->client("Acme", "acme-pass-1");
    auto started =
        acme.post("/api/v1/failover-plans/" + plan_ + "/" + operation, nlohmann::json::object());
    ASSERT_EQ(started.status, 202) << started.body;
    killAfter(delay);
    auto restarted = daemon_->client("Acme", "acme-pass-1");
    auto task = waitTask(restarted, started.json()["task_id"]);
    EXPECT_EQ(task["state"], "succeeded") << operation << ": " << task.dump();
    EXPECT_EQ(waitSession(started.json()["session"]["id"])["state"], "completed") << operation;
    expectStates(endState);
    expectNoDrift();
  }

  auto sp = daemon_->client();
  auto beta = sp.post("/api/v1/tenants", {{"name", "Beta"}, {"password", "beta-pass-1"}});
  ASSERT_EQ(beta.status, 201) << beta.body;
  auto subscribed = sp.post("/api/v1/subscriptions",
                            {{"tenant_id", beta.json()["id"]}, {"plan_id", hardwarePlan_}});
  ASSERT_EQ(subscribed.status, 202) << subscribed.body;
  killAfter(provisioningKill);
  auto after = daemon_->client();
  // Provisioning again after the kill must not trip over what the first attempt made.
  auto task = waitTask(after, subscribed.json()["task"]["id"]);
  EXPECT_EQ(task["state"], "succeeded") << task.dump();
  auto subscription = after
                          .get("/api/v1/subscriptions/" +
                               subscribed.json()["subscription"]["id"].get<std::string>())
                          .json();
  EXPECT_EQ(subscription["state"], "ready") << subscription.dump();
  EXPECT_EQ(subscription["networks"].size(), 1u) << subscription.dump();
}

INSTANTIATE_TEST_SUITE_P(Seeds, SeededCrashTest, ::testing::Range(1, 9));

}  // namespace
}  // namespace warmsite

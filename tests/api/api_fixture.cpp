#include "tests/api/api_fixture.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <thread>

namespace warmsite::apitest {

std::filesystem::path& ApiTest::dataRoot() {
  static std::filesystem::path root = std::filesystem::path(WARMSITE_BINARY_DIR) / "api-test";
  return root;
}

void ApiTest::SetUp() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  dataDir_ = dataRoot() / (std::string(test->test_suite_name()) + "." + test->name());
  std::filesystem::remove_all(dataDir_);
  std::filesystem::create_directories(dataDir_);
  start();
}

void ApiTest::TearDown() {
  orchestrator_.reset();
  std::filesystem::remove_all(dataDir_);
}

void ApiTest::start(const std::function<void(daemon::OrchestratorOptions&)>& adjust) {
  daemon::OrchestratorOptions options;
  options.dataDir = dataDir_;
  options.pluginDir = WARMSITE_PLUGIN_DIR;
  options.http.address = "127.0.0.1";
  options.http.port = 0;
  options.replication.listener.address = "127.0.0.1";
  options.replication.listener.port = 0;
  options.http.ioThreads = 2;
  options.http.workerThreads = 8;
  options.tlsNames = {"localhost"};
  options.tlsAddresses = {"127.0.0.1"};
  options.scrypt.logN = 10;  // fast hashes: tests log in hundreds of times
  options.engineWorkers = 4;
  options.initialAdminPassword = kAdminPassword;
  options.registerDefaultCloudHost = false;  // tests register their own, one simulated vCenter each
  if (adjust) adjust(options);
  orchestrator_ = std::make_unique<daemon::Orchestrator>(options);
  thumbprint_ = orchestrator_->tls().current().info.thumbprintSha256;
}

void ApiTest::restart(const std::function<void(daemon::OrchestratorOptions&)>& adjust) {
  orchestrator_.reset();
  start(adjust);
}

client::ApiClient ApiTest::client(const std::string& name, const std::string& password) {
  client::ClientOptions options;
  options.port = orchestrator_->port();
  options.pinnedThumbprint = thumbprint_;
  client::ApiClient c(options);
  if (!name.empty()) {
    auto response = c.post("/api/v1/auth/login", {{"name", name}, {"password", password}});
    EXPECT_EQ(response.status, 200) << response.body;
    c.setToken(response.json().value("token", ""));
  }
  return c;
}

std::string ApiTest::cloudHost(client::ApiClient& sp, const std::string& name) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  auto response = sp.post("/api/v1/cloud-hosts",
                          {{"name", name},
                           {"plugin", "vsphere-mock"},
                           {"config", {{"vcenter", std::string(test->name()) + "-" + name}}}});
  EXPECT_EQ(response.status, 201) << response.body;
  return response.json().value("id", "");
}

void ApiTest::vlanRange(client::ApiClient& sp, const std::string& cloudHostId, int first, int last,
                        bool internet) {
  auto response = sp.post("/api/v1/cloud-hosts/" + cloudHostId + "/vlan-ranges",
                          {{"first", first}, {"last", last}, {"internet", internet}});
  EXPECT_EQ(response.status, 201) << response.body;
}

void ApiTest::publicIps(client::ApiClient& sp, const std::vector<std::string>& addresses) {
  auto response = sp.post("/api/v1/public-ips", {{"addresses", addresses}});
  EXPECT_EQ(response.status, 201) << response.body;
}

std::string ApiTest::plan(client::ApiClient& sp, const std::string& cloudHostId,
                          const std::string& name, int withInternet, int withoutInternet,
                          const std::string& backendStorage) {
  auto response = sp.post(
      "/api/v1/plans",
      {{"name", name},
       {"cloud_host_id", cloudHostId},
       {"cpu_mhz", 20000},
       {"memory_mb", 32768},
       {"storages", {{{"name", "gold"}, {"backend_storage", backendStorage}, {"quota_gb", 500}}}},
       {"networks_with_internet", withInternet},
       {"networks_without_internet", withoutInternet}});
  EXPECT_EQ(response.status, 201) << response.body;
  return response.json().value("id", "");
}

std::string ApiTest::tenant(client::ApiClient& sp, const std::string& name,
                            const std::string& password) {
  auto response = sp.post("/api/v1/tenants", {{"name", name}, {"password", password}});
  EXPECT_EQ(response.status, 201) << response.body;
  return response.json().value("id", "");
}

std::string ApiTest::subscribe(client::ApiClient& sp, const std::string& tenantId,
                               const std::string& planId, int ips) {
  auto response = sp.post("/api/v1/subscriptions",
                          {{"tenant_id", tenantId}, {"plan_id", planId}, {"public_ip_count", ips}});
  EXPECT_EQ(response.status, 202) << response.body;
  if (response.status != 202) return {};
  const auto task = waitTask(sp, response.json()["task"]["id"].get<std::string>());
  EXPECT_EQ(task.value("state", ""), "succeeded") << task.dump();
  return response.json()["subscription"]["id"].get<std::string>();
}

nlohmann::json ApiTest::waitTask(client::ApiClient& c, const std::string& taskId) {
  for (int i = 0; i < 1000; ++i) {
    auto response = c.get("/api/v1/tasks/" + taskId);
    EXPECT_EQ(response.status, 200) << response.body;
    auto task = response.json();
    const auto state = task.value("state", "");
    if (state == "succeeded" || state == "failed" || state == "cancelled") return task;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "task " << taskId << " did not finish";
  return {};
}

nlohmann::json ApiTest::waitVmsFinished(client::ApiClient& c, const std::string& sessionId,
                                        int count) {
  nlohmann::json session = nlohmann::json::object();
  for (int i = 0; i < 1000 && session.value("vms_finished", 0) < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    session = c.get("/api/v1/sessions/" + sessionId).json();
  }
  if (session.value("vms_finished", 0) < count)
    ADD_FAILURE() << "session " << sessionId << " did not finish " << count << " VMs";
  return session;
}

std::string ApiTest::dumpStore() {
  SQLite::Database db((dataDir_ / "warmsite.db").string(), SQLite::OPEN_READONLY);
  std::string dump;
  for (const char* table :
       {"tenants", "cloud_hosts", "vlan_ranges", "vlans", "public_ips", "plans", "plan_storages",
        "subscriptions", "subscription_networks", "tasks", "replicas", "settings"}) {
    dump += std::string("== ") + table + "\n";
    SQLite::Statement rows(db, std::string("SELECT * FROM ") + table + " ORDER BY 1, 2");
    while (rows.executeStep()) {
      for (int i = 0; i < rows.getColumnCount(); ++i) dump += rows.getColumn(i).getString() + "|";
      dump += "\n";
    }
  }
  SQLite::Statement accounts(
      db, "SELECT id, name, role, tenant_id, password_hash FROM accounts ORDER BY id");
  while (accounts.executeStep()) {
    for (int i = 0; i < 5; ++i) dump += accounts.getColumn(i).getString() + "|";
    dump += "\n";
  }
  return dump;
}

}  // namespace warmsite::apitest

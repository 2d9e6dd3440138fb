#pragma once
// What the benchmarks share: an orchestrator in this process on loopback (its data under
// build/bench/<name>, removed afterwards), clients pinned to it, and helpers that stop the
// benchmark with a message when the service answers otherwise than expected.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/api_client.h"
#include "daemon/orchestrator.h"

namespace warmsite::bench {

inline void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "failed: %s\n", what.c_str());
    std::exit(1);
  }
}

class BenchService {
 public:
  // `adjust` tunes the options for the benchmark (worker counts, ...).
  explicit BenchService(const std::string& name,
                        const std::function<void(daemon::OrchestratorOptions&)>& adjust = {}) {
    dataDir_ = std::filesystem::path(WARMSITE_BINARY_DIR) / "bench" / name;
    std::filesystem::remove_all(dataDir_);
    auto options = daemon::embeddedOptions(dataDir_, WARMSITE_PLUGIN_DIR, "bench-admin-1");
    if (adjust) adjust(options);
    orchestrator_ = std::make_unique<daemon::Orchestrator>(options);
  }
  ~BenchService() {
    orchestrator_.reset();
    std::filesystem::remove_all(dataDir_);
  }

  daemon::Orchestrator& orchestrator() { return *orchestrator_; }
  std::string thumbprint() const { return orchestrator_->tls().current().info.thumbprintSha256; }

  client::ApiClient login(const std::string& name, const std::string& password) {
    client::ClientOptions options;
    options.port = orchestrator_->port();
    options.pinnedThumbprint = thumbprint();
    client::ApiClient c(options);
    auto response = c.post("/api/v1/auth/login", {{"name", name}, {"password", password}});
    require(response.status == 200, "login " + name + ": " + response.body);
    c.setToken(response.json()["token"]);
    return c;
  }
  client::ApiClient admin() { return login("admin", "bench-admin-1"); }

  static nlohmann::json expect(const client::ClientResponse& response, int status,
                               const std::string& what) {
    require(response.status == status, what + ": " + response.body);
    return response.json();
  }

  static void waitTask(client::ApiClient& c, const std::string& id) {
    while (true) {
      auto task = c.get("/api/v1/tasks/" + id).json();
      const std::string state = task["state"];
      if (state == "succeeded") return;
      require(state == "queued" || state == "running", "task " + id + ": " + task.dump());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // A cloud host from `body` and a plan `planName` on it whose storage "gold" is `storage`;
  // returns the plan's id.
  std::string cloudHost(client::ApiClient& sp, const nlohmann::json& body,
                        const std::string& storage, const std::string& planName = "Gold") {
    auto host = expect(sp.post("/api/v1/cloud-hosts", body), 201, "cloud host");
    const std::string id = host["id"];
    auto plan = expect(
        sp.post("/api/v1/plans",
                {{"name", planName},
                 {"cloud_host_id", id},
                 {"storages",
                  {{{"name", "gold"}, {"backend_storage", storage}, {"quota_gb", 100000}}}}}),
        201, "plan");
    return plan["id"];
  }

  // A tenant subscribed to `planId` with `count` replicas (one restore point each) and a failover
  // plan over them (parallelism 10, boot delay 0); returns the failover plan id.
  std::string tenantWithPlan(client::ApiClient& sp, const std::string& name,
                             const std::string& planId, int count) {
    auto tenant = expect(
        sp.post("/api/v1/tenants", {{"name", name}, {"password", "tenant-pass-1"}}), 201, "tenant");
    auto subscribed =
        expect(sp.post("/api/v1/subscriptions", {{"tenant_id", tenant["id"]}, {"plan_id", planId}}),
               202, "subscribe");
    waitTask(sp, subscribed["task"]["id"]);
    const std::string subscription = subscribed["subscription"]["id"];
    auto tenantClient = login(name, "tenant-pass-1");
    std::vector<std::string> replicas;
    std::vector<std::string> tasks;
    for (int i = 0; i < count; ++i) {
      auto created = expect(tenantClient.post("/api/v1/replicas",
                                              {{"subscription_id", subscription},
                                               {"name", "vm-" + std::to_string(i)},
                                               {"vcpus", 1},
                                               {"cpu_mhz", 10},
                                               {"memory_mb", 64},
                                               {"disks", {{{"storage", "gold"}, {"size_gb", 1}}}}}),
                            202, "replica");
      replicas.push_back(created["replica"]["id"]);
      tasks.push_back(created["task"]["id"]);
    }
    for (const auto& task : tasks) waitTask(tenantClient, task);
    tasks.clear();
    for (const auto& id : replicas) {
      tasks.push_back(expect(
          tenantClient.post("/api/v1/replicas/" + id + "/restore-points", nlohmann::json::object()),
          202, "restore point")["task"]["id"]);
    }
    for (const auto& task : tasks) waitTask(tenantClient, task);
    auto members = nlohmann::json::array();
    for (const auto& id : replicas) members.push_back({{"replica_id", id}, {"boot_delay_s", 0}});
    return expect(tenantClient.post("/api/v1/failover-plans",
                                    {{"name", "DR"}, {"parallelism", 10}, {"members", members}}),
                  201, "failover plan")["id"];
  }

 private:
  std::filesystem::path dataDir_;
  std::unique_ptr<daemon::Orchestrator> orchestrator_;
};

}  // namespace warmsite::bench

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
    daemon::OrchestratorOptions options;
    options.dataDir = dataDir_;
    options.pluginDir = WARMSITE_PLUGIN_DIR;
    options.http.address = options.replication.listener.address = "127.0.0.1";
    options.http.port = options.replication.listener.port = 0;
    options.tlsNames = {"localhost"};
    options.scrypt.logN = 10;
    options.initialAdminPassword = "bench-admin-1";
    options.registerDefaultCloudHost = false;
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

  // A cloud host from `body` and a plan "Gold" on it whose storage "gold" is `storage`; returns
  // the plan's id.
  std::string cloudHost(client::ApiClient& sp, const nlohmann::json& body,
                        const std::string& storage) {
    auto host = expect(sp.post("/api/v1/cloud-hosts", body), 201, "cloud host");
    const std::string id = host["id"];
    auto plan = expect(
        sp.post("/api/v1/plans",
                {{"name", "Gold"},
                 {"cloud_host_id", id},
                 {"storages",
                  {{{"name", "gold"}, {"backend_storage", storage}, {"quota_gb", 100000}}}}}),
        201, "plan");
    return plan["id"];
  }

 private:
  std::filesystem::path dataDir_;
  std::unique_ptr<daemon::Orchestrator> orchestrator_;
};

}  // namespace warmsite::bench

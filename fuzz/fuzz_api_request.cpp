// Hostile request bodies against the real API: an orchestrator in this process (SQLite store,
// vSphere mock cloud host, engine running) with one tenant subscribed, a replica and a failover
// plan. Each input picks a write route and a caller (the SP or the tenant) and sends the rest as
// the body. Whatever the body, the answer is a 2xx or a 4xx with the one error shape — a 5xx, a
// crash or a hang is a finding.
//   input: [route index] [caller] [body...]
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/orchestrator.h"

namespace {

using warmsite::api::HttpRequest;
using warmsite::api::HttpResponse;

struct Route {
  const char* method;
  std::string path;
};

class Service {
 public:
  Service() {
    spdlog::set_level(spdlog::level::off);
    dataDir_ = std::filesystem::path(WARMSITE_BINARY_DIR) / "fuzz-api";
    std::filesystem::remove_all(dataDir_);
    orchestrator_ = std::make_unique<warmsite::daemon::Orchestrator>(
        warmsite::daemon::embeddedOptions(dataDir_, WARMSITE_PLUGIN_DIR, "fuzz-admin-1"));

    admin_ = login("admin", "fuzz-admin-1");
    const auto host =
        created(call("POST", "/api/v1/cloud-hosts", admin_,
                     R"({"name":"vc","plugin":"vsphere-mock","config":{"vcenter":"fuzz"}})"));
    created(call("POST", "/api/v1/cloud-hosts/" + host + "/vlan-ranges", admin_,
                 R"({"first":10,"last":4000,"internet":true})"));
    expectStatus(
        call("POST", "/api/v1/public-ips", admin_, R"({"addresses":["10.0.0.1-10.0.3.255"]})"),
        201);
    const auto plan = created(call(
        "POST", "/api/v1/plans", admin_,
        R"({"name":"Gold","cloud_host_id":")" + host +
            R"(","networks_with_internet":1,"storages":[{"name":"gold","backend_storage":"datastore1","quota_gb":100}]})"));
    const auto tenant = created(
        call("POST", "/api/v1/tenants", admin_, R"({"name":"Acme","password":"acme-pass-1"})"));
    const auto subscribed =
        nlohmann::json::parse(expectStatus(call("POST", "/api/v1/subscriptions", admin_,
                                                R"({"tenant_id":")" + tenant + R"(","plan_id":")" +
                                                    plan + R"(","public_ip_count":2})"),
                                           202)
                                  .body);
    orchestrator_->engine().waitIdle(std::chrono::seconds(30));
    const std::string subscription = subscribed["subscription"]["id"];
    tenantToken_ = login("Acme", "acme-pass-1");
    const auto replica =
        nlohmann::json::parse(
            expectStatus(
                call(
                    "POST", "/api/v1/replicas", tenantToken_,
                    R"({"subscription_id":")" + subscription +
                        R"(","name":"web","vcpus":1,"cpu_mhz":100,"memory_mb":256,"disks":[{"storage":"gold","size_gb":1}]})"),
                202)
                .body)["replica"]["id"]
            .get<std::string>();
    orchestrator_->engine().waitIdle(std::chrono::seconds(30));
    expectStatus(
        call("POST", "/api/v1/replicas/" + replica + "/restore-points", tenantToken_, "{}"), 202);
    orchestrator_->engine().waitIdle(std::chrono::seconds(30));
    const auto failoverPlan = created(
        call("POST", "/api/v1/failover-plans", tenantToken_,
             R"({"name":"DR","members":[{"replica_id":")" + replica + R"(","boot_delay_s":0}]})"));

    routes_ = {{"POST", "/api/v1/auth/login"},
               {"POST", "/api/v1/tenants"},
               {"PATCH", "/api/v1/tenants/" + tenant},
               {"POST", "/api/v1/cloud-hosts"},
               {"POST", "/api/v1/cloud-hosts/" + host + "/vlan-ranges"},
               {"POST", "/api/v1/public-ips"},
               {"POST", "/api/v1/plans"},
               {"PATCH", "/api/v1/plans/" + plan},
               {"POST", "/api/v1/subscriptions"},
               {"POST", "/api/v1/replicas"},
               {"POST", "/api/v1/replicas/" + replica + "/failover"},
               {"POST", "/api/v1/failover-plans"},
               {"PUT", "/api/v1/failover-plans/" + failoverPlan},
               {"PUT", "/api/v1/failover-plans/" + failoverPlan + "/scripts"},
               {"POST", "/api/v1/failover-plans/" + failoverPlan + "/failover"},
               {"POST", "/api/v1/failover-plans/" + failoverPlan + "/test-failover"},
               {"POST", "/api/v1/replication-jobs"},
               {"PUT", "/api/v1/maintenance"}};
  }

  void run(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return;
    const auto& route = routes_[data[0] % routes_.size()];
    const auto& token = data[1] % 2 == 0 ? admin_ : tenantToken_;
    const std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
    const auto response = call(route.method, route.path, token, body);
    if (response.status >= 500) fail(route, body, response);
    if (response.status >= 400) {
      const auto error = nlohmann::json::parse(response.body, nullptr, false);
      if (!error.is_object() || !error.contains("code") || !error["code"].is_string() ||
          !error.contains("message")) {
        fail(route, body, response);
      }
    }
  }

 private:
  HttpResponse call(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body) {
    HttpRequest request;
    request.method = method;
    request.target = request.path = path;
    request.headers["content-type"] = "application/json";
    if (!token.empty()) request.headers["authorization"] = "Bearer " + token;
    request.body = body;
    request.peer = "127.0.0.1:1";
    return orchestrator_->api().handle(request);
  }
  std::string login(const std::string& name, const std::string& password) {
    const auto response =
        expectStatus(call("POST", "/api/v1/auth/login", "",
                          nlohmann::json{{"name", name}, {"password", password}}.dump()),
                     200);
    return nlohmann::json::parse(response.body)["token"];
  }
  static HttpResponse expectStatus(HttpResponse response, int status) {
    if (response.status != status) {
      std::fprintf(stderr, "setup: expected %d, got %d: %s\n", status, response.status,
                   response.body.c_str());
      std::abort();
    }
    return response;
  }
  static std::string created(const HttpResponse& response) {
    return nlohmann::json::parse(expectStatus(response, 201).body)["id"];
  }
  [[noreturn]] static void fail(const Route& route, const std::string& body,
                                const HttpResponse& response) {
    std::fprintf(stderr, "%s %s\nbody: %s\nanswered %d: %s\n", route.method, route.path.c_str(),
                 body.c_str(), response.status, response.body.c_str());
    __builtin_trap();
  }

  std::filesystem::path dataDir_;
  std::unique_ptr<warmsite::daemon::Orchestrator> orchestrator_;
  std::string admin_, tenantToken_;
  std::vector<Route> routes_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Service service;  // one service for the whole run; inputs pile up state as users would
  service.run(data, size);
  return 0;
}

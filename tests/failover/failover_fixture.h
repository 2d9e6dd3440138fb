// The failover tests' fixture: an orchestrator over TLS with an SP client, and a tenant "Acme"
// subscribed to a plan on a cloud host of the test's choice.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/api/api_fixture.h"
#include "tests/store/held_writer.h"

namespace warmsite::apitest {

class FailoverTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    startWithVmWorkers(daemon::OrchestratorOptions().failover.vmWorkers);
  }

  // Restarts the orchestrator with these tests' engine settings and `vmWorkers` VM workers.
  void startWithVmWorkers(int vmWorkers) {
    restart([vmWorkers](daemon::OrchestratorOptions& o) {
      o.failover.undoBatchPause = std::chrono::milliseconds(0);
      o.failover.retry.firstBackoff = std::chrono::milliseconds(10);
      o.failover.vmWorkers = vmWorkers;
    });
    sp_ = std::make_unique<client::ApiClient>(admin());
  }

  // A tenant "Acme" subscribed to a plan on a vSphere mock configured with `extra` (faults,
  // latency), with 2 public IPs and one internet network.
  void environment(const nlohmann::json& extra = nlohmann::json::object()) {
    environment("vsphere-mock", mockConfig(extra), "datastore1");
  }

  // The same on a cloud host of any plugin; the plan's storage lives on `backendStorage`.
  void environment(const std::string& pluginName, const nlohmann::json& config,
                   const std::string& backendStorage) {
    auto host = sp_->post("/api/v1/cloud-hosts",
                          {{"name", "dr-site"}, {"plugin", pluginName}, {"config", config}});
    ASSERT_STATUS(host, 201);
    host_ = host.json()["id"];
    vlanRange(*sp_, host_, 100, 109, true);
    publicIps(*sp_, {"203.0.113.10-203.0.113.11"});
    const auto plan = this->plan(*sp_, host_, "Gold", 1, 0, backendStorage);
    tenantId_ = tenant(*sp_, "Acme");
    subscription_ = subscribe(*sp_, tenantId_, plan, 2);
    auto sub = sp_->get("/api/v1/subscriptions/" + subscription_).json();
    network_ = sub["networks"][0]["id"];
    ips_ = sub["public_ips"].get<std::vector<std::string>>();
    acme_ = std::make_unique<client::ApiClient>(client("Acme", "tenant-pass-1"));
  }

  // Gives the vSphere mock of environment() the configuration `extra` (faults, latency) instead
  // of the one it had; its inventory stays.
  void reconfigure(const nlohmann::json& extra) {
    auto patched = sp_->request("PATCH", "/api/v1/cloud-hosts/" + host_,
                                nlohmann::json{{"config", mockConfig(extra)}}.dump());
    ASSERT_STATUS(patched, 200);
  }

  // The vSphere mock's configuration: the test's own vCenter, with `extra`.
  static nlohmann::json mockConfig(const nlohmann::json& extra) {
    nlohmann::json config{
        {"vcenter", std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())}};
    config.update(extra);
    return config;
  }

  std::string replica(const std::string& name, std::uint64_t memoryMb = 1024) {
    auto created = acme_->post(
        "/api/v1/replicas", {{"subscription_id", subscription_},
                             {"name", name},
                             {"vcpus", 2},
                             {"cpu_mhz", 2000},
                             {"memory_mb", memoryMb},
                             {"disks", {{{"storage", "gold"}, {"size_gb", 10}}}},
                             {"nics", {{{"network_id", network_}, {"ip_address", "10.0.0.5"}}}}});
    EXPECT_EQ(created.status, 202) << created.body;
    const std::string id = created.json()["replica"]["id"];
    EXPECT_EQ(waitTask(*acme_, created.json()["task"]["id"])["state"], "succeeded");
    return id;
  }

  std::string restorePoint(const std::string& replicaId) {
    auto taken =
        acme_->post("/api/v1/replicas/" + replicaId + "/restore-points", nlohmann::json::object());
    EXPECT_EQ(taken.status, 202) << taken.body;
    EXPECT_EQ(waitTask(*acme_, taken.json()["task"]["id"])["state"], "succeeded");
    return taken.json()["restore_point_id"];
  }

  // `n` replicas with one restore point each.
  std::vector<std::string> replicas(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      ids.push_back(replica("vm-" + std::to_string(i)));
      restorePoint(ids.back());
    }
    return ids;
  }

  // A plan of `members` in this order; `bootDelays` (seconds) of the first members, 0 after.
  std::string failoverPlan(const std::vector<std::string>& members,
                           nlohmann::json rulesOfFirst = nlohmann::json::array(),
                           int parallelism = 10, const std::vector<int>& bootDelays = {}) {
    auto list = nlohmann::json::array();
    for (std::size_t i = 0; i < members.size(); ++i) {
      list.push_back({{"replica_id", members[i]},
                      {"boot_delay_s", i < bootDelays.size() ? bootDelays[i] : 0},
                      {"public_ip_rules", i == 0 ? rulesOfFirst : nlohmann::json::array()}});
    }
    auto plan = acme_->post("/api/v1/failover-plans",
                            {{"name", "DR"}, {"parallelism", parallelism}, {"members", list}});
    EXPECT_EQ(plan.status, 201) << plan.body;
    return plan.json().value("id", "");
  }

  // One public-IP rule: the tenant's first address, port 443 -> 10.0.0.5:8443 over TCP.
  nlohmann::json httpsRule() const {
    return {{{"public_ip", ips_[0]},
             {"public_port", 443},
             {"target_ip", "10.0.0.5"},
             {"target_port", 8443}}};
  }

  // Starts an operation and waits for its session to end; returns the session.
  nlohmann::json run(const std::string& path,
                     const nlohmann::json& body = nlohmann::json::object()) {
    auto started = acme_->post(path, body);
    EXPECT_EQ(started.status, 202) << path << ": " << started.body;
    if (started.status != 202) return {};
    waitTask(*acme_, started.json()["task_id"]);
    return acme_->get("/api/v1/sessions/" + started.json()["session"]["id"].get<std::string>())
        .json();
  }

  std::string state(const std::string& replicaId) {
    return acme_->get("/api/v1/replicas/" + replicaId).json()["state"];
  }

  void waitPoweredOn(const std::string& machineId) {
    for (int i = 0; i < 1000 && power(machineId) != plugin::PowerState::kOn; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(power(machineId), plugin::PowerState::kOn) << machineId;
  }

  // The session's VMs from the `first` on never started: pending, their replicas ready and off.
  void expectNeverStartedFrom(std::size_t first, const nlohmann::json& session,
                              const std::vector<std::string>& ids) {
    for (std::size_t i = first; i < ids.size(); ++i) {
      EXPECT_EQ(session["vms"][i]["state"], "pending") << i;
      EXPECT_EQ(state(ids[i]), "ready") << i;
      EXPECT_EQ(power(ids[i]), plugin::PowerState::kOff) << i;
    }
  }

  std::shared_ptr<plugin::CloudHostPlugin> plugin() {
    return orchestrator_->cloudHosts().find(host_);
  }
  plugin::PowerState power(const std::string& machineId) {
    return plugin()->compute()->machine(machineId, {})->power;
  }
  // How many test copies the cloud host holds (only those powered on, when asked).
  std::ptrdiff_t testCopies(bool poweredOnOnly = false) {
    auto inventory = *plugin()->compute()->inventory({});
    return std::count_if(inventory.begin(), inventory.end(), [&](const auto& m) {
      return m.kind == plugin::MachineKind::kTestCopy &&
             (!poweredOnOnly || m.power == plugin::PowerState::kOn);
    });
  }

  std::unique_ptr<client::ApiClient> sp_, acme_;
  std::string host_, tenantId_, subscription_, network_;
  std::vector<std::string> ips_;
};

}  // namespace warmsite::apitest

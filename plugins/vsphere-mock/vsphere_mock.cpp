#include "vsphere_mock.h"

#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "fault_injector.h"
#include "simulated_vcenter.h"
#include "warmsite/plugin/sdk.h"

namespace warmsite::vspheremock {

namespace {

using plugin::CallContext;
using plugin::Result;
using plugin::Status;

Topology parseTopology(const nlohmann::json& config) {
  Topology topology;
  if (auto it = config.find("hosts"); it != config.end()) {
    if (!it->is_array() || it->empty())
      throw std::invalid_argument("hosts must be a non-empty array");
    for (const auto& host : *it) {
      if (!host.is_object() || !host.contains("name") || !host["name"].is_string()) {
        throw std::invalid_argument("each of hosts needs a string \"name\"");
      }
      topology.hosts.push_back({host["name"].get<std::string>(),
                                host.value("cpu_mhz", std::uint64_t{0}),
                                host.value("memory_mb", std::uint64_t{0})});
    }
  } else {
    topology.hosts.push_back({"esx-01", 0, 0});
  }
  if (auto it = config.find("datastores"); it != config.end()) {
    if (!it->is_array() || it->empty()) {
      throw std::invalid_argument("datastores must be a non-empty array");
    }
    for (const auto& ds : *it) {
      if (!ds.is_object() || !ds.contains("name") || !ds["name"].is_string() ||
          !ds.contains("capacity_gb") || !ds["capacity_gb"].is_number_unsigned()) {
        throw std::invalid_argument(
            "each of datastores needs a string \"name\" and an unsigned \"capacity_gb\"");
      }
      topology.datastores.push_back(
          {ds["name"].get<std::string>(), ds["capacity_gb"].get<std::uint64_t>()});
    }
  } else {
    topology.datastores.push_back({"datastore1", 100 * 1024});
  }
  if (auto it = config.find("max_nics_per_vm"); it != config.end()) {
    if (!it->is_number_unsigned()) throw std::invalid_argument("max_nics_per_vm must be unsigned");
    topology.maxNicsPerVm = it->get<std::uint32_t>();
  }
  return topology;
}

class VsphereMockPlugin final : public plugin::CloudHostPlugin,
                                public plugin::ComputeApi,
                                public plugin::NetworkApi,
                                public plugin::EdgeApi,
                                public plugin::TestIsolationApi {
 public:
  VsphereMockPlugin(std::shared_ptr<SimulatedVcenter> vcenter, FaultInjector faults,
                    std::uint32_t maxNics)
      : vcenter_(std::move(vcenter)), faults_(std::move(faults)), maxNics_(maxNics) {}

  plugin::Capabilities capabilities() const noexcept override {
    plugin::Capabilities caps;
    caps.compute = caps.network = caps.edge = caps.testIsolation = true;
    caps.gracefulShutdown = true;
    caps.maxNicsPerReplica = maxNics_;
    return caps;
  }
  plugin::ComputeApi* compute() noexcept override { return this; }
  plugin::NetworkApi* network() noexcept override { return this; }
  plugin::EdgeApi* edge() noexcept override { return this; }
  plugin::TestIsolationApi* testIsolation() noexcept override { return this; }

  Status checkHealth(const CallContext& ctx) noexcept override {
    return guarded("check_health", "", ctx, [&]() -> Status { return {}; });
  }

  // ---- compute
  Result<plugin::TenantResources> applyTenantResources(const plugin::TenantResourcesSpec& spec,
                                                       const CallContext& ctx) noexcept override {
    return guarded("apply_tenant_resources", spec.subscriptionId, ctx,
                   [&] { return vcenter_->applyTenantResources(spec); });
  }
  Status releaseTenantResources(const std::string& subscriptionId,
                                const CallContext& ctx) noexcept override {
    return guarded("release_tenant_resources", subscriptionId, ctx,
                   [&] { return vcenter_->releaseTenantResources(subscriptionId); });
  }
  Result<plugin::TenantResources> tenantResources(const std::string& subscriptionId,
                                                  const CallContext& ctx) noexcept override {
    return guarded("tenant_resources", subscriptionId, ctx,
                   [&] { return vcenter_->tenantResources(subscriptionId); });
  }
  Result<plugin::MachineInfo> createReplica(const plugin::ReplicaSpec& spec,
                                            const CallContext& ctx) noexcept override {
    return guarded("create_replica", spec.replicaId, ctx,
                   [&] { return vcenter_->createReplica(spec); });
  }
  Status deleteReplica(const std::string& replicaId, const CallContext& ctx) noexcept override {
    return guarded("delete_replica", replicaId, ctx,
                   [&] { return vcenter_->deleteReplica(replicaId); });
  }
  Result<plugin::MachineInfo> machine(const std::string& machineId,
                                      const CallContext& ctx) noexcept override {
    return guarded("machine", machineId, ctx, [&] { return vcenter_->machine(machineId); });
  }
  Status powerOn(const std::string& machineId, const CallContext& ctx) noexcept override {
    return guarded("power_on", machineId, ctx, [&] { return vcenter_->powerOn(machineId); });
  }
  Status powerOff(const std::string& machineId, const plugin::PowerOffOptions& options,
                  const CallContext& ctx) noexcept override {
    return guarded("power_off", machineId, ctx, [&]() -> Status {
      if (options.graceful) {
        // The guest takes "guest_shutdown" latency to stop; past gracefulTimeout it is forced off.
        auto guest = ctx;
        guest.deadline =
            std::min(ctx.deadline, std::chrono::steady_clock::now() + options.gracefulTimeout);
        if (auto fault = faults_.before("guest_shutdown", machineId, guest);
            fault && fault->code == plugin::ErrorCode::kCancelled) {
          return *fault;
        }
      }
      return vcenter_->powerOff(machineId);
    });
  }
  Result<plugin::RestorePointInfo> createRestorePoint(const std::string& replicaId,
                                                      const std::string& restorePointId,
                                                      const std::string& description,
                                                      const CallContext& ctx) noexcept override {
    return guarded("create_restore_point", replicaId, ctx, [&] {
      return vcenter_->createRestorePoint(replicaId, restorePointId, description);
    });
  }
  Result<std::vector<plugin::RestorePointInfo>> listRestorePoints(
      const std::string& replicaId, const CallContext& ctx) noexcept override {
    return guarded("list_restore_points", replicaId, ctx,
                   [&] { return vcenter_->listRestorePoints(replicaId); });
  }
  Status revertToRestorePoint(const std::string& replicaId, const std::string& restorePointId,
                              const CallContext& ctx) noexcept override {
    return guarded("revert_to_restore_point", replicaId, ctx,
                   [&] { return vcenter_->revertToRestorePoint(replicaId, restorePointId); });
  }
  Status deleteRestorePoint(const std::string& replicaId, const std::string& restorePointId,
                            const CallContext& ctx) noexcept override {
    return guarded("delete_restore_point", replicaId, ctx,
                   [&] { return vcenter_->deleteRestorePoint(replicaId, restorePointId); });
  }
  Result<std::vector<plugin::MachineInfo>> inventory(const CallContext& ctx) noexcept override {
    return guarded("inventory", "", ctx, [&]() -> Result<std::vector<plugin::MachineInfo>> {
      return vcenter_->inventory();
    });
  }
  Status useDiskData(const std::string& machineId, const std::vector<plugin::DiskData>& disks,
                     const CallContext& ctx) noexcept override {
    return guarded("use_disk_data", machineId, ctx,
                   [&] { return vcenter_->useDiskData(machineId, disks); });
  }
  Result<std::vector<plugin::DiskData>> diskData(const std::string& machineId,
                                                 const CallContext& ctx) noexcept override {
    return guarded("disk_data", machineId, ctx, [&] { return vcenter_->diskData(machineId); });
  }

  // ---- network
  Result<plugin::NetworkInfo> createTenantNetwork(const plugin::TenantNetworkSpec& spec,
                                                  const CallContext& ctx) noexcept override {
    return guarded("create_tenant_network", spec.networkId, ctx,
                   [&] { return vcenter_->createTenantNetwork(spec); });
  }
  Status deleteTenantNetwork(const std::string& networkId,
                             const CallContext& ctx) noexcept override {
    return guarded("delete_tenant_network", networkId, ctx,
                   [&] { return vcenter_->deleteTenantNetwork(networkId); });
  }
  Result<std::vector<plugin::NetworkInfo>> listNetworks(const CallContext& ctx) noexcept override {
    return guarded("list_networks", "", ctx, [&]() -> Result<std::vector<plugin::NetworkInfo>> {
      return vcenter_->listNetworks();
    });
  }

  // ---- edge
  Status applyTenantEdge(const plugin::TenantEdgeSpec& spec,
                         const CallContext& ctx) noexcept override {
    return guarded("apply_tenant_edge", spec.tenantId, ctx,
                   [&] { return vcenter_->applyTenantEdge(spec); });
  }
  Result<plugin::TenantEdgeSpec> tenantEdge(const std::string& tenantId,
                                            const CallContext& ctx) noexcept override {
    return guarded("tenant_edge", tenantId, ctx, [&]() -> Result<plugin::TenantEdgeSpec> {
      return vcenter_->tenantEdge(tenantId);
    });
  }
  Status removeTenantEdge(const std::string& tenantId, const CallContext& ctx) noexcept override {
    return guarded("remove_tenant_edge", tenantId, ctx,
                   [&] { return vcenter_->removeTenantEdge(tenantId); });
  }

  // ---- test isolation
  Status createBubble(const plugin::BubbleSpec& spec, const CallContext& ctx) noexcept override {
    return guarded("create_bubble", spec.bubbleId, ctx,
                   [&] { return vcenter_->createBubble(spec); });
  }
  Status deleteBubble(const std::string& bubbleId, const CallContext& ctx) noexcept override {
    return guarded("delete_bubble", bubbleId, ctx,
                   [&] { return vcenter_->deleteBubble(bubbleId); });
  }
  Result<plugin::MachineInfo> createTestCopy(const plugin::TestCopySpec& spec,
                                             const CallContext& ctx) noexcept override {
    return guarded("create_test_copy", spec.copyId, ctx,
                   [&] { return vcenter_->createTestCopy(spec); });
  }
  Status deleteTestCopy(const std::string& copyId, const CallContext& ctx) noexcept override {
    return guarded("delete_test_copy", copyId, ctx,
                   [&] { return vcenter_->deleteTestCopy(copyId); });
  }

 private:
  // Latency and faults first (outside the vCenter lock, so slow calls overlap as on a real
  // vCenter), then the operation; nothing thrown inside may cross the boundary.
  template <typename Operation>
  auto guarded(const char* operation, const std::string& target, const CallContext& ctx,
               Operation&& run) noexcept -> decltype(run()) {
    try {
      if (auto fault = faults_.before(operation, target, ctx)) return std::move(*fault);
      return run();
    } catch (const std::exception& e) {
      return plugin::makeError(plugin::ErrorCode::kInternal,
                               std::string(operation) + " failed: " + e.what());
    }
  }

  std::shared_ptr<SimulatedVcenter> vcenter_;
  FaultInjector faults_;
  std::uint32_t maxNics_;
};

}  // namespace

plugin::CreateResult create(const plugin::FactoryArgs& args) {
  try {
    const auto config = nlohmann::json::parse(args.configJson);
    if (!config.is_object()) throw std::invalid_argument("config must be a JSON object");
    static const char* const kKnown[] = {"vcenter",    "state_file",      "hosts",
                                         "datastores", "max_nics_per_vm", "latency_ms",
                                         "faults",     "username",        "password"};
    for (const auto& [key, value] : config.items()) {
      if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
        throw std::invalid_argument("unknown config field \"" + key + "\"");
      }
    }
    const std::string name = config.value("vcenter", "default");
    if (name.empty()) throw std::invalid_argument("vcenter must not be empty");
    const std::string stateFile = config.value("state_file", "");
    if (!stateFile.empty() && stateFile.front() != '/') {
      throw std::invalid_argument("state_file must be an absolute path");
    }
    Topology topology = parseTopology(config);
    FaultInjector faults = FaultInjector::fromConfig(config);
    auto vcenter = SimulatedVcenter::open(name, topology, stateFile);
    if (!vcenter->login(config.value("username", ""), config.value("password", ""))) {
      return plugin::makeError(
          plugin::ErrorCode::kPermissionDenied,
          "vcenter " + name + ": login failed for user \"" + config.value("username", "") + "\"",
          "InvalidLogin");
    }
    return std::unique_ptr<plugin::CloudHostPlugin>(std::make_unique<VsphereMockPlugin>(
        std::move(vcenter), std::move(faults), topology.maxNicsPerVm));
  } catch (const nlohmann::json::exception& e) {
    return plugin::makeError(plugin::ErrorCode::kInvalidArgument,
                             std::string("config: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return plugin::makeError(plugin::ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace warmsite::vspheremock

WARMSITE_PLUGIN("vsphere-mock", "1.0.0", warmsite::vspheremock::create)

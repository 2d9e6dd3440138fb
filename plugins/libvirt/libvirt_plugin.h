#pragma once
// libvirt: KVM cloud hosts behind the Warmsite plugin ABI (compute, network, edge, test isolation).
//
// Mapping (docs/plugin-libvirt.md has the whole story):
// - subscription -> a never-started libvirt network "ws-s-<id>" whose <metadata> holds the plan's
//   limits and storages; quotas are checked by the plugin, CPU and memory limits also go into each
//   domain's XML (<cputune> global quota, <memory>).
// - tenant network -> a libvirt network "ws-n-<id>" on the Open vSwitch bridge with the VLAN tag
//   (or on a per-VLAN Linux bridge); checked against the real network driver's rules first.
// - replica / test copy -> a domain "ws-m-<id>" with qcow2 volumes "ws-m-<id>.<disk>.qcow2" and its
//   Warmsite record in <metadata>; restore points are snapshots; test copies use overlay volumes
//   on the replica's and sit on bubble networks "ws-b-<bubble>.<source>" (isolated, no uplink).
// - edge -> one nftables table per tenant, applied with `nft -f` (nft_edge.h).
//
// State rules and error codes follow the vSphere mock, the ABI's reference.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "config.h"
#include "connection_pool.h"
#include "id_locks.h"
#include "ledger.h"
#include "libvirt_util.h"
#include "nft_edge.h"
#include "power_monitor.h"
#include "warmsite/plugin/abi.h"

namespace warmsite::libvirtplugin {

plugin::CreateResult create(const plugin::FactoryArgs& args);

class LibvirtPlugin final : public plugin::CloudHostPlugin,
                            public plugin::ComputeApi,
                            public plugin::NetworkApi,
                            public plugin::EdgeApi,
                            public plugin::TestIsolationApi {
 public:
  LibvirtPlugin(Config config, plugin::HostServices& host);
  ~LibvirtPlugin() override;

  // Connects, reads what Warmsite owns on the host and starts watching events.
  plugin::Status start();

  plugin::Capabilities capabilities() const noexcept override;
  plugin::ComputeApi* compute() noexcept override { return this; }
  plugin::NetworkApi* network() noexcept override { return config_.network ? this : nullptr; }
  plugin::EdgeApi* edge() noexcept override { return edge_ ? this : nullptr; }
  plugin::TestIsolationApi* testIsolation() noexcept override {
    return config_.network ? this : nullptr;
  }
  plugin::Status checkHealth(const plugin::CallContext& ctx) noexcept override;

  // ---- compute
  plugin::Result<plugin::TenantResources> applyTenantResources(
      const plugin::TenantResourcesSpec& spec, const plugin::CallContext& ctx) noexcept override;
  plugin::Status releaseTenantResources(const std::string& subscriptionId,
                                        const plugin::CallContext& ctx) noexcept override;
  plugin::Result<plugin::TenantResources> tenantResources(
      const std::string& subscriptionId, const plugin::CallContext& ctx) noexcept override;
  plugin::Result<plugin::MachineInfo> createReplica(
      const plugin::ReplicaSpec& spec, const plugin::CallContext& ctx) noexcept override;
  plugin::Status deleteReplica(const std::string& replicaId,
                               const plugin::CallContext& ctx) noexcept override;
  plugin::Result<plugin::MachineInfo> machine(const std::string& machineId,
                                              const plugin::CallContext& ctx) noexcept override;
  plugin::Status powerOn(const std::string& machineId,
                         const plugin::CallContext& ctx) noexcept override;
  plugin::Status powerOff(const std::string& machineId, const plugin::PowerOffOptions& options,
                          const plugin::CallContext& ctx) noexcept override;
  plugin::Result<plugin::RestorePointInfo> createRestorePoint(
      const std::string& replicaId, const std::string& restorePointId,
      const std::string& description, const plugin::CallContext& ctx) noexcept override;
  plugin::Result<std::vector<plugin::RestorePointInfo>> listRestorePoints(
      const std::string& replicaId, const plugin::CallContext& ctx) noexcept override;
  plugin::Status revertToRestorePoint(const std::string& replicaId,
                                      const std::string& restorePointId,
                                      const plugin::CallContext& ctx) noexcept override;
  plugin::Status deleteRestorePoint(const std::string& replicaId, const std::string& restorePointId,
                                    const plugin::CallContext& ctx) noexcept override;
  plugin::Status useDiskData(const std::string& machineId,
                             const std::vector<plugin::DiskData>& disks,
                             const plugin::CallContext& ctx) noexcept override;
  plugin::Result<std::vector<plugin::DiskData>> diskData(
      const std::string& machineId, const plugin::CallContext& ctx) noexcept override;
  plugin::Result<std::vector<plugin::MachineInfo>> inventory(
      const plugin::CallContext& ctx) noexcept override;

  // ---- network
  plugin::Result<plugin::NetworkInfo> createTenantNetwork(
      const plugin::TenantNetworkSpec& spec, const plugin::CallContext& ctx) noexcept override;
  plugin::Status deleteTenantNetwork(const std::string& networkId,
                                     const plugin::CallContext& ctx) noexcept override;
  plugin::Result<std::vector<plugin::NetworkInfo>> listNetworks(
      const plugin::CallContext& ctx) noexcept override;

  // ---- edge
  plugin::Status applyTenantEdge(const plugin::TenantEdgeSpec& spec,
                                 const plugin::CallContext& ctx) noexcept override;
  plugin::Result<plugin::TenantEdgeSpec> tenantEdge(
      const std::string& tenantId, const plugin::CallContext& ctx) noexcept override;
  plugin::Status removeTenantEdge(const std::string& tenantId,
                                  const plugin::CallContext& ctx) noexcept override;

  // ---- test isolation
  plugin::Status createBubble(const plugin::BubbleSpec& spec,
                              const plugin::CallContext& ctx) noexcept override;
  plugin::Status deleteBubble(const std::string& bubbleId,
                              const plugin::CallContext& ctx) noexcept override;
  plugin::Result<plugin::MachineInfo> createTestCopy(
      const plugin::TestCopySpec& spec, const plugin::CallContext& ctx) noexcept override;
  plugin::Status deleteTestCopy(const std::string& copyId,
                                const plugin::CallContext& ctx) noexcept override;

  // For tests of reconnection: behaves as if libvirt closed the event connection.
  void simulateConnectionClosedForTest() { pool_->markClosedForTest(0); }

 private:
  // Checks the call's context first; nothing thrown inside crosses the boundary.
  template <typename Operation>
  auto guarded(const char* operation, const plugin::CallContext& ctx, Operation&& run) noexcept
      -> decltype(run());

  plugin::Status loadLedger(virConnectPtr conn);
  // Creates the machine's volumes and defines its domain, for a record the ledger has reserved:
  // the reservation is committed on success; on failure it is dropped and what was made removed.
  plugin::Result<plugin::MachineInfo> defineMachine(virConnectPtr conn, const MachineRecord& record,
                                                    DomainLayout layout);
  plugin::Status deleteVolumes(virConnectPtr conn, const std::vector<VolumeRef>& volumes);
  // Undefines a machine's domain and deletes its volumes. A running machine is refused
  // (kInvalidState), or forced off first when `forceRunning`.
  plugin::Status removeMachine(const MachineRecord& record, bool forceRunning);
  plugin::Result<plugin::MachineInfo> readMachine(virDomainPtr domain);
  plugin::Result<plugin::MachineInfo> readMachine(virConnectPtr conn, const std::string& id);
  plugin::Result<std::vector<plugin::RestorePointInfo>> readRestorePoints(virDomainPtr domain);
  plugin::Result<plugin::TenantResources> readTenantResources(virConnectPtr conn,
                                                              const std::string& subscriptionId);
  // Every Warmsite machine record on the host (domains of other owners are skipped).
  plugin::Result<std::vector<MachineRecord>> readMachineRecords(virConnectPtr conn);
  plugin::Result<plugin::NetworkInfo> readNetworkInfo(virNetworkPtr network);
  plugin::Status defineNetwork(virConnectPtr conn, const NetworkDefinition& definition, bool start);
  plugin::Status removeNetwork(virConnectPtr conn, const std::string& name);
  plugin::Status forceOff(virDomainPtr domain, const std::string& machineId);
  // Reads the machine's record back from its domain into the ledger (a revert restored an older
  // definition).
  plugin::Status rereadRecord(virDomainPtr domain, const std::string& machineId);

  Config config_;
  plugin::HostServices& host_;
  Ledger ledger_;
  IdLocks locks_;             // per machine id
  std::mutex topologyMutex_;  // subscriptions, networks and bubbles change one at a time
  std::mutex edgeMutex_;      // edge changes are checked against every tenant's rules
  std::optional<NftEdge> edge_;
  std::uint32_t hostCpuMhz_ = 0;
  std::atomic<bool> started_{false};  // the first ledger load is start()'s own
  std::unique_ptr<PowerMonitor> monitor_;
  std::unique_ptr<ConnectionPool> pool_;
};

template <typename Operation>
auto LibvirtPlugin::guarded(const char* operation, const plugin::CallContext& ctx,
                            Operation&& run) noexcept -> decltype(run()) {
  if (ctx.cancelled()) {
    return plugin::makeError(plugin::ErrorCode::kCancelled,
                             std::string(operation) + " cancelled before it started");
  }
  if (ctx.expired()) {
    return plugin::makeError(plugin::ErrorCode::kTimeout,
                             std::string(operation) + ": the call's deadline has passed");
  }
  try {
    auto result = run();
    // A call that broke on the wire ("Cannot write data: Broken pipe") says which host is gone.
    if (!result.ok() && result.error().code == plugin::ErrorCode::kUnavailable &&
        result.error().message.find(config_.uri) == std::string::npos) {
      auto error = std::move(result).error();
      error.message += " (libvirt host " + config_.uri + ")";
      return error;
    }
    return result;
  } catch (const std::exception& e) {
    return plugin::makeError(plugin::ErrorCode::kInternal,
                             std::string(operation) + " failed: " + e.what());
  } catch (...) {
    return plugin::makeError(plugin::ErrorCode::kInternal,
                             std::string(operation) + " failed with a non-standard exception");
  }
}

}  // namespace warmsite::libvirtplugin

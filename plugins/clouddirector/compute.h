#pragma once
// ComputeApi. A plan subscription maps onto the org VDC the config names (its capacity checked
// against the plan, the subscription recorded in the VDC's metadata); a replica is a vApp named
// ws-<replicaId> holding one VM, with the replica's spec as the vApp's description; its one
// restore point is the VM's snapshot, named by the VM's description.

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "keyed_mutex.h"
#include "networks.h"
#include "replica_registry.h"
#include "site.h"
#include "subscriptions.h"
#include "vcd_client.h"
#include "warmsite/plugin/compute.h"

namespace warmsite::clouddirector {

class ComputeService final : public plugin::ComputeApi {
 public:
  ComputeService(VcdClient& client, Site& site, SubscriptionStore& subscriptions,
                 NetworkService& networks)
      : client_(client), site_(site), subscriptions_(subscriptions), networks_(networks) {}

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
  plugin::Result<std::vector<plugin::MachineInfo>> inventory(
      const plugin::CallContext& ctx) noexcept override;

  // For NetworkApi: a replica with a NIC on the network, if any.
  std::optional<std::string> replicaOnNetwork(const std::string& networkId,
                                              const plugin::CallContext& ctx);

 private:
  // A replica's vApp as read from the backend.
  struct Replica {
    plugin::ReplicaSpec spec;
    std::string path;  // /api/vApp/vapp-<uuid>
    Json vapp;
  };

  // Loads the registry from the backend once per plugin object.
  void ensureSeeded(const plugin::CallContext& ctx);
  // Every Warmsite replica of the VDC, read from the backend (one query, one GET per vApp).
  std::vector<Replica> scan(const plugin::CallContext& ctx);
  // The vApp path of a replica: the registry's, else a query by name.
  std::optional<std::string> locate(const std::string& replicaId, const plugin::CallContext& ctx);
  // The replica's vApp, fresh; nullopt when there is none (the registry forgets it then).
  std::optional<Replica> read(const std::string& replicaId, const plugin::CallContext& ctx);
  Replica readOrNotFound(const std::string& replicaId, const plugin::CallContext& ctx);

  plugin::TenantResources resourcesOf(const plugin::TenantResourcesSpec& spec) const;
  void checkVdcCapacity(const plugin::TenantResourcesSpec& spec, const plugin::CallContext& ctx);
  std::string composeBody(const plugin::ReplicaSpec& spec, const plugin::CallContext& ctx);
  // Creates the vApp; returns nullopt when a vApp of that name is in the way.
  std::optional<Replica> compose(const plugin::ReplicaSpec& spec, const plugin::CallContext& ctx);
  // Undeploys (if deployed) and deletes a vApp; gone already is fine.
  void removeVApp(const std::string& path, const plugin::CallContext& ctx);
  // Starts a task on the vApp or VM at `path` and waits for it.
  void act(const std::string& path, const std::string& action, const std::string& what,
           const plugin::CallContext& ctx, const std::string& body = {},
           const std::string& contentType = {});
  // A power action on a replica's vApp without reading it first (one request less): Cloud
  // Director refuses what the vApp's state does not allow, and only then is the state read, to
  // turn the refusal into kInvalidState with `refusal(status)` (empty: the refusal stands as is).
  void powerAction(const std::string& machineId, const std::string& action, const std::string& what,
                   const plugin::CallContext& ctx, const std::string& body,
                   const std::string& contentType,
                   const std::function<std::string(int status)>& refusal);
  void setVmDescription(const Json& vm, const std::string& description,
                        const plugin::CallContext& ctx);

  VcdClient& client_;
  Site& site_;
  SubscriptionStore& subscriptions_;
  NetworkService& networks_;
  ReplicaRegistry registry_;
  KeyedMutex replicaLocks_;
  std::mutex subscriptionMutex_;  // subscription changes one at a time
  std::mutex seedMutex_;
  bool seeded_ = false;  // guarded by seedMutex_
};

}  // namespace warmsite::clouddirector

#pragma once
// The plugin's view of everything Warmsite owns on one host: subscriptions with their limits,
// networks, bubbles and machines with what they count against the plan. It is rebuilt from the
// host's <metadata> records when the plugin starts and changed only after the host changed, so
// quota and reference checks cost no libvirt round trip. Reads that core relies on for
// reconciliation (inventory, machine, listNetworks, tenantResources) go to libvirt instead.
//
// A new machine is reserved first (it counts against the plan while libvirt creates it, so two
// concurrent creates cannot both take the last GB), then committed or cancelled.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "records.h"
#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::libvirtplugin {

struct PlanUsage {
  std::uint64_t cpuMhz = 0;
  std::uint64_t memoryMb = 0;
  std::map<std::string, std::uint64_t> storageGb;  // by plan storage name
  std::uint32_t machines = 0;                      // replicas and test copies
};

class Ledger {
 public:
  // ---- subscriptions
  std::optional<plugin::TenantResourcesSpec> subscription(const std::string& id) const;
  // Whether `spec` may replace the current resources: same tenant, and nothing lowered below
  // what replicas use (kAlreadyExists / kResourceExhausted).
  plugin::Status checkResourcesUpdate(const plugin::TenantResourcesSpec& spec) const;
  // Removes the subscription unless a machine or network still uses it (kInvalidState naming
  // one); kNotFound when it is not there. Check and removal are one step, so no replica can be
  // reserved on a subscription that is being released.
  plugin::Result<plugin::TenantResourcesSpec> takeSubscription(const std::string& subscriptionId);
  PlanUsage usage(const std::string& subscriptionId) const;
  void putSubscription(const plugin::TenantResourcesSpec& spec);
  void eraseSubscription(const std::string& id);

  // ---- networks and bubbles
  std::optional<NetworkRecord> network(const std::string& networkId) const;
  // Subscription present and the tenant's, VLAN not carried by another tenant network.
  plugin::Status checkNewNetwork(const plugin::TenantNetworkSpec& spec) const;
  // Removes a tenant network unless a NIC is on it or a bubble mirrors it (kInvalidState).
  plugin::Result<NetworkRecord> takeNetwork(const std::string& networkId);
  void putNetwork(const NetworkRecord& record);
  void eraseNetwork(const std::string& networkId);
  std::optional<plugin::BubbleSpec> bubble(const std::string& bubbleId) const;
  // Twin networks of a bubble, in BubbleSpec::sourceNetworkIds order.
  std::vector<NetworkRecord> bubbleNetworks(const std::string& bubbleId) const;
  // Source networks present, of the bubble's tenant, not bubble twins themselves.
  plugin::Status checkNewBubble(const plugin::BubbleSpec& spec) const;
  // Removes a bubble's twin networks unless a test copy is attached (kInvalidState).
  plugin::Result<std::vector<NetworkRecord>> takeBubble(const std::string& bubbleId);

  // ---- machines
  std::optional<MachineRecord> machine(const std::string& machineId) const;
  // Validates a new replica against its subscription (kNotFound, kInvalidArgument,
  // kResourceExhausted as the vSphere mock does) and reserves it.
  plugin::Status reserveReplica(const MachineRecord& record);
  // Source replica and bubble present (kNotFound); test copies count against no quota.
  plugin::Status reserveTestCopy(const MachineRecord& record);
  void commitMachine(const std::string& machineId);
  // A machine's record after the host changed what its disks boot from (same disks and limits).
  void replaceMachine(const MachineRecord& record);
  void eraseMachine(const std::string& machineId);  // also cancels a reservation
  // A replica with test copies cannot be deleted; a restore point backing one cannot either.
  plugin::Status checkReplicaDeletable(const std::string& replicaId) const;
  plugin::Status checkRestorePointDeletable(const std::string& replicaId,
                                            const std::string& restorePointId) const;
  bool hasMachine(const std::string& machineId) const;

  // Replaces everything (the plugin's start).
  void reset(std::vector<plugin::TenantResourcesSpec> subscriptions,
             std::vector<NetworkRecord> networks, std::vector<MachineRecord> machines);

 private:
  struct Machine {
    MachineRecord record;
    bool pending = true;
  };
  void addLocked(const MachineRecord& record, bool pending);
  void countLocked(const MachineRecord& record, int sign);

  mutable std::mutex mutex_;
  std::map<std::string, plugin::TenantResourcesSpec> subscriptions_;
  std::map<std::string, PlanUsage> usage_;  // by subscription
  std::map<std::string, NetworkRecord> networks_;
  std::map<std::string, Machine> machines_;
  std::map<std::string, std::set<std::string>> copiesOf_;  // replica -> test copies
};

}  // namespace warmsite::libvirtplugin

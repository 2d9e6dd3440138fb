#pragma once
// The backend the vSphere mock talks to: an in-memory vCenter with the state rules listed in
// vsphere_mock.h. One mutex guards it; every method validates fully before it changes anything, so
// a failed call leaves the vCenter as it was.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::vspheremock {

struct EsxHost {
  std::string name;
  std::uint64_t cpuMhz = 0;    // 0 = unlimited
  std::uint64_t memoryMb = 0;  // 0 = unlimited

  bool operator==(const EsxHost&) const = default;
};

struct Datastore {
  std::string name;
  std::uint64_t capacityGb = 0;

  bool operator==(const Datastore&) const = default;
};

struct Topology {
  std::vector<EsxHost> hosts;
  std::vector<Datastore> datastores;
  std::uint32_t maxNicsPerVm = 10;

  bool operator==(const Topology&) const = default;
};

class SimulatedVcenter {
 public:
  // The process-wide instance called `name`, created on first use (and loaded from `stateFile`
  // when it exists). Throws std::invalid_argument when `name` exists with another topology or
  // state file, or the state file cannot be read.
  static std::shared_ptr<SimulatedVcenter> open(const std::string& name, const Topology& topology,
                                                const std::filesystem::path& stateFile);

  // The first login sets the vCenter's credentials (empty = none); later ones must match them.
  bool login(const std::string& username, const std::string& password);

  plugin::Result<plugin::TenantResources> applyTenantResources(
      const plugin::TenantResourcesSpec& spec);
  plugin::Status releaseTenantResources(const std::string& subscriptionId);
  plugin::Result<plugin::TenantResources> tenantResources(const std::string& subscriptionId) const;

  plugin::Result<plugin::MachineInfo> createReplica(const plugin::ReplicaSpec& spec);
  plugin::Status deleteReplica(const std::string& replicaId);
  plugin::Result<plugin::MachineInfo> machine(const std::string& machineId) const;
  // Disks booting from files of the SP (see ComputeApi::useDiskData); the mock only records them.
  plugin::Status useDiskData(const std::string& machineId,
                             const std::vector<plugin::DiskData>& disks);
  plugin::Result<std::vector<plugin::DiskData>> diskData(const std::string& machineId) const;
  plugin::Status powerOn(const std::string& machineId);
  plugin::Status powerOff(const std::string& machineId);
  plugin::Result<plugin::RestorePointInfo> createRestorePoint(const std::string& replicaId,
                                                              const std::string& restorePointId,
                                                              const std::string& description);
  plugin::Result<std::vector<plugin::RestorePointInfo>> listRestorePoints(
      const std::string& replicaId) const;
  plugin::Status revertToRestorePoint(const std::string& replicaId,
                                      const std::string& restorePointId);
  plugin::Status deleteRestorePoint(const std::string& replicaId,
                                    const std::string& restorePointId);
  std::vector<plugin::MachineInfo> inventory() const;

  plugin::Result<plugin::NetworkInfo> createTenantNetwork(const plugin::TenantNetworkSpec& spec);
  plugin::Status deleteTenantNetwork(const std::string& networkId);
  std::vector<plugin::NetworkInfo> listNetworks() const;

  plugin::Status applyTenantEdge(const plugin::TenantEdgeSpec& spec);
  plugin::TenantEdgeSpec tenantEdge(const std::string& tenantId) const;
  plugin::Status removeTenantEdge(const std::string& tenantId);

  plugin::Status createBubble(const plugin::BubbleSpec& spec);
  plugin::Status deleteBubble(const std::string& bubbleId);
  plugin::Result<plugin::MachineInfo> createTestCopy(const plugin::TestCopySpec& spec);
  plugin::Status deleteTestCopy(const std::string& copyId);

  struct Vm {
    plugin::MachineInfo info;
    plugin::ReplicaSpec spec;        // as created; test copies: the source's spec at copy time
    plugin::TestCopySpec copySpec;   // test copies only, as asked (a replay compares equal)
    std::string baseRestorePointId;  // test copies only: the restore point the overlay sits on
    std::string host;
    std::vector<plugin::DiskData> diskData;  // in spec.disks order
  };
  struct PortGroup {
    plugin::NetworkInfo info;
    plugin::TenantNetworkSpec spec;
    std::string bubbleId;  // bubble networks only
  };
  struct Bubble {
    plugin::BubbleSpec spec;
    std::vector<std::string> networkIds;  // twin of spec.sourceNetworkIds[i]
  };
  struct State {
    std::map<std::string, plugin::TenantResourcesSpec> pools;  // by subscription id
    std::map<std::string, PortGroup> portGroups;               // by network id
    std::map<std::string, Vm> vms;                             // by machine id
    std::map<std::string, plugin::TenantEdgeSpec> edges;       // by tenant id
    std::map<std::string, Bubble> bubbles;                     // by bubble id
    std::uint64_t nextMac = 1;
    std::uint64_t nextRef = 1;
  };
  // Writes `state` as the state file a vCenter opened on `file` starts from: beside it, then
  // renamed, so a reader sees the old file or the new one. Seeds a large inventory in one write
  // (the scale benchmark) where a call per VM would rewrite the file each time.
  static void writeStateFile(const State& state, const std::filesystem::path& file);

  SimulatedVcenter(std::string name, Topology topology, std::filesystem::path stateFile);

 private:
  plugin::Result<plugin::TenantResources> resourcesLocked(const std::string& subscriptionId) const;
  std::uint64_t usedOnStorage(const std::string& subscriptionId, const std::string& storage) const;
  std::uint64_t usedOnDatastore(const std::string& datastore) const;
  const Datastore* findDatastore(const std::string& name) const;
  std::string nextMacLocked();
  std::string nextRefLocked(const char* kind);
  void persistLocked() const;
  void loadFromFile();

  std::optional<std::pair<std::string, std::string>> credentials_;  // guarded by mutex_
  const std::string name_;
  const Topology topology_;
  const std::filesystem::path stateFile_;
  mutable std::mutex mutex_;
  State state_;
};

}  // namespace warmsite::vspheremock

#include "ledger.h"

#include <algorithm>

namespace warmsite::libvirtplugin {

namespace {

using plugin::ErrorCode;
using plugin::makeError;

plugin::Error notFound(const std::string& what, const std::string& id) {
  return makeError(ErrorCode::kNotFound, what + " " + id + " not found");
}

const plugin::PlanStorage* findStorage(const plugin::TenantResourcesSpec& spec,
                                       const std::string& name) {
  auto it = std::find_if(spec.storages.begin(), spec.storages.end(),
                         [&](const plugin::PlanStorage& s) { return s.name == name; });
  return it == spec.storages.end() ? nullptr : &*it;
}

}  // namespace

std::optional<plugin::TenantResourcesSpec> Ledger::subscription(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return std::nullopt;
  return it->second;
}

plugin::Status Ledger::checkResourcesUpdate(const plugin::TenantResourcesSpec& spec) const {
  std::lock_guard lock(mutex_);
  auto it = subscriptions_.find(spec.subscriptionId);
  if (it == subscriptions_.end()) return {};
  if (it->second.tenantId != spec.tenantId) {
    return makeError(ErrorCode::kAlreadyExists,
                     "subscription " + spec.subscriptionId + " belongs to another tenant");
  }
  auto used = usage_.find(spec.subscriptionId);
  if (used == usage_.end()) return {};
  for (const auto& [name, gb] : used->second.storageGb) {
    const auto* now = findStorage(spec, name);
    const auto* old = findStorage(it->second, name);
    if (gb > 0 && (now == nullptr || now->quotaGb < gb ||
                   (old != nullptr && now->backendStorage != old->backendStorage))) {
      return makeError(
          ErrorCode::kResourceExhausted,
          "storage " + name + " holds " + std::to_string(gb) +
              " GB of replica disks; it cannot be removed, moved or shrunk below that");
    }
  }
  if (spec.cpuMhz && used->second.cpuMhz > *spec.cpuMhz) {
    return makeError(ErrorCode::kResourceExhausted, "replicas of subscription " +
                                                        spec.subscriptionId + " use " +
                                                        std::to_string(used->second.cpuMhz) +
                                                        " MHz; the CPU limit cannot go below");
  }
  if (spec.memoryMb && used->second.memoryMb > *spec.memoryMb) {
    return makeError(ErrorCode::kResourceExhausted, "replicas of subscription " +
                                                        spec.subscriptionId + " use " +
                                                        std::to_string(used->second.memoryMb) +
                                                        " MB; the memory limit cannot go below");
  }
  return {};
}

plugin::Result<plugin::TenantResourcesSpec> Ledger::takeSubscription(
    const std::string& subscriptionId) {
  std::lock_guard lock(mutex_);
  auto it = subscriptions_.find(subscriptionId);
  if (it == subscriptions_.end()) return notFound("resources of subscription", subscriptionId);
  for (const auto& [id, machine] : machines_) {
    if (machine.record.spec.subscriptionId == subscriptionId) {
      return makeError(ErrorCode::kInvalidState,
                       "subscription " + subscriptionId + " still holds machine " + id);
    }
  }
  for (const auto& [id, network] : networks_) {
    if (network.spec.subscriptionId == subscriptionId) {
      return makeError(ErrorCode::kInvalidState,
                       "subscription " + subscriptionId + " still has network " + id);
    }
  }
  auto spec = std::move(it->second);
  subscriptions_.erase(it);
  return spec;
}

PlanUsage Ledger::usage(const std::string& subscriptionId) const {
  std::lock_guard lock(mutex_);
  auto it = usage_.find(subscriptionId);
  return it == usage_.end() ? PlanUsage{} : it->second;
}

void Ledger::putSubscription(const plugin::TenantResourcesSpec& spec) {
  std::lock_guard lock(mutex_);
  subscriptions_[spec.subscriptionId] = spec;
}

void Ledger::eraseSubscription(const std::string& id) {
  std::lock_guard lock(mutex_);
  subscriptions_.erase(id);
}

std::optional<NetworkRecord> Ledger::network(const std::string& networkId) const {
  std::lock_guard lock(mutex_);
  auto it = networks_.find(networkId);
  if (it == networks_.end()) return std::nullopt;
  return it->second;
}

plugin::Status Ledger::checkNewNetwork(const plugin::TenantNetworkSpec& spec) const {
  std::lock_guard lock(mutex_);
  auto sub = subscriptions_.find(spec.subscriptionId);
  if (sub == subscriptions_.end()) {
    return notFound("resources of subscription", spec.subscriptionId);
  }
  if (sub->second.tenantId != spec.tenantId) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "subscription " + spec.subscriptionId + " does not belong to tenant " + spec.tenantId);
  }
  for (const auto& [id, network] : networks_) {
    if (!network.isolated() && network.spec.vlanId == spec.vlanId) {
      return makeError(ErrorCode::kAlreadyExists, "VLAN " + std::to_string(spec.vlanId) +
                                                      " is already carried by network " + id);
    }
  }
  return {};
}

plugin::Result<NetworkRecord> Ledger::takeNetwork(const std::string& networkId) {
  std::lock_guard lock(mutex_);
  auto it = networks_.find(networkId);
  if (it == networks_.end()) return notFound("network", networkId);
  for (const auto& [id, machine] : machines_) {
    for (const auto& nic : machine.record.spec.nics) {
      if (nic.networkId == networkId) {
        return makeError(ErrorCode::kInvalidState,
                         "network " + networkId + " still has a NIC of machine " + id);
      }
    }
  }
  for (const auto& [id, network] : networks_) {
    if (network.sourceNetworkId == networkId) {
      return makeError(ErrorCode::kInvalidState,
                       "network " + networkId + " is mirrored by bubble " + network.bubbleId);
    }
  }
  auto record = std::move(it->second);
  networks_.erase(it);
  return record;
}

void Ledger::putNetwork(const NetworkRecord& record) {
  std::lock_guard lock(mutex_);
  networks_[record.spec.networkId] = record;
}

void Ledger::eraseNetwork(const std::string& networkId) {
  std::lock_guard lock(mutex_);
  networks_.erase(networkId);
}

std::vector<NetworkRecord> Ledger::bubbleNetworks(const std::string& bubbleId) const {
  std::lock_guard lock(mutex_);
  std::vector<NetworkRecord> twins;
  for (const auto& [id, network] : networks_) {
    if (network.bubbleId == bubbleId) twins.push_back(network);
  }
  std::sort(twins.begin(), twins.end(), [](const NetworkRecord& a, const NetworkRecord& b) {
    return a.bubbleIndex < b.bubbleIndex;
  });
  return twins;
}

std::optional<plugin::BubbleSpec> Ledger::bubble(const std::string& bubbleId) const {
  const auto twins = bubbleNetworks(bubbleId);
  if (twins.empty()) return std::nullopt;
  plugin::BubbleSpec spec{bubbleId, twins.front().spec.tenantId, {}};
  for (const auto& twin : twins) spec.sourceNetworkIds.push_back(twin.sourceNetworkId);
  return spec;
}

plugin::Status Ledger::checkNewBubble(const plugin::BubbleSpec& spec) const {
  std::lock_guard lock(mutex_);
  for (const auto& source : spec.sourceNetworkIds) {
    auto it = networks_.find(source);
    if (it == networks_.end() || it->second.isolated() ||
        it->second.spec.tenantId != spec.tenantId) {
      return notFound("network", source + " of tenant " + spec.tenantId);
    }
  }
  return {};
}

plugin::Result<std::vector<NetworkRecord>> Ledger::takeBubble(const std::string& bubbleId) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, machine] : machines_) {
    if (machine.record.kind == plugin::MachineKind::kTestCopy &&
        machine.record.copySpec.bubbleId == bubbleId) {
      return makeError(ErrorCode::kInvalidState,
                       "bubble " + bubbleId + " still has test copy " + id);
    }
  }
  std::vector<NetworkRecord> twins;
  for (auto it = networks_.begin(); it != networks_.end();) {
    if (it->second.bubbleId == bubbleId) {
      twins.push_back(std::move(it->second));
      it = networks_.erase(it);
    } else {
      ++it;
    }
  }
  if (twins.empty()) return notFound("bubble", bubbleId);
  return twins;
}

std::optional<MachineRecord> Ledger::machine(const std::string& machineId) const {
  std::lock_guard lock(mutex_);
  auto it = machines_.find(machineId);
  if (it == machines_.end()) return std::nullopt;
  return it->second.record;
}

bool Ledger::hasMachine(const std::string& machineId) const {
  std::lock_guard lock(mutex_);
  auto it = machines_.find(machineId);
  return it != machines_.end() && !it->second.pending;
}

plugin::Status Ledger::reserveReplica(const MachineRecord& record) {
  const auto& spec = record.spec;
  std::lock_guard lock(mutex_);
  if (machines_.contains(spec.replicaId)) {
    return makeError(ErrorCode::kAlreadyExists,
                     "machine " + spec.replicaId + " already exists with another spec");
  }
  auto sub = subscriptions_.find(spec.subscriptionId);
  if (sub == subscriptions_.end()) {
    return notFound("resources of subscription", spec.subscriptionId);
  }
  const auto& plan = sub->second;
  if (plan.tenantId != spec.tenantId) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "subscription " + spec.subscriptionId + " does not belong to tenant " + spec.tenantId);
  }
  const PlanUsage& used = usage_[spec.subscriptionId];
  if (plan.cpuMhz && used.cpuMhz + spec.cpuMhz > *plan.cpuMhz) {
    return makeError(ErrorCode::kResourceExhausted,
                     "CPU limit of subscription " + spec.subscriptionId +
                         " exceeded: " + std::to_string(used.cpuMhz + spec.cpuMhz) + " MHz of " +
                         std::to_string(*plan.cpuMhz));
  }
  if (plan.memoryMb && used.memoryMb + spec.memoryMb > *plan.memoryMb) {
    return makeError(ErrorCode::kResourceExhausted,
                     "memory limit of subscription " + spec.subscriptionId +
                         " exceeded: " + std::to_string(used.memoryMb + spec.memoryMb) + " MB of " +
                         std::to_string(*plan.memoryMb));
  }
  std::map<std::string, std::uint64_t> asked;
  for (const auto& disk : spec.disks) {
    if (findStorage(plan, disk.storage) == nullptr) {
      return notFound("plan storage", disk.storage + " of subscription " + spec.subscriptionId);
    }
    asked[disk.storage] += disk.sizeGb;
  }
  for (const auto& [name, gb] : asked) {
    const auto quota = findStorage(plan, name)->quotaGb;
    const auto it = used.storageGb.find(name);
    const std::uint64_t already = it == used.storageGb.end() ? 0 : it->second;
    if (already + gb > quota) {
      return makeError(ErrorCode::kResourceExhausted,
                       "storage quota of " + name + " exceeded: " + std::to_string(already + gb) +
                           " GB of " + std::to_string(quota));
    }
  }
  for (const auto& nic : spec.nics) {
    auto network = networks_.find(nic.networkId);
    if (network == networks_.end() || network->second.isolated()) {
      return notFound("network", nic.networkId);
    }
    if (network->second.spec.tenantId != spec.tenantId) {
      return makeError(ErrorCode::kInvalidArgument,
                       "network " + nic.networkId + " belongs to another tenant");
    }
  }
  addLocked(record, true);
  return {};
}

plugin::Status Ledger::reserveTestCopy(const MachineRecord& record) {
  std::lock_guard lock(mutex_);
  const auto& copy = record.copySpec;
  if (machines_.contains(copy.copyId)) {
    return makeError(ErrorCode::kAlreadyExists,
                     "machine " + copy.copyId + " already exists with another spec");
  }
  auto source = machines_.find(copy.sourceReplicaId);
  if (source == machines_.end() || source->second.pending ||
      source->second.record.kind != plugin::MachineKind::kReplica) {
    return notFound("replica", copy.sourceReplicaId);
  }
  const bool bubbleThere = std::any_of(networks_.begin(), networks_.end(), [&](const auto& entry) {
    return entry.second.bubbleId == copy.bubbleId &&
           entry.second.spec.tenantId == record.spec.tenantId;
  });
  if (!bubbleThere) return notFound("bubble", copy.bubbleId);
  addLocked(record, true);
  return {};
}

void Ledger::commitMachine(const std::string& machineId) {
  std::lock_guard lock(mutex_);
  if (auto it = machines_.find(machineId); it != machines_.end()) it->second.pending = false;
}

void Ledger::replaceMachine(const MachineRecord& record) {
  std::lock_guard lock(mutex_);
  if (auto it = machines_.find(record.spec.replicaId); it != machines_.end()) {
    it->second.record = record;
  }
}

void Ledger::eraseMachine(const std::string& machineId) {
  std::lock_guard lock(mutex_);
  auto it = machines_.find(machineId);
  if (it == machines_.end()) return;
  countLocked(it->second.record, -1);
  if (it->second.record.kind == plugin::MachineKind::kTestCopy) {
    auto copies = copiesOf_.find(it->second.record.copySpec.sourceReplicaId);
    if (copies != copiesOf_.end()) {
      copies->second.erase(machineId);
      if (copies->second.empty()) copiesOf_.erase(copies);
    }
  }
  machines_.erase(it);
}

plugin::Status Ledger::checkReplicaDeletable(const std::string& replicaId) const {
  std::lock_guard lock(mutex_);
  auto copies = copiesOf_.find(replicaId);
  if (copies != copiesOf_.end() && !copies->second.empty()) {
    return makeError(ErrorCode::kInvalidState,
                     "replica " + replicaId + " still has test copy " + *copies->second.begin());
  }
  return {};
}

plugin::Status Ledger::checkRestorePointDeletable(const std::string& replicaId,
                                                  const std::string& restorePointId) const {
  std::lock_guard lock(mutex_);
  auto copies = copiesOf_.find(replicaId);
  if (copies == copiesOf_.end()) return {};
  for (const auto& copyId : copies->second) {
    const auto& copy = machines_.at(copyId).record;
    if (copy.baseRestorePointId == restorePointId) {
      return makeError(ErrorCode::kInvalidState,
                       "restore point " + restorePointId + " backs test copy " + copyId);
    }
  }
  return {};
}

void Ledger::reset(std::vector<plugin::TenantResourcesSpec> subscriptions,
                   std::vector<NetworkRecord> networks, std::vector<MachineRecord> machines) {
  std::lock_guard lock(mutex_);
  subscriptions_.clear();
  usage_.clear();
  networks_.clear();
  machines_.clear();
  copiesOf_.clear();
  for (auto& spec : subscriptions) subscriptions_.emplace(spec.subscriptionId, std::move(spec));
  for (auto& network : networks) networks_.emplace(network.spec.networkId, std::move(network));
  for (const auto& machine : machines) addLocked(machine, false);
}

void Ledger::addLocked(const MachineRecord& record, bool pending) {
  machines_[record.spec.replicaId] = Machine{record, pending};
  countLocked(record, +1);
  if (record.kind == plugin::MachineKind::kTestCopy) {
    copiesOf_[record.copySpec.sourceReplicaId].insert(record.spec.replicaId);
  }
}

void Ledger::countLocked(const MachineRecord& record, int sign) {
  auto& used = usage_[record.spec.subscriptionId];
  used.machines += sign;
  // Test copies are overlays for a test: they count against no plan limit.
  if (record.kind != plugin::MachineKind::kReplica) return;
  used.cpuMhz += sign * static_cast<std::int64_t>(record.spec.cpuMhz);
  used.memoryMb += sign * static_cast<std::int64_t>(record.spec.memoryMb);
  for (const auto& disk : record.spec.disks) {
    used.storageGb[disk.storage] += sign * static_cast<std::int64_t>(disk.sizeGb);
  }
}

}  // namespace warmsite::libvirtplugin

#include "replica_registry.h"

#include <algorithm>

#include "failure.h"

namespace warmsite::clouddirector {

using plugin::ErrorCode;

std::optional<ReplicaRecord> ReplicaRegistry::find(const std::string& replicaId) const {
  std::lock_guard lock(mutex_);
  auto it = records_.find(replicaId);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

void ReplicaRegistry::put(ReplicaRecord record) {
  std::lock_guard lock(mutex_);
  const std::string id = record.spec.replicaId;
  records_[id] = std::move(record);
}

void ReplicaRegistry::erase(const std::string& replicaId) {
  std::lock_guard lock(mutex_);
  records_.erase(replicaId);
}

void ReplicaRegistry::replaceAll(const std::vector<ReplicaRecord>& records) {
  std::lock_guard lock(mutex_);
  std::erase_if(records_, [](const auto& entry) { return !entry.second.vappPath.empty(); });
  for (const auto& record : records) records_.emplace(record.spec.replicaId, record);
}

void ReplicaRegistry::reserve(const plugin::ReplicaSpec& spec,
                              const plugin::TenantResourcesSpec& subscription) {
  std::lock_guard lock(mutex_);
  std::uint64_t cpu = spec.cpuMhz, memory = spec.memoryMb;
  std::map<std::string, std::uint64_t> storage;
  for (const auto& disk : spec.disks) storage[disk.storage] += disk.sizeGb;
  for (const auto& [id, record] : records_) {
    if (record.spec.subscriptionId != spec.subscriptionId) continue;
    cpu += record.spec.cpuMhz;
    memory += record.spec.memoryMb;
  }
  const std::string& sub = spec.subscriptionId;
  if (subscription.cpuMhz && cpu > *subscription.cpuMhz) {
    fail(ErrorCode::kResourceExhausted,
         "CPU limit of subscription " + sub + " exceeded by replica " + spec.replicaId + ": " +
             std::to_string(cpu) + " MHz of " + std::to_string(*subscription.cpuMhz),
         "PLAN_QUOTA");
  }
  if (subscription.memoryMb && memory > *subscription.memoryMb) {
    fail(ErrorCode::kResourceExhausted,
         "memory limit of subscription " + sub + " exceeded by replica " + spec.replicaId + ": " +
             std::to_string(memory) + " MB of " + std::to_string(*subscription.memoryMb),
         "PLAN_QUOTA");
  }
  for (const auto& plan : subscription.storages) {
    std::uint64_t used = storage[plan.name];
    for (const auto& [id, record] : records_) {
      if (record.spec.subscriptionId != sub) continue;
      for (const auto& disk : record.spec.disks) {
        if (disk.storage == plan.name) used += disk.sizeGb;
      }
    }
    if (used > plan.quotaGb) {
      fail(ErrorCode::kResourceExhausted,
           "storage quota of " + plan.name + " in subscription " + sub + " exceeded by replica " +
               spec.replicaId + ": " + std::to_string(used) + " GB of " +
               std::to_string(plan.quotaGb),
           "PLAN_QUOTA");
    }
  }
  records_[spec.replicaId] = ReplicaRecord{spec, ""};
}

std::uint64_t ReplicaRegistry::usedGb(const std::string& subscriptionId,
                                      const std::string& storage) const {
  std::lock_guard lock(mutex_);
  std::uint64_t used = 0;
  for (const auto& [id, record] : records_) {
    if (record.spec.subscriptionId != subscriptionId) continue;
    for (const auto& disk : record.spec.disks) {
      if (disk.storage == storage) used += disk.sizeGb;
    }
  }
  return used;
}

std::optional<std::string> ReplicaRegistry::anyReplicaOf(const std::string& subscriptionId) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, record] : records_) {
    if (record.spec.subscriptionId == subscriptionId) return id;
  }
  return std::nullopt;
}

std::optional<std::string> ReplicaRegistry::anyReplicaOn(const std::string& networkId) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, record] : records_) {
    if (std::any_of(record.spec.nics.begin(), record.spec.nics.end(),
                    [&](const plugin::NicSpec& nic) { return nic.networkId == networkId; })) {
      return id;
    }
  }
  return std::nullopt;
}

}  // namespace warmsite::clouddirector

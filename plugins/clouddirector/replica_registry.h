#pragma once
// What this plugin object knows of the replicas in the VDC: each one's spec (read from its vApp's
// mark) and vApp href, plus the replicas being created right now. Seeded from the backend on first
// need, kept current by the plugin's own calls, and refreshed by every inventory(). It answers the
// plan checks (CPU, memory, storage quotas are Warmsite's, per subscription, not the VDC's) and
// "is anything still using this subscription or network?".

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "warmsite/plugin/types.h"

namespace warmsite::clouddirector {

struct ReplicaRecord {
  plugin::ReplicaSpec spec;
  std::string vappPath;  // "" while the replica is being created
};

class ReplicaRegistry {
 public:
  std::optional<ReplicaRecord> find(const std::string& replicaId) const;
  void put(ReplicaRecord record);
  void erase(const std::string& replicaId);
  // Everything a full scan found; replicas being created are kept.
  void replaceAll(const std::vector<ReplicaRecord>& records);

  // Adds `spec` as being created if it fits its subscription's CPU, memory and storage quotas
  // together with the subscription's other replicas; kResourceExhausted (thrown) otherwise.
  void reserve(const plugin::ReplicaSpec& spec, const plugin::TenantResourcesSpec& subscription);

  std::uint64_t usedGb(const std::string& subscriptionId, const std::string& storage) const;
  std::optional<std::string> anyReplicaOf(const std::string& subscriptionId) const;
  std::optional<std::string> anyReplicaOn(const std::string& networkId) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ReplicaRecord> records_;
};

}  // namespace warmsite::clouddirector

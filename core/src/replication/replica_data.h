#pragma once
// The SP's copy of replicated disks: one qcow2 file per replica disk under
// <root>/<tenant>/<replica>/, whose internal snapshots are the replica's replicated restore points
// (named by their ids). The receiver writes into it; the engine boots, reverts and deletes through
// it.

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace warmsite::replication {

class ReplicaDataStore {
 public:
  explicit ReplicaDataStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path diskPath(const std::string& tenantId, const std::string& replicaId,
                                 const std::string& diskId) const;
  // Removes every disk file of a replica (after the replica is deleted).
  void removeReplica(const std::string& tenantId, const std::string& replicaId) const;
  // Deletes one restore point's snapshot from each of the replica's disks that holds it.
  void deleteRestorePoint(const std::string& tenantId, const std::string& replicaId,
                          const std::string& pointId) const;
  // Failover: every disk back to the restore point's data, and a fresh failback bitmap that
  // records what the failed-over VM changes (what failback ships back to the tenant).
  void bootFrom(const std::string& tenantId, const std::string& replicaId,
                const std::string& pointId) const;
  // Undo: the changes made since the restore point are dropped, and so is the failback bitmap.
  void discardChangesSince(const std::string& tenantId, const std::string& replicaId,
                           const std::string& pointId) const;
  // Test failover: a copy of each disk at the restore point, for the test copy of the replica to
  // boot while the replica's own files stay untouched; under <root>/tests/<session>/<replica>/.
  // Returns the copies, named <disk id>.qcow2.
  std::vector<std::filesystem::path> copyForTest(const std::string& tenantId,
                                                 const std::string& replicaId,
                                                 const std::string& pointId,
                                                 const std::string& sessionId) const;
  // Removes a test session's copies (nothing when there are none).
  void removeTestCopies(const std::string& sessionId) const;
  // The restore point the failback bitmap counts from ("" when there is none).
  std::string failbackBase(const std::string& tenantId, const std::string& replicaId) const;
  std::vector<std::filesystem::path> diskFiles(const std::string& tenantId,
                                               const std::string& replicaId) const;
  // Which of the tenant's `replicaIds` have disk files; one whose directory cannot be read counts
  // as having some (the caller then detaches files that may not be attached, which is harmless).
  std::set<std::string> replicasWithData(const std::string& tenantId,
                                         const std::vector<std::string>& replicaIds) const;

  static constexpr std::string_view kFailbackBitmap = "warmsite-failback";

 private:
  std::filesystem::path root_;
};

}  // namespace warmsite::replication

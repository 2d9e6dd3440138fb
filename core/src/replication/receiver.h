#pragma once
// The SP end of replication. Tenant agents connect to its TLS 1.3 port, authenticate with their
// API token, and stream runs: each run writes changed extents into the replica's qcow2 disks
// (through qemu-nbd, hash-checked, within the plan's storage quota) and, once committed whole,
// becomes a restore point (an internal snapshot of every disk) with retention applied. A run cut
// off by a dropped connection stays open for a while and resumes where its data stopped.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "replication/frame_stream.h"
#include "replication/throttle.h"
#include "security/authenticator.h"
#include "store/store.h"

namespace warmsite::replication {

// Where replica data lives: one qcow2 file per disk, under <root>/<tenant>/<replica>/.
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
  // The restore point the failback bitmap counts from ("" when there is none).
  std::string failbackBase(const std::string& tenantId, const std::string& replicaId) const;
  std::vector<std::filesystem::path> diskFiles(const std::string& tenantId,
                                               const std::string& replicaId) const;

  static constexpr std::string_view kFailbackBitmap = "warmsite-failback";
  const std::filesystem::path& root() const noexcept { return root_; }

 private:
  std::filesystem::path root_;
};

struct ReceiverOptions {
  FrameListener::Options listener;
  // Bytes per second one tenant's runs may send together (0 = unlimited).
  std::uint64_t tenantBandwidthBytesPerSecond = 0;
  // How long a run whose connection dropped waits for its agent to resume it.
  std::chrono::seconds resumeWindow{600};
  std::uint32_t defaultRetention = 7;  // restore points kept when the run names no job
};

class ReplicationReceiver {
 public:
  ReplicationReceiver(store::Store& store, security::Authenticator& auth,
                      const ReplicaDataStore& data, const security::TlsIdentity& identity,
                      ReceiverOptions options);
  ~ReplicationReceiver();

  void start();
  void stop();
  std::uint16_t port() const noexcept { return listener_.port(); }
  void replaceIdentity(const security::TlsIdentity& identity) {
    listener_.replaceIdentity(identity);
  }

  struct ActiveRun;

 private:
  void serve(FrameStream& stream);
  std::shared_ptr<ActiveRun> beginRun(const std::string& tenantId, const nlohmann::json& request);
  // Writes extents until RUN_COMMIT arrives; returns its totals.
  nlohmann::json receiveExtents(FrameStream& stream, ActiveRun& run);
  // Checks one extent and starts writing it (on the run's writer thread).
  void writeExtent(ActiveRun& run, std::string body);
  // Counts the writes that completed, oldest first; with `wait`, waits for all of them.
  static void retireWrites(ActiveRun& run, bool wait);
  // Sends a failed-over replica's data back to the tenant's agent.
  void serveFailback(FrameStream& stream, const std::string& tenantId,
                     const nlohmann::json& request);
  nlohmann::json commitRun(ActiveRun& run, const nlohmann::json& totals);
  void failRun(ActiveRun& run, const std::string& error);
  void reapAbandonedRuns();
  BandwidthThrottle& throttleOf(const std::string& tenantId);

  store::Store& store_;
  security::Authenticator& auth_;
  const ReplicaDataStore& data_;
  ReceiverOptions options_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<ActiveRun>> runs_;  // by run id: open runs only
  std::map<std::string, std::unique_ptr<BandwidthThrottle>> throttles_;
  FrameListener listener_;
};

}  // namespace warmsite::replication

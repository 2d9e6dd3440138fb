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
#include "replication/replica_data.h"
#include "replication/throttle.h"
#include "security/authenticator.h"
#include "store/store.h"

namespace warmsite::replication {

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

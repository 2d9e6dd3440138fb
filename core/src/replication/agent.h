#pragma once
// The tenant end of replication: ships a VM's qcow2 disks to its replica at the SP. The first run
// is full (seeding); later runs send only the blocks changed since the last confirmed restore
// point, as a change tracker recorded them (a persistent dirty bitmap in each image, or a libvirt
// checkpoint of a running domain). A run falls back to full, and says why, when the tracker is
// missing, was left in use by a crashed writer, or a disk changed size. The old tracker is dropped
// only after the SP confirms the new restore point.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "replication/change_source.h"
#include "replication/frame_stream.h"

namespace warmsite::replication {

struct AgentDisk {
  std::string diskId;           // the replica's disk
  std::filesystem::path image;  // the local qcow2 file (unless a ChangeSource says otherwise)
};

struct AgentOptions {
  ConnectOptions connect;  // the SP's replication port and its pinned certificate thumbprint
  std::string token;       // the tenant's API token
  std::string replicaId;
  std::string jobId;  // optional: the SP applies the job's retention
  std::vector<AgentDisk> disks;
  std::filesystem::path stateDir;  // what the last confirmed run left, one file per replica
  bool forceFull = false;
  int compressionLevel = 1;  // zstd; 0 sends data uncompressed
  std::uint32_t extentSize = 1u << 20;
  std::size_t readsInFlight = 8;
  std::uint64_t bandwidthBytesPerSecond = 0;  // 0 = unlimited
  int maxReconnects = 5;                      // a dropped connection resumes the run this often
};

struct AgentRunResult {
  std::string runId;
  std::string kind;    // "full" or "incremental"
  std::string reason;  // why full
  std::string restorePointId;
  std::uint64_t changedBytes = 0;  // data carried, before compression
  std::uint64_t zeroBytes = 0;
  std::uint64_t extents = 0;
  std::uint64_t wireBytes = 0;  // bytes written to the TLS connection(s)
  int reconnects = 0;
  double seconds = 0;
};

using AgentLog = std::function<void(const std::string&)>;

struct FailbackResult {
  std::string kind;    // "incremental" or "full"
  std::string reason;  // why full
  std::uint64_t changedBytes = 0, zeroBytes = 0, extents = 0;
  std::uint64_t wireBytes = 0;  // bytes received
  double seconds = 0;
};

// Brings the tenant's disks to the failed-over replica's data. The SP sends the blocks changed on
// either side since the restore point the failover booted (the agent's base bitmap says which the
// tenant changed), or every block when that point is not the agent's base. Nothing may use the
// disks meanwhile; their change tracking keeps running, so the next replication run stays
// incremental.
FailbackResult failBack(const AgentOptions& options, const AgentLog& log = {});

// Runs one replication of options.replicaId, reading options.disks (in order) from `source`.
// Throws ProtocolError when the SP refuses (code says why), TransportError when it stays
// unreachable, ImageError for a local disk problem.
AgentRunResult replicate(const AgentOptions& options, ChangeSource& source,
                         const AgentLog& log = {});
// The same from the qcow2 image files of options.disks, which nothing may write during the run.
AgentRunResult replicate(const AgentOptions& options, const AgentLog& log = {});

}  // namespace warmsite::replication

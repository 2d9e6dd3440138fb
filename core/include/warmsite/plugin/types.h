#pragma once
// Value types that cross the plugin boundary. Only standard-library types appear here; their layout
// is pinned by the build fingerprint (abi.h). Ids are Warmsite ids (strings chosen by core).
// Platform ids (libvirt UUIDs, Cloud Director URNs, vSphere MoRefs) never appear: a plugin keeps
// its own mapping and may hand core an opaque `platformRef` that core stores and shows but never
// interprets.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warmsite::plugin {

// Per-call context: a deadline and a cancellation flag the plugin checks while it waits (task
// polling, graceful shutdown, injected latency). A call that gives up returns kTimeout or
// kCancelled.
struct CallContext {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancelRequested = nullptr;  // owned by core; outlives the call

  bool expired() const noexcept { return std::chrono::steady_clock::now() >= deadline; }
  bool cancelled() const noexcept {
    return cancelRequested != nullptr && cancelRequested->load(std::memory_order_relaxed);
  }
  static CallContext withTimeout(std::chrono::milliseconds timeout) {
    CallContext ctx;
    ctx.deadline = std::chrono::steady_clock::now() + timeout;
    return ctx;
  }
};

// ---- compute
// ---------------------------------------------------------------------------------------

struct PlanStorage {
  std::string name;            // the plan's friendly storage name; replica disks refer to it
  std::string backendStorage;  // where it lives: a vSphere datastore, a libvirt storage pool
  std::uint64_t quotaGb = 0;

  bool operator==(const PlanStorage&) const = default;
};

// What a hardware-plan subscription gives one tenant on one cloud host.
struct TenantResourcesSpec {
  std::string subscriptionId;  // idempotency key
  std::string tenantId;
  std::string tenantName;                 // for readable backend names only
  std::optional<std::uint64_t> cpuMhz;    // nullopt = unlimited
  std::optional<std::uint64_t> memoryMb;  // nullopt = unlimited
  std::vector<PlanStorage> storages;

  bool operator==(const TenantResourcesSpec&) const = default;
};

struct StorageUsage {
  std::string name;
  std::uint64_t quotaGb = 0;
  std::uint64_t usedGb = 0;
};

struct TenantResources {
  std::string subscriptionId;
  std::string tenantId;
  std::string platformRef;
  std::vector<StorageUsage> storages;
};

struct DiskSpec {
  std::string diskId;   // Warmsite id, unique within the replica
  std::string storage;  // a PlanStorage name of the replica's subscription
  std::uint64_t sizeGb = 0;

  bool operator==(const DiskSpec&) const = default;
};

// A disk's data kept outside the backend's own volumes: a qcow2 file the cloud host can open
// (the SP's replicated data of a replica, or an overlay of it for a test copy). @since 1.1
struct DiskData {
  std::string diskId;  // one of the machine's DiskSpec ids
  std::string path;    // absolute

  bool operator==(const DiskData&) const = default;
};

struct NicSpec {
  std::string nicId;      // Warmsite id, unique within the replica
  std::string networkId;  // a tenant network created through NetworkApi
  std::string mac;        // "52:54:00:xx:xx:xx"; empty = the plugin picks one and reports it

  bool operator==(const NicSpec&) const = default;
};

struct ReplicaSpec {
  std::string replicaId;  // idempotency key
  std::string subscriptionId;
  std::string tenantId;
  std::string name;  // readable; not unique
  std::uint32_t vcpus = 1;
  std::uint64_t cpuMhz = 0;  // CPU the replica counts against the plan's CPU limit
  std::uint64_t memoryMb = 0;
  std::vector<DiskSpec> disks;
  std::vector<NicSpec> nics;

  bool operator==(const ReplicaSpec&) const = default;
};

enum class PowerState : std::uint32_t { kOff = 0, kOn = 1, kSuspended = 2 };

enum class MachineKind : std::uint32_t { kReplica = 0, kTestCopy = 1 };

struct RestorePointInfo {
  std::string restorePointId;
  std::string description;
  std::int64_t createdUnix = 0;  // seconds since the epoch, backend clock
};

// What the backend holds for one Warmsite-owned machine (a replica or a test copy).
struct MachineInfo {
  std::string machineId;  // replicaId or test copyId
  MachineKind kind = MachineKind::kReplica;
  std::string tenantId;
  std::string subscriptionId;
  std::string sourceReplicaId;  // test copies only
  std::string name;
  PowerState power = PowerState::kOff;
  std::vector<std::string> nicMacs;             // in ReplicaSpec order
  std::vector<RestorePointInfo> restorePoints;  // oldest first
  std::string platformRef;
};

struct PowerOffOptions {
  // Ask the guest to shut down, wait up to gracefulTimeout, then force it off. false = force at
  // once.
  bool graceful = true;
  std::chrono::milliseconds gracefulTimeout{std::chrono::seconds(120)};
};

// ---- network
// ---------------------------------------------------------------------------------------

struct TenantNetworkSpec {
  std::string networkId;  // idempotency key
  std::string subscriptionId;
  std::string tenantId;
  std::string name;          // readable
  std::uint32_t vlanId = 0;  // 1..4094, allocated by core from the cloud host's ranges
  bool internet = false;     // true = outbound NAT allowed through the edge

  bool operator==(const TenantNetworkSpec&) const = default;
};

struct NetworkInfo {
  std::string networkId;
  std::string tenantId;
  std::string subscriptionId;
  std::uint32_t vlanId = 0;
  bool internet = false;
  bool isolated = false;  // a test-isolation bubble: no uplink, no VLAN
  std::string platformRef;
};

// ---- edge
// ------------------------------------------------------------------------------------------

enum class Protocol : std::uint32_t { kTcp = 0, kUdp = 1 };

struct PortMapping {
  std::string ruleId;
  std::string publicIp;  // IPv4 or IPv6 literal allocated to the tenant
  std::uint16_t publicPort = 0;
  Protocol protocol = Protocol::kTcp;
  std::string targetIp;  // replica address on a tenant network, same family as publicIp
  std::uint16_t targetPort = 0;

  bool operator==(const PortMapping&) const = default;
};

struct OutboundNat {
  std::string networkId;   // a tenant network with internet
  std::string sourceCidr;  // the tenant's subnet on that network, e.g. "10.0.1.0/24"
  std::string publicIp;    // SNAT address

  bool operator==(const OutboundNat&) const = default;
};

// The whole desired edge state of one tenant on one cloud host. Applying it replaces the previous
// state atomically, so a replay after a crash converges on the same rules.
struct TenantEdgeSpec {
  std::string tenantId;
  std::vector<PortMapping> mappings;
  std::vector<OutboundNat> outboundNat;

  bool operator==(const TenantEdgeSpec&) const = default;
};

// ---- test isolation
// --------------------------------------------------------------------------------

struct BubbleSpec {
  std::string bubbleId;  // idempotency key
  std::string tenantId;
  // One isolated network per source network, same order; NICs on a source network land on its twin.
  std::vector<std::string> sourceNetworkIds;

  bool operator==(const BubbleSpec&) const = default;
};

struct TestCopySpec {
  std::string copyId;  // idempotency key; power and state calls take it as the machine id
  std::string sourceReplicaId;
  std::string restorePointId;  // empty = the latest restore point
  std::string bubbleId;

  bool operator==(const TestCopySpec&) const = default;
};

// ---- capabilities
// ----------------------------------------------------------------------------------

// Announced once, after creation. Core checks it before it changes anything, and the loader checks
// that each announced part is really there.
struct Capabilities {
  bool compute = false;
  bool network = false;
  bool edge = false;
  bool testIsolation = false;
  bool gracefulShutdown = false;                 // PowerOffOptions::graceful is honoured
  std::uint32_t maxRestorePointsPerReplica = 0;  // 0 = unlimited
  std::uint32_t maxNicsPerReplica = 0;           // 0 = unlimited
  std::uint32_t maxConcurrentCalls = 0;          // 0 = unlimited; core never exceeds it
};

}  // namespace warmsite::plugin

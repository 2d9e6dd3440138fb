#pragma once
// Warmsite's entities as plain values. No I/O here: the store persists them, the API maps them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warmsite::domain {

struct Tenant {
  std::string id;
  std::string name;  // unique, <= 128 characters; also the tenant's login name
  std::string description;
  bool enabled = true;
  std::optional<std::int64_t> leaseExpiresUnix;  // nullopt = no lease end
  std::uint32_t maxConcurrentTasks = 10;
  std::int64_t createdUnix = 0;

  bool operator==(const Tenant&) const = default;
};

enum class Role { kProvider, kTenant };

// Who can log in: SP administrators, and one account per tenant (same name as the tenant).
struct Account {
  std::string id;
  std::string name;
  Role role = Role::kProvider;
  std::string tenantId;  // tenants only
  std::string passwordHash;
  std::uint32_t failedLogins = 0;
  std::optional<std::int64_t> lockedUntilUnix;
  std::int64_t createdUnix = 0;

  bool operator==(const Account&) const = default;
};

struct Session {
  std::string tokenHash;  // SHA-256 of the bearer token; the token itself is never stored
  std::string accountId;
  std::int64_t createdUnix = 0;
  std::int64_t expiresUnix = 0;
};

// A plugin instance: one virtualization stack the SP registered.
struct CloudHost {
  std::string id;
  std::string name;        // unique
  std::string plugin;      // the plugin's handshake name, e.g. "libvirt"
  std::string configJson;  // plaintext in memory; the store keeps it encrypted
  std::int64_t createdUnix = 0;

  bool operator==(const CloudHost&) const = default;
};

struct VlanRange {
  std::string id;
  std::string cloudHostId;
  std::uint32_t first = 0;  // 1..4094, first <= last
  std::uint32_t last = 0;
  bool internet = false;  // networks on these VLANs get outbound NAT

  bool operator==(const VlanRange&) const = default;
};

struct VlanAllocation {
  std::string cloudHostId;
  std::uint32_t vlanId = 0;
  bool internet = false;
  std::string tenantId;
  std::string networkId;  // the tenant network the VLAN carries

  bool operator==(const VlanAllocation&) const = default;
};

struct PublicIp {
  std::string address;   // canonical text form (inet_ntop)
  int family = 4;        // 4 or 6
  std::string tenantId;  // empty = free
  std::string subscriptionId;

  bool operator==(const PublicIp&) const = default;
};

struct PlanStorage {
  std::string name;            // friendly name replica disks refer to
  std::string backendStorage;  // datastore / storage pool on the cloud host
  std::uint64_t quotaGb = 0;

  bool operator==(const PlanStorage&) const = default;
};

struct HardwarePlan {
  std::string id;
  std::string name;  // unique
  std::string description;
  std::string cloudHostId;
  std::optional<std::uint64_t> cpuMhz;    // nullopt = unlimited
  std::optional<std::uint64_t> memoryMb;  // nullopt = unlimited
  std::vector<PlanStorage> storages;
  std::uint32_t networksWithInternet = 0;
  std::uint32_t networksWithoutInternet = 0;
  std::int64_t createdUnix = 0;
  std::int64_t updatedUnix = 0;

  bool operator==(const HardwarePlan&) const = default;
};

enum class SubscriptionState { kProvisioning, kReady, kFailed, kUnsubscribing };

struct SubscriptionNetwork {
  std::string networkId;
  std::string name;
  std::uint32_t vlanId = 0;
  bool internet = false;

  bool operator==(const SubscriptionNetwork&) const = default;
};

struct Subscription {
  std::string id;
  std::string tenantId;
  std::string planId;
  std::string cloudHostId;
  SubscriptionState state = SubscriptionState::kProvisioning;
  std::string error;  // why it is failed
  std::uint32_t publicIpCount = 0;
  std::vector<SubscriptionNetwork> networks;
  std::vector<std::string> publicIps;
  std::int64_t createdUnix = 0;

  bool operator==(const Subscription&) const = default;
};

enum class TaskState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

struct Task {
  std::string id;
  std::string tenantId;  // empty for SP-wide tasks
  std::string kind;      // e.g. "provision_subscription"
  std::string targetId;  // the object the task works on
  TaskState state = TaskState::kQueued;
  std::uint32_t progress = 0;  // percent
  std::string error;
  std::string createdBy;  // account name
  std::int64_t createdUnix = 0;
  std::optional<std::int64_t> startedUnix;
  std::optional<std::int64_t> finishedUnix;

  bool operator==(const Task&) const = default;
};

struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t atUnixMs = 0;
  std::string actor;      // account name, or the name tried at a failed login
  std::string actorRole;  // "provider", "tenant" or "anonymous"
  std::string tenantId;   // the tenant acting, or the tenant acted on when known
  std::string method;
  std::string path;
  int status = 0;
  std::string result;  // "ok" or "error"
  std::string message;
};

struct AuditQuery {
  std::optional<std::string> tenantId;
  std::optional<std::string> actor;
  std::optional<std::int64_t> sinceUnixMs;
  std::int64_t beforeId = 0;  // paging: entries older than this id; 0 = newest
  std::uint32_t limit = 100;
};

struct Maintenance {
  bool enabled = false;
  std::string message;
};

// ---- replicas and failover (DESIGN.md section 5) ---------------------------------------------

enum class ReplicaState {
  kProcessing,         // a task works on it (create, restore point, delete, replication run)
  kReady,              // powered off, receiving replication
  kFailover,           // running after a failover
  kFailoverFailed,     // a failover step failed; undo or retry
  kFailback,           // handed back; waiting for commit or undo
  kPermanentFailover,  // final: the replica is now the production VM
  kTest,               // a test copy of it runs in a bubble
};

struct ReplicaDisk {
  std::string diskId;
  std::string storage;  // a plan storage name
  std::uint64_t sizeGb = 0;

  bool operator==(const ReplicaDisk&) const = default;
};

struct ReplicaNic {
  std::string nicId;
  std::string networkId;  // a network of the replica's subscription
  std::string mac;        // chosen by the plugin when empty at creation
  std::string ipAddress;  // the guest's address on that network (for public-IP rules), optional

  bool operator==(const ReplicaNic&) const = default;
};

struct Replica {
  std::string id;
  std::string tenantId;
  std::string subscriptionId;
  std::string name;
  std::uint32_t vcpus = 1;
  std::uint64_t cpuMhz = 0;
  std::uint64_t memoryMb = 0;
  std::vector<ReplicaDisk> disks;
  std::vector<ReplicaNic> nics;
  ReplicaState state = ReplicaState::kProcessing;
  std::string error;      // why the last operation on it failed
  bool deleting = false;  // a delete task owns it
  std::int64_t createdUnix = 0;

  bool operator==(const Replica&) const = default;
};

struct RestorePoint {
  std::string id;
  std::string replicaId;
  std::string tenantId;
  std::string description;
  std::int64_t createdUnix = 0;
  std::string origin = "snapshot";  // "snapshot" (taken on the cloud host) or "replication"
  std::uint64_t dataBytes = 0;      // replication: the changed bytes its run wrote

  bool operator==(const RestorePoint&) const = default;
};

// A tenant's replication job: which replicas its agent ships, how often, how many restore points
// each keeps.
struct ReplicationJob {
  std::string id;
  std::string tenantId;
  std::string name;
  std::vector<std::string> replicaIds;
  std::optional<std::uint32_t> scheduleMinutes;  // nullopt = on demand only
  std::uint32_t retention = 7;                   // restore points kept per replica
  std::int64_t createdUnix = 0;

  bool operator==(const ReplicationJob&) const = default;
};

enum class ReplicationRunState { kRunning, kCommitted, kFailed };

struct ReplicationRunDisk {
  std::string diskId;
  std::uint64_t sizeBytes = 0;
  std::uint64_t changedBytes = 0;  // data bytes the run carried, before compression
  std::uint64_t zeroBytes = 0;     // bytes sent as zero extents (no payload)
  std::uint64_t wireBytes = 0;     // extent frames as sent, after compression
  std::uint64_t extents = 0;
  std::int64_t durationMs = 0;

  bool operator==(const ReplicationRunDisk&) const = default;
};

// One agent run of one replica: every disk in it, committed together as one restore point.
struct ReplicationRun {
  std::string id;  // chosen by the agent, so a resumed connection finds its run
  std::string tenantId;
  std::string replicaId;
  std::string jobId;
  std::string kind;    // "full" or "incremental"
  std::string reason;  // why full, when it is
  ReplicationRunState state = ReplicationRunState::kRunning;
  std::string baseRestorePointId;
  std::string restorePointId;  // set at commit
  std::vector<ReplicationRunDisk> disks;
  std::string error;
  std::int64_t startedUnix = 0;
  std::optional<std::int64_t> finishedUnix;

  bool operator==(const ReplicationRun&) const = default;
};

struct PublicIpRule {
  std::string id;
  std::string publicIp;
  std::uint16_t publicPort = 0;
  std::string protocol = "tcp";  // "tcp" or "udp"
  std::string targetIp;          // the replica's address
  std::uint16_t targetPort = 0;
  std::string description;

  bool operator==(const PublicIpRule&) const = default;
};

struct PlanMember {
  std::string replicaId;
  std::uint32_t bootDelaySeconds = 60;  // wait after starting it before the next one starts
  std::vector<PublicIpRule> publicIpRules;

  bool operator==(const PlanMember&) const = default;
};

struct PlanScript {
  std::string command;  // absolute path of an executable on the SP's host; empty = none
  std::uint32_t timeoutSeconds = 300;

  bool operator==(const PlanScript&) const = default;
};

enum class FailoverPlanState {
  kReady,
  kInProgress,
  kCompleted,
  kFailed,
  kUndoInProgress,
  kUndoFailed
};

struct FailoverPlan {
  std::string id;
  std::string tenantId;
  std::string name;
  std::string description;
  std::uint32_t parallelism = 10;   // VMs started at once at most
  std::vector<PlanMember> members;  // in boot order
  PlanScript preScript;             // set by the SP only
  PlanScript postScript;            // set by the SP only
  FailoverPlanState state = FailoverPlanState::kReady;
  std::string lastSessionId;
  std::int64_t createdUnix = 0;

  bool operator==(const FailoverPlan&) const = default;
};

enum class SessionKind {
  kFailover,           // a plan's full site failover
  kTestFailover,       // copies in a bubble, cleaned up afterwards
  kUndo,               // a plan's failed-over VMs back to ready
  kPermanentFailover,  // a plan's failed-over VMs become production
  kPartialFailover,    // one replica
  kPartialUndo,
  kPartialPermanent,
  kFailback,
  kFailbackCommit,
  kFailbackUndo,
};

enum class SessionState { kInProgress, kCompleted, kFailed, kCancelled };

enum class SessionVmState { kPending, kRunning, kDone, kFailed, kSkipped };

struct SessionVm {
  std::string replicaId;
  std::uint32_t position = 0;  // boot order
  SessionVmState state = SessionVmState::kPending;
  std::string step;  // the step in flight or last done, e.g. "power_on"
  std::uint32_t attempts = 0;
  std::string restorePointId;  // failover: the point it boots
  std::string error;
  std::optional<std::int64_t> startedUnix;
  std::optional<std::int64_t> finishedUnix;

  bool operator==(const SessionVm&) const = default;
};

struct FailoverSession {
  std::string id;
  std::string tenantId;
  std::string planId;  // empty for one-replica operations
  std::string taskId;
  SessionKind kind = SessionKind::kFailover;
  SessionState state = SessionState::kInProgress;
  std::optional<std::int64_t> restorePointBeforeUnix;  // failover "to": the newest point before
  std::uint32_t testDurationSeconds = 0;               // test failover: how long the copies stay up
  std::string error;
  std::string scriptOutput;  // pre/post scripts' output, kept for the SP and tenant
  std::string startedBy;
  std::int64_t startedUnix = 0;
  std::optional<std::int64_t> finishedUnix;
  std::vector<SessionVm> vms;

  bool operator==(const FailoverSession&) const = default;
};

std::string_view toString(ReplicaState state) noexcept;
std::string_view toString(FailoverPlanState state) noexcept;
std::string_view toString(SessionKind kind) noexcept;
std::string_view toString(SessionState state) noexcept;
std::string_view toString(SessionVmState state) noexcept;
std::optional<ReplicaState> replicaStateFrom(std::string_view text) noexcept;
std::optional<FailoverPlanState> failoverPlanStateFrom(std::string_view text) noexcept;
std::optional<SessionKind> sessionKindFrom(std::string_view text) noexcept;
std::optional<SessionState> sessionStateFrom(std::string_view text) noexcept;
std::optional<SessionVmState> sessionVmStateFrom(std::string_view text) noexcept;
std::string_view toString(ReplicationRunState state) noexcept;
std::optional<ReplicationRunState> replicationRunStateFrom(std::string_view text) noexcept;

std::string_view toString(Role role) noexcept;
std::string_view toString(SubscriptionState state) noexcept;
std::string_view toString(TaskState state) noexcept;
std::optional<SubscriptionState> subscriptionStateFrom(std::string_view text) noexcept;
std::optional<TaskState> taskStateFrom(std::string_view text) noexcept;

}  // namespace warmsite::domain

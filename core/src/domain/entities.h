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

std::string_view toString(Role role) noexcept;
std::string_view toString(SubscriptionState state) noexcept;
std::string_view toString(TaskState state) noexcept;
std::optional<SubscriptionState> subscriptionStateFrom(std::string_view text) noexcept;
std::optional<TaskState> taskStateFrom(std::string_view text) noexcept;

}  // namespace warmsite::domain

#pragma once
// Warmsite's entities as plain values. No I/O here: the store persists them, the API maps them.

#include <cstdint>
#include <optional>
#include <string>

namespace warmsite::domain {

struct Tenant {
  std::string id;
  std::string name;  // unique, <= 128 characters
  std::string description;
  bool enabled = true;
  std::optional<std::int64_t> leaseExpiresUnix;  // nullopt = no lease end
  std::uint32_t maxConcurrentTasks = 10;
  std::int64_t createdUnix = 0;

  bool operator==(const Tenant&) const = default;
};

// A plugin instance: one virtualization stack the SP registered.
struct CloudHost {
  std::string id;
  std::string name;    // unique
  std::string plugin;  // the plugin's handshake name, e.g. "libvirt"
  std::string configJson;
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

}  // namespace warmsite::domain

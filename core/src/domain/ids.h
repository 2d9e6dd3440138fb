#pragma once
// Warmsite ids: a short kind prefix and 128 bits in hex, e.g. "tnt-019ae1f0c2d4...": the creation
// time in milliseconds (48 bits, as in RFC 9562's UUIDv7), then 80 random bits. Random, so ids
// never collide across daemons sharing a database and never leak counts; time first, so the rows a
// burst of work inserts (sessions, their VMs, tasks) land at the end of their primary key's B-tree
// instead of on a random page each, which the commit then writes out whole.

#include <string>
#include <string_view>

namespace warmsite::domain {

std::string newId(std::string_view prefix);

// Restore points come from two places: snapshots the cloud host takes ("rp-…") and replication
// runs committed into the replica's data ("rpd-…"). The prefix tells them apart without a lookup.
inline constexpr std::string_view kReplicatedPointPrefix = "rpd";
inline bool isReplicatedRestorePoint(std::string_view id) {
  return id.starts_with(kReplicatedPointPrefix) && id.size() > kReplicatedPointPrefix.size() &&
         id[kReplicatedPointPrefix.size()] == '-';
}

}  // namespace warmsite::domain

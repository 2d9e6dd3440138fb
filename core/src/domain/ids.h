#pragma once
// Warmsite ids: a short kind prefix and 128 random bits, e.g. "tnt-1f0c...". Random rather than
// sequential so ids never collide across daemons sharing a database and never leak counts.

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

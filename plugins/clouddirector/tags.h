#pragma once
// The marks Warmsite leaves on Cloud Director objects so that it finds them again from the backend
// alone, after a restart: compact JSON in an object's description (vApp, VM, org VDC network, NAT
// rule) or in a VDC metadata value (subscriptions). Each mark says what it is ("ws") and its
// format version; anything else is not Warmsite's and is left alone.

#include <cstdint>
#include <optional>
#include <string>

#include "warmsite/plugin/types.h"

namespace warmsite::clouddirector {

// Backend names: unique in the VDC (vApps) or per owner (networks), so a replayed create collides
// with the first one instead of making a twin.
std::string vappName(const std::string& replicaId);
std::string networkName(const std::string& networkId);
inline constexpr char kVAppNamePattern[] = "ws-*";

// A replica's vApp description: the whole ReplicaSpec, so replays compare specs and usage is known.
std::string replicaTag(const plugin::ReplicaSpec& spec);
std::optional<plugin::ReplicaSpec> parseReplicaTag(const std::string& text);

// The replica VM's description: which restore point its one snapshot is.
std::string restorePointTag(const plugin::RestorePointInfo& point);
std::optional<plugin::RestorePointInfo> parseRestorePointTag(const std::string& text);

std::string networkTag(const plugin::TenantNetworkSpec& spec);
std::optional<plugin::TenantNetworkSpec> parseNetworkTag(const std::string& text);

// VDC metadata: one entry per plan subscription served by the VDC.
std::string subscriptionKey(const std::string& subscriptionId);
std::optional<std::string> subscriptionIdOfKey(const std::string& key);
std::string subscriptionValue(const plugin::TenantResourcesSpec& spec);
std::optional<plugin::TenantResourcesSpec> parseSubscriptionValue(const std::string& subscriptionId,
                                                                  const std::string& text);

// A NAT rule's description: the tenant, a DNAT mapping (ruleId) or an SNAT (networkId), and the
// rule's position in the tenant's spec, so the spec reads back in its order.
struct NatTag {
  std::string tenantId;
  bool outbound = false;
  std::string id;
  std::uint32_t position = 0;

  bool operator==(const NatTag&) const = default;
};
std::string natTag(const NatTag& tag);
std::optional<NatTag> parseNatTag(const std::string& text);

}  // namespace warmsite::clouddirector

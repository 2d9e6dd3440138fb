#pragma once
// How Warmsite ids become libvirt and nftables names. The encoding is reversible, so a name alone
// tells which Warmsite object it belongs to (the event thread needs no libvirt call for that), and
// ids with characters libvirt or nft refuse ('/' in names, anything outside nft identifiers) still
// map to valid, distinct names.

#include <optional>
#include <string>
#include <string_view>

namespace warmsite::libvirtplugin {

// Percent-encodes every byte outside [A-Za-z0-9_-]; '.' is encoded too, so it can separate parts.
std::string encodeId(std::string_view id);
std::optional<std::string> decodeId(std::string_view encoded);

// libvirt object names. Domains: ws-m-<machine>; volumes: ws-m-<machine>.<disk>.qcow2;
// tenant networks: ws-n-<network>; bubble networks: ws-b-<bubble>.<source network>;
// subscription records: ws-s-<subscription>; snapshots: <restore point>.
inline constexpr std::string_view kMachinePrefix = "ws-m-";
inline constexpr std::string_view kNetworkPrefix = "ws-n-";
inline constexpr std::string_view kBubblePrefix = "ws-b-";
inline constexpr std::string_view kSubscriptionPrefix = "ws-s-";

std::string domainName(std::string_view machineId);
std::string volumeName(std::string_view machineId, std::string_view diskId);
std::string networkName(std::string_view networkId);
std::string bubbleNetworkName(std::string_view bubbleId, std::string_view sourceNetworkId);
std::string subscriptionName(std::string_view subscriptionId);
std::string snapshotName(std::string_view restorePointId);

// The machine id of a domain name, or nullopt when the name is not a Warmsite machine's.
std::optional<std::string> machineIdOf(std::string_view domainName);

// The id a bubble network reports to core: "<bubble>/<source network>".
std::string bubbleNetworkId(std::string_view bubbleId, std::string_view sourceNetworkId);

// Longest name the plugin gives a libvirt object: volumes become file names (255 bytes).
inline constexpr std::size_t kMaxLibvirtName = 240;

// nftables: a table per tenant, "warmsite-<tenant>", with bytes outside [A-Za-z0-9_-] written as
// ".xx" (nft identifiers allow '.', not '%'). At most 255 bytes.
inline constexpr std::string_view kNftTablePrefix = "warmsite-";
std::string nftTableName(std::string_view tenantId);
std::optional<std::string> tenantOfNftTable(std::string_view table);

// Rule comments carry rule and network ids; '"', '%', '\' and control bytes are percent-encoded
// because nft comments cannot escape them. At most 128 bytes (nft's limit).
inline constexpr std::size_t kMaxNftComment = 128;
std::string nftComment(std::string_view id);
std::optional<std::string> idOfNftComment(std::string_view comment);

}  // namespace warmsite::libvirtplugin

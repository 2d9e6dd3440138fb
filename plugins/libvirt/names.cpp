#include "names.h"

namespace warmsite::libvirtplugin {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool plainByte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <typename KeepByte>
std::string escape(std::string_view text, char marker, KeepByte keep) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (keep(c)) {
      out += static_cast<char>(c);
    } else {
      out += marker;
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  return out;
}

template <typename KeepByte>
std::optional<std::string> unescape(std::string_view text, char marker, KeepByte keep) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != marker) {
      if (!keep(static_cast<unsigned char>(text[i]))) return std::nullopt;
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hexValue(text[i + 1]), low = hexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

bool commentByte(unsigned char c) {
  return c >= 0x20 && c != 0x7f && c != '"' && c != '%' && c != '\\';
}

}  // namespace

std::string encodeId(std::string_view id) {
  return escape(id, '%', plainByte);
}

std::optional<std::string> decodeId(std::string_view encoded) {
  return unescape(encoded, '%', plainByte);
}

std::string domainName(std::string_view machineId) {
  return std::string(kMachinePrefix) + encodeId(machineId);
}

std::string volumeName(std::string_view machineId, std::string_view diskId) {
  return domainName(machineId) + "." + encodeId(diskId) + ".qcow2";
}

std::string networkName(std::string_view networkId) {
  return std::string(kNetworkPrefix) + encodeId(networkId);
}

std::string bubbleNetworkName(std::string_view bubbleId, std::string_view sourceNetworkId) {
  return std::string(kBubblePrefix) + encodeId(bubbleId) + "." + encodeId(sourceNetworkId);
}

std::string subscriptionName(std::string_view subscriptionId) {
  return std::string(kSubscriptionPrefix) + encodeId(subscriptionId);
}

std::string snapshotName(std::string_view restorePointId) {
  return encodeId(restorePointId);
}

std::optional<std::string> machineIdOf(std::string_view name) {
  if (name.substr(0, kMachinePrefix.size()) != kMachinePrefix) return std::nullopt;
  return decodeId(name.substr(kMachinePrefix.size()));
}

std::string bubbleNetworkId(std::string_view bubbleId, std::string_view sourceNetworkId) {
  return std::string(bubbleId) + "/" + std::string(sourceNetworkId);
}

std::string nftTableName(std::string_view tenantId) {
  return std::string(kNftTablePrefix) + escape(tenantId, '.', plainByte);
}

std::optional<std::string> tenantOfNftTable(std::string_view table) {
  if (table.substr(0, kNftTablePrefix.size()) != kNftTablePrefix) return std::nullopt;
  return unescape(table.substr(kNftTablePrefix.size()), '.', plainByte);
}

std::string nftComment(std::string_view id) {
  return escape(id, '%', commentByte);
}

std::optional<std::string> idOfNftComment(std::string_view comment) {
  return unescape(comment, '%', commentByte);
}

}  // namespace warmsite::libvirtplugin

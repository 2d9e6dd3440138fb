#include "nft_edge.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "names.h"
#include "process.h"

namespace warmsite::libvirtplugin {

namespace {

using nlohmann::json;
using plugin::ErrorCode;
using plugin::makeError;

// Address family of an IP literal: AF_INET, AF_INET6, or 0 when it does not parse.
int ipFamily(const std::string& ip) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, ip.c_str(), buffer) == 1) return AF_INET;
  if (inet_pton(AF_INET6, ip.c_str(), buffer) == 1) return AF_INET6;
  return 0;
}

// A subnet "address/prefix" with no host bits set: its family, or 0.
int subnetFamily(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return 0;
  const std::string address = cidr.substr(0, slash), prefix = cidr.substr(slash + 1);
  const int family = ipFamily(address);
  if (family == 0 || prefix.empty() || prefix.size() > 3 ||
      prefix.find_first_not_of("0123456789") != std::string::npos) {
    return 0;
  }
  const int bits = std::stoi(prefix), width = family == AF_INET ? 32 : 128;
  if (bits > width) return 0;
  unsigned char bytes[16];
  inet_pton(family, address.c_str(), bytes);
  for (int bit = bits; bit < width; ++bit) {
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) return 0;
  }
  return family;
}

const char* nftFamily(int family) {
  return family == AF_INET ? "ip" : "ip6";
}

const char* protocolName(plugin::Protocol protocol) {
  return protocol == plugin::Protocol::kUdp ? "udp" : "tcp";
}

std::string target(const plugin::PortMapping& mapping) {
  const bool v6 = ipFamily(mapping.targetIp) == AF_INET6;
  return (v6 ? "[" + mapping.targetIp + "]" : mapping.targetIp) + ":" +
         std::to_string(mapping.targetPort);
}

std::string dnatRule(const plugin::PortMapping& mapping) {
  const char* family = nftFamily(ipFamily(mapping.publicIp));
  return std::string("    ") + family + " daddr " + mapping.publicIp + " " +
         protocolName(mapping.protocol) + " dport " + std::to_string(mapping.publicPort) +
         " dnat " + family + " to " + target(mapping) + " comment \"" + nftComment(mapping.ruleId) +
         "\"\n";
}

plugin::Error invalid(const std::string& message) {
  return makeError(ErrorCode::kInvalidArgument, message);
}

std::string stringOf(const json& value) {
  return value.is_string() ? value.get<std::string>() : std::string();
}

// `ip daddr X` / `tcp dport N`: the match's payload protocol, field and right-hand side.
struct Match {
  std::string protocol, field;
  json right;
};

std::optional<Match> payloadMatch(const json& expr) {
  if (!expr.contains("match")) return std::nullopt;
  const auto& match = expr["match"];
  if (!match.contains("left") || !match["left"].contains("payload")) return std::nullopt;
  const auto& payload = match["left"]["payload"];
  return Match{stringOf(payload.value("protocol", json())),
               stringOf(payload.value("field", json())), match.value("right", json())};
}

}  // namespace

plugin::Status validateEdgeSpec(const plugin::TenantEdgeSpec& spec) {
  if (spec.tenantId.empty() || spec.tenantId.size() > 128) {
    return invalid("tenantId must be 1-128 characters");
  }
  if (nftTableName(spec.tenantId).size() > 255) {
    return invalid("tenantId " + spec.tenantId + " is too long for an nftables table name");
  }
  std::set<std::tuple<std::string, std::uint16_t, plugin::Protocol>> endpoints;
  for (const auto& mapping : spec.mappings) {
    const int family = ipFamily(mapping.publicIp);
    if (family == 0 || ipFamily(mapping.targetIp) != family) {
      return invalid("rule " + mapping.ruleId + ": " + mapping.publicIp + " -> " +
                     mapping.targetIp + " needs two addresses of one family");
    }
    if (mapping.publicPort == 0 || mapping.targetPort == 0) {
      return invalid("rule " + mapping.ruleId + ": port 0");
    }
    if (mapping.ruleId.empty() || nftComment(mapping.ruleId).size() > kMaxNftComment) {
      return invalid("ruleId \"" + mapping.ruleId + "\" must be 1-" +
                     std::to_string(kMaxNftComment) + " bytes (an nftables rule comment)");
    }
    if (!endpoints.emplace(mapping.publicIp, mapping.publicPort, mapping.protocol).second) {
      return makeError(ErrorCode::kAlreadyExists,
                       "rule " + mapping.ruleId + ": " + mapping.publicIp + ":" +
                           std::to_string(mapping.publicPort) + " is mapped twice");
    }
  }
  for (const auto& nat : spec.outboundNat) {
    const int family = ipFamily(nat.publicIp);
    if (family == 0 || subnetFamily(nat.sourceCidr) != family) {
      return invalid("outbound NAT of " + nat.networkId + ": " + nat.sourceCidr + " -> " +
                     nat.publicIp +
                     " needs a subnet (no host bits set) and an address of one family");
    }
    if (nat.networkId.empty() || nftComment(nat.networkId).size() > kMaxNftComment) {
      return invalid("networkId \"" + nat.networkId + "\" must be 1-" +
                     std::to_string(kMaxNftComment) + " bytes (an nftables rule comment)");
    }
  }
  return {};
}

std::string renderEdgeScript(const plugin::TenantEdgeSpec& spec, const std::string& uplink) {
  const std::string table = "inet " + nftTableName(spec.tenantId);
  // "add" first so that "delete" works whether or not the table exists.
  std::string script = "add table " + table + "\ndelete table " + table + "\n";
  if (spec.mappings.empty() && spec.outboundNat.empty()) return script;
  std::string dnat;
  for (const auto& mapping : spec.mappings) dnat += dnatRule(mapping);
  const std::string out = "\"" + uplink + "\"";
  script += "table " + table + " {\n";
  script += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n" +
            dnat + "  }\n";
  // Connections the edge host opens itself do not pass prerouting.
  script +=
      "  chain output {\n    type nat hook output priority -100; policy accept;\n" + dnat + "  }\n";
  script +=
      "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const auto& nat : spec.outboundNat) {
    const char* family = nftFamily(ipFamily(nat.publicIp));
    script += std::string("    ") + family + " saddr " + nat.sourceCidr + " oifname " + out +
              " snat " + family + " to " + nat.publicIp + " comment \"" +
              nftComment(nat.networkId) + "\"\n";
  }
  script += "  }\n";
  // Policy accept: other tables share the hook, and a drop here would be final for them too. So
  // the chain drops only new inbound traffic to this tenant's own addresses.
  script += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  script += "    ct state established,related accept\n";
  std::map<int, std::set<std::string>> protectedAddresses;
  for (const auto& mapping : spec.mappings) {
    const int family = ipFamily(mapping.targetIp);
    script += std::string("    ") + nftFamily(family) + " daddr " + mapping.targetIp + " " +
              protocolName(mapping.protocol) + " dport " + std::to_string(mapping.targetPort) +
              " ct status dnat accept\n";
    protectedAddresses[family].insert(mapping.targetIp);
  }
  for (const auto& nat : spec.outboundNat) {
    const int family = ipFamily(nat.publicIp);
    script += std::string("    ") + nftFamily(family) + " saddr " + nat.sourceCidr + " oifname " +
              out + " accept\n";
    protectedAddresses[family].insert(nat.sourceCidr);
  }
  for (const auto& [family, addresses] : protectedAddresses) {
    std::string set;
    for (const auto& address : addresses) set += (set.empty() ? "" : ", ") + address;
    script += "    iifname " + out + " " + nftFamily(family) + " daddr { " + set + " } drop\n";
  }
  script += "  }\n}\n";
  return script;
}

plugin::Result<std::map<std::string, plugin::TenantEdgeSpec>> parseEdgeRuleset(
    const std::string& text) {
  std::map<std::string, plugin::TenantEdgeSpec> tenants;
  json ruleset;
  try {
    ruleset = json::parse(text);
  } catch (const json::exception& e) {
    return makeError(ErrorCode::kInternal, std::string("nft printed no JSON ruleset: ") + e.what());
  }
  for (const auto& entry : ruleset.value("nftables", json::array())) {
    const bool isTable = entry.contains("table"), isRule = entry.contains("rule");
    if (!isTable && !isRule) continue;
    const auto& object = isTable ? entry["table"] : entry["rule"];
    if (stringOf(object.value("family", json())) != "inet") continue;
    auto tenant = tenantOfNftTable(stringOf(object.value(isTable ? "name" : "table", json())));
    if (!tenant) continue;
    auto& spec = tenants[*tenant];
    spec.tenantId = *tenant;
    if (isTable) continue;
    const auto chain = stringOf(object.value("chain", json()));
    const auto id = idOfNftComment(stringOf(object.value("comment", json())));
    if (!id || (chain != "prerouting" && chain != "postrouting")) continue;
    plugin::PortMapping mapping;
    plugin::OutboundNat nat;
    mapping.ruleId = *id;
    nat.networkId = *id;
    for (const auto& expr : object.value("expr", json::array())) {
      if (auto match = payloadMatch(expr)) {
        if (match->field == "daddr") mapping.publicIp = stringOf(match->right);
        if (match->field == "dport" && match->right.is_number_unsigned()) {
          mapping.publicPort = match->right.get<std::uint16_t>();
          mapping.protocol =
              match->protocol == "udp" ? plugin::Protocol::kUdp : plugin::Protocol::kTcp;
        }
        if (match->field == "saddr") {
          if (match->right.is_string()) {
            const auto address = stringOf(match->right);
            nat.sourceCidr = address + (ipFamily(address) == AF_INET ? "/32" : "/128");
          } else if (match->right.contains("prefix")) {
            const auto& prefix = match->right["prefix"];
            nat.sourceCidr = stringOf(prefix.value("addr", json())) + "/" +
                             std::to_string(prefix.value("len", 0));
          }
        }
      } else if (expr.contains("dnat")) {
        mapping.targetIp = stringOf(expr["dnat"].value("addr", json()));
        mapping.targetPort = expr["dnat"].value("port", std::uint16_t{0});
      } else if (expr.contains("snat")) {
        nat.publicIp = stringOf(expr["snat"].value("addr", json()));
      }
    }
    if (chain == "prerouting") {
      spec.mappings.push_back(std::move(mapping));
    } else {
      spec.outboundNat.push_back(std::move(nat));
    }
  }
  return tenants;
}

plugin::Result<std::map<std::string, plugin::TenantEdgeSpec>> NftEdge::readAll(
    const plugin::CallContext& ctx) const {
  auto listed = runProcess({config_.nft, "-j", "list", "ruleset"}, config_.netns, ctx);
  if (!listed.ok()) return std::move(listed).error();
  if (listed->exitCode != 0) {
    return makeError(ErrorCode::kUnavailable, "nft list ruleset failed: " + listed->err,
                     "nft exit " + std::to_string(listed->exitCode));
  }
  return parseEdgeRuleset(listed->out);
}

plugin::Status NftEdge::apply(const plugin::TenantEdgeSpec& spec,
                              const plugin::CallContext& ctx) const {
  // nft reads the script from a file: one transaction, nothing passed through a pipe.
  char path[] = "/tmp/warmsite-edge-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return makeError(ErrorCode::kInternal, "cannot create a temporary ruleset file");
  ::close(fd);
  {
    std::ofstream file(path, std::ios::trunc);
    file << renderEdgeScript(spec, config_.uplink);
  }
  auto applied = runProcess({config_.nft, "-f", path}, config_.netns, ctx);
  ::unlink(path);
  if (!applied.ok()) return std::move(applied).error();
  if (applied->exitCode != 0) {
    return makeError(ErrorCode::kInternal,
                     "nft refused the ruleset of tenant " + spec.tenantId + ": " + applied->err,
                     "nft exit " + std::to_string(applied->exitCode));
  }
  return {};
}

}  // namespace warmsite::libvirtplugin

#include "edge.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "guarded.h"
#include "util.h"

namespace warmsite::clouddirector {

using plugin::ErrorCode;

namespace {

const char* protocolName(plugin::Protocol protocol) {
  return protocol == plugin::Protocol::kUdp ? "UDP" : "TCP";
}

std::string typeOf(const Json& rule) {
  const std::string type = textOf(rule, "type");
  return type.empty() ? textOf(rule, "ruleType") : type;
}

std::string profileIdOf(const Json& rule) {
  const auto it = rule.find("applicationPortProfile");
  return it != rule.end() && it->is_object() ? textOf(*it, "id") : std::string();
}

// The fields that make two rules the same rule (the description carries tenant, id and position).
bool sameRule(const Json& a, const Json& b) {
  for (const char* field :
       {"description", "externalAddresses", "internalAddresses", "dnatExternalPort"}) {
    if (textOf(a, field) != textOf(b, field)) return false;
  }
  return typeOf(a) == typeOf(b) && profileIdOf(a) == profileIdOf(b);
}

// Whether a port spec ("", "ANY", "443", "1000-2000") covers `port`.
bool coversPort(const std::string& spec, std::uint16_t port) {
  if (spec.empty() || spec == "ANY") return true;
  const auto dash = spec.find('-');
  try {
    const unsigned long first = std::stoul(spec.substr(0, dash));
    const unsigned long last =
        dash == std::string::npos ? first : std::stoul(spec.substr(dash + 1));
    return port >= first && port <= last;
  } catch (const std::exception&) {
    return true;  // unreadable: assume the worst
  }
}

void validate(const plugin::TenantEdgeSpec& spec) {
  if (spec.tenantId.empty() || spec.tenantId.size() > 128) {
    fail(ErrorCode::kInvalidArgument, "tenantId must be 1-128 characters");
  }
  std::set<std::tuple<std::string, std::uint16_t, plugin::Protocol>> endpoints;
  std::set<std::string> ids;
  for (const auto& mapping : spec.mappings) {
    const std::string name = "rule " + mapping.ruleId + " of tenant " + spec.tenantId;
    if (mapping.ruleId.empty() || !ids.insert(mapping.ruleId).second) {
      fail(ErrorCode::kInvalidArgument,
           "tenant " + spec.tenantId + ": rule ids must be unique and non-empty");
    }
    const int family = ipFamily(mapping.publicIp);
    if (family == 0 || ipFamily(mapping.targetIp) != family) {
      fail(ErrorCode::kInvalidArgument, name + ": " + mapping.publicIp + " -> " + mapping.targetIp +
                                            " needs two addresses of one family");
    }
    if (family == AF_INET6) {
      fail(ErrorCode::kInvalidArgument,
           name + ": Cloud Director's NSX-T edge gateways translate IPv4 addresses only");
    }
    if (mapping.publicPort == 0 || mapping.targetPort == 0) {
      fail(ErrorCode::kInvalidArgument, name + ": port 0");
    }
    if (!endpoints.emplace(mapping.publicIp, mapping.publicPort, mapping.protocol).second) {
      fail(ErrorCode::kAlreadyExists, name + ": " + mapping.publicIp + ":" +
                                          std::to_string(mapping.publicPort) + "/" +
                                          protocolName(mapping.protocol) + " is mapped twice");
    }
  }
  std::set<std::string> networks;
  for (const auto& nat : spec.outboundNat) {
    const auto cidr = parseCidr(nat.sourceCidr);
    if (ipFamily(nat.publicIp) != AF_INET || !cidr || cidr->family != AF_INET) {
      fail(ErrorCode::kInvalidArgument, "outbound NAT of network " + nat.networkId + ": " +
                                            nat.sourceCidr + " -> " + nat.publicIp +
                                            " needs an IPv4 subnet and an IPv4 address");
    }
    if (!networks.insert(nat.networkId).second) {
      fail(ErrorCode::kInvalidArgument,
           "outbound NAT of network " + nat.networkId + " is given twice");
    }
  }
}

std::string ruleName(const std::string& tenantId, const std::string& id) {
  return ("ws-" + tenantId + "-" + id).substr(0, 255);
}

}  // namespace

std::string EdgeService::rulesPath(const plugin::CallContext& ctx) {
  return "/cloudapi/1.0.0/edgeGateways/" + site_.edge(ctx).urn + "/nat/rules";
}

std::vector<Json> EdgeService::listRules(const plugin::CallContext& ctx) {
  return client_.listAll(rulesPath(ctx), "", ctx);  // the NAT list takes no filter
}

std::optional<EdgeService::PortProfile> EdgeService::profileOf(const std::string& urn,
                                                               const plugin::CallContext& ctx) {
  if (urn.empty()) return std::nullopt;  // a rule for any port and protocol
  {
    std::lock_guard lock(profileMutex_);
    if (auto it = profiles_.find(urn); it != profiles_.end()) return it->second;
  }
  std::optional<PortProfile> profile;
  if (const auto body =
          client_.getIfExists("/cloudapi/1.0.0/applicationPortProfiles/" + urn, Api::kCloud, ctx)) {
    const Json ports = arrayOf(*body, "applicationPorts");
    if (ports.size() == 1) {
      const std::string protocol = textOf(ports[0], "protocol");
      const Json destinations = arrayOf(ports[0], "destinationPorts");
      if ((protocol == "TCP" || protocol == "UDP") && destinations.size() == 1 &&
          destinations[0].is_string()) {
        const unsigned long port =
            std::strtoul(destinations[0].get<std::string>().c_str(), nullptr, 10);
        if (port > 0 && port <= 65535) {
          profile = PortProfile{protocol == "UDP" ? plugin::Protocol::kUdp : plugin::Protocol::kTcp,
                                static_cast<std::uint16_t>(port)};
        }
      }
    }
  }
  std::lock_guard lock(profileMutex_);
  profiles_[urn] = profile;
  return profile;
}

std::string EdgeService::profileFor(plugin::Protocol protocol, std::uint16_t port,
                                    const plugin::CallContext& ctx) {
  std::string name = std::string("ws-") + protocolName(protocol) + "-" + std::to_string(port);
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  std::lock_guard lock(profileMutex_);
  if (auto it = profileUrns_.find(name); it != profileUrns_.end()) return it->second;
  const VdcRef& vdc = site_.vdc(ctx);
  auto remember = [&](const std::string& urn) {
    profileUrns_[name] = urn;
    profiles_[urn] = PortProfile{protocol, port};
    return urn;
  };
  auto existing = [&]() -> std::optional<std::string> {
    for (const auto& item :
         client_.listAll("/cloudapi/1.0.0/applicationPortProfiles",
                         "name==" + name + ";scope==TENANT;_context==" + vdc.urn, ctx)) {
      if (textOf(item, "name") == name) return textOf(item, "id");
    }
    return std::nullopt;
  };
  if (auto urn = existing()) return remember(*urn);
  const std::string body =
      Json{{"name", name},
           {"description", "Warmsite port mappings to " + std::string(protocolName(protocol)) +
                               " port " + std::to_string(port)},
           {"scope", "TENANT"},
           {"orgRef", {{"id", "urn:vcloud:org:" + vdc.orgUuid}}},
           {"contextEntityId", vdc.urn},
           {"applicationPorts",
            {{{"protocol", protocolName(protocol)}, {"destinationPorts", {std::to_string(port)}}}}}}
          .dump();
  std::string created;
  bool raced = false;
  const Json task = client_.runTask(
      [&]() -> std::string {
        const ApiResponse response = client_.call("POST", "/cloudapi/1.0.0/applicationPortProfiles",
                                                  Api::kCloud, ctx, body, "application/json");
        if (response.status == 400 && response.minorErrorCode() == "DUPLICATE_NAME") {
          raced = true;  // made by someone else since the list
          return {};
        }
        if (response.status == 201) {
          created = textOf(response.json(), "id");
          return {};
        }
        return client_.acceptedTask(response, "create application port profile " + name);
      },
      ctx);
  if (raced) {
    if (auto urn = existing()) return remember(*urn);
    fail(ErrorCode::kInternal, "application port profile " + name + " exists but is not listed");
  }
  return remember(created.empty() ? textOf(objectOf(task, "owner"), "id") : created);
}

void EdgeService::checkAgainstEdge(const plugin::TenantEdgeSpec& spec,
                                   const plugin::CallContext& ctx) {
  const EdgeRef& edge = site_.edge(ctx);
  const Json detail = client_.get("/cloudapi/1.0.0/edgeGateways/" + edge.urn, Api::kCloud, ctx);
  std::vector<std::pair<std::string, std::string>> allocated;
  for (const auto& uplink : arrayOf(detail, "edgeGatewayUplinks")) {
    const Json subnets = objectOf(uplink, "subnets");
    for (const auto& subnet : arrayOf(subnets, "values")) {
      const std::string primary = textOf(subnet, "primaryIp");
      if (!primary.empty()) allocated.emplace_back(primary, primary);
      const Json ranges = objectOf(subnet, "ipRanges");
      for (const auto& range : arrayOf(ranges, "values")) {
        allocated.emplace_back(textOf(range, "startAddress"), textOf(range, "endAddress"));
      }
    }
  }
  auto requireAllocated = [&](const std::string& ip, const std::string& what) {
    if (std::none_of(allocated.begin(), allocated.end(), [&](const auto& range) {
          return ipv4InRange(ip, range.first, range.second);
        })) {
      fail(ErrorCode::kInvalidArgument,
           what + ": " + ip + " is not a public IP allocated to edge gateway " + edge.name);
    }
  };
  for (const auto& mapping : spec.mappings)
    requireAllocated(mapping.publicIp, "rule " + mapping.ruleId);
  for (const auto& nat : spec.outboundNat) {
    requireAllocated(nat.publicIp, "outbound NAT of network " + nat.networkId);
    const auto network = networks_.find(nat.networkId, ctx);
    if (!network || network->spec.tenantId != spec.tenantId) {
      fail(ErrorCode::kNotFound, "network " + nat.networkId + " of tenant " + spec.tenantId);
    }
    if (!network->spec.internet) {
      fail(ErrorCode::kInvalidArgument,
           "network " + nat.networkId + " has no internet access; no outbound NAT");
    }
  }
}

void EdgeService::checkConflicts(const plugin::TenantEdgeSpec& spec, const std::vector<Json>& rules,
                                 const plugin::CallContext& ctx) {
  for (const auto& rule : rules) {
    if (typeOf(rule) != "DNAT") continue;
    const auto tag = parseNatTag(textOf(rule, "description"));
    if (tag && tag->tenantId == spec.tenantId) continue;
    const std::string profileId = profileIdOf(rule);
    const auto profile = profileId.empty() ? std::nullopt : profileOf(profileId, ctx);
    std::string ports = textOf(rule, "dnatExternalPort");
    if (ports.empty() && profile) ports = std::to_string(profile->port);  // no translation
    for (const auto& mapping : spec.mappings) {
      if (textOf(rule, "externalAddresses") != mapping.publicIp ||
          !coversPort(ports, mapping.publicPort) ||
          (profile && profile->protocol != mapping.protocol)) {
        continue;
      }
      fail(ErrorCode::kAlreadyExists,
           mapping.publicIp + ":" + std::to_string(mapping.publicPort) + "/" +
               protocolName(mapping.protocol) + " is already mapped by " +
               (tag ? "another tenant"
                    : "NAT rule \"" + textOf(rule, "name") + "\", which Warmsite does not manage"));
    }
  }
}

std::vector<Json> EdgeService::desiredRules(const plugin::TenantEdgeSpec& spec,
                                            const plugin::CallContext& ctx) {
  std::vector<Json> rules;
  for (std::uint32_t i = 0; i < spec.mappings.size(); ++i) {
    const auto& mapping = spec.mappings[i];
    rules.push_back({{"name", ruleName(spec.tenantId, mapping.ruleId)},
                     {"description", natTag({spec.tenantId, false, mapping.ruleId, i})},
                     {"enabled", true},
                     {"type", "DNAT"},
                     {"externalAddresses", mapping.publicIp},
                     {"internalAddresses", mapping.targetIp},
                     {"dnatExternalPort", std::to_string(mapping.publicPort)},
                     {"applicationPortProfile",
                      {{"id", profileFor(mapping.protocol, mapping.targetPort, ctx)}}},
                     {"logging", false}});
  }
  for (std::uint32_t i = 0; i < spec.outboundNat.size(); ++i) {
    const auto& nat = spec.outboundNat[i];
    rules.push_back({{"name", ruleName(spec.tenantId, "snat-" + nat.networkId)},
                     {"description", natTag({spec.tenantId, true, nat.networkId, i})},
                     {"enabled", true},
                     {"type", "SNAT"},
                     {"externalAddresses", nat.publicIp},
                     {"internalAddresses", nat.sourceCidr},
                     {"logging", false}});
  }
  return rules;
}

void EdgeService::createRule(const Json& rule, const plugin::CallContext& ctx) {
  const std::string path = rulesPath(ctx), body = rule.dump();
  client_.runTask(
      [&]() -> std::string {
        const ApiResponse response =
            client_.call("POST", path, Api::kCloud, ctx, body, "application/json");
        if (response.status == 201) return {};
        // 202 and a task; the new rule's id is in neither (the rule is found by a re-list).
        return client_.acceptedTask(response, "create NAT rule " + textOf(rule, "name"));
      },
      ctx);
}

void EdgeService::deleteRule(const std::string& ruleId, const plugin::CallContext& ctx) {
  client_.deleteAndWait(rulesPath(ctx) + "/" + ruleId, Api::kCloud, "delete NAT rule " + ruleId,
                        ctx);
}

void EdgeService::change(const std::vector<Json>& toCreate, const std::vector<Json>& toDelete,
                         const std::vector<Json>& before, const plugin::CallContext& ctx) {
  std::set<std::string> beforeIds;
  for (const auto& rule : before) beforeIds.insert(textOf(rule, "id"));
  auto createdBy = [&](const Json& rule) {
    return !beforeIds.contains(textOf(rule, "id")) &&
           std::any_of(toCreate.begin(), toCreate.end(),
                       [&](const Json& wanted) { return sameRule(rule, wanted); });
  };
  std::vector<Json> deleted;
  try {
    for (const auto& rule : toCreate) createRule(rule, ctx);
    if (!toCreate.empty()) {
      const auto after = listRules(ctx);
      for (const auto& wanted : toCreate) {
        if (std::none_of(after.begin(), after.end(), [&](const Json& rule) {
              return createdBy(rule) && sameRule(rule, wanted);
            })) {
          fail(ErrorCode::kInternal, "NAT rule " + textOf(wanted, "name") +
                                         " is not on the edge gateway after its task succeeded");
        }
      }
    }
    for (const auto& rule : toDelete) {
      deleteRule(textOf(rule, "id"), ctx);
      deleted.push_back(rule);
    }
  } catch (const Failure& failure) {
    // Put the previous rules back: remove what this call created, recreate what it deleted.
    const plugin::CallContext cleanup = cleanupContext();
    try {
      for (const auto& rule : listRules(cleanup)) {
        if (createdBy(rule)) deleteRule(textOf(rule, "id"), cleanup);
      }
      for (Json rule : deleted) {
        for (const char* field : {"id", "version", "systemRule"}) rule.erase(field);
        createRule(rule, cleanup);
      }
    } catch (const Failure& rollback) {
      plugin::Error error = failure.error();
      error.message += "; putting the previous rules back failed too: " + rollback.error().message;
      client_.log(plugin::LogLevel::kError, error.message);
      throw Failure(error);
    }
    throw;
  }
}

plugin::Status EdgeService::applyTenantEdge(const plugin::TenantEdgeSpec& spec,
                                            const plugin::CallContext& ctx) noexcept {
  return guarded("apply_tenant_edge", [&]() -> plugin::Status {
    validate(spec);
    const auto lock = edgeLocks_.lock(site_.edge(ctx).urn);
    checkAgainstEdge(spec, ctx);
    const auto rules = listRules(ctx);
    checkConflicts(spec, rules, ctx);
    const auto desired = desiredRules(spec, ctx);
    std::vector<Json> toCreate, toDelete;
    std::vector<bool> kept(desired.size(), false);
    for (const auto& rule : rules) {
      const auto tag = parseNatTag(textOf(rule, "description"));
      if (!tag || tag->tenantId != spec.tenantId) continue;
      bool matched = false;
      for (std::size_t i = 0; i < desired.size() && !matched; ++i) {
        if (!kept[i] && sameRule(rule, desired[i])) kept[i] = matched = true;
      }
      if (!matched) toDelete.push_back(rule);
    }
    for (std::size_t i = 0; i < desired.size(); ++i) {
      if (!kept[i]) toCreate.push_back(desired[i]);
    }
    if (!toCreate.empty() || !toDelete.empty()) change(toCreate, toDelete, rules, ctx);
    return {};
  });
}

plugin::Result<plugin::TenantEdgeSpec> EdgeService::tenantEdge(
    const std::string& tenantId, const plugin::CallContext& ctx) noexcept {
  return guarded("tenant_edge", [&]() -> plugin::Result<plugin::TenantEdgeSpec> {
    std::vector<std::pair<std::uint32_t, plugin::PortMapping>> mappings;
    std::vector<std::pair<std::uint32_t, plugin::OutboundNat>> outbound;
    for (const auto& rule : listRules(ctx)) {
      const auto tag = parseNatTag(textOf(rule, "description"));
      if (!tag || tag->tenantId != tenantId) continue;
      const std::string external = textOf(rule, "externalAddresses");
      const std::string internal = textOf(rule, "internalAddresses");
      if (tag->outbound && typeOf(rule) == "SNAT") {
        outbound.emplace_back(tag->position, plugin::OutboundNat{tag->id, internal, external});
        continue;
      }
      const auto profile = profileOf(profileIdOf(rule), ctx);
      const unsigned long port =
          std::strtoul(textOf(rule, "dnatExternalPort").c_str(), nullptr, 10);
      if (tag->outbound || typeOf(rule) != "DNAT" || !profile || port == 0 || port > 65535) {
        continue;  // edited by hand beyond what a port mapping is: not reported as one
      }
      mappings.emplace_back(tag->position,
                            plugin::PortMapping{tag->id, external, static_cast<std::uint16_t>(port),
                                                profile->protocol, internal, profile->port});
    }
    std::sort(mappings.begin(), mappings.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::sort(outbound.begin(), outbound.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    plugin::TenantEdgeSpec spec{tenantId, {}, {}};
    for (auto& [position, mapping] : mappings) spec.mappings.push_back(std::move(mapping));
    for (auto& [position, nat] : outbound) spec.outboundNat.push_back(std::move(nat));
    return spec;
  });
}

plugin::Status EdgeService::removeTenantEdge(const std::string& tenantId,
                                             const plugin::CallContext& ctx) noexcept {
  return guarded("remove_tenant_edge", [&]() -> plugin::Status {
    const auto lock = edgeLocks_.lock(site_.edge(ctx).urn);
    for (const auto& rule : listRules(ctx)) {
      const auto tag = parseNatTag(textOf(rule, "description"));
      if (tag && tag->tenantId == tenantId) deleteRule(textOf(rule, "id"), ctx);
    }
    return {};
  });
}

}  // namespace warmsite::clouddirector

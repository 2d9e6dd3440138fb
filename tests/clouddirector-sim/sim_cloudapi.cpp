// CloudAPI (/cloudapi/1.0.0/...): sessions, VDCs, org VDC networks, edge gateways and their NAT
// rules, application port profiles, importable port groups.

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "tests/clouddirector-sim/fiql.h"
#include "tests/clouddirector-sim/sim_backend.h"

namespace warmsite::clouddirector::sim {
namespace {

std::optional<std::uint32_t> ipv4(const std::string& text) {
  in_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) != 1) return std::nullopt;
  return ntohl(address.s_addr);
}

// An address, a range "a-b" or a CIDR "a/n".
bool validAddressSpec(const std::string& text) {
  if (const auto dash = text.find('-'); dash != std::string::npos) {
    const auto first = ipv4(text.substr(0, dash)), last = ipv4(text.substr(dash + 1));
    return first && last && *first <= *last;
  }
  if (const auto slash = text.find('/'); slash != std::string::npos) {
    const std::string bits = text.substr(slash + 1);
    return ipv4(text.substr(0, slash)) && !bits.empty() && bits.size() <= 2 &&
           std::all_of(bits.begin(), bits.end(), ::isdigit) && std::stoi(bits) <= 32;
  }
  return ipv4(text).has_value();
}

bool validPorts(const std::string& text) {
  const auto dash = text.find('-');
  auto port = [](const std::string& p) {
    return !p.empty() && p.size() <= 5 && std::all_of(p.begin(), p.end(), ::isdigit) &&
           std::stoi(p) >= 1 && std::stoi(p) <= 65535;
  };
  return dash == std::string::npos ? port(text)
                                   : port(text.substr(0, dash)) && port(text.substr(dash + 1));
}

Json ref(const std::string& name, const std::string& id) {
  return {{"name", name}, {"id", id}};
}

std::string str(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

template <typename Map, typename OrgOf, typename ToJson>
ServerResponse Backend::listOf(const Request& request, const Map& objects, OrgOf orgOf,
                               ToJson toJson) const {
  const Filter filter = Filter::parse(request.param("filter"));
  std::vector<Json> values;
  for (const auto& [uuid, object] : objects) {
    if (!visible(request, orgOf(object))) continue;
    Json item = toJson(object);
    if (filter.matches(item)) values.push_back(std::move(item));
  }
  return page(request, values);
}

ServerResponse Backend::cloudapi(Request& request) {
  const auto& s = request.segments;  // s[0] = "cloudapi", s[1] = "1.0.0"
  const std::size_t n = s.size();
  const std::string& m = request.method;
  if (n == 4 && s[2] == "sessions" && s[3] == "current") {
    if (m == "GET") return sessionBody(request, *request.session, 200);
    if (m == "DELETE") {
      sessions.erase(request.session->token);
      return ServerResponse{204, {}, {}};
    }
  } else if (n == 3 && s[2] == "vdcs" && m == "GET") {
    return listVdcs(request);
  } else if (n >= 3 && s[2] == "orgVdcNetworks") {
    if (n == 3 && m == "GET") return listNetworks(request);
    if (n == 3 && m == "POST") return createNetwork(request);
    if (n == 4 && m == "GET") return getNetwork(request, s[3]);
    if (n == 4 && m == "DELETE") return deleteNetwork(request, s[3]);
  } else if (n >= 3 && s[2] == "edgeGateways") {
    if (n == 3 && m == "GET") return listEdges(request);
    if (n == 4 && m == "GET") return getEdge(request, s[3]);
    if (n >= 6 && s[4] == "nat" && s[5] == "rules") {
      Edge& edge = edgeOrThrow(request, s[3]);
      if (n == 6 && m == "GET") return listNatRules(request, edge);
      if (n == 6 && m == "POST") return createNatRule(request, edge);
      if (n == 7 && m == "DELETE") return deleteNatRule(request, edge, s[6]);
      if (n == 7 && m == "GET") {
        for (const auto& rule : edge.natRules) {
          if (rule["id"] == s[6]) return json(request, 200, rule);
        }
        throw forbidden("NAT rule " + s[6]);
      }
    }
  } else if (n == 5 && s[2] == "virtualCenters" && s[3] == "resources" &&
             s[4] == "importableDvpgs" && m == "GET") {
    return listPortGroups(request);
  } else if (n >= 3 && s[2] == "applicationPortProfiles") {
    if (n == 3 && m == "GET") return listPortProfiles(request);
    if (n == 3 && m == "POST") return createPortProfile(request);
    if (n == 4 && m == "GET") return getPortProfile(request, s[3]);
  }
  throw ApiError{404, "RESOURCE_NOT_FOUND", "No resource for " + m + " " + request.path};
}

// ---- VDCs
// -----------------------------------------------------------------------------------------

ServerResponse Backend::listVdcs(const Request& request) {
  return listOf(
      request, vdcs, [](const Vdc& vdc) { return vdc.orgUuid; },
      [this](const Vdc& vdc) {
        const Org& owner = org(vdc.orgUuid);
        return Json{{"id", "urn:vcloud:vdc:" + vdc.uuid},
                    {"name", vdc.name},
                    {"description", ""},
                    {"allocationType", "Flex"},
                    {"org", ref(owner.name, "urn:vcloud:org:" + owner.uuid)},
                    {"networkingTenancyEnabled", false},
                    {"vappNetworkStandbyEnabled", false}};
      });
}

// ---- org VDC networks
// -----------------------------------------------------------------------------

Json Backend::networkJson(const Network& network) const {
  Json body = network.body;
  const Vdc& vdc = vdcs.at(network.vdcUuid);
  const Org& owner = org(vdc.orgUuid);
  body["id"] = "urn:vcloud:network:" + network.uuid;
  body["status"] = network.status;
  body["ownerRef"] = ref(vdc.name, "urn:vcloud:vdc:" + vdc.uuid);
  body["orgVdc"] = body["ownerRef"];
  body["orgRef"] = ref(owner.name, "urn:vcloud:org:" + owner.uuid);
  body["orgVdcIsNsxTBacked"] = true;
  body["shared"] = false;
  return body;
}

ServerResponse Backend::listNetworks(const Request& request) {
  return listOf(
      request, networks, [this](const Network& n) { return vdcs.at(n.vdcUuid).orgUuid; },
      [this](const Network& n) { return networkJson(n); });
}

ServerResponse Backend::getNetwork(const Request& request, const std::string& urn) {
  auto it = networks.find(urnUuid(urn, "network"));
  if (it == networks.end() || !visible(request, vdcs.at(it->second.vdcUuid).orgUuid)) {
    throw forbidden("network " + urn);
  }
  return json(request, 200, networkJson(it->second));
}

void Backend::validateSubnets(const Json& subnets) const {
  if (!subnets.is_object() || !subnets.contains("values") || !subnets["values"].is_array() ||
      subnets["values"].empty()) {
    throw badRequest("subnets.values must hold at least one subnet");
  }
  for (const auto& subnet : subnets["values"]) {
    const auto gateway = ipv4(str(subnet, "gateway"));
    const int prefix = subnet.value("prefixLength", 0);
    if (!gateway || prefix < 1 || prefix > 30) {
      throw badRequest("subnet gateway " + str(subnet, "gateway") + "/" + std::to_string(prefix) +
                       " is not a valid IPv4 subnet");
    }
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix);
    if (!subnet.contains("ipRanges")) continue;
    for (const auto& range : subnet["ipRanges"].value("values", Json::array())) {
      const auto first = ipv4(str(range, "startAddress")), last = ipv4(str(range, "endAddress"));
      if (!first || !last || *first > *last || (*first & mask) != (*gateway & mask) ||
          (*last & mask) != (*gateway & mask)) {
        throw badRequest("IP range " + str(range, "startAddress") + "-" + str(range, "endAddress") +
                         " is not inside the subnet");
      }
    }
  }
}

ServerResponse Backend::createNetwork(const Request& request) {
  Json body = parseJsonBody(request);
  const std::string name = str(body, "name");
  if (name.empty()) throw badRequest("name is required");
  std::string ownerId = body.contains("ownerRef") ? str(body["ownerRef"], "id") : "";
  if (ownerId.empty() && body.contains("orgVdc")) ownerId = str(body["orgVdc"], "id");
  Vdc& vdc = vdcOrThrow(request, urnUuid(ownerId, "vdc"));
  for (const auto& [uuid, other] : networks) {
    if (other.vdcUuid == vdc.uuid && other.body["name"] == name) {
      throw badRequest("An org VDC network with name " + name + " already exists.",
                       "DUPLICATE_NAME");
    }
  }
  const std::string type = str(body, "networkType");
  PortGroup* portGroup = nullptr;
  if (type == "OPAQUE") {
    if (str(body, "backingNetworkType") != "DV_PORTGROUP") {
      throw badRequest(
          "backingNetworkType must be DV_PORTGROUP (the simulator imports port groups)");
    }
    if (!request.session->provider) throw forbidden("importing a vCenter port group");
    for (auto& group : portGroups) {
      if (group.backingId == str(body, "backingNetworkId") && group.importedAs.empty()) {
        portGroup = &group;
      }
    }
    if (portGroup == nullptr) {
      throw badRequest("Port group " + str(body, "backingNetworkId") + " is not importable.");
    }
  } else if (type == "NAT_ROUTED") {
    const std::string router =
        body.contains("connection")
            ? str(body["connection"].value("routerRef", Json::object()), "id")
            : "";
    if (edgeOrThrow(request, router).vdcUuid != vdc.uuid) {
      throw badRequest("The edge gateway " + router + " does not belong to the VDC.");
    }
  } else if (type != "ISOLATED") {
    throw badRequest("networkType " + type +
                     " is not supported; use NAT_ROUTED, ISOLATED or OPAQUE");
  }
  validateSubnets(body.value("subnets", Json()));

  Network network;
  network.uuid = newUuid();
  network.vdcUuid = vdc.uuid;
  network.status = "PENDING";
  body.erase("id");
  network.body = body;
  if (portGroup != nullptr) portGroup->importedAs = network.uuid;
  const std::string uuid = network.uuid;
  networks.emplace(uuid, std::move(network));
  const Task& task = startTask(
      request, "orgVdcNetworkCreate", "Creating Network " + name,
      {{"href", href("/api/admin/network/" + uuid)},
       {"id", "urn:vcloud:network:" + uuid},
       {"type", "application/vnd.vmware.admin.network+xml"},
       {"name", name}},
      "network:" + uuid, [this, uuid] { networks.at(uuid).status = "REALIZED"; },
      [this, uuid] { networks.at(uuid).status = "REALIZATION_FAILED"; });
  return taskAccepted(request, task);
}

ServerResponse Backend::deleteNetwork(const Request& request, const std::string& urn) {
  const std::string uuid = urnUuid(urn, "network");
  auto it = networks.find(uuid);
  if (it == networks.end() || !visible(request, vdcs.at(it->second.vdcUuid).orgUuid)) {
    throw forbidden("network " + urn);
  }
  const std::string name = it->second.body["name"];
  requireNotBusy("network:" + uuid, "network " + name);
  for (const auto& [vappUuid, vapp] : vapps) {
    for (const auto& [vappNetwork, orgNetwork] : vapp.networkConfig) {
      if (orgNetwork == uuid) {
        throw badRequest("Cannot delete network " + name + ": it is in use by vApp " + vapp.name +
                         ".");
      }
    }
  }
  const Task& task = startTask(request, "orgVdcNetworkDelete", "Deleting Network " + name,
                               {{"href", href("/api/admin/network/" + uuid)},
                                {"id", "urn:vcloud:network:" + uuid},
                                {"type", "application/vnd.vmware.admin.network+xml"},
                                {"name", name}},
                               "network:" + uuid, [this, uuid] {
                                 for (auto& group : portGroups) {
                                   if (group.importedAs == uuid) group.importedAs.clear();
                                 }
                                 networks.erase(uuid);
                               });
  return taskAccepted(request, task);
}

// ---- edge gateways and NAT
// ------------------------------------------------------------------------

Json Backend::edgeJson(const Edge& edge) const {
  const Vdc& vdc = vdcs.at(edge.vdcUuid);
  const Org& owner = org(vdc.orgUuid);
  Json ranges = Json::array();
  for (const auto& range : edge.seed.allocated) {
    ranges.push_back({{"startAddress", range.startAddress}, {"endAddress", range.endAddress}});
  }
  return {{"id", "urn:vcloud:gateway:" + edge.uuid},
          {"name", edge.name},
          {"description", ""},
          {"status", "REALIZED"},
          {"ownerRef", ref(vdc.name, "urn:vcloud:vdc:" + vdc.uuid)},
          {"orgVdc", ref(vdc.name, "urn:vcloud:vdc:" + vdc.uuid)},
          {"orgRef", ref(owner.name, "urn:vcloud:org:" + owner.uuid)},
          {"edgeGatewayUplinks",
           {{{"uplinkId", "urn:vcloud:network:" + orgs[0].uuid},
             {"uplinkName", "internet"},
             {"connected", true},
             {"dedicated", false},
             {"backingType", "NSXT_TIER0"},
             {"usingIpSpace", false},
             {"subnets",
              {{"values",
                {{{"gateway", edge.seed.uplinkGateway},
                  {"prefixLength", edge.seed.prefixLength},
                  {"ipRanges", {{"values", ranges}}},
                  {"enabled", true},
                  {"primaryIp", edge.seed.primaryIp},
                  {"autoAllocateIpRanges", false}}}}}}}}},
          {"distributedRoutingEnabled", false},
          {"orgVdcNetworkCount", 0},
          {"gatewayBacking",
           {{"backingId", "tier1-" + edge.uuid},
            {"gatewayType", "NSXT_BACKED"},
            {"networkProvider", ref("nsxt-manager", "urn:vcloud:nsxtmanager:" + orgs[0].uuid)}}}};
}

ServerResponse Backend::listEdges(const Request& request) {
  return listOf(
      request, edges, [this](const Edge& e) { return vdcs.at(e.vdcUuid).orgUuid; },
      [this](const Edge& e) { return edgeJson(e); });
}

ServerResponse Backend::getEdge(const Request& request, const std::string& urn) {
  return json(request, 200, edgeJson(edgeOrThrow(request, urn)));
}

ServerResponse Backend::listNatRules(const Request& request, Edge& edge) {
  // The NAT endpoint ignores filters (go-vcloud-director: "does not support any filters").
  return page(request, edge.natRules);
}

void Backend::validateNatRule(const Edge& edge, const Json& rule) const {
  if (str(rule, "name").empty()) throw badRequest("name is required");
  const std::string type = rule.contains("type") ? str(rule, "type") : str(rule, "ruleType");
  static const std::set<std::string> kTypes = {"DNAT", "SNAT", "NO_DNAT", "NO_SNAT", "REFLEXIVE"};
  if (!kTypes.contains(type)) throw badRequest("NAT rule type \"" + type + "\" is not valid");
  if (type == "NO_DNAT" || type == "NO_SNAT") return;
  const std::string external = str(rule, "externalAddresses");
  const auto address = ipv4(external);
  bool allocated = false;
  for (const auto& range : edge.seed.allocated) {
    const auto first = ipv4(range.startAddress), last = ipv4(range.endAddress);
    allocated = allocated || (address && first && last && *address >= *first && *address <= *last);
  }
  if (!allocated) {
    throw badRequest("External address " + external +
                     " is not an IP address sub-allocated to edge gateway " + edge.name + ".");
  }
  if (!validAddressSpec(str(rule, "internalAddresses"))) {
    throw badRequest("Internal addresses \"" + str(rule, "internalAddresses") + "\" are not valid");
  }
  const std::string port = str(rule, "dnatExternalPort");
  if (!port.empty() && port != "ANY" && !validPorts(port)) {
    throw badRequest("dnatExternalPort \"" + port + "\" is not a port or port range");
  }
  if (rule.contains("applicationPortProfile") && rule["applicationPortProfile"].is_object()) {
    const std::string id = str(rule["applicationPortProfile"], "id");
    if (!portProfiles.contains(urnUuid(id, "applicationPortProfile"))) {
      throw badRequest("Application port profile " + id + " does not exist.");
    }
  }
}

ServerResponse Backend::createNatRule(const Request& request, Edge& edge) {
  Json rule = parseJsonBody(request);
  validateNatRule(edge, rule);
  requireNotBusy("edge:" + edge.uuid, "edge gateway " + edge.name);
  rule.erase("id");
  if (!rule.contains("type")) rule["type"] = rule.value("ruleType", "DNAT");
  if (!rule.contains("enabled")) rule["enabled"] = true;
  rule["systemRule"] = false;
  rule["version"] = {{"version", 0}};
  const std::string edgeUuid = edge.uuid;
  // The task's owner is the edge gateway: the new rule's id is in neither the answer nor the task.
  const Task& task = startTask(
      request, "edgeNatRuleCreate", "Creating NAT rule " + str(rule, "name"),
      {{"href", ""}, {"id", "urn:vcloud:gateway:" + edgeUuid}, {"type", ""}, {"name", edge.name}},
      "edge:" + edgeUuid, [this, edgeUuid, rule]() mutable {
        rule["id"] = newUuid();  // a NAT rule id is not a URN
        edges.at(edgeUuid).natRules.push_back(rule);
      });
  return taskAccepted(request, task);
}

ServerResponse Backend::deleteNatRule(const Request& request, Edge& edge,
                                      const std::string& ruleId) {
  if (std::none_of(edge.natRules.begin(), edge.natRules.end(),
                   [&](const Json& rule) { return rule["id"] == ruleId; })) {
    throw forbidden("NAT rule " + ruleId);
  }
  requireNotBusy("edge:" + edge.uuid, "edge gateway " + edge.name);
  const std::string edgeUuid = edge.uuid;
  const Task& task = startTask(
      request, "edgeNatRuleDelete", "Deleting NAT rule " + ruleId,
      {{"href", ""}, {"id", "urn:vcloud:gateway:" + edgeUuid}, {"type", ""}, {"name", edge.name}},
      "edge:" + edgeUuid, [this, edgeUuid, ruleId] {
        auto& rules = edges.at(edgeUuid).natRules;
        std::erase_if(rules, [&](const Json& rule) { return rule["id"] == ruleId; });
      });
  return taskAccepted(request, task);
}

// ---- importable port groups and application port profiles
// ---------------------------------------------------------

ServerResponse Backend::listPortGroups(const Request& request) {
  if (!request.session->provider) throw forbidden("importable port groups (provider only)");
  const Filter filter = Filter::parse(request.param("filter"));
  std::string vdcUrn;
  for (const auto& [uuid, vdc] : vdcs) {
    if (filter.matches(Json::object(), {{"orgVdcId", "urn:vcloud:vdc:" + uuid}})) vdcUrn = uuid;
  }
  if (vdcUrn.empty()) throw badRequest("The filter must name a VDC: orgVdcId==<urn>");
  std::vector<Json> values;
  for (const auto& group : portGroups) {
    if (!group.importedAs.empty()) continue;
    values.push_back({{"backingRef", ref(group.name, group.backingId)},
                      {"dvSwitch",
                       {{"backingRef", ref("dvs-01", "dvs-101")},
                        {"virtualCenter", ref("vc-01", "urn:vcloud:vimserver:" + orgs[0].uuid)}}},
                      {"virtualCenter", ref("vc-01", "urn:vcloud:vimserver:" + orgs[0].uuid)},
                      {"vlan", std::to_string(group.vlan)}});
  }
  return page(request, values);
}

ServerResponse Backend::listPortProfiles(const Request& request) {
  const Filter filter = Filter::parse(request.param("filter"));
  std::vector<Json> values;
  for (const auto& [uuid, profile] : portProfiles) {
    if (!visible(request, profile.orgUuid)) continue;
    if (filter.matches(profile.body, {{"_context", str(profile.body, "contextEntityId")}})) {
      values.push_back(profile.body);
    }
  }
  return page(request, values);
}

ServerResponse Backend::getPortProfile(const Request& request, const std::string& urn) {
  auto it = portProfiles.find(urnUuid(urn, "applicationPortProfile"));
  if (it == portProfiles.end() || !visible(request, it->second.orgUuid)) {
    throw forbidden("application port profile " + urn);
  }
  return json(request, 200, it->second.body);
}

ServerResponse Backend::createPortProfile(const Request& request) {
  Json body = parseJsonBody(request);
  const std::string name = str(body, "name");
  if (name.empty()) throw badRequest("name is required");
  if (str(body, "scope") != "TENANT") throw badRequest("scope must be TENANT");
  const Vdc& vdc = vdcOrThrow(request, urnUuid(str(body, "contextEntityId"), "vdc"));
  for (const auto& [uuid, other] : portProfiles) {
    if (other.orgUuid == vdc.orgUuid && other.body["name"] == name) {
      throw badRequest("An application port profile named " + name + " already exists.",
                       "DUPLICATE_NAME");
    }
  }
  const auto ports = body.value("applicationPorts", Json::array());
  static const std::set<std::string> kProtocols = {"TCP", "UDP", "ICMPv4", "ICMPv6"};
  if (ports.empty()) throw badRequest("applicationPorts must not be empty");
  for (const auto& port : ports) {
    if (!kProtocols.contains(str(port, "protocol"))) {
      throw badRequest("protocol \"" + str(port, "protocol") + "\" is not valid");
    }
    for (const auto& range : port.value("destinationPorts", Json::array())) {
      if (!range.is_string() || !validPorts(range.get<std::string>())) {
        throw badRequest("destination port " + range.dump() + " is not valid");
      }
    }
  }
  const std::string uuid = newUuid();
  const Org& owner = org(vdc.orgUuid);
  body["id"] = "urn:vcloud:applicationPortProfile:" + uuid;
  body["orgRef"] = ref(owner.name, "urn:vcloud:org:" + owner.uuid);
  const std::string orgUuid = vdc.orgUuid;
  const Task& task = startTask(request, "applicationPortProfileCreate",
                               "Creating application port profile " + name,
                               {{"href", ""}, {"id", body["id"]}, {"type", ""}, {"name", name}}, "",
                               [this, uuid, orgUuid, body] {
                                 portProfiles[uuid] = PortProfile{uuid, orgUuid, body};
                               });
  return taskAccepted(request, task);
}

}  // namespace warmsite::clouddirector::sim

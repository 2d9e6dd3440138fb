#include "tags.h"

#include <nlohmann/json.hpp>

namespace warmsite::clouddirector {
namespace {

using nlohmann::json;

json mark(const char* kind) {
  return {{"ws", kind}, {"v", 1}};
}

// The object of a mark of `kind`, or null when `text` is not one.
json readMark(const std::string& text, const char* kind) {
  if (text.empty() || text.front() != '{') return nullptr;
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_object()) return nullptr;
  // Compared as found: json::value() throws when a field holds another type than the default.
  const auto ws = parsed.find("ws");
  const auto version = parsed.find("v");
  if (ws == parsed.end() || *ws != kind || version == parsed.end() || *version != 1) {
    return nullptr;
  }
  return parsed;
}

template <typename T>
std::optional<T> guarded(const std::string& text, const char* kind, T (*read)(const json&)) {
  const json parsed = readMark(text, kind);
  if (parsed.is_null()) return std::nullopt;
  try {
    return read(parsed);
  } catch (const json::exception&) {
    return std::nullopt;  // a damaged mark is treated as no mark
  }
}

json optionalNumber(const std::optional<std::uint64_t>& value) {
  return value ? json(*value) : json(nullptr);
}

std::optional<std::uint64_t> readOptional(const json& value) {
  return value.is_null() ? std::nullopt : std::optional<std::uint64_t>(value.get<std::uint64_t>());
}

plugin::ReplicaSpec readReplica(const json& in) {
  plugin::ReplicaSpec spec;
  spec.replicaId = in.at("id").get<std::string>();
  spec.tenantId = in.at("tenant").get<std::string>();
  spec.subscriptionId = in.at("sub").get<std::string>();
  spec.name = in.at("name").get<std::string>();
  spec.vcpus = in.at("vcpus").get<std::uint32_t>();
  spec.cpuMhz = in.at("mhz").get<std::uint64_t>();
  spec.memoryMb = in.at("mb").get<std::uint64_t>();
  for (const auto& disk : in.at("disks")) {
    spec.disks.push_back({disk.at(0).get<std::string>(), disk.at(1).get<std::string>(),
                          disk.at(2).get<std::uint64_t>()});
  }
  for (const auto& nic : in.at("nics")) {
    spec.nics.push_back(
        {nic.at(0).get<std::string>(), nic.at(1).get<std::string>(), nic.at(2).get<std::string>()});
  }
  return spec;
}

plugin::RestorePointInfo readRestorePoint(const json& in) {
  return {in.at("id").get<std::string>(), in.at("desc").get<std::string>(),
          in.at("at").get<std::int64_t>()};
}

plugin::TenantNetworkSpec readNetwork(const json& in) {
  return {in.at("id").get<std::string>(),     in.at("sub").get<std::string>(),
          in.at("tenant").get<std::string>(), in.at("name").get<std::string>(),
          in.at("vlan").get<std::uint32_t>(), in.at("internet").get<bool>()};
}

NatTag readNat(const json& in) {
  return {in.at("tenant").get<std::string>(), in.at("kind").get<std::string>() == "snat",
          in.at("id").get<std::string>(), in.at("pos").get<std::uint32_t>()};
}

}  // namespace

std::string vappName(const std::string& replicaId) {
  return "ws-" + replicaId;
}

std::string networkName(const std::string& networkId) {
  return "ws-" + networkId;
}

std::string replicaTag(const plugin::ReplicaSpec& spec) {
  json out = mark("replica");
  out["id"] = spec.replicaId;
  out["tenant"] = spec.tenantId;
  out["sub"] = spec.subscriptionId;
  out["name"] = spec.name;
  out["vcpus"] = spec.vcpus;
  out["mhz"] = spec.cpuMhz;
  out["mb"] = spec.memoryMb;
  out["disks"] = json::array();
  for (const auto& disk : spec.disks)
    out["disks"].push_back({disk.diskId, disk.storage, disk.sizeGb});
  out["nics"] = json::array();
  for (const auto& nic : spec.nics) out["nics"].push_back({nic.nicId, nic.networkId, nic.mac});
  return out.dump();
}

std::optional<plugin::ReplicaSpec> parseReplicaTag(const std::string& text) {
  return guarded(text, "replica", &readReplica);
}

std::string restorePointTag(const plugin::RestorePointInfo& point) {
  json out = mark("restorePoint");
  out["id"] = point.restorePointId;
  out["desc"] = point.description;
  out["at"] = point.createdUnix;
  return out.dump();
}

std::optional<plugin::RestorePointInfo> parseRestorePointTag(const std::string& text) {
  return guarded(text, "restorePoint", &readRestorePoint);
}

std::string networkTag(const plugin::TenantNetworkSpec& spec) {
  json out = mark("network");
  out["id"] = spec.networkId;
  out["sub"] = spec.subscriptionId;
  out["tenant"] = spec.tenantId;
  out["name"] = spec.name;
  out["vlan"] = spec.vlanId;
  out["internet"] = spec.internet;
  return out.dump();
}

std::optional<plugin::TenantNetworkSpec> parseNetworkTag(const std::string& text) {
  return guarded(text, "network", &readNetwork);
}

std::string subscriptionKey(const std::string& subscriptionId) {
  return "warmsite.subscription." + subscriptionId;
}

std::optional<std::string> subscriptionIdOfKey(const std::string& key) {
  static const std::string prefix = "warmsite.subscription.";
  if (key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  return key.substr(prefix.size());
}

std::string subscriptionValue(const plugin::TenantResourcesSpec& spec) {
  json out = mark("subscription");
  out["tenant"] = spec.tenantId;
  out["tenantName"] = spec.tenantName;
  out["mhz"] = optionalNumber(spec.cpuMhz);
  out["mb"] = optionalNumber(spec.memoryMb);
  out["storages"] = json::array();
  for (const auto& storage : spec.storages) {
    out["storages"].push_back({storage.name, storage.backendStorage, storage.quotaGb});
  }
  return out.dump();
}

std::optional<plugin::TenantResourcesSpec> parseSubscriptionValue(const std::string& subscriptionId,
                                                                  const std::string& text) {
  const json in = readMark(text, "subscription");
  if (in.is_null()) return std::nullopt;
  try {
    plugin::TenantResourcesSpec spec;
    spec.subscriptionId = subscriptionId;
    spec.tenantId = in.at("tenant").get<std::string>();
    spec.tenantName = in.at("tenantName").get<std::string>();
    spec.cpuMhz = readOptional(in.at("mhz"));
    spec.memoryMb = readOptional(in.at("mb"));
    for (const auto& storage : in.at("storages")) {
      spec.storages.push_back({storage.at(0).get<std::string>(), storage.at(1).get<std::string>(),
                               storage.at(2).get<std::uint64_t>()});
    }
    return spec;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string natTag(const NatTag& tag) {
  json out = mark("nat");
  out["tenant"] = tag.tenantId;
  out["kind"] = tag.outbound ? "snat" : "dnat";
  out["id"] = tag.id;
  out["pos"] = tag.position;
  return out.dump();
}

std::optional<NatTag> parseNatTag(const std::string& text) {
  return guarded(text, "nat", &readNat);
}

}  // namespace warmsite::clouddirector

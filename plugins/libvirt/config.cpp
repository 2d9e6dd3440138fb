#include "config.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace warmsite::libvirtplugin {

namespace {

using nlohmann::json;

// Thrown while parsing; becomes kInvalidArgument naming the field.
struct BadField : std::invalid_argument {
  BadField(const std::string& field, const std::string& why)
      : std::invalid_argument("config field \"" + field + "\": " + why) {}
};

void rejectUnknown(const json& object, const std::string& where,
                   std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw BadField(where + key, "unknown field");
    }
  }
}

std::string stringField(const json& object, const std::string& where, const char* key,
                        std::string fallback, bool required = false) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) throw BadField(where + key, "required");
    return fallback;
  }
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    throw BadField(where + key, "must be a non-empty string");
  }
  return it->get<std::string>();
}

std::uint64_t unsignedField(const json& object, const std::string& where, const char* key,
                            std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min ||
      it->get<std::uint64_t>() > max) {
    throw BadField(where + key,
                   "must be an integer in " + std::to_string(min) + "-" + std::to_string(max));
  }
  return it->get<std::uint64_t>();
}

// libvirt URIs the plugin supports. A remote URI names a driver path; a node file must be absolute
// (libvirt reads "test://x.xml" as a host called x.xml and tries TLS).
UriKind checkUri(const std::string& uri) {
  const auto scheme = uri.substr(0, uri.find(':'));
  const auto rest = uri.size() > scheme.size() ? uri.substr(scheme.size()) : std::string();
  if (rest.rfind("://", 0) != 0) throw BadField("uri", "\"" + uri + "\" is not a libvirt URI");
  const auto afterScheme = rest.substr(3);
  const auto slash = afterScheme.find('/');
  if (slash == std::string::npos) throw BadField("uri", "\"" + uri + "\" names no driver path");
  const auto host = afterScheme.substr(0, slash);
  const auto path = afterScheme.substr(slash, afterScheme.find('?') - slash);
  if (scheme == "test") {
    if (!host.empty()) {
      throw BadField("uri", "a test node file needs an absolute path: test:///abs/path/node.xml");
    }
    if (path == "/default") return UriKind::kTestDefault;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw BadField("uri", "node file " + path + " does not exist");
    }
    return UriKind::kTestFile;
  }
  static const char* const kRemoteSchemes[] = {"qemu",     "qemu+tls",  "qemu+ssh",
                                               "qemu+tcp", "qemu+unix", "test+unix"};
  if (std::find(std::begin(kRemoteSchemes), std::end(kRemoteSchemes), scheme) ==
      std::end(kRemoteSchemes)) {
    throw BadField("uri", "scheme \"" + scheme +
                              "\" is not one of test, qemu, qemu+tls, qemu+ssh, qemu+tcp, "
                              "qemu+unix, test+unix");
  }
  const bool needsHost = scheme == "qemu+tls" || scheme == "qemu+ssh" || scheme == "qemu+tcp";
  if (needsHost && host.empty()) throw BadField("uri", scheme + " needs a host name");
  if (scheme.rfind("qemu", 0) == 0 && path != "/system" && path != "/session") {
    throw BadField("uri", "the qemu driver path is /system or /session, not " + path);
  }
  return UriKind::kRemote;
}

NetworkConfig parseNetwork(const json& object) {
  if (!object.is_object()) throw BadField("network", "must be an object");
  rejectUnknown(object, "network.", {"mode", "bridge"});
  NetworkConfig network;
  const auto mode = stringField(object, "network.", "mode", "openvswitch");
  network.bridge = stringField(object, "network.", "bridge", "", true);
  if (mode == "openvswitch") {
    network.mode = NetworkMode::kOpenvswitch;
    if (!validDeviceName(network.bridge)) {
      throw BadField("network.bridge", "\"" + network.bridge + "\" is not a valid device name");
    }
  } else if (mode == "linux-bridge") {
    network.mode = NetworkMode::kLinuxBridge;
    // libvirt 9.0 cannot tag ports of a Linux bridge: each VLAN needs its own bridge.
    if (network.bridge.find("{vlan}") == std::string::npos) {
      throw BadField("network.bridge",
                     "a Linux bridge cannot carry VLAN tags in libvirt; give a per-VLAN template "
                     "such as \"br{vlan}\" or use mode \"openvswitch\"");
    }
    if (!validDeviceName(network.bridgeFor(4094))) {
      throw BadField("network.bridge",
                     "\"" + network.bridgeFor(4094) + "\" (VLAN 4094) is not a valid device name");
    }
  } else {
    throw BadField("network.mode", "must be \"openvswitch\" or \"linux-bridge\"");
  }
  return network;
}

EdgeConfig parseEdge(const json& object) {
  if (!object.is_object()) throw BadField("edge", "must be an object");
  rejectUnknown(object, "edge.", {"uplink", "netns", "nft"});
  EdgeConfig edge;
  edge.uplink = stringField(object, "edge.", "uplink", "", true);
  if (!validDeviceName(edge.uplink)) {
    throw BadField("edge.uplink", "\"" + edge.uplink + "\" is not a valid device name");
  }
  edge.netns = stringField(object, "edge.", "netns", "");
  if (!edge.netns.empty()) {
    std::error_code ec;
    if (edge.netns.find('/') != std::string::npos ||
        !std::filesystem::exists("/run/netns/" + edge.netns, ec)) {
      throw BadField("edge.netns", "no network namespace named \"" + edge.netns + "\"");
    }
  }
  edge.nft = stringField(object, "edge.", "nft", edge.nft);
  std::error_code ec;
  if (edge.nft.front() != '/' || !std::filesystem::is_regular_file(edge.nft, ec)) {
    throw BadField("edge.nft", "\"" + edge.nft + "\" is not the absolute path of nft");
  }
  return edge;
}

}  // namespace

std::string NetworkConfig::bridgeFor(std::uint32_t vlan) const {
  if (mode == NetworkMode::kOpenvswitch) return bridge;
  std::string name = bridge;
  name.replace(name.find("{vlan}"), 6, std::to_string(vlan));
  return name;
}

bool validDeviceName(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
  });
}

plugin::Result<Config> parseConfig(std::string_view text) {
  try {
    const auto object = json::parse(text);
    if (!object.is_object()) throw std::invalid_argument("config must be a JSON object");
    rejectUnknown(object, "",
                  {"uri", "pool_size", "domain_type", "storage_pools", "username", "password",
                   "network", "edge", "reconnect_ms"});
    Config config;
    config.uri = stringField(object, "", "uri", "", true);
    config.uriKind = checkUri(config.uri);
    config.poolSize = static_cast<std::uint32_t>(unsignedField(object, "", "pool_size", 2, 1, 16));
    // Each open of a node file is a new private host, so a node file gets one connection.
    if (config.uriKind == UriKind::kTestFile) config.poolSize = 1;
    config.domainType = stringField(object, "", "domain_type", "kvm");
    if (config.domainType != "kvm" && config.domainType != "qemu") {
      throw BadField("domain_type", "must be \"kvm\" or \"qemu\"");
    }
    if (auto it = object.find("storage_pools"); it != object.end()) {
      if (!it->is_array()) throw BadField("storage_pools", "must be an array of pool names");
      for (const auto& pool : *it) {
        if (!pool.is_string() || pool.get_ref<const std::string&>().empty()) {
          throw BadField("storage_pools", "must be an array of non-empty pool names");
        }
        config.storagePools.push_back(pool.get<std::string>());
      }
    }
    config.username = stringField(object, "", "username", "");
    config.password = stringField(object, "", "password", "");
    if (auto it = object.find("network"); it != object.end()) config.network = parseNetwork(*it);
    if (auto it = object.find("edge"); it != object.end()) config.edge = parseEdge(*it);
    if (auto it = object.find("reconnect_ms"); it != object.end()) {
      if (!it->is_object()) throw BadField("reconnect_ms", "must be an object");
      rejectUnknown(*it, "reconnect_ms.", {"initial", "max"});
      config.reconnectInitial = std::chrono::milliseconds(
          unsignedField(*it, "reconnect_ms.", "initial", 200, 1, 3'600'000));
      config.reconnectMax = std::chrono::milliseconds(
          unsignedField(*it, "reconnect_ms.", "max", 30'000, 1, 3'600'000));
      if (config.reconnectMax < config.reconnectInitial) {
        throw BadField("reconnect_ms.max", "must not be below reconnect_ms.initial");
      }
    }
    return config;
  } catch (const json::exception& e) {
    return plugin::makeError(plugin::ErrorCode::kInvalidArgument,
                             std::string("config is not valid JSON: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return plugin::makeError(plugin::ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace warmsite::libvirtplugin

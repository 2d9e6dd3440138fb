#pragma once
// The libvirt plugin's cloud-host config (JSON), parsed and checked before anything connects.
//
//   {"uri": "qemu+tls://kvm-01.example.net/system",   // required; see UriKind
//    "pool_size": 2,                                  // connections per host; 1 for node files
//    "domain_type": "kvm",                            // "kvm" or "qemu" (no hardware acceleration)
//    "storage_pools": ["images"],                     // pools plan storages may name; [] = any
//    "username": "svc", "password": "...",            // optional SASL / node-file credentials
//    "network": {"mode": "openvswitch", "bridge": "ovsbr0"},   // or
//               {"mode": "linux-bridge", "bridge": "br{vlan}"}, // one host bridge per VLAN
//    "edge": {"uplink": "eth0", "netns": "edge", "nft": "/usr/sbin/nft"},
//    "reconnect_ms": {"initial": 200, "max": 30000}}
// Without "network" the plugin offers no networks and no test isolation; without "edge", no edge.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmsite/plugin/result.h"

namespace warmsite::libvirtplugin {

enum class UriKind {
  kTestDefault,  // test:///default: in-process, one state shared by every connection
  kTestFile,     // test:///abs/node.xml: in-process, each open builds a private host from the file
  kRemote,       // qemu:///system, qemu+tls://, qemu+ssh://, qemu+tcp://, *+unix://: a libvirtd
};

enum class NetworkMode {
  kOpenvswitch,  // one OVS bridge; libvirt tags each port with the network's VLAN
  kLinuxBridge,  // a host bridge per VLAN (on an 802.1Q uplink), named from a {vlan} template
};

struct NetworkConfig {
  NetworkMode mode = NetworkMode::kOpenvswitch;
  std::string bridge;  // OVS bridge name, or a template containing "{vlan}"

  std::string bridgeFor(std::uint32_t vlan) const;
};

struct EdgeConfig {
  std::string uplink;  // interface public traffic arrives on and outbound NAT leaves by
  std::string netns;   // named network namespace (/run/netns/NAME) holding the rules; "" = ours
  std::string nft = "/usr/sbin/nft";
};

struct Config {
  std::string uri;
  UriKind uriKind = UriKind::kRemote;
  std::uint32_t poolSize = 2;
  std::string domainType = "kvm";
  std::vector<std::string> storagePools;
  std::string username;
  std::string password;
  std::optional<NetworkConfig> network;
  std::optional<EdgeConfig> edge;
  std::chrono::milliseconds reconnectInitial{200};
  std::chrono::milliseconds reconnectMax{30000};
};

// kInvalidArgument naming the field when the config is wrong.
plugin::Result<Config> parseConfig(std::string_view json);

// Linux network device names: 1-15 bytes, not "." or "..", no '/', ':' or whitespace.
bool validDeviceName(std::string_view name);

}  // namespace warmsite::libvirtplugin

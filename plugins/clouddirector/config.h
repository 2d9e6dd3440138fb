#pragma once
// The cloud host config of the clouddirector plugin (JSON; docs/plugin-clouddirector.md has the
// reference). Parsing checks every field and names the one that is wrong.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "warmsite/plugin/result.h"

namespace warmsite::clouddirector {

// How a tenant network is backed: an imported vCenter port group carrying the network's VLAN
// (needs a provider login), or an isolated network from the VDC's network pool.
enum class NetworkMode { kVlan, kIsolated };

struct TlsSettings {
  std::string caFile;        // PEM bundle trusted besides the system store; "" = system store only
  std::string pinnedSha256;  // 64 upper-case hex digits; set = trust exactly this certificate
};

struct Config {
  std::string url;  // "https://host[:port]"
  std::string org;  // the tenant org that holds the VDC
  std::string vdc;
  std::string edgeGateway;  // "" = the VDC's only NSX-T edge gateway
  std::string loginOrg;     // "System" = provider session; otherwise equal to org
  std::string username;
  std::string password;
  std::string apiVersion;  // "" = the newest the server offers between 37.0 and 39.x
  NetworkMode networkMode = NetworkMode::kIsolated;
  std::string networkGateway = "192.168.255.1";  // subnet given to every tenant network
  std::uint32_t networkPrefixLength = 24;
  std::string hardwareVersion = "vmx-19";
  std::string guestOsType = "otherGuest64";
  TlsSettings tls;
  std::chrono::milliseconds requestTimeout{std::chrono::seconds(60)};
  std::chrono::milliseconds taskTimeout{std::chrono::minutes(10)};
  std::chrono::milliseconds taskPollInitial{200};
  std::chrono::milliseconds taskPollMax{std::chrono::seconds(3)};
  std::uint32_t retryAttempts = 6;
  std::chrono::milliseconds retryInitialBackoff{200};
  std::chrono::milliseconds retryMaxBackoff{std::chrono::seconds(5)};
  std::uint32_t maxConcurrentCalls = 16;
  std::uint32_t httpThreads = 4;

  bool providerSession() const;
};

// kInvalidArgument naming the field ("config field \"tls.ca_file\": ...") when it is wrong.
plugin::Result<Config> parseConfig(std::string_view json);

}  // namespace warmsite::clouddirector

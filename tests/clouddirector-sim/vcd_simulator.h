#pragma once
// A Cloud Director API simulator for the clouddirector plugin's tests and benchmark: an HTTPS
// server on 127.0.0.1 (port chosen by the kernel) that answers the subset of the Cloud Director
// REST API the plugin uses, with the real paths, headers, JSON shapes and status codes
// (../shared/reference/cloud-director-api.md; docs/plugin-clouddirector.md, "The simulator").
//
// It is a test fixture, not a product: state lives in memory for the object's life, and it
// models what the plugin relies on (sessions, paging, filters, tasks and busy objects, 403 for
// unknown ids, NAT create without an id, one snapshot per VM) plus faults a test can inject.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace warmsite::clouddirector::sim {

struct UserSeed {
  std::string org;  // "System" for a provider (system administrator) account
  std::string name;
  std::string password;
};

struct StorageProfileSeed {
  std::string name;
  std::uint64_t limitMb = 0;  // 0 = unlimited
};

struct VdcSeed {
  std::string org;
  std::string name;
  std::uint64_t cpuLimitMhz = 0;    // 0 = unlimited
  std::uint64_t memoryLimitMb = 0;  // 0 = unlimited
  std::vector<StorageProfileSeed> storageProfiles;
};

struct IpRangeSeed {
  std::string startAddress;
  std::string endAddress;
};

// An NSX-T backed edge gateway of one VDC with one uplink subnet.
struct EdgeSeed {
  std::string vdc;
  std::string name;
  std::string uplinkGateway;  // e.g. "203.0.113.1"
  std::uint32_t prefixLength = 24;
  std::string primaryIp;
  std::vector<IpRangeSeed> allocated;  // the edge's sub-allocation of the external network
};

// A vCenter distributed port group on a VLAN, importable into any VDC (provider only).
struct PortGroupSeed {
  std::string name;
  std::uint32_t vlan = 0;
};

struct SimulatorOptions {
  std::vector<UserSeed> users;
  std::vector<VdcSeed> vdcs;
  std::vector<EdgeSeed> edges;
  std::vector<PortGroupSeed> portGroups;
  // Offered by GET /api/versions; versions below 37.0 are listed as deprecated.
  std::vector<std::string> apiVersions{"36.0", "37.0", "38.0", "38.1", "39.0"};
  std::chrono::milliseconds requestLatency{0};  // slept before every answer
  std::chrono::milliseconds taskQueued{0};      // how long a task stays "queued"
  std::chrono::milliseconds taskRunning{0};     // then "running", before success or error
  std::uint32_t maxPageSize = 128;  // larger pageSize requests are cut to this (go assumes 128)

  // Org "acme" with VDC "dr-vdc" (20 GHz, 64 GiB, storage profiles "gold" 500 GiB and "silver"
  // unlimited), edge "edge-01" with 203.0.113.10-203.0.113.99 allocated, port groups on VLANs
  // 100-199, provider account admin@System and tenant account dr-admin@acme (both "secret").
  static SimulatorOptions standardSite();
};

enum class Fault {
  kTaskError,           // the task ends in "error" (with minorErrorCode) and changes nothing
  kBusyEntity,          // HTTP 400 BUSY_ENTITY on a mutating request
  kExpiredToken,        // the presented token is dropped: HTTP 401
  kTooManyRequests,     // HTTP 429
  kServiceUnavailable,  // HTTP 503
};

struct FaultRule {
  Fault fault = Fault::kServiceUnavailable;
  std::string method = {};        // "" = any method
  std::string pathContains = {};  // "" = any path
  std::uint32_t every = 1;  // fire on every Nth matching request (a task start for kTaskError)
  std::int32_t times = -1;  // fire at most this often; -1 = no limit
  std::string minorErrorCode = "INTERNAL_SERVER_ERROR";  // kTaskError only
  std::string message = "injected fault";
};

struct RequestRecord {
  std::string method;
  std::string path;  // without the query
  int status = 0;
};

class VcdSimulator {
 public:
  explicit VcdSimulator(SimulatorOptions options = SimulatorOptions::standardSite());
  ~VcdSimulator();
  VcdSimulator(const VcdSimulator&) = delete;
  VcdSimulator& operator=(const VcdSimulator&) = delete;

  std::string url() const;         // https://127.0.0.1:<port>
  std::string caFile() const;      // PEM file of its self-signed certificate
  std::string thumbprint() const;  // SHA-256 of that certificate, "AB:CD:..."
  // A clouddirector cloud host config for the standard site: provider login (admin@System),
  // org acme, VDC dr-vdc, VLAN networks, trusting the simulator's CA file.
  nlohmann::json pluginConfig() const;

  void addFault(FaultRule rule);
  void clearFaults();
  void setRequestLatency(std::chrono::milliseconds latency);
  void setTaskDelays(std::chrono::milliseconds queued, std::chrono::milliseconds running);

  // Every request answered so far, in order.
  std::vector<RequestRecord> requests() const;
  std::size_t countRequests(std::string_view method, std::string_view pathContains) const;
  void clearRequests();

  // What the backend holds, so tests can check that a failed call left nothing behind.
  std::vector<std::string> vappNames() const;
  std::vector<std::string> networkNames() const;
  std::vector<std::string> natRuleNames() const;
  std::size_t metadataEntries(const std::string& vdcName) const;
  std::size_t openSessions() const;

  // Changes made behind the plugin's back, as an operator in the Cloud Director UI would.
  bool deleteVAppBehindTheBack(const std::string& name);
  // A powered-off vApp with one VM that is not Warmsite's (no mark in its description).
  void addForeignVApp(const std::string& vdcName, const std::string& name);
  void expireAllSessions();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace warmsite::clouddirector::sim

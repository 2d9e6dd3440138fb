#pragma once
// The simulator's state and request handling (internal). One mutex guards everything; a request
// holds it only while it reads or changes state, never while it sleeps.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/clouddirector-sim/https_server.h"
#include "tests/clouddirector-sim/vcd_simulator.h"

namespace warmsite::clouddirector::sim {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// An HTTP error answer, thrown by handlers and turned into the API family's error body.
struct ApiError {
  int status;
  std::string minorErrorCode;
  std::string message;
};

struct Session {
  std::string token;
  std::string id;  // uuid
  std::string orgUuid;
  std::string user;
  bool provider = false;
};

struct Org {
  std::string uuid;
  std::string name;
};

struct StorageProfile {
  std::string uuid;
  std::string name;
  std::uint64_t limitMb = 0;
};

struct Vdc {
  std::string uuid;
  std::string name;
  std::string orgUuid;
  std::uint64_t cpuLimitMhz = 0;
  std::uint64_t memoryLimitMb = 0;
  std::vector<StorageProfile> profiles;
  std::map<std::string, std::string> metadata;  // GENERAL domain, string values
};

struct Network {
  std::string uuid;
  std::string vdcUuid;
  std::string status;  // PENDING, REALIZED, REALIZATION_FAILED
  Json body;           // the VdcNetwork as stored (id, name, description, networkType, ...)
};

struct Edge {
  std::string uuid;
  std::string name;
  std::string vdcUuid;
  EdgeSeed seed;
  std::vector<Json> natRules;  // each with its "id"
};

struct PortProfile {
  std::string uuid;
  std::string orgUuid;
  Json body;
};

struct PortGroup {
  std::string backingId;
  std::string name;
  std::uint32_t vlan = 0;
  std::string importedAs;  // network uuid, "" while importable
};

struct Disk {
  std::string diskId;
  std::uint64_t sizeMb = 0;
  std::string profileUuid;
  int unitNumber = 0;
};

struct Nic {
  int index = 0;
  std::string network;  // the vApp network name
  std::string mac;
  bool connected = true;
  std::string allocationMode;
  std::string adapterType;
};

struct Snapshot {
  std::string created;
  bool poweredOn = false;
  std::uint64_t sizeBytes = 0;
};

struct Vm {
  std::string uuid;
  std::string name;
  std::string description;
  int numCpus = 1;
  int coresPerSocket = 1;
  std::uint64_t memoryMb = 0;
  std::string osType;
  std::string hardwareVersion;
  std::vector<Disk> disks;
  std::vector<Nic> nics;
  std::optional<Snapshot> snapshot;
  int status = 8;  // 8 = powered off, 4 = powered on
  bool deployed = false;
};

struct VApp {
  std::string uuid;
  std::string name;
  std::string description;
  std::string vdcUuid;
  std::string created;
  int status = 0;  // 0 unresolved while composing, -1 could not be created, 8 off, 4 on
  bool deployed = false;
  std::map<std::string, std::string> networkConfig;  // vApp network name -> org network uuid
  std::vector<Vm> vms;
};

struct Task {
  std::string uuid;
  std::string operationName;
  std::string operation;
  Json owner;
  std::string orgUuid;
  std::string user;
  std::string busyKey;  // the object this task keeps busy
  Clock::time_point runningAt, doneAt;
  std::string startTime, endTime;
  std::string status = "queued";
  bool cancelRequested = false;
  std::optional<FaultRule> failure;
  std::function<void()> onSuccess;
  std::function<void()> onFailure;
};

struct Request {
  const ServerRequest& raw;
  std::string method;
  std::string path;
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;  // decoded
  std::string version;                       // from Accept
  Session* session = nullptr;
  std::string tenantContext;  // org uuid a provider acts in, "" = all orgs

  std::string param(const std::string& name) const;
};

class Backend {
 public:
  explicit Backend(const SimulatorOptions& options);

  void setBaseUrl(std::string url) { baseUrl_ = std::move(url); }
  ServerResponse handle(const ServerRequest& raw);

  mutable std::mutex mutex;  // guards everything below
  SimulatorOptions options;
  std::vector<FaultRule> faults;
  std::vector<std::uint64_t> faultHits;  // matching requests seen per rule
  std::vector<RequestRecord> requests;

  std::map<std::string, Session> sessions;  // by token
  std::vector<Org> orgs;
  std::map<std::string, Vdc> vdcs;  // by uuid
  std::map<std::string, Network> networks;
  std::map<std::string, Edge> edges;
  std::map<std::string, PortProfile> portProfiles;
  std::vector<PortGroup> portGroups;
  std::map<std::string, VApp> vapps;
  std::map<std::string, Task> tasks;
  std::vector<std::string> taskOrder;
  std::map<std::string, std::string> busy;  // busy key -> task uuid
  std::uint64_t macCounter = 0;

 private:
  ServerResponse dispatch(Request& request);
  ServerResponse route(Request& request);
  std::optional<std::size_t> fireFault(const Request& request, Fault kind);
  std::optional<ServerResponse> injectedFault(const Request& request, Fault kind, int status,
                                              const std::string& code);

  // ---- sessions (sim_backend.cpp)
  ServerResponse versions(const Request& request);
  ServerResponse login(Request& request, bool provider);
  ServerResponse sessionBody(const Request& request, const Session& session, int status);

  // ---- cloudapi (sim_cloudapi.cpp)
  ServerResponse cloudapi(Request& request);
  ServerResponse listVdcs(const Request& request);
  ServerResponse listNetworks(const Request& request);
  ServerResponse getNetwork(const Request& request, const std::string& urn);
  ServerResponse createNetwork(const Request& request);
  ServerResponse deleteNetwork(const Request& request, const std::string& urn);
  ServerResponse listEdges(const Request& request);
  ServerResponse getEdge(const Request& request, const std::string& urn);
  ServerResponse listNatRules(const Request& request, Edge& edge);
  ServerResponse createNatRule(const Request& request, Edge& edge);
  ServerResponse deleteNatRule(const Request& request, Edge& edge, const std::string& ruleId);
  ServerResponse listPortGroups(const Request& request);
  ServerResponse listPortProfiles(const Request& request);
  ServerResponse getPortProfile(const Request& request, const std::string& urn);
  ServerResponse createPortProfile(const Request& request);
  Json edgeJson(const Edge& edge) const;
  Json networkJson(const Network& network) const;
  void validateNatRule(const Edge& edge, const Json& rule) const;
  void validateSubnets(const Json& subnets) const;

  // ---- legacy /api (sim_legacy.cpp)
  ServerResponse legacy(Request& request);
  ServerResponse getVdc(const Request& request, const Vdc& vdc);
  ServerResponse getMetadata(const Request& request, const Vdc& vdc);
  ServerResponse putMetadata(const Request& request, Vdc& vdc, const std::string& key);
  ServerResponse deleteMetadata(const Request& request, Vdc& vdc, const std::string& key);
  ServerResponse composeVApp(const Request& request, const Vdc& vdc);
  ServerResponse vappAction(Request& request, VApp& vapp, const std::string& action);
  ServerResponse vmAction(Request& request, VApp& vapp, Vm& vm, const std::string& action);
  ServerResponse query(const Request& request);
  ServerResponse getTask(const Request& request, const std::string& uuid);
  ServerResponse cancelTask(const Request& request, const std::string& uuid);
  Json vappJson(const VApp& vapp) const;
  Json vmJson(const VApp& vapp, const Vm& vm) const;
  Json taskJson(const Task& task) const;
  Json reference(const std::string& href, const std::string& id, const std::string& type,
                 const std::string& name) const;

  // ---- shared helpers (sim_backend.cpp)
 public:
  // Completes due tasks, in the order they started.
  void advanceTasks(Clock::time_point now);
  std::string href(const std::string& path) const { return baseUrl_ + path; }

 private:
  Task& startTask(const Request& request, const std::string& operationName,
                  const std::string& operation, Json owner, const std::string& busyKey,
                  std::function<void()> onSuccess, std::function<void()> onFailure = {});
  void requireNotBusy(const std::string& busyKey, const std::string& what) const;
  bool visible(const Request& request, const std::string& orgUuid) const;
  const Org& org(const std::string& uuid) const;
  Vdc& vdcOrThrow(const Request& request, const std::string& uuid);
  VApp& vappOrThrow(const Request& request, const std::string& uuid);
  std::pair<VApp*, Vm*> vmOrThrow(const Request& request, const std::string& uuid);
  Edge& edgeOrThrow(const Request& request, const std::string& urn);
  ServerResponse json(const Request& request, int status, const Json& body,
                      const std::string& mediaType = "application/json") const;
  ServerResponse taskAccepted(const Request& request, const Task& task) const;  // cloudapi 202
  // page and pageSize of a list request (pageSize cut to options.maxPageSize).
  std::pair<long, long> pageParams(const Request& request) const;
  ServerResponse page(const Request& request, const std::vector<Json>& all) const;
  // A CloudAPI list: the visible objects of `objects`, as JSON, filtered and paged.
  template <typename Map, typename OrgOf, typename ToJson>
  ServerResponse listOf(const Request& request, const Map& objects, OrgOf orgOf,
                        ToJson toJson) const;
  std::string nextMac();

  std::string baseUrl_;
};

// Helpers shared by the handler files.
std::string newUuid();
std::string isoNow();
std::string urnUuid(const std::string& urn, const std::string& kind);  // "" when not that kind
ApiError forbidden(const std::string& what);
ApiError badRequest(const std::string& message, const std::string& code = "BAD_REQUEST");
Json parseJsonBody(const Request& request);

}  // namespace warmsite::clouddirector::sim

#include "simulated_vcenter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& value) {
    j = value ? json(*value) : json(nullptr);
  }
  static void from_json(const json& j, std::optional<T>& value) {
    value = j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
  }
};
}  // namespace nlohmann

namespace warmsite::plugin {
// JSON mapping of the ABI types, used only for the mock's state file.
NLOHMANN_JSON_SERIALIZE_ENUM(PowerState, {{PowerState::kOff, "off"},
                                          {PowerState::kOn, "on"},
                                          {PowerState::kSuspended, "suspended"}})
NLOHMANN_JSON_SERIALIZE_ENUM(MachineKind, {{MachineKind::kReplica, "replica"},
                                           {MachineKind::kTestCopy, "test_copy"}})
NLOHMANN_JSON_SERIALIZE_ENUM(Protocol, {{Protocol::kTcp, "tcp"}, {Protocol::kUdp, "udp"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlanStorage, name, backendStorage, quotaGb)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TenantResourcesSpec, subscriptionId, tenantId, tenantName,
                                   cpuMhz, memoryMb, storages)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DiskSpec, diskId, storage, sizeGb)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NicSpec, nicId, networkId, mac)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReplicaSpec, replicaId, subscriptionId, tenantId, name, vcpus,
                                   cpuMhz, memoryMb, disks, nics)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RestorePointInfo, restorePointId, description, createdUnix)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MachineInfo, machineId, kind, tenantId, subscriptionId,
                                   sourceReplicaId, name, power, nicMacs, restorePoints,
                                   platformRef)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TenantNetworkSpec, networkId, subscriptionId, tenantId, name,
                                   vlanId, internet)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NetworkInfo, networkId, tenantId, subscriptionId, vlanId,
                                   internet, isolated, platformRef)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PortMapping, ruleId, publicIp, publicPort, protocol, targetIp,
                                   targetPort)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OutboundNat, networkId, sourceCidr, publicIp)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TenantEdgeSpec, tenantId, mappings, outboundNat)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BubbleSpec, bubbleId, tenantId, sourceNetworkIds)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TestCopySpec, copyId, sourceReplicaId, restorePointId, bubbleId)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DiskData, diskId, path)
}  // namespace warmsite::plugin

namespace warmsite::vspheremock {

// With defaults: state files written before a field existed still load.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SimulatedVcenter::Vm, info, spec, copySpec,
                                                baseRestorePointId, host, diskData)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SimulatedVcenter::PortGroup, info, spec, bubbleId)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SimulatedVcenter::Bubble, spec, networkIds)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SimulatedVcenter::State, pools, portGroups, vms, edges, bubbles,
                                   nextMac, nextRef)

using plugin::ErrorCode;
using plugin::makeError;
using plugin::PowerState;

namespace {

plugin::Error notFound(const std::string& what, const std::string& id) {
  return makeError(ErrorCode::kNotFound, what + " " + id + " not found", "ManagedObjectNotFound");
}

plugin::Error existsWithOtherSpec(const std::string& what, const std::string& id) {
  return makeError(ErrorCode::kAlreadyExists, what + " " + id + " already exists with another spec",
                   "DuplicateName");
}

bool validId(const std::string& id) {
  return !id.empty() && id.size() <= 128;
}

// Address family of an IP literal: AF_INET, AF_INET6, or 0 when it does not parse.
int ipFamily(const std::string& ip) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, ip.c_str(), buffer) == 1) return AF_INET;
  if (inet_pton(AF_INET6, ip.c_str(), buffer) == 1) return AF_INET6;
  return 0;
}

int cidrFamily(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return 0;
  const int family = ipFamily(cidr.substr(0, slash));
  const std::string prefix = cidr.substr(slash + 1);
  if (prefix.empty() || prefix.size() > 3 ||
      !std::all_of(prefix.begin(), prefix.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  const int bits = std::stoi(prefix);
  return bits <= (family == AF_INET ? 32 : 128) ? family : 0;
}

std::map<std::string, std::shared_ptr<SimulatedVcenter>>& instances() {
  static auto* map =
      new std::map<std::string, std::shared_ptr<SimulatedVcenter>>();  // process-long
  return *map;
}

}  // namespace

SimulatedVcenter::SimulatedVcenter(std::string name, Topology topology,
                                   std::filesystem::path stateFile)
    : name_(std::move(name)), topology_(std::move(topology)), stateFile_(std::move(stateFile)) {}

std::shared_ptr<SimulatedVcenter> SimulatedVcenter::open(const std::string& name,
                                                         const Topology& topology,
                                                         const std::filesystem::path& stateFile) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto& map = instances();
  if (auto it = map.find(name); it != map.end()) {
    if (!(it->second->topology_ == topology) || it->second->stateFile_ != stateFile) {
      throw std::invalid_argument("vcenter \"" + name +
                                  "\" is already open in this process with other hosts, "
                                  "datastores or state_file");
    }
    return it->second;
  }
  auto vcenter = std::make_shared<SimulatedVcenter>(name, topology, stateFile);
  if (!stateFile.empty()) vcenter->loadFromFile();
  map.emplace(name, vcenter);
  return vcenter;
}

bool SimulatedVcenter::login(const std::string& username, const std::string& password) {
  std::lock_guard lock(mutex_);
  if (!credentials_) credentials_.emplace(username, password);
  return credentials_->first == username && credentials_->second == password;
}

void SimulatedVcenter::loadFromFile() {
  std::error_code ec;
  if (!std::filesystem::exists(stateFile_, ec)) return;
  std::ifstream in(stateFile_);
  try {
    state_ = nlohmann::json::parse(in).get<State>();
  } catch (const std::exception& e) {
    throw std::invalid_argument("state_file " + stateFile_.string() +
                                " cannot be read: " + e.what());
  }
}

void SimulatedVcenter::writeStateFile(const State& state, const std::filesystem::path& file) {
  // Write beside the file and rename, so a crash leaves the old state or the new one, never half.
  const auto temporary = file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << nlohmann::json(state).dump();
  }
  std::rename(temporary.c_str(), file.c_str());
}

void SimulatedVcenter::persistLocked() const {
  if (!stateFile_.empty()) writeStateFile(state_, stateFile_);
}

std::string SimulatedVcenter::nextMacLocked() {
  // VMware's static OUI range 00:50:56:00:00:00 - 00:50:56:3f:ff:ff.
  const std::uint64_t n = state_.nextMac++;
  char mac[18];
  std::snprintf(mac, sizeof mac, "00:50:56:%02x:%02x:%02x", static_cast<unsigned>((n >> 16) & 0x3f),
                static_cast<unsigned>((n >> 8) & 0xff), static_cast<unsigned>(n & 0xff));
  return mac;
}

std::string SimulatedVcenter::nextRefLocked(const char* kind) {
  return name_ + "/" + kind + "-" + std::to_string(state_.nextRef++);
}

const Datastore* SimulatedVcenter::findDatastore(const std::string& name) const {
  for (const auto& ds : topology_.datastores) {
    if (ds.name == name) return &ds;
  }
  return nullptr;
}

std::uint64_t SimulatedVcenter::usedOnStorage(const std::string& subscriptionId,
                                              const std::string& storage) const {
  std::uint64_t used = 0;
  for (const auto& [id, vm] : state_.vms) {
    if (vm.info.kind != plugin::MachineKind::kReplica || vm.spec.subscriptionId != subscriptionId) {
      continue;
    }
    for (const auto& disk : vm.spec.disks) {
      if (disk.storage == storage) used += disk.sizeGb;
    }
  }
  return used;
}

std::uint64_t SimulatedVcenter::usedOnDatastore(const std::string& datastore) const {
  std::uint64_t used = 0;
  for (const auto& [subscriptionId, pool] : state_.pools) {
    for (const auto& storage : pool.storages) {
      if (storage.backendStorage == datastore) used += usedOnStorage(subscriptionId, storage.name);
    }
  }
  return used;
}

// ---- tenant resources
// ------------------------------------------------------------------------------

plugin::Result<plugin::TenantResources> SimulatedVcenter::resourcesLocked(
    const std::string& subscriptionId) const {
  auto it = state_.pools.find(subscriptionId);
  if (it == state_.pools.end()) return notFound("resource pool of subscription", subscriptionId);
  plugin::TenantResources resources;
  resources.subscriptionId = subscriptionId;
  resources.tenantId = it->second.tenantId;
  resources.platformRef = name_ + "/resgroup/" + subscriptionId;
  for (const auto& storage : it->second.storages) {
    resources.storages.push_back(
        {storage.name, storage.quotaGb, usedOnStorage(subscriptionId, storage.name)});
  }
  return resources;
}

plugin::Result<plugin::TenantResources> SimulatedVcenter::applyTenantResources(
    const plugin::TenantResourcesSpec& spec) {
  if (!validId(spec.subscriptionId) || !validId(spec.tenantId)) {
    return makeError(ErrorCode::kInvalidArgument,
                     "subscriptionId and tenantId must be 1-128 characters");
  }
  std::set<std::string> names;
  for (const auto& storage : spec.storages) {
    if (storage.name.empty() || !names.insert(storage.name).second) {
      return makeError(ErrorCode::kInvalidArgument,
                       "plan storage names must be non-empty and unique: \"" + storage.name + "\"");
    }
    if (findDatastore(storage.backendStorage) == nullptr) {
      return notFound("datastore", storage.backendStorage);
    }
  }
  std::lock_guard lock(mutex_);
  if (auto it = state_.pools.find(spec.subscriptionId); it != state_.pools.end()) {
    if (it->second.tenantId != spec.tenantId) {
      return makeError(ErrorCode::kAlreadyExists,
                       "subscription " + spec.subscriptionId + " belongs to another tenant",
                       "DuplicateName");
    }
    // An edit may not strand what replicas already use.
    for (const auto& old : it->second.storages) {
      const auto used = usedOnStorage(spec.subscriptionId, old.name);
      auto now = std::find_if(spec.storages.begin(), spec.storages.end(),
                              [&](const plugin::PlanStorage& s) { return s.name == old.name; });
      if (used > 0 && (now == spec.storages.end() || now->quotaGb < used ||
                       now->backendStorage != old.backendStorage)) {
        return makeError(
            ErrorCode::kResourceExhausted,
            "storage " + old.name + " holds " + std::to_string(used) +
                " GB of replica disks; it cannot be removed, moved or shrunk below that",
            "QuotaExceeded");
      }
    }
  }
  state_.pools[spec.subscriptionId] = spec;
  persistLocked();
  return resourcesLocked(spec.subscriptionId);
}

plugin::Status SimulatedVcenter::releaseTenantResources(const std::string& subscriptionId) {
  std::lock_guard lock(mutex_);
  if (!state_.pools.contains(subscriptionId)) return {};
  for (const auto& [id, vm] : state_.vms) {
    if (vm.info.subscriptionId == subscriptionId) {
      return makeError(ErrorCode::kInvalidState,
                       "resource pool of subscription " + subscriptionId + " still holds VM " + id,
                       "ResourceInUse");
    }
  }
  for (const auto& [id, group] : state_.portGroups) {
    if (group.info.subscriptionId == subscriptionId) {
      return makeError(ErrorCode::kInvalidState,
                       "subscription " + subscriptionId + " still has network " + id,
                       "ResourceInUse");
    }
  }
  state_.pools.erase(subscriptionId);
  persistLocked();
  return {};
}

plugin::Result<plugin::TenantResources> SimulatedVcenter::tenantResources(
    const std::string& subscriptionId) const {
  std::lock_guard lock(mutex_);
  return resourcesLocked(subscriptionId);
}

// ---- replicas
// --------------------------------------------------------------------------------------

plugin::Result<plugin::MachineInfo> SimulatedVcenter::createReplica(
    const plugin::ReplicaSpec& spec) {
  if (!validId(spec.replicaId)) {
    return makeError(ErrorCode::kInvalidArgument, "replicaId must be 1-128 characters");
  }
  if (spec.vcpus == 0 || spec.memoryMb == 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "replica " + spec.replicaId + " needs at least 1 vCPU and 1 MB of memory");
  }
  if (topology_.maxNicsPerVm != 0 && spec.nics.size() > topology_.maxNicsPerVm) {
    return makeError(ErrorCode::kInvalidArgument,
                     "replica " + spec.replicaId + " has " + std::to_string(spec.nics.size()) +
                         " NICs; a VM takes at most " + std::to_string(topology_.maxNicsPerVm));
  }
  std::lock_guard lock(mutex_);
  if (auto it = state_.vms.find(spec.replicaId); it != state_.vms.end()) {
    if (it->second.info.kind == plugin::MachineKind::kReplica && it->second.spec == spec) {
      return it->second.info;
    }
    return existsWithOtherSpec("machine", spec.replicaId);
  }
  auto poolIt = state_.pools.find(spec.subscriptionId);
  if (poolIt == state_.pools.end())
    return notFound("resource pool of subscription", spec.subscriptionId);
  const auto& pool = poolIt->second;
  if (pool.tenantId != spec.tenantId) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "subscription " + spec.subscriptionId + " does not belong to tenant " + spec.tenantId);
  }

  // CPU and memory against the pool limits.
  std::uint64_t cpu = spec.cpuMhz, memory = spec.memoryMb;
  for (const auto& [id, vm] : state_.vms) {
    if (vm.info.kind == plugin::MachineKind::kReplica &&
        vm.spec.subscriptionId == spec.subscriptionId) {
      cpu += vm.spec.cpuMhz;
      memory += vm.spec.memoryMb;
    }
  }
  if (pool.cpuMhz && cpu > *pool.cpuMhz) {
    return makeError(ErrorCode::kResourceExhausted,
                     "CPU limit of subscription " + spec.subscriptionId + " exceeded: " +
                         std::to_string(cpu) + " MHz of " + std::to_string(*pool.cpuMhz),
                     "QuotaExceeded");
  }
  if (pool.memoryMb && memory > *pool.memoryMb) {
    return makeError(ErrorCode::kResourceExhausted,
                     "memory limit of subscription " + spec.subscriptionId + " exceeded: " +
                         std::to_string(memory) + " MB of " + std::to_string(*pool.memoryMb),
                     "QuotaExceeded");
  }

  // Disks against plan storage quotas and datastore free space.
  std::set<std::string> diskIds;
  std::map<std::string, std::uint64_t> perStorage, perDatastore;
  for (const auto& disk : spec.disks) {
    if (!validId(disk.diskId) || !diskIds.insert(disk.diskId).second) {
      return makeError(ErrorCode::kInvalidArgument,
                       "disk ids of replica " + spec.replicaId + " must be non-empty and unique");
    }
    if (disk.sizeGb == 0) {
      return makeError(ErrorCode::kInvalidArgument, "disk " + disk.diskId + " has size 0");
    }
    auto storage =
        std::find_if(pool.storages.begin(), pool.storages.end(),
                     [&](const plugin::PlanStorage& s) { return s.name == disk.storage; });
    if (storage == pool.storages.end()) {
      return notFound("plan storage", disk.storage + " of subscription " + spec.subscriptionId);
    }
    perStorage[storage->name] += disk.sizeGb;
    perDatastore[storage->backendStorage] += disk.sizeGb;
  }
  for (const auto& [name, size] : perStorage) {
    const auto& storage =
        *std::find_if(pool.storages.begin(), pool.storages.end(),
                      [&](const plugin::PlanStorage& s) { return s.name == name; });
    const auto used = usedOnStorage(spec.subscriptionId, name);
    if (used + size > storage.quotaGb) {
      return makeError(ErrorCode::kResourceExhausted,
                       "storage quota of " + name + " exceeded: " + std::to_string(used + size) +
                           " GB of " + std::to_string(storage.quotaGb),
                       "QuotaExceeded");
    }
  }
  for (const auto& [name, size] : perDatastore) {
    const Datastore* ds = findDatastore(name);
    const auto used = usedOnDatastore(name);
    if (used + size > ds->capacityGb) {
      return makeError(ErrorCode::kResourceExhausted,
                       "datastore " + name + " has " + std::to_string(ds->capacityGb - used) +
                           " GB free, replica " + spec.replicaId + " needs " + std::to_string(size),
                       "InsufficientDiskSpace");
    }
  }

  std::set<std::string> nicIds;
  for (const auto& nic : spec.nics) {
    if (!validId(nic.nicId) || !nicIds.insert(nic.nicId).second) {
      return makeError(ErrorCode::kInvalidArgument,
                       "NIC ids of replica " + spec.replicaId + " must be non-empty and unique");
    }
    auto group = state_.portGroups.find(nic.networkId);
    if (group == state_.portGroups.end() || !group->second.bubbleId.empty()) {
      return notFound("network", nic.networkId);
    }
    if (group->second.info.tenantId != spec.tenantId) {
      return makeError(ErrorCode::kInvalidArgument,
                       "network " + nic.networkId + " belongs to another tenant");
    }
  }

  Vm vm;
  vm.spec = spec;
  vm.info.machineId = spec.replicaId;
  vm.info.kind = plugin::MachineKind::kReplica;
  vm.info.tenantId = spec.tenantId;
  vm.info.subscriptionId = spec.subscriptionId;
  vm.info.name = spec.name;
  vm.info.power = PowerState::kOff;
  for (const auto& nic : spec.nics)
    vm.info.nicMacs.push_back(nic.mac.empty() ? nextMacLocked() : nic.mac);
  vm.info.platformRef = nextRefLocked("vm");
  // Place on the host with the most unreserved memory (unlimited hosts first).
  vm.host = topology_.hosts.front().name;
  std::uint64_t bestFree = 0;
  for (const auto& host : topology_.hosts) {
    if (host.memoryMb == 0) {
      vm.host = host.name;
      break;
    }
    std::uint64_t reserved = 0;
    for (const auto& [id, other] : state_.vms) {
      if (other.host == host.name) reserved += other.spec.memoryMb;
    }
    const std::uint64_t free = reserved >= host.memoryMb ? 0 : host.memoryMb - reserved;
    if (free > bestFree) {
      bestFree = free;
      vm.host = host.name;
    }
  }
  auto [it, inserted] = state_.vms.emplace(spec.replicaId, std::move(vm));
  persistLocked();
  return it->second.info;
}

plugin::Status SimulatedVcenter::deleteReplica(const std::string& replicaId) {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(replicaId);
  if (it == state_.vms.end()) return {};
  if (it->second.info.kind != plugin::MachineKind::kReplica) {
    return makeError(ErrorCode::kInvalidArgument,
                     replicaId + " is a test copy; delete it through test isolation");
  }
  if (it->second.info.power != PowerState::kOff) {
    return makeError(ErrorCode::kInvalidState,
                     "VM " + replicaId + " is powered on; power it off first", "InvalidPowerState");
  }
  for (const auto& [id, vm] : state_.vms) {
    if (vm.info.sourceReplicaId == replicaId) {
      return makeError(ErrorCode::kInvalidState, "VM " + replicaId + " still has test copy " + id,
                       "ResourceInUse");
    }
  }
  state_.vms.erase(it);
  persistLocked();
  return {};
}

plugin::Result<plugin::MachineInfo> SimulatedVcenter::machine(const std::string& machineId) const {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(machineId);
  if (it == state_.vms.end()) return notFound("VM", machineId);
  return it->second.info;
}

plugin::Status SimulatedVcenter::useDiskData(const std::string& machineId,
                                             const std::vector<plugin::DiskData>& disks) {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(machineId);
  if (it == state_.vms.end()) return notFound("VM", machineId);
  auto& vm = it->second;
  // A test copy's disks are overlays of its source's: they carry the source's ids.
  const auto source = state_.vms.find(vm.info.sourceReplicaId);
  const auto& specDisks =
      vm.info.kind == plugin::MachineKind::kTestCopy && source != state_.vms.end()
          ? source->second.spec.disks
          : vm.spec.disks;
  std::map<std::string, std::string> wanted;
  for (const auto& disk : disks) {
    const bool known =
        std::any_of(specDisks.begin(), specDisks.end(),
                    [&](const plugin::DiskSpec& d) { return d.diskId == disk.diskId; });
    if (!known || disk.path.empty() || disk.path.front() != '/' ||
        !wanted.emplace(disk.diskId, disk.path).second) {
      return makeError(ErrorCode::kInvalidArgument,
                       "disk " + disk.diskId + " of VM " + machineId +
                           ": not one of its disks, listed twice, or a relative path");
    }
  }
  std::vector<plugin::DiskData> next;
  for (const auto& spec : specDisks) {
    if (auto disk = wanted.find(spec.diskId); disk != wanted.end()) {
      next.push_back({spec.diskId, disk->second});
    } else if (!disks.empty()) {
      for (const auto& kept : vm.diskData)
        if (kept.diskId == spec.diskId) next.push_back(kept);
    }
  }
  if (next == vm.diskData) return {};
  if (vm.info.power != PowerState::kOff) {
    return makeError(ErrorCode::kInvalidState,
                     "VM " + machineId + " is powered on; power it off first", "InvalidPowerState");
  }
  vm.diskData = std::move(next);
  persistLocked();
  return {};
}

plugin::Result<std::vector<plugin::DiskData>> SimulatedVcenter::diskData(
    const std::string& machineId) const {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(machineId);
  if (it == state_.vms.end()) return notFound("VM", machineId);
  return it->second.diskData;
}

plugin::Status SimulatedVcenter::powerOn(const std::string& machineId) {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(machineId);
  if (it == state_.vms.end()) return notFound("VM", machineId);
  auto& vm = it->second;
  if (vm.info.power == PowerState::kOn) {
    return makeError(ErrorCode::kInvalidState, "VM " + machineId + " is already powered on",
                     "InvalidPowerState");
  }
  const auto host = std::find_if(topology_.hosts.begin(), topology_.hosts.end(),
                                 [&](const EsxHost& h) { return h.name == vm.host; });
  if (host != topology_.hosts.end() && host->memoryMb != 0) {
    std::uint64_t running = vm.spec.memoryMb;
    for (const auto& [id, other] : state_.vms) {
      if (other.host == vm.host && other.info.power == PowerState::kOn)
        running += other.spec.memoryMb;
    }
    if (running > host->memoryMb) {
      return makeError(ErrorCode::kResourceExhausted,
                       "host " + host->name + " lacks memory to power on " + machineId,
                       "InsufficientResourcesFault");
    }
  }
  vm.info.power = PowerState::kOn;
  persistLocked();
  return {};
}

plugin::Status SimulatedVcenter::powerOff(const std::string& machineId) {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(machineId);
  if (it == state_.vms.end()) return notFound("VM", machineId);
  if (it->second.info.power == PowerState::kOff) {
    return makeError(ErrorCode::kInvalidState, "VM " + machineId + " is already powered off",
                     "InvalidPowerState");
  }
  it->second.info.power = PowerState::kOff;
  persistLocked();
  return {};
}

plugin::Result<plugin::RestorePointInfo> SimulatedVcenter::createRestorePoint(
    const std::string& replicaId, const std::string& restorePointId,
    const std::string& description) {
  if (!validId(restorePointId)) {
    return makeError(ErrorCode::kInvalidArgument, "restorePointId must be 1-128 characters");
  }
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(replicaId);
  if (it == state_.vms.end() || it->second.info.kind != plugin::MachineKind::kReplica) {
    return notFound("replica", replicaId);
  }
  auto& points = it->second.info.restorePoints;
  for (const auto& point : points) {
    if (point.restorePointId == restorePointId) return point;
  }
  plugin::RestorePointInfo point{restorePointId, description,
                                 static_cast<std::int64_t>(std::time(nullptr))};
  points.push_back(point);
  persistLocked();
  return point;
}

plugin::Result<std::vector<plugin::RestorePointInfo>> SimulatedVcenter::listRestorePoints(
    const std::string& replicaId) const {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(replicaId);
  if (it == state_.vms.end() || it->second.info.kind != plugin::MachineKind::kReplica) {
    return notFound("replica", replicaId);
  }
  return it->second.info.restorePoints;
}

plugin::Status SimulatedVcenter::revertToRestorePoint(const std::string& replicaId,
                                                      const std::string& restorePointId) {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(replicaId);
  if (it == state_.vms.end() || it->second.info.kind != plugin::MachineKind::kReplica) {
    return notFound("replica", replicaId);
  }
  const auto& points = it->second.info.restorePoints;
  if (std::none_of(points.begin(), points.end(),
                   [&](const auto& p) { return p.restorePointId == restorePointId; })) {
    return notFound("restore point", restorePointId + " of " + replicaId);
  }
  if (it->second.info.power != PowerState::kOff) {
    return makeError(ErrorCode::kInvalidState, "VM " + replicaId + " must be powered off to revert",
                     "InvalidPowerState");
  }
  return {};  // disks hold no data in the mock: reverting changes nothing observable but the rule
}

plugin::Status SimulatedVcenter::deleteRestorePoint(const std::string& replicaId,
                                                    const std::string& restorePointId) {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(replicaId);
  if (it == state_.vms.end()) return {};
  for (const auto& [id, vm] : state_.vms) {
    if (vm.info.sourceReplicaId == replicaId && vm.baseRestorePointId == restorePointId) {
      return makeError(ErrorCode::kInvalidState,
                       "restore point " + restorePointId + " backs test copy " + id,
                       "ResourceInUse");
    }
  }
  auto& points = it->second.info.restorePoints;
  const auto before = points.size();
  std::erase_if(points, [&](const auto& p) { return p.restorePointId == restorePointId; });
  if (points.size() != before) persistLocked();
  return {};
}

std::vector<plugin::MachineInfo> SimulatedVcenter::inventory() const {
  std::lock_guard lock(mutex_);
  std::vector<plugin::MachineInfo> machines;
  machines.reserve(state_.vms.size());
  for (const auto& [id, vm] : state_.vms) machines.push_back(vm.info);
  return machines;
}

// ---- networks
// --------------------------------------------------------------------------------------

plugin::Result<plugin::NetworkInfo> SimulatedVcenter::createTenantNetwork(
    const plugin::TenantNetworkSpec& spec) {
  if (!validId(spec.networkId)) {
    return makeError(ErrorCode::kInvalidArgument, "networkId must be 1-128 characters");
  }
  if (spec.vlanId < 1 || spec.vlanId > 4094) {
    return makeError(ErrorCode::kInvalidArgument,
                     "VLAN " + std::to_string(spec.vlanId) + " is outside 1-4094",
                     "InvalidArgument");
  }
  std::lock_guard lock(mutex_);
  if (auto it = state_.portGroups.find(spec.networkId); it != state_.portGroups.end()) {
    if (it->second.spec == spec) return it->second.info;
    return existsWithOtherSpec("network", spec.networkId);
  }
  auto pool = state_.pools.find(spec.subscriptionId);
  if (pool == state_.pools.end())
    return notFound("resource pool of subscription", spec.subscriptionId);
  if (pool->second.tenantId != spec.tenantId) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "subscription " + spec.subscriptionId + " does not belong to tenant " + spec.tenantId);
  }
  for (const auto& [id, group] : state_.portGroups) {
    if (group.bubbleId.empty() && group.info.vlanId == spec.vlanId) {
      return makeError(
          ErrorCode::kAlreadyExists,
          "VLAN " + std::to_string(spec.vlanId) + " is already carried by network " + id,
          "DuplicateName");
    }
  }
  PortGroup group;
  group.spec = spec;
  group.info = {spec.networkId, spec.tenantId, spec.subscriptionId,         spec.vlanId,
                spec.internet,  false,         nextRefLocked("dvportgroup")};
  auto [it, inserted] = state_.portGroups.emplace(spec.networkId, std::move(group));
  persistLocked();
  return it->second.info;
}

plugin::Status SimulatedVcenter::deleteTenantNetwork(const std::string& networkId) {
  std::lock_guard lock(mutex_);
  auto it = state_.portGroups.find(networkId);
  if (it == state_.portGroups.end()) return {};
  if (!it->second.bubbleId.empty()) {
    return makeError(ErrorCode::kInvalidArgument, networkId + " belongs to bubble " +
                                                      it->second.bubbleId + "; delete the bubble");
  }
  for (const auto& [id, vm] : state_.vms) {
    for (const auto& nic : vm.spec.nics) {
      if (nic.networkId == networkId && vm.info.kind == plugin::MachineKind::kReplica) {
        return makeError(ErrorCode::kInvalidState,
                         "network " + networkId + " still has a NIC of VM " + id, "ResourceInUse");
      }
    }
  }
  for (const auto& [id, bubble] : state_.bubbles) {
    const auto& sources = bubble.spec.sourceNetworkIds;
    if (std::find(sources.begin(), sources.end(), networkId) != sources.end()) {
      return makeError(ErrorCode::kInvalidState,
                       "network " + networkId + " is mirrored by bubble " + id, "ResourceInUse");
    }
  }
  state_.portGroups.erase(it);
  persistLocked();
  return {};
}

std::vector<plugin::NetworkInfo> SimulatedVcenter::listNetworks() const {
  std::lock_guard lock(mutex_);
  std::vector<plugin::NetworkInfo> networks;
  for (const auto& [id, group] : state_.portGroups) networks.push_back(group.info);
  return networks;
}

// ---- edge
// ------------------------------------------------------------------------------------------

plugin::Status SimulatedVcenter::applyTenantEdge(const plugin::TenantEdgeSpec& spec) {
  if (!validId(spec.tenantId)) {
    return makeError(ErrorCode::kInvalidArgument, "tenantId must be 1-128 characters");
  }
  using Endpoint = std::tuple<std::string, std::uint16_t, plugin::Protocol>;
  std::set<Endpoint> endpoints;
  for (const auto& mapping : spec.mappings) {
    const int family = ipFamily(mapping.publicIp);
    if (family == 0 || ipFamily(mapping.targetIp) != family) {
      return makeError(ErrorCode::kInvalidArgument,
                       "rule " + mapping.ruleId + ": " + mapping.publicIp + " -> " +
                           mapping.targetIp + " needs two addresses of one family");
    }
    if (mapping.publicPort == 0 || mapping.targetPort == 0) {
      return makeError(ErrorCode::kInvalidArgument, "rule " + mapping.ruleId + ": port 0");
    }
    if (!endpoints.emplace(mapping.publicIp, mapping.publicPort, mapping.protocol).second) {
      return makeError(ErrorCode::kAlreadyExists,
                       "rule " + mapping.ruleId + ": " + mapping.publicIp + ":" +
                           std::to_string(mapping.publicPort) + " is mapped twice");
    }
  }
  for (const auto& nat : spec.outboundNat) {
    const int family = ipFamily(nat.publicIp);
    if (family == 0 || cidrFamily(nat.sourceCidr) != family) {
      return makeError(ErrorCode::kInvalidArgument,
                       "outbound NAT of " + nat.networkId + ": " + nat.sourceCidr + " -> " +
                           nat.publicIp + " needs a subnet and an address of one family");
    }
  }
  std::lock_guard lock(mutex_);
  for (const auto& nat : spec.outboundNat) {
    auto group = state_.portGroups.find(nat.networkId);
    if (group == state_.portGroups.end() || group->second.info.tenantId != spec.tenantId) {
      return notFound("network", nat.networkId + " of tenant " + spec.tenantId);
    }
    if (!group->second.info.internet) {
      return makeError(ErrorCode::kInvalidArgument,
                       "network " + nat.networkId + " has no internet access; no outbound NAT");
    }
  }
  for (const auto& [tenantId, other] : state_.edges) {
    if (tenantId == spec.tenantId) continue;
    for (const auto& mapping : other.mappings) {
      if (endpoints.contains({mapping.publicIp, mapping.publicPort, mapping.protocol})) {
        return makeError(ErrorCode::kAlreadyExists, mapping.publicIp + ":" +
                                                        std::to_string(mapping.publicPort) +
                                                        " is already mapped for another tenant");
      }
    }
  }
  if (spec.mappings.empty() && spec.outboundNat.empty()) {
    state_.edges.erase(spec.tenantId);
  } else {
    state_.edges[spec.tenantId] = spec;
  }
  persistLocked();
  return {};
}

plugin::TenantEdgeSpec SimulatedVcenter::tenantEdge(const std::string& tenantId) const {
  std::lock_guard lock(mutex_);
  auto it = state_.edges.find(tenantId);
  if (it == state_.edges.end()) return plugin::TenantEdgeSpec{tenantId, {}, {}};
  return it->second;
}

plugin::Status SimulatedVcenter::removeTenantEdge(const std::string& tenantId) {
  std::lock_guard lock(mutex_);
  if (state_.edges.erase(tenantId) > 0) persistLocked();
  return {};
}

// ---- test isolation
// --------------------------------------------------------------------------------

plugin::Status SimulatedVcenter::createBubble(const plugin::BubbleSpec& spec) {
  if (!validId(spec.bubbleId)) {
    return makeError(ErrorCode::kInvalidArgument, "bubbleId must be 1-128 characters");
  }
  std::lock_guard lock(mutex_);
  if (auto it = state_.bubbles.find(spec.bubbleId); it != state_.bubbles.end()) {
    if (it->second.spec == spec) return {};
    return existsWithOtherSpec("bubble", spec.bubbleId);
  }
  for (const auto& source : spec.sourceNetworkIds) {
    auto group = state_.portGroups.find(source);
    if (group == state_.portGroups.end() || group->second.info.tenantId != spec.tenantId ||
        !group->second.bubbleId.empty()) {
      return notFound("network", source + " of tenant " + spec.tenantId);
    }
  }
  Bubble bubble;
  bubble.spec = spec;
  for (const auto& source : spec.sourceNetworkIds) {
    const auto& original = state_.portGroups.at(source);
    PortGroup twin;
    twin.bubbleId = spec.bubbleId;
    twin.info = {spec.bubbleId + "/" + source,
                 spec.tenantId,
                 original.info.subscriptionId,
                 0,
                 false,
                 true,
                 nextRefLocked("isolated-portgroup")};
    bubble.networkIds.push_back(twin.info.networkId);
    state_.portGroups.emplace(twin.info.networkId, std::move(twin));
  }
  state_.bubbles.emplace(spec.bubbleId, std::move(bubble));
  persistLocked();
  return {};
}

plugin::Status SimulatedVcenter::deleteBubble(const std::string& bubbleId) {
  std::lock_guard lock(mutex_);
  auto it = state_.bubbles.find(bubbleId);
  if (it == state_.bubbles.end()) return {};
  for (const auto& [id, vm] : state_.vms) {
    if (vm.copySpec.bubbleId == bubbleId) {
      return makeError(ErrorCode::kInvalidState,
                       "bubble " + bubbleId + " still has test copy " + id, "ResourceInUse");
    }
  }
  for (const auto& networkId : it->second.networkIds) state_.portGroups.erase(networkId);
  state_.bubbles.erase(it);
  persistLocked();
  return {};
}

plugin::Result<plugin::MachineInfo> SimulatedVcenter::createTestCopy(
    const plugin::TestCopySpec& spec) {
  if (!validId(spec.copyId)) {
    return makeError(ErrorCode::kInvalidArgument, "copyId must be 1-128 characters");
  }
  std::lock_guard lock(mutex_);
  if (auto it = state_.vms.find(spec.copyId); it != state_.vms.end()) {
    if (it->second.info.kind == plugin::MachineKind::kTestCopy && it->second.copySpec == spec) {
      return it->second.info;
    }
    return existsWithOtherSpec("machine", spec.copyId);
  }
  auto source = state_.vms.find(spec.sourceReplicaId);
  if (source == state_.vms.end() || source->second.info.kind != plugin::MachineKind::kReplica) {
    return notFound("replica", spec.sourceReplicaId);
  }
  // No point asked and none taken: a copy of the current disks.
  const auto& points = source->second.info.restorePoints;
  const std::string pointId = !spec.restorePointId.empty() ? spec.restorePointId
                              : points.empty()             ? std::string()
                                                           : points.back().restorePointId;
  if (!pointId.empty() && std::none_of(points.begin(), points.end(), [&](const auto& p) {
        return p.restorePointId == pointId;
      })) {
    return notFound("restore point", pointId + " of " + spec.sourceReplicaId);
  }
  auto bubble = state_.bubbles.find(spec.bubbleId);
  if (bubble == state_.bubbles.end() ||
      bubble->second.spec.tenantId != source->second.info.tenantId) {
    return notFound("bubble", spec.bubbleId);
  }
  Vm copy;
  copy.copySpec = spec;
  copy.baseRestorePointId = pointId;
  copy.spec = source->second.spec;
  copy.spec.replicaId = spec.copyId;
  copy.spec.disks.clear();  // overlays on the source's snapshot: no quota use
  const auto& sources = bubble->second.spec.sourceNetworkIds;
  for (auto& nic : copy.spec.nics) {
    auto at = std::find(sources.begin(), sources.end(), nic.networkId);
    if (at == sources.end()) {
      return makeError(ErrorCode::kInvalidArgument, "bubble " + spec.bubbleId +
                                                        " has no twin of network " + nic.networkId +
                                                        " used by replica " + spec.sourceReplicaId);
    }
    nic.networkId = bubble->second.networkIds[static_cast<std::size_t>(at - sources.begin())];
  }
  copy.host = source->second.host;
  copy.info.machineId = spec.copyId;
  copy.info.kind = plugin::MachineKind::kTestCopy;
  copy.info.tenantId = source->second.info.tenantId;
  copy.info.subscriptionId = source->second.info.subscriptionId;
  copy.info.sourceReplicaId = spec.sourceReplicaId;
  copy.info.name = source->second.info.name + " (test)";
  copy.info.nicMacs = source->second.info.nicMacs;  // same MACs: the bubble keeps them apart
  copy.info.platformRef = nextRefLocked("vm");
  auto [it, inserted] = state_.vms.emplace(spec.copyId, std::move(copy));
  persistLocked();
  return it->second.info;
}

plugin::Status SimulatedVcenter::deleteTestCopy(const std::string& copyId) {
  std::lock_guard lock(mutex_);
  auto it = state_.vms.find(copyId);
  if (it == state_.vms.end()) return {};
  if (it->second.info.kind != plugin::MachineKind::kTestCopy) {
    return makeError(ErrorCode::kInvalidArgument, copyId + " is a replica, not a test copy");
  }
  state_.vms.erase(it);  // powered off implicitly: cleanup is never refused
  persistLocked();
  return {};
}

}  // namespace warmsite::vspheremock

#include "libvirt_plugin.h"

#include <algorithm>
#include <set>
#include <thread>

#include "names.h"
#include "plugin_util.h"
#include "xml.h"

namespace warmsite::libvirtplugin {

using plugin::CallContext;
using plugin::ErrorCode;
using plugin::MachineKind;
using plugin::PowerState;
using plugin::Result;
using plugin::Status;

namespace {

Status validateReplicaSpec(const plugin::ReplicaSpec& spec) {
  for (auto status :
       {checkId("replicaId", spec.replicaId), checkId("subscriptionId", spec.subscriptionId),
        checkId("tenantId", spec.tenantId), checkText("name", spec.name)}) {
    if (!status.ok()) return status;
  }
  if (spec.vcpus == 0 || spec.memoryMb == 0) {
    return plugin::makeError(ErrorCode::kInvalidArgument,
                             "replica " + spec.replicaId +
                                 " needs at least 1 vCPU and 1 MB of memory (vcpus, memoryMb)");
  }
  std::set<std::string> ids;
  for (const auto& disk : spec.disks) {
    if (!checkId("disks[].diskId", disk.diskId).ok() || !ids.insert(disk.diskId).second) {
      return plugin::makeError(ErrorCode::kInvalidArgument,
                               "disk ids of replica " + spec.replicaId +
                                   " must be non-empty and unique (disks[].diskId)");
    }
    if (disk.sizeGb == 0) {
      return plugin::makeError(ErrorCode::kInvalidArgument,
                               "disk " + disk.diskId + " has size 0 (disks[].sizeGb)");
    }
    if (volumeName(spec.replicaId, disk.diskId).size() > kMaxLibvirtName) {
      return plugin::makeError(
          ErrorCode::kInvalidArgument,
          "replicaId and diskId " + disk.diskId + " are too long for a volume file name");
    }
  }
  ids.clear();
  for (const auto& nic : spec.nics) {
    if (!checkId("nics[].nicId", nic.nicId).ok() || !ids.insert(nic.nicId).second) {
      return plugin::makeError(
          ErrorCode::kInvalidArgument,
          "NIC ids of replica " + spec.replicaId + " must be non-empty and unique (nics[].nicId)");
    }
    if (auto status = checkId("nics[].networkId", nic.networkId); !status.ok()) return status;
    if (!nic.mac.empty() && !validUnicastMac(nic.mac)) {
      return plugin::makeError(
          ErrorCode::kInvalidArgument,
          "nics[].mac \"" + nic.mac + "\" of NIC " + nic.nicId + " is not a unicast MAC address");
    }
  }
  return {};
}

std::string volumeXml(const std::string& name, std::uint64_t sizeGb,
                      const std::string& backingPath) {
  std::string xml = "<volume><name>" + xmlEscape(name) + "</name><capacity unit='GiB'>" +
                    std::to_string(sizeGb) +
                    "</capacity><allocation>0</allocation><target><format type='qcow2'/></target>";
  if (!backingPath.empty()) {
    xml += "<backingStore><path>" + xmlEscape(backingPath) +
           "</path><format type='qcow2'/></backingStore>";
  }
  return xml + "</volume>";
}

plugin::MachineInfo infoOf(const MachineRecord& record, std::vector<std::string> macs,
                           PowerState power, std::string platformRef) {
  plugin::MachineInfo info;
  info.machineId = record.spec.replicaId;
  info.kind = record.kind;
  info.tenantId = record.spec.tenantId;
  info.subscriptionId = record.spec.subscriptionId;
  info.sourceReplicaId = record.copySpec.sourceReplicaId;
  info.name = record.spec.name;
  info.power = power;
  info.nicMacs = std::move(macs);
  info.platformRef = std::move(platformRef);
  return info;
}

}  // namespace

// ---- lifecycle
// -------------------------------------------------------------------------------------

plugin::CreateResult create(const plugin::FactoryArgs& args) {
  auto config = parseConfig(args.configJson);
  if (!config.ok()) return std::move(config).error();
  auto plugin = std::make_unique<LibvirtPlugin>(std::move(config).value(), *args.host);
  if (auto status = plugin->start(); !status.ok()) return std::move(status).error();
  return std::unique_ptr<plugin::CloudHostPlugin>(std::move(plugin));
}

LibvirtPlugin::LibvirtPlugin(Config config, plugin::HostServices& host)
    : config_(std::move(config)), host_(host) {
  if (config_.edge) edge_.emplace(*config_.edge);
}

LibvirtPlugin::~LibvirtPlugin() {
  // The monitor's hooks use the pool: stop it first.
  monitor_.reset();
  pool_.reset();
}

Status LibvirtPlugin::start() {
  PowerMonitor::Hooks hooks;
  hooks.readPower = [this](const std::string& id) -> Result<PowerState> {
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    auto domain = lookupDomain((*conn)->get(), id);
    if (!domain.ok()) return std::move(domain).error();
    auto state = domainState(domain->get());
    if (!state.ok()) return std::move(state).error();
    return powerOf(*state);
  };
  hooks.owned = [this](const std::string& id) { return ledger_.hasMachine(id); };
  hooks.reconnect = [this]() -> Status {
    auto conn = pool_->slot(0);
    if (!conn.ok()) return std::move(conn).error();
    host_.log(plugin::LogLevel::kInfo, "reconnected to " + config_.uri);
    return {};
  };
  hooks.retryDelay = [this] { return pool_->retryDelay(0); };
  monitor_ = std::make_unique<PowerMonitor>(host_, locks_, std::move(hooks));

  PoolOptions options;
  options.uri = config_.uri;
  options.size = config_.poolSize;
  options.keepOpenForProcess = config_.uriKind == UriKind::kTestFile;
  options.remote = config_.uriKind == UriKind::kRemote;
  options.username = config_.username;
  options.password = config_.password;
  options.reconnectInitial = config_.reconnectInitial;
  options.reconnectMax = config_.reconnectMax;
  auto notifyClosed = monitor_->closedNotifier();
  auto pool = ConnectionPool::open(
      std::move(options),
      [this](Connection& connection, std::size_t slot) -> Status {
        if (slot != 0) return {};
        if (auto status = monitor_->watch(connection); !status.ok()) return status;
        // A reopened connection may lead to a changed host (a restarted daemon that lost its
        // test state, an operator's edits meanwhile): the ledger is read from it again.
        return started_ ? loadLedger(connection.get()) : Status();
      },
      [this, notifyClosed](std::size_t slot, int reason) {
        if (slot != 0) return;  // other slots reopen when a call next needs them
        host_.log(plugin::LogLevel::kWarning, "connection to " + config_.uri + " closed (reason " +
                                                  std::to_string(reason) + "); reconnecting");
        notifyClosed();
      });
  if (!pool.ok()) return std::move(pool).error();
  pool_ = std::move(pool).value();

  auto conn = pool_->slot(0);
  if (!conn.ok()) return std::move(conn).error();
  virNodeInfo node{};
  if (virNodeGetInfo((*conn)->get(), &node) < 0) return lastError("reading host information");
  hostCpuMhz_ = node.mhz;
  for (const auto& name : config_.storagePools) {
    PoolHandle storage(virStoragePoolLookupByName((*conn)->get(), name.c_str()));
    if (!storage) {
      return plugin::makeError(
          ErrorCode::kInvalidArgument,
          "config field \"storage_pools\": no storage pool \"" + name + "\" on " + config_.uri);
    }
  }
  if (auto status = loadLedger((*conn)->get()); !status.ok()) return status;
  started_ = true;
  monitor_->start();
  return {};
}

Status LibvirtPlugin::loadLedger(virConnectPtr conn) {
  NetworkList networks;
  const int count = virConnectListAllNetworks(conn, networks.out(), 0);
  if (count < 0) return lastError("listing networks");
  networks.setCount(count);
  std::vector<plugin::TenantResourcesSpec> subscriptions;
  std::vector<NetworkRecord> records;
  for (virNetworkPtr network : networks) {
    const std::string name = virNetworkGetName(network);
    if (name.rfind("ws-", 0) != 0) continue;
    auto doc = XmlDocument::parse(takeString(virNetworkGetXMLDesc(network, 0)));
    if (!doc) continue;
    if (auto subscription = parseSubscriptionRecord(*doc)) {
      subscriptions.push_back(std::move(*subscription));
    } else if (auto record = parseNetworkRecord(*doc)) {
      records.push_back(std::move(*record));
    }
  }
  auto machines = readMachineRecords(conn);
  if (!machines.ok()) return std::move(machines).error();
  ledger_.reset(std::move(subscriptions), std::move(records), std::move(machines).value());
  return {};
}

plugin::Capabilities LibvirtPlugin::capabilities() const noexcept {
  plugin::Capabilities caps;
  caps.compute = true;
  caps.network = caps.testIsolation = config_.network.has_value();
  caps.edge = edge_.has_value();
  caps.gracefulShutdown = true;
  return caps;
}

Status LibvirtPlugin::checkHealth(const CallContext& ctx) noexcept {
  return guarded("check health", ctx, [&]() -> Status {
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    virNodeInfo node{};
    if (virNodeGetInfo((*conn)->get(), &node) < 0) return lastError("health check");
    return {};
  });
}

// ---- reading machines
// ------------------------------------------------------------------------------

Result<std::vector<MachineRecord>> LibvirtPlugin::readMachineRecords(virConnectPtr conn) {
  DomainList domains;
  const int count = virConnectListAllDomains(conn, domains.out(), 0);
  if (count < 0) return lastError("listing domains");
  domains.setCount(count);
  std::vector<MachineRecord> records;
  for (virDomainPtr domain : domains) {
    if (!machineIdOf(virDomainGetName(domain))) continue;
    auto doc = XmlDocument::parse(takeString(virDomainGetXMLDesc(domain, 0)));
    if (!doc) continue;  // undefined while we listed
    if (auto record = parseMachineRecord(*doc)) records.push_back(std::move(*record));
  }
  return records;
}

Result<std::vector<plugin::RestorePointInfo>> LibvirtPlugin::readRestorePoints(
    virDomainPtr domain) {
  SnapshotList snapshots;
  const int count =
      virDomainListAllSnapshots(domain, snapshots.out(), VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL);
  if (count < 0) return lastError("listing snapshots");
  snapshots.setCount(count);
  std::vector<plugin::RestorePointInfo> points;
  for (virDomainSnapshotPtr snapshot : snapshots) {
    auto doc = XmlDocument::parse(takeString(virDomainSnapshotGetXMLDesc(snapshot, 0)));
    if (!doc) continue;
    if (auto point = parseSnapshot(*doc)) points.push_back(std::move(*point));
  }
  // Oldest first. Creation times have one-second resolution; within a second the topological
  // order (a parent before its children) decides.
  std::stable_sort(points.begin(), points.end(),
                   [](const auto& a, const auto& b) { return a.createdUnix < b.createdUnix; });
  return points;
}

Result<plugin::MachineInfo> LibvirtPlugin::readMachine(virDomainPtr domain) {
  const std::string name = virDomainGetName(domain);
  auto doc = XmlDocument::parse(takeString(virDomainGetXMLDesc(domain, 0)));
  if (!doc) return lastError("reading domain " + name);
  auto record = parseMachineRecord(*doc);
  if (!record) return notFound("Warmsite machine in domain", name);
  auto state = domainState(domain);
  if (!state.ok()) return std::move(state).error();
  auto info = infoOf(*record, interfaceMacs(*doc), powerOf(*state), uuidOf(domain));
  if (record->kind == MachineKind::kReplica) {
    auto points = readRestorePoints(domain);
    if (!points.ok()) return std::move(points).error();
    info.restorePoints = std::move(points).value();
  }
  return info;
}

Result<plugin::MachineInfo> LibvirtPlugin::readMachine(virConnectPtr conn, const std::string& id) {
  auto domain = lookupDomain(conn, id);
  if (!domain.ok()) return std::move(domain).error();
  return readMachine(domain->get());
}

Result<plugin::MachineInfo> LibvirtPlugin::machine(const std::string& machineId,
                                                   const CallContext& ctx) noexcept {
  return guarded("machine", ctx, [&]() -> Result<plugin::MachineInfo> {
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    return readMachine((*conn)->get(), machineId);
  });
}

Result<std::vector<plugin::MachineInfo>> LibvirtPlugin::inventory(const CallContext& ctx) noexcept {
  return guarded("inventory", ctx, [&]() -> Result<std::vector<plugin::MachineInfo>> {
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    DomainList domains;
    const int count = virConnectListAllDomains((*conn)->get(), domains.out(), 0);
    if (count < 0) return lastError("listing domains");
    domains.setCount(count);
    std::vector<plugin::MachineInfo> machines;
    for (virDomainPtr domain : domains) {
      if (!machineIdOf(virDomainGetName(domain))) continue;
      auto info = readMachine(domain);
      if (info.ok()) {
        machines.push_back(std::move(info).value());
      } else if (info.error().code != ErrorCode::kNotFound) {
        return std::move(info).error();
      }
    }
    return machines;
  });
}

// ---- tenant resources
// ------------------------------------------------------------------------------

Result<plugin::TenantResources> LibvirtPlugin::readTenantResources(virConnectPtr conn,
                                                                   const std::string& id) {
  NetworkHandle network(virNetworkLookupByName(conn, subscriptionName(id).c_str()));
  if (!network) {
    if (lastErrorCode() == VIR_ERR_NO_NETWORK) return notFound("resources of subscription", id);
    return lastError("reading subscription " + id);
  }
  auto doc = XmlDocument::parse(takeString(virNetworkGetXMLDesc(network.get(), 0)));
  auto spec = doc ? parseSubscriptionRecord(*doc) : std::nullopt;
  if (!spec) return notFound("resources of subscription", id);
  auto machines = readMachineRecords(conn);
  if (!machines.ok()) return std::move(machines).error();
  plugin::TenantResources resources;
  resources.subscriptionId = id;
  resources.tenantId = spec->tenantId;
  resources.platformRef = uuidOf(network.get());
  for (const auto& storage : spec->storages) {
    std::uint64_t used = 0;
    for (const auto& record : *machines) {
      if (record.kind != MachineKind::kReplica || record.spec.subscriptionId != id) continue;
      for (const auto& disk : record.spec.disks) {
        if (disk.storage == storage.name) used += disk.sizeGb;
      }
    }
    resources.storages.push_back({storage.name, storage.quotaGb, used});
  }
  return resources;
}

Result<plugin::TenantResources> LibvirtPlugin::applyTenantResources(
    const plugin::TenantResourcesSpec& spec, const CallContext& ctx) noexcept {
  return guarded("apply tenant resources", ctx, [&]() -> Result<plugin::TenantResources> {
    for (auto status :
         {checkId("subscriptionId", spec.subscriptionId), checkId("tenantId", spec.tenantId),
          checkText("tenantName", spec.tenantName)}) {
      if (!status.ok()) return std::move(status).error();
    }
    std::set<std::string> names;
    for (const auto& storage : spec.storages) {
      if (!checkId("storages[].name", storage.name).ok() || !names.insert(storage.name).second) {
        return plugin::makeError(ErrorCode::kInvalidArgument,
                                 "plan storage names must be non-empty and unique: \"" +
                                     storage.name + "\" (storages[].name)");
      }
      const auto& allowed = config_.storagePools;
      if (!allowed.empty() &&
          std::find(allowed.begin(), allowed.end(), storage.backendStorage) == allowed.end()) {
        return plugin::makeError(ErrorCode::kInvalidArgument,
                                 "storages[].backendStorage \"" + storage.backendStorage +
                                     "\" of plan storage " + storage.name +
                                     " is not one of the host's storage_pools");
      }
    }
    std::lock_guard topology(topologyMutex_);
    if (auto status = ledger_.checkResourcesUpdate(spec); !status.ok()) {
      return std::move(status).error();
    }
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    for (const auto& storage : spec.storages) {
      PoolHandle pool(virStoragePoolLookupByName((*conn)->get(), storage.backendStorage.c_str()));
      if (!pool) {
        if (lastErrorCode() == VIR_ERR_NO_STORAGE_POOL) {
          return notFound("storage pool", storage.backendStorage);
        }
        return lastError("looking up storage pool " + storage.backendStorage);
      }
    }
    if (ledger_.subscription(spec.subscriptionId) != spec) {
      NetworkDefinition record;
      record.name = subscriptionName(spec.subscriptionId);
      record.metadata = subscriptionMetadata(spec);
      NetworkHandle existing(virNetworkLookupByName((*conn)->get(), record.name.c_str()));
      if (existing) record.uuid = uuidOf(existing.get());  // a redefinition keeps the uuid
      if (auto status = defineNetwork((*conn)->get(), record, false); !status.ok()) {
        return std::move(status).error();
      }
      ledger_.putSubscription(spec);
    }
    return readTenantResources((*conn)->get(), spec.subscriptionId);
  });
}

Status LibvirtPlugin::releaseTenantResources(const std::string& subscriptionId,
                                             const CallContext& ctx) noexcept {
  return guarded("release tenant resources", ctx, [&]() -> Status {
    std::lock_guard topology(topologyMutex_);
    auto taken = ledger_.takeSubscription(subscriptionId);
    if (!taken.ok()) {
      return taken.error().code == ErrorCode::kNotFound ? Status() : Status(taken.error());
    }
    auto conn = pool_->acquire();
    Status removed = conn.ok() ? removeNetwork((*conn)->get(), subscriptionName(subscriptionId))
                               : Status(std::move(conn).error());
    if (!removed.ok()) ledger_.putSubscription(*taken);
    return removed;
  });
}

Result<plugin::TenantResources> LibvirtPlugin::tenantResources(const std::string& subscriptionId,
                                                               const CallContext& ctx) noexcept {
  return guarded("tenant resources", ctx, [&]() -> Result<plugin::TenantResources> {
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    return readTenantResources((*conn)->get(), subscriptionId);
  });
}

// ---- replicas
// --------------------------------------------------------------------------------------

Result<plugin::MachineInfo> LibvirtPlugin::defineMachine(virConnectPtr conn,
                                                         const MachineRecord& record,
                                                         DomainLayout layout) {
  const auto& id = record.spec.replicaId;
  std::vector<VolumeRef> created;
  auto fail = [&](plugin::Error error) -> Result<plugin::MachineInfo> {
    if (auto cleanup = deleteVolumes(conn, created); !cleanup.ok()) {
      host_.log(plugin::LogLevel::kWarning, "left behind: " + cleanup.error().message);
    }
    ledger_.eraseMachine(id);
    return error;
  };
  for (std::size_t i = 0; i < record.volumes.size(); ++i) {
    const auto& ref = record.volumes[i];
    PoolHandle pool(virStoragePoolLookupByName(conn, ref.pool.c_str()));
    if (!pool) return fail(lastError("looking up storage pool " + ref.pool));
    // A volume of this name with no domain is left from a create that crashed: it is ours.
    if (VolumeHandle orphan{virStorageVolLookupByName(pool.get(), ref.volume.c_str())}) {
      virStorageVolDelete(orphan.get(), 0);
    }
    const std::string backing = i < layout.backingPaths.size() ? layout.backingPaths[i] : "";
    VolumeHandle volume(virStorageVolCreateXML(
        pool.get(), volumeXml(ref.volume, record.spec.disks[i].sizeGb, backing).c_str(), 0));
    if (!volume) return fail(lastError("creating volume " + ref.volume));
    created.push_back(ref);
  }
  layout.domainType = config_.domainType;
  layout.hostCpuMhz = hostCpuMhz_;
  DomainHandle domain(virDomainDefineXML(conn, renderDomainXml(record, layout).c_str()));
  if (!domain) {
    auto error = lastError("defining machine " + id);
    if (error.code == ErrorCode::kInternal && lastErrorCode() == VIR_ERR_OPERATION_FAILED) {
      error.code = ErrorCode::kAlreadyExists;  // a domain of that name appeared meanwhile
    }
    return fail(std::move(error));
  }
  ledger_.commitMachine(id);
  monitor_->settled(id, PowerState::kOff);
  return infoOf(record, layout.macs, PowerState::kOff, uuidOf(domain.get()));
}

Status LibvirtPlugin::deleteVolumes(virConnectPtr conn, const std::vector<VolumeRef>& volumes) {
  for (const auto& ref : volumes) {
    PoolHandle pool(virStoragePoolLookupByName(conn, ref.pool.c_str()));
    if (!pool) {
      if (lastErrorCode() == VIR_ERR_NO_STORAGE_POOL) continue;
      return lastError("looking up storage pool " + ref.pool);
    }
    VolumeHandle volume(virStorageVolLookupByName(pool.get(), ref.volume.c_str()));
    if (!volume) {
      if (lastErrorCode() == VIR_ERR_NO_STORAGE_VOL) continue;
      return lastError("looking up volume " + ref.volume);
    }
    if (virStorageVolDelete(volume.get(), 0) < 0) return lastError("deleting volume " + ref.volume);
  }
  return {};
}

Result<plugin::MachineInfo> LibvirtPlugin::createReplica(const plugin::ReplicaSpec& spec,
                                                         const CallContext& ctx) noexcept {
  return guarded("create replica", ctx, [&]() -> Result<plugin::MachineInfo> {
    if (auto status = validateReplicaSpec(spec); !status.ok()) return std::move(status).error();
    auto guard = locks_.lock(spec.replicaId);
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    if (auto existing = ledger_.machine(spec.replicaId)) {
      if (existing->kind == MachineKind::kReplica && existing->spec == spec) {
        return readMachine((*conn)->get(), spec.replicaId);
      }
      return plugin::makeError(ErrorCode::kAlreadyExists,
                               "machine " + spec.replicaId + " already exists with another spec");
    }
    MachineRecord record;
    record.spec = spec;
    const auto plan = ledger_.subscription(spec.subscriptionId);
    DomainLayout layout;
    for (const auto& disk : spec.disks) {
      std::string pool;
      if (plan) {
        for (const auto& storage : plan->storages) {
          if (storage.name == disk.storage) pool = storage.backendStorage;
        }
      }
      record.volumes.push_back({pool, volumeName(spec.replicaId, disk.diskId)});
    }
    for (const auto& nic : spec.nics) {
      layout.macs.push_back(nic.mac.empty() ? randomMac() : nic.mac);
      layout.networkNames.push_back(networkName(nic.networkId));
    }
    if (auto status = ledger_.reserveReplica(record); !status.ok()) {
      return std::move(status).error();
    }
    return defineMachine((*conn)->get(), record, std::move(layout));
  });
}

Status LibvirtPlugin::removeMachine(const MachineRecord& record, bool forceRunning) {
  const auto& id = record.spec.replicaId;
  auto conn = pool_->acquire();
  if (!conn.ok()) return std::move(conn).error();
  auto machine = lookupWithPower((*conn)->get(), id);
  if (machine.ok()) {
    virDomainPtr domain = machine->domain.get();
    if (machine->power != PowerState::kOff) {
      if (!forceRunning) {
        return plugin::makeError(ErrorCode::kInvalidState,
                                 "machine " + id + " is powered on; power it off first");
      }
      if (auto status = forceOff(domain, id); !status.ok()) return status;
    }
    const unsigned flags =
        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE;
    if (virDomainUndefineFlags(domain, flags) < 0) return lastError("deleting machine " + id);
  } else if (machine.error().code != ErrorCode::kNotFound) {
    return std::move(machine).error();
  }
  // The ledger keeps the record until the volumes are gone too, so a retry finishes the job.
  if (auto status = deleteVolumes((*conn)->get(), record.volumes); !status.ok()) return status;
  ledger_.eraseMachine(id);
  monitor_->settled(id, std::nullopt);
  return {};
}

Status LibvirtPlugin::deleteReplica(const std::string& replicaId, const CallContext& ctx) noexcept {
  return guarded("delete replica", ctx, [&]() -> Status {
    auto guard = locks_.lock(replicaId);
    const auto record = ledger_.machine(replicaId);
    if (!record) return {};
    if (record->kind != MachineKind::kReplica) {
      return plugin::makeError(ErrorCode::kInvalidArgument,
                               replicaId + " is a test copy; delete it through test isolation");
    }
    if (auto status = ledger_.checkReplicaDeletable(replicaId); !status.ok()) return status;
    return removeMachine(*record, false);
  });
}

// ---- power
// -----------------------------------------------------------------------------------------

Status LibvirtPlugin::powerOn(const std::string& machineId, const CallContext& ctx) noexcept {
  return guarded("power on", ctx, [&]() -> Status {
    auto guard = locks_.lock(machineId);
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    auto machine = lookupWithPower((*conn)->get(), machineId);
    if (!machine.ok()) return std::move(machine).error();
    if (machine->power == PowerState::kOn) {
      return plugin::makeError(ErrorCode::kInvalidState,
                               "machine " + machineId + " is already powered on");
    }
    virDomainPtr domain = machine->domain.get();
    const int started = machine->power == PowerState::kSuspended ? virDomainResume(domain)
                                                                 : virDomainCreate(domain);
    if (started < 0) return lastError("powering on machine " + machineId);
    monitor_->settled(machineId, PowerState::kOn);
    return {};
  });
}

Status LibvirtPlugin::forceOff(virDomainPtr domain, const std::string& machineId) {
  if (virDomainDestroy(domain) == 0) return {};
  auto error = lastError("powering off machine " + machineId);
  // It may have stopped on its own between the state check and the call.
  auto state = domainState(domain);
  if (state.ok() && powerOf(*state) == PowerState::kOff) return {};
  return error;
}

Status LibvirtPlugin::powerOff(const std::string& machineId, const plugin::PowerOffOptions& options,
                               const CallContext& ctx) noexcept {
  return guarded("power off", ctx, [&]() -> Status {
    auto guard = locks_.lock(machineId);
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    auto machine = lookupWithPower((*conn)->get(), machineId);
    if (!machine.ok()) return std::move(machine).error();
    if (machine->power == PowerState::kOff) {
      return plugin::makeError(ErrorCode::kInvalidState,
                               "machine " + machineId + " is already powered off");
    }
    virDomainPtr domain = machine->domain.get();
    // A paused guest cannot answer the ACPI request: it is forced off at once.
    if (options.graceful && machine->power == PowerState::kOn && virDomainShutdown(domain) == 0) {
      const auto start = std::chrono::steady_clock::now();
      const auto until = std::min(ctx.deadline, start + options.gracefulTimeout);
      auto pause = std::chrono::milliseconds(5);
      while (true) {
        auto state = domainState(domain);
        if (!state.ok()) return std::move(state).error();
        if (powerOf(*state) == PowerState::kOff) {
          monitor_->settled(machineId, PowerState::kOff);
          return {};
        }
        if (ctx.cancelled()) {
          return plugin::makeError(
              ErrorCode::kCancelled,
              "power off of " + machineId + " cancelled while the guest shuts down");
        }
        if (std::chrono::steady_clock::now() >= until) break;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            pause, until - std::chrono::steady_clock::now()));
        pause = std::min(pause * 2, std::chrono::milliseconds(200));
      }
      if (ctx.expired()) {
        return plugin::makeError(ErrorCode::kTimeout, "machine " + machineId +
                                                          " is still shutting down at the call's "
                                                          "deadline");
      }
      host_.log(plugin::LogLevel::kInfo, "machine " + machineId + " ignored the shutdown for " +
                                             std::to_string(options.gracefulTimeout.count()) +
                                             " ms; forcing it off");
    }
    if (auto status = forceOff(domain, machineId); !status.ok()) return status;
    monitor_->settled(machineId, PowerState::kOff);
    return {};
  });
}

// ---- restore points
// --------------------------------------------------------------------------------

Result<plugin::RestorePointInfo> LibvirtPlugin::createRestorePoint(
    const std::string& replicaId, const std::string& restorePointId, const std::string& description,
    const CallContext& ctx) noexcept {
  return guarded("create restore point", ctx, [&]() -> Result<plugin::RestorePointInfo> {
    for (auto status :
         {checkId("restorePointId", restorePointId), checkText("description", description)}) {
      if (!status.ok()) return std::move(status).error();
    }
    auto guard = locks_.lock(replicaId);
    const auto record = ledger_.machine(replicaId);
    if (!record || record->kind != MachineKind::kReplica) return notFound("replica", replicaId);
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    auto domain = lookupDomain((*conn)->get(), replicaId);
    if (!domain.ok()) return std::move(domain).error();
    SnapshotHandle snapshot(
        virDomainSnapshotLookupByName(domain->get(), snapshotName(restorePointId).c_str(), 0));
    if (!snapshot) {
      if (lastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
        return lastError("looking up restore point " + restorePointId);
      }
      snapshot.reset(virDomainSnapshotCreateXML(
          domain->get(), renderSnapshotXml(restorePointId, description).c_str(), 0));
      if (!snapshot) return lastError("creating restore point " + restorePointId);
    }
    auto doc = XmlDocument::parse(takeString(virDomainSnapshotGetXMLDesc(snapshot.get(), 0)));
    auto point = doc ? parseSnapshot(*doc) : std::nullopt;
    if (!point) return lastError("reading restore point " + restorePointId);
    return *point;
  });
}

Result<std::vector<plugin::RestorePointInfo>> LibvirtPlugin::listRestorePoints(
    const std::string& replicaId, const CallContext& ctx) noexcept {
  return guarded("list restore points", ctx,
                 [&]() -> Result<std::vector<plugin::RestorePointInfo>> {
                   auto conn = pool_->acquire();
                   if (!conn.ok()) return std::move(conn).error();
                   auto info = readMachine((*conn)->get(), replicaId);
                   if (!info.ok() || info->kind != MachineKind::kReplica) {
                     return info.ok() || info.error().code == ErrorCode::kNotFound
                                ? notFound("replica", replicaId)
                                : std::move(info).error();
                   }
                   return std::move(info->restorePoints);
                 });
}

Status LibvirtPlugin::revertToRestorePoint(const std::string& replicaId,
                                           const std::string& restorePointId,
                                           const CallContext& ctx) noexcept {
  return guarded("revert to restore point", ctx, [&]() -> Status {
    auto guard = locks_.lock(replicaId);
    const auto record = ledger_.machine(replicaId);
    if (!record || record->kind != MachineKind::kReplica) return notFound("replica", replicaId);
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    auto machine = lookupWithPower((*conn)->get(), replicaId);
    if (!machine.ok()) return std::move(machine).error();
    virDomainPtr domain = machine->domain.get();
    auto snapshot = lookupRestorePoint(domain, replicaId, restorePointId);
    if (!snapshot.ok()) return std::move(snapshot).error();
    if (machine->power != PowerState::kOff) {
      return plugin::makeError(ErrorCode::kInvalidState,
                               "machine " + replicaId + " must be powered off to revert");
    }
    if (virDomainRevertToSnapshot(snapshot->get(), 0) < 0) {
      return lastError("reverting " + replicaId + " to " + restorePointId);
    }
    // A snapshot taken while running restarts the domain: the ABI reverts disks only.
    if (virDomainIsActive(domain) == 1) {
      if (auto status = forceOff(domain, replicaId); !status.ok()) return status;
    }
    monitor_->settled(replicaId, PowerState::kOff);
    // The snapshot's definition came back with it, disk sources included.
    return rereadRecord(domain, replicaId);
  });
}

Status LibvirtPlugin::rereadRecord(virDomainPtr domain, const std::string& machineId) {
  auto doc = XmlDocument::parse(takeString(virDomainGetXMLDesc(domain, VIR_DOMAIN_XML_INACTIVE)));
  if (!doc) return lastError("reading machine " + machineId);
  if (auto record = parseMachineRecord(*doc)) ledger_.replaceMachine(*record);
  return {};
}

Status LibvirtPlugin::useDiskData(const std::string& machineId,
                                  const std::vector<plugin::DiskData>& disks,
                                  const CallContext& ctx) noexcept {
  return guarded("use disk data", ctx, [&]() -> Status {
    auto guard = locks_.lock(machineId);
    const auto record = ledger_.machine(machineId);
    if (!record) return notFound("machine", machineId);
    auto next = *record;
    const auto& specDisks = record->spec.disks;
    next.dataPaths.resize(specDisks.size());
    if (disks.empty()) next.dataPaths.clear();  // every disk back to its volume
    std::set<std::string> listed;
    for (const auto& disk : disks) {
      const auto at =
          std::find_if(specDisks.begin(), specDisks.end(),
                       [&](const plugin::DiskSpec& d) { return d.diskId == disk.diskId; });
      if (at == specDisks.end() || disk.path.empty() || disk.path.front() != '/' ||
          !listed.insert(disk.diskId).second) {
        return plugin::makeError(ErrorCode::kInvalidArgument,
                                 "disk " + disk.diskId + " of machine " + machineId +
                                     ": not one of its disks, listed twice, or a relative path");
      }
      next.dataPaths[static_cast<std::size_t>(at - specDisks.begin())] = disk.path;
    }
    dropUnusedDataPaths(next);
    if (next == *record) return {};
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    auto machine = lookupWithPower((*conn)->get(), machineId);
    if (!machine.ok()) return std::move(machine).error();
    if (machine->power != PowerState::kOff) {
      return plugin::makeError(ErrorCode::kInvalidState,
                               "machine " + machineId + " must be powered off to change its disks");
    }
    // The definition again, from the record, with what the running one has of its own.
    auto doc = XmlDocument::parse(
        takeString(virDomainGetXMLDesc(machine->domain.get(), VIR_DOMAIN_XML_INACTIVE)));
    if (!doc) return lastError("reading machine " + machineId);
    DomainLayout layout;
    layout.domainType = config_.domainType;
    layout.hostCpuMhz = hostCpuMhz_;
    layout.uuid = uuidOf(machine->domain.get());
    layout.macs = interfaceMacs(*doc);
    layout.networkNames = interfaceNetworks(*doc);
    DomainHandle redefined(
        virDomainDefineXML((*conn)->get(), renderDomainXml(next, layout).c_str()));
    if (!redefined) return lastError("redefining machine " + machineId);
    ledger_.replaceMachine(next);
    return {};
  });
}

Result<std::vector<plugin::DiskData>> LibvirtPlugin::diskData(const std::string& machineId,
                                                              const CallContext& ctx) noexcept {
  return guarded("disk data", ctx, [&]() -> Result<std::vector<plugin::DiskData>> {
    const auto record = ledger_.machine(machineId);
    if (!record) return notFound("machine", machineId);
    std::vector<plugin::DiskData> disks;
    for (std::size_t i = 0; i < record->dataPaths.size(); ++i) {
      if (!record->dataPaths[i].empty())
        disks.push_back({record->spec.disks.at(i).diskId, record->dataPaths[i]});
    }
    return disks;
  });
}

Status LibvirtPlugin::deleteRestorePoint(const std::string& replicaId,
                                         const std::string& restorePointId,
                                         const CallContext& ctx) noexcept {
  return guarded("delete restore point", ctx, [&]() -> Status {
    auto guard = locks_.lock(replicaId);
    if (!ledger_.machine(replicaId)) return {};
    if (auto status = ledger_.checkRestorePointDeletable(replicaId, restorePointId); !status.ok()) {
      return status;
    }
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    auto domain = lookupDomain((*conn)->get(), replicaId);
    if (!domain.ok()) {
      return domain.error().code == ErrorCode::kNotFound ? Status() : Status(domain.error());
    }
    auto snapshot = lookupRestorePoint(domain->get(), replicaId, restorePointId);
    if (!snapshot.ok()) {
      return snapshot.error().code == ErrorCode::kNotFound ? Status() : Status(snapshot.error());
    }
    if (virDomainSnapshotDelete(snapshot->get(), 0) < 0) {
      return lastError("deleting restore point " + restorePointId);
    }
    return {};
  });
}

}  // namespace warmsite::libvirtplugin

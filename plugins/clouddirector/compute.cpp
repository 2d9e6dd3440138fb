#include "compute.h"

#include <algorithm>
#include <ctime>
#include <regex>
#include <set>

#include "guarded.h"
#include "tags.h"
#include "util.h"
#include "xml_writer.h"

namespace warmsite::clouddirector {

using plugin::ErrorCode;

namespace {

// vApp and VM `status` values (pyvcloud's VCLOUD_STATUS_MAP).
constexpr int kFailedCreation = -1, kUnresolved = 0, kSuspended = 3, kPoweredOn = 4;

constexpr std::uint32_t kMaxNics = 10;  // what a VM's virtual hardware takes
constexpr std::size_t kMaxDisks = 60;   // 4 SCSI buses of 15 units

int statusOf(const Json& entity) {
  return numberOf(entity, "status", kUnresolved);
}

std::optional<Json> vmOf(const Json& vapp) {
  const Json children = objectOf(vapp, "children");
  const Json vms = children.is_object() ? arrayOf(children, "vm") : Json::array();
  if (vms.empty()) return std::nullopt;
  return vms.front();
}

Json sectionOf(const Json& vm, const std::string& type) {
  for (const auto& section : arrayOf(vm, "section")) {
    if (textOf(section, "_type") == type) return section;
  }
  return Json::object();
}

// The VM's restore point: its description names it, and its snapshot must really be there.
std::optional<plugin::RestorePointInfo> restorePointOf(const Json& vm) {
  const Json snapshots = arrayOf(sectionOf(vm, "SnapshotSectionType"), "snapshot");
  if (snapshots.empty()) return std::nullopt;
  return parseRestorePointTag(textOf(vm, "description"));
}

plugin::PowerState powerOf(int status) {
  if (status == kPoweredOn) return plugin::PowerState::kOn;
  if (status == kSuspended) return plugin::PowerState::kSuspended;
  return plugin::PowerState::kOff;
}

void validateReplica(const plugin::ReplicaSpec& spec) {
  const std::string& id = spec.replicaId;
  if (id.empty() || id.size() > 120)
    fail(ErrorCode::kInvalidArgument, "replicaId must be 1-120 characters");
  if (spec.subscriptionId.empty() || spec.tenantId.empty()) {
    fail(ErrorCode::kInvalidArgument, "replica " + id + " needs a subscriptionId and a tenantId");
  }
  if (spec.vcpus == 0 || spec.vcpus > 128 || spec.memoryMb < 4) {
    fail(ErrorCode::kInvalidArgument,
         "replica " + id + " needs 1-128 vCPUs and at least 4 MB of memory");
  }
  if (spec.disks.size() > kMaxDisks || spec.nics.size() > kMaxNics) {
    fail(ErrorCode::kInvalidArgument, "replica " + id + " has more than " +
                                          std::to_string(kMaxDisks) + " disks or " +
                                          std::to_string(kMaxNics) + " NICs");
  }
  std::set<std::string> ids;
  for (const auto& disk : spec.disks) {
    if (disk.diskId.empty() || !ids.insert("disk:" + disk.diskId).second || disk.sizeGb == 0) {
      fail(ErrorCode::kInvalidArgument,
           "replica " + id + ": disk ids must be unique and non-empty, sizes above 0");
    }
  }
  static const std::regex kMac("^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$");
  for (const auto& nic : spec.nics) {
    if (nic.nicId.empty() || !ids.insert("nic:" + nic.nicId).second || nic.networkId.empty()) {
      fail(ErrorCode::kInvalidArgument,
           "replica " + id + ": NIC ids must be unique and non-empty, each on a network");
    }
    if (!nic.mac.empty() && !std::regex_match(nic.mac, kMac)) {
      fail(ErrorCode::kInvalidArgument, "replica " + id + ": NIC " + nic.nicId + " MAC \"" +
                                            nic.mac + "\" is not a MAC address");
    }
  }
}

plugin::MachineInfo machineOf(const plugin::ReplicaSpec& spec, const Json& vapp) {
  plugin::MachineInfo info;
  info.machineId = spec.replicaId;
  info.kind = plugin::MachineKind::kReplica;
  info.tenantId = spec.tenantId;
  info.subscriptionId = spec.subscriptionId;
  info.name = spec.name;
  info.platformRef = textOf(vapp, "id");
  info.power = powerOf(statusOf(vapp));
  if (const auto vm = vmOf(vapp)) {
    info.power = powerOf(statusOf(*vm));
    std::vector<std::pair<int, std::string>> nics;
    for (const auto& nic :
         arrayOf(sectionOf(*vm, "NetworkConnectionSectionType"), "networkConnection")) {
      nics.emplace_back(numberOf(nic, "networkConnectionIndex", 0), textOf(nic, "macAddress"));
    }
    std::sort(nics.begin(), nics.end());
    for (auto& [index, mac] : nics) info.nicMacs.push_back(std::move(mac));
    if (auto point = restorePointOf(*vm)) info.restorePoints.push_back(std::move(*point));
  }
  return info;
}

std::string undeployBody() {
  XmlWriter xml;
  xml.open("UndeployVAppParams", {{"xmlns", kVcloudNamespace}})
      .element("UndeployPowerAction", "powerOff");
  return xml.finish();
}

constexpr char kUndeployType[] = "application/vnd.vmware.vcloud.undeployVAppParams+xml";

}  // namespace

// ---- the registry and reading replicas
// ----------------------------------------------------------------

std::vector<ComputeService::Replica> ComputeService::scan(const plugin::CallContext& ctx) {
  const std::string vdcPath = site_.vdc(ctx).path;
  std::vector<Replica> replicas;
  for (const auto& record :
       client_.queryAll(site_.vappQueryType(), std::string("name==") + kVAppNamePattern, ctx)) {
    if (pathOfHref(textOf(record, "vdc")) != vdcPath) continue;
    const std::string path = pathOfHref(textOf(record, "href"));
    auto vapp = client_.getIfExists(path, Api::kLegacy, ctx);
    if (!vapp) continue;  // deleted since the query
    auto spec = parseReplicaTag(textOf(*vapp, "description"));
    if (!spec || textOf(*vapp, "name") != vappName(spec->replicaId)) continue;
    replicas.push_back({std::move(*spec), path, std::move(*vapp)});
  }
  return replicas;
}

void ComputeService::ensureSeeded(const plugin::CallContext& ctx) {
  std::lock_guard lock(seedMutex_);
  if (seeded_) return;
  std::vector<ReplicaRecord> records;
  for (auto& replica : scan(ctx)) records.push_back({std::move(replica.spec), replica.path});
  registry_.replaceAll(records);
  seeded_ = true;
}

std::optional<std::string> ComputeService::locate(const std::string& replicaId,
                                                  const plugin::CallContext& ctx) {
  if (auto record = registry_.find(replicaId); record && !record->vappPath.empty()) {
    return record->vappPath;
  }
  const std::string vdcPath = site_.vdc(ctx).path;
  for (const auto& record :
       client_.queryAll(site_.vappQueryType(), "name==" + vappName(replicaId), ctx)) {
    if (pathOfHref(textOf(record, "vdc")) == vdcPath) return pathOfHref(textOf(record, "href"));
  }
  return std::nullopt;
}

std::optional<ComputeService::Replica> ComputeService::read(const std::string& replicaId,
                                                            const plugin::CallContext& ctx) {
  // Twice: a remembered href may be stale (the vApp was deleted behind our back).
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto path = locate(replicaId, ctx);
    if (!path) break;
    auto vapp = client_.getIfExists(*path, Api::kLegacy, ctx);
    if (!vapp) {
      registry_.erase(replicaId);
      continue;
    }
    auto spec = parseReplicaTag(textOf(*vapp, "description"));
    if (!spec || spec->replicaId != replicaId) break;  // a vApp of that name, but not ours
    registry_.put({*spec, *path});
    return Replica{std::move(*spec), *path, std::move(*vapp)};
  }
  registry_.erase(replicaId);
  return std::nullopt;
}

ComputeService::Replica ComputeService::readOrNotFound(const std::string& replicaId,
                                                       const plugin::CallContext& ctx) {
  auto replica = read(replicaId, ctx);
  if (!replica) {
    fail(ErrorCode::kNotFound,
         "replica " + replicaId + " not found in VDC " + client_.config().vdc);
  }
  return std::move(*replica);
}

std::optional<std::string> ComputeService::replicaOnNetwork(const std::string& networkId,
                                                            const plugin::CallContext& ctx) {
  ensureSeeded(ctx);
  return registry_.anyReplicaOn(networkId);
}

// ---- tenant resources
// ------------------------------------------------------------------------------

plugin::TenantResources ComputeService::resourcesOf(const plugin::TenantResourcesSpec& spec) const {
  plugin::TenantResources resources;
  resources.subscriptionId = spec.subscriptionId;
  resources.tenantId = spec.tenantId;
  for (const auto& storage : spec.storages) {
    resources.storages.push_back(
        {storage.name, storage.quotaGb, registry_.usedGb(spec.subscriptionId, storage.name)});
  }
  return resources;
}

void ComputeService::checkVdcCapacity(const plugin::TenantResourcesSpec& spec,
                                      const plugin::CallContext& ctx) {
  const VdcRef& vdc = site_.vdc(ctx);
  const std::string& vdcName = client_.config().vdc;
  const Json detail = client_.get(vdc.path, Api::kLegacy, ctx);
  site_.updateStorageProfiles(detail);
  const Json capacity = objectOf(detail, "computeCapacity");
  auto check = [&](const char* resource, const char* unit,
                   const std::optional<std::uint64_t>& plan) {
    const auto limit = numberOf(objectOf(capacity, resource), "limit", std::uint64_t{0});
    if (limit == 0) return;  // the VDC does not limit it
    if (!plan || *plan > limit) {
      fail(ErrorCode::kResourceExhausted,
           "subscription " + spec.subscriptionId + ": the plan gives " +
               (plan ? std::to_string(*plan) + " " + unit : std::string("unlimited")) + " of " +
               resource + ", VDC " + vdcName + " has " + std::to_string(limit) + " " + unit,
           "VDC_CAPACITY");
    }
  };
  check("cpu", "MHz", spec.cpuMhz);
  check("memory", "MB", spec.memoryMb);
  const std::string type =
      client_.config().providerSession() ? "adminOrgVdcStorageProfile" : "orgVdcStorageProfile";
  const auto profiles = client_.queryAll(type, "", ctx);
  for (const auto& storage : spec.storages) {
    const auto profile = std::find_if(profiles.begin(), profiles.end(), [&](const Json& record) {
      return textOf(record, "name") == storage.backendStorage &&
             pathOfHref(textOf(record, "vdc")) == vdc.path;
    });
    if (profile == profiles.end()) {
      fail(ErrorCode::kNotFound, "storage profile " + storage.backendStorage + " (plan storage " +
                                     storage.name + ") is not in VDC " + vdcName);
    }
    const auto limitMb = numberOf(*profile, "storageLimitMB", std::uint64_t{0});
    if (limitMb != 0 && storage.quotaGb * 1024 > limitMb) {
      fail(ErrorCode::kResourceExhausted,
           "plan storage " + storage.name + " wants " + std::to_string(storage.quotaGb) +
               " GB, storage profile " + storage.backendStorage + " of VDC " + vdcName +
               " is limited to " + std::to_string(limitMb / 1024) + " GB",
           "VDC_CAPACITY");
    }
  }
}

plugin::Result<plugin::TenantResources> ComputeService::applyTenantResources(
    const plugin::TenantResourcesSpec& spec, const plugin::CallContext& ctx) noexcept {
  return guarded("apply_tenant_resources", [&]() -> plugin::Result<plugin::TenantResources> {
    if (spec.subscriptionId.empty() || spec.subscriptionId.size() > 200 || spec.tenantId.empty()) {
      fail(ErrorCode::kInvalidArgument,
           "subscriptionId (1-200 characters) and tenantId must be given");
    }
    std::set<std::string> names;
    for (const auto& storage : spec.storages) {
      if (storage.name.empty() || storage.backendStorage.empty() ||
          !names.insert(storage.name).second) {
        fail(ErrorCode::kInvalidArgument,
             "subscription " + spec.subscriptionId +
                 ": plan storages need unique names and a storage profile (\"" + storage.name +
                 "\")");
      }
    }
    std::lock_guard lock(subscriptionMutex_);
    checkVdcCapacity(spec, ctx);
    if (const auto existing = subscriptions_.read(spec.subscriptionId, ctx)) {
      if (existing->tenantId != spec.tenantId) {
        fail(ErrorCode::kAlreadyExists,
             "subscription " + spec.subscriptionId + " belongs to another tenant",
             "METADATA_ENTRY_EXISTS");
      }
      ensureSeeded(ctx);
      // An edit may not strand what replicas already use.
      for (const auto& old : existing->storages) {
        const auto used = registry_.usedGb(spec.subscriptionId, old.name);
        const auto now = std::find_if(spec.storages.begin(), spec.storages.end(),
                                      [&](const auto& s) { return s.name == old.name; });
        if (used > 0 && (now == spec.storages.end() || now->quotaGb < used ||
                         now->backendStorage != old.backendStorage)) {
          fail(ErrorCode::kResourceExhausted,
               "plan storage " + old.name + " holds " + std::to_string(used) +
                   " GB of replica disks; it cannot be removed, moved or shrunk below that",
               "PLAN_QUOTA");
        }
      }
      if (*existing == spec) {
        auto resources = resourcesOf(spec);
        resources.platformRef = site_.vdc(ctx).urn;
        return resources;
      }
    }
    subscriptions_.write(spec, ctx);
    auto resources = resourcesOf(spec);
    resources.platformRef = site_.vdc(ctx).urn;
    return resources;
  });
}

plugin::Status ComputeService::releaseTenantResources(const std::string& subscriptionId,
                                                      const plugin::CallContext& ctx) noexcept {
  return guarded("release_tenant_resources", [&]() -> plugin::Status {
    std::lock_guard lock(subscriptionMutex_);
    if (!subscriptions_.read(subscriptionId, ctx)) return {};
    ensureSeeded(ctx);
    if (auto replica = registry_.anyReplicaOf(subscriptionId)) {
      fail(ErrorCode::kInvalidState,
           "subscription " + subscriptionId + " still has replica " + *replica);
    }
    if (auto network = networks_.anyNetworkOf(subscriptionId, ctx)) {
      fail(ErrorCode::kInvalidState,
           "subscription " + subscriptionId + " still has network " + *network);
    }
    subscriptions_.erase(subscriptionId, ctx);
    return {};
  });
}

plugin::Result<plugin::TenantResources> ComputeService::tenantResources(
    const std::string& subscriptionId, const plugin::CallContext& ctx) noexcept {
  return guarded("tenant_resources", [&]() -> plugin::Result<plugin::TenantResources> {
    const auto spec = subscriptions_.read(subscriptionId, ctx);
    if (!spec) {
      fail(ErrorCode::kNotFound,
           "subscription " + subscriptionId + " has no resources in VDC " + client_.config().vdc);
    }
    ensureSeeded(ctx);
    auto resources = resourcesOf(*spec);
    resources.platformRef = site_.vdc(ctx).urn;
    return resources;
  });
}

// ---- replicas
// ------------------------------------------------------------------------------------------

std::string ComputeService::composeBody(const plugin::ReplicaSpec& spec,
                                        const plugin::CallContext& ctx) {
  const Config& config = client_.config();
  const auto subscription = subscriptions_.cached(spec.subscriptionId, ctx);
  std::vector<std::string> diskProfiles;
  for (const auto& disk : spec.disks) {
    const auto storage = std::find_if(subscription->storages.begin(), subscription->storages.end(),
                                      [&](const auto& s) { return s.name == disk.storage; });
    if (storage == subscription->storages.end()) {
      fail(ErrorCode::kNotFound, "plan storage " + disk.storage + " of subscription " +
                                     spec.subscriptionId + " (disk " + disk.diskId + ")");
    }
    diskProfiles.push_back(site_.storageProfileHref(storage->backendStorage, ctx));
    if (diskProfiles.back().empty()) {
      fail(ErrorCode::kNotFound, "storage profile " + storage->backendStorage +
                                     " of plan storage " + storage->name + " is not in VDC " +
                                     config.vdc);
    }
  }

  XmlWriter xml;
  xml.open("ComposeVAppParams", {{"xmlns", kVcloudNamespace},
                                 {"xmlns:ovf", kOvfNamespace},
                                 {"name", vappName(spec.replicaId)},
                                 {"deploy", "false"},
                                 {"powerOn", "false"}})
      .element("Description", replicaTag(spec));
  if (!spec.nics.empty()) {
    xml.open("InstantiationParams")
        .open("NetworkConfigSection")
        .element("ovf:Info", "The org VDC networks of the replica's NICs");
    std::set<std::string> configured;
    for (const auto& nic : spec.nics) {
      if (!configured.insert(nic.networkId).second) continue;
      const auto network = networks_.find(nic.networkId, ctx);
      if (!network) {
        fail(ErrorCode::kNotFound, "network " + nic.networkId + " (NIC " + nic.nicId +
                                       " of replica " + spec.replicaId + ")");
      }
      if (network->spec.tenantId != spec.tenantId) {
        fail(ErrorCode::kInvalidArgument, "network " + nic.networkId +
                                              " belongs to another tenant than replica " +
                                              spec.replicaId);
      }
      xml.open("NetworkConfig", {{"networkName", networkName(nic.networkId)}})
          .open("Configuration")
          .element("ParentNetwork", "", {{"href", site_.networkHref(network->urn)}})
          .element("FenceMode", "bridged")
          .close()
          .close();
    }
    xml.close().close();
  }
  xml.open("CreateItem",
           {{"name", (spec.name.empty() ? spec.replicaId : spec.name).substr(0, 128)}})
      .element("Description", "");
  if (!spec.nics.empty()) {
    xml.open("NetworkConnectionSection")
        .element("ovf:Info", "The replica's NICs, in Warmsite's order")
        .element("PrimaryNetworkConnectionIndex", "0");
    for (std::size_t i = 0; i < spec.nics.size(); ++i) {
      const auto& nic = spec.nics[i];
      xml.open("NetworkConnection", {{"network", networkName(nic.networkId)}})
          .element("NetworkConnectionIndex", std::to_string(i))
          .element("IsConnected", "true");
      if (!nic.mac.empty()) xml.element("MACAddress", nic.mac);
      // The replica keeps its guest's own addressing: Cloud Director assigns none.
      xml.element("IpAddressAllocationMode", "NONE")
          .element("NetworkAdapterType", "VMXNET3")
          .close();
    }
    xml.close();
  }
  xml.open("VmSpecSection", {{"Modified", "true"}})
      .element("ovf:Info", "The replica's virtual hardware")
      .element("OsType", config.guestOsType)
      .element("NumCpus", std::to_string(spec.vcpus))
      .element("NumCoresPerSocket", "1")
      .open("MemoryResourceMb")
      .element("Configured", std::to_string(spec.memoryMb))
      .close()
      .open("DiskSection");
  for (std::size_t i = 0; i < spec.disks.size(); ++i) {
    const std::size_t slot = i % 15;  // SCSI unit 7 is the controller's
    xml.open("DiskSettings")
        .element("SizeMb", std::to_string(spec.disks[i].sizeGb * 1024))
        .element("UnitNumber", std::to_string(slot < 7 ? slot : slot + 1))
        .element("BusNumber", std::to_string(i / 15))
        .element("AdapterType", "5")  // VMware Paravirtual SCSI
        .element("ThinProvisioned", "true")
        .element("StorageProfile", "",
                 {{"href", diskProfiles[i]},
                  {"type", "application/vnd.vmware.vcloud.vdcStorageProfile+xml"}})
        .element("overrideVmDefault", "true")
        .close();
  }
  xml.close().element("HardwareVersion", config.hardwareVersion).close();
  if (!diskProfiles.empty()) xml.element("StorageProfile", "", {{"href", diskProfiles.front()}});
  xml.close().element("AllEULAsAccepted", "true");
  return xml.finish();
}

std::optional<ComputeService::Replica> ComputeService::compose(const plugin::ReplicaSpec& spec,
                                                               const plugin::CallContext& ctx) {
  const auto subscription =
      subscriptions_.require(spec.subscriptionId, spec.tenantId, "replica " + spec.replicaId, ctx);
  const std::string body = composeBody(spec, ctx);
  const std::string target = site_.vdc(ctx).path + "/action/composeVApp";
  registry_.reserve(spec, subscription);
  std::string path;
  bool nameTaken = false;
  try {
    client_.runTask(
        [&]() -> std::string {
          const ApiResponse response =
              client_.call("POST", target, Api::kLegacy, ctx, body,
                           "application/vnd.vmware.vcloud.composeVAppParams+xml");
          if (response.status == 400 && response.minorErrorCode() == "DUPLICATE_NAME") {
            nameTaken = true;
            return {};
          }
          if (response.status < 200 || response.status > 202) {
            client_.failWith(response, "compose the vApp of replica " + spec.replicaId);
          }
          // composeVApp answers with the new vApp, whose tasks[] holds the task to wait for.
          const Json vapp = response.json();
          path = pathOfHref(textOf(vapp, "href"));
          const Json list = arrayOf(objectOf(vapp, "tasks"), "task");
          if (list.empty()) {
            fail(ErrorCode::kInternal, "composeVApp answered without a task to wait for");
          }
          return pathOfHref(textOf(list.front(), "href"));
        },
        ctx,
        [&] {
          removeVApp(path, ctx);
          path.clear();
        });
    if (nameTaken) {
      registry_.erase(spec.replicaId);
      return std::nullopt;
    }
    Json vapp = client_.get(path, Api::kLegacy, ctx);
    registry_.put({spec, path});
    return Replica{spec, path, std::move(vapp)};
  } catch (const Failure& failure) {
    if (!path.empty() && mayStillComplete(failure)) {
      registry_.put({spec, path});  // the vApp may still come: a replay waits for it and adopts it
      throw;
    }
    registry_.erase(spec.replicaId);
    if (path.empty()) throw;
    try {
      removeVApp(path, cleanupContext());
    } catch (const Failure& cleanup) {
      plugin::Error error = failure.error();
      error.message += "; removing its vApp failed too: " + cleanup.error().message;
      throw Failure(error);
    }
    throw;
  }
}

void ComputeService::removeVApp(const std::string& path, const plugin::CallContext& ctx) {
  if (path.empty()) return;
  const auto vapp = client_.getIfExists(path, Api::kLegacy, ctx);
  if (!vapp) return;
  if (flagOf(*vapp, "deployed")) {
    act(path, "/action/undeploy", "undeploy " + path, ctx, undeployBody(), kUndeployType);
  }
  client_.deleteAndWait(path, Api::kLegacy, "delete vApp " + path, ctx);
}

void ComputeService::act(const std::string& path, const std::string& action,
                         const std::string& what, const plugin::CallContext& ctx,
                         const std::string& body, const std::string& contentType) {
  client_.runTask(
      [&] {
        return client_.acceptedTask(
            client_.call("POST", path + action, Api::kLegacy, ctx, body, contentType), what);
      },
      ctx);
}

void ComputeService::setVmDescription(const Json& vm, const std::string& description,
                                      const plugin::CallContext& ctx) {
  // reconfigureVm changes only the sections sent: here the name (required) and the description.
  XmlWriter xml;
  xml.open(
         "Vm",
         {{"xmlns", kVcloudNamespace}, {"xmlns:ovf", kOvfNamespace}, {"name", textOf(vm, "name")}})
      .element("Description", description);
  act(pathOfHref(textOf(vm, "href")), "/action/reconfigureVm",
      "record the restore point of VM " + textOf(vm, "name"), ctx, xml.finish(),
      "application/vnd.vmware.vcloud.vm+xml");
}

plugin::Result<plugin::MachineInfo> ComputeService::createReplica(
    const plugin::ReplicaSpec& spec, const plugin::CallContext& ctx) noexcept {
  return guarded("create_replica", [&]() -> plugin::Result<plugin::MachineInfo> {
    validateReplica(spec);
    const auto lock = replicaLocks_.lock(spec.replicaId);
    ensureSeeded(ctx);
    for (int round = 0; round < 3; ++round) {
      if (const auto known = registry_.find(spec.replicaId)) {
        if (known->spec != spec) {
          fail(ErrorCode::kAlreadyExists,
               "replica " + spec.replicaId + " already exists with another spec", "DUPLICATE_NAME");
        }
        if (auto current = read(spec.replicaId, ctx)) {
          if (current->spec != spec) continue;  // changed behind our back: the check above says
          if (statusOf(current->vapp) == kUnresolved) {
            // Still being composed (an earlier attempt timed out): wait for that, then look again.
            for (const auto& task : arrayOf(objectOf(current->vapp, "tasks"), "task")) {
              try {
                client_.waitTask(pathOfHref(textOf(task, "href")), ctx);
              } catch (const TaskFailed&) {
                // The next look finds the vApp failed, removes it and starts over.
              }
            }
            continue;
          }
          if (statusOf(current->vapp) != kFailedCreation) return machineOf(spec, current->vapp);
          removeVApp(current->path, ctx);  // a failed creation: start over
          registry_.erase(spec.replicaId);
        }
      }
      if (auto created = compose(spec, ctx)) return machineOf(spec, created->vapp);
      // A vApp of that name is in the way: adopt it if it is this replica, else refuse.
      const auto existing = read(spec.replicaId, ctx);
      if (!existing || existing->spec != spec) {
        fail(ErrorCode::kAlreadyExists,
             "VDC " + client_.config().vdc + " already has a vApp named " +
                 vappName(spec.replicaId) + " that is not replica " + spec.replicaId +
                 " with this spec",
             "DUPLICATE_NAME");
      }
    }
    fail(ErrorCode::kUnavailable,
         "replica " + spec.replicaId + " keeps changing in Cloud Director; try again");
  });
}

plugin::Status ComputeService::deleteReplica(const std::string& replicaId,
                                             const plugin::CallContext& ctx) noexcept {
  return guarded("delete_replica", [&]() -> plugin::Status {
    const auto lock = replicaLocks_.lock(replicaId);
    const auto replica = read(replicaId, ctx);
    if (!replica) return {};
    const int status = statusOf(replica->vapp);
    if (status == kPoweredOn || status == kSuspended) {
      fail(ErrorCode::kInvalidState, "replica " + replicaId + " is powered on; power it off first",
           "status " + std::to_string(status));
    }
    removeVApp(replica->path, ctx);
    registry_.erase(replicaId);
    return {};
  });
}

plugin::Result<plugin::MachineInfo> ComputeService::machine(
    const std::string& machineId, const plugin::CallContext& ctx) noexcept {
  return guarded("machine", [&]() -> plugin::Result<plugin::MachineInfo> {
    const Replica replica = readOrNotFound(machineId, ctx);
    return machineOf(replica.spec, replica.vapp);
  });
}

void ComputeService::powerAction(const std::string& machineId, const std::string& action,
                                 const std::string& what, const plugin::CallContext& ctx,
                                 const std::string& body, const std::string& contentType,
                                 const std::function<std::string(int status)>& refusal) {
  const auto lock = replicaLocks_.lock(machineId);
  const auto path = locate(machineId, ctx);
  if (!path) fail(ErrorCode::kNotFound, "replica " + machineId + " not found");
  try {
    act(*path, action, what + " replica " + machineId, ctx, body, contentType);
  } catch (const TaskFailed&) {
    throw;
  } catch (const Failure& failure) {
    const auto code = failure.error().code;
    if (code != ErrorCode::kInvalidArgument && code != ErrorCode::kPermissionDenied) throw;
    const Replica replica = readOrNotFound(machineId, ctx);  // gone behind our back: kNotFound
    const int status = statusOf(replica.vapp);
    if (const auto why = refusal(status); !why.empty()) {
      fail(ErrorCode::kInvalidState, "replica " + machineId + " " + why,
           "status " + std::to_string(status));
    }
    throw;
  }
}

plugin::Status ComputeService::powerOn(const std::string& machineId,
                                       const plugin::CallContext& ctx) noexcept {
  return guarded("power_on", [&]() -> plugin::Status {
    powerAction(machineId, "/power/action/powerOn", "power on", ctx, {}, {},
                [](int status) -> std::string {
                  if (status == kPoweredOn) return "is already powered on";
                  if (status == kFailedCreation || status == kUnresolved)
                    return "was not created completely";
                  return {};
                });
    return {};
  });
}

plugin::Status ComputeService::powerOff(const std::string& machineId,
                                        const plugin::PowerOffOptions& /*options*/,
                                        const plugin::CallContext& ctx) noexcept {
  // Always a hard power-off (capabilities say gracefulShutdown = false): a guest shutdown needs
  // VMware Tools in the replica, which Warmsite cannot promise. Undeploy with power-off, as the
  // Cloud Director UI's "Power off" does: the vApp releases its resources and can be deleted
  // afterwards.
  return guarded("power_off", [&]() -> plugin::Status {
    powerAction(machineId, "/action/undeploy", "power off", ctx, undeployBody(), kUndeployType,
                [](int status) -> std::string {
                  return status != kPoweredOn && status != kSuspended ? "is already powered off"
                                                                      : "";
                });
    return {};
  });
}

// ---- restore points (one snapshot per VM)
// -------------------------------------------------------------

plugin::Result<plugin::RestorePointInfo> ComputeService::createRestorePoint(
    const std::string& replicaId, const std::string& restorePointId, const std::string& description,
    const plugin::CallContext& ctx) noexcept {
  return guarded("create_restore_point", [&]() -> plugin::Result<plugin::RestorePointInfo> {
    if (restorePointId.empty() || restorePointId.size() > 128) {
      fail(ErrorCode::kInvalidArgument, "restorePointId must be 1-128 characters");
    }
    const auto lock = replicaLocks_.lock(replicaId);
    const Replica replica = readOrNotFound(replicaId, ctx);
    const auto vm = vmOf(replica.vapp);
    if (!vm) fail(ErrorCode::kInvalidState, "replica " + replicaId + " has no VM yet");
    if (auto current = restorePointOf(*vm); current && current->restorePointId == restorePointId) {
      return *current;
    }
    const std::string vmPath = pathOfHref(textOf(*vm, "href"));
    XmlWriter xml;
    xml.open("CreateSnapshotParams", {{"xmlns", kVcloudNamespace},
                                      {"name", restorePointId},
                                      {"memory", "false"},
                                      {"quiesce", "false"}})
        .element("Description", description);
    // The VM's one snapshot is replaced: the previous restore point ends here (capabilities).
    const Json task = client_.runTask(
        [&] {
          return client_.acceptedTask(
              client_.call("POST", vmPath + "/action/createSnapshot", Api::kLegacy, ctx,
                           xml.finish(), "application/vnd.vmware.vcloud.createSnapshotParams+xml"),
              "snapshot replica " + replicaId);
        },
        ctx);
    std::int64_t created = parseIsoTime(textOf(task, "endTime"));
    if (created == 0) created = static_cast<std::int64_t>(std::time(nullptr));
    const plugin::RestorePointInfo point{restorePointId, description, created};
    try {
      setVmDescription(*vm, restorePointTag(point), ctx);
    } catch (const Failure& failure) {
      // An unnamed snapshot is no restore point: remove it rather than leave it mislabelled.
      if (!mayStillComplete(failure)) {
        try {
          act(vmPath, "/action/removeAllSnapshots", "remove the unnamed snapshot",
              cleanupContext());
        } catch (const Failure& cleanup) {
          client_.log(plugin::LogLevel::kWarning, cleanup.error().message);
        }
      }
      throw;
    }
    return point;
  });
}

plugin::Result<std::vector<plugin::RestorePointInfo>> ComputeService::listRestorePoints(
    const std::string& replicaId, const plugin::CallContext& ctx) noexcept {
  return guarded("list_restore_points",
                 [&]() -> plugin::Result<std::vector<plugin::RestorePointInfo>> {
                   const Replica replica = readOrNotFound(replicaId, ctx);
                   return machineOf(replica.spec, replica.vapp).restorePoints;
                 });
}

plugin::Status ComputeService::revertToRestorePoint(const std::string& replicaId,
                                                    const std::string& restorePointId,
                                                    const plugin::CallContext& ctx) noexcept {
  return guarded("revert_to_restore_point", [&]() -> plugin::Status {
    const auto lock = replicaLocks_.lock(replicaId);
    const Replica replica = readOrNotFound(replicaId, ctx);
    const auto vm = vmOf(replica.vapp);
    const auto point = vm ? restorePointOf(*vm) : std::nullopt;
    if (!point || point->restorePointId != restorePointId) {
      fail(ErrorCode::kNotFound, "restore point " + restorePointId + " of replica " + replicaId);
    }
    const int status = statusOf(*vm);
    if (status == kPoweredOn || status == kSuspended) {
      fail(ErrorCode::kInvalidState, "replica " + replicaId + " must be powered off to revert",
           "status " + std::to_string(status));
    }
    act(pathOfHref(textOf(*vm, "href")), "/action/revertToCurrentSnapshot",
        "revert replica " + replicaId, ctx);
    return {};
  });
}

plugin::Status ComputeService::deleteRestorePoint(const std::string& replicaId,
                                                  const std::string& restorePointId,
                                                  const plugin::CallContext& ctx) noexcept {
  return guarded("delete_restore_point", [&]() -> plugin::Status {
    const auto lock = replicaLocks_.lock(replicaId);
    const auto replica = read(replicaId, ctx);
    const auto vm = replica ? vmOf(replica->vapp) : std::nullopt;
    const auto point = vm ? restorePointOf(*vm) : std::nullopt;
    if (!point || point->restorePointId != restorePointId) return {};
    act(pathOfHref(textOf(*vm, "href")), "/action/removeAllSnapshots",
        "remove the snapshot of replica " + replicaId, ctx);
    // Without its snapshot the mark names nothing (restorePointOf needs both); clear it anyway.
    try {
      setVmDescription(*vm, "", ctx);
    } catch (const Failure& failure) {
      client_.log(plugin::LogLevel::kWarning, failure.error().message);
    }
    return {};
  });
}

plugin::Result<std::vector<plugin::MachineInfo>> ComputeService::inventory(
    const plugin::CallContext& ctx) noexcept {
  return guarded("inventory", [&]() -> plugin::Result<std::vector<plugin::MachineInfo>> {
    std::vector<plugin::MachineInfo> machines;
    std::vector<ReplicaRecord> records;
    for (const auto& replica : scan(ctx)) {
      machines.push_back(machineOf(replica.spec, replica.vapp));
      records.push_back({replica.spec, replica.path});
    }
    std::lock_guard lock(seedMutex_);
    registry_.replaceAll(records);
    seeded_ = true;
    return machines;
  });
}

}  // namespace warmsite::clouddirector

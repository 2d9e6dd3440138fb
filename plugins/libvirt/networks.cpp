// Tenant networks, test bubbles and test copies of the libvirt plugin.

#include <algorithm>

#include "libvirt_plugin.h"
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

plugin::NetworkInfo infoOf(const NetworkRecord& record, std::string platformRef) {
  return {record.spec.networkId, record.spec.tenantId, record.spec.subscriptionId,
          record.spec.vlanId,    record.spec.internet, record.isolated(),
          std::move(platformRef)};
}

}  // namespace

Status LibvirtPlugin::defineNetwork(virConnectPtr conn, const NetworkDefinition& definition,
                                    bool start) {
  // The test driver accepts any network; the real one would refuse these, so the plugin does.
  if (auto status = checkAcceptedByLibvirt(definition); !status.ok()) return status;
  NetworkHandle network(virNetworkDefineXML(conn, renderNetworkXml(definition).c_str()));
  if (!network) return lastError("defining network " + definition.name);
  if (!start) return {};
  if (virNetworkSetAutostart(network.get(), 1) < 0 || virNetworkCreate(network.get()) < 0) {
    auto error = lastError("starting network " + definition.name);
    virNetworkUndefine(network.get());
    return error;
  }
  return {};
}

Status LibvirtPlugin::removeNetwork(virConnectPtr conn, const std::string& name) {
  NetworkHandle network(virNetworkLookupByName(conn, name.c_str()));
  if (!network) {
    if (lastErrorCode() == VIR_ERR_NO_NETWORK) return {};
    return lastError("looking up network " + name);
  }
  if (virNetworkIsActive(network.get()) == 1 && virNetworkDestroy(network.get()) < 0) {
    return lastError("stopping network " + name);
  }
  if (virNetworkUndefine(network.get()) < 0) return lastError("deleting network " + name);
  return {};
}

Result<plugin::NetworkInfo> LibvirtPlugin::readNetworkInfo(virNetworkPtr network) {
  auto doc = XmlDocument::parse(takeString(virNetworkGetXMLDesc(network, 0)));
  auto record = doc ? parseNetworkRecord(*doc) : std::nullopt;
  if (!record) return notFound("Warmsite network in", virNetworkGetName(network));
  return infoOf(*record, uuidOf(network));
}

// ---- tenant networks
// -------------------------------------------------------------------------------

Result<plugin::NetworkInfo> LibvirtPlugin::createTenantNetwork(
    const plugin::TenantNetworkSpec& spec, const CallContext& ctx) noexcept {
  return guarded("create tenant network", ctx, [&]() -> Result<plugin::NetworkInfo> {
    for (auto status :
         {checkId("networkId", spec.networkId), checkId("subscriptionId", spec.subscriptionId),
          checkId("tenantId", spec.tenantId), checkText("name", spec.name)}) {
      if (!status.ok()) return std::move(status).error();
    }
    if (spec.vlanId < 1 || spec.vlanId > 4094) {
      return plugin::makeError(ErrorCode::kInvalidArgument,
                               "vlanId " + std::to_string(spec.vlanId) + " is outside 1-4094");
    }
    std::lock_guard topology(topologyMutex_);
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    const std::string name = networkName(spec.networkId);
    if (auto existing = ledger_.network(spec.networkId)) {
      if (!existing->isolated() && existing->spec == spec) {
        NetworkHandle network(virNetworkLookupByName((*conn)->get(), name.c_str()));
        if (!network) return lastError("reading network " + spec.networkId);
        return readNetworkInfo(network.get());
      }
      return plugin::makeError(ErrorCode::kAlreadyExists,
                               "network " + spec.networkId + " already exists with another spec");
    }
    if (auto status = ledger_.checkNewNetwork(spec); !status.ok()) {
      return std::move(status).error();
    }
    const NetworkRecord record{spec, "", "", 0};
    NetworkDefinition definition;
    definition.name = name;
    definition.metadata = networkMetadata(record);
    definition.forward = ForwardMode::kBridge;
    definition.bridge = config_.network->bridgeFor(spec.vlanId);
    if (config_.network->mode == NetworkMode::kOpenvswitch) {
      definition.openvswitch = true;
      definition.vlan = spec.vlanId;  // libvirt tags the OVS port of each NIC
    }
    if (auto status = defineNetwork((*conn)->get(), definition, true); !status.ok()) {
      return std::move(status).error();
    }
    ledger_.putNetwork(record);
    NetworkHandle network(virNetworkLookupByName((*conn)->get(), name.c_str()));
    if (!network) return lastError("reading network " + spec.networkId);
    return infoOf(record, uuidOf(network.get()));
  });
}

Status LibvirtPlugin::deleteTenantNetwork(const std::string& networkId,
                                          const CallContext& ctx) noexcept {
  return guarded("delete tenant network", ctx, [&]() -> Status {
    std::lock_guard topology(topologyMutex_);
    const auto record = ledger_.network(networkId);
    if (!record) return {};
    if (record->isolated()) {
      return plugin::makeError(
          ErrorCode::kInvalidArgument,
          networkId + " belongs to bubble " + record->bubbleId + "; delete the bubble");
    }
    auto taken = ledger_.takeNetwork(networkId);
    if (!taken.ok()) return std::move(taken).error();
    auto conn = pool_->acquire();
    Status removed = conn.ok() ? removeNetwork((*conn)->get(), networkName(networkId))
                               : Status(std::move(conn).error());
    if (!removed.ok()) ledger_.putNetwork(*taken);
    return removed;
  });
}

Result<std::vector<plugin::NetworkInfo>> LibvirtPlugin::listNetworks(
    const CallContext& ctx) noexcept {
  return guarded("list networks", ctx, [&]() -> Result<std::vector<plugin::NetworkInfo>> {
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    NetworkList networks;
    const int count = virConnectListAllNetworks((*conn)->get(), networks.out(), 0);
    if (count < 0) return lastError("listing networks");
    networks.setCount(count);
    std::vector<plugin::NetworkInfo> infos;
    for (virNetworkPtr network : networks) {
      const std::string name = virNetworkGetName(network);
      if (name.rfind(kNetworkPrefix, 0) != 0 && name.rfind(kBubblePrefix, 0) != 0) continue;
      if (auto info = readNetworkInfo(network); info.ok()) infos.push_back(std::move(info).value());
    }
    return infos;
  });
}

// ---- bubbles
// ---------------------------------------------------------------------------------------

Status LibvirtPlugin::createBubble(const plugin::BubbleSpec& spec,
                                   const CallContext& ctx) noexcept {
  return guarded("create bubble", ctx, [&]() -> Status {
    for (auto status : {checkId("bubbleId", spec.bubbleId), checkId("tenantId", spec.tenantId)}) {
      if (!status.ok()) return status;
    }
    // Twin networks are the bubble's only trace on the host: a bubble mirrors at least one.
    if (spec.sourceNetworkIds.empty()) {
      return plugin::makeError(
          ErrorCode::kInvalidArgument,
          "bubble " + spec.bubbleId + " mirrors no network (sourceNetworkIds)");
    }
    std::lock_guard topology(topologyMutex_);
    if (auto existing = ledger_.bubble(spec.bubbleId)) {
      if (*existing == spec) return {};
      return plugin::makeError(ErrorCode::kAlreadyExists,
                               "bubble " + spec.bubbleId + " already exists with another spec");
    }
    if (auto status = ledger_.checkNewBubble(spec); !status.ok()) return status;
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    std::vector<NetworkRecord> twins;
    for (std::size_t i = 0; i < spec.sourceNetworkIds.size(); ++i) {
      const auto& source = spec.sourceNetworkIds[i];
      const auto original = ledger_.network(source);
      NetworkRecord twin;
      twin.spec = {bubbleNetworkId(spec.bubbleId, source),
                   original->spec.subscriptionId,
                   spec.tenantId,
                   "test bubble " + spec.bubbleId + " of " + source,
                   0,
                   false};
      twin.bubbleId = spec.bubbleId;
      twin.sourceNetworkId = source;
      twin.bubbleIndex = static_cast<std::uint32_t>(i);
      // No forward mode, no VLAN, no address: an isolated bridge with no uplink.
      NetworkDefinition definition;
      definition.name = bubbleNetworkName(spec.bubbleId, source);
      definition.metadata = networkMetadata(twin);
      if (auto status = defineNetwork((*conn)->get(), definition, true); !status.ok()) {
        for (const auto& made : twins) {
          auto cleanup =
              removeNetwork((*conn)->get(), bubbleNetworkName(spec.bubbleId, made.sourceNetworkId));
          if (!cleanup.ok()) {
            host_.log(plugin::LogLevel::kWarning, "left behind: " + cleanup.error().message);
          }
        }
        return status;
      }
      twins.push_back(std::move(twin));
    }
    for (const auto& twin : twins) ledger_.putNetwork(twin);
    return {};
  });
}

Status LibvirtPlugin::deleteBubble(const std::string& bubbleId, const CallContext& ctx) noexcept {
  return guarded("delete bubble", ctx, [&]() -> Status {
    std::lock_guard topology(topologyMutex_);
    auto taken = ledger_.takeBubble(bubbleId);
    if (!taken.ok()) {
      return taken.error().code == ErrorCode::kNotFound ? Status() : Status(taken.error());
    }
    auto conn = pool_->acquire();
    if (!conn.ok()) {
      for (const auto& twin : *taken) ledger_.putNetwork(twin);
      return std::move(conn).error();
    }
    for (std::size_t i = 0; i < taken->size(); ++i) {
      const auto& twin = (*taken)[i];
      auto status =
          removeNetwork((*conn)->get(), bubbleNetworkName(bubbleId, twin.sourceNetworkId));
      if (!status.ok()) {
        // What is still on the host stays known, so a retry removes it.
        for (std::size_t k = i; k < taken->size(); ++k) ledger_.putNetwork((*taken)[k]);
        return status;
      }
    }
    return {};
  });
}

// ---- test copies
// -----------------------------------------------------------------------------------

Result<plugin::MachineInfo> LibvirtPlugin::createTestCopy(const plugin::TestCopySpec& spec,
                                                          const CallContext& ctx) noexcept {
  return guarded("create test copy", ctx, [&]() -> Result<plugin::MachineInfo> {
    for (auto status :
         {checkId("copyId", spec.copyId), checkId("sourceReplicaId", spec.sourceReplicaId),
          checkId("bubbleId", spec.bubbleId)}) {
      if (!status.ok()) return std::move(status).error();
    }
    auto guard = locks_.lock(spec.copyId);
    auto conn = pool_->acquire();
    if (!conn.ok()) return std::move(conn).error();
    if (auto existing = ledger_.machine(spec.copyId)) {
      if (existing->kind == MachineKind::kTestCopy && existing->copySpec == spec) {
        return readMachine((*conn)->get(), spec.copyId);
      }
      return plugin::makeError(ErrorCode::kAlreadyExists,
                               "machine " + spec.copyId + " already exists with another spec");
    }
    const auto source = ledger_.machine(spec.sourceReplicaId);
    if (!source || source->kind != MachineKind::kReplica) {
      return notFound("replica", spec.sourceReplicaId);
    }
    auto sourceInfo = readMachine((*conn)->get(), spec.sourceReplicaId);
    if (!sourceInfo.ok()) return std::move(sourceInfo).error();
    // No point asked and none taken: a copy of the current disks (whose data the engine then
    // replaces with a replicated point's, ABI 1.1).
    const auto& points = sourceInfo->restorePoints;
    const std::string base = !spec.restorePointId.empty() ? spec.restorePointId
                             : points.empty()             ? std::string()
                                                          : points.back().restorePointId;
    if (!base.empty() && std::none_of(points.begin(), points.end(),
                                      [&](const auto& p) { return p.restorePointId == base; })) {
      return notFound("restore point", base + " of " + spec.sourceReplicaId);
    }
    const auto twins = ledger_.bubbleNetworks(spec.bubbleId);
    if (twins.empty() || twins.front().spec.tenantId != source->spec.tenantId) {
      return notFound("bubble", spec.bubbleId);
    }

    MachineRecord record;
    record.kind = MachineKind::kTestCopy;
    record.spec = source->spec;
    record.spec.replicaId = spec.copyId;
    record.spec.name = source->spec.name + " (test)";
    record.copySpec = spec;
    record.baseRestorePointId = base;
    DomainLayout layout;
    layout.macs = sourceInfo->nicMacs;  // the bubble keeps the copies' MACs apart
    for (auto& nic : record.spec.nics) {
      auto twin = std::find_if(twins.begin(), twins.end(), [&](const NetworkRecord& t) {
        return t.sourceNetworkId == nic.networkId;
      });
      if (twin == twins.end()) {
        return plugin::makeError(ErrorCode::kInvalidArgument,
                                 "bubble " + spec.bubbleId + " has no twin of network " +
                                     nic.networkId + " used by replica " + spec.sourceReplicaId);
      }
      layout.networkNames.push_back(bubbleNetworkName(spec.bubbleId, nic.networkId));
      nic.networkId = twin->spec.networkId;
    }
    for (std::size_t i = 0; i < record.spec.disks.size(); ++i) {
      const auto& sourceVolume = source->volumes[i];
      record.volumes.push_back(
          {sourceVolume.pool, volumeName(spec.copyId, record.spec.disks[i].diskId)});
      PoolHandle pool(virStoragePoolLookupByName((*conn)->get(), sourceVolume.pool.c_str()));
      VolumeHandle volume(pool ? virStorageVolLookupByName(pool.get(), sourceVolume.volume.c_str())
                               : nullptr);
      if (!volume) return lastError("looking up volume " + sourceVolume.volume);
      layout.backingPaths.push_back(takeString(virStorageVolGetPath(volume.get())));
    }
    if (auto status = ledger_.reserveTestCopy(record); !status.ok()) {
      return std::move(status).error();
    }
    return defineMachine((*conn)->get(), record, std::move(layout));
  });
}

Status LibvirtPlugin::deleteTestCopy(const std::string& copyId, const CallContext& ctx) noexcept {
  return guarded("delete test copy", ctx, [&]() -> Status {
    auto guard = locks_.lock(copyId);
    const auto record = ledger_.machine(copyId);
    if (!record) return {};
    if (record->kind != MachineKind::kTestCopy) {
      return plugin::makeError(ErrorCode::kInvalidArgument,
                               copyId + " is a replica, not a test copy");
    }
    // Cleanup is never refused: a running copy is forced off first.
    return removeMachine(*record, true);
  });
}

}  // namespace warmsite::libvirtplugin

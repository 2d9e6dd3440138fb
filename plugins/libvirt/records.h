#pragma once
// The XML the plugin writes into libvirt and reads back: domain, network and snapshot definitions,
// and the Warmsite records kept in their <metadata> (namespace kMetadataNamespace). The records
// are the plugin's only persistent state: after a restart it rebuilds everything from them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"
#include "xml.h"

namespace warmsite::libvirtplugin {

struct VolumeRef {
  std::string pool;
  std::string volume;

  bool operator==(const VolumeRef&) const = default;
};

// One Warmsite machine, as recorded in its domain's metadata.
struct MachineRecord {
  plugin::MachineKind kind = plugin::MachineKind::kReplica;
  // Replicas: the spec as asked, so a replay compares equal. Test copies: the source's spec under
  // the copy's id with NICs on the bubble's twin networks.
  plugin::ReplicaSpec spec;
  plugin::TestCopySpec copySpec;   // test copies: as asked
  std::string baseRestorePointId;  // test copies: the restore point they were made from
  std::vector<VolumeRef> volumes;  // one per spec.disks entry
  // Per spec.disks entry, the file the disk boots from instead of its volume ("" = the volume);
  // empty when every disk uses its volume.
  std::vector<std::string> dataPaths;

  bool operator==(const MachineRecord&) const = default;
};

// What a domain definition needs besides the record.
struct DomainLayout {
  std::string domainType = "kvm";
  std::uint32_t hostCpuMhz = 0;           // per host CPU, for the CPU quota; 0 = no quota
  std::vector<std::string> macs;          // one per NIC
  std::vector<std::string> networkNames;  // libvirt network of each NIC
  std::vector<std::string> backingPaths;  // test copies: the source volume under each overlay
  std::string uuid;                       // a redefinition keeps the domain's
};

std::string renderDomainXml(const MachineRecord& record, const DomainLayout& layout);
// The CPU quota in microseconds per 100 ms period that caps a domain at `cpuMhz`.
std::uint64_t cpuQuotaUs(std::uint64_t cpuMhz, std::uint32_t hostCpuMhz);

// The record in a domain's XML, or nullopt when the domain is not Warmsite's.
std::optional<MachineRecord> parseMachineRecord(const XmlDocument& domainXml);
// MACs of the domain's interfaces, in device order.
std::vector<std::string> interfaceMacs(const XmlDocument& domainXml);
// The file disk `index` of the record boots from; "" when it boots its volume.
std::string dataPathOf(const MachineRecord& record, std::size_t index);
// Clears dataPaths when no disk boots a file, so records that boot the same way compare equal.
void dropUnusedDataPaths(MachineRecord& record);
// The libvirt network of each interface, in device order.
std::vector<std::string> interfaceNetworks(const XmlDocument& domainXml);

// A subscription's resources: a libvirt network that is never started and only carries this
// record (libvirt 9.0 has no other object with free-form metadata besides domains).
std::optional<plugin::TenantResourcesSpec> parseSubscriptionRecord(const XmlDocument& networkXml);
std::string subscriptionMetadata(const plugin::TenantResourcesSpec& spec);

// A tenant network, or a twin network of a test bubble.
struct NetworkRecord {
  plugin::TenantNetworkSpec spec;  // bubble twins: networkId "<bubble>/<source>", no VLAN
  std::string bubbleId;            // twins only
  std::string sourceNetworkId;     // twins only
  std::uint32_t bubbleIndex = 0;   // twins only: position in BubbleSpec::sourceNetworkIds

  bool isolated() const { return !bubbleId.empty(); }
  bool operator==(const NetworkRecord&) const = default;
};
std::optional<NetworkRecord> parseNetworkRecord(const XmlDocument& networkXml);
std::string networkMetadata(const NetworkRecord& record);

enum class ForwardMode {
  kNone,
  kNat,
  kRoute,
  kOpen,
  kBridge,
  kPrivate,
  kVepa,
  kPassthrough,
  kHostdev
};

struct NetworkDefinition {
  std::string name;
  std::string uuid;      // keeps the object's identity when a definition is replaced
  std::string metadata;  // one element in kMetadataNamespace
  ForwardMode forward = ForwardMode::kNone;
  std::string bridge;
  bool openvswitch = false;
  std::optional<std::uint32_t> vlan;
};

// The checks the real network driver makes at define time and the test driver skips (it accepts
// a VLAN anywhere, any bridge name): VLAN tags only on hostdev, passthrough or an Open vSwitch
// bridge; a bridge-mode network names its bridge; bridge names are valid device names; the name
// has no '/' or newline. kInvalidArgument with libvirt's own wording otherwise.
plugin::Status checkAcceptedByLibvirt(const NetworkDefinition& definition);
std::string renderNetworkXml(const NetworkDefinition& definition);

std::string renderSnapshotXml(const std::string& restorePointId, const std::string& description);
// nullopt when the snapshot is not one of the plugin's restore points.
std::optional<plugin::RestorePointInfo> parseSnapshot(const XmlDocument& snapshotXml);

}  // namespace warmsite::libvirtplugin

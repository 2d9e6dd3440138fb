#include "records.h"

#include <algorithm>

#include "config.h"
#include "names.h"

namespace warmsite::libvirtplugin {

namespace {

using plugin::ErrorCode;

std::string attr(const char* name, const std::string& value) {
  return std::string(" ") + name + "='" + xmlEscape(value) + "'";
}

std::string attr(const char* name, std::uint64_t value) {
  return attr(name, std::to_string(value));
}

// vda, vdb, ..., vdz, vdaa, vdab, ...: virtio disk target names.
std::string virtioTarget(std::size_t index) {
  std::string suffix;
  for (std::size_t n = index + 1; n > 0; n = (n - 1) / 26) {
    suffix.insert(suffix.begin(), static_cast<char>('a' + (n - 1) % 26));
  }
  return "vd" + suffix;
}

const char* kindName(plugin::MachineKind kind) {
  return kind == plugin::MachineKind::kTestCopy ? "test_copy" : "replica";
}

std::string machineMetadata(const MachineRecord& record) {
  const auto& spec = record.spec;
  std::string xml = std::string("<ws:machine xmlns:ws='") + kMetadataNamespace + "'" +
                    attr("kind", kindName(record.kind)) + attr("id", spec.replicaId) +
                    attr("subscription", spec.subscriptionId) + attr("tenant", spec.tenantId) +
                    attr("name", spec.name) + attr("vcpus", spec.vcpus) +
                    attr("cpuMhz", spec.cpuMhz) + attr("memoryMb", spec.memoryMb) + ">";
  for (std::size_t i = 0; i < spec.disks.size(); ++i) {
    const auto& disk = spec.disks[i];
    xml += "<ws:disk" + attr("id", disk.diskId) + attr("storage", disk.storage) +
           attr("sizeGb", disk.sizeGb) + attr("pool", record.volumes.at(i).pool) +
           attr("volume", record.volumes.at(i).volume);
    if (const auto data = dataPathOf(record, i); !data.empty()) xml += attr("data", data);
    xml += "/>";
  }
  for (const auto& nic : spec.nics) {
    xml += "<ws:nic" + attr("id", nic.nicId) + attr("network", nic.networkId) +
           attr("mac", nic.mac) + "/>";
  }
  if (record.kind == plugin::MachineKind::kTestCopy) {
    const auto& copy = record.copySpec;
    xml += "<ws:copy" + attr("source", copy.sourceReplicaId) +
           attr("restorePoint", copy.restorePointId) + attr("bubble", copy.bubbleId) +
           attr("base", record.baseRestorePointId) + "/>";
  }
  return xml + "</ws:machine>";
}

const char* forwardModeName(ForwardMode mode) {
  switch (mode) {
    case ForwardMode::kNone:
      return "";
    case ForwardMode::kNat:
      return "nat";
    case ForwardMode::kRoute:
      return "route";
    case ForwardMode::kOpen:
      return "open";
    case ForwardMode::kBridge:
      return "bridge";
    case ForwardMode::kPrivate:
      return "private";
    case ForwardMode::kVepa:
      return "vepa";
    case ForwardMode::kPassthrough:
      return "passthrough";
    case ForwardMode::kHostdev:
      return "hostdev";
  }
  return "";
}

plugin::Error unsupported(const std::string& message) {
  return plugin::makeError(ErrorCode::kInvalidArgument, message, "VIR_ERR_CONFIG_UNSUPPORTED(67)");
}

}  // namespace

std::uint64_t cpuQuotaUs(std::uint64_t cpuMhz, std::uint32_t hostCpuMhz) {
  constexpr std::uint64_t kPeriodUs = 100'000;
  const std::uint64_t quota = cpuMhz * kPeriodUs / hostCpuMhz;
  return std::clamp<std::uint64_t>(quota, 1000, 17'592'186'044'415);  // libvirt's accepted range
}

std::string renderDomainXml(const MachineRecord& record, const DomainLayout& layout) {
  const auto& spec = record.spec;
  std::string xml = "<domain" + attr("type", layout.domainType) + "><name>" +
                    xmlEscape(domainName(spec.replicaId)) + "</name>";
  if (!layout.uuid.empty()) xml += "<uuid>" + xmlEscape(layout.uuid) + "</uuid>";
  // libvirt titles are one line.
  std::string title = spec.name;
  std::replace_if(
      title.begin(), title.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  if (!title.empty()) xml += "<title>" + xmlEscape(title) + "</title>";
  xml += "<metadata>" + machineMetadata(record) + "</metadata>";
  xml += "<memory unit='MiB'>" + std::to_string(spec.memoryMb) + "</memory>";
  xml += "<vcpu placement='static'>" + std::to_string(spec.vcpus) + "</vcpu>";
  if (spec.cpuMhz > 0 && layout.hostCpuMhz > 0) {
    // The plan's CPU is a clock budget: cap the whole domain at cpuMhz of the host's CPU time.
    xml += "<cputune><global_period>100000</global_period><global_quota>" +
           std::to_string(cpuQuotaUs(spec.cpuMhz, layout.hostCpuMhz)) + "</global_quota></cputune>";
  }
  xml +=
      "<os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>"
      "<features><acpi/><apic/></features><cpu mode='host-passthrough'/>"
      "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
      "<on_crash>destroy</on_crash><devices>";
  for (std::size_t i = 0; i < spec.disks.size(); ++i) {
    const auto data = dataPathOf(record, i);
    xml += std::string("<disk type='") + (data.empty() ? "volume" : "file") +
           "' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source" +
           (data.empty() ? attr("pool", record.volumes.at(i).pool) +
                               attr("volume", record.volumes.at(i).volume)
                         : attr("file", data)) +
           "/><target" + attr("dev", virtioTarget(i)) + " bus='virtio'/></disk>";
  }
  for (std::size_t i = 0; i < spec.nics.size(); ++i) {
    xml += "<interface type='network'><mac" + attr("address", layout.macs.at(i)) + "/><source" +
           attr("network", layout.networkNames.at(i)) + "/><model type='virtio'/></interface>";
  }
  xml +=
      "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
      "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/></devices></domain>";
  return xml;
}

std::optional<MachineRecord> parseMachineRecord(const XmlDocument& doc) {
  xmlNodePtr machine = doc.first("/domain/metadata/ws:machine");
  if (machine == nullptr) return std::nullopt;
  MachineRecord record;
  const auto kind = attribute(machine, "kind");
  if (kind != "replica" && kind != "test_copy") return std::nullopt;
  record.kind = kind == "replica" ? plugin::MachineKind::kReplica : plugin::MachineKind::kTestCopy;
  auto& spec = record.spec;
  spec.replicaId = attribute(machine, "id");
  spec.subscriptionId = attribute(machine, "subscription");
  spec.tenantId = attribute(machine, "tenant");
  spec.name = attribute(machine, "name");
  spec.vcpus = static_cast<std::uint32_t>(unsignedAttribute(machine, "vcpus").value_or(0));
  spec.cpuMhz = unsignedAttribute(machine, "cpuMhz").value_or(0);
  spec.memoryMb = unsignedAttribute(machine, "memoryMb").value_or(0);
  if (spec.replicaId.empty()) return std::nullopt;
  for (xmlNodePtr disk : doc.select("ws:disk", machine)) {
    spec.disks.push_back({attribute(disk, "id"), attribute(disk, "storage"),
                          unsignedAttribute(disk, "sizeGb").value_or(0)});
    record.volumes.push_back({attribute(disk, "pool"), attribute(disk, "volume")});
    record.dataPaths.push_back(attribute(disk, "data"));
  }
  dropUnusedDataPaths(record);
  for (xmlNodePtr nic : doc.select("ws:nic", machine)) {
    spec.nics.push_back({attribute(nic, "id"), attribute(nic, "network"), attribute(nic, "mac")});
  }
  if (xmlNodePtr copy = doc.first("ws:copy", machine)) {
    record.copySpec = {spec.replicaId, attribute(copy, "source"), attribute(copy, "restorePoint"),
                       attribute(copy, "bubble")};
    record.baseRestorePointId = attribute(copy, "base");
  }
  return record;
}

std::string dataPathOf(const MachineRecord& record, std::size_t index) {
  return index < record.dataPaths.size() ? record.dataPaths[index] : std::string();
}

void dropUnusedDataPaths(MachineRecord& record) {
  if (std::all_of(record.dataPaths.begin(), record.dataPaths.end(),
                  [](const std::string& path) { return path.empty(); })) {
    record.dataPaths.clear();
  }
}

std::vector<std::string> interfaceNetworks(const XmlDocument& doc) {
  std::vector<std::string> networks;
  for (xmlNodePtr source : doc.select("/domain/devices/interface/source")) {
    networks.push_back(attribute(source, "network"));
  }
  return networks;
}

std::vector<std::string> interfaceMacs(const XmlDocument& doc) {
  std::vector<std::string> macs;
  for (xmlNodePtr mac : doc.select("/domain/devices/interface/mac")) {
    macs.push_back(attribute(mac, "address"));
  }
  return macs;
}

std::string subscriptionMetadata(const plugin::TenantResourcesSpec& spec) {
  std::string xml = std::string("<ws:subscription xmlns:ws='") + kMetadataNamespace + "'" +
                    attr("id", spec.subscriptionId) + attr("tenant", spec.tenantId) +
                    attr("tenantName", spec.tenantName);
  if (spec.cpuMhz) xml += attr("cpuMhz", *spec.cpuMhz);
  if (spec.memoryMb) xml += attr("memoryMb", *spec.memoryMb);
  xml += ">";
  for (const auto& storage : spec.storages) {
    xml += "<ws:storage" + attr("name", storage.name) + attr("backend", storage.backendStorage) +
           attr("quotaGb", storage.quotaGb) + "/>";
  }
  return xml + "</ws:subscription>";
}

std::optional<plugin::TenantResourcesSpec> parseSubscriptionRecord(const XmlDocument& doc) {
  xmlNodePtr node = doc.first("/network/metadata/ws:subscription");
  if (node == nullptr) return std::nullopt;
  plugin::TenantResourcesSpec spec;
  spec.subscriptionId = attribute(node, "id");
  spec.tenantId = attribute(node, "tenant");
  spec.tenantName = attribute(node, "tenantName");
  spec.cpuMhz = unsignedAttribute(node, "cpuMhz");
  spec.memoryMb = unsignedAttribute(node, "memoryMb");
  for (xmlNodePtr storage : doc.select("ws:storage", node)) {
    spec.storages.push_back({attribute(storage, "name"), attribute(storage, "backend"),
                             unsignedAttribute(storage, "quotaGb").value_or(0)});
  }
  if (spec.subscriptionId.empty()) return std::nullopt;
  return spec;
}

std::string networkMetadata(const NetworkRecord& record) {
  const auto& spec = record.spec;
  std::string xml = std::string("<ws:network xmlns:ws='") + kMetadataNamespace + "'" +
                    attr("id", spec.networkId) + attr("subscription", spec.subscriptionId) +
                    attr("tenant", spec.tenantId) + attr("name", spec.name) +
                    attr("vlan", spec.vlanId) + attr("internet", spec.internet ? "yes" : "no");
  if (record.isolated()) {
    xml += attr("bubble", record.bubbleId) + attr("source", record.sourceNetworkId) +
           attr("index", record.bubbleIndex);
  }
  return xml + "/>";
}

std::optional<NetworkRecord> parseNetworkRecord(const XmlDocument& doc) {
  xmlNodePtr node = doc.first("/network/metadata/ws:network");
  if (node == nullptr) return std::nullopt;
  NetworkRecord record;
  record.spec.networkId = attribute(node, "id");
  record.spec.subscriptionId = attribute(node, "subscription");
  record.spec.tenantId = attribute(node, "tenant");
  record.spec.name = attribute(node, "name");
  record.spec.vlanId = static_cast<std::uint32_t>(unsignedAttribute(node, "vlan").value_or(0));
  record.spec.internet = attribute(node, "internet") == "yes";
  record.bubbleId = attribute(node, "bubble");
  record.sourceNetworkId = attribute(node, "source");
  record.bubbleIndex = static_cast<std::uint32_t>(unsignedAttribute(node, "index").value_or(0));
  if (record.spec.networkId.empty()) return std::nullopt;
  return record;
}

plugin::Status checkAcceptedByLibvirt(const NetworkDefinition& def) {
  if (def.name.empty() || def.name.find('/') != std::string::npos ||
      def.name.find('\n') != std::string::npos) {
    return plugin::makeError(ErrorCode::kInvalidArgument,
                             "network name '" + def.name + "' must not be empty or contain '/'",
                             "VIR_ERR_XML_ERROR(27)");
  }
  if (!def.bridge.empty() && !validDeviceName(def.bridge)) {
    return plugin::makeError(ErrorCode::kInvalidArgument,
                             "bridge name '" + def.bridge + "' of network " + def.name +
                                 " is not a valid device name (1-15 bytes, no '/', ':' or spaces)",
                             "VIR_ERR_XML_ERROR(27)");
  }
  if (def.forward == ForwardMode::kBridge && def.bridge.empty()) {
    return unsupported("network " + def.name + " with forward mode='bridge' needs a bridge name");
  }
  if (def.openvswitch && def.forward != ForwardMode::kBridge) {
    return unsupported("<virtualport type='openvswitch'> needs forward mode='bridge' (network " +
                       def.name + ")");
  }
  if (def.vlan) {
    const bool vlanAllowed = def.forward == ForwardMode::kHostdev ||
                             def.forward == ForwardMode::kPassthrough ||
                             (def.forward == ForwardMode::kBridge && def.openvswitch);
    if (!vlanAllowed) {
      return unsupported("<vlan> element specified for network " + def.name +
                         ", whose type doesn't support vlan configuration");
    }
    if (*def.vlan > 4095) {
      return plugin::makeError(
          ErrorCode::kInvalidArgument,
          "vlan tag id " + std::to_string(*def.vlan) + " too large (maximum 4095)",
          "VIR_ERR_XML_ERROR(27)");
    }
  }
  return {};
}

std::string renderNetworkXml(const NetworkDefinition& def) {
  std::string xml = "<network><name>" + xmlEscape(def.name) + "</name>";
  if (!def.uuid.empty()) xml += "<uuid>" + def.uuid + "</uuid>";
  if (!def.metadata.empty()) xml += "<metadata>" + def.metadata + "</metadata>";
  if (def.forward != ForwardMode::kNone) {
    xml += std::string("<forward mode='") + forwardModeName(def.forward) + "'/>";
  }
  if (!def.bridge.empty()) xml += "<bridge" + attr("name", def.bridge) + "/>";
  if (def.openvswitch) xml += "<virtualport type='openvswitch'/>";
  if (def.vlan) xml += "<vlan><tag id='" + std::to_string(*def.vlan) + "'/></vlan>";
  return xml + "</network>";
}

std::string renderSnapshotXml(const std::string& restorePointId, const std::string& description) {
  return "<domainsnapshot><name>" + xmlEscape(snapshotName(restorePointId)) +
         "</name><description>" + xmlEscape(description) + "</description></domainsnapshot>";
}

std::optional<plugin::RestorePointInfo> parseSnapshot(const XmlDocument& doc) {
  auto id = decodeId(textOf(doc.first("/domainsnapshot/name")));
  if (!id || id->empty()) return std::nullopt;
  plugin::RestorePointInfo info;
  info.restorePointId = *id;
  info.description = textOf(doc.first("/domainsnapshot/description"));
  const auto created = textOf(doc.first("/domainsnapshot/creationTime"));
  info.createdUnix = created.empty() ? 0 : std::stoll(created);
  return info;
}

}  // namespace warmsite::libvirtplugin

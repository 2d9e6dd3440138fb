// The legacy API (/api/...): VDCs and their metadata, composeVApp, vApps and VMs (power,
// undeploy, snapshots, reconfigure, delete), tasks and the query service. Answers are JSON
// (Accept: application/*+json;version=...); request bodies are the XML documents the legacy API
// documents.

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "tests/clouddirector-sim/fiql.h"
#include "tests/clouddirector-sim/sim_backend.h"
#include "tests/clouddirector-sim/xml_reader.h"

namespace warmsite::clouddirector::sim {
namespace {

constexpr int kStatusFailed = -1, kStatusUnresolved = 0, kStatusSuspended = 3, kStatusOn = 4,
              kStatusOff = 8;

std::string statusName(int status) {
  switch (status) {
    case kStatusFailed:
      return "FAILED_CREATION";
    case kStatusUnresolved:
      return "UNRESOLVED";
    case kStatusSuspended:
      return "SUSPENDED";
    case kStatusOn:
      return "POWERED_ON";
    default:
      return "POWERED_OFF";
  }
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

long number(const XmlNode* node, const std::string& what) {
  const std::string text = node == nullptr ? "" : trim(node->text);
  if (text.empty() || !std::all_of(text.begin(), text.end(), ::isdigit) || text.size() > 12) {
    throw badRequest(what + " must be a non-negative integer, not \"" + text + "\"");
  }
  return std::stol(text);
}

XmlNode parseBody(const Request& request, const std::string& mediaType, const std::string& root) {
  const std::string contentType = request.raw.header("Content-Type");
  if (contentType.rfind(mediaType, 0) != 0) {
    throw ApiError{415, "UNSUPPORTED_MEDIA_TYPE",
                   "Content-Type must be " + mediaType + ", not \"" + contentType + "\""};
  }
  XmlNode document;
  try {
    document = parseXml(request.raw.body);
  } catch (const std::invalid_argument& e) {
    throw badRequest(std::string("The request body is not valid XML: ") + e.what());
  }
  if (document.name != root) throw badRequest("The request body must be a " + root + " element");
  return document;
}

// "https://host/api/network/<uuid>" or ".../api/admin/network/<uuid>" -> uuid.
std::string uuidAfter(const std::string& href, const std::string& marker) {
  const auto at = href.find(marker);
  return at == std::string::npos ? std::string() : href.substr(at + marker.size());
}

std::uint64_t diskBytes(const Vm& vm) {
  std::uint64_t total = 0;
  for (const auto& disk : vm.disks) total += disk.sizeMb * 1024 * 1024;
  return total;
}

}  // namespace

Json Backend::reference(const std::string& hrefValue, const std::string& id,
                        const std::string& type, const std::string& name) const {
  return {{"otherAttributes", Json::object()},
          {"href", hrefValue},
          {"id", id},
          {"type", type},
          {"name", name}};
}

ServerResponse Backend::legacy(Request& request) {
  const auto& s = request.segments;  // s[0] = "api"
  const std::size_t n = s.size();
  const std::string& m = request.method;
  if (n == 2 && s[1] == "query" && m == "GET") return query(request);
  if (n >= 3 && s[1] == "task") {
    if (n == 3 && m == "GET") return getTask(request, s[2]);
    if (n == 5 && s[3] == "action" && s[4] == "cancel" && m == "POST") {
      return cancelTask(request, s[2]);
    }
  }
  // /api/vdc/{uuid}[...] and the admin view /api/admin/vdc/{uuid}/metadata[/{key}]
  const bool admin = n >= 2 && s[1] == "admin";
  const std::size_t base = admin ? 2 : 1;
  if (n >= base + 2 && s[base] == "vdc") {
    Vdc& vdc = vdcOrThrow(request, s[base + 1]);
    if (n == base + 2 && m == "GET") return getVdc(request, vdc);
    if (n == base + 3 && s[base + 2] == "metadata" && m == "GET") return getMetadata(request, vdc);
    if (admin && n == base + 4 && s[base + 2] == "metadata") {
      if (m == "PUT") return putMetadata(request, vdc, s[base + 3]);
      if (m == "DELETE") return deleteMetadata(request, vdc, s[base + 3]);
    }
    if (!admin && n == 5 && s[3] == "action" && s[4] == "composeVApp" && m == "POST") {
      return composeVApp(request, vdc);
    }
  }
  if (n >= 3 && s[1] == "vApp") {
    std::string action;
    for (std::size_t i = 3; i < n; ++i) action += (action.empty() ? "" : "/") + s[i];
    if (s[2].rfind("vapp-", 0) == 0) {
      return vappAction(request, vappOrThrow(request, s[2].substr(5)), action);
    }
    if (s[2].rfind("vm-", 0) == 0) {
      auto [vapp, vm] = vmOrThrow(request, s[2].substr(3));
      return vmAction(request, *vapp, *vm, action);
    }
  }
  throw ApiError{404, "RESOURCE_NOT_FOUND", "No resource for " + m + " " + request.path};
}

// ---- VDCs and their metadata
// -------------------------------------------------------------------------

ServerResponse Backend::getVdc(const Request& request, const Vdc& vdc) {
  std::uint64_t cpuUsed = 0, memoryUsed = 0;
  Json entities = Json::array();
  for (const auto& [uuid, vapp] : vapps) {
    if (vapp.vdcUuid != vdc.uuid) continue;
    entities.push_back(reference(href("/api/vApp/vapp-" + uuid), "urn:vcloud:vapp:" + uuid,
                                 "application/vnd.vmware.vcloud.vApp+xml", vapp.name));
    for (const auto& vm : vapp.vms) {
      if (vm.status == kStatusOn) {
        cpuUsed += static_cast<std::uint64_t>(vm.numCpus) * 1000;
        memoryUsed += vm.memoryMb;
      }
    }
  }
  Json profiles = Json::array();
  for (const auto& profile : vdc.profiles) {
    profiles.push_back(reference(href("/api/vdcStorageProfile/" + profile.uuid),
                                 "urn:vcloud:vdcstorageProfile:" + profile.uuid,
                                 "application/vnd.vmware.vcloud.vdcStorageProfile+xml",
                                 profile.name));
  }
  auto capacity = [](std::uint64_t limit, std::uint64_t used, const char* units) {
    return Json{{"units", units}, {"allocated", limit}, {"limit", limit},
                {"reserved", 0},  {"used", used},       {"overhead", 0}};
  };
  return json(request, 200,
              {{"otherAttributes", Json::object()},
               {"href", href("/api/vdc/" + vdc.uuid)},
               {"type", "application/vnd.vmware.vcloud.vdc+json"},
               {"id", "urn:vcloud:vdc:" + vdc.uuid},
               {"name", vdc.name},
               {"description", ""},
               {"status", 1},
               {"allocationModel", "Flex"},
               {"computeCapacity",
                {{"cpu", capacity(vdc.cpuLimitMhz, cpuUsed, "MHz")},
                 {"memory", capacity(vdc.memoryLimitMb, memoryUsed, "MB")}}},
               {"resourceEntities", {{"resourceEntity", entities}}},
               {"vdcStorageProfiles", {{"vdcStorageProfile", profiles}}},
               {"nicQuota", 0},
               {"networkQuota", 0},
               {"vmQuota", 0},
               {"isEnabled", true}},
              "application/vnd.vmware.vcloud.vdc+json");
}

ServerResponse Backend::getMetadata(const Request& request, const Vdc& vdc) {
  Json entries = Json::array();
  for (const auto& [key, value] : vdc.metadata) {
    entries.push_back({{"otherAttributes", Json::object()},
                       {"href", href("/api/vdc/" + vdc.uuid + "/metadata/" + key)},
                       {"type", "application/vnd.vmware.vcloud.metadata.value+json"},
                       {"domain", nullptr},
                       {"key", key},
                       {"typedValue", {{"_type", "MetadataStringValue"}, {"value", value}}}});
  }
  return json(request, 200,
              {{"otherAttributes", Json::object()},
               {"href", href("/api/vdc/" + vdc.uuid + "/metadata")},
               {"type", "application/vnd.vmware.vcloud.metadata+json"},
               {"metadataEntry", entries}},
              "application/vnd.vmware.vcloud.metadata+json");
}

ServerResponse Backend::putMetadata(const Request& request, Vdc& vdc, const std::string& key) {
  const XmlNode body =
      parseBody(request, "application/vnd.vmware.vcloud.metadata.value+xml", "MetadataValue");
  if (key.empty() || key.size() > 256) throw badRequest("A metadata key has 1-256 characters");
  const XmlNode* typed = body.child("TypedValue");
  if (typed == nullptr || typed->attribute("type") != "MetadataStringValue") {
    throw badRequest("TypedValue must be a MetadataStringValue (the simulator keeps strings only)");
  }
  requireNotBusy("vdc:" + vdc.uuid, "VDC " + vdc.name);
  const std::string uuid = vdc.uuid, value = typed->childText("Value");
  const Task& task =
      startTask(request, "metadataUpdate", "Updating metadata of VDC " + vdc.name,
                reference(href("/api/vdc/" + uuid), "urn:vcloud:vdc:" + uuid,
                          "application/vnd.vmware.vcloud.vdc+xml", vdc.name),
                "vdc:" + uuid, [this, uuid, key, value] { vdcs.at(uuid).metadata[key] = value; });
  return json(request, 202, taskJson(task), "application/vnd.vmware.vcloud.task+json");
}

ServerResponse Backend::deleteMetadata(const Request& request, Vdc& vdc, const std::string& key) {
  if (!vdc.metadata.contains(key)) throw forbidden("metadata entry " + key);
  requireNotBusy("vdc:" + vdc.uuid, "VDC " + vdc.name);
  const std::string uuid = vdc.uuid;
  const Task& task =
      startTask(request, "metadataDelete", "Deleting metadata of VDC " + vdc.name,
                reference(href("/api/vdc/" + uuid), "urn:vcloud:vdc:" + uuid,
                          "application/vnd.vmware.vcloud.vdc+xml", vdc.name),
                "vdc:" + uuid, [this, uuid, key] { vdcs.at(uuid).metadata.erase(key); });
  return json(request, 202, taskJson(task), "application/vnd.vmware.vcloud.task+json");
}

// ---- composeVApp
// -------------------------------------------------------------------------------------

ServerResponse Backend::composeVApp(const Request& request, const Vdc& vdc) {
  const XmlNode params = parseBody(request, "application/vnd.vmware.vcloud.composeVAppParams+xml",
                                   "ComposeVAppParams");
  VApp vapp;
  vapp.uuid = newUuid();
  vapp.name = params.attribute("name");
  vapp.description = params.childText("Description");
  vapp.vdcUuid = vdc.uuid;
  vapp.created = isoNow();
  if (vapp.name.empty()) throw badRequest("ComposeVAppParams needs a name");
  for (const auto& [uuid, other] : vapps) {
    if (other.vdcUuid == vdc.uuid && other.name == vapp.name) {
      throw badRequest("The VCD entity " + vapp.name + " already exists.", "DUPLICATE_NAME");
    }
  }
  if (params.child("SourcedItem") != nullptr) {
    throw badRequest(
        "SourcedItem is not modelled by the simulator; compose blank VMs (CreateItem)");
  }
  if (const XmlNode* instantiation = params.child("InstantiationParams")) {
    if (const XmlNode* section = instantiation->child("NetworkConfigSection")) {
      for (const XmlNode* config : section->all("NetworkConfig")) {
        const XmlNode* configuration = config->child("Configuration");
        const XmlNode* parent = configuration ? configuration->child("ParentNetwork") : nullptr;
        const std::string hrefValue = parent ? parent->attribute("href") : "";
        std::string uuid = uuidAfter(hrefValue, "/api/admin/network/");
        if (uuid.empty()) uuid = uuidAfter(hrefValue, "/api/network/");
        auto network = networks.find(uuid);
        if (network == networks.end() || network->second.vdcUuid != vdc.uuid ||
            network->second.status != "REALIZED") {
          throw badRequest("Parent network " + hrefValue + " is not an available network of VDC " +
                           vdc.name);
        }
        if (trim(configuration->childText("FenceMode")) != "bridged") {
          throw badRequest("FenceMode must be bridged for an org VDC network");
        }
        vapp.networkConfig[config->attribute("networkName")] = uuid;
      }
    }
  }
  std::vector<Vm> vms;
  static const std::regex kMac("^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$");
  static const std::set<std::string> kModes = {"NONE", "DHCP", "POOL", "MANUAL"};
  for (const XmlNode* item : params.all("CreateItem")) {
    Vm vm;
    vm.uuid = newUuid();
    vm.name = item->attribute("name");
    vm.description = item->childText("Description");
    if (vm.name.empty()) throw badRequest("CreateItem needs a name");
    const XmlNode* spec = item->child("VmSpecSection");
    if (spec == nullptr) throw badRequest("CreateItem " + vm.name + " needs a VmSpecSection");
    vm.osType = trim(spec->childText("OsType"));
    vm.numCpus = static_cast<int>(number(spec->child("NumCpus"), "NumCpus"));
    vm.coresPerSocket =
        spec->child("NumCoresPerSocket")
            ? static_cast<int>(number(spec->child("NumCoresPerSocket"), "NumCoresPerSocket"))
            : 1;
    if (vm.numCpus < 1 || vm.coresPerSocket < 1 || vm.numCpus % vm.coresPerSocket != 0) {
      throw badRequest("NumCpus must be a positive multiple of NumCoresPerSocket");
    }
    const XmlNode* memory = spec->child("MemoryResourceMb");
    vm.memoryMb = static_cast<std::uint64_t>(
        number(memory ? memory->child("Configured") : nullptr, "MemoryResourceMb/Configured"));
    if (vm.memoryMb < 4) throw badRequest("A VM needs at least 4 MB of memory");
    vm.hardwareVersion = trim(spec->childText("HardwareVersion"));
    if (vm.hardwareVersion.empty()) throw badRequest("VmSpecSection needs a HardwareVersion");
    if (const XmlNode* disks = spec->child("DiskSection")) {
      for (const XmlNode* settings : disks->all("DiskSettings")) {
        Disk disk;
        disk.diskId = std::to_string(2000 + vm.disks.size());
        disk.sizeMb = static_cast<std::uint64_t>(number(settings->child("SizeMb"), "SizeMb"));
        disk.unitNumber = static_cast<int>(number(settings->child("UnitNumber"), "UnitNumber"));
        const XmlNode* profile = settings->child("StorageProfile");
        const std::string profileHref = profile ? profile->attribute("href") : "";
        for (const auto& candidate : vdc.profiles) {
          if (uuidAfter(profileHref, "/api/vdcStorageProfile/") == candidate.uuid) {
            disk.profileUuid = candidate.uuid;
          }
        }
        if (disk.sizeMb == 0 || disk.profileUuid.empty()) {
          throw badRequest("Disk " + std::to_string(vm.disks.size()) +
                           " needs a size and a storage profile of the VDC (" + profileHref + ")");
        }
        vm.disks.push_back(disk);
      }
    }
    if (const XmlNode* section = item->child("NetworkConnectionSection")) {
      for (const XmlNode* connection : section->all("NetworkConnection")) {
        Nic nic;
        nic.network = connection->attribute("network");
        if (!vapp.networkConfig.contains(nic.network)) {
          throw badRequest("NIC network " + nic.network + " is not a network of the vApp");
        }
        nic.index = static_cast<int>(
            number(connection->child("NetworkConnectionIndex"), "NetworkConnectionIndex"));
        nic.connected = trim(connection->childText("IsConnected")) != "false";
        nic.mac = trim(connection->childText("MACAddress"));
        if (!nic.mac.empty() && !std::regex_match(nic.mac, kMac)) {
          throw badRequest("MACAddress " + nic.mac + " is not a MAC address");
        }
        nic.allocationMode = trim(connection->childText("IpAddressAllocationMode"));
        if (!kModes.contains(nic.allocationMode)) {
          throw badRequest("IpAddressAllocationMode \"" + nic.allocationMode + "\" is not valid");
        }
        nic.adapterType = trim(connection->childText("NetworkAdapterType"));
        vm.nics.push_back(nic);
      }
    }
    vms.push_back(std::move(vm));
  }
  const std::string uuid = vapp.uuid, name = vapp.name;
  vapps.emplace(uuid, std::move(vapp));
  // The answer is the new vApp, whose tasks[] carries this task (composeVApp returns no Task).
  startTask(
      request, "vdcComposeVapp", "Composing Virtual Application " + name + "(" + uuid + ")",
      reference(href("/api/vApp/vapp-" + uuid), "urn:vcloud:vapp:" + uuid,
                "application/vnd.vmware.vcloud.vApp+xml", name),
      "vapp:" + uuid,
      [this, uuid, vms]() mutable {
        VApp& created = vapps.at(uuid);
        for (auto& vm : vms) {
          for (auto& nic : vm.nics) {
            if (nic.mac.empty()) nic.mac = nextMac();
          }
        }
        created.vms = std::move(vms);
        created.status = kStatusOff;
      },
      [this, uuid] { vapps.at(uuid).status = kStatusFailed; });
  return json(request, 201, vappJson(vapps.at(uuid)), "application/vnd.vmware.vcloud.vApp+json");
}

// ---- vApps and VMs
// -----------------------------------------------------------------------------------

Json Backend::vmJson(const VApp& vapp, const Vm& vm) const {
  Json connections = Json::array();
  for (const auto& nic : vm.nics) {
    connections.push_back({{"network", nic.network},
                           {"networkConnectionIndex", nic.index},
                           {"ipAddress", nullptr},
                           {"isConnected", nic.connected},
                           {"macAddress", nic.mac},
                           {"ipAddressAllocationMode", nic.allocationMode},
                           {"networkAdapterType", nic.adapterType}});
  }
  Json disks = Json::array();
  for (const auto& disk : vm.disks) {
    const Vdc& vdc = vdcs.at(vapp.vdcUuid);
    const auto profile = std::find_if(vdc.profiles.begin(), vdc.profiles.end(),
                                      [&](const auto& p) { return p.uuid == disk.profileUuid; });
    disks.push_back(
        {{"diskId", disk.diskId},
         {"sizeMb", disk.sizeMb},
         {"unitNumber", disk.unitNumber},
         {"busNumber", 0},
         {"adapterType", "5"},
         {"thinProvisioned", true},
         {"storageProfile",
          reference(href("/api/vdcStorageProfile/" + profile->uuid),
                    "urn:vcloud:vdcstorageProfile:" + profile->uuid,
                    "application/vnd.vmware.vcloud.vdcStorageProfile+xml", profile->name)},
         {"overrideVmDefault", true}});
  }
  Json sections = Json::array();
  sections.push_back({{"_type", "NetworkConnectionSectionType"},
                      {"info", {{"value", "Specifies the available VM network connections"}}},
                      {"primaryNetworkConnectionIndex", 0},
                      {"networkConnection", connections}});
  sections.push_back({{"_type", "VmSpecSectionType"},
                      {"info", {{"value", "The VM specification section"}}},
                      {"modified", false},
                      {"osType", vm.osType},
                      {"numCpus", vm.numCpus},
                      {"numCoresPerSocket", vm.coresPerSocket},
                      {"memoryResourceMb", {{"configured", vm.memoryMb}}},
                      {"diskSection", {{"diskSettings", disks}}},
                      {"hardwareVersion", {{"value", vm.hardwareVersion}}}});
  Json snapshots = Json::array();
  if (vm.snapshot) {
    snapshots.push_back({{"created", vm.snapshot->created},
                         {"poweredOn", vm.snapshot->poweredOn},
                         {"size", vm.snapshot->sizeBytes}});
  }
  sections.push_back({{"_type", "SnapshotSectionType"},
                      {"info", {{"value", "Snapshot information section"}}},
                      {"snapshot", snapshots}});
  return {{"otherAttributes", Json::object()},
          {"href", href("/api/vApp/vm-" + vm.uuid)},
          {"type", "application/vnd.vmware.vcloud.vm+json"},
          {"id", "urn:vcloud:vm:" + vm.uuid},
          {"name", vm.name},
          {"description", vm.description},
          {"status", vm.status},
          {"deployed", vm.deployed},
          {"needsCustomization", false},
          {"section", sections},
          {"vAppParent", reference(href("/api/vApp/vapp-" + vapp.uuid), "", "", vapp.name)}};
}

Json Backend::vappJson(const VApp& vapp) const {
  Json running = Json::array();
  for (const auto& uuid : taskOrder) {
    const Task& task = tasks.at(uuid);
    if (task.owner.value("id", "") == "urn:vcloud:vapp:" + vapp.uuid)
      running.push_back(taskJson(task));
  }
  Json vms = Json::array();
  for (const auto& vm : vapp.vms) vms.push_back(vmJson(vapp, vm));
  return {{"otherAttributes", Json::object()},
          {"href", href("/api/vApp/vapp-" + vapp.uuid)},
          {"type", "application/vnd.vmware.vcloud.vApp+json"},
          {"id", "urn:vcloud:vapp:" + vapp.uuid},
          {"name", vapp.name},
          {"description", vapp.description},
          {"status", vapp.status},
          {"deployed", vapp.deployed},
          {"dateCreated", vapp.created},
          {"tasks", running.empty() ? Json(nullptr) : Json{{"task", running}}},
          {"children", {{"vm", vms}}}};
}

ServerResponse Backend::vappAction(Request& request, VApp& vapp, const std::string& action) {
  const std::string& m = request.method;
  const std::string uuid = vapp.uuid;
  const Json owner = reference(href("/api/vApp/vapp-" + uuid), "urn:vcloud:vapp:" + uuid,
                               "application/vnd.vmware.vcloud.vApp+xml", vapp.name);
  auto accepted = [&](const Task& task) {
    return json(request, 202, taskJson(task), "application/vnd.vmware.vcloud.task+json");
  };
  auto setPower = [this, uuid](int status, bool deployed) {
    VApp& target = vapps.at(uuid);
    target.status = status;
    target.deployed = deployed;
    for (auto& vm : target.vms) {
      vm.status = status;
      vm.deployed = deployed;
    }
  };
  if (action.empty() && m == "GET") {
    return json(request, 200, vappJson(vapp), "application/vnd.vmware.vcloud.vApp+json");
  }
  if (m != "POST" && !(action.empty() && m == "DELETE")) {
    throw ApiError{405, "METHOD_NOT_ALLOWED", m + " is not allowed on " + request.path};
  }
  requireNotBusy("vapp:" + uuid, "vApp " + vapp.name);
  const std::string notRunning = "The requested operation could not be executed since vApp \"" +
                                 vapp.name + "\" is not running.";
  if (action.empty()) {  // DELETE
    if (vapp.deployed) {
      throw badRequest("The requested operation could not be executed since vApp \"" + vapp.name +
                       "\" is running. Undeploy it first.");
    }
    return accepted(startTask(request, "vdcDeleteVapp", "Deleting Virtual Application " + vapp.name,
                              owner, "vapp:" + uuid, [this, uuid] { vapps.erase(uuid); }));
  }
  if (vapp.status == kStatusFailed || vapp.status == kStatusUnresolved) {
    throw badRequest("vApp \"" + vapp.name + "\" could not be created; it can only be deleted.");
  }
  if (action == "power/action/powerOn") {
    if (vapp.status == kStatusOn) {
      throw badRequest("The requested operation could not be executed since vApp \"" + vapp.name +
                       "\" is already powered on.");
    }
    return accepted(startTask(request, "vappDeploy", "Starting Virtual Application " + vapp.name,
                              owner, "vapp:" + uuid, [setPower] { setPower(kStatusOn, true); }));
  }
  if (action == "power/action/powerOff") {
    if (vapp.status != kStatusOn) throw badRequest(notRunning);
    return accepted(startTask(request, "vappPowerOff", "Stopping Virtual Application " + vapp.name,
                              owner, "vapp:" + uuid, [setPower] { setPower(kStatusOff, true); }));
  }
  if (action == "action/undeploy") {
    const XmlNode params = parseBody(
        request, "application/vnd.vmware.vcloud.undeployVAppParams+xml", "UndeployVAppParams");
    const std::string how = trim(params.childText("UndeployPowerAction"));
    static const std::set<std::string> kActions = {"powerOff", "suspend", "shutdown",
                                                   "force",    "default", ""};
    if (!kActions.contains(how))
      throw badRequest("UndeployPowerAction \"" + how + "\" is not valid");
    if (!vapp.deployed) throw badRequest(notRunning);
    const int status = how == "suspend" ? kStatusSuspended : kStatusOff;
    return accepted(startTask(request, "vappUndeployPowerOff",
                              "Stopping Virtual Application " + vapp.name, owner, "vapp:" + uuid,
                              [setPower, status] { setPower(status, false); }));
  }
  throw ApiError{404, "RESOURCE_NOT_FOUND", "No action " + action + " on a vApp"};
}

ServerResponse Backend::vmAction(Request& request, VApp& vapp, Vm& vm, const std::string& action) {
  const std::string& m = request.method;
  if (action.empty() && m == "GET") {
    return json(request, 200, vmJson(vapp, vm), "application/vnd.vmware.vcloud.vm+json");
  }
  if (m != "POST") throw ApiError{405, "METHOD_NOT_ALLOWED", m + " is not allowed here"};
  // A VM's operations keep its vApp busy, as on a real cell.
  requireNotBusy("vapp:" + vapp.uuid, "vApp " + vapp.name);
  const std::string vappUuid = vapp.uuid, vmUuid = vm.uuid;
  const Json owner = reference(href("/api/vApp/vm-" + vmUuid), "urn:vcloud:vm:" + vmUuid,
                               "application/vnd.vmware.vcloud.vm+xml", vm.name);
  auto withVm = [this, vappUuid, vmUuid](auto change) {
    return [this, vappUuid, vmUuid, change] {
      for (auto& candidate : vapps.at(vappUuid).vms) {
        if (candidate.uuid == vmUuid) change(candidate);
      }
    };
  };
  auto accepted = [&](const std::string& operationName, std::function<void()> effect) {
    const Task& task = startTask(request, operationName, operationName + " " + vm.name, owner,
                                 "vapp:" + vappUuid, std::move(effect));
    return json(request, 202, taskJson(task), "application/vnd.vmware.vcloud.task+json");
  };
  if (action == "action/createSnapshot") {
    const XmlNode params = parseBody(
        request, "application/vnd.vmware.vcloud.createSnapshotParams+xml", "CreateSnapshotParams");
    // memory and quiesce default to true; a memory snapshot of a running VM adds its memory.
    const bool memory = params.attribute("memory") != "false";
    // A new snapshot replaces the VM's existing one, without a warning.
    return accepted("vappCreateSnapshot", withVm([memory](Vm& target) {
                      const bool on = target.status == kStatusOn;
                      target.snapshot = Snapshot{
                          isoNow(), on,
                          diskBytes(target) + (memory && on ? target.memoryMb * 1024 * 1024 : 0)};
                    }));
  }
  if (action == "action/revertToCurrentSnapshot") {
    if (!vm.snapshot) throw badRequest("VM " + vm.name + " has no snapshot to revert to.");
    return accepted("vappRevertToCurrentSnapshot", withVm([](Vm& target) {
                      target.status = target.snapshot->poweredOn ? kStatusOn : kStatusOff;
                    }));
  }
  if (action == "action/removeAllSnapshots") {
    return accepted("vappRemoveAllSnapshots", withVm([](Vm& target) { target.snapshot.reset(); }));
  }
  if (action == "action/reconfigureVm") {
    const XmlNode params = parseBody(request, "application/vnd.vmware.vcloud.vm+xml", "Vm");
    const std::string name = params.attribute("name");
    if (name.empty()) throw badRequest("Vm needs its name");
    const XmlNode* description = params.child("Description");
    const std::string newDescription = description ? description->text : vm.description;
    int cpus = vm.numCpus;
    std::uint64_t memoryMb = vm.memoryMb;
    if (const XmlNode* spec = params.child("VmSpecSection")) {
      if (vm.status == kStatusOn) {
        throw badRequest("VM " + vm.name + " must be powered off to change its hardware.");
      }
      if (spec->child("NumCpus"))
        cpus = static_cast<int>(number(spec->child("NumCpus"), "NumCpus"));
      if (const XmlNode* memory = spec->child("MemoryResourceMb")) {
        memoryMb = static_cast<std::uint64_t>(number(memory->child("Configured"), "Configured"));
      }
    }
    return accepted("vappUpdateVm", withVm([name, newDescription, cpus, memoryMb](Vm& target) {
                      target.name = name;
                      target.description = newDescription;
                      target.numCpus = cpus;
                      target.memoryMb = memoryMb;
                    }));
  }
  throw ApiError{404, "RESOURCE_NOT_FOUND", "No action " + action + " on a VM"};
}

// ---- tasks
// ------------------------------------------------------------------------------------------

Json Backend::taskJson(const Task& task) const {
  const Org& taskOrg = org(task.orgUuid);
  int progress = 0;
  if (task.status == "success") {
    progress = 100;
  } else if (task.status == "running") {
    const auto total = task.doneAt - task.runningAt;
    const auto done = Clock::now() - task.runningAt;
    progress =
        total.count() > 0
            ? static_cast<int>(std::min<double>(99.0, 100.0 * static_cast<double>(done.count()) /
                                                          static_cast<double>(total.count())))
            : 99;
  }
  Json error = nullptr;
  if (task.status == "error" && task.failure) {
    error = {{"otherAttributes", Json::object()},
             {"message", task.failure->message},
             {"majorErrorCode", task.failure->minorErrorCode == "BUSY_ENTITY" ? 400 : 500},
             {"minorErrorCode", task.failure->minorErrorCode},
             {"vendorSpecificErrorCode", nullptr},
             {"stackTrace", nullptr}};
  }
  return {
      {"otherAttributes", Json::object()},
      {"link",
       {{{"rel", "task:cancel"}, {"href", href("/api/task/" + task.uuid + "/action/cancel")}}}},
      {"href", href("/api/task/" + task.uuid)},
      {"type", "application/vnd.vmware.vcloud.task+json"},
      {"id", "urn:vcloud:task:" + task.uuid},
      {"operationKey", nullptr},
      {"name", "task"},
      {"status", task.status},
      {"operation", task.operation},
      {"operationName", task.operationName},
      {"serviceNamespace", "com.vmware.cloud"},
      {"startTime", task.startTime},
      {"endTime", task.endTime.empty() ? Json(nullptr) : Json(task.endTime)},
      {"cancelRequested", task.cancelRequested},
      {"owner", task.owner},
      {"error", error},
      {"user", reference("", "urn:vcloud:user:" + task.orgUuid, "", task.user)},
      {"organization", reference(href("/api/org/" + taskOrg.uuid), "urn:vcloud:org:" + taskOrg.uuid,
                                 "application/vnd.vmware.vcloud.org+xml", taskOrg.name)},
      {"progress", progress},
      {"details", nullptr}};
}

ServerResponse Backend::getTask(const Request& request, const std::string& uuid) {
  auto it = tasks.find(uuid);
  if (it == tasks.end() || !visible(request, it->second.orgUuid)) throw forbidden("task " + uuid);
  return json(request, 200, taskJson(it->second), "application/vnd.vmware.vcloud.task+json");
}

ServerResponse Backend::cancelTask(const Request& request, const std::string& uuid) {
  auto it = tasks.find(uuid);
  if (it == tasks.end() || !visible(request, it->second.orgUuid)) throw forbidden("task " + uuid);
  if (it->second.status == "queued" || it->second.status == "running") {
    it->second.cancelRequested = true;
  }
  return ServerResponse{204, {}, {}};
}

// ---- query service
// ----------------------------------------------------------------------------------

ServerResponse Backend::query(const Request& request) {
  const std::string type = request.param("type");
  if (request.param("format") != "records") {
    throw badRequest("The simulator answers format=records only");
  }
  const bool adminType = type.rfind("admin", 0) == 0;
  if (adminType && !request.session->provider) throw forbidden("query type " + type);
  // Without a tenant context a system administrator's plain types cover the System org only
  // (go-vcloud-director switches to the admin types for that reason).
  auto inScope = [&](const std::string& orgUuid) {
    if (!visible(request, orgUuid)) return false;
    return adminType || !request.session->provider || !request.tenantContext.empty() ||
           orgUuid == orgs[0].uuid;
  };
  std::vector<Json> records;
  std::string recordType;
  if (type == "vApp" || type == "adminVApp") {
    recordType = type == "vApp" ? "QueryResultVAppRecordType" : "QueryResultAdminVAppRecordType";
    for (const auto& [uuid, vapp] : vapps) {
      const Vdc& vdc = vdcs.at(vapp.vdcUuid);
      if (!inScope(vdc.orgUuid)) continue;
      records.push_back({{"href", href("/api/vApp/vapp-" + uuid)},
                         {"name", vapp.name},
                         {"status", statusName(vapp.status)},
                         {"isDeployed", vapp.deployed},
                         {"isBusy", busy.contains("vapp:" + uuid)},
                         {"vdc", href("/api/vdc/" + vdc.uuid)},
                         {"vdcName", vdc.name},
                         {"numberOfVMs", vapp.vms.size()},
                         {"creationDate", vapp.created}});
    }
  } else if (type == "vm" || type == "adminVM") {
    recordType = type == "vm" ? "QueryResultVMRecordType" : "QueryResultAdminVMRecordType";
    for (const auto& [uuid, vapp] : vapps) {
      const Vdc& vdc = vdcs.at(vapp.vdcUuid);
      if (!inScope(vdc.orgUuid)) continue;
      for (const auto& vm : vapp.vms) {
        records.push_back({{"href", href("/api/vApp/vm-" + vm.uuid)},
                           {"name", vm.name},
                           {"containerName", vapp.name},
                           {"container", href("/api/vApp/vapp-" + uuid)},
                           {"status", statusName(vm.status)},
                           {"isDeployed", vm.deployed},
                           {"isVAppTemplate", false},
                           {"numberOfCpus", vm.numCpus},
                           {"memoryMB", vm.memoryMb},
                           {"vdc", href("/api/vdc/" + vdc.uuid)},
                           {"hardwareVersion", vm.hardwareVersion}});
      }
    }
  } else if (type == "orgVdcStorageProfile" || type == "adminOrgVdcStorageProfile") {
    recordType = "QueryResultOrgVdcStorageProfileRecordType";
    for (const auto& [uuid, vdc] : vdcs) {
      if (!inScope(vdc.orgUuid)) continue;
      for (const auto& profile : vdc.profiles) {
        std::uint64_t usedMb = 0;
        for (const auto& [vappUuid, vapp] : vapps) {
          for (const auto& vm : vapp.vms) {
            for (const auto& disk : vm.disks) {
              if (disk.profileUuid == profile.uuid) usedMb += disk.sizeMb;
            }
          }
        }
        records.push_back({{"href", href("/api/vdcStorageProfile/" + profile.uuid)},
                           {"name", profile.name},
                           {"vdc", href("/api/vdc/" + uuid)},
                           {"vdcName", vdc.name},
                           {"isEnabled", true},
                           {"isDefaultStorageProfile", &profile == &vdc.profiles.front()},
                           {"storageLimitMB", profile.limitMb},
                           {"storageUsedMB", usedMb}});
      }
    }
  } else {
    throw badRequest("Query type \"" + type + "\" is not modelled by the simulator");
  }
  const Filter filter = Filter::parse(request.param("filter"));
  std::vector<Json> matching;
  for (auto& record : records) {
    if (!filter.matches(record)) continue;
    record["_type"] = recordType;
    matching.push_back(std::move(record));
  }
  if (request.param("sortAsc") == "name") {
    std::sort(matching.begin(), matching.end(),
              [](const Json& a, const Json& b) { return a["name"] < b["name"]; });
  }
  const auto [pageNumber, pageSize] = pageParams(request);
  const long total = static_cast<long>(matching.size());
  Json page = Json::array();
  for (long i = (pageNumber - 1) * pageSize; i < std::min(total, pageNumber * pageSize); ++i) {
    page.push_back(matching[static_cast<std::size_t>(i)]);
  }
  Json links = Json::array();
  if (pageNumber * pageSize < total) {
    std::string target = request.raw.target;
    const auto at = target.find("page=");
    const std::string next = "page=" + std::to_string(pageNumber + 1);
    if (at != std::string::npos && (at == 0 || target[at - 1] == '&' || target[at - 1] == '?')) {
      target.replace(
          at,
          target.find('&', at) == std::string::npos ? std::string::npos : target.find('&', at) - at,
          next);
    } else {
      target += "&" + next;
    }
    links.push_back({{"rel", "nextPage"},
                     {"href", href(target)},
                     {"type", "application/vnd.vmware.vcloud.query.records+json"}});
  }
  return json(request, 200,
              {{"otherAttributes", Json::object()},
               {"link", links},
               {"href", href(request.raw.target)},
               {"type", "application/vnd.vmware.vcloud.query.records+json"},
               {"name", type},
               {"page", pageNumber},
               {"pageSize", pageSize},
               {"total", total},
               {"record", page}},
              "application/vnd.vmware.vcloud.query.records+json");
}

}  // namespace warmsite::clouddirector::sim

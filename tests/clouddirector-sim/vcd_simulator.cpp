#include "tests/clouddirector-sim/vcd_simulator.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "security/certificates.h"
#include "tests/clouddirector-sim/https_server.h"
#include "tests/clouddirector-sim/sim_backend.h"

namespace warmsite::clouddirector::sim {

SimulatorOptions SimulatorOptions::standardSite() {
  SimulatorOptions options;
  options.users = {{"System", "admin", "secret"}, {"acme", "dr-admin", "secret"}};
  options.vdcs = {{"acme", "dr-vdc", 20000, 65536, {{"gold", 500 * 1024}, {"silver", 0}}}};
  options.edges = {
      {"dr-vdc", "edge-01", "203.0.113.1", 24, "203.0.113.2", {{"203.0.113.10", "203.0.113.99"}}}};
  for (std::uint32_t vlan = 100; vlan < 200; ++vlan) {
    options.portGroups.push_back({"pg-vlan-" + std::to_string(vlan), vlan});
  }
  return options;
}

struct VcdSimulator::Impl {
  explicit Impl(const SimulatorOptions& options)
      : identity(security::generateSelfSigned({"localhost"}, {"127.0.0.1"}, 7)), backend(options) {
    char pattern[] = "/tmp/vcd-sim-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("vcd simulator: mkdtemp failed");
    directory = pattern;
    caFile = (directory / "ca.pem").string();
    std::ofstream(caFile) << identity.certificateChainPem;
    server = std::make_unique<HttpsServer>(
        identity.certificateChainPem, identity.privateKeyPem,
        [this](const ServerRequest& request) { return backend.handle(request); });
    url = "https://127.0.0.1:" + std::to_string(server->port());
    backend.setBaseUrl(url);
  }

  ~Impl() {
    server.reset();  // joins the connection threads before the backend goes away
    std::error_code ec;
    std::filesystem::remove_all(directory, ec);
  }

  // Sorted names collected under the backend's lock, after due tasks completed.
  template <typename Collect>
  std::vector<std::string> names(Collect collect);

  security::TlsIdentity identity;  // self-signed for 127.0.0.1 and localhost, made at start
  Backend backend;
  std::filesystem::path directory;
  std::string caFile;
  std::string url;
  std::unique_ptr<HttpsServer> server;
};

VcdSimulator::VcdSimulator(SimulatorOptions options) : impl_(std::make_unique<Impl>(options)) {}

VcdSimulator::~VcdSimulator() = default;

std::string VcdSimulator::url() const {
  return impl_->url;
}

std::string VcdSimulator::caFile() const {
  return impl_->caFile;
}

std::string VcdSimulator::thumbprint() const {
  return impl_->identity.info.thumbprintSha256;
}

nlohmann::json VcdSimulator::pluginConfig() const {
  return {{"url", url()},           {"org", "acme"},
          {"vdc", "dr-vdc"},        {"login_org", "System"},
          {"username", "admin"},    {"password", "secret"},
          {"network_mode", "vlan"}, {"tls", {{"ca_file", caFile()}}}};
}

void VcdSimulator::addFault(FaultRule rule) {
  std::lock_guard lock(impl_->backend.mutex);
  impl_->backend.faults.push_back(std::move(rule));
  impl_->backend.faultHits.push_back(0);
}

void VcdSimulator::clearFaults() {
  std::lock_guard lock(impl_->backend.mutex);
  impl_->backend.faults.clear();
  impl_->backend.faultHits.clear();
}

void VcdSimulator::setRequestLatency(std::chrono::milliseconds latency) {
  std::lock_guard lock(impl_->backend.mutex);
  impl_->backend.options.requestLatency = latency;
}

void VcdSimulator::setTaskDelays(std::chrono::milliseconds queued,
                                 std::chrono::milliseconds running) {
  std::lock_guard lock(impl_->backend.mutex);
  impl_->backend.options.taskQueued = queued;
  impl_->backend.options.taskRunning = running;
}

std::vector<RequestRecord> VcdSimulator::requests() const {
  std::lock_guard lock(impl_->backend.mutex);
  return impl_->backend.requests;
}

std::size_t VcdSimulator::countRequests(std::string_view method,
                                        std::string_view pathContains) const {
  std::lock_guard lock(impl_->backend.mutex);
  return static_cast<std::size_t>(std::count_if(
      impl_->backend.requests.begin(), impl_->backend.requests.end(), [&](const auto& r) {
        return (method.empty() || r.method == method) &&
               r.path.find(pathContains) != std::string::npos;
      }));
}

void VcdSimulator::clearRequests() {
  std::lock_guard lock(impl_->backend.mutex);
  impl_->backend.requests.clear();
}

template <typename Collect>
std::vector<std::string> VcdSimulator::Impl::names(Collect collect) {
  std::lock_guard lock(backend.mutex);
  backend.advanceTasks(Clock::now());
  std::vector<std::string> found;
  collect(found);
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<std::string> VcdSimulator::vappNames() const {
  return impl_->names([this](auto& out) {
    for (const auto& [uuid, vapp] : impl_->backend.vapps) out.push_back(vapp.name);
  });
}

std::vector<std::string> VcdSimulator::networkNames() const {
  return impl_->names([this](auto& out) {
    for (const auto& [uuid, network] : impl_->backend.networks) out.push_back(network.body["name"]);
  });
}

std::vector<std::string> VcdSimulator::natRuleNames() const {
  return impl_->names([this](auto& out) {
    for (const auto& [uuid, edge] : impl_->backend.edges) {
      for (const auto& rule : edge.natRules) out.push_back(rule["name"]);
    }
  });
}

std::size_t VcdSimulator::metadataEntries(const std::string& vdcName) const {
  auto& backend = impl_->backend;
  std::lock_guard lock(backend.mutex);
  backend.advanceTasks(Clock::now());
  for (const auto& [uuid, vdc] : backend.vdcs) {
    if (vdc.name == vdcName) return vdc.metadata.size();
  }
  return 0;
}

std::size_t VcdSimulator::openSessions() const {
  std::lock_guard lock(impl_->backend.mutex);
  return impl_->backend.sessions.size();
}

bool VcdSimulator::deleteVAppBehindTheBack(const std::string& name) {
  auto& backend = impl_->backend;
  std::lock_guard lock(backend.mutex);
  return std::erase_if(backend.vapps,
                       [&](const auto& entry) { return entry.second.name == name; }) > 0;
}

void VcdSimulator::addForeignVApp(const std::string& vdcName, const std::string& name) {
  auto& backend = impl_->backend;
  std::lock_guard lock(backend.mutex);
  for (const auto& [uuid, vdc] : backend.vdcs) {
    if (vdc.name != vdcName) continue;
    VApp vapp;
    vapp.uuid = newUuid();
    vapp.name = name;
    vapp.description = "an operator's own vApp";
    vapp.vdcUuid = uuid;
    vapp.created = isoNow();
    vapp.status = 8;
    Vm vm;
    vm.uuid = newUuid();
    vm.name = name;
    vm.memoryMb = 512;
    vm.hardwareVersion = "vmx-19";
    vapp.vms.push_back(vm);
    backend.vapps.emplace(vapp.uuid, std::move(vapp));
    return;
  }
  throw std::invalid_argument("no VDC named " + vdcName);
}

void VcdSimulator::expireAllSessions() {
  std::lock_guard lock(impl_->backend.mutex);
  impl_->backend.sessions.clear();
}

}  // namespace warmsite::clouddirector::sim

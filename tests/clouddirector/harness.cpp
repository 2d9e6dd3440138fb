#include "tests/clouddirector/harness.h"

#include <filesystem>

namespace warmsite::clouddirector::testing {

void RecordingHost::log(plugin::LogLevel, std::string_view message) noexcept {
  std::lock_guard lock(mutex_);
  lines_.emplace_back(message);
}

std::vector<std::string> RecordingHost::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

namespace {

plugins::PluginLibrary loadPlugin() {
  auto library =
      plugins::loadPluginLibrary(std::filesystem::path(WARMSITE_PLUGIN_DIR) / "clouddirector.so");
  if (!library.ok()) throw std::runtime_error(library.error().message);
  return *library;
}

}  // namespace

Harness::Harness(sim::SimulatorOptions options)
    : simulator(std::move(options)), library_(loadPlugin()) {}

nlohmann::json Harness::config() const {
  nlohmann::json config = simulator.pluginConfig();
  config["task_poll_ms"] = {{"initial", 2}, {"max", 20}};
  config["retry"] = {{"attempts", 5}, {"initial_backoff_ms", 2}, {"max_backoff_ms", 20}};
  return config;
}

plugins::PluginResult<std::shared_ptr<plugin::CloudHostPlugin>> Harness::create(
    const std::string& configText) {
  return library_.create(configText, host);
}

std::shared_ptr<plugin::CloudHostPlugin> Harness::open(const nlohmann::json& changes) {
  nlohmann::json merged = config();
  for (const auto& [key, value] : changes.items()) {
    if (value.is_null()) {
      merged.erase(key);
    } else {
      merged[key] = value;
    }
  }
  auto created = create(merged.dump());
  if (!created.ok()) throw std::runtime_error(created.error().message);
  return *created;
}

void Harness::provisionTenantA(plugin::CloudHostPlugin& plugin) {
  plugin::TenantResourcesSpec spec;
  spec.subscriptionId = "sub-a";
  spec.tenantId = "tenant-a";
  spec.tenantName = "Tenant A";
  spec.cpuMhz = 20000;
  spec.memoryMb = 16384;
  spec.storages = {{"gold", "gold", 100}};
  ASSERT_OK(plugin.compute()->applyTenantResources(spec, ctx()));
  ASSERT_OK(plugin.network()->createTenantNetwork(
      {"net-a", "sub-a", "tenant-a", "net a", 101, true}, ctx()));
}

plugin::ReplicaSpec Harness::replicaSpec(const std::string& replicaId) {
  plugin::ReplicaSpec spec;
  spec.replicaId = replicaId;
  spec.subscriptionId = "sub-a";
  spec.tenantId = "tenant-a";
  spec.name = "vm " + replicaId;
  spec.vcpus = 2;
  spec.cpuMhz = 1000;
  spec.memoryMb = 512;
  spec.disks = {{"disk-0", "gold", 2}};
  spec.nics = {{"nic-0", "net-a", ""}};
  return spec;
}

}  // namespace warmsite::clouddirector::testing

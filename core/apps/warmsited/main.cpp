// warmsited: the Warmsite orchestrator daemon. Opens the store, loads the plugins, attaches every
// registered cloud host, and runs until SIGTERM or SIGINT.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>

#include "domain/ids.h"
#include "plugins/cloud_host_registry.h"
#include "plugins/plugin_catalog.h"
#include "store/sqlite_store.h"

namespace {

std::filesystem::path defaultPluginDir() {
  // Next to the build tree's bin/ (build/plugins) or the installed lib/warmsite/plugins.
  const auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  for (const auto& candidate : {exe / "../plugins", exe / "../lib/warmsite/plugins"}) {
    if (std::filesystem::is_directory(candidate)) return std::filesystem::canonical(candidate);
  }
  return exe / "../lib/warmsite/plugins";
}

// On first start there is nothing to manage yet: register the lab cloud host so the daemon runs
// on its embedded defaults.
void registerDefaultCloudHost(warmsite::store::Store& store, const std::filesystem::path& dataDir) {
  store.write([&](warmsite::store::Transaction& tx) {
    if (!tx.listCloudHosts().empty()) return;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string config =
        R"({"vcenter": "lab", "state_file": ")" + (dataDir / "lab-vcenter.json").string() + R"("})";
    tx.insertCloudHost({warmsite::domain::newId("ch"), "lab", "vsphere-mock", config, now});
    spdlog::info("registered the default cloud host \"lab\" (vsphere-mock)");
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Warmsite orchestrator daemon"};
  std::filesystem::path dataDir = "var/warmsite";
  std::filesystem::path pluginDir = defaultPluginDir();
  bool checkPlugins = false;
  bool defaultCloudHost = true;
  app.add_option("--data-dir", dataDir, "Directory for the database and generated files")
      ->capture_default_str();
  app.add_option("--plugin-dir", pluginDir, "Directory of plugin libraries (*.so)")
      ->capture_default_str();
  app.add_flag("--check-plugins", checkPlugins, "Load the plugins, report each one, and exit");
  app.add_flag("!--no-default-cloud-host", defaultCloudHost,
               "Do not register the lab cloud host on an empty database");
  CLI11_PARSE(app, argc, argv);

  // Signals go to sigwait below, not to whichever thread happens to run.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  warmsite::plugins::PluginCatalog catalog;
  catalog.loadDirectory(std::filesystem::absolute(pluginDir));
  for (const auto* library : catalog.libraries()) {
    spdlog::info("plugin {} {} loaded from {}", library->name(), library->version(),
                 library->path().string());
  }
  for (const auto& failure : catalog.failures()) {
    spdlog::error("plugin not loaded ({}): {}", warmsite::plugins::toString(failure.cause),
                  failure.message);
  }
  if (checkPlugins) return catalog.failures().empty() ? 0 : 1;

  try {
    std::filesystem::create_directories(dataDir);
    const auto dbPath = std::filesystem::absolute(dataDir) / "warmsite.db";
    auto store = warmsite::store::openSqliteStore(dbPath);
    spdlog::info("store {} at schema version {}", dbPath.string(), store->schemaVersion());
    if (defaultCloudHost) registerDefaultCloudHost(*store, std::filesystem::absolute(dataDir));

    warmsite::plugins::CloudHostRegistry cloudHosts(catalog);
    for (const auto& host : store->read([](auto& tx) { return tx.listCloudHosts(); })) {
      auto attached = cloudHosts.attach(host);
      if (attached.ok()) {
        spdlog::info("cloud host {} attached ({})", host.name, host.plugin);
      } else {
        spdlog::error("cloud host {} not attached: {}", host.name, attached.error().message);
      }
    }

    spdlog::info("warmsited running (pid {}); SIGTERM or SIGINT stops it", getpid());
    int signal = 0;
    sigwait(&stopSignals, &signal);
    spdlog::info("signal {} received, stopping", signal);
  } catch (const warmsite::store::StoreError& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
  return 0;
}

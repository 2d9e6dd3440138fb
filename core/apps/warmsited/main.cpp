// warmsited: the Warmsite orchestrator daemon. Runs until SIGTERM or SIGINT, then drains.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>

#include "daemon/orchestrator.h"
#include "store/store.h"

namespace {

std::filesystem::path defaultPluginDir() {
  // build/bin/../plugins in the build tree, <prefix>/lib/warmsite/plugins when installed.
  const auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  for (const auto& candidate : {exe / "../plugins", exe / "../lib/warmsite/plugins"}) {
    if (std::filesystem::is_directory(candidate)) return std::filesystem::canonical(candidate);
  }
  return exe / "../lib/warmsite/plugins";
}

std::string hostName() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// ADDRESS:PORT (IPv6 in brackets) into its parts; false after saying what is wrong.
bool parseListen(const std::string& option, const std::string& text, std::string& address,
                 std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    spdlog::critical("{} must be ADDRESS:PORT, got \"{}\"", option, text);
    return false;
  }
  address = text.substr(0, colon);
  if (address.size() > 2 && address.front() == '[') address = address.substr(1, address.size() - 2);
  try {
    port = static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1)));
  } catch (const std::exception&) {
    spdlog::critical("{} port must be a number, got \"{}\"", option, text);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Warmsite orchestrator daemon"};
  warmsite::daemon::OrchestratorOptions options;
  options.pluginDir = defaultPluginDir();
  std::string listen = "0.0.0.0:6180";
  std::filesystem::path portFile;
  bool checkPlugins = false;
  int tokenLifetime = 12 * 3600, lockoutSeconds = 15 * 60;
  app.add_option("--data-dir", options.dataDir, "Directory for the database, keys and certificate")
      ->capture_default_str();
  app.add_option("--plugin-dir", options.pluginDir, "Directory of plugin libraries (*.so)")
      ->capture_default_str();
  app.add_option("--listen", listen, "Address and port of the HTTPS API (IPv6: [::]:6180)")
      ->capture_default_str();
  app.add_option("--port-file", portFile,
                 "Write the bound API port, then the replication port, here once listening");
  app.add_option("--tls-name", options.tlsNames,
                 "DNS name for a generated certificate (repeatable)");
  app.add_option("--tls-address", options.tlsAddresses,
                 "IP address for a generated certificate (repeatable)");
  app.add_option("--scrypt-log-n", options.scrypt.logN, "scrypt cost: N = 2^value")
      ->check(CLI::Range(10, 20))
      ->capture_default_str();
  app.add_option("--token-lifetime", tokenLifetime, "Seconds a login token stays valid")
      ->check(CLI::Range(10, 30 * 24 * 3600))
      ->capture_default_str();
  app.add_option("--lockout-attempts", options.auth.maxFailedLogins,
                 "Failed logins before the account locks")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--lockout-seconds", lockoutSeconds, "How long a locked account stays locked")
      ->check(CLI::Range(1, 24 * 3600))
      ->capture_default_str();
  app.add_option("--workers", options.engineWorkers, "Task engine worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--vm-workers", options.failover.vmWorkers,
                 "VM steps at once across every failover session (the global VM pool)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--api-workers", options.http.workerThreads,
                 "Threads that run API requests (a request waiting for the store holds one)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  std::string replicationListen = "0.0.0.0:6181";
  double tenantBandwidthMbps = 0;
  app.add_option("--replication-listen", replicationListen,
                 "Address and port for tenant agents' replication (TLS 1.3)")
      ->capture_default_str();
  app.add_option("--replication-tenant-mbps", tenantBandwidthMbps,
                 "Replication bandwidth per tenant in Mbit/s (0 = unlimited)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--replication-retention", options.replication.defaultRetention,
                 "Restore points kept per replica when its run names no job")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_flag("--check-plugins", checkPlugins, "Load the plugins, report each one, and exit");
  app.add_flag("!--no-default-cloud-host", options.registerDefaultCloudHost,
               "Do not register the lab cloud host on an empty database");
  CLI11_PARSE(app, argc, argv);
  options.auth.tokenLifetime = std::chrono::seconds(tokenLifetime);
  options.auth.lockoutDuration = std::chrono::seconds(lockoutSeconds);
  if (const char* password = std::getenv("WARMSITE_ADMIN_PASSWORD"))
    options.initialAdminPassword = password;

  if (!parseListen("--listen", listen, options.http.address, options.http.port) ||
      !parseListen("--replication-listen", replicationListen, options.replication.listener.address,
                   options.replication.listener.port)) {
    return 2;
  }
  options.replication.tenantBandwidthBytesPerSecond =
      static_cast<std::uint64_t>(tenantBandwidthMbps * 1e6 / 8);
  if (options.tlsNames.empty()) options.tlsNames = {hostName(), "localhost"};
  if (options.tlsAddresses.empty()) options.tlsAddresses = {"127.0.0.1", "::1"};

  if (checkPlugins) {
    warmsite::plugins::PluginCatalog catalog;
    catalog.loadDirectory(std::filesystem::absolute(options.pluginDir));
    for (const auto* library : catalog.libraries()) {
      spdlog::info("plugin {} {} loaded from {}", library->name(), library->version(),
                   library->path().string());
    }
    for (const auto& failure : catalog.failures()) {
      spdlog::error("plugin not loaded ({}): {}", warmsite::plugins::toString(failure.cause),
                    failure.message);
    }
    return catalog.failures().empty() ? 0 : 1;
  }

  // Signals go to sigwait below, not to whichever thread happens to run.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  try {
    warmsite::daemon::Orchestrator orchestrator(options);
    if (!portFile.empty()) {
      // Written aside and renamed: a reader waiting for the file never sees it half written.
      const auto partial = portFile.string() + ".partial";
      std::ofstream(partial) << orchestrator.port() << "\n"
                             << orchestrator.replicationPort() << "\n";
      std::filesystem::rename(partial, portFile);
    }
    spdlog::info("warmsited running (pid {}); SIGTERM or SIGINT stops it", getpid());
    int signal = 0;
    sigwait(&stopSignals, &signal);
    spdlog::info("signal {} received; finishing in-flight requests", signal);
    orchestrator.stop();
    spdlog::info("stopped");
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
  return 0;
}

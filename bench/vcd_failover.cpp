// A failover-like run of the clouddirector plugin against the Cloud Director simulator at 20 ms
// per request: every replica is created, powered on and powered off, through the plugin ABI,
// from a pool of worker threads (10, the failover engine's default parallelism).
//
//   vcd_requests_per_replica  requests the simulator answered during the run / replicas. The
//                             minimal sequence of the API reference (§12) is 6: composeVApp, power
//                             on, undeploy, each followed by one task poll.
//   vcd_wall_vs_ideal_ratio   wall time / the ideal: replicas x 6 requests x 20 ms / workers
//                             (every request overlapping perfectly, every task done at its first
//                             poll).
//
// The simulator completes tasks at once, so the plugin is told to poll a task at once too
// (task_poll_ms.initial = 0); against a real cell the default waits 200 ms first.
//
// Usage: vcd_failover [--replicas N] [--workers N] [--latency-ms N]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugins/host_services.h"
#include "plugins/plugin_loader.h"
#include "tests/clouddirector-sim/vcd_simulator.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace plugin = warmsite::plugin;
namespace sim = warmsite::clouddirector::sim;

constexpr int kMinimalRequestsPerReplica = 6;

void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "failed: %s\n", what.c_str());
    std::exit(1);
  }
}

template <typename Result>
void requireOk(const Result& result, const std::string& what) {
  require(result.ok(), what + ": " + (result.ok() ? "" : result.error().message));
}

plugin::CallContext ctx() {
  return plugin::CallContext::withTimeout(std::chrono::minutes(5));
}

// What a request was for, to show where the requests per replica go.
std::string kindOf(const sim::RequestRecord& request) {
  const std::string& path = request.path;
  if (path.find("/api/task/") == 0) return "task poll";
  if (path.ends_with("/action/composeVApp")) return "composeVApp";
  if (path.ends_with("/power/action/powerOn")) return "power on";
  if (path.ends_with("/action/undeploy")) return "undeploy (power off)";
  if (path.find("/api/vApp/vapp-") == 0 && request.method == "GET") return "read vApp (state)";
  if (path == "/api/query") return "query service";
  return "setup (login, VDC, network, subscription)";
}

}  // namespace

int main(int argc, char** argv) {
  int replicas = 200, workers = 10, latencyMs = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const int value = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--replicas") == 0) {
      replicas = value;
    } else if (std::strcmp(argv[i], "--workers") == 0) {
      workers = value;
    } else if (std::strcmp(argv[i], "--latency-ms") == 0) {
      latencyMs = value;
    } else {
      std::fprintf(stderr, "usage: vcd_failover [--replicas N] [--workers N] [--latency-ms N]\n");
      return 2;
    }
  }
  require(replicas > 0 && workers > 0 && latencyMs >= 0, "positive --replicas and --workers");

  // A VDC without CPU or memory limits, so the plan can hold every replica.
  sim::SimulatorOptions options = sim::SimulatorOptions::standardSite();
  options.vdcs = {{"acme", "dr-vdc", 0, 0, {{"gold", 0}}}};
  sim::VcdSimulator simulator(options);

  auto library = warmsite::plugins::loadPluginLibrary(std::filesystem::path(WARMSITE_PLUGIN_DIR) /
                                                      "clouddirector.so");
  require(library.ok(), library.ok() ? "" : library.error().message);
  warmsite::plugins::CloudHostServices host("vcd-bench");
  nlohmann::json config = simulator.pluginConfig();
  config["task_poll_ms"] = {{"initial", 0}, {"max", 1000}};
  auto created = library->create(config.dump(), host);
  require(created.ok(), created.ok() ? "" : created.error().message);
  const auto cloudHost = *created;
  auto* compute = cloudHost->compute();

  plugin::TenantResourcesSpec subscription{
      "sub-bench",  "tenant-bench", "Bench tenant",
      std::nullopt, std::nullopt,   {{"gold", "gold", static_cast<std::uint64_t>(replicas)}}};
  requireOk(compute->applyTenantResources(subscription, ctx()), "subscription");
  requireOk(cloudHost->network()->createTenantNetwork(
                {"net-bench", "sub-bench", "tenant-bench", "bench", 101, false}, ctx()),
            "network");

  // A new plugin object, as after a daemon restart: the run pays its own lookups.
  const auto fresh = library->create(config.dump(), host);
  require(fresh.ok(), "second plugin object");
  compute = (*fresh)->compute();
  simulator.setRequestLatency(std::chrono::milliseconds(latencyMs));
  simulator.clearRequests();

  std::atomic<int> next{0}, failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (int i = next++; i < replicas; i = next++) {
        const std::string id = "rep-" + std::to_string(i);
        plugin::ReplicaSpec spec{id,
                                 "sub-bench",
                                 "tenant-bench",
                                 "vm " + id,
                                 1,
                                 100,
                                 256,
                                 {{"disk-0", "gold", 1}},
                                 {{"nic-0", "net-bench", ""}}};
        if (!compute->createReplica(spec, ctx()).ok() || !compute->powerOn(id, ctx()).ok() ||
            !compute->powerOff(id, {false, {}}, ctx()).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  require(failures.load() == 0, std::to_string(failures.load()) + " replicas failed");

  const auto requests = simulator.requests();
  std::map<std::string, int> byKind;
  for (const auto& request : requests) ++byKind[kindOf(request)];
  const double perReplica = static_cast<double>(requests.size()) / replicas;
  const double ideal =
      static_cast<double>(replicas) * kMinimalRequestsPerReplica * latencyMs / 1000.0 / workers;

  std::printf(
      "clouddirector failover-like run: %d replicas (create, power on, power off), %d "
      "workers, %d ms per request, tasks done at once\n",
      replicas, workers, latencyMs);
  std::printf("  %-44s %8s %12s\n", "requests", "total", "per replica");
  for (const auto& [kind, count] : byKind) {
    std::printf("  %-44s %8d %12.2f\n", kind.c_str(), count, static_cast<double>(count) / replicas);
  }
  std::printf("  %-44s %8zu %12.2f   (minimal sequence: %d)\n", "all", requests.size(), perReplica,
              kMinimalRequestsPerReplica);
  std::printf("  wall time %.2f s, ideal %.2f s (%d x %d requests x %d ms / %d workers)\n", wall,
              ideal, replicas, kMinimalRequestsPerReplica, latencyMs, workers);
  std::printf("@figure vcd_requests_per_replica %.2f\n", perReplica);
  std::printf("@figure vcd_wall_vs_ideal_ratio %.2f\n", ideal > 0 ? wall / ideal : 0.0);
  return 0;
}

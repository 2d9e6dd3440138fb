// How subscribing tenants scales, through the API over TLS on the vSphere mock:
//
//   allocation_scaling_ratio  the time to subscribe 10,000 tenants (each takes a VLAN with
//                             internet access and a public IP, and has its networks provisioned)
//                             divided by the time for 1,000, each on a fresh service; linear is
//                             10. The tenants exist beforehand (untimed); 8 clients subscribe
//                             them at once and the time runs until every provisioning task ended.
//
// Usage: allocation [--small N] [--large N] [--clients N]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_service.h"

namespace {

using Clock = std::chrono::steady_clock;
using warmsite::bench::BenchService;
using warmsite::bench::require;

constexpr std::uint32_t kVlansPerHost = 4000;  // 802.1Q has 4094

// Seconds to subscribe `count` tenants on a fresh service.
double subscribeTenants(int count, int clients) {
  BenchService bench("allocation-" + std::to_string(count));
  auto sp = bench.admin();
  std::vector<std::string> plans;
  for (int host = 0; host * kVlansPerHost < static_cast<std::uint32_t>(count); ++host) {
    // A vCenter of its own per service: the mock keeps a vCenter for the process, like a real one.
    const auto name = "vc-" + std::to_string(count) + "-" + std::to_string(host);
    const auto plan = bench.cloudHost(
        sp, {{"name", name}, {"plugin", "vsphere-mock"}, {"config", {{"vcenter", name}}}},
        "datastore1", "Gold-" + name);
    const std::string hostId = sp.get("/api/v1/plans/" + plan).json()["cloud_host_id"];
    BenchService::expect(
        sp.post("/api/v1/cloud-hosts/" + hostId + "/vlan-ranges",
                {{"first", 10}, {"last", 10 + kVlansPerHost - 1}, {"internet", true}}),
        201, "VLAN range");
    BenchService::expect(
        sp.request("PATCH", "/api/v1/plans/" + plan, R"({"networks_with_internet": 1})"), 200,
        "plan networks");
    plans.push_back(plan);
  }
  BenchService::expect(sp.post("/api/v1/public-ips", {{"addresses", {"10.64.0.0-10.64.127.255"}}}),
                       201, "public IPs");
  std::vector<std::string> tenants;
  for (int i = 0; i < count; ++i) {
    tenants.push_back(BenchService::expect(
        sp.post("/api/v1/tenants",
                {{"name", "t" + std::to_string(i)}, {"password", "tenant-pass-1"}}),
        201, "tenant")["id"]);
  }
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      auto client = bench.admin();
      std::vector<std::string> tasks;
      for (int i = next++; i < count; i = next++) {
        tasks.push_back(BenchService::expect(
            client.post("/api/v1/subscriptions", {{"tenant_id", tenants[i]},
                                                  {"plan_id", plans[i / kVlansPerHost]},
                                                  {"public_ip_count", 1}}),
            202, "subscription")["task"]["id"]);
      }
      for (const auto& task : tasks) BenchService::waitTask(client, task);
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const auto ips = sp.get("/api/v1/public-ips").json();
  require(ips["free"].get<int>() == (1 << 15) - count, "public IPs left: " + ips["free"].dump());
  std::printf("%d tenants subscribed in %.2f s (%.0f per second)\n", count, seconds,
              count / seconds);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int small = 1000, large = 10000, clients = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--small") small = std::atoi(argv[i + 1]);
    if (flag == "--large") large = std::atoi(argv[i + 1]);
    if (flag == "--clients") clients = std::atoi(argv[i + 1]);
  }
  const double smallSeconds = subscribeTenants(small, clients);
  const double largeSeconds = subscribeTenants(large, clients);
  std::printf("@figure allocation_small_s %.3f\n", smallSeconds);
  std::printf("@figure allocation_large_s %.3f\n", largeSeconds);
  std::printf("@figure allocation_scaling_ratio %.2f\n", largeSeconds / smallSeconds);
  return 0;
}

// Replication through the whole SP (API login, replication port over TLS 1.3 on loopback,
// receiver writing a qcow2 replica through qemu-nbd, restore point at commit), in one process,
// against nbdcopy copying the same image between the same kinds of qemu-nbd exports:
//
//   replication_full_throughput_ratio   a full run of a 1 GiB disk of random data: nbdcopy's
//                                       time / the agent's time (higher is better; 1 = as fast)
//   replication_incremental_s           a run after 5 % of the disk changed in scattered writes
//   replication_wire_vs_changed_ratio   bytes the agent sent in that run / changed bytes before
//                                       compression (the writes are random data: no help from zstd)
//   replication_full_cpu_ratio          busy CPU time of the whole machine during the full run /
//                                       during nbdcopy (both ends and every qemu-nbd included)
//   replication_full_ratio_ceiling      the throughput ratio this machine would allow if the full
//                                       run's CPU time were spread over every core without a gap
//
// Usage: replication [--size-mib N] [--changed-percent P] [--extent-kib K] [--compression-level L]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_service.h"
#include "engine/script_runner.h"
#include "replication/agent.h"
#include "replication/disk_image.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = 1 << 20;

using warmsite::bench::BenchService;
using warmsite::bench::require;

void run(const std::vector<std::string>& arguments) {
  const auto result = warmsite::engine::runCommand(arguments, {}, std::chrono::seconds(600));
  require(result.succeeded, arguments[0] + " " + arguments[1] + ": " + result.output);
}

// CPU time every core of the machine spent busy so far (from /proc/stat), in seconds.
double busyCpuSeconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                     steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU time of this process (the agent and the SP run in it), in seconds.
double ownCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void writeRandom(const std::filesystem::path& path, std::uint64_t bytes, unsigned seed) {
  std::mt19937_64 generator(seed);
  std::ofstream out(path, std::ios::binary);
  std::vector<std::uint64_t> block(kMiB / 8);
  for (std::uint64_t at = 0; at < bytes; at += kMiB) {
    for (auto& word : block) word = generator();
    out.write(reinterpret_cast<const char*>(block.data()),
              static_cast<std::streamsize>(std::min<std::uint64_t>(kMiB, bytes - at)));
  }
}

// nbdcopy from a read-only export of `source` into a writable export of a new qcow2, both
// served by qemu-nbd on unix sockets with the options (and allocator settings) the agent and the
// receiver use.
// Returns the wall time and adds the machine's busy CPU time to `cpuSeconds`.
double nbdcopySeconds(const std::filesystem::path& source, const std::filesystem::path& target,
                      std::uint64_t size, double& cpuSeconds) {
  std::filesystem::remove(target);
  warmsite::replication::createQcow2(target, size);
  // Sockets in the temp directory: a path must stay under 108 bytes.
  const auto dir = std::filesystem::temp_directory_path();
  const auto tag = std::to_string(getpid());
  const auto in = (dir / ("warmsite-bench-in-" + tag)).string();
  const auto out = (dir / ("warmsite-bench-out-" + tag)).string();
  run({"env", warmsite::replication::qemuNbdAllocatorSettings(), "qemu-nbd", "--fork",
       "--read-only", "-f", "qcow2", "-k", in, source});
  run({"env", warmsite::replication::qemuNbdAllocatorSettings(), "qemu-nbd", "--fork", "-f",
       "qcow2", "--discard=unmap", "--cache=none", "--aio=native", "-k", out, target});
  const auto start = Clock::now();
  const double cpuBefore = busyCpuSeconds();
  run({"nbdcopy", "--flush", "nbd+unix:///?socket=" + in, "nbd+unix:///?socket=" + out});
  cpuSeconds += busyCpuSeconds() - cpuBefore;
  return secondsSince(start);  // both qemu-nbd leave when nbdcopy disconnects
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t sizeMiB = 1024;
  double changedPercent = 5;
  std::uint32_t extentKiB = 1024;
  int compressionLevel = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--size-mib") sizeMiB = std::stoull(argv[i + 1]);
    if (flag == "--changed-percent") changedPercent = std::stod(argv[i + 1]);
    if (flag == "--extent-kib") extentKiB = std::stoul(argv[i + 1]);
    if (flag == "--compression-level") compressionLevel = std::stoi(argv[i + 1]);
  }
  const std::uint64_t size = sizeMiB * kMiB;
  const auto dir = std::filesystem::path(WARMSITE_BINARY_DIR) / "bench" / "replication";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "site");

  auto service = std::make_unique<BenchService>("replication-sp");
  const auto thumbprint = service->thumbprint();
  const auto& expect = BenchService::expect;
  const auto& waitTask = BenchService::waitTask;

  // An SP with one tenant and one replica whose disk takes the source.
  auto sp = service->admin();
  const std::string plan = service->cloudHost(
      sp, {{"name", "site"}, {"plugin", "vsphere-mock"}, {"config", {{"vcenter", "bench"}}}},
      "datastore1");
  const std::string tenant =
      expect(sp.post("/api/v1/tenants", {{"name", "Acme"}, {"password", "tenant-pass-1"}}), 201,
             "tenant")["id"];
  auto subscribed =
      expect(sp.post("/api/v1/subscriptions", {{"tenant_id", tenant}, {"plan_id", plan}}), 202,
             "subscribe");
  waitTask(sp, subscribed["task"]["id"]);
  auto acme = service->login("Acme", "tenant-pass-1");
  auto created =
      expect(acme.post("/api/v1/replicas",
                       {{"subscription_id", subscribed["subscription"]["id"]},
                        {"name", "db"},
                        {"vcpus", 1},
                        {"cpu_mhz", 1000},
                        {"memory_mb", 1024},
                        {"disks", {{{"storage", "gold"}, {"size_gb", (sizeMiB + 1023) / 1024}}}}}),
             202, "replica");
  waitTask(acme, created["task"]["id"]);

  std::printf("making a %llu MiB qcow2 of random data...\n",
              static_cast<unsigned long long>(sizeMiB));
  const auto source = dir / "site" / "db.qcow2";
  writeRandom(dir / "site" / "db.raw", size, 1);
  run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", dir / "site" / "db.raw", source});
  std::filesystem::remove(dir / "site" / "db.raw");

  warmsite::replication::AgentOptions agent;
  agent.connect.port = service->orchestrator().replicationPort();
  agent.connect.pinnedThumbprint = thumbprint;
  agent.token = acme.token();
  agent.replicaId = created["replica"]["id"];
  agent.disks = {{"disk-0", source}};
  agent.stateDir = dir / "site" / "agent-state";
  agent.extentSize = extentKiB * 1024;
  require(
      agent.extentSize > 0 && agent.extentSize <= warmsite::replication::kMaxExtentLength,
      "--extent-kib must be 1.." + std::to_string(warmsite::replication::kMaxExtentLength / 1024));
  agent.compressionLevel = compressionLevel;

  // The source is in the page cache for both copies (qemu-img convert has just written it), and
  // written back: the agent's first step (adding a bitmap) flushes the image, which must not
  // include the writeback of the bench's own conversion.
  run({"sync", source.string()});
  double copyCpu = 0;
  const double copySeconds = nbdcopySeconds(source, dir / "nbdcopy-target.qcow2", size, copyCpu);
  const auto fullStart = Clock::now();
  const double fullCpuBefore = busyCpuSeconds();
  const double ownCpuBefore = ownCpuSeconds();
  const auto full = warmsite::replication::replicate(agent, [&](const std::string& line) {
    std::printf("  %6.2f s  agent: %s\n", secondsSince(fullStart), line.c_str());
  });
  const double fullCpu = busyCpuSeconds() - fullCpuBefore;
  const double ownCpu = ownCpuSeconds() - ownCpuBefore;
  const double cores = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  std::filesystem::remove(dir / "nbdcopy-target.qcow2");
  std::printf("full: nbdcopy %.2f s (%.0f MB/s), agent -> SP %.2f s (%.0f MB/s), %llu bytes sent\n",
              copySeconds, size / copySeconds / 1e6, full.seconds, size / full.seconds / 1e6,
              static_cast<unsigned long long>(full.wireBytes));
  std::printf(
      "full: busy CPU %.2f s for nbdcopy, %.2f s for the agent run (%.2f s of it in the agent and "
      "the SP, their system calls included; the rest in their qemu-nbd), on %.0f cores\n",
      copyCpu, fullCpu, ownCpu, cores);

  // Scattered writes of random data, 4 KiB .. 256 KiB each, until the changed share is reached.
  const auto pattern = dir / "site" / "pattern.bin";
  writeRandom(pattern, 256 * 1024, 2);
  std::mt19937 generator(3);
  std::vector<std::string> writes = {"qemu-io", "-f", "qcow2"};
  std::uint64_t written = 0;
  while (written < static_cast<std::uint64_t>(size * changedPercent / 100)) {
    const std::uint64_t length = 4096u << (generator() % 7);
    const std::uint64_t offset = (generator() % ((size - length) / 4096)) * 4096;
    writes.insert(writes.end(), {"-c", "write -q -s " + pattern.string() + " " +
                                           std::to_string(offset) + " " + std::to_string(length)});
    written += length;
  }
  writes.push_back(source.string());
  run(writes);
  const auto incremental = warmsite::replication::replicate(agent);
  require(incremental.kind == "incremental", "the second run was " + incremental.kind);
  const double wireRatio =
      static_cast<double>(incremental.wireBytes) / static_cast<double>(incremental.changedBytes);
  std::printf(
      "incremental: %llu bytes written by the guest, %llu changed bytes at 64 KiB granularity, "
      "%llu bytes sent, %.2f s\n",
      static_cast<unsigned long long>(written),
      static_cast<unsigned long long>(incremental.changedBytes),
      static_cast<unsigned long long>(incremental.wireBytes), incremental.seconds);

  std::printf("@figure replication_full_throughput_ratio %.3f\n", copySeconds / full.seconds);
  std::printf("@figure replication_incremental_s %.3f\n", incremental.seconds);
  std::printf("@figure replication_wire_vs_changed_ratio %.4f\n", wireRatio);
  std::printf("@figure replication_full_cpu_ratio %.2f\n", fullCpu / copyCpu);
  std::printf("@figure replication_full_ratio_ceiling %.3f\n", copySeconds / (fullCpu / cores));
  service.reset();
  std::filesystem::remove_all(dir);
  return 0;
}

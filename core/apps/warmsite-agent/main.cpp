// warmsite-agent: runs on a tenant's KVM host and replicates its VMs' qcow2 disks to the service
// provider, outbound only: it logs in to the SP's API for a token, then streams the run over the
// replication port (TLS 1.3, the SP certificate pinned by its SHA-256 thumbprint).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "client/api_client.h"
#include "replication/agent.h"
#include "replication/disk_image.h"
#include "replication/job_schedule.h"
#include "replication/running_domain_source.h"

namespace {

std::string readPassword(const std::string& file) {
  if (file.empty()) {
    const char* fromEnvironment = std::getenv("WARMSITE_PASSWORD");
    if (fromEnvironment == nullptr)
      throw std::runtime_error("give --password-file or set WARMSITE_PASSWORD");
    return fromEnvironment;
  }
  std::ifstream in(file);
  std::string password;
  if (!in || !std::getline(in, password)) throw std::runtime_error("cannot read " + file);
  return password;
}

// NAME=VALUE split in two; nothing when malformed.
std::optional<std::pair<std::string, std::string>> splitPair(const std::string& argument) {
  const auto equals = argument.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == argument.size()) {
    return std::nullopt;
  }
  return std::pair(argument.substr(0, equals), argument.substr(equals + 1));
}

std::atomic<bool> stopRequested{false};

// Sleeps in short steps so SIGTERM or SIGINT ends the wait promptly.
bool waitUntil(std::chrono::steady_clock::time_point until) {
  while (!stopRequested && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(200), until - std::chrono::steady_clock::now()));
  }
  return !stopRequested;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace warmsite;
  CLI::App app{"Warmsite tenant agent: replicates VM disks to the service provider, and back"};
  app.require_subcommand(1);
  std::string server = "127.0.0.1";
  std::uint16_t apiPort = 6180;
  std::string tenant, passwordFile;
  std::vector<std::string> diskArguments, domainArguments;
  std::string libvirtUri = "qemu:///system";
  std::filesystem::path scratchDir;
  double mbps = 0;
  replication::AgentOptions options;
  options.connect.port = 6181;
  options.stateDir = "/var/lib/warmsite-agent";

  std::string jobId;
  bool once = false;
  auto* run = app.add_subcommand("run", "Replicate one VM's disks now (full or incremental)");
  auto* failback = app.add_subcommand(
      "failback", "Bring the disks to the failed-over replica's data (the VM must be off)");
  auto* schedule = app.add_subcommand(
      "schedule", "Replicate a job's VMs on the job's schedule, until SIGTERM or SIGINT");
  for (auto* command : {run, failback, schedule}) {
    command->add_option("--server", server, "SP host name or address")->capture_default_str();
    command->add_option("--api-port", apiPort, "SP API port")->capture_default_str();
    command->add_option("--port", options.connect.port, "SP replication port")
        ->capture_default_str();
    command
        ->add_option("--thumbprint", options.connect.pinnedThumbprint,
                     "SHA-256 thumbprint of the SP certificate (as `warmsite tls show` prints it)")
        ->required();
    command->add_option("--tenant", tenant, "Tenant account name")->required();
    command->add_option("--password-file", passwordFile,
                        "File whose first line is the password (default: $WARMSITE_PASSWORD)");
    command->add_option("--state-dir", options.stateDir, "Where the agent remembers confirmed runs")
        ->capture_default_str();
  }
  for (auto* command : {run, failback}) {
    command->add_option("--replica", options.replicaId, "Replica id at the SP")->required();
    command->add_option("--disk", diskArguments, "DISK_ID=PATH of a qcow2 image (repeat per disk)")
        ->required();
  }
  run->add_option("--domain", domainArguments,
                  "The running libvirt domain (name or UUID) whose disks --disk names by target "
                  "(DISK_ID=vda): read through checkpoints and pull-mode backups")
      ->expected(1);
  schedule->add_option("--domain", domainArguments,
                       "REPLICA_ID=DOMAIN: that replica's --disk values are the running "
                       "domain's disk targets (repeat per replica)");
  for (auto* command : {run, schedule}) {
    command->add_option("--libvirt-uri", libvirtUri, "libvirt connection of --domain")
        ->capture_default_str();
    command->add_option("--scratch-dir", scratchDir,
                        "Where a --domain run's backup keeps its socket and scratch files "
                        "(QEMU must be able to write there; default: STATE_DIR/scratch)");
  }
  run->add_option("--job", jobId, "Replication job id (its retention applies)");
  run->add_flag("--full", options.forceFull, "Send every block, not only the changed ones");
  schedule->add_option("--job", jobId, "Replication job id")->required();
  schedule
      ->add_option("--disk", diskArguments,
                   "REPLICA_ID:DISK_ID=PATH of a qcow2 image (repeat per disk of each replica)")
      ->required();
  schedule->add_flag("--once", once, "Run each replica of the job once, then exit");
  for (auto* command : {run, schedule}) {
    command
        ->add_option("--bandwidth-mbps", mbps,
                     "Upper bound on the sending rate in Mbit/s (0 = none)")
        ->check(CLI::NonNegativeNumber);
    command->add_option("--compression-level", options.compressionLevel, "zstd level (0 = none)")
        ->check(CLI::Range(0, 19))
        ->capture_default_str();
  }
  CLI11_PARSE(app, argc, argv);
  if (schedule->parsed()) {
    // A run in progress finishes (or resumes next time); the wait for the next one ends.
    std::signal(SIGTERM, [](int) { stopRequested = true; });
    std::signal(SIGINT, [](int) { stopRequested = true; });
  }

  try {
    // Disks by replica: run and failback take one replica's, schedule each job replica's.
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> disksOf;
    for (const auto& argument : diskArguments) {
      std::string replicaId = options.replicaId, disk = argument;
      if (schedule->parsed()) {
        const auto colon = argument.find(':');
        replicaId = colon == std::string::npos ? "" : argument.substr(0, colon);
        disk = colon == std::string::npos ? "" : argument.substr(colon + 1);
      }
      const auto pair = splitPair(disk);
      if (replicaId.empty() || !pair) {
        std::cerr << "--disk must be " << (schedule->parsed() ? "REPLICA_ID:" : "")
                  << "DISK_ID=PATH (or DISK_ID=TARGET with --domain), got \"" << argument << "\"\n";
        return 2;
      }
      disksOf[replicaId].push_back(*pair);
    }
    // Replicas read from a running domain, by replica.
    std::map<std::string, std::string> domainOf;
    for (const auto& argument : domainArguments) {
      if (!schedule->parsed()) {
        domainOf[options.replicaId] = argument;
      } else if (const auto pair = splitPair(argument)) {
        domainOf[pair->first] = pair->second;
      } else {
        std::cerr << "--domain must be REPLICA_ID=DOMAIN, got \"" << argument << "\"\n";
        return 2;
      }
    }
    if (scratchDir.empty()) scratchDir = options.stateDir / "scratch";
    const auto disksFor = [&](const std::string& replicaId) {
      std::vector<replication::AgentDisk> disks;
      for (const auto& [diskId, value] : disksOf[replicaId]) {
        disks.push_back({diskId, domainOf.contains(replicaId) ? "" : value});
      }
      return disks;
    };
    if (!schedule->parsed()) options.disks = disksFor(options.replicaId);
    options.jobId = jobId;
    options.connect.host = server;
    options.bandwidthBytesPerSecond = static_cast<std::uint64_t>(mbps * 1e6 / 8);

    client::ClientOptions clientOptions;
    clientOptions.host = server;
    clientOptions.port = apiPort;
    clientOptions.pinnedThumbprint = options.connect.pinnedThumbprint;
    client::ApiClient api(clientOptions);
    const std::string password = readPassword(passwordFile);
    // A token for the next run; a scheduled agent logs in again before each run (tokens expire).
    const auto logIn = [&] {
      const auto login = api.post("/api/v1/auth/login", {{"name", tenant}, {"password", password}});
      if (login.status != 200) {
        throw std::runtime_error("login refused (" + std::to_string(login.status) +
                                 "): " + login.json().value("message", login.body));
      }
      options.token = login.json().value("token", "");
      api.setToken(options.token);
    };
    logIn();

    const auto print = [](const std::string& line) { std::cout << line << std::endl; };
    const auto replicateReplica = [&](const replication::AgentOptions& runOptions) {
      const auto domain = domainOf.find(runOptions.replicaId);
      if (domain == domainOf.end()) return replication::replicate(runOptions, print);
      replication::RunningDomainOptions sourceOptions{
          .uri = libvirtUri, .domain = domain->second, .targets = {}, .scratchDir = scratchDir};
      for (const auto& [diskId, target] : disksOf[runOptions.replicaId]) {
        sourceOptions.targets.push_back(target);
      }
      const auto source = replication::runningDomainSource(sourceOptions);
      return replication::replicate(runOptions, *source, print);
    };
    if (schedule->parsed()) {
      replication::ScheduleHooks hooks;
      hooks.fetchJob = [&]() -> std::optional<replication::ScheduleHooks::Job> {
        auto jobs = api.get("/api/v1/replication-jobs");
        if (jobs.status == 401) {  // the last run's token expired during the wait
          logIn();
          jobs = api.get("/api/v1/replication-jobs");
        }
        if (jobs.status != 200) {
          throw std::runtime_error("listing replication jobs: " +
                                   jobs.json().value("message", jobs.body));
        }
        for (const auto& job : jobs.json()) {
          if (job.value("id", "") != jobId) continue;
          replication::ScheduleHooks::Job found;
          found.replicaIds = job["replica_ids"].get<std::vector<std::string>>();
          if (job["schedule_minutes"].is_number())
            found.every = std::chrono::minutes(job["schedule_minutes"].get<int>());
          return found;
        }
        return std::nullopt;
      };
      hooks.run = [&](const std::string& replicaId) {
        auto disks = disksOf.find(replicaId);
        if (disks == disksOf.end())
          throw std::runtime_error("no --disk given for replica " + replicaId);
        auto runOptions = options;
        runOptions.replicaId = replicaId;
        runOptions.disks = disksFor(replicaId);
        logIn();
        runOptions.token = options.token;
        return replicateReplica(runOptions);
      };
      hooks.waitUntil = waitUntil;
      hooks.log = print;
      // Every replica of the job needs its disks, and every disk given a replica of the job.
      const auto job = hooks.fetchJob();
      if (!job) {
        std::cerr << "replication job " << jobId << " does not exist\n";
        return 1;
      }
      for (const auto& replicaId : job->replicaIds) {
        if (!disksOf.contains(replicaId)) {
          std::cerr << "replica " << replicaId << " of job " << jobId
                    << " has no --disk REPLICA_ID:DISK_ID=PATH\n";
          return 2;
        }
      }
      for (const auto& [replicaId, disks] : disksOf) {
        if (std::find(job->replicaIds.begin(), job->replicaIds.end(), replicaId) ==
            job->replicaIds.end()) {
          std::cerr << "--disk names replica " << replicaId << ", which is not in job " << jobId
                    << "\n";
          return 2;
        }
      }
      const int failures = replication::runJobSchedule(hooks, once);
      std::cout << "schedule ended: " << failures << " failed run(s)\n";
      return failures == 0 ? 0 : 1;
    }
    if (failback->parsed()) {
      const auto result = replication::failBack(options, print);
      std::cout << "failback " << result.kind << ": " << result.changedBytes << " changed bytes, "
                << result.wireBytes << " bytes received, " << result.seconds << " s\n";
      return 0;
    }
    const auto result = replicateReplica(options);
    std::cout << "run " << result.runId << " " << result.kind << ": restore point "
              << result.restorePointId << ", " << result.changedBytes << " changed bytes, "
              << result.wireBytes << " bytes sent, " << result.reconnects << " reconnects, "
              << result.seconds << " s\n";
    return 0;
  } catch (const replication::ProtocolError& e) {
    std::cerr << "the SP refused the run (" << e.code() << "): " << e.what() << "\n";
  } catch (const client::PinMismatch& e) {
    std::cerr << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "replication failed: " << e.what() << "\n";
  }
  return 1;
}

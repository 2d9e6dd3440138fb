// warmsite-agent: runs on a tenant's KVM host and replicates its VMs' qcow2 disks to the service
// provider, outbound only: it logs in to the SP's API for a token, then streams the run over the
// replication port (TLS 1.3, the SP certificate pinned by its SHA-256 thumbprint).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "client/api_client.h"
#include "replication/agent.h"
#include "replication/disk_image.h"

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

}  // namespace

int main(int argc, char** argv) {
  using namespace warmsite;
  CLI::App app{"Warmsite tenant agent: replicates VM disks to the service provider, and back"};
  app.require_subcommand(1);
  std::string server = "127.0.0.1";
  std::uint16_t apiPort = 6180;
  std::string tenant, passwordFile;
  std::vector<std::string> diskArguments;
  double mbps = 0;
  replication::AgentOptions options;
  options.connect.port = 6181;
  options.stateDir = "/var/lib/warmsite-agent";

  auto* run = app.add_subcommand("run", "Replicate one VM's disks now (full or incremental)");
  auto* failback = app.add_subcommand(
      "failback", "Bring the disks to the failed-over replica's data (the VM must be off)");
  for (auto* command : {run, failback}) {
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
    command->add_option("--replica", options.replicaId, "Replica id at the SP")->required();
    command->add_option("--disk", diskArguments, "DISK_ID=PATH of a qcow2 image (repeat per disk)")
        ->required();
    command->add_option("--state-dir", options.stateDir, "Where the agent remembers confirmed runs")
        ->capture_default_str();
  }
  run->add_option("--job", options.jobId, "Replication job id (its retention applies)");
  run->add_flag("--full", options.forceFull, "Send every block, not only the changed ones");
  run->add_option("--bandwidth-mbps", mbps, "Upper bound on the sending rate in Mbit/s (0 = none)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--compression-level", options.compressionLevel, "zstd level (0 = none)")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    for (const auto& argument : diskArguments) {
      const auto equals = argument.find('=');
      if (equals == std::string::npos || equals == 0 || equals + 1 == argument.size()) {
        std::cerr << "--disk must be DISK_ID=PATH, got \"" << argument << "\"\n";
        return 2;
      }
      options.disks.push_back({argument.substr(0, equals), argument.substr(equals + 1)});
    }
    options.connect.host = server;
    options.bandwidthBytesPerSecond = static_cast<std::uint64_t>(mbps * 1e6 / 8);

    client::ClientOptions clientOptions;
    clientOptions.host = server;
    clientOptions.port = apiPort;
    clientOptions.pinnedThumbprint = options.connect.pinnedThumbprint;
    client::ApiClient api(clientOptions);
    const auto login = api.post("/api/v1/auth/login",
                                {{"name", tenant}, {"password", readPassword(passwordFile)}});
    if (login.status != 200) {
      std::cerr << "login refused (" << login.status
                << "): " << login.json().value("message", login.body) << "\n";
      return 1;
    }
    options.token = login.json().value("token", "");

    const auto print = [](const std::string& line) { std::cout << line << std::endl; };
    if (failback->parsed()) {
      const auto result = replication::failBack(options, print);
      std::cout << "failback " << result.kind << ": " << result.changedBytes << " changed bytes, "
                << result.wireBytes << " bytes received, " << result.seconds << " s\n";
      return 0;
    }
    const auto result = replication::replicate(options, print);
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

// vcd-sim: runs the Cloud Director simulator with its standard site until SIGINT or SIGTERM, and
// prints where it listens, its CA file and the thumbprint to pin.
//
//   vcd-sim [--latency-ms N] [--task-ms N]

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "tests/clouddirector-sim/vcd_simulator.h"

int main(int argc, char** argv) {
  using warmsite::clouddirector::sim::SimulatorOptions;
  SimulatorOptions options = SimulatorOptions::standardSite();
  for (int i = 1; i + 1 < argc; i += 2) {
    const long value = std::strtol(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--latency-ms") == 0) {
      options.requestLatency = std::chrono::milliseconds(value);
    } else if (std::strcmp(argv[i], "--task-ms") == 0) {
      options.taskRunning = std::chrono::milliseconds(value);
    } else {
      std::cerr << "usage: vcd-sim [--latency-ms N] [--task-ms N]\n";
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the server threads start
  warmsite::clouddirector::sim::VcdSimulator simulator(options);
  std::cout << "url " << simulator.url() << "\nca_file " << simulator.caFile() << "\nthumbprint "
            << simulator.thumbprint() << "\nprovider admin@System / secret, tenant dr-admin@acme"
            << " / secret, org acme, vdc dr-vdc, edge edge-01" << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}

// The conformance suite against the clouddirector plugin and the Cloud Director simulator
// (tests/clouddirector-sim): one simulator per test, reached over TLS with its CA file. The
// second instantiation injects every fault the plugin must absorb: 503 and 429 from the cell,
// BUSY_ENTITY on changes, expired tokens, and tasks failing on a busy object.

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "tests/clouddirector-sim/vcd_simulator.h"
#include "tests/conformance/plugin_conformance.h"

namespace warmsite::conformance {
namespace {

using clouddirector::sim::Fault;
using clouddirector::sim::FaultRule;
using clouddirector::sim::SimulatorOptions;
using clouddirector::sim::VcdSimulator;

// The simulator of each running test, by instance name (the config lambda only gets the name).
std::mutex simulatorsMutex;
std::map<std::string, std::weak_ptr<VcdSimulator>> simulators;

// At the end of a faulted test that talked enough to meet them, the faults must have been met:
// otherwise the run proves nothing about absorbing them.
void stopSimulator(VcdSimulator* simulator, bool faults) {
  const auto requests = simulator->requests();
  if (faults && requests.size() >= 30) {
    const auto refused = std::count_if(requests.begin(), requests.end(), [](const auto& r) {
      return r.status == 503 || r.status == 429 || r.status == 401;
    });
    EXPECT_GT(refused, 0) << "no injected fault answered any of " << requests.size() << " requests";
  }
  delete simulator;
}

std::shared_ptr<void> startSimulator(const std::string& instance, bool faults) {
  std::shared_ptr<VcdSimulator> simulator(new VcdSimulator(SimulatorOptions::standardSite()),
                                          [faults](VcdSimulator* s) { stopSimulator(s, faults); });
  if (faults) {
    simulator->addFault({Fault::kServiceUnavailable, "", "", 7});
    simulator->addFault({Fault::kTooManyRequests, "", "", 11});
    simulator->addFault(
        {Fault::kBusyEntity, "", "", 5, -1, "", "The entity is busy completing an operation."});
    simulator->addFault({Fault::kExpiredToken, "", "", 23});
    simulator->addFault({Fault::kTaskError, "", "", 4, -1, "BUSY_ENTITY",
                         "The entity is busy, cannot proceed with the operation."});
  }
  std::lock_guard lock(simulatorsMutex);
  simulators[instance] = simulator;
  return simulator;
}

std::string configFor(const std::string& instance) {
  std::shared_ptr<VcdSimulator> simulator;
  {
    std::lock_guard lock(simulatorsMutex);
    simulator = simulators.at(instance).lock();
  }
  nlohmann::json config = simulator->pluginConfig();
  config["task_poll_ms"] = {{"initial", 2}, {"max", 50}};
  config["retry"] = {{"attempts", 8}, {"initial_backoff_ms", 2}, {"max_backoff_ms", 40}};
  return config.dump();
}

PluginUnderTest cloudDirector(bool faults) {
  return {faults ? "CloudDirectorWithFaults" : "CloudDirector",
          std::filesystem::path(WARMSITE_PLUGIN_DIR) / "clouddirector.so", configFor, "gold",
          [faults](const std::string& instance) { return startSimulator(instance, faults); }};
}

INSTANTIATE_TEST_SUITE_P(CloudDirector, PluginConformance,
                         ::testing::Values(cloudDirector(false), cloudDirector(true)),
                         conformanceName);

}  // namespace
}  // namespace warmsite::conformance

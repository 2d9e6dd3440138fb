#pragma once
// Test harness for the clouddirector plugin: a simulator with the standard site, a config that
// reaches it (provider login, VLAN networks, its CA file, fast polling), and the plugin loaded
// through core's loader as the daemon loads it.

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugins/plugin_loader.h"
#include "tests/clouddirector-sim/vcd_simulator.h"
#include "warmsite/plugin/abi.h"

namespace warmsite::clouddirector::testing {

// HostServices that keeps what the plugin logs, for tests to read.
class RecordingHost final : public plugin::HostServices {
 public:
  void log(plugin::LogLevel level, std::string_view message) noexcept override;
  void machinePowerChanged(std::string_view, plugin::PowerState) noexcept override {}
  std::vector<std::string> lines() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

class Harness {
 public:
  explicit Harness(sim::SimulatorOptions options = sim::SimulatorOptions::standardSite());

  // The config of a fresh plugin object: provider login, VLAN mode, the simulator's CA file.
  nlohmann::json config() const;
  plugins::PluginResult<std::shared_ptr<plugin::CloudHostPlugin>> create(
      const std::string& configText);
  // Creates the plugin object from config() patched with `changes` (top-level fields).
  std::shared_ptr<plugin::CloudHostPlugin> open(const nlohmann::json& changes = {});

  // Subscription "sub-a" of "tenant-a" (storage "gold", 100 GB), network "net-a" on VLAN 101.
  void provisionTenantA(plugin::CloudHostPlugin& plugin);
  static plugin::ReplicaSpec replicaSpec(const std::string& replicaId);

  static plugin::CallContext ctx(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return plugin::CallContext::withTimeout(timeout);
  }

  sim::VcdSimulator simulator;
  RecordingHost host;

 private:
  plugins::PluginLibrary library_;
};

template <typename Result>
::testing::AssertionResult succeeded(const Result& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "failed: " << plugin::toString(result.error().code) << ": " << result.error().message;
}

template <typename Result>
::testing::AssertionResult failedWith(const Result& result, plugin::ErrorCode code) {
  if (result.ok()) return ::testing::AssertionFailure() << "succeeded";
  if (result.error().code == code && !result.error().message.empty()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "failed with " << plugin::toString(result.error().code)
                                       << ": " << result.error().message;
}

#define ASSERT_OK(expr) ASSERT_TRUE(::warmsite::clouddirector::testing::succeeded(expr)) << #expr
#define EXPECT_ERROR(expr, code) \
  EXPECT_TRUE(::warmsite::clouddirector::testing::failedWith(expr, code)) << #expr

}  // namespace warmsite::clouddirector::testing

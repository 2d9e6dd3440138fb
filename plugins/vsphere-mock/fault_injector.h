#pragma once
// Latency and fault injection for the vSphere mock, configured from the cloud host's JSON:
//
//   "latency_ms": {"default": 0, "power_on": 50},
//   "faults": [
//     {"operation": "power_on", "nth": 3, "kind": "transient"},          // the 3rd power_on fails
//     once
//     {"operation": "create_replica", "target": "rep-7", "kind": "permanent"},  // always, for
//     rep-7
//     {"operation": "*", "probability": 0.05, "seed": 42, "kind": "transient", "times": 10}
//   ]
//
// A transient fault is kUnavailable (core retries it); a permanent one is kInternal unless "code"
// names another error code. An injected fault happens before the operation changes anything.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::vspheremock {

class FaultInjector {
 public:
  // Throws std::invalid_argument naming the bad field.
  static FaultInjector fromConfig(const nlohmann::json& config);

  // Sleeps for the operation's latency (waking early on deadline or cancel), then decides whether
  // this call fails. Thread-safe.
  std::optional<plugin::Error> before(const std::string& operation, const std::string& target,
                                      const plugin::CallContext& ctx);

  FaultInjector() = default;
  FaultInjector(FaultInjector&& other) noexcept;

 private:
  enum class Trigger { kAlways, kNth, kProbability };
  struct Rule {
    std::string operation;  // "*" = every operation
    std::string target;     // empty = every id
    Trigger trigger = Trigger::kAlways;
    std::uint64_t nth = 0;
    double probability = 0;
    std::mt19937_64 random;
    std::uint64_t maxTimes = 0;  // 0 = no limit
    plugin::ErrorCode code = plugin::ErrorCode::kInternal;
    std::uint64_t calls = 0;
    std::uint64_t fired = 0;
  };

  std::chrono::milliseconds latencyFor(const std::string& operation) const;

  std::chrono::milliseconds defaultLatency_{0};
  std::vector<std::pair<std::string, std::chrono::milliseconds>> latencies_;
  std::mutex mutex_;  // guards rules_' counters and random engines
  std::vector<Rule> rules_;
};

}  // namespace warmsite::vspheremock

#include "fault_injector.h"

#include <stdexcept>
#include <thread>

namespace warmsite::vspheremock {

namespace {

const char* const kOperations[] = {"apply_tenant_resources",
                                   "release_tenant_resources",
                                   "tenant_resources",
                                   "create_replica",
                                   "delete_replica",
                                   "machine",
                                   "power_on",
                                   "power_off",
                                   "create_restore_point",
                                   "list_restore_points",
                                   "revert_to_restore_point",
                                   "delete_restore_point",
                                   "inventory",
                                   "create_tenant_network",
                                   "delete_tenant_network",
                                   "list_networks",
                                   "apply_tenant_edge",
                                   "tenant_edge",
                                   "remove_tenant_edge",
                                   "create_bubble",
                                   "delete_bubble",
                                   "create_test_copy",
                                   "delete_test_copy",
                                   "check_health",
                                   "guest_shutdown"};

bool knownOperation(const std::string& name) {
  for (const char* op : kOperations) {
    if (name == op) return true;
  }
  return false;
}

plugin::ErrorCode parseCode(const std::string& name) {
  using plugin::ErrorCode;
  for (auto code :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
        ErrorCode::kInvalidState, ErrorCode::kResourceExhausted, ErrorCode::kUnavailable,
        ErrorCode::kTimeout, ErrorCode::kCancelled, ErrorCode::kUnimplemented,
        ErrorCode::kPermissionDenied, ErrorCode::kInternal}) {
    if (plugin::toString(code) == name) return code;
  }
  throw std::invalid_argument("faults[].code \"" + name + "\" is not an error code");
}

std::chrono::milliseconds parseMillis(const nlohmann::json& value, const std::string& field) {
  if (!value.is_number_unsigned()) {
    throw std::invalid_argument(field + " must be a non-negative integer (milliseconds)");
  }
  return std::chrono::milliseconds(value.get<std::uint64_t>());
}

}  // namespace

FaultInjector::FaultInjector(FaultInjector&& other) noexcept
    : defaultLatency_(other.defaultLatency_),
      latencies_(std::move(other.latencies_)),
      rules_(std::move(other.rules_)) {}

FaultInjector FaultInjector::fromConfig(const nlohmann::json& config) {
  FaultInjector injector;
  if (auto it = config.find("latency_ms"); it != config.end()) {
    if (!it->is_object()) throw std::invalid_argument("latency_ms must be an object");
    for (const auto& [op, value] : it->items()) {
      if (op == "default") {
        injector.defaultLatency_ = parseMillis(value, "latency_ms.default");
      } else if (knownOperation(op)) {
        injector.latencies_.emplace_back(op, parseMillis(value, "latency_ms." + op));
      } else {
        throw std::invalid_argument("latency_ms." + op + ": unknown operation");
      }
    }
  }
  if (auto it = config.find("faults"); it != config.end()) {
    if (!it->is_array()) throw std::invalid_argument("faults must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& item = (*it)[i];
      const std::string where = "faults[" + std::to_string(i) + "]";
      if (!item.is_object()) throw std::invalid_argument(where + " must be an object");
      Rule rule;
      rule.operation = item.value("operation", "");
      if (rule.operation != "*" && !knownOperation(rule.operation)) {
        throw std::invalid_argument(where + ".operation \"" + rule.operation +
                                    "\" is not an operation (or \"*\")");
      }
      rule.target = item.value("target", "");
      const std::string kind = item.value("kind", "permanent");
      if (kind == "transient") {
        rule.code = plugin::ErrorCode::kUnavailable;
      } else if (kind == "permanent") {
        rule.code = parseCode(item.value("code", "internal"));
      } else {
        throw std::invalid_argument(where + ".kind must be \"transient\" or \"permanent\"");
      }
      if (item.contains("nth") && item.contains("probability")) {
        throw std::invalid_argument(where + ": give nth or probability, not both");
      }
      if (item.contains("nth")) {
        if (!item["nth"].is_number_unsigned() || item["nth"].get<std::uint64_t>() == 0) {
          throw std::invalid_argument(where + ".nth must be an integer >= 1");
        }
        rule.trigger = Trigger::kNth;
        rule.nth = item["nth"].get<std::uint64_t>();
      } else if (item.contains("probability")) {
        const auto& p = item["probability"];
        if (!p.is_number() || p.get<double>() < 0 || p.get<double>() > 1) {
          throw std::invalid_argument(where + ".probability must be a number in [0, 1]");
        }
        rule.trigger = Trigger::kProbability;
        rule.probability = p.get<double>();
        rule.random.seed(item.value("seed", std::uint64_t{1}));
      }
      if (item.contains("times")) {
        if (!item["times"].is_number_unsigned()) {
          throw std::invalid_argument(where + ".times must be a non-negative integer");
        }
        rule.maxTimes = item["times"].get<std::uint64_t>();
      }
      injector.rules_.push_back(std::move(rule));
    }
  }
  return injector;
}

std::chrono::milliseconds FaultInjector::latencyFor(const std::string& operation) const {
  for (const auto& [op, latency] : latencies_) {
    if (op == operation) return latency;
  }
  return defaultLatency_;
}

std::optional<plugin::Error> FaultInjector::before(const std::string& operation,
                                                   const std::string& target,
                                                   const plugin::CallContext& ctx) {
  using plugin::ErrorCode;
  const auto latency = latencyFor(operation);
  if (latency.count() > 0) {
    const auto wakeAt = std::chrono::steady_clock::now() + latency;
    while (std::chrono::steady_clock::now() < wakeAt) {
      if (ctx.cancelled()) {
        return plugin::makeError(ErrorCode::kCancelled, operation + " cancelled by the caller");
      }
      if (ctx.expired()) {
        return plugin::makeError(ErrorCode::kTimeout, operation + " passed its deadline");
      }
      const auto step = std::min<std::chrono::steady_clock::duration>(
          wakeAt - std::chrono::steady_clock::now(), std::chrono::milliseconds(50));
      std::this_thread::sleep_for(step);
    }
  }
  if (ctx.cancelled()) {
    return plugin::makeError(ErrorCode::kCancelled, operation + " cancelled by the caller");
  }
  if (ctx.expired())
    return plugin::makeError(ErrorCode::kTimeout, operation + " passed its deadline");

  std::lock_guard lock(mutex_);
  for (auto& rule : rules_) {
    if (rule.operation != "*" && rule.operation != operation) continue;
    if (!rule.target.empty() && rule.target != target) continue;
    ++rule.calls;
    bool fires = false;
    switch (rule.trigger) {
      case Trigger::kAlways:
        fires = true;
        break;
      case Trigger::kNth:
        fires = rule.calls == rule.nth;
        break;
      case Trigger::kProbability:
        fires = std::uniform_real_distribution<double>(0.0, 1.0)(rule.random) < rule.probability;
        break;
    }
    if (!fires || (rule.maxTimes != 0 && rule.fired >= rule.maxTimes)) continue;
    ++rule.fired;
    const bool transient = plugin::isTransient(rule.code);
    return plugin::makeError(rule.code,
                             std::string("injected ") + (transient ? "transient" : "permanent") +
                                 " fault: " + operation + (target.empty() ? "" : " of " + target) +
                                 " (call " + std::to_string(rule.calls) + ")",
                             transient ? "HostCommunication" : "SystemError");
  }
  return std::nullopt;
}

}  // namespace warmsite::vspheremock

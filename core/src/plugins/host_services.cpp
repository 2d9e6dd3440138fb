#include "plugins/host_services.h"

#include <spdlog/spdlog.h>

namespace warmsite::plugins {

void CloudHostServices::setPowerListener(PowerListener listener) {
  std::lock_guard lock(mutex_);
  powerListener_ = std::move(listener);
}

void CloudHostServices::log(plugin::LogLevel level, std::string_view message) noexcept {
  try {
    const auto spdLevel = level == plugin::LogLevel::kDebug     ? spdlog::level::debug
                          : level == plugin::LogLevel::kInfo    ? spdlog::level::info
                          : level == plugin::LogLevel::kWarning ? spdlog::level::warn
                                                                : spdlog::level::err;
    spdlog::log(spdLevel, "[cloud host {}] {}", cloudHostName_, message);
  } catch (...) {
    // Logging must never take the caller down.
  }
}

void CloudHostServices::machinePowerChanged(std::string_view machineId,
                                            plugin::PowerState power) noexcept {
  PowerListener listener;
  {
    std::lock_guard lock(mutex_);
    listener = powerListener_;
  }
  if (!listener) return;
  try {
    listener(machineId, power);
  } catch (const std::exception& e) {
    log(plugin::LogLevel::kError, std::string("power listener failed: ") + e.what());
  }
}

}  // namespace warmsite::plugins

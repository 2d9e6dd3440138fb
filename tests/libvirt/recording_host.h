#pragma once
// Core's side of the plugin for these tests: keeps what the plugin logs and reports.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "warmsite/plugin/host.h"

namespace warmsite::libvirtplugin::testing {

class RecordingHost final : public plugin::HostServices {
 public:
  void log(plugin::LogLevel, std::string_view message) noexcept override {
    std::lock_guard lock(mutex_);
    logs_.emplace_back(message);
    changed_.notify_all();
  }
  void machinePowerChanged(std::string_view machineId, plugin::PowerState power) noexcept override {
    std::lock_guard lock(mutex_);
    power_.emplace_back(std::string(machineId), power);
    changed_.notify_all();
  }

  std::vector<std::pair<std::string, plugin::PowerState>> powerChanges() {
    std::lock_guard lock(mutex_);
    return power_;
  }
  // Waits up to `timeout` for the report; true when it came.
  bool waitForPower(const std::string& machineId, plugin::PowerState power,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      for (const auto& [id, reported] : power_) {
        if (id == machineId && reported == power) return true;
      }
      return false;
    });
  }
  bool waitForLog(const std::string& part,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      for (const auto& line : logs_) {
        if (line.find(part) != std::string::npos) return true;
      }
      return false;
    });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> logs_;
  std::vector<std::pair<std::string, plugin::PowerState>> power_;
};

}  // namespace warmsite::libvirtplugin::testing

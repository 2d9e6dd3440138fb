#pragma once
// Core's side of plugin::HostServices: plugin log lines go to the daemon log tagged with the cloud
// host, and backend power changes go to whoever core wires in (the replica state tracker).

#include <functional>
#include <mutex>
#include <string>

#include "warmsite/plugin/host.h"

namespace warmsite::plugins {

class CloudHostServices final : public plugin::HostServices {
 public:
  using PowerListener = std::function<void(std::string_view machineId, plugin::PowerState power)>;

  explicit CloudHostServices(std::string cloudHostName)
      : cloudHostName_(std::move(cloudHostName)) {}

  void setPowerListener(PowerListener listener);

  void log(plugin::LogLevel level, std::string_view message) noexcept override;
  void machinePowerChanged(std::string_view machineId, plugin::PowerState power) noexcept override;

 private:
  const std::string cloudHostName_;
  std::mutex mutex_;
  PowerListener powerListener_;
};

}  // namespace warmsite::plugins

#pragma once
// What core offers a plugin: logging and backend events. Core owns the object; it outlives every
// plugin object created with it. Methods are thread-safe and may be called from plugin threads
// (an event loop, a task poller).

#include <string_view>

#include "warmsite/plugin/types.h"
#include "warmsite/plugin/visibility.h"

namespace warmsite::plugin {

enum class LogLevel : std::uint32_t { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

class WARMSITE_VISIBLE HostServices {
 public:
  // A plugin logs through core so its lines land in the daemon's log with the cloud host's name.
  virtual void log(LogLevel level, std::string_view message) noexcept = 0;

  // The backend changed a Warmsite machine's power on its own (the guest shut down, the host
  // crashed it, an operator used the backend console). Core updates the replica's state.
  virtual void machinePowerChanged(std::string_view machineId, PowerState power) noexcept = 0;

 protected:
  ~HostServices() = default;
};

}  // namespace warmsite::plugin

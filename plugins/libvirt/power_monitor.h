#pragma once
// Turns libvirt domain lifecycle events into HostServices::machinePowerChanged, and reopens the
// connection that carries the events after libvirt reports it closed.
//
// Events arrive on the event-loop thread, which only queues the machine id (decoded from the
// domain name, no libvirt call). The monitor's own thread then reads the machine's power under its
// id lock and reports it only when it differs from what the plugin last left it at: the plugin's
// own power calls record their result before they release the lock, so they are not reported back
// as changes made "on its own", while a guest shutdown or an operator's virsh destroy is.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "connection_pool.h"
#include "id_locks.h"
#include "warmsite/plugin/host.h"
#include "warmsite/plugin/result.h"

namespace warmsite::libvirtplugin {

plugin::PowerState powerOf(int virDomainState);

class PowerMonitor {
 public:
  struct Hooks {
    // The machine's power now, read from libvirt; kNotFound when the domain is gone.
    std::function<plugin::Result<plugin::PowerState>(const std::string& machineId)> readPower;
    // Whether the machine is a committed Warmsite machine (events of others are ignored).
    std::function<bool(const std::string& machineId)> owned;
    // Reopens the event connection; its open hook calls watch() again.
    std::function<plugin::Status()> reconnect;
    // How long until the next reconnect attempt is allowed.
    std::function<std::chrono::milliseconds()> retryDelay;
  };

  PowerMonitor(plugin::HostServices& host, IdLocks& locks, Hooks hooks);
  ~PowerMonitor();  // stops the thread
  // Starts handling events (queued since construction) once the hooks can be called.
  void start();
  PowerMonitor(const PowerMonitor&) = delete;
  PowerMonitor& operator=(const PowerMonitor&) = delete;

  // Registers the lifecycle callback on `connection` (deregistered when it closes).
  plugin::Status watch(Connection& connection);
  // What the connection pool calls when the event connection closed: the monitor thread then
  // reconnects, with backoff. Safe to call after the monitor is gone.
  std::function<void()> closedNotifier() const;
  // Called by the plugin with the machine's id lock held: its own call left the machine at
  // `power` (nullopt: the machine is gone).
  void settled(const std::string& machineId, std::optional<plugin::PowerState> power);

  struct Inbox {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::string> machines;
    bool reconnect = false;
    bool stop = false;
  };

 private:
  void run();
  // The machine's new power when it differs from what the plugin last knew.
  std::optional<plugin::PowerState> check(const std::string& machineId);

  plugin::HostServices& host_;
  IdLocks& locks_;
  Hooks hooks_;
  std::shared_ptr<Inbox> inbox_;  // libvirt callbacks hold it weakly
  std::mutex knownMutex_;
  std::map<std::string, plugin::PowerState> known_;
  std::thread thread_;
};

}  // namespace warmsite::libvirtplugin

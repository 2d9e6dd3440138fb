#pragma once
// Connections to one libvirt host: a small pool shared by the plugin's calls, reopened with
// exponential backoff after libvirt reports the connection closed (keepalive timeout, daemon
// restart, network loss), and the process-wide event loop that delivers libvirt's callbacks.

#include <libvirt/libvirt.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "warmsite/plugin/result.h"

namespace warmsite::libvirtplugin {

// libvirt's default event loop (virEventRegisterDefaultImpl) run by one thread. It must be
// registered before connections that use callbacks are opened. Shared by every plugin object of
// the process; the thread stops when the last holder lets go.
class EventLoop {
 public:
  static std::shared_ptr<EventLoop> acquire();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

 private:
  EventLoop();
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Delays between reconnect attempts: initial, doubling, capped at max; reset after a success.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), next_(initial) {}
  std::chrono::milliseconds next();
  void reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_, max_, next_;
};

// One open connection. Its destructor deregisters what was registered on it, then closes it.
class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virConnectPtr get() const { return conn_; }
  // libvirt reported the connection closed, or it no longer answers IsAlive.
  bool closed() const;
  // Registered by the pool's open hook; deregistered on destruction.
  void addDomainEventCallback(int callbackId) { domainEventIds_.push_back(callbackId); }

 private:
  friend class ConnectionPool;
  Connection(virConnectPtr conn, std::shared_ptr<std::atomic<bool>> closedFlag, bool closeCallback)
      : conn_(conn), closedFlag_(std::move(closedFlag)), closeCallback_(closeCallback) {}
  virConnectPtr conn_;
  std::shared_ptr<std::atomic<bool>> closedFlag_;
  bool closeCallback_;
  std::vector<int> domainEventIds_;
};

using ConnectionRef = std::shared_ptr<Connection>;

struct PoolOptions {
  std::string uri;
  std::uint32_t size = 2;
  // test:///<file>: each open builds a private host from the file, so the pool opens it once per
  // process and keeps it, as a real host outlives a daemon's connections.
  bool keepOpenForProcess = false;
  // A connection to a libvirtd: keepalive and a close callback. In-process drivers (test:///)
  // cannot close on their own and accept a close callback without ever keeping it.
  bool remote = false;
  std::string username;  // answers libvirt's credential prompts when set
  std::string password;
  std::chrono::milliseconds reconnectInitial{200};
  std::chrono::milliseconds reconnectMax{30000};
};

class ConnectionPool {
 public:
  // Called for every connection the pool opens (slot 0 carries the domain event callbacks).
  using OpenedHook = std::function<plugin::Status(Connection& connection, std::size_t slot)>;
  // Called on the event-loop thread when libvirt reports a connection closed; must not block.
  using ClosedHook = std::function<void(std::size_t slot, int reason)>;

  static plugin::Result<std::unique_ptr<ConnectionPool>> open(PoolOptions options,
                                                              OpenedHook opened, ClosedHook closed);
  ~ConnectionPool();

  // A connection for one call, round robin over the slots. A closed slot is reopened first when
  // its backoff allows; otherwise kUnavailable saying when the next attempt is due.
  plugin::Result<ConnectionRef> acquire();
  // The connection of `slot`, reopened if it closed and its backoff allows.
  plugin::Result<ConnectionRef> slot(std::size_t slot);
  // Time until `slot` may try to reconnect (zero when it is open or may try now).
  std::chrono::milliseconds retryDelay(std::size_t slot) const;
  std::size_t size() const { return slots_.size(); }
  const std::string& uri() const { return options_.uri; }

  // Marks `slot` closed exactly as libvirt's close callback does, for tests that cannot make a
  // daemon go away.
  void markClosedForTest(std::size_t slot);

 private:
  struct Slot {
    mutable std::mutex mutex;
    ConnectionRef connection;
    std::shared_ptr<std::atomic<bool>> closedFlag;
    Backoff backoff;
    std::chrono::steady_clock::time_point nextAttempt{};
    explicit Slot(const PoolOptions& o) : backoff(o.reconnectInitial, o.reconnectMax) {}
  };

  ConnectionPool(PoolOptions options, OpenedHook opened, ClosedHook closed);
  plugin::Result<ConnectionRef> openConnection(std::size_t slot);
  plugin::Result<ConnectionRef> slotLocked(std::size_t slot, Slot& state);

  PoolOptions options_;
  OpenedHook opened_;
  std::shared_ptr<ClosedHook> closed_;  // callbacks hold it weakly: they may outlive the pool
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<std::size_t> next_{0};
  std::shared_ptr<EventLoop> eventLoop_;  // outlives every connection
};

}  // namespace warmsite::libvirtplugin

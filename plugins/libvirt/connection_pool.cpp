#include "connection_pool.h"

#include <cstring>
#include <map>
#include <tuple>

#include "libvirt_util.h"

namespace warmsite::libvirtplugin {

namespace {

using plugin::ErrorCode;

// ---- event loop

std::mutex& eventLoopMutex() {
  static std::mutex mutex;
  return mutex;
}

std::weak_ptr<EventLoop>& currentEventLoop() {
  static std::weak_ptr<EventLoop> loop;
  return loop;
}

// ---- credentials

struct Credentials {
  std::string username;
  std::string password;
};

int answerCredentials(virConnectCredentialPtr creds, unsigned int count, void* data) {
  const auto* answers = static_cast<const Credentials*>(data);
  for (unsigned int i = 0; i < count; ++i) {
    const std::string* answer = nullptr;
    if (creds[i].type == VIR_CRED_AUTHNAME || creds[i].type == VIR_CRED_USERNAME) {
      answer = &answers->username;
    } else if (creds[i].type == VIR_CRED_PASSPHRASE) {
      answer = &answers->password;
    }
    if (answer == nullptr || answer->empty()) return -1;
    creds[i].result = strdup(answer->c_str());  // libvirt frees it
    if (creds[i].result == nullptr) return -1;
    creds[i].resultlen = static_cast<unsigned int>(answer->size());
  }
  return 0;
}

virConnectPtr openLibvirt(const PoolOptions& options) {
  if (options.username.empty() && options.password.empty()) {
    return virConnectOpenAuth(options.uri.c_str(), virConnectAuthPtrDefault, 0);
  }
  Credentials answers{options.username, options.password};
  int types[] = {VIR_CRED_AUTHNAME, VIR_CRED_USERNAME, VIR_CRED_PASSPHRASE};
  virConnectAuth auth{types, 3, answerCredentials, &answers};
  return virConnectOpenAuth(options.uri.c_str(), &auth, 0);
}

// Node-file hosts opened by this process, kept for its life (see PoolOptions).
plugin::Result<virConnectPtr> openKeptForProcess(const PoolOptions& options) {
  static std::mutex mutex;
  static auto* kept = new std::map<std::tuple<std::string, std::string, std::string>,
                                   virConnectPtr>();  // process-long
  std::lock_guard lock(mutex);
  const auto key = std::make_tuple(options.uri, options.username, options.password);
  if (auto it = kept->find(key); it != kept->end()) {
    virConnectRef(it->second);
    return it->second;
  }
  virConnectPtr conn = openLibvirt(options);
  if (conn == nullptr) return lastError("cannot open " + options.uri);
  kept->emplace(key, conn);
  virConnectRef(conn);
  return conn;
}

// ---- close callback: its context is owned by libvirt, so it holds the pool's parts weakly.

struct CloseContext {
  std::weak_ptr<std::atomic<bool>> flag;
  std::weak_ptr<ConnectionPool::ClosedHook> hook;
  std::size_t slot;
};

void onConnectionClosed(virConnectPtr, int reason, void* opaque) {
  auto* context = static_cast<CloseContext*>(opaque);
  if (auto flag = context->flag.lock()) flag->store(true);
  if (auto hook = context->hook.lock(); hook && *hook) (*hook)(context->slot, reason);
}

void freeCloseContext(void* opaque) {
  delete static_cast<CloseContext*>(opaque);
}

}  // namespace

EventLoop::EventLoop() {
  static std::once_flag registered;
  std::call_once(registered, [] { virEventRegisterDefaultImpl(); });
  thread_ = std::thread([this] {
    while (!stop_.load()) virEventRunDefaultImpl();
  });
}

EventLoop::~EventLoop() {
  stop_ = true;
  // A zero timeout wakes the loop from its poll so it sees stop_.
  const int wake = virEventAddTimeout(
      0, [](int, void*) {}, nullptr, nullptr);
  thread_.join();
  if (wake >= 0) virEventRemoveTimeout(wake);
}

std::shared_ptr<EventLoop> EventLoop::acquire() {
  std::lock_guard lock(eventLoopMutex());
  auto loop = currentEventLoop().lock();
  if (!loop) {
    loop = std::shared_ptr<EventLoop>(new EventLoop());
    currentEventLoop() = loop;
  }
  return loop;
}

std::chrono::milliseconds Backoff::next() {
  const auto delay = next_;
  next_ = std::min(next_ * 2, max_);
  return delay;
}

Connection::~Connection() {
  for (int id : domainEventIds_) virConnectDomainEventDeregisterAny(conn_, id);
  // libvirt frees the callback's context through freeCloseContext.
  if (closeCallback_) virConnectUnregisterCloseCallback(conn_, onConnectionClosed);
  virConnectClose(conn_);
}

bool Connection::closed() const {
  return closedFlag_->load() || virConnectIsAlive(conn_) == 0;
}

ConnectionPool::ConnectionPool(PoolOptions options, OpenedHook opened, ClosedHook closed)
    : options_(std::move(options)),
      opened_(std::move(opened)),
      closed_(std::make_shared<ClosedHook>(std::move(closed))),
      eventLoop_(EventLoop::acquire()) {
  for (std::uint32_t i = 0; i < options_.size; ++i) {
    slots_.push_back(std::make_unique<Slot>(options_));
  }
}

ConnectionPool::~ConnectionPool() {
  for (auto& slot : slots_) {
    std::lock_guard lock(slot->mutex);
    slot->connection.reset();
  }
}

plugin::Result<std::unique_ptr<ConnectionPool>> ConnectionPool::open(PoolOptions options,
                                                                     OpenedHook opened,
                                                                     ClosedHook closed) {
  initializeLibvirt();
  std::unique_ptr<ConnectionPool> pool(
      new ConnectionPool(std::move(options), std::move(opened), std::move(closed)));
  for (std::size_t i = 0; i < pool->slots_.size(); ++i) {
    auto connection = pool->openConnection(i);
    if (!connection.ok()) return std::move(connection).error();
    pool->slots_[i]->connection = std::move(connection).value();
  }
  return pool;
}

plugin::Result<ConnectionRef> ConnectionPool::openConnection(std::size_t slot) {
  virConnectPtr conn = nullptr;
  if (options_.keepOpenForProcess) {
    auto kept = openKeptForProcess(options_);
    if (!kept.ok()) return std::move(kept).error();
    conn = kept.value();
  } else {
    conn = openLibvirt(options_);
    if (conn == nullptr) return lastError("cannot open " + options_.uri);
  }
  auto closedFlag = std::make_shared<std::atomic<bool>>(false);
  bool closeCallback = false;
  if (options_.remote) {
    // Keepalive lets the connection notice a dead peer.
    virConnectSetKeepAlive(conn, 5, 3);
    auto* context = new CloseContext{closedFlag, closed_, slot};
    const int registered =
        virConnectRegisterCloseCallback(conn, onConnectionClosed, context, freeCloseContext);
    if (registered < 0) {
      delete context;
    } else {
      closeCallback = true;
    }
  }
  ConnectionRef connection(new Connection(conn, closedFlag, closeCallback));
  if (opened_) {
    if (auto status = opened_(*connection, slot); !status.ok()) return std::move(status).error();
  }
  return connection;
}

plugin::Result<ConnectionRef> ConnectionPool::slotLocked(std::size_t index, Slot& state) {
  if (state.connection && !state.connection->closed()) return state.connection;
  const auto now = std::chrono::steady_clock::now();
  if (now < state.nextAttempt) {
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(state.nextAttempt - now);
    return plugin::makeError(ErrorCode::kUnavailable, "connection to " + options_.uri +
                                                          " is closed; next attempt in " +
                                                          std::to_string(wait.count()) + " ms");
  }
  state.connection.reset();
  auto reopened = openConnection(index);
  if (!reopened.ok()) {
    state.nextAttempt = now + state.backoff.next();
    auto error = std::move(reopened).error();
    if (error.code != ErrorCode::kPermissionDenied) error.code = ErrorCode::kUnavailable;
    return error;
  }
  state.backoff.reset();
  state.nextAttempt = {};
  state.connection = reopened.value();
  return std::move(reopened).value();
}

plugin::Result<ConnectionRef> ConnectionPool::slot(std::size_t index) {
  auto& state = *slots_.at(index);
  std::lock_guard lock(state.mutex);
  return slotLocked(index, state);
}

plugin::Result<ConnectionRef> ConnectionPool::acquire() {
  return slot(next_.fetch_add(1, std::memory_order_relaxed) % slots_.size());
}

std::chrono::milliseconds ConnectionPool::retryDelay(std::size_t index) const {
  const auto& state = *slots_.at(index);
  std::lock_guard lock(state.mutex);
  const auto now = std::chrono::steady_clock::now();
  if (state.nextAttempt <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(state.nextAttempt - now) +
         std::chrono::milliseconds(1);
}

void ConnectionPool::markClosedForTest(std::size_t index) {
  auto& state = *slots_.at(index);
  {
    std::lock_guard lock(state.mutex);
    if (state.connection) state.connection->closedFlag_->store(true);
  }
  if (*closed_) (*closed_)(index, VIR_CONNECT_CLOSE_REASON_EOF);
}

}  // namespace warmsite::libvirtplugin

#include "power_monitor.h"

#include "libvirt_util.h"
#include "names.h"

namespace warmsite::libvirtplugin {

namespace {

using plugin::PowerState;

struct EventContext {
  std::weak_ptr<PowerMonitor::Inbox> inbox;
};

int onLifecycle(virConnectPtr, virDomainPtr domain, int event, int, void* opaque) {
  // Definition changes are no power change.
  if (event == VIR_DOMAIN_EVENT_DEFINED || event == VIR_DOMAIN_EVENT_UNDEFINED) return 0;
  const char* name = virDomainGetName(domain);
  if (name == nullptr) return 0;
  auto machineId = machineIdOf(name);
  if (!machineId) return 0;
  auto inbox = static_cast<EventContext*>(opaque)->inbox.lock();
  if (!inbox) return 0;
  {
    std::lock_guard lock(inbox->mutex);
    inbox->machines.push_back(std::move(*machineId));
  }
  inbox->wake.notify_one();
  return 0;
}

void freeEventContext(void* opaque) {
  delete static_cast<EventContext*>(opaque);
}

}  // namespace

PowerState powerOf(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
    case VIR_DOMAIN_SHUTDOWN:  // still running while the guest shuts down
      return PowerState::kOn;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
      return PowerState::kSuspended;
    default:
      return PowerState::kOff;
  }
}

PowerMonitor::PowerMonitor(plugin::HostServices& host, IdLocks& locks, Hooks hooks)
    : host_(host), locks_(locks), hooks_(std::move(hooks)), inbox_(std::make_shared<Inbox>()) {}

void PowerMonitor::start() {
  thread_ = std::thread([this] { run(); });
}

PowerMonitor::~PowerMonitor() {
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->stop = true;
  }
  inbox_->wake.notify_one();
  if (thread_.joinable()) thread_.join();
}

plugin::Status PowerMonitor::watch(Connection& connection) {
  auto* context = new EventContext{inbox_};
  const int id = virConnectDomainEventRegisterAny(
      connection.get(), nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
      VIR_DOMAIN_EVENT_CALLBACK(onLifecycle), context, freeEventContext);
  if (id < 0) {
    auto error = lastError("cannot watch domain lifecycle events");
    delete context;
    return error;
  }
  connection.addDomainEventCallback(id);
  return {};
}

std::function<void()> PowerMonitor::closedNotifier() const {
  return [weak = std::weak_ptr<Inbox>(inbox_)] {
    auto inbox = weak.lock();
    if (!inbox) return;
    {
      std::lock_guard lock(inbox->mutex);
      inbox->reconnect = true;
    }
    inbox->wake.notify_one();
  };
}

void PowerMonitor::settled(const std::string& machineId, std::optional<PowerState> power) {
  std::lock_guard lock(knownMutex_);
  if (power) {
    known_[machineId] = *power;
  } else {
    known_.erase(machineId);
  }
}

void PowerMonitor::run() {
  std::set<std::string> busy;  // machines whose check waits for a plugin call to finish
  // The pool's delay is read without the inbox lock: libvirt callbacks take that lock.
  auto delay = std::chrono::milliseconds(0);
  std::unique_lock lock(inbox_->mutex);
  while (!inbox_->stop) {
    const bool idle = inbox_->machines.empty() && busy.empty() && !inbox_->reconnect;
    if (idle) {
      inbox_->wake.wait(lock);
      continue;
    }
    if (!busy.empty() || delay.count() > 0) {
      // Retry busy machines and the reconnect a little later, unless something new arrives.
      inbox_->wake.wait_for(lock, std::max(delay, std::chrono::milliseconds(20)));
      if (inbox_->stop) break;
    }
    auto machines = std::move(inbox_->machines);
    inbox_->machines.clear();
    const bool reconnectPending = inbox_->reconnect;
    lock.unlock();
    delay = reconnectPending ? hooks_.retryDelay() : std::chrono::milliseconds(0);
    if (reconnectPending && delay.count() == 0) {
      if (hooks_.reconnect().ok()) {
        std::lock_guard relock(inbox_->mutex);
        inbox_->reconnect = false;
      } else {
        delay = hooks_.retryDelay();
      }
    }
    for (auto& id : machines) busy.insert(std::move(id));
    for (auto it = busy.begin(); it != busy.end();) {
      std::optional<PowerState> changed;
      {
        auto guard = locks_.tryLock(*it);
        if (!guard) {
          ++it;
          continue;
        }
        changed = check(*it);
      }
      // Reported without the id lock: core may call back into the plugin for this machine.
      if (changed) host_.machinePowerChanged(*it, *changed);
      it = busy.erase(it);
    }
    lock.lock();
  }
}

std::optional<PowerState> PowerMonitor::check(const std::string& machineId) {
  if (!hooks_.owned(machineId)) return std::nullopt;
  auto power = hooks_.readPower(machineId);
  std::lock_guard lock(knownMutex_);
  if (!power.ok()) {
    known_.erase(machineId);
    return std::nullopt;
  }
  auto [it, inserted] = known_.try_emplace(machineId, *power);
  if (!inserted && it->second == *power) return std::nullopt;
  it->second = *power;
  return *power;
}

}  // namespace warmsite::libvirtplugin

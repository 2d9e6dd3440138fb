#pragma once
// One mutex per Warmsite id, created on demand and dropped when unused: calls on the same id
// serialize (a replay never races its original), calls on different ids never wait for each other.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace warmsite::libvirtplugin {

class IdLocks {
 private:
  struct Entry {
    std::mutex mutex;
    int users = 0;
  };

 public:
  class Guard {
   public:
    Guard(Guard&& other) noexcept : owner_(other.owner_), id_(std::move(other.id_)) {
      other.owner_ = nullptr;
    }
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (owner_ != nullptr) owner_->release(id_);
    }

   private:
    friend class IdLocks;
    Guard(IdLocks* owner, std::string id) : owner_(owner), id_(std::move(id)) {}
    IdLocks* owner_;
    std::string id_;
  };

  Guard lock(const std::string& id) {
    entry(id)->mutex.lock();
    return Guard(this, id);
  }

  // Empty when another call holds the id.
  std::optional<Guard> tryLock(const std::string& id) {
    Entry* held = entry(id);
    if (!held->mutex.try_lock()) {
      drop(id);
      return std::nullopt;
    }
    return Guard(this, id);
  }

 private:
  Entry* entry(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto& slot = entries_[id];
    if (!slot) slot = std::make_unique<Entry>();
    ++slot->users;
    return slot.get();
  }

  void drop(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (--it->second->users == 0) entries_.erase(it);
  }

  void release(const std::string& id) {
    Entry* held;
    {
      std::lock_guard lock(mutex_);
      held = entries_.at(id).get();
    }
    held->mutex.unlock();
    drop(id);
  }

  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace warmsite::libvirtplugin

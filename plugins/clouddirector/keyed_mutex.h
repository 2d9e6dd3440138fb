#pragma once
// One mutex per key (a Warmsite id, an edge gateway), created on first use and dropped when no one
// holds or waits for it: calls on the same object serialize, calls on different objects do not.

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace warmsite::clouddirector {

class KeyedMutex {
  struct Entry {
    std::mutex mutex;
    int users = 0;
  };

 public:
  class Guard {
   public:
    Guard(KeyedMutex& owner, std::string key, Entry* entry)
        : owner_(owner), key_(std::move(key)), entry_(entry) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() {
      entry_->mutex.unlock();
      std::lock_guard lock(owner_.mutex_);
      if (--entry_->users == 0) owner_.entries_.erase(key_);
    }

   private:
    KeyedMutex& owner_;
    std::string key_;
    Entry* entry_;
  };

  [[nodiscard]] std::unique_ptr<Guard> lock(const std::string& key) {
    Entry* entry;
    {
      std::lock_guard lock(mutex_);
      auto& slot = entries_[key];
      if (!slot) slot = std::make_unique<Entry>();
      entry = slot.get();
      ++entry->users;
    }
    entry->mutex.lock();
    return std::make_unique<Guard>(*this, key, entry);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace warmsite::clouddirector

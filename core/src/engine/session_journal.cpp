#include "engine/session_journal.h"

#include <vector>

namespace warmsite::engine {

SessionJournal::SessionJournal(store::Store& store)
    : store_(store), writer_([this] { writerLoop(); }) {}

SessionJournal::~SessionJournal() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    pending_.notify_all();
  }
  writer_.join();
}

void SessionJournal::record(const std::string& tenantId, const std::string& sessionId,
                            const domain::SessionVm& vm,
                            std::optional<domain::ReplicaState> replicaState,
                            const std::string& replicaError) {
  Entry entry{tenantId, sessionId, vm, replicaState, replicaError, {}};
  auto committed = entry.committed.get_future();
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(&entry);
    pending_.notify_one();
  }
  committed.get();
}

void SessionJournal::writerLoop() {
  while (true) {
    std::vector<Entry*> batch;
    {
      std::unique_lock lock(mutex_);
      pending_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      batch.assign(queue_.begin(), queue_.end());
      queue_.clear();
    }
    try {
      store_.write([&](store::Transaction& tx) {
        for (const Entry* entry : batch) {
          auto scope = tx.tenant(entry->tenantId);
          scope->updateSessionVm(entry->sessionId, entry->vm);
          if (entry->replicaState) {  // a replica deleted meanwhile has no state to keep
            scope->setReplicaState(entry->vm.replicaId, *entry->replicaState, entry->replicaError);
          }
        }
      });
      for (Entry* entry : batch) entry->committed.set_value();
    } catch (...) {
      for (Entry* entry : batch) entry->committed.set_exception(std::current_exception());
    }
  }
}

}  // namespace warmsite::engine

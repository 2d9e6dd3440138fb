#include "engine/session_journal.h"

#include <spdlog/spdlog.h>

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

std::future<void> SessionJournal::submit(const std::string& tenantId, const std::string& sessionId,
                                         const domain::SessionVm& vm,
                                         std::optional<domain::ReplicaState> replicaState,
                                         const std::string& replicaError) {
  auto entry =
      std::make_shared<Entry>(Entry{tenantId, sessionId, vm, replicaState, replicaError, {}});
  auto committed = entry->committed.get_future();
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(entry);
    pending_.notify_one();
  }
  return committed;
}

void SessionJournal::recordAll(const std::string& tenantId, const std::string& sessionId,
                               const std::vector<domain::SessionVm>& vms) {
  std::vector<std::future<void>> committed;
  {
    std::lock_guard lock(mutex_);  // the writer takes them all in one batch
    for (const auto& vm : vms) {
      auto entry = std::make_shared<Entry>(Entry{tenantId, sessionId, vm, std::nullopt, {}, {}});
      committed.push_back(entry->committed.get_future());
      queue_.push_back(std::move(entry));
    }
    pending_.notify_one();
  }
  for (auto& record : committed) record.get();
}

void SessionJournal::note(const std::string& tenantId, const std::string& sessionId,
                          const domain::SessionVm& vm) {
  auto entry = std::make_shared<Entry>(Entry{tenantId, sessionId, vm, std::nullopt, {}, {}});
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(entry));
  pending_.notify_one();
}

void SessionJournal::writerLoop() {
  while (true) {
    std::vector<std::shared_ptr<Entry>> batch;
    {
      std::unique_lock lock(mutex_);
      pending_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      batch.assign(queue_.begin(), queue_.end());
      queue_.clear();
    }
    try {
      store_.write([&](store::Transaction& tx) {
        for (const auto& entry : batch) {
          auto scope = tx.tenant(entry->tenantId);
          scope->updateSessionVm(entry->sessionId, entry->vm);
          if (entry->replicaState) {  // a replica deleted meanwhile has no state to keep
            scope->setReplicaState(entry->vm.replicaId, *entry->replicaState, entry->replicaError);
          }
        }
      });
      for (const auto& entry : batch) entry->committed.set_value();
    } catch (const std::exception& e) {
      spdlog::error("session journal: a batch of {} records was not committed: {}", batch.size(),
                    e.what());
      for (const auto& entry : batch) entry->committed.set_exception(std::current_exception());
    }
  }
}

}  // namespace warmsite::engine

#include "engine/session_journal.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace warmsite::engine {

SessionJournal::SessionJournal(store::Store& store, std::chrono::milliseconds noteDelay)
    : store_(store), noteDelay_(noteDelay), noteQueuer_([this] { queueDueNotes(); }) {}

SessionJournal::~SessionJournal() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    notesWaiting_.notify_one();
  }
  noteQueuer_.join();  // it queued every waiting note as it stopped
  // The writer runs its pieces in order: once this empty one is done, so is every piece queued
  // before it, taken by the writer already or not.
  store_.submitWrite([](store::Transaction&) {}).wait();
}

std::shared_future<void> SessionJournal::submit(const std::string& tenantId,
                                                const std::string& sessionId,
                                                const domain::SessionVm& vm,
                                                std::optional<domain::ReplicaState> replicaState,
                                                const std::string& replicaError) {
  std::lock_guard lock(mutex_);
  return queue(sessionId, add(tenantId, sessionId, {vm, replicaState, replicaError}));
}

std::shared_future<void> SessionJournal::submitAll(const std::string& tenantId,
                                                   const std::string& sessionId,
                                                   const std::vector<domain::SessionVm>& vms) {
  std::lock_guard lock(mutex_);
  Batch* batch = nullptr;
  for (const auto& vm : vms) batch = &add(tenantId, sessionId, {vm, std::nullopt, {}});
  if (batch == nullptr) {  // nothing to record: ready at once
    std::promise<void> nothing;
    nothing.set_value();
    return nothing.get_future().share();
  }
  return queue(sessionId, *batch);
}

void SessionJournal::recordAll(const std::string& tenantId, const std::string& sessionId,
                               const std::vector<domain::SessionVm>& vms) {
  store_.write(
      [&](store::Transaction& tx) { tx.tenant(tenantId)->updateSessionVms(sessionId, vms); });
}

void SessionJournal::note(const std::string& tenantId, const std::string& sessionId,
                          const domain::SessionVm& vm) {
  // Nobody waits for a note: the piece that writes it logs its failure.
  std::lock_guard lock(mutex_);
  const bool waiting = batches_.contains(sessionId);
  auto& batch = add(tenantId, sessionId, {vm, std::nullopt, {}});
  if (stopping_) {
    queue(sessionId, batch);  // the note queuer is gone
  } else if (!waiting) {
    notesWaiting_.notify_one();
  }
}

SessionJournal::Batch& SessionJournal::add(const std::string& tenantId,
                                           const std::string& sessionId, Record record) {
  auto batch = batches_.find(sessionId);
  if (batch == batches_.end()) {
    batch =
        batches_
            .emplace(
                sessionId,
                Batch{tenantId, {}, std::nullopt, std::chrono::steady_clock::now() + noteDelay_})
            .first;
  }
  auto& records = batch->second.records;
  auto same = std::find_if(records.begin(), records.end(),
                           [&](const Record& r) { return r.vm.replicaId == record.vm.replicaId; });
  if (same == records.end()) {
    records.push_back(std::move(record));
  } else {
    if (!record.replicaState) {  // keeps the replica state a record queued before it carries
      record.replicaState = same->replicaState;
      record.replicaError = same->replicaError;
    }
    *same = std::move(record);
  }
  return batch->second;
}

std::shared_future<void> SessionJournal::queue(const std::string& sessionId, Batch& batch) {
  if (!batch.durable) {
    batch.durable =
        store_.submitWrite([this, sessionId](store::Transaction& tx) { write(tx, sessionId); })
            .share();
  }
  return *batch.durable;
}

void SessionJournal::queueDueNotes() {
  std::unique_lock lock(mutex_);
  while (true) {
    auto next = std::chrono::steady_clock::time_point::max();
    const auto now = std::chrono::steady_clock::now();
    for (auto batch = batches_.begin(); batch != batches_.end();) {
      if (batch->second.durable) {
        ++batch;
      } else if (stopping_ || batch->second.due <= now) {
        try {
          queue(batch->first, batch->second);
          ++batch;
        } catch (const std::exception& e) {  // nothing would ever write it
          spdlog::warn("session {}: {} VM note(s) not journalled: {}", batch->first,
                       batch->second.records.size(), e.what());
          batch = batches_.erase(batch);
        }
      } else {
        next = std::min(next, batch->second.due);
        ++batch;
      }
    }
    if (stopping_) return;
    if (next == std::chrono::steady_clock::time_point::max()) {
      notesWaiting_.wait(lock);
    } else {
      notesWaiting_.wait_until(lock, next);
    }
  }
}

void SessionJournal::write(store::Transaction& tx, const std::string& sessionId) {
  Batch batch;
  {
    std::lock_guard lock(mutex_);
    auto found = batches_.find(sessionId);
    batch = std::move(found->second);
    batches_.erase(found);
  }
  try {
    auto scope = tx.tenant(batch.tenantId);
    std::vector<domain::SessionVm> vms;
    vms.reserve(batch.records.size());
    for (auto& record : batch.records) {
      // A replica deleted meanwhile has no state to keep.
      if (record.replicaState)
        scope->setReplicaState(record.vm.replicaId, *record.replicaState, record.replicaError);
      vms.push_back(std::move(record.vm));
    }
    scope->updateSessionVms(sessionId, vms);
  } catch (const std::exception& e) {
    spdlog::warn("session {}: {} VM record(s) not journalled: {}", sessionId, batch.records.size(),
                 e.what());
    throw;
  }
}

}  // namespace warmsite::engine

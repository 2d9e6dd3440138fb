#include "engine/session_journal.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace warmsite::engine {

SessionJournal::~SessionJournal() {
  std::vector<std::shared_future<void>> queued;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [session, batch] : batches_) queued.push_back(batch.durable);
  }
  for (const auto& piece : queued) piece.wait();
}

std::shared_future<void> SessionJournal::submit(const std::string& tenantId,
                                                const std::string& sessionId,
                                                const domain::SessionVm& vm,
                                                std::optional<domain::ReplicaState> replicaState,
                                                const std::string& replicaError) {
  return add(tenantId, sessionId, {vm, replicaState, replicaError});
}

void SessionJournal::recordAll(const std::string& tenantId, const std::string& sessionId,
                               const std::vector<domain::SessionVm>& vms) {
  std::shared_future<void> durable;
  {
    std::lock_guard lock(mutex_);
    for (const auto& vm : vms) durable = addLocked(tenantId, sessionId, {vm, std::nullopt, {}});
  }
  if (!durable.valid()) return;
  // The batch's error is shared with its other waiters: this thread throws its own copy.
  try {
    durable.get();
  } catch (const store::StoreError& e) {
    throw store::StoreError(e.kind(), std::string(e.what()));
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what());
  }
}

void SessionJournal::note(const std::string& tenantId, const std::string& sessionId,
                          const domain::SessionVm& vm) {
  // Nobody waits for a note: the piece that writes it logs its failure.
  add(tenantId, sessionId, {vm, std::nullopt, {}});
}

std::shared_future<void> SessionJournal::add(const std::string& tenantId,
                                             const std::string& sessionId, Record record) {
  std::lock_guard lock(mutex_);
  return addLocked(tenantId, sessionId, std::move(record));
}

std::shared_future<void> SessionJournal::addLocked(const std::string& tenantId,
                                                   const std::string& sessionId, Record record) {
  auto batch = batches_.find(sessionId);
  if (batch == batches_.end()) {
    // Queued under the lock, so the piece cannot take its batch before the batch is complete;
    // and before the batch exists, so a refused submit leaves no batch without a piece.
    auto durable =
        store_.submitWrite([this, sessionId](store::Transaction& tx) { write(tx, sessionId); })
            .share();
    batch = batches_.emplace(sessionId, Batch{tenantId, {}, std::move(durable)}).first;
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
  return batch->second.durable;
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

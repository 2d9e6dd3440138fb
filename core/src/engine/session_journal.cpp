#include "engine/session_journal.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <span>
#include <stdexcept>

namespace warmsite::engine {

SessionJournal::~SessionJournal() {
  std::vector<std::shared_future<void>> queued;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [session, batch] : batches_) queued.push_back(batch.piece->durable);
  }
  for (const auto& piece : queued) piece.wait();
}

SessionJournal::Outcome SessionJournal::submit(const std::string& tenantId,
                                               const std::string& sessionId,
                                               const domain::SessionVm& vm,
                                               std::optional<domain::ReplicaState> replicaState,
                                               const std::string& replicaError) {
  return add(tenantId, sessionId, {vm, replicaState, replicaError});
}

SessionJournal::Written SessionJournal::recordAll(const std::string& tenantId,
                                                  const std::string& sessionId,
                                                  const std::vector<domain::SessionVm>& vms) {
  std::vector<Outcome> outcomes;
  {
    std::lock_guard lock(mutex_);
    for (const auto& vm : vms)
      outcomes.push_back(addLocked(tenantId, sessionId, {vm, std::nullopt, {}}));
  }
  Written written;
  for (std::size_t i = 0; i < vms.size(); ++i) {
    auto error = errorOf(outcomes[i]);
    if (!error) {
      written.durable.push_back(vms[i]);
    } else if (!written.error) {
      written.error = std::move(error);
    }
  }
  return written;
}

void SessionJournal::Outcome::wait() const {
  if (auto error = errorOf(*this)) std::rethrow_exception(error);
}

std::exception_ptr SessionJournal::errorOf(const Outcome& outcome) {
  // The piece's error is shared with its other waiters: this thread throws its own copy.
  try {
    outcome.piece_->durable.get();
  } catch (const store::StoreError& e) {
    return std::make_exception_ptr(store::StoreError(e.kind(), std::string(e.what())));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(std::runtime_error(std::string(e.what())));
  } catch (...) {
    return std::make_exception_ptr(std::runtime_error("the journal's write failed"));
  }
  const auto& failures = outcome.piece_->failures;
  if (outcome.record_ >= failures.size() || !failures[outcome.record_]) return nullptr;
  const auto& [kind, message] = *failures[outcome.record_];
  if (kind) return std::make_exception_ptr(store::StoreError(*kind, message));
  return std::make_exception_ptr(std::runtime_error(message));
}

void SessionJournal::note(const std::string& tenantId, const std::string& sessionId,
                          const domain::SessionVm& vm) {
  // Nobody waits for a note: the piece that writes it logs its failure.
  add(tenantId, sessionId, {vm, std::nullopt, {}});
}

SessionJournal::Outcome SessionJournal::add(const std::string& tenantId,
                                            const std::string& sessionId, Record record) {
  std::lock_guard lock(mutex_);
  return addLocked(tenantId, sessionId, std::move(record));
}

SessionJournal::Outcome SessionJournal::addLocked(const std::string& tenantId,
                                                  const std::string& sessionId, Record record) {
  auto batch = batches_.find(sessionId);
  // A batch whose piece ended without taking it (the writer's transaction failed before the piece
  // ran) is done: its records failed with the piece, later ones start a new batch.
  if (batch != batches_.end() &&
      batch->second.piece->durable.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    batches_.erase(batch);
    batch = batches_.end();
  }
  if (batch == batches_.end()) {
    // Queued under the lock, so the piece cannot take its batch before the batch is complete;
    // and before the batch exists, so a refused submit leaves no batch without a piece.
    auto piece = std::make_shared<Piece>();
    piece->durable =
        store_.submitWrite([this, sessionId](store::Transaction& tx) { write(tx, sessionId); })
            .share();
    batch = batches_.emplace(sessionId, Batch{tenantId, {}, std::move(piece)}).first;
  }
  auto& records = batch->second.records;
  auto same = std::find_if(records.begin(), records.end(),
                           [&](const Record& r) { return r.vm.replicaId == record.vm.replicaId; });
  if (same == records.end()) {
    records.push_back(std::move(record));
    same = records.end() - 1;
  } else {
    if (!record.replicaState) {  // keeps the replica state a record queued before it carries
      record.replicaState = same->replicaState;
      record.replicaError = same->replicaError;
    }
    *same = std::move(record);
  }
  return Outcome(batch->second.piece, static_cast<std::size_t>(same - records.begin()));
}

void SessionJournal::write(store::Transaction& tx, const std::string& sessionId) {
  Batch batch;
  {
    std::lock_guard lock(mutex_);
    auto found = batches_.find(sessionId);
    batch = std::move(found->second);
    batches_.erase(found);
  }
  auto scope = tx.tenant(batch.tenantId);
  std::vector<domain::SessionVm> vms;
  vms.reserve(batch.records.size());
  for (auto& record : batch.records) vms.push_back(std::move(record.vm));
  const auto writeFrom = [&](std::size_t first, std::size_t count) {
    return tx.isolated([&] {
      for (std::size_t i = first; i < first + count; ++i) {
        const auto& record = batch.records[i];
        // A replica deleted meanwhile has no state to keep.
        if (record.replicaState)
          scope->setReplicaState(vms[i].replicaId, *record.replicaState, record.replicaError);
      }
      scope->updateSessionVms(sessionId, std::span(vms).subspan(first, count));
    });
  };
  // All at once; when that fails, each record again on its own, so only the refused ones are lost.
  if (!writeFrom(0, vms.size())) return;
  auto& failures = batch.piece->failures;
  failures.resize(vms.size());
  std::size_t lost = 0;
  std::string firstError;
  for (std::size_t i = 0; i < vms.size(); ++i) {
    const auto error = writeFrom(i, 1);
    if (!error) continue;
    Failure failure;
    try {
      std::rethrow_exception(error);
    } catch (const store::StoreError& e) {
      failure = {e.kind(), e.what()};
    } catch (const std::exception& e) {
      failure = {std::nullopt, e.what()};
    } catch (...) {
      failure = {std::nullopt, "unknown error"};
    }
    if (firstError.empty()) firstError = failure.message;
    failures[i] = std::move(failure);
    ++lost;
  }
  if (lost > 0) {
    spdlog::warn("session {}: {} of {} VM record(s) not journalled: {}", sessionId, lost,
                 vms.size(), firstError);
  }
}

}  // namespace warmsite::engine

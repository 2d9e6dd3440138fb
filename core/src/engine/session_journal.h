#pragma once
// The journal of failover sessions: each VM step is recorded before and after its plugin call.
// Many VMs step at once (a global pool, many sessions). The records of one session that wait for
// the store's writer at the same moment are written by one piece of its group commit: a caller
// returns only once its record is durable, but a thousand VMs cost neither a thousand transactions
// nor a thousand pieces for the one writer to take in turn.

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "domain/entities.h"
#include "store/store.h"

namespace warmsite::engine {

class SessionJournal {
 public:
  // How long a progress note may wait for a record of its session to carry it.
  static constexpr auto kNoteDelay = std::chrono::milliseconds(100);

  explicit SessionJournal(store::Store& store, std::chrono::milliseconds noteDelay = kNoteDelay);
  // Writes the notes still waiting and waits until every piece it queued is done: they write
  // through this journal.
  ~SessionJournal();
  SessionJournal(const SessionJournal&) = delete;
  SessionJournal& operator=(const SessionJournal&) = delete;

  // Records `vm` in its session and, when given, the replica's new state and error. The future
  // is ready once committed, and holds the store's error when the record failed.
  std::shared_future<void> submit(const std::string& tenantId, const std::string& sessionId,
                                  const domain::SessionVm& vm,
                                  std::optional<domain::ReplicaState> replicaState = std::nullopt,
                                  const std::string& replicaError = {});
  // Records several VMs of one session in the same piece; the future is as submit's.
  std::shared_future<void> submitAll(const std::string& tenantId, const std::string& sessionId,
                                     const std::vector<domain::SessionVm>& vms);
  // Records several VMs of one session in one transaction, blocking until committed; rethrows the
  // store's error.
  void recordAll(const std::string& tenantId, const std::string& sessionId,
                 const std::vector<domain::SessionVm>& vms);
  // Records `vm` without waiting, for progress between two durable records (the next step's name, a
  // retry): a crash may lose it, and a resume needs only the records around it. It waits up to the
  // note delay for a record of its session to carry it (most steps end sooner: a burst of starts
  // then costs the writer no piece for its notes). Committed in order with the VM's other
  // records, so a later record is never overwritten by it.
  void note(const std::string& tenantId, const std::string& sessionId, const domain::SessionVm& vm);

 private:
  struct Record {
    domain::SessionVm vm;
    std::optional<domain::ReplicaState> replicaState;
    std::string replicaError;
  };
  // A session's records waiting for the piece queued to write them; a VM's newer record replaces
  // its older one (a record carries the VM's whole state). A batch of notes only has no piece
  // until it is due or a record someone waits for joins it.
  struct Batch {
    std::string tenantId;
    std::vector<Record> records;
    std::optional<std::shared_future<void>> durable;
    std::chrono::steady_clock::time_point due;
  };

  // The batch `record` joins (under mutex_).
  Batch& add(const std::string& tenantId, const std::string& sessionId, Record record);
  // Queues the piece that writes `batch` (under mutex_, so the piece cannot take its batch before
  // the batch is complete).
  std::shared_future<void> queue(const std::string& sessionId, Batch& batch);
  // The writer's piece for a session: takes the batch (later records start the next one) and
  // writes it.
  void write(store::Transaction& tx, const std::string& sessionId);
  // Queues the pieces of the note batches that fell due.
  void queueDueNotes();

  store::Store& store_;
  const std::chrono::milliseconds noteDelay_;
  std::mutex mutex_;
  std::condition_variable notesWaiting_;
  bool stopping_ = false;
  std::map<std::string, Batch> batches_;  // by session id
  std::thread noteQueuer_;                // last: started once the rest is ready
};

}  // namespace warmsite::engine

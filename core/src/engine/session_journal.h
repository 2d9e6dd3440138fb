#pragma once
// The journal of failover sessions: each VM step is recorded before and after its plugin call.
// Many VMs step at once (a global pool, many sessions). The records of one session that wait for
// the store's writer at the same moment are written by one piece of its group commit: a caller
// returns only once its record is durable, but a thousand VMs cost neither a thousand transactions
// nor a thousand pieces for the one writer to take in turn. Each record stands alone in its piece:
// one the store refuses is lost without the others (a VM's start cannot take another's end with
// it).

#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain/entities.h"
#include "store/store.h"

namespace warmsite::engine {

class SessionJournal {
  struct Piece;

 public:
  // A submitted record's result.
  class Outcome {
   public:
    // Returns once the record is durable; throws the store's error (this thread's own copy) when
    // its piece or the record itself failed.
    void wait() const;

   private:
    friend class SessionJournal;
    Outcome(std::shared_ptr<const Piece> piece, std::size_t record)
        : piece_(std::move(piece)), record_(record) {}
    std::shared_ptr<const Piece> piece_;
    std::size_t record_;  // its position in the piece's batch
  };
  // What recordAll() wrote.
  struct Written {
    std::vector<domain::SessionVm> durable;  // the VMs whose record is committed, in order
    std::exception_ptr error;                // the first failed record's error, this thread's own
  };

  explicit SessionJournal(store::Store& store) : store_(store) {}
  // Waits for the pieces still queued: they write through this journal.
  ~SessionJournal();
  SessionJournal(const SessionJournal&) = delete;
  SessionJournal& operator=(const SessionJournal&) = delete;

  // Records `vm` in its session and, when given, the replica's new state and error.
  Outcome submit(const std::string& tenantId, const std::string& sessionId,
                 const domain::SessionVm& vm,
                 std::optional<domain::ReplicaState> replicaState = std::nullopt,
                 const std::string& replicaError = {});
  // Records several VMs of one session in one transaction (the piece of the session's open batch,
  // with its records already waiting), blocking until committed.
  Written recordAll(const std::string& tenantId, const std::string& sessionId,
                    const std::vector<domain::SessionVm>& vms);
  // Records `vm` without waiting, for progress between two durable records (the next step's name, a
  // retry): a crash may lose it, and a resume needs only the records around it. Committed in order
  // with the VM's other records, so a later record is never overwritten by it.
  void note(const std::string& tenantId, const std::string& sessionId, const domain::SessionVm& vm);

 private:
  // A record the store refused: its error as plain data, so that each waiting thread builds its
  // own exception (see Store::write).
  struct Failure {
    std::optional<store::StoreError::Kind> kind;  // none: not a store error
    std::string message;
  };
  // The writer's piece for one batch, shared with the outcomes of its records.
  struct Piece {
    std::shared_future<void> durable;
    // By record position; written by the piece before its commit (empty: the batch was written
    // at once), read once `durable` is ready.
    std::vector<std::optional<Failure>> failures;
  };
  struct Record {
    domain::SessionVm vm;
    std::optional<domain::ReplicaState> replicaState;
    std::string replicaError;
  };
  // A session's records waiting for the piece queued to write them; a VM's newer record replaces
  // its older one (a record carries the VM's whole state).
  struct Batch {
    std::string tenantId;
    std::vector<Record> records;
    std::shared_ptr<Piece> piece;
  };

  Outcome add(const std::string& tenantId, const std::string& sessionId, Record record);
  // The same, with mutex_ held.
  Outcome addLocked(const std::string& tenantId, const std::string& sessionId, Record record);
  // The error `outcome` ended with, as an exception of this thread's own; none when durable.
  static std::exception_ptr errorOf(const Outcome& outcome);
  // The writer's piece for a session: takes the batch (later records start the next one) and
  // writes it.
  void write(store::Transaction& tx, const std::string& sessionId);

  store::Store& store_;
  std::mutex mutex_;
  std::map<std::string, Batch> batches_;  // by session id
};

}  // namespace warmsite::engine

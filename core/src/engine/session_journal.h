#pragma once
// The journal of failover sessions: each VM step is recorded before and after its plugin call.
// Many VMs step at once (a global pool, many sessions), so records from all threads are committed
// together, one transaction per batch (group commit): a caller returns only once its record is
// durable, but a thousand VMs do not cost a thousand transactions.

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "domain/entities.h"
#include "store/store.h"

namespace warmsite::engine {

class SessionJournal {
 public:
  explicit SessionJournal(store::Store& store);
  ~SessionJournal();

  // Records `vm` in its session and, when given, the replica's new state and error. Blocks until
  // committed; rethrows the store's error when the batch failed.
  void record(const std::string& tenantId, const std::string& sessionId,
              const domain::SessionVm& vm,
              std::optional<domain::ReplicaState> replicaState = std::nullopt,
              const std::string& replicaError = {});

 private:
  struct Entry {
    std::string tenantId;
    std::string sessionId;
    domain::SessionVm vm;
    std::optional<domain::ReplicaState> replicaState;
    std::string replicaError;
    std::promise<void> committed;
  };

  void writerLoop();

  store::Store& store_;
  std::mutex mutex_;
  std::condition_variable pending_;
  std::deque<Entry*> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace warmsite::engine

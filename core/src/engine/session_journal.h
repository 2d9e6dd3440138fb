#pragma once
// The journal of failover sessions: each VM step is recorded before and after its plugin call.
// Many VMs step at once (a global pool, many sessions); the store commits the records queued at the
// same moment in one transaction (its group commit), so a caller returns only once its record is
// durable, but a thousand VMs do not cost a thousand transactions.

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "domain/entities.h"
#include "store/store.h"

namespace warmsite::engine {

class SessionJournal {
 public:
  explicit SessionJournal(store::Store& store) : store_(store) {}

  // Records `vm` in its session and, when given, the replica's new state and error. The future
  // is ready once committed, and holds the store's error when the record failed.
  std::future<void> submit(const std::string& tenantId, const std::string& sessionId,
                           const domain::SessionVm& vm,
                           std::optional<domain::ReplicaState> replicaState = std::nullopt,
                           const std::string& replicaError = {});
  // Records several VMs of one session in one transaction, blocking until committed; rethrows the
  // store's error.
  void recordAll(const std::string& tenantId, const std::string& sessionId,
                 const std::vector<domain::SessionVm>& vms);
  // Records `vm` without waiting, for progress between two durable records (the next step's name, a
  // retry): a crash may lose it, and a resume needs only the records around it. Committed in order
  // with the others, so a later record is never overwritten by it.
  void note(const std::string& tenantId, const std::string& sessionId, const domain::SessionVm& vm);

 private:
  store::Store& store_;
};

}  // namespace warmsite::engine

#include "engine/session_journal.h"

#include <spdlog/spdlog.h>

namespace warmsite::engine {

std::future<void> SessionJournal::submit(const std::string& tenantId, const std::string& sessionId,
                                         const domain::SessionVm& vm,
                                         std::optional<domain::ReplicaState> replicaState,
                                         const std::string& replicaError) {
  return store_.submitWrite([=](store::Transaction& tx) {
    auto scope = tx.tenant(tenantId);
    scope->updateSessionVm(sessionId, vm);
    // A replica deleted meanwhile has no state to keep.
    if (replicaState) scope->setReplicaState(vm.replicaId, *replicaState, replicaError);
  });
}

void SessionJournal::recordAll(const std::string& tenantId, const std::string& sessionId,
                               const std::vector<domain::SessionVm>& vms) {
  store_.write([&](store::Transaction& tx) {
    auto scope = tx.tenant(tenantId);
    for (const auto& vm : vms) scope->updateSessionVm(sessionId, vm);
  });
}

void SessionJournal::note(const std::string& tenantId, const std::string& sessionId,
                          const domain::SessionVm& vm) {
  // Nobody waits for a note: its failure is only logged.
  store_.submitWrite([=](store::Transaction& tx) {
    try {
      tx.tenant(tenantId)->updateSessionVm(sessionId, vm);
    } catch (const std::exception& e) {
      spdlog::warn("session {}: progress of replica {} not journalled: {}", sessionId, vm.replicaId,
                   e.what());
      throw;
    }
  });
}

}  // namespace warmsite::engine

#pragma once
// Which operation may start from which replica state (DESIGN.md section 5, after Veeam Cloud
// Connect's VBRReplicaStatus). The API refuses any other with a 409 that says why.

#include <string>

#include "domain/entities.h"
#include "domain/rules.h"

namespace warmsite::domain {

enum class ReplicaOperation {
  kTakeRestorePoint,
  kDelete,
  kFailover,  // full or partial; also the retry of a failed one
  kTestFailover,
  kUndoFailover,
  kPermanentFailover,
  kFailback,
  kFailbackCommit,
  kFailbackUndo,
};

std::string_view toString(ReplicaOperation operation) noexcept;

// nullopt when `operation` may start from `state`, else why not.
Problem checkTransition(const Replica& replica, ReplicaOperation operation);

// The state a replica is in when `operation` succeeded (or failed).
ReplicaState stateAfter(ReplicaOperation operation, bool succeeded);

}  // namespace warmsite::domain

#include "domain/replica_states.h"

#include <initializer_list>

namespace warmsite::domain {

namespace {

struct Rule {
  ReplicaOperation operation;
  std::initializer_list<ReplicaState> from;
  ReplicaState onSuccess;
  ReplicaState onFailure;
};

using S = ReplicaState;
constexpr Rule kRules[] = {
    {ReplicaOperation::kTakeRestorePoint, {S::kReady}, S::kReady, S::kReady},
    {ReplicaOperation::kDelete,
     {S::kReady, S::kFailoverFailed, S::kPermanentFailover},
     S::kReady,
     S::kReady},
    {ReplicaOperation::kFailover,
     {S::kReady, S::kFailoverFailed},
     S::kFailover,
     S::kFailoverFailed},
    {ReplicaOperation::kTestFailover, {S::kReady}, S::kReady, S::kReady},
    {ReplicaOperation::kUndoFailover,
     {S::kFailover, S::kFailoverFailed},
     S::kReady,
     S::kFailoverFailed},
    {ReplicaOperation::kPermanentFailover, {S::kFailover}, S::kPermanentFailover, S::kFailover},
    {ReplicaOperation::kFailback, {S::kFailover}, S::kFailback, S::kFailover},
    {ReplicaOperation::kFailbackCommit, {S::kFailback}, S::kReady, S::kFailback},
    {ReplicaOperation::kFailbackUndo, {S::kFailback}, S::kFailover, S::kFailback},
};

const Rule& ruleFor(ReplicaOperation operation) {
  for (const auto& rule : kRules) {
    if (rule.operation == operation) return rule;
  }
  return kRules[0];
}

}  // namespace

std::string_view toString(ReplicaOperation operation) noexcept {
  switch (operation) {
    case ReplicaOperation::kTakeRestorePoint:
      return "take a restore point";
    case ReplicaOperation::kDelete:
      return "delete";
    case ReplicaOperation::kFailover:
      return "fail over";
    case ReplicaOperation::kTestFailover:
      return "test failover";
    case ReplicaOperation::kUndoFailover:
      return "undo failover";
    case ReplicaOperation::kPermanentFailover:
      return "make the failover permanent";
    case ReplicaOperation::kFailback:
      return "fail back";
    case ReplicaOperation::kFailbackCommit:
      return "commit failback";
    case ReplicaOperation::kFailbackUndo:
      return "undo failback";
  }
  return "?";
}

Problem checkTransition(const Replica& replica, ReplicaOperation operation) {
  const Rule& rule = ruleFor(operation);
  for (auto state : rule.from) {
    if (state == replica.state && !replica.deleting) return std::nullopt;
  }
  std::string allowed;
  for (auto state : rule.from)
    allowed += (allowed.empty() ? "" : " or ") + std::string(toString(state));
  return "replica " + replica.name + " (" + replica.id + ") is " +
         (replica.deleting ? std::string("being deleted") : std::string(toString(replica.state))) +
         "; to " + std::string(toString(operation)) + " it must be " + allowed;
}

ReplicaState stateAfter(ReplicaOperation operation, bool succeeded) {
  const Rule& rule = ruleFor(operation);
  return succeeded ? rule.onSuccess : rule.onFailure;
}

}  // namespace warmsite::domain

#include "domain/entities.h"

#include <array>
#include <utility>

namespace warmsite::domain {

namespace {

// One table per enum: its values and their text, used both ways.
template <typename Enum, std::size_t N>
using Names = std::array<std::pair<Enum, std::string_view>, N>;

template <typename Enum, std::size_t N>
std::string_view nameOf(const Names<Enum, N>& names, Enum value) noexcept {
  for (const auto& [candidate, name] : names) {
    if (candidate == value) return name;
  }
  return "unknown";
}

template <typename Enum, std::size_t N>
std::optional<Enum> valueOf(const Names<Enum, N>& names, std::string_view text) noexcept {
  for (const auto& [candidate, name] : names) {
    if (name == text) return candidate;
  }
  return std::nullopt;
}

constexpr Names<SubscriptionState, 4> kSubscriptionStates{
    {{SubscriptionState::kProvisioning, "provisioning"},
     {SubscriptionState::kReady, "ready"},
     {SubscriptionState::kFailed, "failed"},
     {SubscriptionState::kUnsubscribing, "unsubscribing"}}};
constexpr Names<TaskState, 5> kTaskStates{{{TaskState::kQueued, "queued"},
                                           {TaskState::kRunning, "running"},
                                           {TaskState::kSucceeded, "succeeded"},
                                           {TaskState::kFailed, "failed"},
                                           {TaskState::kCancelled, "cancelled"}}};
constexpr Names<ReplicaState, 7> kReplicaStates{
    {{ReplicaState::kProcessing, "processing"},
     {ReplicaState::kReady, "ready"},
     {ReplicaState::kFailover, "failover"},
     {ReplicaState::kFailoverFailed, "failover_failed"},
     {ReplicaState::kFailback, "failback"},
     {ReplicaState::kPermanentFailover, "permanent_failover"},
     {ReplicaState::kTest, "test"}}};
constexpr Names<FailoverPlanState, 6> kPlanStates{
    {{FailoverPlanState::kReady, "ready"},
     {FailoverPlanState::kInProgress, "in_progress"},
     {FailoverPlanState::kCompleted, "completed"},
     {FailoverPlanState::kFailed, "failed"},
     {FailoverPlanState::kUndoInProgress, "undo_in_progress"},
     {FailoverPlanState::kUndoFailed, "undo_failed"}}};
constexpr Names<ReplicationRunState, 3> kReplicationRunStates{
    {{ReplicationRunState::kRunning, "running"},
     {ReplicationRunState::kCommitted, "committed"},
     {ReplicationRunState::kFailed, "failed"}}};
constexpr Names<SessionKind, 10> kSessionKinds{
    {{SessionKind::kFailover, "failover"},
     {SessionKind::kTestFailover, "test_failover"},
     {SessionKind::kUndo, "undo"},
     {SessionKind::kPermanentFailover, "permanent_failover"},
     {SessionKind::kPartialFailover, "partial_failover"},
     {SessionKind::kPartialUndo, "partial_undo"},
     {SessionKind::kPartialPermanent, "partial_permanent_failover"},
     {SessionKind::kFailback, "failback"},
     {SessionKind::kFailbackCommit, "failback_commit"},
     {SessionKind::kFailbackUndo, "failback_undo"}}};
constexpr Names<SessionState, 4> kSessionStates{{{SessionState::kInProgress, "in_progress"},
                                                 {SessionState::kCompleted, "completed"},
                                                 {SessionState::kFailed, "failed"},
                                                 {SessionState::kCancelled, "cancelled"}}};
constexpr Names<SessionVmState, 5> kSessionVmStates{{{SessionVmState::kPending, "pending"},
                                                     {SessionVmState::kRunning, "running"},
                                                     {SessionVmState::kDone, "done"},
                                                     {SessionVmState::kFailed, "failed"},
                                                     {SessionVmState::kSkipped, "skipped"}}};

}  // namespace

std::string_view toString(Role role) noexcept {
  return role == Role::kProvider ? "provider" : "tenant";
}
std::string_view toString(SubscriptionState state) noexcept {
  return nameOf(kSubscriptionStates, state);
}
std::string_view toString(TaskState state) noexcept {
  return nameOf(kTaskStates, state);
}
std::string_view toString(ReplicaState state) noexcept {
  return nameOf(kReplicaStates, state);
}
std::string_view toString(FailoverPlanState state) noexcept {
  return nameOf(kPlanStates, state);
}
std::string_view toString(SessionKind kind) noexcept {
  return nameOf(kSessionKinds, kind);
}
std::string_view toString(SessionState state) noexcept {
  return nameOf(kSessionStates, state);
}
std::string_view toString(SessionVmState state) noexcept {
  return nameOf(kSessionVmStates, state);
}

std::optional<SubscriptionState> subscriptionStateFrom(std::string_view text) noexcept {
  return valueOf(kSubscriptionStates, text);
}
std::optional<TaskState> taskStateFrom(std::string_view text) noexcept {
  return valueOf(kTaskStates, text);
}
std::optional<ReplicaState> replicaStateFrom(std::string_view text) noexcept {
  return valueOf(kReplicaStates, text);
}
std::optional<FailoverPlanState> failoverPlanStateFrom(std::string_view text) noexcept {
  return valueOf(kPlanStates, text);
}
std::optional<SessionKind> sessionKindFrom(std::string_view text) noexcept {
  return valueOf(kSessionKinds, text);
}
std::optional<SessionState> sessionStateFrom(std::string_view text) noexcept {
  return valueOf(kSessionStates, text);
}
std::optional<SessionVmState> sessionVmStateFrom(std::string_view text) noexcept {
  return valueOf(kSessionVmStates, text);
}
std::string_view toString(ReplicationRunState state) noexcept {
  return nameOf(kReplicationRunStates, state);
}
std::optional<ReplicationRunState> replicationRunStateFrom(std::string_view text) noexcept {
  return valueOf(kReplicationRunStates, text);
}

}  // namespace warmsite::domain

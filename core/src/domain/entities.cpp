#include "domain/entities.h"

namespace warmsite::domain {

std::string_view toString(Role role) noexcept {
  return role == Role::kProvider ? "provider" : "tenant";
}

std::string_view toString(SubscriptionState state) noexcept {
  switch (state) {
    case SubscriptionState::kProvisioning:
      return "provisioning";
    case SubscriptionState::kReady:
      return "ready";
    case SubscriptionState::kFailed:
      return "failed";
    case SubscriptionState::kUnsubscribing:
      return "unsubscribing";
  }
  return "unknown";
}

std::string_view toString(TaskState state) noexcept {
  switch (state) {
    case TaskState::kQueued:
      return "queued";
    case TaskState::kRunning:
      return "running";
    case TaskState::kSucceeded:
      return "succeeded";
    case TaskState::kFailed:
      return "failed";
    case TaskState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<SubscriptionState> subscriptionStateFrom(std::string_view text) noexcept {
  for (auto state : {SubscriptionState::kProvisioning, SubscriptionState::kReady,
                     SubscriptionState::kFailed, SubscriptionState::kUnsubscribing}) {
    if (toString(state) == text) return state;
  }
  return std::nullopt;
}

std::optional<TaskState> taskStateFrom(std::string_view text) noexcept {
  for (auto state : {TaskState::kQueued, TaskState::kRunning, TaskState::kSucceeded,
                     TaskState::kFailed, TaskState::kCancelled}) {
    if (toString(state) == text) return state;
  }
  return std::nullopt;
}

}  // namespace warmsite::domain

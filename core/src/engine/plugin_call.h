#pragma once
// Calling a plugin from a task: transient errors (kUnavailable, kTimeout) are retried with
// exponential backoff; any other error, or the last transient one, fails the task with a message
// naming the operation and the backend's own code. A cancelled task stops waiting at once.

#include <chrono>
#include <string>
#include <type_traits>

#include "engine/task_engine.h"
#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::engine {

struct RetryPolicy {
  int attempts = 4;
  std::chrono::milliseconds firstBackoff{200};
  std::chrono::milliseconds callTimeout{
      std::chrono::minutes(10)};  // per call: a stuck backend ends here
};

std::string describe(const plugin::Error& error);

// `call(ctx)` returns a plugin::Result or Status; the value of the successful call is returned.
// `onAttempt(n)` runs before each attempt (journalling it).
template <typename Call>
auto callPlugin(const std::string& what, Call&& call, const TaskContext& context,
                const RetryPolicy& policy = {}, const std::function<void(int)>& onAttempt = {}) {
  auto backoff = policy.firstBackoff;
  for (int attempt = 1;; ++attempt) {
    context.throwIfCancelled();
    if (onAttempt) onAttempt(attempt);
    auto result = call(context.callContext(policy.callTimeout));
    if (result.ok()) {
      if constexpr (std::is_same_v<decltype(result), plugin::Status>) {
        return;
      } else {
        return std::move(result).value();
      }
    }
    if (result.error().code == plugin::ErrorCode::kCancelled) throw TaskCancelled();
    if (!result.error().transient() || attempt >= policy.attempts) {
      throw TaskFailed(what + ": " + describe(result.error()) +
                       (attempt > 1 ? " (after " + std::to_string(attempt) + " attempts)" : ""));
    }
    context.sleepFor(backoff);
    backoff *= 2;
  }
}

}  // namespace warmsite::engine

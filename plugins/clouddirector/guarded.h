#pragma once
// The boundary of every ABI method: runs the body and turns what it throws into an Error.

#include <exception>
#include <string>

#include "failure.h"

namespace warmsite::clouddirector {

template <typename Body>
auto guarded(const char* operation, Body&& body) noexcept -> decltype(body()) {
  try {
    return body();
  } catch (const Failure& failure) {
    return failure.error();
  } catch (const std::exception& e) {
    return plugin::makeError(plugin::ErrorCode::kInternal,
                             std::string(operation) + " failed: " + e.what());
  } catch (...) {
    return plugin::makeError(plugin::ErrorCode::kInternal,
                             std::string(operation) + " failed with a non-standard exception");
  }
}

// Whether a failure leaves the operation possibly still running in Cloud Director (so what it
// started must not be removed: a replay adopts it).
inline bool mayStillComplete(const Failure& failure) {
  const auto code = failure.error().code;
  return code == plugin::ErrorCode::kTimeout || code == plugin::ErrorCode::kCancelled;
}

// A context for cleaning up after a failed call, whose own deadline may have passed.
inline plugin::CallContext cleanupContext() {
  return plugin::CallContext::withTimeout(std::chrono::minutes(2));
}

}  // namespace warmsite::clouddirector

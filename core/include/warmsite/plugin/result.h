#pragma once
// Result type of every plugin call. No exception ever crosses the plugin boundary: a plugin reports
// failure by returning an Error, and core never has to catch a type whose code lives in a plugin.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace warmsite::plugin {

// Closed set: adding a code is an ABI major change, because core's retry and state logic switches
// on it.
enum class ErrorCode : std::uint32_t {
  kInvalidArgument = 1,  // the request itself is wrong (bad spec, bad config); retrying cannot help
  kNotFound = 2,         // the Warmsite id is unknown to the backend
  kAlreadyExists = 3,    // the id exists with a different spec, or a unique name/VLAN is taken
  kInvalidState = 4,     // a state rule refuses it: power on a running VM, delete a running VM
  kResourceExhausted = 5,  // capacity or quota: datastore full, CPU/memory limit of the tenant pool
  kUnavailable = 6,    // transient: backend unreachable or busy; the same call may succeed later
  kTimeout = 7,        // the call's deadline passed; the operation may still complete later
  kCancelled = 8,      // the caller cancelled the call through its CallContext
  kUnimplemented = 9,  // the plugin does not offer this operation (see Capabilities)
  kPermissionDenied = 10,  // the backend refused the plugin's credentials or rights
  kInternal = 11,          // anything else, including a failure the plugin cannot classify
};

constexpr std::string_view toString(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kInvalidState:
      return "invalid_state";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kUnimplemented:
      return "unimplemented";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

// Transient errors are the ones core retries with backoff.
constexpr bool isTransient(ErrorCode code) noexcept {
  return code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout;
}

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // for people: what failed and why, naming the Warmsite id
  std::string
      backendCode;  // the backend's own code, e.g. "VIR_ERR_OPERATION_INVALID(55)", "HTTP 409"

  bool transient() const noexcept { return isTransient(code); }
};

inline Error makeError(ErrorCode code, std::string message, std::string backendCode = {}) {
  return Error{code, std::move(message), std::move(backendCode)};
}

// An expected-like holder (std::expected needs C++23). Holds either a T or an E. Core reuses it
// with its own error types; across the boundary E is always Error.
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const& { return std::get<1>(state_); }
  E&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, E> state_;
};

template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const E& error() const& { return error_; }
  E&& error() && { return std::move(error_); }

 private:
  E error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace warmsite::plugin

#pragma once
// Inside the plugin a failed step throws Failure; the ABI methods catch it at the boundary and
// return its Error (no exception ever crosses into core).

#include <exception>
#include <string>
#include <utility>

#include "warmsite/plugin/result.h"

namespace warmsite::clouddirector {

class Failure : public std::exception {
 public:
  explicit Failure(plugin::Error error) : error_(std::move(error)) {}
  const char* what() const noexcept override { return error_.message.c_str(); }
  const plugin::Error& error() const noexcept { return error_; }

 private:
  plugin::Error error_;
};

[[noreturn]] inline void fail(plugin::ErrorCode code, std::string message,
                              std::string backendCode = {}) {
  throw Failure(plugin::makeError(code, std::move(message), std::move(backendCode)));
}

}  // namespace warmsite::clouddirector

#pragma once
// What can go wrong in a command, each with its exit code, so scripts can tell a typo from a
// refusal by the API from an unreachable or untrusted server.

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace warmsite::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,      // a task or session it followed failed or timed out, or the unforeseen
  kExitUsage = 2,       // bad arguments, no profile, unreadable input files
  kExitApi = 3,         // the API answered with an error
  kExitConnection = 4,  // unreachable server, TLS failure, certificate not trusted
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user did not (or could not) accept the certificate the server presented.
class TrustError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TaskFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A non-2xx answer, with the API's error body.
class ApiFailure : public std::runtime_error {
 public:
  ApiFailure(int status, std::string code, const std::string& message, nlohmann::json details)
      : std::runtime_error(message),
        status_(status),
        code_(std::move(code)),
        details_(std::move(details)) {}
  int status() const noexcept { return status_; }
  const std::string& code() const noexcept { return code_; }
  const nlohmann::json& details() const noexcept { return details_; }

 private:
  int status_;
  std::string code_;
  nlohmann::json details_;
};

}  // namespace warmsite::cli

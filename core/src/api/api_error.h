#pragma once
// The one error shape of the API: {"code": "...", "message": "...", "details": {...}}. Handlers
// throw ApiError; the dispatcher turns it (and StoreError, and anything else) into a response.

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace warmsite::api {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message,
           nlohmann::json details = nlohmann::json::object())
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

inline ApiError badRequest(const std::string& message,
                           nlohmann::json details = nlohmann::json::object()) {
  return ApiError(400, "invalid_argument", message, std::move(details));
}
inline ApiError notFound(const std::string& what, const std::string& id) {
  return ApiError(404, "not_found", what + " " + id + " not found", {{"id", id}});
}
inline ApiError conflict(const std::string& message,
                         nlohmann::json details = nlohmann::json::object()) {
  return ApiError(409, "conflict", message, std::move(details));
}
inline ApiError forbidden(const std::string& message) {
  return ApiError(403, "forbidden", message);
}

}  // namespace warmsite::api

#pragma once
// Talks to one Cloud Director endpoint: picks the API version from /api/versions, logs in (tenant
// or provider session, bearer token from the response header), logs in again when the token is
// refused, retries what the cell refuses for a while (429, 502, 503, 504, BUSY_ENTITY) with
// exponential backoff, follows paging links, and waits for tasks. Thread-safe.
//
// Errors are thrown as Failure (failure.h) with the HTTP status and Cloud Director's
// minorErrorCode in Error::backendCode.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.h"
#include "failure.h"
#include "http_transport.h"
#include "warmsite/plugin/host.h"
#include "warmsite/plugin/types.h"

namespace warmsite::clouddirector {

using Json = nlohmann::json;

// Members of a JSON answer, tolerating absent and null ones (Cloud Director sends null freely):
// "" / {} / [] when the member is missing or of another type.
std::string textOf(const Json& object, const char* key);
Json objectOf(const Json& object, const char* key);
Json arrayOf(const Json& object, const char* key);
bool flagOf(const Json& object, const char* key);
template <typename T>
T numberOf(const Json& object, const char* key, T fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->template get<T>() : fallback;
}

// A task that ended in error, canceled or aborted (as opposed to a failure to reach the cell).
class TaskFailed : public Failure {
 public:
  using Failure::Failure;
};

// The two API families differ in their Accept header and error body.
enum class Api { kCloud, kLegacy };

struct ApiResponse {
  int status = 0;
  HttpResponse http;

  Json json() const;                   // the body as JSON; Failure (kInternal) when it is not
  std::string minorErrorCode() const;  // of an error body, "" when there is none
};

class VcdClient {
 public:
  VcdClient(Config config, std::unique_ptr<HttpTransport> transport, plugin::HostServices* host);
  ~VcdClient();  // ends the session (DELETE /cloudapi/1.0.0/sessions/current), best effort

  const Config& config() const { return config_; }

  // Logs in unless a session is open. Returns the org of the session's user.
  void ensureSession(const plugin::CallContext& ctx);

  // A provider session acting inside a tenant org names it on every call.
  void setTenantContext(const std::string& orgUuid, const std::string& orgName);

  // One call, with login, a second login when the token is refused, and retries. Any final HTTP
  // status is returned; a transport failure, or a retryable status past the last attempt, throws.
  ApiResponse call(const std::string& method, const std::string& target, Api api,
                   const plugin::CallContext& ctx, const std::string& body = {},
                   const std::string& contentType = {});

  // GET answering 200 with JSON. 403 (Cloud Director's answer for an unknown or invisible id)
  // is nullopt; anything else throws.
  std::optional<Json> getIfExists(const std::string& target, Api api,
                                  const plugin::CallContext& ctx);
  Json get(const std::string& target, Api api, const plugin::CallContext& ctx);

  // Every item of a CloudAPI list (`path` without query), following the Link rel="nextPage"
  // headers, or page/pageCount where a list leaves them out.
  std::vector<Json> listAll(const std::string& path, const std::string& filter,
                            const plugin::CallContext& ctx);
  // Every record of a query-service query, following its nextPage links.
  std::vector<Json> queryAll(const std::string& type, const std::string& filter,
                             const plugin::CallContext& ctx);

  // Polls a task until it ends, with backoff, within the task timeout and the call's deadline.
  // Returns the task; a task ending in error, canceled or aborted throws TaskFailed.
  Json waitTask(const std::string& taskHref, const plugin::CallContext& ctx);

  // Runs an operation that starts one task: `start` sends the request and returns the task's
  // href ("" when the request finished without a task: null is returned). A task that fails for a
  // transient reason (a busy object, a throttled NSX manager) is started again after `beforeRetry`
  // cleaned up what it left.
  Json runTask(const std::function<std::string()>& start, const plugin::CallContext& ctx,
               const std::function<void()>& beforeRetry = {});

  // DELETE that waits for its task; an object already gone (403) or deleted at once (204) is fine.
  void deleteAndWait(const std::string& path, Api api, const std::string& what,
                     const plugin::CallContext& ctx);

  // The task href of an accepted request: the Location header (CloudAPI 202) or the Task body
  // (legacy 202). Throws for any other answer.
  std::string acceptedTask(const ApiResponse& response, const std::string& what) const;

  // Throws the Failure for an answer `what` did not expect.
  [[noreturn]] void failWith(const ApiResponse& response, const std::string& what) const;

  // Sleeps, within the call's deadline; throws kTimeout or kCancelled.
  void pause(std::chrono::milliseconds delay, const plugin::CallContext& ctx,
             const std::string& what) const;

  void log(plugin::LogLevel level, const std::string& message) const;
  std::uint64_t loginCount() const { return logins_.load(); }

 private:
  struct Session {
    std::string version;
    std::string token;
    std::string tokenType;
  };

  Session session(const plugin::CallContext& ctx);
  Session login(const plugin::CallContext& ctx);
  void relogin(const std::string& refusedToken, const plugin::CallContext& ctx);
  // One request, retried on transport failures and retryable statuses.
  HttpResponse exchange(const HttpRequest& request, const plugin::CallContext& ctx);
  std::string chooseVersion(const plugin::CallContext& ctx);

  const Config config_;
  const std::unique_ptr<HttpTransport> transport_;
  plugin::HostServices* const host_;
  mutable std::mutex mutex_;  // guards session_ and the tenant context
  std::mutex loginMutex_;     // one login at a time
  std::optional<Session> session_;
  std::string tenantOrgUuid_, tenantOrgName_;
  std::atomic<std::uint64_t> logins_{0};
};

}  // namespace warmsite::clouddirector

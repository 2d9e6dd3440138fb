#include "vcd_client.h"

#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <random>
#include <thread>

#include "failure.h"
#include "util.h"

namespace warmsite::clouddirector {

using plugin::ErrorCode;

namespace {

std::string base64(const std::string& text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(text.data()),
                                   static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(size));
  return out;
}

std::string acceptHeader(Api api, const std::string& version) {
  return (api == Api::kCloud ? "application/json;version=" : "application/*+json;version=") +
         version;
}

// Cloud Director's minorErrorCode and message from either family's error body.
std::pair<std::string, std::string> errorDetails(const HttpResponse& response) {
  try {
    const Json body = Json::parse(response.body);
    return {textOf(body, "minorErrorCode"), textOf(body, "message")};
  } catch (const Json::exception&) {
    return {"", response.body.substr(0, 200)};
  }
}

bool retryable(const HttpResponse& response) {
  switch (response.status) {
    case 429:
    case 502:
    case 503:
    case 504:
      return true;
    case 400:
      return errorDetails(response).first == "BUSY_ENTITY";
    default:
      return false;
  }
}

ErrorCode codeOf(int status, const std::string& minorErrorCode) {
  switch (status) {
    case 400:
      if (minorErrorCode == "BUSY_ENTITY") return ErrorCode::kUnavailable;
      if (minorErrorCode == "DUPLICATE_NAME") return ErrorCode::kAlreadyExists;
      return ErrorCode::kInvalidArgument;
    case 401:
    case 403:
      return ErrorCode::kPermissionDenied;
    case 409:
      return ErrorCode::kInvalidState;
    case 429:
    case 502:
    case 503:
    case 504:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

// Link: <url>;rel="lastPage nextPage";type="...", <url>;rel="firstPage"  (several headers, or one
// header with comma-separated links).
std::optional<std::string> nextPageLink(const HttpResponse& response) {
  for (const auto& header : response.headerValues("Link")) {
    std::size_t at = 0;
    while ((at = header.find('<', at)) != std::string::npos) {
      const auto close = header.find('>', at);
      if (close == std::string::npos) break;
      const auto end = header.find(", <", close);
      const std::string params =
          header.substr(close + 1, end == std::string::npos ? end : end - close);
      const auto rel = params.find("rel=\"");
      if (rel != std::string::npos) {
        const std::string names = params.substr(rel + 5, params.find('"', rel + 5) - rel - 5);
        const std::string padded = " " + names + " ";
        if (padded.find(" nextPage ") != std::string::npos) {
          return pathOfHref(header.substr(at + 1, close - at - 1));
        }
      }
      at = close;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string textOf(const Json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Json objectOf(const Json& object, const char* key) {
  if (!object.is_object()) return Json::object();
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : Json::object();
}

Json arrayOf(const Json& object, const char* key) {
  if (!object.is_object()) return Json::array();
  const auto it = object.find(key);
  return it != object.end() && it->is_array() ? *it : Json::array();
}

bool flagOf(const Json& object, const char* key) {
  if (!object.is_object()) return false;
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

Json ApiResponse::json() const {
  try {
    return Json::parse(http.body);
  } catch (const Json::exception& e) {
    fail(ErrorCode::kInternal,
         std::string("Cloud Director answered with a body that is not JSON: ") + e.what(),
         "HTTP " + std::to_string(status));
  }
}

std::string ApiResponse::minorErrorCode() const {
  return errorDetails(http).first;
}

VcdClient::VcdClient(Config config, std::unique_ptr<HttpTransport> transport,
                     plugin::HostServices* host)
    : config_(std::move(config)), transport_(std::move(transport)), host_(host) {}

VcdClient::~VcdClient() {
  std::optional<Session> open;
  {
    std::lock_guard lock(mutex_);
    open = session_;
  }
  if (!open) return;
  HttpRequest request{"DELETE",
                      "/cloudapi/1.0.0/sessions/current",
                      {{"Accept", acceptHeader(Api::kCloud, open->version)},
                       {"Authorization", open->tokenType + " " + open->token}},
                      {}};
  (void)transport_->send(request, plugin::CallContext::withTimeout(std::chrono::seconds(2)));
}

void VcdClient::log(plugin::LogLevel level, const std::string& message) const {
  if (host_ != nullptr) host_->log(level, message);
}

void VcdClient::setTenantContext(const std::string& orgUuid, const std::string& orgName) {
  std::lock_guard lock(mutex_);
  tenantOrgUuid_ = orgUuid;
  tenantOrgName_ = orgName;
}

void VcdClient::pause(std::chrono::milliseconds delay, const plugin::CallContext& ctx,
                      const std::string& what) const {
  const auto until = std::chrono::steady_clock::now() + delay;
  for (;;) {
    if (ctx.cancelled()) fail(ErrorCode::kCancelled, what + ": cancelled by the caller");
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return;
    if (now >= ctx.deadline) {
      fail(ErrorCode::kTimeout, what + ": the call's deadline passed; it may still complete");
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        {until - now, ctx.deadline - now, std::chrono::milliseconds(50)}));
  }
}

HttpResponse VcdClient::exchange(const HttpRequest& request, const plugin::CallContext& ctx) {
  thread_local std::mt19937 jitter{std::random_device{}()};
  auto backoff = config_.retryInitialBackoff;
  for (std::uint32_t attempt = 1;; ++attempt) {
    auto result = transport_->send(request, ctx);
    const bool last = attempt >= config_.retryAttempts;
    std::string reason;
    std::chrono::milliseconds wait = backoff;
    if (!result.ok()) {
      if (result.error().code != ErrorCode::kUnavailable || last) throw Failure(result.error());
      reason = result.error().message;
    } else if (retryable(*result) && !last) {
      const auto [minor, message] = errorDetails(*result);
      reason = "HTTP " + std::to_string(result->status) + " " + minor;
      const std::string retryAfter = result->header("Retry-After");
      if (!retryAfter.empty() && std::all_of(retryAfter.begin(), retryAfter.end(), ::isdigit) &&
          retryAfter.size() < 6) {
        wait = std::max(wait, std::chrono::milliseconds(std::stol(retryAfter) * 1000));
      }
    } else {
      return std::move(result).value();
    }
    // Up to a fifth less, so clients refused together do not come back together.
    wait = std::min(wait, config_.retryMaxBackoff);
    wait -=
        std::chrono::milliseconds(std::uniform_int_distribution<long>(0, wait.count() / 5)(jitter));
    log(plugin::LogLevel::kDebug, request.method + " " + request.target + ": " + reason +
                                      "; retry " + std::to_string(attempt) + " in " +
                                      std::to_string(wait.count()) + " ms");
    pause(wait, ctx, request.method + " " + request.target);
    backoff = std::min(backoff * 2, config_.retryMaxBackoff);
  }
}

std::string VcdClient::chooseVersion(const plugin::CallContext& ctx) {
  const HttpResponse response =
      exchange({"GET", "/api/versions", {{"Accept", "application/*+json"}}, {}}, ctx);
  if (response.status != 200) {
    failWith({response.status, response}, "GET /api/versions");
  }
  const Json body = ApiResponse{response.status, response}.json();
  std::string chosen, offered;
  int best = 0;
  for (const auto& info : arrayOf(body, "versionInfo")) {
    const std::string version = textOf(info, "version");
    offered += (offered.empty() ? "" : ", ") + version;
    if (!config_.apiVersion.empty()) {
      if (version == config_.apiVersion) chosen = version;
      continue;
    }
    const auto value = parseApiVersion(version);
    if (supportedApiVersion(version) && !flagOf(info, "deprecated") && *value > best) {
      best = *value;
      chosen = version;
    }
  }
  if (chosen.empty()) {
    fail(ErrorCode::kInternal,
         config_.url + " offers API versions [" + offered + "], none of " +
             (config_.apiVersion.empty() ? "37.0 to 39.x" : config_.apiVersion) +
             " that this plugin speaks",
         "API_VERSION");
  }
  return chosen;
}

VcdClient::Session VcdClient::login(const plugin::CallContext& ctx) {
  Session session;
  session.version = chooseVersion(ctx);
  const bool provider = config_.providerSession();
  const std::string principal = config_.username + "@" + config_.loginOrg;
  const HttpResponse response =
      exchange({"POST",
                provider ? "/cloudapi/1.0.0/sessions/provider" : "/cloudapi/1.0.0/sessions",
                {{"Accept", acceptHeader(Api::kCloud, session.version)},
                 {"Authorization", "Basic " + base64(principal + ":" + config_.password)}},
                {}},
               ctx);
  if (response.status == 401) {
    fail(ErrorCode::kPermissionDenied,
         "Cloud Director refused the " + std::string(provider ? "provider" : "tenant") +
             " login of " + principal + " (wrong user, org or password)",
         "HTTP 401 " + errorDetails(response).first);
  }
  if (response.status != 200) failWith({response.status, response}, "login as " + principal);
  session.token = response.header("X-VMWARE-VCLOUD-ACCESS-TOKEN");
  session.tokenType = response.header("X-VMWARE-VCLOUD-TOKEN-TYPE");
  if (session.tokenType.empty()) session.tokenType = "Bearer";
  if (session.token.empty()) {
    fail(ErrorCode::kInternal, "login as " + principal + " answered without an access token",
         "HTTP 200");
  }
  ++logins_;
  log(plugin::LogLevel::kInfo,
      "logged in to " + config_.url + " as " + principal + " (API " + session.version + ")");
  return session;
}

VcdClient::Session VcdClient::session(const plugin::CallContext& ctx) {
  {
    std::lock_guard lock(mutex_);
    if (session_) return *session_;
  }
  std::lock_guard login(loginMutex_);
  {
    std::lock_guard lock(mutex_);
    if (session_) return *session_;
  }
  Session fresh = this->login(ctx);
  std::lock_guard lock(mutex_);
  session_ = fresh;
  return fresh;
}

void VcdClient::ensureSession(const plugin::CallContext& ctx) {
  (void)session(ctx);
}

void VcdClient::relogin(const std::string& refusedToken, const plugin::CallContext& ctx) {
  std::lock_guard login(loginMutex_);
  {
    std::lock_guard lock(mutex_);
    // Another thread may have logged in again already; its token is the one to use.
    if (session_ && session_->token != refusedToken) return;
  }
  log(plugin::LogLevel::kInfo,
      "the access token was refused (expired or revoked); logging in again");
  Session fresh = this->login(ctx);
  std::lock_guard lock(mutex_);
  session_ = fresh;
}

constexpr int kMaxRelogins = 5;

ApiResponse VcdClient::call(const std::string& method, const std::string& target, Api api,
                            const plugin::CallContext& ctx, const std::string& body,
                            const std::string& contentType) {
  for (int relogins = 0;; ++relogins) {
    const Session current = session(ctx);
    HttpRequest request{method, target, {}, body};
    request.headers = {{"Accept", acceptHeader(api, current.version)},
                       {"Authorization", current.tokenType + " " + current.token}};
    {
      std::lock_guard lock(mutex_);
      if (!tenantOrgUuid_.empty()) {
        request.headers.emplace_back("X-VMWARE-VCLOUD-TENANT-CONTEXT", tenantOrgUuid_);
        request.headers.emplace_back("X-VMWARE-VCLOUD-AUTH-CONTEXT", tenantOrgName_);
      }
    }
    if (!contentType.empty()) request.headers.emplace_back("Content-Type", contentType);
    HttpResponse response = exchange(request, ctx);
    // Concurrent calls share one session: the token this call got may have been revoked and
    // replaced again by the time it was presented, so a few relogins are no sign of bad
    // credentials (those fail the login itself).
    if (response.status == 401 && relogins < kMaxRelogins) {
      relogin(current.token, ctx);
      continue;
    }
    return {response.status, std::move(response)};
  }
}

void VcdClient::failWith(const ApiResponse& response, const std::string& what) const {
  const auto [minor, message] = errorDetails(response.http);
  fail(codeOf(response.status, minor),
       what + ": " + (message.empty() ? "no details" : message) + " (HTTP " +
           std::to_string(response.status) + ")",
       "HTTP " + std::to_string(response.status) + (minor.empty() ? "" : " " + minor));
}

std::optional<Json> VcdClient::getIfExists(const std::string& target, Api api,
                                           const plugin::CallContext& ctx) {
  const ApiResponse response = call("GET", target, api, ctx);
  if (response.status == 403) return std::nullopt;
  if (response.status != 200) failWith(response, "GET " + target);
  return response.json();
}

Json VcdClient::get(const std::string& target, Api api, const plugin::CallContext& ctx) {
  const ApiResponse response = call("GET", target, api, ctx);
  if (response.status != 200) failWith(response, "GET " + target);
  return response.json();
}

std::vector<Json> VcdClient::listAll(const std::string& path, const std::string& filter,
                                     const plugin::CallContext& ctx) {
  std::vector<Json> items;
  std::string base = path + "?pageSize=128";
  if (!filter.empty()) base += "&filter=" + encodeQueryValue(filter);
  std::string target = base + "&page=1";
  for (int pages = 0; pages < 10000; ++pages) {
    const ApiResponse response = call("GET", target, Api::kCloud, ctx);
    if (response.status != 200) failWith(response, "GET " + path);
    const Json body = response.json();
    for (const auto& item : arrayOf(body, "values")) items.push_back(item);
    if (auto next = nextPageLink(response.http)) {
      target = *next;
      continue;
    }
    // Some lists leave the Link header out (go-vcloud-director works around it the same way).
    const long page = numberOf(body, "page", 0L), pageCount = numberOf(body, "pageCount", 0L);
    if (page <= 0 || page >= pageCount) return items;
    target = base + "&page=" + std::to_string(page + 1);
  }
  fail(ErrorCode::kInternal, "GET " + path + ": more than 10000 pages");
}

std::vector<Json> VcdClient::queryAll(const std::string& type, const std::string& filter,
                                      const plugin::CallContext& ctx) {
  std::vector<Json> records;
  std::string target = "/api/query?type=" + type + "&format=records&page=1&pageSize=128";
  if (!filter.empty()) target += "&filter=" + encodeQueryValue(filter);
  for (int pages = 0; pages < 10000; ++pages) {
    const Json body = get(target, Api::kLegacy, ctx);
    for (const auto& record : arrayOf(body, "record")) records.push_back(record);
    std::string next;
    for (const auto& link : arrayOf(body, "link")) {
      if (textOf(link, "rel") == "nextPage") next = pathOfHref(textOf(link, "href"));
    }
    if (next.empty()) return records;
    target = next;
  }
  fail(ErrorCode::kInternal, "query " + type + ": more than 10000 pages");
}

std::string VcdClient::acceptedTask(const ApiResponse& response, const std::string& what) const {
  if (response.status == 202 || response.status == 201 || response.status == 200) {
    const std::string location = response.http.header("Location");
    if (!location.empty() && location.find("/api/task/") != std::string::npos) {
      return pathOfHref(location);
    }
    if (!response.http.body.empty()) {
      const Json body = response.json();
      if (textOf(body, "type").find("task") != std::string::npos) {
        return pathOfHref(textOf(body, "href"));
      }
    }
  }
  failWith(response, what);
}

void VcdClient::deleteAndWait(const std::string& path, Api api, const std::string& what,
                              const plugin::CallContext& ctx) {
  runTask(
      [&]() -> std::string {
        const ApiResponse response = call("DELETE", path, api, ctx);
        if (response.status == 204 || response.status == 403) return {};  // done, or gone
        return acceptedTask(response, what);
      },
      ctx);
}

Json VcdClient::waitTask(const std::string& taskHref, const plugin::CallContext& ctx) {
  const auto giveUp = std::chrono::steady_clock::now() + config_.taskTimeout;
  auto delay = config_.taskPollInitial;
  for (;;) {
    pause(delay, ctx, "waiting for task " + taskHref);
    const Json task = get(taskHref, Api::kLegacy, ctx);
    const std::string status = textOf(task, "status");
    std::string operation = textOf(task, "operationName");
    if (operation.empty()) operation = "task";
    if (status == "success") return task;
    if (status == "error" || status == "canceled" || status == "aborted") {
      const Json error = objectOf(task, "error");
      const std::string minor = textOf(error, "minorErrorCode");
      const int major = numberOf(error, "majorErrorCode", 0);
      const ErrorCode code = status != "error" ? ErrorCode::kInternal
                                               : (minor == "BUSY_ENTITY" || major == 429 ||
                                                          major == 503 || major == 504
                                                      ? ErrorCode::kUnavailable
                                                      : codeOf(major, minor));
      const std::string message = textOf(error, "message");
      throw TaskFailed(
          plugin::makeError(code == ErrorCode::kPermissionDenied ? ErrorCode::kInternal : code,
                            "task " + operation + " ended " + status + ": " +
                                (message.empty() ? "no details" : message),
                            (minor.empty() ? "task " + status : minor) + " (" + taskHref + ")"));
    }
    if (std::chrono::steady_clock::now() >= giveUp) {
      fail(ErrorCode::kTimeout,
           "task " + operation + " still " + status +
               " after the task timeout; it may still complete",
           "TASK_TIMEOUT (" + taskHref + ")");
    }
    delay = std::min(std::max(delay * 2, std::chrono::milliseconds(50)), config_.taskPollMax);
  }
}

Json VcdClient::runTask(const std::function<std::string()>& start, const plugin::CallContext& ctx,
                        const std::function<void()>& beforeRetry) {
  auto backoff = config_.retryInitialBackoff;
  for (std::uint32_t attempt = 1;; ++attempt) {
    const std::string task = start();
    if (task.empty()) return Json();  // the request finished without a task
    try {
      return waitTask(task, ctx);
    } catch (const TaskFailed& failure) {
      if (failure.error().code != ErrorCode::kUnavailable || attempt >= config_.retryAttempts)
        throw;
      log(plugin::LogLevel::kDebug, failure.error().message + "; starting it again");
      if (beforeRetry) beforeRetry();
      pause(backoff, ctx, "retrying after " + failure.error().message);
      backoff = std::min(backoff * 2, config_.retryMaxBackoff);
    }
  }
}

}  // namespace warmsite::clouddirector

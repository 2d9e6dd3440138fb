#include "api/api_service.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "domain/ids.h"

namespace warmsite::api {

namespace {

int statusFor(store::StoreError::Kind kind) {
  switch (kind) {
    case store::StoreError::Kind::kNotFound:
      return 404;
    case store::StoreError::Kind::kConflict:
      return 409;
    case store::StoreError::Kind::kBusy:
      return 503;
    case store::StoreError::Kind::kFull:
      return 507;
    default:
      return 500;
  }
}

std::string codeFor(store::StoreError::Kind kind) {
  switch (kind) {
    case store::StoreError::Kind::kNotFound:
      return "not_found";
    case store::StoreError::Kind::kConflict:
      return "conflict";
    case store::StoreError::Kind::kBusy:
      return "busy";
    case store::StoreError::Kind::kFull:
      return "storage_full";
    default:
      return "internal";
  }
}

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ApiService::ApiService(ApiContext context) : context_(std::move(context)) {
  addAuthRoutes(router_, context_);
  addTenantRoutes(router_, context_);
  addCloudHostRoutes(router_, context_);
  addPublicIpRoutes(router_, context_);
  addPlanRoutes(router_, context_);
  addSubscriptionRoutes(router_, context_);
  addServiceRoutes(router_, context_);
  addReplicaRoutes(router_, context_);
  addFailoverRoutes(router_, context_);
  addReplicationRoutes(router_, context_);
}

namespace {

// A request's bytes can reach an answer (a JSON parse error quotes them, the audit log keeps
// them): invalid UTF-8 is written as U+FFFD instead of failing the answer.
std::string body(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

HttpResponse ApiService::errorResponse(int status, const std::string& code,
                                       const std::string& message, const nlohmann::json& details) {
  HttpResponse response;
  response.status = status;
  response.body = body({{"code", code}, {"message", message}, {"details", details}});
  return response;
}

HttpResponse ApiService::handle(const HttpRequest& request) {
  const auto match = router_.match(request.method, request.path);
  if (match.route == nullptr) {
    if (!match.allowedMethods.empty()) {
      std::string allowed;
      for (const auto& method : match.allowedMethods)
        allowed += (allowed.empty() ? "" : ", ") + method;
      auto response = errorResponse(
          405, "method_not_allowed",
          request.method + " is not allowed on " + request.path + "; allowed: " + allowed,
          {{"allowed", match.allowedMethods}});
      response.headers.emplace_back("Allow", allowed);
      return response;
    }
    return errorResponse(404, "no_such_route", "no route " + request.method + " " + request.path);
  }
  ApiRequest apiRequest{request, match.params, std::nullopt, {}, std::nullopt};
  apiRequest.auditEntry = [&](int status, const std::string& tenantId) {
    return auditEntry(request, apiRequest, status, "", tenantId);
  };
  std::string auditTenantId;
  HttpResponse response = dispatch(request, match, apiRequest, auditTenantId);
  // Audited after the answer, unless the route's change already carried this outcome's entry.
  if (request.method != "GET" && apiRequest.auditedStatus != response.status) {
    std::string message;
    if (response.status >= 400) {
      auto body = nlohmann::json::parse(response.body, nullptr, false);
      if (!body.is_discarded()) message = body.value("message", "");
    }
    try {
      const auto entry = auditEntry(request, apiRequest, response.status, message, auditTenantId);
      context_.store.write([&](store::Transaction& tx) { tx.appendAudit(entry); });
    } catch (const std::exception& e) {
      spdlog::error("audit log write failed for {} {}: {}", request.method, request.path, e.what());
    }
  }
  return response;
}

HttpResponse ApiService::dispatch(const HttpRequest& request, const Router::Match& match,
                                  ApiRequest& apiRequest, std::string& auditTenantId) {
  const Route& route = *match.route;
  try {
    if (route.access != Access::kPublic) {
      const std::string authorization = request.header("authorization");
      if (!authorization.starts_with("Bearer ")) {
        return errorResponse(401, "unauthenticated",
                             "this route needs \"Authorization: Bearer <token>\" (log in first)");
      }
      auto session = context_.auth.authenticate(authorization.substr(7));
      if (!session)
        return errorResponse(401, "unauthenticated",
                             "the token is unknown, revoked or expired; log in again");
      const auto& account = session->account;
      apiRequest.principal = Principal{account.id, account.name, account.role, account.tenantId,
                                       session->session.tokenHash};
      if (route.access == Access::kProvider && !apiRequest.principal->isProvider()) {
        return errorResponse(
            403, "forbidden",
            "only service provider administrators may " + request.method + " " + route.pattern);
      }
    }
    ApiResponse result = route.handler(apiRequest);
    auditTenantId = result.auditTenantId;
    HttpResponse response;
    response.status = result.status;
    response.headers = std::move(result.headers);
    if (result.status != 204) response.body = body(result.body);
    return response;
  } catch (const ApiError& e) {
    return errorResponse(e.status(), e.code(), e.what(), e.details());
  } catch (const store::StoreError& e) {
    if (statusFor(e.kind()) >= 500)
      spdlog::error("{} {}: {}", request.method, request.path, e.what());
    return errorResponse(statusFor(e.kind()), codeFor(e.kind()), e.what());
  } catch (const std::exception& e) {
    const auto incident = domain::newId("incident");
    spdlog::error("{} {} failed ({}): {}", request.method, request.path, incident, e.what());
    return errorResponse(500, "internal",
                         "internal error; the daemon log has the details under " + incident);
  }
}

domain::AuditEntry ApiService::auditEntry(const HttpRequest& request, const ApiRequest& apiRequest,
                                          int status, const std::string& message,
                                          const std::string& tenantId) {
  domain::AuditEntry entry;
  entry.atUnixMs = nowMs();
  if (apiRequest.principal) {
    entry.actor = apiRequest.principal->name;
    entry.actorRole = std::string(domain::toString(apiRequest.principal->role));
    entry.tenantId = apiRequest.principal->isProvider() ? tenantId : apiRequest.principal->tenantId;
  } else {
    // A login names who tried; anything else anonymous is a refused call.
    auto body = nlohmann::json::parse(request.body, nullptr, false);
    entry.actor = body.is_object() && body.contains("name") && body["name"].is_string()
                      ? body["name"].get<std::string>().substr(0, 128)
                      : "anonymous";
    entry.actorRole = "anonymous";
    entry.tenantId = tenantId;
  }
  entry.method = request.method;
  entry.path = request.path;
  entry.status = status;
  entry.result = status < 400 ? "ok" : "error";
  if (!apiRequest.principal)
    entry.message =
        message.empty() ? "from " + request.peer : message + " (from " + request.peer + ")";
  else
    entry.message = message;
  return entry;
}

}  // namespace warmsite::api

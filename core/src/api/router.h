#pragma once
// Routes of the REST API: method + path pattern ("/api/v1/tenants/{id}") -> handler, with who may
// call it. The route table is also what docs/openapi.yaml is checked against.

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "api/json_input.h"
#include "domain/entities.h"

namespace warmsite::store {
class Transaction;
}

namespace warmsite::api {

enum class Access {
  kPublic,            // no token
  kAuthenticated,     // any logged-in account
  kProvider,          // SP administrators only
  kTenantOrProvider,  // a tenant (for its own objects) or an SP administrator
};

struct Principal {
  std::string accountId;
  std::string name;
  domain::Role role = domain::Role::kProvider;
  std::string tenantId;  // tenants only
  std::string tokenHash;

  bool isProvider() const { return role == domain::Role::kProvider; }
};

struct ApiRequest {
  const HttpRequest& http;
  std::map<std::string, std::string> params;
  std::optional<Principal> principal;

  const Principal& who() const { return *principal; }
  const std::string& param(const std::string& name) const { return params.at(name); }
  JsonInput body() const { return JsonInput::parse(http.body); }
  std::optional<std::string> query(const std::string& name) const {
    auto it = http.query.find(name);
    return it == http.query.end() ? std::nullopt : std::optional<std::string>(it->second);
  }

  // Appends the request's audit entry to `tx`, the transaction of its change, for a route that
  // answers `status` once it commits: change and entry then commit together (neither without the
  // other), and the service writes no entry of its own after the answer.
  void auditIn(store::Transaction& tx, int status, const std::string& tenantId);

  // Set by the API service: this request's audit entry with its outcome.
  std::function<domain::AuditEntry(int status, const std::string& tenantId)> auditEntry;
  std::optional<int> auditedStatus;  // what auditIn recorded
};

struct ApiResponse {
  ApiResponse() = default;
  explicit ApiResponse(int status, nlohmann::json body = nlohmann::json::object(),
                       std::string auditTenantId = {})
      : status(status), body(std::move(body)), auditTenantId(std::move(auditTenantId)) {}

  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  std::vector<std::pair<std::string, std::string>> headers;
  // What the tenant or SP sees of the object the request concerned, for the audit log.
  std::string auditTenantId;
};

using ApiHandler = std::function<ApiResponse(ApiRequest&)>;

struct Route {
  std::string method;
  std::string pattern;
  Access access;
  ApiHandler handler;
  std::vector<std::string> segments;  // pattern split on '/'
};

class Router {
 public:
  void add(std::string method, std::string pattern, Access access, ApiHandler handler);

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowedMethods;  // when the path matched but not the method
  };
  Match match(const std::string& method, const std::string& path) const;

  const std::vector<Route>& routes() const noexcept { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace warmsite::api

#pragma once
// The REST API under /api/v1: routing, authentication, authorization by route, error mapping and
// the audit log of every mutating call. Handlers live in routes_*.cpp, one file per resource.

#include "api/api_context.h"
#include "api/http_server.h"
#include "api/router.h"

namespace warmsite::api {

class ApiService {
 public:
  explicit ApiService(ApiContext context);

  HttpResponse handle(const HttpRequest& request);
  const Router& router() const noexcept { return router_; }

  // The one error body shape: {"code", "message", "details"}.
  static HttpResponse errorResponse(int status, const std::string& code, const std::string& message,
                                    const nlohmann::json& details = nlohmann::json::object());

 private:
  HttpResponse dispatch(const HttpRequest& request, const Router::Match& match,
                        ApiRequest& apiRequest, std::string& auditTenantId);
  static domain::AuditEntry auditEntry(const HttpRequest& request, const ApiRequest& apiRequest,
                                       int status, const std::string& message,
                                       const std::string& tenantId);

  ApiContext context_;
  Router router_;
};

// Each adds one resource's routes (routes_*.cpp).
void addAuthRoutes(Router& router, ApiContext& context);
void addTenantRoutes(Router& router, ApiContext& context);
void addCloudHostRoutes(Router& router, ApiContext& context);
void addPublicIpRoutes(Router& router, ApiContext& context);
void addPlanRoutes(Router& router, ApiContext& context);
void addSubscriptionRoutes(Router& router, ApiContext& context);
void addServiceRoutes(Router& router, ApiContext& context);
void addReplicaRoutes(Router& router, ApiContext& context);
void addFailoverRoutes(Router& router, ApiContext& context);
void addReplicationRoutes(Router& router, ApiContext& context);

}  // namespace warmsite::api

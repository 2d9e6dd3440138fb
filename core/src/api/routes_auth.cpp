// Logging in and out, the caller's session, and changing one's own password.
#include "api/api_service.h"
#include "api/json_mapping.h"

namespace warmsite::api {

void addAuthRoutes(Router& router, ApiContext& context) {
  router.add("POST", "/api/v1/auth/login", Access::kPublic, [&context](ApiRequest& request) {
    auto body = request.body();
    const auto name = body.string("name", 128);
    const auto password = body.string("password", 256);
    body.finish();
    try {
      auto login = context.auth.login(name, password);
      ApiResponse response;
      response.body = {{"token", login.token},
                       {"expires_at", login.expiresUnix},
                       {"account", toJson(login.account)}};
      response.auditTenantId = login.account.tenantId;
      return response;
    } catch (const security::AuthError& e) {
      switch (e.kind()) {
        case security::AuthError::Kind::kLocked:
          throw ApiError(403, "account_locked", e.what());
        case security::AuthError::Kind::kDisabled:
          throw ApiError(403, "tenant_disabled", e.what());
        default:
          throw ApiError(401, "bad_credentials", e.what());
      }
    }
  });

  router.add("POST", "/api/v1/auth/logout", Access::kAuthenticated,
             [&context](ApiRequest& request) {
               context.auth.logout(request.who().tokenHash);
               return ApiResponse(204);
             });

  router.add("GET", "/api/v1/auth/session", Access::kAuthenticated,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 auto account = tx.findAccount(request.who().accountId);
                 if (!account)
                   throw ApiError(401, "unauthenticated", "the account no longer exists");
                 auto session = tx.findSession(request.who().tokenHash);
                 ApiResponse response;
                 response.body = {{"account", toJson(*account)},
                                  {"expires_at", session ? session->expiresUnix : 0}};
                 if (!account->tenantId.empty()) {
                   if (auto tenant = tx.findTenant(account->tenantId))
                     response.body["tenant"] = toJson(*tenant);
                 }
                 return response;
               });
             });

  router.add(
      "PUT", "/api/v1/auth/password", Access::kAuthenticated, [&context](ApiRequest& request) {
        auto body = request.body();
        const auto current = body.string("current_password", 256);
        const auto next = body.string("new_password", 256);
        body.finish();
        require(domain::checkPassword(next), "new_password");
        try {
          context.auth.login(request.who().name, current);  // proves the current password
        } catch (const security::AuthError& e) {
          throw ApiError(403, "bad_credentials", std::string("current password: ") + e.what());
        }
        const auto hash = context.auth.hashPassword(next);
        context.store.write([&](store::Transaction& tx) {
          auto account = tx.findAccount(request.who().accountId).value();
          account.passwordHash = hash;
          tx.updateAccount(account);
          tx.deleteSessionsOf(account.id);  // every other session ends with the old password
        });
        return ApiResponse(204, nlohmann::json::object(), request.who().tenantId);
      });
}

}  // namespace warmsite::api

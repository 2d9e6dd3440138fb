// Tenants (with their login accounts) and SP administrator accounts.
#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ids.h"

namespace warmsite::api {

namespace {

constexpr std::uint64_t kMaxTasks = 10'000;
constexpr std::uint64_t kMaxUnixTime = 253'402'300'799;  // 9999-12-31

// Applies the optional tenant fields of `body` to `tenant`.
void readTenantFields(JsonInput& body, domain::Tenant& tenant) {
  if (auto description = body.optionalString("description", 1024))
    tenant.description = *description;
  if (auto enabled = body.optionalBool("enabled")) tenant.enabled = *enabled;
  if (auto lease = body.nullableUnsigned("lease_expires_at", 0, kMaxUnixTime)) {
    tenant.leaseExpiresUnix =
        *lease ? std::optional<std::int64_t>(static_cast<std::int64_t>(**lease)) : std::nullopt;
  }
  if (auto tasks = body.optionalUnsigned("max_concurrent_tasks", 1, kMaxTasks)) {
    tenant.maxConcurrentTasks = static_cast<std::uint32_t>(*tasks);
  }
}

}  // namespace

void addTenantRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/tenants", Access::kProvider, [&context](ApiRequest&) {
    return context.store.read([](store::Transaction& tx) {
      return ApiResponse{200, toJsonArray(tx.listTenants())};
    });
  });

  router.add("POST", "/api/v1/tenants", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    domain::Tenant tenant;
    tenant.id = domain::newId("tnt");
    tenant.name = body.string("name", 256);
    const auto password = body.string("password", 256);
    readTenantFields(body, tenant);
    body.finish();
    require(domain::checkAccountName(tenant.name), "name");
    require(domain::checkPassword(password), "password");
    tenant.createdUnix = security::nowUnix();
    const auto hash = context.auth.hashPassword(password);
    context.store.write([&](store::Transaction& tx) {
      if (tx.findAccountByName(tenant.name))
        throw conflict("an account named \"" + tenant.name + "\" already exists");
      tx.insertTenant(tenant);
      tx.insertAccount({domain::newId("acc"), tenant.name, domain::Role::kTenant, tenant.id, hash,
                        0, std::nullopt, tenant.createdUnix});
    });
    ApiResponse response{201, toJson(tenant)};
    response.headers.emplace_back("Location", "/api/v1/tenants/" + tenant.id);
    response.auditTenantId = tenant.id;
    return response;
  });

  router.add("GET", "/api/v1/tenants/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 auto tenant = visibleTenant(request, tx, request.param("id"));
                 ApiResponse response{200, toJson(tenant)};
                 auto scope = tx.tenant(tenant.id);
                 response.body["public_ips"] = toJsonArray(scope->publicIps());
                 response.body["subscription_count"] = scope->subscriptions().size();
                 return response;
               });
             });

  router.add("PATCH", "/api/v1/tenants/{id}", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    const auto newName = body.optionalString("name", 256);
    if (newName) require(domain::checkAccountName(*newName), "name");
    return context.store.write([&](store::Transaction& tx) {
      auto tenant = tx.findTenant(request.param("id"));
      if (!tenant) throw notFound("tenant", request.param("id"));
      const bool wasEnabled = tenant->enabled;
      if (newName && *newName != tenant->name) {
        if (tx.findAccountByName(*newName))
          throw conflict("an account named \"" + *newName + "\" already exists");
        tenant->name = *newName;
      }
      readTenantFields(body, *tenant);
      body.finish();
      tx.updateTenant(*tenant);
      if (wasEnabled && !tenant->enabled) {
        // Disabling ends the tenant's sessions at once.
        if (auto account = tx.findTenantAccount(tenant->id)) tx.deleteSessionsOf(account->id);
      }
      ApiResponse response{200, toJson(*tenant)};
      response.auditTenantId = tenant->id;
      return response;
    });
  });

  router.add("DELETE", "/api/v1/tenants/{id}", Access::kProvider, [&context](ApiRequest& request) {
    context.store.write([&](store::Transaction& tx) {
      if (!tx.findTenant(request.param("id"))) throw notFound("tenant", request.param("id"));
      tx.deleteTenant(request.param("id"));
    });
    return ApiResponse(204, nlohmann::json::object(), request.param("id"));
  });

  router.add("PUT", "/api/v1/tenants/{id}/password", Access::kProvider,
             [&context](ApiRequest& request) {
               auto body = request.body();
               const auto password = body.string("password", 256);
               body.finish();
               require(domain::checkPassword(password), "password");
               const auto hash = context.auth.hashPassword(password);
               context.store.write([&](store::Transaction& tx) {
                 auto account = tx.findTenantAccount(request.param("id"));
                 if (!account) throw notFound("tenant", request.param("id"));
                 account->passwordHash = hash;
                 account->failedLogins = 0;
                 account->lockedUntilUnix.reset();
                 tx.updateAccount(*account);
                 tx.deleteSessionsOf(account->id);
               });
               return ApiResponse(204, nlohmann::json::object(), request.param("id"));
             });

  router.add("DELETE", "/api/v1/tenants/{id}/sessions", Access::kProvider,
             [&context](ApiRequest& request) {
               const auto ended = context.store.write([&](store::Transaction& tx) {
                 auto account = tx.findTenantAccount(request.param("id"));
                 if (!account) throw notFound("tenant", request.param("id"));
                 return tx.deleteSessionsOf(account->id);
               });
               return ApiResponse(200, {{"sessions_ended", ended}}, request.param("id"));
             });

  router.add("GET", "/api/v1/accounts", Access::kProvider, [&context](ApiRequest&) {
    return context.store.read([](store::Transaction& tx) {
      return ApiResponse{200, toJsonArray(tx.listProviderAccounts())};
    });
  });

  router.add("POST", "/api/v1/accounts", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    domain::Account account;
    account.id = domain::newId("acc");
    account.name = body.string("name", 256);
    const auto password = body.string("password", 256);
    body.finish();
    require(domain::checkAccountName(account.name), "name");
    require(domain::checkPassword(password), "password");
    account.role = domain::Role::kProvider;
    account.passwordHash = context.auth.hashPassword(password);
    account.createdUnix = security::nowUnix();
    context.store.write([&](store::Transaction& tx) {
      if (tx.findAccountByName(account.name))
        throw conflict("an account named \"" + account.name + "\" already exists");
      tx.insertAccount(account);
    });
    return ApiResponse{201, toJson(account)};
  });

  router.add("DELETE", "/api/v1/accounts/{id}", Access::kProvider, [&context](ApiRequest& request) {
    context.store.write([&](store::Transaction& tx) {
      auto account = tx.findAccount(request.param("id"));
      if (!account || account->role != domain::Role::kProvider)
        throw notFound("account", request.param("id"));
      if (account->id == request.who().accountId)
        throw conflict("an administrator cannot delete their own account");
      if (tx.listProviderAccounts().size() <= 1)
        throw conflict("the last administrator account cannot be deleted");
      tx.deleteAccount(account->id);
    });
    return ApiResponse(204);
  });
}

}  // namespace warmsite::api

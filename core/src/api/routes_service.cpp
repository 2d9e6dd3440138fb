// The service itself: health, maintenance mode, the audit log, tasks, and the TLS certificate.
#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ip_address.h"
#include "security/encoding.h"

namespace warmsite::api {

namespace {

std::int64_t queryInteger(const ApiRequest& request, const std::string& name,
                          std::int64_t fallback) {
  const auto text = request.query(name);
  if (!text) return fallback;
  char* end = nullptr;
  const auto value = std::strtoll(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || value < 0) {
    throw badRequest("query parameter \"" + name + "\" must be a non-negative integer",
                     {{"field", name}});
  }
  return value;
}

}  // namespace

void addServiceRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/health", Access::kPublic, [&context](ApiRequest&) {
    const auto maintenance =
        context.store.read([](store::Transaction& tx) { return tx.maintenance(); });
    return ApiResponse{
        200,
        {{"status", "ok"}, {"version", context.version}, {"maintenance", maintenance.enabled}}};
  });

  router.add("GET", "/api/v1/service/maintenance", Access::kAuthenticated, [&context](ApiRequest&) {
    const auto maintenance =
        context.store.read([](store::Transaction& tx) { return tx.maintenance(); });
    return ApiResponse{200, {{"enabled", maintenance.enabled}, {"message", maintenance.message}}};
  });

  router.add("PUT", "/api/v1/service/maintenance", Access::kProvider,
             [&context](ApiRequest& request) {
               auto body = request.body();
               domain::Maintenance maintenance;
               maintenance.enabled = body.optionalBool("enabled").value_or(false);
               maintenance.message = body.optionalString("message", 350).value_or("");
               body.finish();
               context.store.write([&](store::Transaction& tx) { tx.setMaintenance(maintenance); });
               return ApiResponse{
                   200, {{"enabled", maintenance.enabled}, {"message", maintenance.message}}};
             });

  router.add("GET", "/api/v1/audit", Access::kProvider, [&context](ApiRequest& request) {
    domain::AuditQuery query;
    query.tenantId = request.query("tenant_id");
    query.actor = request.query("actor");
    if (request.query("since_ms")) query.sinceUnixMs = queryInteger(request, "since_ms", 0);
    query.beforeId = queryInteger(request, "before_id", 0);
    query.limit = pageLimit(request);
    auto entries = context.store.read([&](store::Transaction& tx) { return tx.queryAudit(query); });
    ApiResponse response{200, {{"entries", toJsonArray(entries)}}};
    if (entries.size() == query.limit) response.body["next_before_id"] = entries.back().id;
    return response;
  });

  router.add("GET", "/api/v1/tasks", Access::kTenantOrProvider, [&context](ApiRequest& request) {
    const auto limit = pageLimit(request);
    return context.store.read([&](store::Transaction& tx) {
      return ApiResponse{200, toJsonArray(request.who().isProvider()
                                              ? tx.listTasks(limit)
                                              : tx.tenant(request.who().tenantId)->tasks(limit))};
    });
  });

  router.add(
      "GET", "/api/v1/tasks/{id}", Access::kTenantOrProvider, [&context](ApiRequest& request) {
        return context.store.read([&](store::Transaction& tx) {
          const auto& id = request.param("id");
          auto task = request.who().isProvider() ? tx.findAnyTask(id)
                                                 : tx.tenant(request.who().tenantId)->findTask(id);
          if (!task) throw notFound("task", id);
          return ApiResponse{200, toJson(*task)};
        });
      });

  router.add("GET", "/api/v1/certificate", Access::kAuthenticated, [&context](ApiRequest&) {
    return ApiResponse{200, toJson(context.tls.current().info)};
  });

  router.add("PUT", "/api/v1/certificate", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    const auto format = body.string("format", 16);
    security::TlsIdentity identity;
    try {
      if (format == "pem") {
        const auto certificate = body.string("certificate", 256 * 1024);
        const auto key = body.string("private_key", 64 * 1024);
        const auto passphrase = body.optionalString("passphrase", 1024).value_or("");
        body.finish();
        identity = security::importPem(certificate, key, passphrase);
      } else if (format == "pkcs12") {
        const auto data = security::base64Decode(body.string("data_base64", 512 * 1024));
        const auto password = body.optionalString("password", 1024).value_or("");
        body.finish();
        if (!data)
          throw badRequest("field \"data_base64\" is not base64", {{"field", "data_base64"}});
        identity = security::importPkcs12(*data, password);
      } else {
        throw badRequest("field \"format\" must be \"pem\" or \"pkcs12\"", {{"field", "format"}});
      }
      context.tls.replace(identity);
    } catch (const security::CertificateError& e) {
      throw ApiError(422, "certificate_rejected", e.what());
    }
    return ApiResponse{200, toJson(identity.info)};
  });

  router.add(
      "POST", "/api/v1/certificate/generate", Access::kProvider, [&context](ApiRequest& request) {
        auto body = request.body();
        auto dnsNames =
            body.has("dns_names") ? body.stringArray("dns_names", 32) : context.tls.dnsNames();
        auto addresses = body.has("ip_addresses") ? body.stringArray("ip_addresses", 32)
                                                  : context.tls.ipAddresses();
        body.finish();
        for (const auto& address : addresses) {
          if (std::holds_alternative<domain::ParseError>(domain::parseIpAddress(address))) {
            throw badRequest("\"" + address + "\" in ip_addresses is not an IP address",
                             {{"field", "ip_addresses"}});
          }
        }
        try {
          return ApiResponse{200, toJson(context.tls.regenerate(dnsNames, addresses).info)};
        } catch (const security::CertificateError& e) {
          throw ApiError(422, "certificate_rejected", e.what());
        }
      });
}

}  // namespace warmsite::api

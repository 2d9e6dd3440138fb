#include "api/api_context.h"

#include "api/json_mapping.h"
#include "domain/ids.h"

namespace warmsite::api {

void require(const domain::Problem& problem, const std::string& field) {
  if (problem)
    throw badRequest(*problem,
                     field.empty() ? nlohmann::json::object() : nlohmann::json{{"field", field}});
}

namespace {
constexpr std::uint32_t kMaxPage = 1000;
}  // namespace

std::uint32_t pageLimit(const ApiRequest& request) {
  const auto text = request.query("limit");
  if (!text) return 100;
  char* end = nullptr;
  const auto value = std::strtoul(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || value < 1 || value > kMaxPage) {
    throw badRequest(
        "query parameter \"limit\" must be an integer from 1 to " + std::to_string(kMaxPage),
        {{"field", "limit"}});
  }
  return static_cast<std::uint32_t>(value);
}

void requireTenantMayWork(store::Transaction& tx, const domain::Tenant& tenant,
                          bool checkMaintenance) {
  if (!tenant.enabled) {
    throw ApiError(403, "tenant_disabled",
                   "tenant " + tenant.name + " is disabled; no new work is accepted");
  }
  if (tenant.leaseExpiresUnix && *tenant.leaseExpiresUnix <= security::nowUnix()) {
    throw ApiError(403, "lease_expired",
                   "the lease of tenant " + tenant.name + " expired at " +
                       std::to_string(*tenant.leaseExpiresUnix) +
                       " (Unix time); ask the service provider to extend it");
  }
  if (!checkMaintenance) return;
  const auto maintenance = tx.maintenance();
  if (maintenance.enabled) {
    throw ApiError(503, "maintenance",
                   "Service provider is currently undergoing scheduled maintenance" +
                       (maintenance.message.empty() ? std::string() : ": " + maintenance.message));
  }
}

domain::Tenant visibleTenant(ApiRequest& request, store::Transaction& tx,
                             const std::string& tenantId) {
  if (!request.who().isProvider() && request.who().tenantId != tenantId)
    throw notFound("tenant", tenantId);
  auto tenant = tx.findTenant(tenantId);
  if (!tenant) throw notFound("tenant", tenantId);
  return *tenant;
}

domain::Task queueTask(store::Transaction& tx, const ApiRequest& request,
                       engine::TaskAdmission& admission, const std::string& kind,
                       const std::string& targetId, const std::string& tenantId) {
  domain::Task task;
  task.id = domain::newId("task");
  task.tenantId = tenantId;
  task.kind = kind;
  task.targetId = targetId;
  task.createdBy = request.who().name;
  task.createdUnix = security::nowUnix();
  admission.admit(tx, task);
  tx.insertTask(task);
  return task;
}

ApiResponse accepted(const domain::Task& task, nlohmann::json body) {
  ApiResponse response;
  response.status = 202;
  response.body = std::move(body);
  response.body["task"] = toJson(task);
  response.headers.emplace_back("Location", "/api/v1/tasks/" + task.id);
  response.auditTenantId = task.tenantId;
  return response;
}

}  // namespace warmsite::api

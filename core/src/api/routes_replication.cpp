// Replication jobs (which replicas a tenant's agent ships, how often, how many restore points each
// keeps) and the history of replication runs. The runs themselves arrive on the replication port.
#include <set>

#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ids.h"

namespace warmsite::api {

domain::Replica visibleReplica(ApiRequest& request, store::Transaction& tx, const std::string& id);

namespace {

constexpr std::uint64_t kMaxJobReplicas = 10'000, kMaxScheduleMinutes = 7 * 24 * 60,
                        kMaxRetention = 1000;

// Tenants act on their own jobs; the SP names the tenant.
std::string jobTenant(ApiRequest& request, store::Transaction& tx) {
  if (!request.who().isProvider()) return request.who().tenantId;
  const auto tenantId = request.query("tenant_id");
  if (!tenantId)
    throw badRequest("tenant_id is required for service provider accounts",
                     {{"field", "tenant_id"}});
  if (!tx.findTenant(*tenantId)) throw notFound("tenant", *tenantId);
  return *tenantId;
}

}  // namespace

void addReplicationRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/replication-jobs", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 if (request.who().isProvider() && !request.query("tenant_id")) {
                   return ApiResponse{200, toJsonArray(tx.listReplicationJobs())};
                 }
                 return ApiResponse{
                     200, toJsonArray(tx.tenant(jobTenant(request, tx))->replicationJobs())};
               });
             });

  router.add(
      "POST", "/api/v1/replication-jobs", Access::kTenantOrProvider,
      [&context](ApiRequest& request) {
        auto body = request.body();
        domain::ReplicationJob job;
        job.id = domain::newId("job");
        job.name = body.string("name", 128);
        job.replicaIds = body.stringArray("replica_ids", kMaxJobReplicas, 128);
        if (auto minutes = body.optionalUnsigned("schedule_minutes", 1, kMaxScheduleMinutes)) {
          job.scheduleMinutes = static_cast<std::uint32_t>(*minutes);
        }
        job.retention = static_cast<std::uint32_t>(
            body.optionalUnsigned("retention", 1, kMaxRetention).value_or(7));
        body.finish();
        if (job.name.empty()) throw badRequest("name must not be empty", {{"field", "name"}});
        if (job.replicaIds.empty()) {
          throw badRequest("replica_ids must name at least one replica",
                           {{"field", "replica_ids"}});
        }
        if (std::set<std::string>(job.replicaIds.begin(), job.replicaIds.end()).size() !=
            job.replicaIds.size()) {
          throw badRequest("replica_ids lists a replica twice", {{"field", "replica_ids"}});
        }
        return context.store.write([&](store::Transaction& tx) {
          job.tenantId = jobTenant(request, tx);
          auto scope = tx.tenant(job.tenantId);
          for (const auto& replicaId : job.replicaIds) {
            if (!scope->findReplica(replicaId)) {
              throw badRequest("replica " + replicaId + " does not exist",
                               {{"field", "replica_ids"}});
            }
          }
          for (const auto& other : scope->replicationJobs()) {
            if (strcasecmp(other.name.c_str(), job.name.c_str()) == 0) {
              throw conflict("replication job \"" + job.name + "\" exists");
            }
          }
          job.createdUnix = security::nowUnix();
          scope->insertReplicationJob(job);
          return ApiResponse{201, toJson(job)};
        });
      });

  router.add("DELETE", "/api/v1/replication-jobs/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.write([&](store::Transaction& tx) {
                 auto scope = tx.tenant(jobTenant(request, tx));
                 if (!scope->findReplicationJob(request.param("id"))) {
                   throw notFound("replication job", request.param("id"));
                 }
                 scope->deleteReplicationJob(request.param("id"));
                 return ApiResponse(204);
               });
             });

  router.add("GET", "/api/v1/replication-runs", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               const auto limit = pageLimit(request);
               return context.store.read([&](store::Transaction& tx) {
                 if (request.who().isProvider() && !request.query("tenant_id")) {
                   return ApiResponse{200, toJsonArray(tx.listReplicationRuns(limit))};
                 }
                 return ApiResponse{
                     200,
                     toJsonArray(tx.tenant(jobTenant(request, tx))->replicationRuns("", limit))};
               });
             });

  router.add("GET", "/api/v1/replicas/{id}/replication-runs", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               const auto limit = pageLimit(request);
               return context.store.read([&](store::Transaction& tx) {
                 const auto replica = visibleReplica(request, tx, request.param("id"));
                 return ApiResponse{
                     200,
                     toJsonArray(tx.tenant(replica.tenantId)->replicationRuns(replica.id, limit))};
               });
             });
}

}  // namespace warmsite::api

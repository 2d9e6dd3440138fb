// Replicas inside a subscription's quota, and their restore points.
#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ids.h"
#include "domain/ip_address.h"
#include "domain/replica_states.h"
#include "engine/replica_tasks.h"

namespace warmsite::api {

namespace {

constexpr std::uint64_t kMaxVcpus = 256, kMaxMhz = 10'000'000, kMaxMemoryMb = 16 * 1024 * 1024,
                        kMaxDiskGb = 64 * 1024;

// What a new replica adds to its subscription's use, against the plan: 409 naming each limit it
// would pass.
void requireQuota(store::TenantScope& scope, const domain::HardwarePlan& plan,
                  const domain::Replica& replica) {
  std::uint64_t cpu = replica.cpuMhz, memory = replica.memoryMb;
  std::map<std::string, std::uint64_t> storage;
  for (const auto& disk : replica.disks) storage[disk.storage] += disk.sizeGb;
  for (const auto& other : scope.replicas(replica.subscriptionId)) {
    cpu += other.cpuMhz;
    memory += other.memoryMb;
    for (const auto& disk : other.disks) storage[disk.storage] += disk.sizeGb;
  }
  auto exceeded = nlohmann::json::array();
  std::string message;
  auto check = [&](const std::string& resource, std::uint64_t total, std::uint64_t asked,
                   std::optional<std::uint64_t> limit) {
    if (!limit || total <= *limit) return;
    exceeded.push_back({{"resource", resource},
                        {"limit", *limit},
                        {"in_use", total - asked},
                        {"requested", asked}});
    message += (message.empty() ? "" : "; ") + resource + ": " + std::to_string(total - asked) +
               " in use + " + std::to_string(asked) + " requested > " + std::to_string(*limit);
  };
  check("cpu_mhz", cpu, replica.cpuMhz, plan.cpuMhz);
  check("memory_mb", memory, replica.memoryMb, plan.memoryMb);
  for (const auto& planStorage : plan.storages) {
    std::uint64_t asked = 0;
    for (const auto& disk : replica.disks)
      asked += disk.storage == planStorage.name ? disk.sizeGb : 0;
    check("storage " + planStorage.name + " (GB)", storage[planStorage.name], asked,
          planStorage.quotaGb);
  }
  if (!exceeded.empty()) {
    throw ApiError(409, "quota_exceeded",
                   "replica " + replica.name + " exceeds plan " + plan.name + ": " + message,
                   {{"exceeded", exceeded}});
  }
}

domain::Replica readReplica(ApiRequest& request, JsonInput& body) {
  domain::Replica replica;
  replica.id = domain::newId("rep");
  replica.subscriptionId = body.string("subscription_id", 128);
  replica.name = body.string("name", 256);
  replica.vcpus = static_cast<std::uint32_t>(body.unsignedInt("vcpus", 1, kMaxVcpus));
  replica.cpuMhz = body.unsignedInt("cpu_mhz", 1, kMaxMhz);
  replica.memoryMb = body.unsignedInt("memory_mb", 1, kMaxMemoryMb);
  int index = 0;
  for (auto& disk : body.objectArray("disks", 16)) {
    replica.disks.push_back({"disk-" + std::to_string(index++), disk.string("storage", 256),
                             disk.unsignedInt("size_gb", 1, kMaxDiskGb)});
    disk.finish();
  }
  index = 0;
  for (auto& nic : body.has("nics") ? body.objectArray("nics", 16) : std::vector<JsonInput>{}) {
    domain::ReplicaNic entry{"nic-" + std::to_string(index++), nic.string("network_id", 128), "",
                             nic.optionalString("ip_address", 64).value_or("")};
    nic.finish();
    if (!entry.ipAddress.empty() &&
        std::holds_alternative<domain::ParseError>(domain::parseIpAddress(entry.ipAddress))) {
      throw badRequest("nics[" + std::to_string(index - 1) + "].ip_address \"" + entry.ipAddress +
                           "\" is not an IP address",
                       {{"field", "nics"}});
    }
    replica.nics.push_back(std::move(entry));
  }
  body.finish();
  require(domain::checkAccountName(replica.name), "name");
  if (replica.disks.empty())
    throw badRequest("a replica needs at least one disk", {{"field", "disks"}});
  replica.state = domain::ReplicaState::kProcessing;
  replica.createdUnix = security::nowUnix();
  (void)request;
  return replica;
}

}  // namespace

domain::Replica visibleReplica(ApiRequest& request, store::Transaction& tx, const std::string& id) {
  auto replica = request.who().isProvider() ? tx.findAnyReplica(id)
                                            : tx.tenant(request.who().tenantId)->findReplica(id);
  if (!replica) throw notFound("replica", id);
  return *replica;
}

void requireTransition(const domain::Replica& replica, domain::ReplicaOperation operation) {
  if (auto problem = domain::checkTransition(replica, operation)) {
    throw ApiError(409, "invalid_state", *problem, {{"state", domain::toString(replica.state)}});
  }
}

void addReplicaRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/replicas", Access::kTenantOrProvider, [&context](ApiRequest& request) {
    return context.store.read([&](store::Transaction& tx) {
      const auto subscription = request.query("subscription_id").value_or("");
      if (!request.who().isProvider()) {
        return ApiResponse{200,
                           toJsonArray(tx.tenant(request.who().tenantId)->replicas(subscription))};
      }
      if (auto tenantId = request.query("tenant_id")) {
        return ApiResponse{200, toJsonArray(tx.tenant(*tenantId)->replicas(subscription))};
      }
      return ApiResponse{200, toJsonArray(tx.listReplicas(100'000))};
    });
  });

  router.add(
      "POST", "/api/v1/replicas", Access::kTenantOrProvider, [&context](ApiRequest& request) {
        auto body = request.body();
        auto replica = readReplica(request, body);
        engine::TaskAdmission admission(context.engine);
        auto response = admission.write([&](store::Transaction& tx) {
          auto subscription =
              request.who().isProvider()
                  ? tx.findAnySubscription(replica.subscriptionId)
                  : tx.tenant(request.who().tenantId)->findSubscription(replica.subscriptionId);
          if (!subscription) {
            throw badRequest("subscription " + replica.subscriptionId + " does not exist",
                             {{"field", "subscription_id"}});
          }
          if (subscription->state != domain::SubscriptionState::kReady) {
            throw conflict("subscription " + subscription->id + " is " +
                           std::string(domain::toString(subscription->state)) +
                           "; replicas need a ready subscription");
          }
          replica.tenantId = subscription->tenantId;
          auto tenant = tx.findTenant(replica.tenantId).value();
          requireTenantMayWork(tx, tenant, !request.who().isProvider());
          const auto plan = tx.findPlan(subscription->planId).value();
          for (const auto& disk : replica.disks) {
            if (std::none_of(plan.storages.begin(), plan.storages.end(),
                             [&](const auto& s) { return s.name == disk.storage; })) {
              throw badRequest("plan " + plan.name + " has no storage \"" + disk.storage + "\"",
                               {{"field", "disks"}});
            }
          }
          for (const auto& nic : replica.nics) {
            if (std::none_of(subscription->networks.begin(), subscription->networks.end(),
                             [&](const auto& n) { return n.networkId == nic.networkId; })) {
              throw badRequest("network " + nic.networkId + " is not a network of subscription " +
                                   subscription->id,
                               {{"field", "nics"}});
            }
          }
          if (auto plugin = context.cloudHosts.find(subscription->cloudHostId)) {
            const auto maxNics = plugin->capabilities().maxNicsPerReplica;
            if (maxNics != 0 && replica.nics.size() > maxNics) {
              throw badRequest(
                  "the cloud host takes at most " + std::to_string(maxNics) + " NICs per replica",
                  {{"field", "nics"}});
            }
          }
          auto scope = tx.tenant(replica.tenantId);
          requireQuota(*scope, plan, replica);
          scope->insertReplica(replica);
          const auto task = queueTask(tx, request, admission, engine::kCreateReplica, replica.id,
                                      replica.tenantId);
          return accepted(task, {{"replica", toJson(replica)}});
        });
        return response;
      });

  router.add("GET", "/api/v1/replicas/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 auto replica = visibleReplica(request, tx, request.param("id"));
                 ApiResponse response{200, toJson(replica)};
                 response.body["restore_points"] =
                     toJsonArray(tx.tenant(replica.tenantId)->restorePoints(replica.id));
                 return response;
               });
             });

  router.add("DELETE", "/api/v1/replicas/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               engine::TaskAdmission admission(context.engine);
               auto response = admission.write([&](store::Transaction& tx) {
                 auto replica = visibleReplica(request, tx, request.param("id"));
                 requireTransition(replica, domain::ReplicaOperation::kDelete);
                 auto scope = tx.tenant(replica.tenantId);
                 for (const auto& plan : scope->failoverPlans()) {
                   if (std::any_of(plan.members.begin(), plan.members.end(),
                                   [&](const auto& m) { return m.replicaId == replica.id; })) {
                     throw conflict("replica " + replica.name + " is in failover plan " +
                                    plan.name + "; remove it from the plan");
                   }
                 }
                 for (const auto& session : scope->sessionsInProgress()) {
                   if (std::any_of(session.vms.begin(), session.vms.end(),
                                   [&](const auto& vm) { return vm.replicaId == replica.id; })) {
                     throw conflict("replica " + replica.name + " is in session " + session.id +
                                    ", still in progress; wait for its end");
                   }
                 }
                 replica.deleting = true;
                 scope->updateReplica(replica);
                 return accepted(queueTask(tx, request, admission, engine::kDeleteReplica,
                                           replica.id, replica.tenantId));
               });
               return response;
             });

  router.add("GET", "/api/v1/replicas/{id}/restore-points", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 auto replica = visibleReplica(request, tx, request.param("id"));
                 return ApiResponse{
                     200, toJsonArray(tx.tenant(replica.tenantId)->restorePoints(replica.id))};
               });
             });

  router.add("POST", "/api/v1/replicas/{id}/restore-points", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               engine::TaskAdmission admission(context.engine);
               auto response = admission.write([&](store::Transaction& tx) {
                 auto replica = visibleReplica(request, tx, request.param("id"));
                 requireTenantMayWork(tx, tx.findTenant(replica.tenantId).value(),
                                      !request.who().isProvider());
                 requireTransition(replica, domain::ReplicaOperation::kTakeRestorePoint);
                 replica.state = domain::ReplicaState::kProcessing;
                 tx.tenant(replica.tenantId)->updateReplica(replica);
                 const auto pointId = domain::newId("rp");
                 return accepted(queueTask(tx, request, admission, engine::kTakeRestorePoint,
                                           replica.id + "/" + pointId, replica.tenantId),
                                 {{"restore_point_id", pointId}});
               });
               return response;
             });

  router.add(
      "DELETE", "/api/v1/replicas/{id}/restore-points/{pointId}", Access::kTenantOrProvider,
      [&context](ApiRequest& request) {
        engine::TaskAdmission admission(context.engine);
        auto response = admission.write([&](store::Transaction& tx) {
          auto replica = visibleReplica(request, tx, request.param("id"));
          auto scope = tx.tenant(replica.tenantId);
          const auto points = scope->restorePoints(replica.id);
          if (std::none_of(points.begin(), points.end(),
                           [&](const auto& p) { return p.id == request.param("pointId"); })) {
            throw notFound("restore point", request.param("pointId"));
          }
          requireTransition(replica, domain::ReplicaOperation::kTakeRestorePoint);
          replica.state = domain::ReplicaState::kProcessing;
          scope->updateReplica(replica);
          return accepted(queueTask(tx, request, admission, engine::kDeleteRestorePoint,
                                    replica.id + "/" + request.param("pointId"), replica.tenantId));
        });
        return response;
      });

  router.add("PUT", "/api/v1/subscriptions/{id}/networks/{networkId}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               auto body = request.body();
               const auto subnet = body.string("subnet", 64);
               body.finish();
               std::string canonical;
               if (!subnet.empty()) {
                 auto parsed = domain::parseCidr(subnet);
                 if (auto* error = std::get_if<domain::ParseError>(&parsed)) {
                   throw badRequest("field \"subnet\": " + error->message, {{"field", "subnet"}});
                 }
                 canonical = std::get<domain::Cidr>(parsed).toString();
               }
               return context.store.write([&](store::Transaction& tx) {
                 auto subscription =
                     request.who().isProvider()
                         ? tx.findAnySubscription(request.param("id"))
                         : tx.tenant(request.who().tenantId)->findSubscription(request.param("id"));
                 if (!subscription) throw notFound("subscription", request.param("id"));
                 const auto& networks = subscription->networks;
                 if (std::none_of(networks.begin(), networks.end(), [&](const auto& n) {
                       return n.networkId == request.param("networkId");
                     })) {
                   throw notFound("network", request.param("networkId"));
                 }
                 tx.tenant(subscription->tenantId)
                     ->setNetworkSubnet(request.param("networkId"), canonical);
                 return ApiResponse(
                     200, {{"network_id", request.param("networkId")}, {"subnet", canonical}},
                     subscription->tenantId);
               });
             });
}

}  // namespace warmsite::api

// Subscriptions: a tenant on a hardware plan. Subscribing allocates the VLANs and public IPs in one
// transaction and queues the task that provisions them on the cloud host.
#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ids.h"
#include "engine/subscription_tasks.h"

namespace warmsite::api {

namespace {

domain::Subscription visibleSubscription(ApiRequest& request, store::Transaction& tx,
                                         const std::string& id) {
  auto subscription = request.who().isProvider()
                          ? tx.findAnySubscription(id)
                          : tx.tenant(request.who().tenantId)->findSubscription(id);
  if (!subscription) throw notFound("subscription", id);
  return *subscription;
}

void requireIdle(const domain::Subscription& subscription) {
  if (subscription.state == domain::SubscriptionState::kProvisioning ||
      subscription.state == domain::SubscriptionState::kUnsubscribing) {
    throw conflict("subscription " + subscription.id + " is " +
                   std::string(domain::toString(subscription.state)) +
                   "; wait for its task to finish");
  }
}

}  // namespace

void addSubscriptionRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/subscriptions", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 if (!request.who().isProvider()) {
                   return ApiResponse{
                       200, toJsonArray(tx.tenant(request.who().tenantId)->subscriptions())};
                 }
                 if (auto tenantId = request.query("tenant_id")) {
                   return ApiResponse{200, toJsonArray(tx.tenant(*tenantId)->subscriptions())};
                 }
                 return ApiResponse{200, toJsonArray(tx.listSubscriptions())};
               });
             });

  router.add("POST", "/api/v1/subscriptions", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    const auto tenantId = body.string("tenant_id", 128);
    const auto planId = body.string("plan_id", 128);
    const auto ipCount =
        body.optionalUnsigned("public_ip_count", 0, domain::kMaxPublicIpsPerSubscription)
            .value_or(0);
    body.finish();
    engine::TaskAdmission admission(context.engine);
    auto response = admission.write([&](store::Transaction& tx) {
      auto tenant = tx.findTenant(tenantId);
      if (!tenant)
        throw badRequest("tenant " + tenantId + " does not exist", {{"field", "tenant_id"}});
      requireTenantMayWork(tx, *tenant, false);
      auto plan = tx.findPlan(planId);
      if (!plan)
        throw badRequest("hardware plan " + planId + " does not exist", {{"field", "plan_id"}});
      auto scope = tx.tenant(tenantId);
      for (const auto& existing : scope->subscriptions()) {
        if (existing.planId == planId) {
          throw conflict("tenant " + tenant->name + " is already subscribed to plan " + plan->name,
                         {{"subscription_id", existing.id}});
        }
      }
      domain::Subscription subscription;
      subscription.id = domain::newId("sub");
      subscription.tenantId = tenantId;
      subscription.planId = planId;
      subscription.cloudHostId = plan->cloudHostId;
      subscription.publicIpCount = static_cast<std::uint32_t>(ipCount);
      subscription.createdUnix = security::nowUnix();
      scope->insertSubscription(subscription);
      allocateMissingNetworks(tx, *plan, subscription);
      for (const auto& network : subscription.networks)
        scope->addSubscriptionNetwork(subscription.id, network);
      subscription.publicIps =
          scope->allocatePublicIps(subscription.publicIpCount, subscription.id);
      if (subscription.publicIps.size() != subscription.publicIpCount) {
        throw conflict("the public IP pool has " + std::to_string(tx.freePublicIpCount()) +
                           " free address(es), " + std::to_string(ipCount) + " asked",
                       {{"free", tx.freePublicIpCount()}});
      }
      const auto task = queueTask(tx, request, admission, engine::kProvisionSubscription,
                                  subscription.id, tenantId);
      return accepted(task, {{"subscription", toJson(subscription)}});
    });
    return response;
  });

  router.add("GET", "/api/v1/subscriptions/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 auto subscription = visibleSubscription(request, tx, request.param("id"));
                 ApiResponse response{200, toJson(subscription)};
                 if (auto plan = tx.findPlan(subscription.planId))
                   response.body["plan"] = toJson(*plan);
                 return response;
               });
             });

  router.add("DELETE", "/api/v1/subscriptions/{id}", Access::kProvider,
             [&context](ApiRequest& request) {
               engine::TaskAdmission admission(context.engine);
               auto response = admission.write([&](store::Transaction& tx) {
                 auto subscription = visibleSubscription(request, tx, request.param("id"));
                 requireIdle(subscription);
                 auto scope = tx.tenant(subscription.tenantId);
                 if (const auto replicas = scope->replicaCount(subscription.id)) {
                   throw conflict("subscription " + subscription.id + " still has " +
                                  std::to_string(replicas) + " replica(s); delete them first");
                 }
                 scope->setSubscriptionState(subscription.id,
                                             domain::SubscriptionState::kUnsubscribing, "");
                 return accepted(queueTask(tx, request, admission, engine::kReleaseSubscription,
                                           subscription.id, subscription.tenantId));
               });
               return response;
             });

  router.add("POST", "/api/v1/subscriptions/{id}/retry", Access::kProvider,
             [&context](ApiRequest& request) {
               engine::TaskAdmission admission(context.engine);
               auto response = admission.write([&](store::Transaction& tx) {
                 auto subscription = visibleSubscription(request, tx, request.param("id"));
                 if (subscription.state != domain::SubscriptionState::kFailed) {
                   throw conflict("subscription " + subscription.id + " is " +
                                  std::string(domain::toString(subscription.state)) +
                                  "; only a failed one is retried");
                 }
                 tx.tenant(subscription.tenantId)
                     ->setSubscriptionState(subscription.id,
                                            domain::SubscriptionState::kProvisioning, "");
                 return accepted(queueTask(tx, request, admission, engine::kProvisionSubscription,
                                           subscription.id, subscription.tenantId));
               });
               return response;
             });
}

}  // namespace warmsite::api

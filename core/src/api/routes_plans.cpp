// Hardware plans: what a subscription gives a tenant on one cloud host. Edits reach subscribers.
#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ids.h"
#include "engine/subscription_tasks.h"

namespace warmsite::api {

namespace {

constexpr std::uint64_t kMaxMhz = 100'000'000, kMaxMemoryMb = 1'000'000'000;

// Reads plan fields from `body` onto `plan`; `creating` makes the required ones required.
void readPlan(JsonInput& body, domain::HardwarePlan& plan, bool creating) {
  if (creating || body.has("name")) plan.name = body.string("name", 256);
  if (auto description = body.optionalString("description", 1024)) plan.description = *description;
  if (creating) {
    plan.cloudHostId = body.string("cloud_host_id", 128);
  } else if (body.has("cloud_host_id")) {
    plan.cloudHostId = body.string("cloud_host_id", 128);  // checkPlanEdit refuses a change
  }
  plan.cpuMhz = body.limitOrUnlimited("cpu_mhz", kMaxMhz, creating ? std::nullopt : plan.cpuMhz);
  plan.memoryMb =
      body.limitOrUnlimited("memory_mb", kMaxMemoryMb, creating ? std::nullopt : plan.memoryMb);
  if (creating || body.has("storages")) {
    plan.storages.clear();
    for (auto& item : body.objectArray("storages", 32)) {
      domain::PlanStorage storage;
      storage.name = item.string("name", 256);
      storage.backendStorage = item.string("backend_storage", 256);
      storage.quotaGb = item.unsignedInt("quota_gb", 1, domain::kMaxStorageQuotaGb);
      item.finish();
      plan.storages.push_back(std::move(storage));
    }
  }
  if (auto n = body.optionalUnsigned("networks_with_internet", 0, domain::kMaxNetworksPerPlan)) {
    plan.networksWithInternet = static_cast<std::uint32_t>(*n);
  }
  if (auto n = body.optionalUnsigned("networks_without_internet", 0, domain::kMaxNetworksPerPlan)) {
    plan.networksWithoutInternet = static_cast<std::uint32_t>(*n);
  }
  body.finish();
}

}  // namespace

// Allocates one VLAN per network the plan has beyond what `subscription` holds, adding the
// networks to it; a 409 (rolling the caller's transaction back) when a range is exhausted.
void allocateMissingNetworks(store::Transaction& tx, const domain::HardwarePlan& plan,
                             domain::Subscription& subscription) {
  auto scope = tx.tenant(subscription.tenantId);
  for (const bool internet : {true, false}) {
    const auto wanted = internet ? plan.networksWithInternet : plan.networksWithoutInternet;
    std::uint32_t have = 0;
    for (const auto& network : subscription.networks) have += network.internet == internet ? 1 : 0;
    for (auto index = have; index < wanted; ++index) {
      domain::SubscriptionNetwork network;
      network.networkId = domain::newId("net");
      network.name = (internet ? "internet-" : "internal-") + std::to_string(index + 1);
      network.internet = internet;
      auto vlan = scope->allocateVlan(plan.cloudHostId, internet, network.networkId);
      if (!vlan) {
        throw conflict("cloud host " + plan.cloudHostId + " has no free VLAN " +
                           (internet ? "with" : "without") + " internet access (needed " +
                           std::to_string(wanted - have) + "); add a VLAN range",
                       {{"cloud_host_id", plan.cloudHostId}, {"internet", internet}});
      }
      network.vlanId = *vlan;
      subscription.networks.push_back(network);
    }
  }
}

void addPlanRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/plans", Access::kProvider, [&context](ApiRequest&) {
    return context.store.read([](store::Transaction& tx) {
      return ApiResponse{200, toJsonArray(tx.listPlans())};
    });
  });

  router.add("POST", "/api/v1/plans", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    domain::HardwarePlan plan;
    plan.id = domain::newId("plan");
    readPlan(body, plan, true);
    require(domain::checkPlan(plan));
    plan.createdUnix = plan.updatedUnix = security::nowUnix();
    context.store.write([&](store::Transaction& tx) {
      if (!tx.findCloudHost(plan.cloudHostId)) {
        throw badRequest("cloud host " + plan.cloudHostId + " does not exist",
                         {{"field", "cloud_host_id"}});
      }
      tx.insertPlan(plan);
    });
    ApiResponse response{201, toJson(plan)};
    response.headers.emplace_back("Location", "/api/v1/plans/" + plan.id);
    return response;
  });

  router.add("GET", "/api/v1/plans/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 const auto& id = request.param("id");
                 auto plan = tx.findPlan(id);
                 if (!plan) throw notFound("hardware plan", id);
                 if (!request.who().isProvider()) {
                   // A tenant sees the plans it is subscribed to, and no other.
                   const auto subscriptions = tx.tenant(request.who().tenantId)->subscriptions();
                   if (std::none_of(subscriptions.begin(), subscriptions.end(),
                                    [&](const auto& s) { return s.planId == id; })) {
                     throw notFound("hardware plan", id);
                   }
                 }
                 ApiResponse response{200, toJson(*plan)};
                 if (request.who().isProvider())
                   response.body["subscriber_count"] = tx.planSubscriptions(id).size();
                 return response;
               });
             });

  router.add("PATCH", "/api/v1/plans/{id}", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    std::size_t reprovisioned = 0;
    engine::TaskAdmission admission(context.engine);
    auto plan = admission.write([&](store::Transaction& tx) {
      auto before = tx.findPlan(request.param("id"));
      if (!before) throw notFound("hardware plan", request.param("id"));
      auto after = *before;
      readPlan(body, after, false);
      require(domain::checkPlanEdit(*before, after));
      after.updatedUnix = security::nowUnix();
      tx.updatePlan(after);
      // Every subscriber gets the edit: networks the plan gained, new limits through a task.
      for (auto subscription : tx.planSubscriptions(after.id)) {
        if (subscription.state == domain::SubscriptionState::kUnsubscribing) continue;
        const auto known = subscription.networks.size();
        allocateMissingNetworks(tx, after, subscription);
        auto scope = tx.tenant(subscription.tenantId);
        for (std::size_t i = known; i < subscription.networks.size(); ++i) {
          scope->addSubscriptionNetwork(subscription.id, subscription.networks[i]);
        }
        scope->setSubscriptionState(subscription.id, domain::SubscriptionState::kProvisioning, "");
        queueTask(tx, request, admission, engine::kProvisionSubscription, subscription.id,
                  subscription.tenantId);
        ++reprovisioned;
      }
      return after;
    });
    ApiResponse response{200, toJson(plan)};
    response.body["subscriptions_updating"] = reprovisioned;
    return response;
  });

  router.add("DELETE", "/api/v1/plans/{id}", Access::kProvider, [&context](ApiRequest& request) {
    context.store.write([&](store::Transaction& tx) {
      if (!tx.findPlan(request.param("id"))) throw notFound("hardware plan", request.param("id"));
      tx.deletePlan(request.param("id"));
    });
    return ApiResponse(204);
  });
}

}  // namespace warmsite::api

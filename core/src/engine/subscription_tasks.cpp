#include "engine/subscription_tasks.h"

#include "engine/plugin_call.h"

namespace warmsite::engine {

namespace {

struct SubscriptionContext {
  domain::Subscription subscription;
  domain::HardwarePlan plan;
  domain::Tenant tenant;
  std::shared_ptr<plugin::CloudHostPlugin> plugin;
};

SubscriptionContext load(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                         const std::string& id) {
  SubscriptionContext context;
  store.read([&](store::Transaction& tx) {
    auto subscription = tx.findAnySubscription(id);
    if (!subscription) throw TaskFailed("subscription " + id + " no longer exists");
    context.subscription = *subscription;
    context.plan = tx.findPlan(subscription->planId).value();
    context.tenant = tx.findTenant(subscription->tenantId).value();
  });
  context.plugin = cloudHosts.find(context.subscription.cloudHostId);
  if (!context.plugin || !context.plugin->compute()) {
    throw TaskFailed("cloud host " + context.subscription.cloudHostId +
                     " is not attached (see GET /api/v1/cloud-hosts)");
  }
  return context;
}

void markSubscription(store::Store& store, const domain::Subscription& subscription,
                      domain::SubscriptionState state, const std::string& error) {
  store.write([&](store::Transaction& tx) {
    tx.tenant(subscription.tenantId)->setSubscriptionState(subscription.id, state, error);
  });
}

void provision(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
               const domain::Task& task, TaskContext& progress) {
  auto context = load(store, cloudHosts, task.targetId);
  const auto& subscription = context.subscription;
  try {
    const auto spec = tenantResourcesSpec(subscription, context.plan, context.tenant);
    callPlugin(
        "apply tenant resources",
        [&](const plugin::CallContext& ctx) {
          return context.plugin->compute()->applyTenantResources(spec, ctx);
        },
        progress);
    const std::size_t steps = subscription.networks.size() + 1;
    progress.report(static_cast<std::uint32_t>(100 / steps));
    auto* network = context.plugin->network();
    if (!subscription.networks.empty() && network == nullptr) {
      throw TaskFailed("the plan has networks but the cloud host's plugin offers no networks");
    }
    for (std::size_t i = 0; i < subscription.networks.size(); ++i) {
      const auto& net = subscription.networks[i];
      const plugin::TenantNetworkSpec networkSpec{net.networkId,
                                                  subscription.id,
                                                  subscription.tenantId,
                                                  context.tenant.name + " " + net.name,
                                                  net.vlanId,
                                                  net.internet};
      callPlugin(
          "create network " + net.name + " on VLAN " + std::to_string(net.vlanId),
          [&](const plugin::CallContext& ctx) {
            return network->createTenantNetwork(networkSpec, ctx);
          },
          progress);
      progress.report(static_cast<std::uint32_t>(100 * (i + 2) / steps));
    }
  } catch (const TaskFailed& e) {
    markSubscription(store, subscription, domain::SubscriptionState::kFailed, e.what());
    throw;
  }
  markSubscription(store, subscription, domain::SubscriptionState::kReady, "");
}

void release(store::Store& store, plugins::CloudHostRegistry& cloudHosts, const domain::Task& task,
             TaskContext& progress) {
  auto context = load(store, cloudHosts, task.targetId);
  const auto& subscription = context.subscription;
  try {
    if (auto* network = context.plugin->network()) {
      for (const auto& net : subscription.networks) {
        callPlugin(
            "delete network " + net.name,
            [&](const plugin::CallContext& ctx) {
              return network->deleteTenantNetwork(net.networkId, ctx);
            },
            progress);
      }
    }
    progress.report(50);
    callPlugin(
        "release tenant resources",
        [&](const plugin::CallContext& ctx) {
          return context.plugin->compute()->releaseTenantResources(subscription.id, ctx);
        },
        progress);
  } catch (const TaskFailed& e) {
    markSubscription(store, subscription, domain::SubscriptionState::kFailed,
                     std::string("unsubscribe failed: ") + e.what());
    throw;
  }
  store.write([&](store::Transaction& tx) {
    tx.tenant(subscription.tenantId)->deleteSubscription(subscription.id);
  });
}

}  // namespace

plugin::TenantResourcesSpec tenantResourcesSpec(const domain::Subscription& subscription,
                                                const domain::HardwarePlan& plan,
                                                const domain::Tenant& tenant) {
  plugin::TenantResourcesSpec spec;
  spec.subscriptionId = subscription.id;
  spec.tenantId = tenant.id;
  spec.tenantName = tenant.name;
  spec.cpuMhz = plan.cpuMhz;
  spec.memoryMb = plan.memoryMb;
  for (const auto& storage : plan.storages) {
    spec.storages.push_back({storage.name, storage.backendStorage, storage.quotaGb});
  }
  return spec;
}

void registerSubscriptionTasks(TaskEngine& engine, store::Store& store,
                               plugins::CloudHostRegistry& cloudHosts) {
  engine.registerKind(kProvisionSubscription,
                      [&store, &cloudHosts](const domain::Task& task, TaskContext& progress) {
                        provision(store, cloudHosts, task, progress);
                      });
  engine.registerKind(kReleaseSubscription,
                      [&store, &cloudHosts](const domain::Task& task, TaskContext& progress) {
                        release(store, cloudHosts, task, progress);
                      });
}

}  // namespace warmsite::engine

#pragma once
// The tasks that carry a subscription out on its cloud host:
//   provision_subscription  tenant resources for the plan, then one network per allocated VLAN;
//                           also run again after a plan edit (every step is idempotent).
//   release_subscription    the networks, then the tenant resources; then the VLANs and public
//                           IPs go back to the pools.

#include "engine/task_engine.h"
#include "plugins/cloud_host_registry.h"

namespace warmsite::engine {

inline constexpr const char* kProvisionSubscription = "provision_subscription";
inline constexpr const char* kReleaseSubscription = "release_subscription";

void registerSubscriptionTasks(TaskEngine& engine, store::Store& store,
                               plugins::CloudHostRegistry& cloudHosts);

// The plugin's view of a subscription's resources.
plugin::TenantResourcesSpec tenantResourcesSpec(const domain::Subscription& subscription,
                                                const domain::HardwarePlan& plan,
                                                const domain::Tenant& tenant);

}  // namespace warmsite::engine

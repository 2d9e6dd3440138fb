#pragma once
// What the API's handlers work with, and helpers they share.

#include <string>

#include "api/api_error.h"
#include "api/router.h"
#include "domain/rules.h"
#include "engine/task_engine.h"
#include "plugins/cloud_host_registry.h"
#include "plugins/plugin_catalog.h"
#include "security/authenticator.h"
#include "security/tls_identity_manager.h"
#include "store/store.h"

namespace warmsite::api {

struct ApiContext {
  store::Store& store;
  const plugins::PluginCatalog& catalog;
  plugins::CloudHostRegistry& cloudHosts;
  engine::TaskEngine& engine;
  security::Authenticator& auth;
  security::TlsIdentityManager& tls;
  std::string version;
};

// A 400 when the domain rule found a problem.
void require(const domain::Problem& problem, const std::string& field = {});

// Refuses new work for a tenant that is disabled, past its lease, or while the service is in
// maintenance, with a message saying which.
// The service provider may act for a tenant during maintenance (that is what it is for), so it
// passes checkMaintenance = false.
void requireTenantMayWork(store::Transaction& tx, const domain::Tenant& tenant,
                          bool checkMaintenance = true);

// The tenant a request may act on: an SP administrator any tenant, a tenant only itself
// (another id is 404, as if it did not exist).
domain::Tenant visibleTenant(ApiRequest& request, store::Transaction& tx,
                             const std::string& tenantId);

// The `limit` query parameter of a list: 1..1000, 100 when absent; 400 otherwise.
std::uint32_t pageLimit(const ApiRequest& request);

// Creates a task in the caller's transaction, which runs through admission.write: the task is
// claimed at once when a worker is free (see TaskAdmission).
domain::Task queueTask(store::Transaction& tx, const ApiRequest& request,
                       engine::TaskAdmission& admission, const std::string& kind,
                       const std::string& targetId, const std::string& tenantId);
// Allocates one VLAN per network `plan` has beyond what `subscription` holds and appends those
// networks to it; a 409 (rolling the caller's transaction back) when a VLAN range is exhausted.
void allocateMissingNetworks(store::Transaction& tx, const domain::HardwarePlan& plan,
                             domain::Subscription& subscription);

// 202 with the task, its Location, and `body` merged in.
ApiResponse accepted(const domain::Task& task, nlohmann::json body = nlohmann::json::object());

}  // namespace warmsite::api

#pragma once
// Reconcile: the store against each cloud host's own inventory, at start and on request. Drift is
// reported, never silently repaired by recreating what someone deleted behind Warmsite's back;
// the one thing cleaned up is a test copy no running test session owns (a crash left it).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plugins/cloud_host_registry.h"
#include "store/store.h"

namespace warmsite::engine {

struct Drift {
  std::string kind;  // missing_in_backend, unknown_to_store, power_mismatch,
                     // cloud_host_unreachable, test_copy_removed
  std::string cloudHostId;
  std::string machineId;
  std::string tenantId;
  std::string detail;
};

struct ReconcileReport {
  std::int64_t atUnix = 0;
  std::size_t machinesChecked = 0;
  std::vector<Drift> drift;
};

ReconcileReport reconcile(store::Store& store, plugins::CloudHostRegistry& cloudHosts);

nlohmann::json toJson(const ReconcileReport& report);

}  // namespace warmsite::engine

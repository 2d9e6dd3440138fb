#include "engine/reconcile.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "engine/failover_runner.h"
#include "engine/plugin_call.h"
#include "security/authenticator.h"

namespace warmsite::engine {

namespace {

bool expectRunning(domain::ReplicaState state) {
  return state == domain::ReplicaState::kFailover ||
         state == domain::ReplicaState::kPermanentFailover;
}

bool expectOff(domain::ReplicaState state) {
  return state == domain::ReplicaState::kReady || state == domain::ReplicaState::kFailback;
}

// The ids of the copies the test sessions in progress boot (or are about to), which they keep.
std::set<std::string> testCopiesInProgress(store::Store& store) {
  std::set<std::string> copies;
  for (const auto& session :
       store.read([](store::Transaction& tx) { return tx.sessionsInProgress(); })) {
    if (session.kind != domain::SessionKind::kTestFailover) continue;
    for (const auto& vm : session.vms) copies.insert(testCopyId(session, vm.replicaId));
  }
  return copies;
}

}  // namespace

ReconcileReport reconcile(store::Store& store, plugins::CloudHostRegistry& cloudHosts) {
  ReconcileReport report;
  report.atUnix = security::nowUnix();
  for (const auto& status : cloudHosts.status()) {
    auto plugin = cloudHosts.find(status.cloudHostId);
    if (!plugin || !plugin->compute()) {
      report.drift.push_back({"cloud_host_unreachable", status.cloudHostId, "", "",
                              status.error.empty() ? "not attached" : status.error});
      continue;
    }
    auto inventory =
        plugin->compute()->inventory(plugin::CallContext::withTimeout(std::chrono::minutes(5)));
    if (!inventory.ok()) {
      report.drift.push_back(
          {"cloud_host_unreachable", status.cloudHostId, "", "", describe(inventory.error())});
      continue;
    }
    std::map<std::string, plugin::MachineInfo> machines;
    for (auto& machine : *inventory) machines.emplace(machine.machineId, std::move(machine));
    // Read after the inventory: a test session that started meanwhile may have made a copy the
    // inventory lists, and keeps it.
    const auto liveTestCopies = testCopiesInProgress(store);
    report.machinesChecked += machines.size();
    const auto replicas = store.read(
        [&](store::Transaction& tx) { return tx.replicasOnCloudHost(status.cloudHostId); });
    std::set<std::string> known;
    for (const auto& replica : replicas) {
      known.insert(replica.id);
      if (replica.state == domain::ReplicaState::kProcessing) continue;  // a task decides it
      auto machine = machines.find(replica.id);
      if (machine == machines.end()) {
        if (replica.state != domain::ReplicaState::kPermanentFailover) {
          report.drift.push_back(
              {"missing_in_backend", status.cloudHostId, replica.id, replica.tenantId,
               "replica " + replica.name + " is " + std::string(domain::toString(replica.state)) +
                   " in the store but the cloud host does not have it"});
        }
        continue;
      }
      const auto power = machine->second.power;
      if ((expectRunning(replica.state) && power != plugin::PowerState::kOn) ||
          (expectOff(replica.state) && power == plugin::PowerState::kOn)) {
        report.drift.push_back(
            {"power_mismatch", status.cloudHostId, replica.id, replica.tenantId,
             "replica " + replica.name + " is " + std::string(domain::toString(replica.state)) +
                 " but its VM is " + (power == plugin::PowerState::kOn ? "on" : "off")});
      }
    }
    for (const auto& [id, machine] : machines) {
      if (machine.kind == plugin::MachineKind::kTestCopy) {
        if (liveTestCopies.contains(id) || !plugin->testIsolation()) continue;
        auto removed = plugin->testIsolation()->deleteTestCopy(
            id, plugin::CallContext::withTimeout(std::chrono::minutes(5)));
        report.drift.push_back({"test_copy_removed", status.cloudHostId, id, machine.tenantId,
                                removed.ok()
                                    ? "a test copy no session owns was removed"
                                    : "a test copy no session owns could not be removed: " +
                                          describe(removed.error())});
        continue;
      }
      if (!known.contains(id)) {
        report.drift.push_back({"unknown_to_store", status.cloudHostId, id, machine.tenantId,
                                "the cloud host has Warmsite machine " + machine.name +
                                    " that the store does not know"});
      }
    }
  }
  for (const auto& drift : report.drift) {
    spdlog::warn("reconcile: {} on cloud host {}: {}", drift.kind, drift.cloudHostId, drift.detail);
  }
  spdlog::info("reconcile: {} machines checked, {} drift item(s)", report.machinesChecked,
               report.drift.size());
  return report;
}

nlohmann::json toJson(const ReconcileReport& report) {
  auto drift = nlohmann::json::array();
  for (const auto& item : report.drift) {
    drift.push_back({{"kind", item.kind},
                     {"cloud_host_id", item.cloudHostId},
                     {"machine_id", item.machineId},
                     {"tenant_id", item.tenantId},
                     {"detail", item.detail}});
  }
  return {{"at", report.atUnix}, {"machines_checked", report.machinesChecked}, {"drift", drift}};
}

}  // namespace warmsite::engine

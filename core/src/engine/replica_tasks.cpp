#include "engine/replica_tasks.h"

#include "engine/plugin_call.h"
#include "security/authenticator.h"

namespace warmsite::engine {

namespace {

// A restore point task's target: "<replica id>/<restore point id>".
std::pair<std::string, std::string> splitTarget(const std::string& target) {
  const auto slash = target.find('/');
  return {target.substr(0, slash), slash == std::string::npos ? "" : target.substr(slash + 1)};
}

struct ReplicaContext {
  domain::Replica replica;
  plugin::ComputeApi* compute = nullptr;
  std::shared_ptr<plugin::CloudHostPlugin> plugin;  // keeps `compute` alive
};

ReplicaContext load(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                    const domain::Task& task, const std::string& replicaId) {
  ReplicaContext context;
  std::string host;
  store.read([&](store::Transaction& tx) {
    auto scope = tx.tenant(task.tenantId);
    auto replica = scope->findReplica(replicaId);
    if (!replica) throw TaskFailed("replica " + replicaId + " no longer exists");
    context.replica = *replica;
    auto subscription = scope->findSubscription(replica->subscriptionId);
    if (!subscription)
      throw TaskFailed("the subscription of replica " + replica->name + " no longer exists");
    host = subscription->cloudHostId;
  });
  context.plugin = cloudHosts.find(host);
  context.compute = context.plugin ? context.plugin->compute() : nullptr;
  if (context.compute == nullptr) throw TaskFailed("cloud host " + host + " is not attached");
  return context;
}

void setState(store::Store& store, const std::string& tenantId, const std::string& replicaId,
              domain::ReplicaState state, const std::string& error) {
  store.write([&](store::Transaction& tx) {
    auto scope = tx.tenant(tenantId);
    auto replica = scope->findReplica(replicaId);
    if (!replica) return;
    replica->state = state;
    replica->error = error;
    scope->updateReplica(*replica);
  });
}

// Runs `work`; a failure puts the replica back in `restoreTo` with the reason, then fails the task.
template <typename Work>
void guardedState(store::Store& store, const domain::Task& task, const std::string& replicaId,
                  domain::ReplicaState restoreTo, Work&& work) {
  try {
    work();
  } catch (const TaskFailed& e) {
    setState(store, task.tenantId, replicaId, restoreTo, e.what());
    throw;
  } catch (const TaskCancelled&) {
    setState(store, task.tenantId, replicaId, restoreTo, "cancelled");
    throw;
  }
}

void createReplica(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                   const replication::ReplicaDataStore& /*data: none of theirs*/,
                   const domain::Task& task, TaskContext& context) {
  auto loaded = load(store, cloudHosts, task, task.targetId);
  try {
    const auto machine = callPlugin(
        "create replica " + loaded.replica.name,
        [&](const plugin::CallContext& ctx) {
          return loaded.compute->createReplica(replicaSpec(loaded.replica), ctx);
        },
        context);
    store.write([&](store::Transaction& tx) {
      auto scope = tx.tenant(task.tenantId);
      auto replica = scope->findReplica(task.targetId).value();
      for (std::size_t i = 0; i < replica.nics.size() && i < machine.nicMacs.size(); ++i) {
        replica.nics[i].mac = machine.nicMacs[i];
      }
      replica.state = domain::ReplicaState::kReady;
      replica.error.clear();
      scope->updateReplica(replica);
    });
  } catch (const std::exception&) {
    // The plugin left nothing behind; neither does the store.
    store.write(
        [&](store::Transaction& tx) { tx.tenant(task.tenantId)->deleteReplica(task.targetId); });
    throw;
  }
}

void deleteReplica(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                   const replication::ReplicaDataStore& data, const domain::Task& task,
                   TaskContext& context) {
  auto loaded = load(store, cloudHosts, task, task.targetId);
  const auto& replica = loaded.replica;
  guardedState(store, task, replica.id, replica.state, [&] {
    if (replica.state != domain::ReplicaState::kPermanentFailover) {
      const auto machine = callPlugin(
          "read " + replica.name,
          [&](const plugin::CallContext& ctx) { return loaded.compute->machine(replica.id, ctx); },
          context);
      if (machine.power != plugin::PowerState::kOff) {
        callPlugin(
            "power off " + replica.name,
            [&](const plugin::CallContext& ctx) {
              return loaded.compute->powerOff(replica.id, {false, {}}, ctx);
            },
            context);
      }
      callPlugin(
          "delete replica " + replica.name,
          [&](const plugin::CallContext& ctx) {
            return loaded.compute->deleteReplica(replica.id, ctx);
          },
          context);
    }
  });
  store.write([&](store::Transaction& tx) { tx.tenant(task.tenantId)->deleteReplica(replica.id); });
  data.removeReplica(task.tenantId, replica.id);
}

void takeRestorePoint(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                      const replication::ReplicaDataStore& /*data: none of theirs*/,
                      const domain::Task& task, TaskContext& context) {
  const auto [replicaId, pointId] = splitTarget(task.targetId);
  auto loaded = load(store, cloudHosts, task, replicaId);
  guardedState(store, task, replicaId, domain::ReplicaState::kReady, [&] {
    const auto point = callPlugin(
        "take a restore point of " + loaded.replica.name,
        [&](const plugin::CallContext& ctx) {
          return loaded.compute->createRestorePoint(replicaId, pointId, "", ctx);
        },
        context);
    store.write([&](store::Transaction& tx) {
      auto scope = tx.tenant(task.tenantId);
      scope->insertRestorePoint(
          {pointId, replicaId, task.tenantId, point.description, security::nowUnix()});
      auto replica = scope->findReplica(replicaId).value();
      replica.state = domain::ReplicaState::kReady;
      replica.error.clear();
      scope->updateReplica(replica);
    });
  });
}

void deleteRestorePoint(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                        const replication::ReplicaDataStore& data, const domain::Task& task,
                        TaskContext& context) {
  const auto [replicaId, pointId] = splitTarget(task.targetId);
  auto loaded = load(store, cloudHosts, task, replicaId);
  const bool replicated = store.read([&](store::Transaction& tx) {
    for (const auto& point : tx.tenant(task.tenantId)->restorePoints(replicaId))
      if (point.id == pointId) return point.origin == "replication";
    return false;
  });
  guardedState(store, task, replicaId, domain::ReplicaState::kReady, [&] {
    if (replicated) {  // a snapshot of the replica's data, not of the VM on the cloud host
      data.deleteRestorePoint(task.tenantId, replicaId, pointId);
      return;
    }
    callPlugin(
        "delete restore point " + pointId,
        [&](const plugin::CallContext& ctx) {
          return loaded.compute->deleteRestorePoint(replicaId, pointId, ctx);
        },
        context);
  });
  store.write([&](store::Transaction& tx) {
    auto scope = tx.tenant(task.tenantId);
    scope->deleteRestorePoint(replicaId, pointId);
    auto replica = scope->findReplica(replicaId).value();
    replica.state = domain::ReplicaState::kReady;
    scope->updateReplica(replica);
  });
}

}  // namespace

plugin::ReplicaSpec replicaSpec(const domain::Replica& replica) {
  plugin::ReplicaSpec spec;
  spec.replicaId = replica.id;
  spec.subscriptionId = replica.subscriptionId;
  spec.tenantId = replica.tenantId;
  spec.name = replica.name;
  spec.vcpus = replica.vcpus;
  spec.cpuMhz = replica.cpuMhz;
  spec.memoryMb = replica.memoryMb;
  for (const auto& disk : replica.disks)
    spec.disks.push_back({disk.diskId, disk.storage, disk.sizeGb});
  for (const auto& nic : replica.nics) spec.nics.push_back({nic.nicId, nic.networkId, nic.mac});
  return spec;
}

void registerReplicaTasks(TaskEngine& engine, store::Store& store,
                          plugins::CloudHostRegistry& cloudHosts,
                          const replication::ReplicaDataStore& data) {
  for (const auto& [kind, run] : std::initializer_list<
           std::pair<const char*, void (*)(store::Store&, plugins::CloudHostRegistry&,
                                           const replication::ReplicaDataStore&,
                                           const domain::Task&, TaskContext&)>>{
           {kCreateReplica, &createReplica},
           {kDeleteReplica, &deleteReplica},
           {kTakeRestorePoint, &takeRestorePoint},
           {kDeleteRestorePoint, &deleteRestorePoint}}) {
    engine.registerKind(kind, [&store, &cloudHosts, &data, run = run](const domain::Task& task,
                                                                      TaskContext& context) {
      run(store, cloudHosts, data, task, context);
    });
  }
}

}  // namespace warmsite::engine

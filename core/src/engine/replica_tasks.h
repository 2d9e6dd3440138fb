#pragma once
// The tasks that carry a replica's lifecycle out on its cloud host:
//   create_replica          the powered-off VM; its MACs recorded; ready. A failure removes it.
//   delete_replica          the VM, its restore points and its replicated data (a permanently
//                           failed-over replica is only forgotten: it is the production VM now).
//   take_restore_point      a snapshot, recorded as a restore point.
//   delete_restore_point    the snapshot (on the cloud host, or of the replicated data) and its
//                           record.

#include "engine/task_engine.h"
#include "plugins/cloud_host_registry.h"
#include "replication/replica_data.h"

namespace warmsite::engine {

inline constexpr const char* kCreateReplica = "create_replica";
inline constexpr const char* kDeleteReplica = "delete_replica";
inline constexpr const char* kTakeRestorePoint = "take_restore_point";
inline constexpr const char* kDeleteRestorePoint = "delete_restore_point";

void registerReplicaTasks(TaskEngine& engine, store::Store& store,
                          plugins::CloudHostRegistry& cloudHosts,
                          const replication::ReplicaDataStore& data);

plugin::ReplicaSpec replicaSpec(const domain::Replica& replica);

}  // namespace warmsite::engine

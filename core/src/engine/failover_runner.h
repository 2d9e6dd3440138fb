#pragma once
// Runs failover sessions: full and partial failover, test failover, undo, permanent failover,
// failback. A session is created by the API with its VMs in boot order and one task; this runner is
// that task. Every VM step is journalled in the session before and after its plugin call; a VM the
// journal shows in flight when the daemon stopped is read from the backend before its next step,
// so a session resumed after a crash finishes without starting a VM twice or leaving a test copy
// behind.

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "engine/plugin_call.h"
#include "engine/task_engine.h"
#include "plugins/cloud_host_registry.h"
#include "replication/disk_image.h"
#include "replication/replica_data.h"
#include "store/store.h"

namespace warmsite::engine {

inline constexpr const char* kFailoverSession = "failover_session";

struct FailoverOptions {
  int vmWorkers = 64;  // the global pool of VM steps, shared by every session
  RetryPolicy
      retry;  // per plugin call: transient errors retried; callTimeout is the per-VM deadline
  std::uint32_t undoBatchSize =
      5;  // undo works in batches (Veeam Cloud Connect: 5 VMs, 10 s apart)
  std::chrono::milliseconds undoBatchPause{10'000};
  std::chrono::milliseconds gracefulShutdown{120'000};
};

class FailoverRunner {
 public:
  FailoverRunner(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                 const replication::ReplicaDataStore& data, FailoverOptions options);
  ~FailoverRunner();

  void registerWith(TaskEngine& engine);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// What the request that creates a session read and wrote for it, handed to the session's runner
// when its task starts at once (TaskAdmission::handOver): the run begins without reading it back.
struct SessionStart {
  domain::FailoverSession session;           // as inserted
  std::optional<domain::FailoverPlan> plan;  // with the state the session gave it
  std::vector<domain::Replica> replicas;     // the session's VMs' replicas
};

// For a failover about to start at once (its task admitted in the transaction that creates the
// session): marks the VMs its runner starts first as started, so their start record is the
// session's own row and the run begins with plugin calls instead of a write. A failover with a
// pre-script (it runs before any VM) and the other kinds are left as they are.
void journalFirstWave(domain::FailoverSession& session,
                      const std::optional<domain::FailoverPlan>& plan);

// The isolated network (bubble) of a test session's copies on each cloud host.
std::string bubbleId(const domain::FailoverSession& session);
// The machine id of the copy a test session boots of one of its replicas. Reconcile recognises a
// live session's copies by it: the whole id, since its session part (the session's start time)
// alone may be another session's too.
std::string testCopyId(const domain::FailoverSession& session, const std::string& replicaId);

// The edge rules a tenant should have on a cloud host now: the public-IP rules of plan members that
// are failed over (or permanently), and outbound NAT for its internet networks with a known subnet.
plugin::TenantEdgeSpec desiredEdge(store::Transaction& tx, const std::string& tenantId,
                                   const std::string& cloudHostId);

}  // namespace warmsite::engine

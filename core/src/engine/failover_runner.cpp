#include "engine/failover_runner.h"

#include "domain/ids.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <set>

#include "domain/replica_states.h"
#include "engine/script_runner.h"
#include "engine/session_journal.h"
#include "security/authenticator.h"

namespace warmsite::engine {

using domain::ReplicaState;
using domain::SessionKind;
using domain::SessionVm;
using domain::SessionVmState;

namespace {

constexpr const char* kPreScriptMarker = "== pre-failover script ==\n";
constexpr const char* kFailoverFirstStep = "revert";
constexpr const char* kPostScriptMarker = "== post-failover script ==\n";

std::uint32_t bootDelayOf(const std::optional<domain::FailoverPlan>& plan,
                          const std::string& replicaId) {
  if (!plan) return 0;
  for (const auto& member : plan->members) {
    if (member.replicaId == replicaId) return member.bootDelaySeconds;
  }
  return 0;
}

// How many of `vms`, from `first`, start together: at most `free`, and with boot delays, none after
// a VM that has one (the next waits for it).
std::size_t waveSize(const std::vector<SessionVm>& vms, std::size_t first, std::size_t free,
                     bool bootDelays, const std::optional<domain::FailoverPlan>& plan) {
  std::size_t size = 0;
  while (first + size < vms.size() && size < free) {
    ++size;
    if (bootDelays && bootDelayOf(plan, vms[first + size - 1].replicaId) > 0) break;
  }
  return size;
}

// Everything one session run works on. `mutex` guards `session.vms` and `errors`.
struct SessionRun {
  domain::FailoverSession session;
  std::optional<domain::FailoverPlan> plan;
  std::map<std::string, domain::Replica> replicas;
  std::map<std::string, std::string> cloudHostOf;  // subscription id -> cloud host id
  // VMs a stopped daemon left in flight: their backend may be ahead of the journal.
  std::set<std::string> interrupted;
  // Replicas with replicated disk files, looked up once when a failover starts instead of once per
  // VM: files attached to a VM existed before this session (a failover attached them) and go only
  // with their replica, so a replica without files then has none attached.
  std::set<std::string> withReplicatedData;
  std::mutex mutex;
  std::vector<std::string> errors;
  // VMs' end records still being committed: the next VM need not wait for them, the session does.
  std::vector<SessionJournal::Outcome> endRecords;

  const domain::Replica& replica(const std::string& id) const { return replicas.at(id); }
};

bool finished(const SessionVm& vm) {
  return vm.state == SessionVmState::kDone || vm.state == SessionVmState::kFailed ||
         vm.state == SessionVmState::kSkipped;
}

// Data files as the plugin ABI names them: each file is named after its disk id.
std::vector<plugin::DiskData> diskDataOf(const std::vector<std::filesystem::path>& files) {
  std::vector<plugin::DiskData> disks;
  for (const auto& file : files) {
    disks.push_back({file.stem().string(), std::filesystem::absolute(file).string()});
  }
  return disks;
}

}  // namespace

plugin::TenantEdgeSpec desiredEdge(store::Transaction& tx, const std::string& tenantId,
                                   const std::string& cloudHostId) {
  plugin::TenantEdgeSpec spec{tenantId, {}, {}};
  auto scope = tx.tenant(tenantId);
  std::map<std::string, domain::Subscription> subscriptions;
  for (auto& subscription : scope->subscriptions()) {
    if (subscription.cloudHostId == cloudHostId)
      subscriptions.emplace(subscription.id, subscription);
  }
  std::set<std::string> published;  // failed over, on this cloud host
  for (const auto& replica : scope->replicasWithoutDevices()) {
    if (subscriptions.contains(replica.subscriptionId) &&
        (replica.state == ReplicaState::kFailover ||
         replica.state == ReplicaState::kPermanentFailover)) {
      published.insert(replica.id);
    }
  }
  for (const auto& plan : scope->failoverPlans()) {
    // Rules go live with a plan's failover (during it too, once its VMs are up), never partially.
    if (plan.state == domain::FailoverPlanState::kReady) continue;
    for (const auto& member : plan.members) {
      if (!published.contains(member.replicaId)) continue;
      for (const auto& rule : member.publicIpRules) {
        spec.mappings.push_back(
            {rule.id, rule.publicIp, rule.publicPort,
             rule.protocol == "udp" ? plugin::Protocol::kUdp : plugin::Protocol::kTcp,
             rule.targetIp, rule.targetPort});
      }
    }
  }
  const auto subnets = scope->networkSubnets();
  for (const auto& [id, subscription] : subscriptions) {
    if (subscription.publicIps.empty()) continue;
    for (const auto& network : subscription.networks) {
      auto subnet = subnets.find(network.networkId);
      if (network.internet && subnet != subnets.end() && !subnet->second.empty()) {
        spec.outboundNat.push_back(
            {network.networkId, subnet->second, subscription.publicIps.front()});
      }
    }
  }
  return spec;
}

std::string bubbleId(const domain::FailoverSession& session) {
  return "bubble-" + session.id;
}

std::string testCopyId(const domain::FailoverSession& session, const std::string& replicaId) {
  return "test-" + session.id.substr(session.id.find('-') + 1, 12) + "-" + replicaId;
}

void journalFirstWave(domain::FailoverSession& session,
                      const std::optional<domain::FailoverPlan>& plan) {
  if (session.kind != SessionKind::kFailover && session.kind != SessionKind::kPartialFailover)
    return;
  if (plan && !plan->preScript.command.empty()) return;  // the script runs before any VM
  const auto size = waveSize(session.vms, 0,
                             std::max<std::uint32_t>(plan ? plan->parallelism : 1, 1), true, plan);
  const auto now = security::nowUnix();
  for (std::size_t i = 0; i < size; ++i) {
    auto& vm = session.vms[i];
    vm.state = SessionVmState::kRunning;
    vm.step = kFailoverFirstStep;
    vm.startedUnix = now;
  }
}

struct FailoverRunner::Impl {
  Impl(store::Store& s, plugins::CloudHostRegistry& r, const replication::ReplicaDataStore& d,
       FailoverOptions o)
      : store(s),
        cloudHosts(r),
        data(d),
        options(std::move(o)),
        pool(static_cast<std::size_t>(options.vmWorkers)) {}

  void run(const domain::Task& task, TaskContext& context);

  // A replicated restore point lives in the replica's data files, not on the cloud host: the data
  // goes back to it (failover) or drops what changed since (undo). A failure fails the VM.
  void bootReplicatedData(const domain::Replica& replica, const std::string& pointId) {
    try {
      data.bootFrom(replica.tenantId, replica.id, pointId);
    } catch (const replication::ImageError& e) {
      throw TaskFailed("cannot boot restore point " + pointId + ": " + e.what());
    }
  }
  // The replica's data files, one per replicated disk, as the cloud host should boot them.
  std::vector<plugin::DiskData> replicatedDisks(const domain::Replica& replica) const {
    return diskDataOf(data.diskFiles(replica.tenantId, replica.id));
  }
  // Copies of the replica's data at the point, which its test copy boots: the replica's own
  // files stay as they are.
  std::vector<plugin::DiskData> testDataCopies(const SessionRun& run,
                                               const domain::Replica& replica,
                                               const std::string& pointId) const {
    try {
      return diskDataOf(data.copyForTest(replica.tenantId, replica.id, pointId, run.session.id));
    } catch (const replication::ImageError& e) {
      throw TaskFailed("cannot copy restore point " + pointId + " for the test: " + e.what());
    }
  }
  // Plugins built before ABI 1.1 have no useDiskData: calling it would leave their vtable.
  void requireDiskData(const SessionRun& run, const domain::Replica& replica) const {
    const auto& host = run.cloudHostOf.at(replica.subscriptionId);
    if (cloudHosts.abiMinor(host) < 1) {
      throw TaskFailed("the plugin of cloud host " + host +
                       " predates plugin ABI 1.1 and cannot boot replicated data");
    }
  }
  void discardReplicatedChanges(const domain::Replica& replica, const std::string& pointId) {
    try {
      data.discardChangesSince(replica.tenantId, replica.id, pointId);
    } catch (const replication::ImageError& e) {
      throw TaskFailed("cannot revert to restore point " + pointId + ": " + e.what());
    }
  }

  // `resumed`: the task ran before a restart (TaskContext::resumed).
  void load(const std::string& sessionId, bool resumed, SessionRun& run);
  // What the session's request handed over; only the replicas' cloud hosts are read.
  void adopt(SessionStart&& start, SessionRun& run);
  std::shared_ptr<plugin::CloudHostPlugin> pluginFor(const SessionRun& run,
                                                     const domain::Replica& replica);
  plugin::ComputeApi& computeFor(const SessionRun& run, const domain::Replica& replica);

  // Marks the VMs started (with `firstStep`, when given) and journals them in one transaction,
  // before their first plugin call. Returns once committed: only the VMs whose start is durable
  // may run; the error of the others, if any, stops their schedule.
  SessionJournal::Written journalStarts(SessionRun& run, std::vector<SessionVm> vms,
                                        const std::string& firstStep);
  // Keeps `vm` as the run's view of it (what finish() and the next steps read).
  void remember(SessionRun& run, const SessionVm& vm);
  // Progress inside a started VM (its next step, a retry): recorded without waiting, since a resume
  // never relies on a started VM's step (it reads the backend, or cleans a test failover up).
  void progress(SessionRun& run, const SessionVm& vm);
  // Waits until the VMs' end records are committed (before anything else writes their replicas).
  void awaitEndRecords(SessionRun& run);
  // Runs `step` for one VM whose start is journalled, journalling it as done or failed after, the
  // replica put in `onSuccess` or `onFailure`. Returns once the end record is submitted, not
  // committed: its slot frees for the next VM, whose start record then shares its transaction.
  void runVm(SessionRun& run, SessionVm vm, ReplicaState onSuccess, ReplicaState onFailure,
             const std::function<void(SessionVm&)>& step);
  // Runs `job` for the unfinished VMs in boot order: at most `parallelism` at once, and with boot
  // delays, VM n+1 not before VM n's delay passed since it started. The VMs that may start at the
  // same moment (free slots, no delay between them) are journalled as started together.
  void schedule(SessionRun& run, TaskContext& context, std::uint32_t parallelism, bool bootDelays,
                const std::function<void(const SessionVm&)>& job,
                const std::string& firstStep = {});
  // Runs `job` for the unfinished VMs in batches, pausing between batches (undo).
  void inBatches(SessionRun& run, TaskContext& context,
                 const std::function<void(const SessionVm&)>& job);

  template <typename Call>
  auto call(const std::string& what, SessionRun& run, SessionVm& vm, TaskContext& context,
            Call&& plugin) {
    return callPlugin(what, plugin, context, options.retry, [&](int attempt) {
      if (attempt == 1) return;
      ++vm.attempts;  // a retry is journalled, so the session shows it
      progress(run, vm);
    });
  }

  void failover(SessionRun& run, TaskContext& context);
  void testFailover(SessionRun& run, TaskContext& context);
  void cleanUpTest(SessionRun& run, TaskContext& context);
  void undo(SessionRun& run, TaskContext& context);
  void permanent(SessionRun& run, TaskContext& context);
  void failback(SessionRun& run, TaskContext& context);
  void applyEdges(SessionRun& run, TaskContext& context);
  bool runScript(SessionRun& run, const domain::PlanScript& script, const char* marker);
  // Settles the session's outcome; it commits with the task's end.
  void finish(SessionRun& run, bool cancelled, TaskContext& context);

  store::Store& store;
  plugins::CloudHostRegistry& cloudHosts;
  const replication::ReplicaDataStore& data;
  FailoverOptions options;
  SessionJournal journalWriter{store};
  boost::asio::thread_pool pool;
  // Jobs posted to `pool` that no worker has begun yet: they wait for a worker, or one is taking
  // them.
  std::atomic<std::size_t> waiting{0};

  // Runs `job` on the pool once the jobs posted before it have begun.
  void post(std::function<void()> job) {
    waiting.fetch_add(1, std::memory_order_relaxed);
    try {
      boost::asio::post(pool, [this, job = std::move(job)] {
        waiting.fetch_sub(1, std::memory_order_relaxed);
        job();
      });
    } catch (...) {
      waiting.fetch_sub(1, std::memory_order_relaxed);
      throw;
    }
  }
};

namespace {

void readCloudHosts(store::TenantScope& scope, SessionRun& run) {
  for (const auto& subscription : scope.subscriptions())
    run.cloudHostOf[subscription.id] = subscription.cloudHostId;
}

}  // namespace

void FailoverRunner::Impl::load(const std::string& sessionId, bool resumed, SessionRun& run) {
  store.read([&](store::Transaction& tx) {
    auto session = tx.findAnySession(sessionId);
    if (!session) throw TaskFailed("session " + sessionId + " no longer exists");
    run.session = *session;
    auto scope = tx.tenant(session->tenantId);
    if (!session->planId.empty()) run.plan = scope->findFailoverPlan(session->planId);
    std::map<std::string, domain::Replica> replicas;
    // Only a test failover's bubble needs the replicas' NICs: the other sessions skip decoding
    // every device list.
    for (auto& replica : session->kind == SessionKind::kTestFailover
                             ? scope->replicas()
                             : scope->replicasWithoutDevices()) {
      const auto id = replica.id;
      replicas.emplace(id, std::move(replica));
    }
    for (const auto& vm : session->vms) {
      auto replica = replicas.find(vm.replicaId);
      if (replica == replicas.end())
        throw TaskFailed("replica " + vm.replicaId + " no longer exists");
      run.replicas.emplace(replica->first, replica->second);
      // Not resumed, a running VM was journalled as started by the request (journalFirstWave) and
      // has not called its plugin yet.
      if (vm.state == SessionVmState::kRunning && resumed) run.interrupted.insert(vm.replicaId);
    }
    readCloudHosts(*scope, run);
  });
}

void FailoverRunner::Impl::adopt(SessionStart&& start, SessionRun& run) {
  run.session = std::move(start.session);
  run.plan = std::move(start.plan);
  for (auto& replica : start.replicas) {
    const auto id = replica.id;
    run.replicas.emplace(id, std::move(replica));
  }
  store.read(
      [&](store::Transaction& tx) { readCloudHosts(*tx.tenant(run.session.tenantId), run); });
}

std::shared_ptr<plugin::CloudHostPlugin> FailoverRunner::Impl::pluginFor(
    const SessionRun& run, const domain::Replica& replica) {
  const auto host = run.cloudHostOf.at(replica.subscriptionId);
  auto plugin = cloudHosts.find(host);
  if (!plugin)
    throw TaskFailed("cloud host " + host + " of replica " + replica.name + " is not attached");
  return plugin;
}

plugin::ComputeApi& FailoverRunner::Impl::computeFor(const SessionRun& run,
                                                     const domain::Replica& replica) {
  auto* compute = pluginFor(run, replica)->compute();
  if (compute == nullptr)
    throw TaskFailed("the cloud host of replica " + replica.name + " offers no compute");
  return *compute;
}

SessionJournal::Written FailoverRunner::Impl::journalStarts(SessionRun& run,
                                                            std::vector<SessionVm> vms,
                                                            const std::string& firstStep) {
  for (auto& vm : vms) {
    vm.state = SessionVmState::kRunning;
    if (!firstStep.empty()) vm.step = firstStep;
    if (!vm.startedUnix) vm.startedUnix = security::nowUnix();
  }
  auto written = journalWriter.recordAll(run.session.tenantId, run.session.id, vms);
  for (const auto& vm : written.durable) remember(run, vm);
  return written;
}

void FailoverRunner::Impl::remember(SessionRun& run, const SessionVm& vm) {
  std::lock_guard lock(run.mutex);
  for (auto& entry : run.session.vms) {
    if (entry.replicaId == vm.replicaId) entry = vm;
  }
}

void FailoverRunner::Impl::progress(SessionRun& run, const SessionVm& vm) {
  journalWriter.note(run.session.tenantId, run.session.id, vm);
  remember(run, vm);
}

void FailoverRunner::Impl::runVm(SessionRun& run, SessionVm vm, ReplicaState onSuccess,
                                 ReplicaState onFailure,
                                 const std::function<void(SessionVm&)>& step) {
  std::optional<ReplicaState> outcome;
  try {
    step(vm);
    vm.state = SessionVmState::kDone;
    vm.error.clear();
    outcome = onSuccess;
  } catch (const TaskCancelled&) {
    vm.state = SessionVmState::kSkipped;
    vm.error = "cancelled";
    outcome = vm.step.empty() ? std::nullopt : std::optional<ReplicaState>(onFailure);
  } catch (const std::exception& e) {
    vm.state = SessionVmState::kFailed;
    vm.error = e.what();
    outcome = onFailure;
    std::lock_guard lock(run.mutex);
    run.errors.push_back(run.replica(vm.replicaId).name + ": " + e.what());
  }
  vm.finishedUnix = security::nowUnix();
  auto committed =
      journalWriter.submit(run.session.tenantId, run.session.id, vm, outcome,
                           vm.state == SessionVmState::kDone ? std::string() : vm.error);
  remember(run, vm);
  std::lock_guard lock(run.mutex);
  run.endRecords.push_back(std::move(committed));
}

void FailoverRunner::Impl::awaitEndRecords(SessionRun& run) {
  std::vector<SessionJournal::Outcome> records;
  {
    std::lock_guard lock(run.mutex);
    records.swap(run.endRecords);
  }
  // Logged once, with the count: a failed piece fails every record in it.
  std::size_t lost = 0;
  std::string error;
  for (const auto& record : records) {
    try {
      record.wait();
    } catch (const std::exception& e) {
      ++lost;
      error = e.what();
    }
  }
  if (lost > 0) {
    spdlog::error("session {}: {} VM end record(s) not journalled: {}", run.session.id, lost,
                  error);
  }
}

void FailoverRunner::Impl::schedule(SessionRun& run, TaskContext& context,
                                    std::uint32_t parallelism, bool bootDelays,
                                    const std::function<void(const SessionVm&)>& job,
                                    const std::string& firstStep) {
  const std::uint32_t limit = std::max<std::uint32_t>(parallelism, 1);
  // Shared by this thread and the VMs' pool threads, under `mutex`. A pool thread whose VM ended
  // starts the next VM itself when nothing holds it back (a boot delay not yet passed, a cancel,
  // a start that could not be journalled): that saves waking this thread and another pool thread
  // for every VM. Otherwise it hands its slot back, and this thread starts the next wave once the
  // delay passed, or stops the schedule.
  std::mutex mutex;
  std::condition_variable changed;
  std::uint32_t active = 0;
  std::size_t next = 0;        // pending[next] is the next VM to start
  std::exception_ptr stopped;  // cancelled, or a start could not be journalled
  std::optional<std::chrono::steady_clock::time_point> nextStartAllowed;
  std::vector<SessionVm> pending;
  {
    std::lock_guard lock(run.mutex);
    for (const auto& vm : run.session.vms) {
      if (!finished(vm)) pending.push_back(vm);
    }
  }
  // Counts `wave` as started now; with `mutex` held.
  const auto started = [&](const std::vector<SessionVm>& wave) {
    active += static_cast<std::uint32_t>(wave.size());
    if (bootDelays && !wave.empty()) {
      nextStartAllowed = std::chrono::steady_clock::now() +
                         std::chrono::seconds(bootDelayOf(run.plan, wave.back().replicaId));
    }
  };
  // Takes the VMs that may start now in `free` slots; with `mutex` held.
  const auto claim = [&](std::uint32_t free) {
    const auto size = waveSize(pending, next, free, bootDelays, run.plan);
    std::vector<SessionVm> wave(pending.begin() + static_cast<std::ptrdiff_t>(next),
                                pending.begin() + static_cast<std::ptrdiff_t>(next + size));
    next += size;
    started(wave);
    return wave;
  };
  // Journals a claimed wave's start and returns the VMs whose start is durable; the others give
  // their slots back and stop the schedule.
  const auto journal = [&](std::vector<SessionVm> wave) {
    const auto count = wave.size();
    SessionJournal::Written written;
    try {
      written = journalStarts(run, std::move(wave), firstStep);
    } catch (...) {  // none written (no memory for the records)
      written = {{}, std::current_exception()};
    }
    if (written.error) {
      std::lock_guard lock(mutex);
      active -= static_cast<std::uint32_t>(count - written.durable.size());
      if (!stopped) stopped = written.error;
      changed.notify_one();
    }
    return std::move(written.durable);
  };
  std::function<void(SessionVm)> runFrom;
  const auto launch = [&](const std::vector<SessionVm>& wave) {
    for (const auto& vm : wave) post([&runFrom, vm] { runFrom(vm); });
  };
  // Runs `vm`, then the session's next VMs while it may. It touches nothing of schedule()'s once
  // the slots it holds are given back (lock released) or handed to posted jobs (last post done):
  // schedule() may have returned.
  runFrom = [&](SessionVm vm) {
    while (true) {
      job(vm);
      std::vector<SessionVm> wave;
      {
        std::lock_guard lock(mutex);
        --active;
        if (!stopped && next < pending.size() && active < limit && !context.cancelled() &&
            (!nextStartAllowed || std::chrono::steady_clock::now() >= *nextStartAllowed)) {
          wave = claim(limit - active);
        }
        if (wave.empty()) {
          // Once every VM started, only the last one to end wakes the scheduler.
          if (next < pending.size() || stopped || active == 0) changed.notify_one();
          return;
        }
      }
      wave = journal(std::move(wave));
      if (wave.empty()) return;
      // Jobs wait for a worker (the pool is full): these VMs go behind them, so that one
      // session's chain does not keep workers from the others. VMs with no boot delay between
      // them start as one wave, in no set order among themselves.
      if (waiting.load(std::memory_order_relaxed) > 0) {
        launch(wave);
        return;
      }
      launch({wave.begin() + 1, wave.end()});
      vm = wave.front();
    }
  };
  // The VMs journalled as started with the session go at once: their start record is durable.
  while (next < pending.size() && pending[next].state == SessionVmState::kRunning &&
         !run.interrupted.contains(pending[next].replicaId)) {
    ++next;
  }
  std::vector<SessionVm> journalledWithTheSession(
      pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(next));
  if (!journalledWithTheSession.empty() && context.cancelled()) {
    // Cancelled before they started: back to pending, their replicas untouched.
    for (auto& vm : journalledWithTheSession) {
      vm.state = SessionVmState::kPending;
      vm.step.clear();
      vm.startedUnix.reset();
    }
    const auto written =
        journalWriter.recordAll(run.session.tenantId, run.session.id, journalledWithTheSession);
    for (const auto& vm : written.durable) remember(run, vm);
    if (written.error) std::rethrow_exception(written.error);
    throw TaskCancelled();
  }
  std::unique_lock lock(mutex);
  started(journalledWithTheSession);
  launch(journalledWithTheSession);
  while (true) {
    changed.wait(lock, [&] { return stopped || next >= pending.size() || active < limit; });
    if (stopped || next >= pending.size()) break;
    // A slot is free and VMs wait: none was started with the session, a boot delay holds them,
    // or a pool thread saw a cancel.
    const auto allowed = nextStartAllowed;
    lock.unlock();
    try {
      if (allowed) {
        context.sleepFor(std::chrono::ceil<std::chrono::milliseconds>(
            std::max(std::chrono::steady_clock::duration::zero(),
                     *allowed - std::chrono::steady_clock::now())));
      }
      context.throwIfCancelled();
    } catch (...) {
      lock.lock();
      if (!stopped) stopped = std::current_exception();
      break;
    }
    lock.lock();
    // A pool thread may have started VMs meanwhile, with a boot delay of their own.
    if (stopped || next >= pending.size() || active >= limit ||
        (nextStartAllowed && std::chrono::steady_clock::now() < *nextStartAllowed)) {
      continue;
    }
    auto wave = claim(limit - active);
    lock.unlock();
    launch(journal(std::move(wave)));
    lock.lock();
  }
  changed.wait(lock, [&] { return active == 0; });
  lock.unlock();
  awaitEndRecords(run);
  if (stopped) std::rethrow_exception(stopped);
}

void FailoverRunner::Impl::inBatches(SessionRun& run, TaskContext& context,
                                     const std::function<void(const SessionVm&)>& job) {
  std::vector<SessionVm> pending;
  {
    std::lock_guard lock(run.mutex);
    for (const auto& vm : run.session.vms) {
      if (!finished(vm)) pending.push_back(vm);
    }
  }
  const std::size_t batch = std::max<std::uint32_t>(options.undoBatchSize, 1);
  for (std::size_t start = 0; start < pending.size(); start += batch) {
    if (start > 0) context.sleepFor(options.undoBatchPause);
    const auto first = pending.begin() + static_cast<std::ptrdiff_t>(start);
    const auto last = first + static_cast<std::ptrdiff_t>(std::min(batch, pending.size() - start));
    const auto started = journalStarts(run, {first, last}, {});
    std::mutex mutex;
    std::condition_variable done;
    std::size_t left = started.durable.size();
    for (const auto& vm : started.durable) {
      post([&, vm] {
        job(vm);
        std::lock_guard lock(mutex);
        --left;
        done.notify_all();
      });
    }
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return left == 0; });
    lock.unlock();
    if (started.error) {
      awaitEndRecords(run);
      std::rethrow_exception(started.error);
    }
  }
  awaitEndRecords(run);
}

void FailoverRunner::Impl::failover(SessionRun& run, TaskContext& context) {
  const bool full = run.session.kind == SessionKind::kFailover;
  if (full && run.plan && !runScript(run, run.plan->preScript, kPreScriptMarker)) return;
  const auto parallelism = run.plan ? run.plan->parallelism : 1;
  std::vector<std::string> replicaIds;
  for (const auto& [id, replica] : run.replicas) replicaIds.push_back(id);
  run.withReplicatedData = data.replicasWithData(run.session.tenantId, replicaIds);
  schedule(
      run, context, parallelism, true,
      [&](const SessionVm& scheduled) {
        runVm(run, scheduled, ReplicaState::kFailover, ReplicaState::kFailoverFailed,
              [&](SessionVm& vm) {
                const auto& replica = run.replica(vm.replicaId);
                auto& compute = computeFor(run, replica);
                // Only a VM in flight when the daemon stopped may be up already; the others are
                // read by the calls themselves (a VM someone else started refuses the revert).
                if (run.interrupted.contains(vm.replicaId)) {
                  const auto machine = call("read " + replica.name, run, vm, context,
                                            [&](const plugin::CallContext& ctx) {
                                              return compute.machine(replica.id, ctx);
                                            });
                  if (machine.power == plugin::PowerState::kOn) return;
                }
                if (vm.restorePointId.empty()) throw TaskFailed("no restore point to boot");
                if (domain::isReplicatedRestorePoint(vm.restorePointId)) {
                  requireDiskData(run, replica);
                  bootReplicatedData(replica, vm.restorePointId);
                  const auto disks = replicatedDisks(replica);
                  call("boot " + replica.name + " from its replicated data", run, vm, context,
                       [&](const plugin::CallContext& ctx) {
                         return compute.useDiskData(replica.id, disks, ctx);
                       });
                } else {
                  // A point of the host's own: its volumes boot, not data files an earlier failover
                  // to a replicated point attached.
                  if (run.withReplicatedData.contains(replica.id) &&
                      cloudHosts.abiMinor(run.cloudHostOf.at(replica.subscriptionId)) >= 1) {
                    call("boot " + replica.name + " from its own volumes", run, vm, context,
                         [&](const plugin::CallContext& ctx) -> plugin::Status {
                           auto detached = compute.useDiskData(replica.id, {}, ctx);
                           // A host that cannot attach data files has none attached.
                           if (!detached.ok() &&
                               detached.error().code == plugin::ErrorCode::kUnimplemented)
                             return {};
                           return detached;
                         });
                  }
                  call("revert " + replica.name + " to " + vm.restorePointId, run, vm, context,
                       [&](const plugin::CallContext& ctx) {
                         return compute.revertToRestorePoint(replica.id, vm.restorePointId, ctx);
                       });
                }
                vm.step = "power_on";
                progress(run, vm);
                call("power on " + replica.name, run, vm, context,
                     [&](const plugin::CallContext& ctx) {
                       return compute.powerOn(replica.id, ctx);
                     });
              });
      },
      kFailoverFirstStep);
  if (full) {
    applyEdges(run, context);
    if (run.plan) runScript(run, run.plan->postScript, kPostScriptMarker);
  }
}

void FailoverRunner::Impl::testFailover(SessionRun& run, TaskContext& context) {
  // A test session that was interrupted (a restart) is not resumed: its copies are cleaned up.
  if (context.resumed()) {
    run.errors.push_back("interrupted by a restart; the test copies were cleaned up");
    cleanUpTest(run, context);
    return;
  }
  try {
    // One bubble per cloud host, mirroring the networks its replicas use there.
    std::map<std::string, std::vector<std::string>> networksByHost;
    for (const auto& [id, replica] : run.replicas) {
      auto& networks = networksByHost[run.cloudHostOf.at(replica.subscriptionId)];
      for (const auto& nic : replica.nics) {
        if (std::find(networks.begin(), networks.end(), nic.networkId) == networks.end())
          networks.push_back(nic.networkId);
      }
    }
    for (const auto& [host, networks] : networksByHost) {
      auto plugin = cloudHosts.find(host);
      auto* isolation = plugin ? plugin->testIsolation() : nullptr;
      if (isolation == nullptr)
        throw TaskFailed("cloud host " + host + " offers no test isolation");
      const plugin::BubbleSpec bubble{bubbleId(run.session), run.session.tenantId, networks};
      callPlugin(
          "create the isolated network",
          [&](const plugin::CallContext& ctx) { return isolation->createBubble(bubble, ctx); },
          context, options.retry);
    }
    schedule(run, context, run.plan ? run.plan->parallelism : 1, true,
             [&](const SessionVm& scheduled) {
               runVm(run, scheduled, ReplicaState::kTest, ReplicaState::kReady, [&](SessionVm& vm) {
                 const auto& replica = run.replica(vm.replicaId);
                 auto plugin = pluginFor(run, replica);
                 auto& compute = computeFor(run, replica);
                 const auto copyId = testCopyId(run.session, replica.id);
                 vm.step = "copy";
                 progress(run, vm);
                 call("copy " + replica.name + " into the bubble", run, vm, context,
                      [&](const plugin::CallContext& ctx) {
                        // A replicated point is not one of the host's snapshots: the copy is
                        // made of the host's latest, then boots the point's data (below).
                        const auto point = domain::isReplicatedRestorePoint(vm.restorePointId)
                                               ? std::string()
                                               : vm.restorePointId;
                        return plugin->testIsolation()->createTestCopy(
                            {copyId, replica.id, point, bubbleId(run.session)}, ctx);
                      });
                 if (domain::isReplicatedRestorePoint(vm.restorePointId)) {
                   requireDiskData(run, replica);
                   const auto disks = testDataCopies(run, replica, vm.restorePointId);
                   call("boot the test copy of " + replica.name + " from its restore point's data",
                        run, vm, context, [&](const plugin::CallContext& ctx) {
                          return compute.useDiskData(copyId, disks, ctx);
                        });
                 }
                 vm.step = "power_on";
                 progress(run, vm);
                 call("power on the test copy of " + replica.name, run, vm, context,
                      [&](const plugin::CallContext& ctx) { return compute.powerOn(copyId, ctx); });
               });
             });
    context.sleepFor(std::chrono::seconds(run.session.testDurationSeconds));
  } catch (...) {
    cleanUpTest(run, context);  // always: failure, cancel or timeout
    throw;
  }
  cleanUpTest(run, context);
}

void FailoverRunner::Impl::cleanUpTest(SessionRun& run, TaskContext&) {
  // Cleanup must not be cancelled: it uses its own context with only a deadline.
  auto alwaysContext = [&] { return plugin::CallContext::withTimeout(options.retry.callTimeout); };
  std::set<std::string> hosts;
  for (const auto& [id, replica] : run.replicas) {
    try {
      hosts.insert(run.cloudHostOf.at(replica.subscriptionId));
      auto plugin = pluginFor(run, replica);
      if (auto* isolation = plugin->testIsolation()) {
        auto deleted = isolation->deleteTestCopy(testCopyId(run.session, id), alwaysContext());
        if (!deleted.ok())
          run.errors.push_back("cleanup of " + replica.name + ": " + describe(deleted.error()));
      }
    } catch (const std::exception& e) {
      run.errors.push_back("cleanup of " + replica.name + ": " + e.what());
    }
    store.write([&](store::Transaction& tx) {
      auto scope = tx.tenant(run.session.tenantId);
      auto current = scope->findReplica(id);
      if (current && current->state == ReplicaState::kTest) {
        current->state = ReplicaState::kReady;
        scope->updateReplica(*current);
      }
    });
  }
  for (const auto& host : hosts) {
    auto plugin = cloudHosts.find(host);
    if (!plugin || !plugin->testIsolation()) continue;
    auto deleted = plugin->testIsolation()->deleteBubble(bubbleId(run.session), alwaysContext());
    if (!deleted.ok())
      run.errors.push_back("cleanup of the isolated network: " + describe(deleted.error()));
  }
  data.removeTestCopies(run.session.id);  // the test copies' data, once no copy uses it
}

void FailoverRunner::Impl::undo(SessionRun& run, TaskContext& context) {
  inBatches(run, context, [&](const SessionVm& scheduled) {
    runVm(run, scheduled, ReplicaState::kReady, ReplicaState::kFailoverFailed, [&](SessionVm& vm) {
      const auto& replica = run.replica(vm.replicaId);
      auto& compute = computeFor(run, replica);
      const auto machine =
          call("read " + replica.name, run, vm, context,
               [&](const plugin::CallContext& ctx) { return compute.machine(replica.id, ctx); });
      if (machine.power != plugin::PowerState::kOff) {
        vm.step = "power_off";
        progress(run, vm);
        plugin::PowerOffOptions off{true, options.gracefulShutdown};
        call("power off " + replica.name, run, vm, context, [&](const plugin::CallContext& ctx) {
          return compute.powerOff(replica.id, off, ctx);
        });
      }
      if (domain::isReplicatedRestorePoint(vm.restorePointId)) {
        vm.step = "revert";
        progress(run, vm);
        discardReplicatedChanges(replica, vm.restorePointId);
      } else if (!vm.restorePointId.empty()) {
        vm.step = "revert";
        progress(run, vm);
        call("revert " + replica.name, run, vm, context, [&](const plugin::CallContext& ctx) {
          return compute.revertToRestorePoint(replica.id, vm.restorePointId, ctx);
        });
      }
    });
  });
  applyEdges(run, context);
}

void FailoverRunner::Impl::permanent(SessionRun& run, TaskContext& context) {
  schedule(run, context, run.plan ? run.plan->parallelism : 1, false,
           [&](const SessionVm& scheduled) {
             runVm(run, scheduled, ReplicaState::kPermanentFailover, ReplicaState::kFailover,
                   [&](SessionVm& vm) {
                     const auto& replica = run.replica(vm.replicaId);
                     auto& compute = computeFor(run, replica);
                     vm.step = "delete_restore_points";
                     progress(run, vm);
                     const auto points = store.read([&](store::Transaction& tx) {
                       return tx.tenant(run.session.tenantId)->restorePoints(replica.id);
                     });
                     for (const auto& point : points) {
                       call("delete restore point " + point.id, run, vm, context,
                            [&](const plugin::CallContext& ctx) {
                              return compute.deleteRestorePoint(replica.id, point.id, ctx);
                            });
                       store.write([&](store::Transaction& tx) {
                         tx.tenant(run.session.tenantId)->deleteRestorePoint(replica.id, point.id);
                       });
                     }
                   });
           });
}

void FailoverRunner::Impl::failback(SessionRun& run, TaskContext& context) {
  const auto kind = run.session.kind;
  const auto onSuccess = kind == SessionKind::kFailback         ? ReplicaState::kFailback
                         : kind == SessionKind::kFailbackCommit ? ReplicaState::kReady
                                                                : ReplicaState::kFailover;
  const auto onFailure =
      kind == SessionKind::kFailback ? ReplicaState::kFailover : ReplicaState::kFailback;
  schedule(run, context, 1, false, [&](const SessionVm& scheduled) {
    runVm(run, scheduled, onSuccess, onFailure, [&](SessionVm& vm) {
      const auto& replica = run.replica(vm.replicaId);
      auto& compute = computeFor(run, replica);
      const auto machine =
          call("read " + replica.name, run, vm, context,
               [&](const plugin::CallContext& ctx) { return compute.machine(replica.id, ctx); });
      if (kind == SessionKind::kFailback && machine.power != plugin::PowerState::kOff) {
        vm.step = "power_off";
        progress(run, vm);
        plugin::PowerOffOptions off{true, options.gracefulShutdown};
        call("power off " + replica.name, run, vm, context, [&](const plugin::CallContext& ctx) {
          return compute.powerOff(replica.id, off, ctx);
        });
      } else if (kind == SessionKind::kFailbackUndo && machine.power != plugin::PowerState::kOn) {
        vm.step = "power_on";
        progress(run, vm);
        call("power on " + replica.name, run, vm, context,
             [&](const plugin::CallContext& ctx) { return compute.powerOn(replica.id, ctx); });
      }
    });
  });
}

void FailoverRunner::Impl::applyEdges(SessionRun& run, TaskContext& context) {
  std::set<std::string> hosts;
  for (const auto& [id, replica] : run.replicas)
    hosts.insert(run.cloudHostOf.at(replica.subscriptionId));
  for (const auto& host : hosts) {
    const auto spec = store.read(
        [&](store::Transaction& tx) { return desiredEdge(tx, run.session.tenantId, host); });
    auto plugin = cloudHosts.find(host);
    auto* edge = plugin ? plugin->edge() : nullptr;
    if (edge == nullptr) {
      if (!spec.mappings.empty() || !spec.outboundNat.empty()) {
        run.errors.push_back("cloud host " + host +
                             " has no edge: public-IP rules were not applied");
      }
      continue;
    }
    try {
      callPlugin(
          "apply the public-IP rules",
          [&](const plugin::CallContext& ctx) { return edge->applyTenantEdge(spec, ctx); }, context,
          options.retry);
    } catch (const TaskFailed& e) {
      run.errors.push_back(e.what());
    }
  }
}

bool FailoverRunner::Impl::runScript(SessionRun& run, const domain::PlanScript& script,
                                     const char* marker) {
  if (script.command.empty() || run.session.scriptOutput.find(marker) != std::string::npos)
    return true;
  const auto result =
      engine::runScript(script.command,
                        {{"WARMSITE_TENANT_ID", run.session.tenantId},
                         {"WARMSITE_PLAN_ID", run.session.planId},
                         {"WARMSITE_SESSION_ID", run.session.id},
                         {"WARMSITE_OPERATION", std::string(domain::toString(run.session.kind))}},
                        std::chrono::seconds(script.timeoutSeconds));
  run.session.scriptOutput += marker + result.output + "\n";
  store.write(
      [&](store::Transaction& tx) { tx.tenant(run.session.tenantId)->updateSession(run.session); });
  if (!result.succeeded) {
    run.errors.push_back(
        std::string(marker == kPreScriptMarker ? "pre" : "post") + "-failover script " +
        script.command +
        (result.timedOut ? " timed out" : " exited with " + std::to_string(result.exitCode)));
  }
  return result.succeeded;
}

void FailoverRunner::Impl::finish(SessionRun& run, bool cancelled, TaskContext& context) {
  std::size_t failed = 0, total = 0;
  {
    std::lock_guard lock(run.mutex);
    for (const auto& vm : run.session.vms) {
      ++total;
      failed += vm.state == SessionVmState::kFailed ? 1 : 0;
    }
  }
  auto& session = run.session;
  session.state = cancelled                             ? domain::SessionState::kCancelled
                  : (failed > 0 || !run.errors.empty()) ? domain::SessionState::kFailed
                                                        : domain::SessionState::kCompleted;
  session.error.clear();
  if (failed > 0)
    session.error = std::to_string(failed) + " of " + std::to_string(total) + " VMs failed";
  for (const auto& error : run.errors) session.error += (session.error.empty() ? "" : "; ") + error;
  session.finishedUnix = security::nowUnix();
  const auto planId = run.plan ? run.plan->id : std::string();
  context.finishWith([session, planId](store::Transaction& tx) {
    auto scope = tx.tenant(session.tenantId);
    scope->updateSession(session);
    if (planId.empty()) return;
    auto plan = scope->findFailoverPlan(planId);
    if (!plan || plan->lastSessionId != session.id) return;
    const bool ok = session.state == domain::SessionState::kCompleted;
    switch (session.kind) {
      case SessionKind::kFailover:
        plan->state =
            ok ? domain::FailoverPlanState::kCompleted : domain::FailoverPlanState::kFailed;
        break;
      case SessionKind::kUndo:
        plan->state =
            ok ? domain::FailoverPlanState::kReady : domain::FailoverPlanState::kUndoFailed;
        break;
      case SessionKind::kTestFailover:
        plan->state = domain::FailoverPlanState::kReady;
        break;
      case SessionKind::kPermanentFailover:
        plan->state = domain::FailoverPlanState::kCompleted;
        break;
      default:
        return;
    }
    scope->setFailoverPlanState(plan->id, plan->state, plan->lastSessionId);
  });
}

void FailoverRunner::Impl::run(const domain::Task& task, TaskContext& context) {
  SessionRun run;
  bool cancelled = false;
  try {
    auto handedOver = context.takeHandedOver();
    if (auto* start = std::any_cast<SessionStart>(&handedOver)) {
      adopt(std::move(*start), run);
    } else {
      load(task.targetId, context.resumed(), run);
    }
    switch (run.session.kind) {
      case SessionKind::kFailover:
      case SessionKind::kPartialFailover:
        failover(run, context);
        break;
      case SessionKind::kTestFailover:
        testFailover(run, context);
        break;
      case SessionKind::kUndo:
      case SessionKind::kPartialUndo:
        undo(run, context);
        break;
      case SessionKind::kPermanentFailover:
      case SessionKind::kPartialPermanent:
        permanent(run, context);
        break;
      case SessionKind::kFailback:
      case SessionKind::kFailbackCommit:
      case SessionKind::kFailbackUndo:
        failback(run, context);
        break;
    }
  } catch (const TaskCancelled&) {
    cancelled = true;
  } catch (const std::exception& e) {
    run.errors.push_back(e.what());
  }
  // A session that could not be read has nothing to settle; one that was read ends, failed if its
  // reading stopped halfway (a replica gone), never left in progress.
  if (run.session.id.empty()) {
    if (cancelled) throw TaskCancelled();
    throw TaskFailed(run.errors.front());
  }
  finish(run, cancelled, context);
  if (cancelled) throw TaskCancelled();
  if (run.session.state == domain::SessionState::kFailed) throw TaskFailed(run.session.error);
}

FailoverRunner::FailoverRunner(store::Store& store, plugins::CloudHostRegistry& cloudHosts,
                               const replication::ReplicaDataStore& data, FailoverOptions options)
    : impl_(std::make_unique<Impl>(store, cloudHosts, data, std::move(options))) {}

FailoverRunner::~FailoverRunner() {
  impl_->pool.join();
}

void FailoverRunner::registerWith(TaskEngine& engine) {
  engine.registerKind(kFailoverSession, [this](const domain::Task& task, TaskContext& context) {
    impl_->run(task, context);
  });
}

}  // namespace warmsite::engine

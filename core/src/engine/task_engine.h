#pragma once
// The durable task engine. A task is a row in the store; the request that creates it commits it in
// the same transaction as the change it carries out, then wakes the engine. Workers claim queued
// tasks oldest first — skipping a tenant already running its maximum of concurrent tasks — and run
// them outside any transaction. A runner journals its steps in the store and makes each one
// idempotent, so a task found running after a crash is run again and picks up where it stopped.

#include <any>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "domain/entities.h"
#include "store/store.h"
#include "warmsite/plugin/types.h"

namespace warmsite::engine {

// Thrown by a runner to fail its task with a message for the SP or tenant.
class TaskFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown when the task was asked to stop; the task ends cancelled.
class TaskCancelled : public std::runtime_error {
 public:
  TaskCancelled() : std::runtime_error("cancelled") {}
};

// What a runner gets besides its task: progress reporting and the cancel flag.
class TaskContext {
 public:
  TaskContext(store::Store& store, std::string taskId, std::shared_ptr<std::atomic<bool>> cancel,
              bool resumed, std::any handedOver = {})
      : store_(store),
        taskId_(std::move(taskId)),
        cancel_(std::move(cancel)),
        resumed_(resumed),
        handedOver_(std::move(handedOver)) {}

  // True when the task had started before (the daemon stopped while it ran) and runs again now.
  bool resumed() const noexcept { return resumed_; }
  // What the request that created the task handed over with it (TaskAdmission::handOver), given
  // away to the first caller: set only when the task started at once, empty when it waited in the
  // queue or resumes.
  std::any takeHandedOver() noexcept { return std::move(handedOver_); }

  void report(std::uint32_t percent);
  bool cancelled() const noexcept { return cancel_->load(); }
  void throwIfCancelled() const {
    if (cancelled()) throw TaskCancelled();
  }
  // A plugin call context that ends at `timeout` or when the task is cancelled.
  plugin::CallContext callContext(std::chrono::milliseconds timeout) const;
  // Sleeps up to `duration`, waking early (and throwing TaskCancelled) on cancel.
  void sleepFor(std::chrono::milliseconds duration) const;
  // `write` runs in the transaction that ends the task, however it ends: the runner's own final
  // record (a session's outcome) and the task's state commit together or not at all.
  void finishWith(std::function<void(store::Transaction&)> write) {
    finalWrite_ = std::move(write);
  }
  const std::function<void(store::Transaction&)>& finalWrite() const { return finalWrite_; }

 private:
  store::Store& store_;
  std::string taskId_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  bool resumed_;
  std::any handedOver_;
  std::function<void(store::Transaction&)> finalWrite_;
};

// A task claimed for a worker, with what its creator handed over.
struct ClaimedTask {
  domain::Task task;
  std::any handedOver;
};

class TaskAdmission;

class TaskEngine {
 public:
  using Runner = std::function<void(const domain::Task& task, TaskContext& context)>;

  TaskEngine(store::Store& store, int workers) : store_(store), workerCount_(workers) {}
  ~TaskEngine();

  void registerKind(const std::string& kind, Runner runner);

  // Requeues tasks a crash left running, then starts the scheduler and the workers.
  void start();
  // Call after committing a queued task.
  void wake();
  // Asks a task to stop: a queued one never starts, a running one sees it in its context.
  // (The cancel request is also in the store, for a task another process runs.)
  void cancel(const std::string& taskId);
  // Lets running tasks finish, then stops the workers; queued tasks stay queued.
  void stop();

  // Blocks until no task is queued or running (tests and shutdown paths).
  bool waitIdle(std::chrono::milliseconds timeout);

 private:
  // One scheduler claims queued tasks for the idle workers, in one transaction per round; workers
  // never touch the queue themselves (no herd of writers each time something wakes them).
  void schedulerLoop();
  void workerLoop();
  std::vector<domain::Task> claim(std::size_t count);
  // Sets claimed tasks back to queued (they never started this time; a task that had not started
  // before forgets its start, so it will not run as resumed).
  void requeue(const std::vector<domain::Task>& tasks);
  void run(ClaimedTask claimed);
  void finish(const domain::Task& task, domain::TaskState state, const std::string& error,
              const TaskContext& context);

  store::Store& store_;
  const int workerCount_;
  std::map<std::string, Runner> runners_;
  std::thread scheduler_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wakeup_;   // the scheduler's
  std::condition_variable work_;     // the workers'
  std::deque<ClaimedTask> claimed_;  // claimed, not yet picked up by a worker
  std::size_t idle_ = 0;             // workers waiting for a task
  std::size_t reserved_ = 0;         // idle workers promised to admitted tasks not yet committed
  bool stopping_ = false;
  std::uint64_t generation_ = 0;  // bumped by wake(), so the scheduler never sleeps through one
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> running_;  // task id -> cancel flag
  // Claimed tasks that had started before (their first start is in the store, kept across
  // restarts): their runners are told they resume.
  std::set<std::string> resumedTasks_;

  friend class TaskAdmission;
};

// Tasks a request creates, started by an idle worker as soon as their transaction commits instead
// of at the scheduler's next claim (another round trip through the store's writer). The request
// runs its change through `write`, which calls `admit` inside it for each new task and hands the
// claimed tasks to their workers once the change is durable; when the write fails, the reserved
// workers are given back as the admission goes out of scope.
class TaskAdmission {
 public:
  explicit TaskAdmission(TaskEngine& engine) : engine_(engine) {}
  ~TaskAdmission();
  TaskAdmission(const TaskAdmission&) = delete;
  TaskAdmission& operator=(const TaskAdmission&) = delete;

  // Store::write, then the hand-over: nothing can come between the commit and the workers.
  template <typename Work>
  auto write(Work&& work) {
    auto result = engine_.store_.write(std::forward<Work>(work));
    committed();
    return result;
  }

  // Before `task` is inserted: claims it (state running) when a worker is idle, no task waits in
  // the queue before it and its tenant runs fewer tasks than its limit; otherwise it stays queued.
  void admit(store::Transaction& tx, domain::Task& task);
  // Gives a task claimed by `admit` what the request read and wrote for it, which its runner gets
  // (TaskContext::handedOver) instead of reading it back from the store. A queued task gets
  // nothing: it may start after other changes.
  void handOver(const std::string& taskId, std::any data);

 private:
  // After the commit: the claimed tasks go to their workers; the scheduler wakes for the others.
  void committed();
  // Reserves an idle worker for `task` when it may start at once.
  bool mayStartAtOnce(store::Transaction& tx, const domain::Task& task);

  TaskEngine& engine_;
  std::vector<ClaimedTask> claimed_;
  bool leftQueued_ = false;  // a task was left to the scheduler
};

}  // namespace warmsite::engine

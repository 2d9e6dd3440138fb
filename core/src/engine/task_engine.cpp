#include "engine/task_engine.h"

#include <spdlog/spdlog.h>

#include "security/authenticator.h"

namespace warmsite::engine {

namespace {

template <typename Claims>
std::vector<domain::Task> tasksOf(const Claims& claims) {
  std::vector<domain::Task> tasks;
  for (const auto& claimed : claims) tasks.push_back(claimed.task);
  return tasks;
}

}  // namespace

void TaskContext::report(std::uint32_t percent) {
  store_.write([&](store::Transaction& tx) {
    auto task = tx.findAnyTask(taskId_);
    if (!task) return;
    task->progress = std::min<std::uint32_t>(percent, 100);
    tx.updateTask(*task);
  });
}

plugin::CallContext TaskContext::callContext(std::chrono::milliseconds timeout) const {
  auto context = plugin::CallContext::withTimeout(timeout);
  context.cancelRequested = cancel_.get();
  return context;
}

void TaskContext::sleepFor(std::chrono::milliseconds duration) const {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    throwIfCancelled();
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        until - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
  }
  throwIfCancelled();
}

TaskEngine::~TaskEngine() {
  stop();
}

void TaskEngine::registerKind(const std::string& kind, Runner runner) {
  runners_[kind] = std::move(runner);
}

void TaskEngine::start() {
  store_.write([&](store::Transaction& tx) {
    for (auto task : tx.tasksInState(domain::TaskState::kRunning)) {
      spdlog::warn("task {} ({}) was running when the daemon stopped; resuming it", task.id,
                   task.kind);
      // Its first start stays recorded: whenever it is claimed again, it runs as resumed.
      task.state = domain::TaskState::kQueued;
      tx.updateTask(task);
    }
  });
  for (int i = 0; i < workerCount_; ++i) workers_.emplace_back([this] { workerLoop(); });
  scheduler_ = std::thread([this] { schedulerLoop(); });
}

void TaskEngine::wake() {
  std::lock_guard lock(mutex_);
  ++generation_;
  wakeup_.notify_all();
}

void TaskEngine::cancel(const std::string& taskId) {
  store_.write([&](store::Transaction& tx) { tx.requestCancel(taskId); });
  std::lock_guard lock(mutex_);
  if (auto it = running_.find(taskId); it != running_.end()) it->second->store(true);
}

void TaskEngine::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wakeup_.notify_all();
    work_.notify_all();
  }
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  // Claimed but never started: back to the queue, as if never claimed.
  requeue(tasksOf(claimed_));
  claimed_.clear();
}

void TaskEngine::schedulerLoop() {
  std::uint64_t seen = 0;
  bool more = true;  // claim at once: tasks may be queued already
  while (true) {
    std::size_t free = 0;
    {
      std::unique_lock lock(mutex_);
      // Wake for a change, for a worker freed while tasks may wait, or every 2 s for tasks another
      // process queued.
      wakeup_.wait_for(lock, std::chrono::seconds(2), [&] {
        return stopping_ || ((more || generation_ != seen) && idle_ > claimed_.size() + reserved_);
      });
      if (stopping_) return;
      seen = generation_;
      const auto taken = claimed_.size() + reserved_;
      free = idle_ > taken ? idle_ - taken : 0;
    }
    if (free == 0) {
      more = true;
      continue;
    }
    std::vector<domain::Task> tasks;
    try {
      // Most wake-ups (a task finished, one was admitted at once) find the queue empty: a read
      // says so without queueing a write behind the store's writer.
      if (!store_.read([](store::Transaction& tx) {
            return tx.anyTaskInState(domain::TaskState::kQueued);
          })) {
        more = false;
        continue;
      }
      tasks = claim(free);
    } catch (const std::exception& e) {
      spdlog::error("task engine cannot read its queue: {}", e.what());
    }
    more = tasks.size() == free;  // a full round: more may be waiting
    std::lock_guard lock(mutex_);
    // One idle worker per task: waking them all would cost every idle worker a context switch.
    for (auto& task : tasks) {
      claimed_.push_back({std::move(task), {}});
      work_.notify_one();
    }
  }
}

void TaskEngine::workerLoop() {
  while (true) {
    ClaimedTask claimed;
    {
      std::unique_lock lock(mutex_);
      ++idle_;
      wakeup_.notify_all();
      work_.wait(lock, [&] { return stopping_ || !claimed_.empty(); });
      --idle_;
      if (stopping_) return;
      claimed = std::move(claimed_.front());
      claimed_.pop_front();
    }
    run(std::move(claimed));
  }
}

bool TaskEngine::waitIdle(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const bool pending = store_.read([](store::Transaction& tx) {
      return !tx.tasksInState(domain::TaskState::kQueued).empty() ||
             !tx.tasksInState(domain::TaskState::kRunning).empty();
    });
    if (!pending) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void TaskEngine::requeue(const std::vector<domain::Task>& tasks) {
  if (tasks.empty()) return;
  std::set<std::string> resumed;
  {
    std::lock_guard lock(mutex_);
    resumed = resumedTasks_;
  }
  store_.write([&](store::Transaction& tx) {
    for (auto task : tasks) {
      task.state = domain::TaskState::kQueued;
      // Never started by this claim: a task's first start is what marks it resumed later.
      if (!resumed.contains(task.id)) task.startedUnix.reset();
      tx.updateTask(task);
    }
  });
}

namespace {

// A tenant's limit of concurrent tasks; a task of a tenant deleted meanwhile runs alone.
std::uint32_t maxConcurrentTasks(store::Transaction& tx, const std::string& tenantId) {
  const auto tenant = tx.findTenant(tenantId);
  return tenant ? tenant->maxConcurrentTasks : 1;
}

}  // namespace

std::vector<domain::Task> TaskEngine::claim(std::size_t count) {
  std::vector<std::string> startedBefore;
  auto claimed = store_.write([&](store::Transaction& tx) {
    std::vector<domain::Task> claimed;
    std::map<std::string, std::uint32_t> runningPerTenant;
    for (const auto& task : tx.tasksInState(domain::TaskState::kRunning))
      ++runningPerTenant[task.tenantId];
    std::map<std::string, std::uint32_t> limits;
    for (auto task : tx.tasksInState(domain::TaskState::kQueued)) {
      if (claimed.size() == count) break;
      if (!task.tenantId.empty()) {
        if (!limits.contains(task.tenantId))
          limits[task.tenantId] = maxConcurrentTasks(tx, task.tenantId);
        if (runningPerTenant[task.tenantId] >= limits[task.tenantId])
          continue;  // the tenant waits its turn
        ++runningPerTenant[task.tenantId];
      }
      task.state = domain::TaskState::kRunning;
      if (task.startedUnix) {
        startedBefore.push_back(task.id);  // it ran before a restart: it resumes, first start kept
      } else {
        task.startedUnix = security::nowUnix();
      }
      tx.updateTask(task);
      claimed.push_back(std::move(task));
    }
    return claimed;
  });
  std::lock_guard lock(mutex_);
  resumedTasks_.insert(startedBefore.begin(), startedBefore.end());
  return claimed;
}

void TaskEngine::finish(const domain::Task& task, domain::TaskState state, const std::string& error,
                        const TaskContext& context) {
  store_.write([&](store::Transaction& tx) {
    if (context.finalWrite()) context.finalWrite()(tx);
    auto current =
        tx.findAnyTask(task.id).value_or(task);  // keeps the progress the runner reported
    current.state = state;
    current.error = error;
    if (state == domain::TaskState::kSucceeded) current.progress = 100;
    current.finishedUnix = security::nowUnix();
    tx.updateTask(current);
  });
}

void TaskEngine::run(ClaimedTask claimed) {
  const auto& task = claimed.task;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  bool resumed = false;
  {
    std::lock_guard lock(mutex_);
    resumed = resumedTasks_.erase(task.id) > 0;
    running_[task.id] = cancel;
  }
  try {
    cancel->store(store_.read([&](store::Transaction& tx) { return tx.cancelRequested(task.id); }));
  } catch (const std::exception&) {
  }
  auto state = domain::TaskState::kSucceeded;
  std::string error;
  TaskContext context(store_, task.id, cancel, resumed, std::move(claimed.handedOver));
  auto runner = runners_.find(task.kind);
  if (runner == runners_.end()) {
    state = domain::TaskState::kFailed;
    error = "no runner for task kind \"" + task.kind + "\"";
  } else {
    try {
      runner->second(task, context);
    } catch (const TaskCancelled&) {
      state = domain::TaskState::kCancelled;
      error = "cancelled";
    } catch (const std::exception& e) {
      state = domain::TaskState::kFailed;
      error = e.what();
    }
  }
  {
    std::lock_guard lock(mutex_);
    running_.erase(task.id);
  }
  if (state == domain::TaskState::kFailed)
    spdlog::warn("task {} ({}) failed: {}", task.id, task.kind, error);
  try {
    finish(task, state, error, context);
  } catch (const std::exception& e) {
    spdlog::error("task {} finished but its state cannot be saved: {}", task.id, e.what());
  }
  wake();  // a finished task may let a waiting tenant's next task start
}

TaskAdmission::~TaskAdmission() {
  if (claimed_.empty()) return;
  std::lock_guard lock(engine_.mutex_);
  engine_.reserved_ -= claimed_.size();
  engine_.wakeup_.notify_all();  // the workers are the scheduler's again
}

void TaskAdmission::admit(store::Transaction& tx, domain::Task& task) {
  if (!mayStartAtOnce(tx, task)) {
    leftQueued_ = true;
    return;
  }
  task.state = domain::TaskState::kRunning;
  task.startedUnix = security::nowUnix();
  claimed_.push_back({task, {}});
}

void TaskAdmission::handOver(const std::string& taskId, std::any data) {
  for (auto& claimed : claimed_) {
    if (claimed.task.id == taskId) claimed.handedOver = std::move(data);
  }
}

bool TaskAdmission::mayStartAtOnce(store::Transaction& tx, const domain::Task& task) {
  // Oldest first: a task waiting in the queue (for a worker or its tenant's turn) goes before.
  if (tx.anyTaskInState(domain::TaskState::kQueued)) return false;
  if (!task.tenantId.empty() && tx.tenant(task.tenantId)->countTasks(domain::TaskState::kRunning) >=
                                    maxConcurrentTasks(tx, task.tenantId)) {
    return false;
  }
  std::lock_guard lock(engine_.mutex_);
  if (engine_.stopping_ || engine_.idle_ <= engine_.claimed_.size() + engine_.reserved_)
    return false;
  ++engine_.reserved_;
  return true;
}

void TaskAdmission::committed() {
  auto tasks = std::move(claimed_);
  claimed_.clear();
  bool stopping = false;
  {
    std::lock_guard lock(engine_.mutex_);
    engine_.reserved_ -= tasks.size();
    stopping = engine_.stopping_;
    if (!stopping) {
      for (auto& task : tasks) {
        engine_.claimed_.push_back(std::move(task));
        engine_.work_.notify_one();
      }
    }
  }
  if (stopping) engine_.requeue(tasksOf(tasks));  // as stop() does with the tasks it had claimed
  if (leftQueued_) engine_.wake();
}

}  // namespace warmsite::engine

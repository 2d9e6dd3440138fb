#include "engine/task_engine.h"

#include <spdlog/spdlog.h>

#include "security/authenticator.h"

namespace warmsite::engine {

void TaskProgress::report(std::uint32_t percent) {
  store_.write([&](store::Transaction& tx) {
    auto task = tx.findAnyTask(taskId_);
    if (!task) return;
    task->progress = std::min<std::uint32_t>(percent, 100);
    tx.updateTask(*task);
  });
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
      spdlog::warn("task {} ({}) was running when the daemon stopped; running it again", task.id,
                   task.kind);
      task.state = domain::TaskState::kQueued;
      tx.updateTask(task);
    }
  });
  for (int i = 0; i < workerCount_; ++i) workers_.emplace_back([this] { workerLoop(); });
}

void TaskEngine::wake() {
  std::lock_guard lock(mutex_);
  ++generation_;
  wakeup_.notify_all();
}

void TaskEngine::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wakeup_.notify_all();
  }
  for (auto& worker : workers_) worker.join();
  workers_.clear();
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

std::optional<domain::Task> TaskEngine::claim() {
  return store_.write([&](store::Transaction& tx) -> std::optional<domain::Task> {
    for (auto task : tx.tasksInState(domain::TaskState::kQueued)) {
      task.state = domain::TaskState::kRunning;
      task.startedUnix = security::nowUnix();
      tx.updateTask(task);
      return task;
    }
    return std::nullopt;
  });
}

void TaskEngine::finish(domain::Task task, const std::string& error) {
  store_.write([&](store::Transaction& tx) {
    auto current =
        tx.findAnyTask(task.id).value_or(task);  // keeps the progress the runner reported
    current.state = error.empty() ? domain::TaskState::kSucceeded : domain::TaskState::kFailed;
    current.error = error;
    if (error.empty()) current.progress = 100;
    current.finishedUnix = security::nowUnix();
    tx.updateTask(current);
  });
}

void TaskEngine::workerLoop() {
  std::uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return;
      seen = generation_;
    }
    std::optional<domain::Task> task;
    try {
      task = claim();
    } catch (const std::exception& e) {
      spdlog::error("task engine cannot read its queue: {}", e.what());
    }
    if (!task) {
      std::unique_lock lock(mutex_);
      // Sleep until woken; the periodic wake-up picks up tasks queued by another process.
      wakeup_.wait_for(lock, std::chrono::seconds(2),
                       [&] { return stopping_ || generation_ != seen; });
      continue;
    }
    std::string error;
    auto runner = runners_.find(task->kind);
    if (runner == runners_.end()) {
      error = "no runner for task kind \"" + task->kind + "\"";
    } else {
      try {
        TaskProgress progress(store_, task->id);
        runner->second(*task, progress);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    if (!error.empty()) spdlog::warn("task {} ({}) failed: {}", task->id, task->kind, error);
    try {
      finish(*task, error);
    } catch (const std::exception& e) {
      spdlog::error("task {} finished but its state cannot be saved: {}", task->id, e.what());
    }
  }
}

}  // namespace warmsite::engine

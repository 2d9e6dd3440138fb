#pragma once
// The durable task engine. A task is a row in the store; the request that creates it commits it in
// the same transaction as the change it carries out, then wakes the engine. Workers claim queued
// tasks oldest first and run them outside any transaction. Each task kind's runner is made of
// idempotent steps, so a task found running after a crash is simply run again from the start.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "domain/entities.h"
#include "store/store.h"

namespace warmsite::engine {

// Thrown by a runner to fail its task with a message for the SP or tenant.
class TaskFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TaskProgress {
 public:
  TaskProgress(store::Store& store, std::string taskId)
      : store_(store), taskId_(std::move(taskId)) {}
  void report(std::uint32_t percent);

 private:
  store::Store& store_;
  std::string taskId_;
};

class TaskEngine {
 public:
  using Runner = std::function<void(const domain::Task& task, TaskProgress& progress)>;

  TaskEngine(store::Store& store, int workers) : store_(store), workerCount_(workers) {}
  ~TaskEngine();

  void registerKind(const std::string& kind, Runner runner);

  // Requeues tasks a crash left running, then starts the workers.
  void start();
  // Call after committing a queued task.
  void wake();
  // Lets running tasks finish, then stops the workers; queued tasks stay queued.
  void stop();

  // Blocks until no task is queued or running (tests and shutdown paths).
  bool waitIdle(std::chrono::milliseconds timeout);

 private:
  void workerLoop();
  std::optional<domain::Task> claim();
  void finish(domain::Task task, const std::string& error);

  store::Store& store_;
  const int workerCount_;
  std::map<std::string, Runner> runners_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  bool stopping_ = false;
  std::uint64_t generation_ = 0;  // bumped by wake(), so a worker never sleeps through one
};

}  // namespace warmsite::engine

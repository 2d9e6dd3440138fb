#pragma once
// One stage of a pipeline on its own thread: the owner pushes items into a bounded queue, the
// stage processes them in order, so that the owner's work on the next items overlaps it. A failure
// on the stage's thread surfaces to the owner at the next push, at rethrowFailure or at finish.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace warmsite::replication {

class PipelineStage {
 public:
  struct Steps {
    std::function<void(std::string&&)> process;  // on the stage's thread, item by item
    std::function<void()> finished = {};  // on the stage's thread, after the last item at finish
    std::function<void()> failed = {};    // on the stage's thread, once process or finished threw
    // On the owner's thread when the stage is destroyed unfinished: unblocks a process call.
    std::function<void()> abandoned = {};
  };

  explicit PipelineStage(Steps steps, std::size_t depth = 8);
  ~PipelineStage();
  PipelineStage(const PipelineStage&) = delete;
  PipelineStage& operator=(const PipelineStage&) = delete;

  // Blocks while the queue is full.
  void push(std::string item);
  void rethrowFailure();
  // Waits until every item is processed and `finished` ran.
  void finish();

 private:
  void loop();

  Steps steps_;
  const std::size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  bool closed_ = false, aborted_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace warmsite::replication

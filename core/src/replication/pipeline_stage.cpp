#include "replication/pipeline_stage.h"

namespace warmsite::replication {

PipelineStage::PipelineStage(Steps steps, std::size_t depth)
    : steps_(std::move(steps)), depth_(depth), thread_([this] { loop(); }) {}

PipelineStage::~PipelineStage() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    closed_ = aborted_ = true;
  }
  changed_.notify_all();
  if (steps_.abandoned) steps_.abandoned();
  thread_.join();
}

void PipelineStage::push(std::string item) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return queue_.size() < depth_ || failure_; });
  if (failure_) std::rethrow_exception(failure_);
  queue_.push_back(std::move(item));
  changed_.notify_all();
}

void PipelineStage::rethrowFailure() {
  std::lock_guard lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
}

void PipelineStage::finish() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
  thread_.join();
  if (failure_) std::rethrow_exception(failure_);
}

void PipelineStage::loop() {
  try {
    while (true) {
      std::string item;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (aborted_) return;
        if (queue_.empty()) break;
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      changed_.notify_all();
      steps_.process(std::move(item));
    }
    if (steps_.finished) steps_.finished();
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      failure_ = std::current_exception();
    }
    changed_.notify_all();
    if (steps_.failed) steps_.failed();
  }
}

}  // namespace warmsite::replication

// Tests' hold on the store's writer: the writes queued while it is held wait, then go together in
// one group commit.
#pragma once

#include <future>

#include "store/store.h"

namespace warmsite::store {

class HeldWriter {
 public:
  explicit HeldWriter(Store& store)
      : holder_(store.submitWrite(
            [gate = release_.get_future().share()](Transaction&) { gate.wait(); })) {}
  ~HeldWriter() {
    if (holder_.valid()) release();
  }
  HeldWriter(const HeldWriter&) = delete;
  HeldWriter& operator=(const HeldWriter&) = delete;

  void release() {
    release_.set_value();
    holder_.get();
  }

 private:
  std::promise<void> release_;  // before holder_: the held work waits on it
  std::future<void> holder_;
};

}  // namespace warmsite::store

#pragma once
// A token bucket: callers take bytes and sleep when they outrun the rate. Shared by threads.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

namespace warmsite::replication {

class BandwidthThrottle {
 public:
  explicit BandwidthThrottle(std::uint64_t bytesPerSecond = 0) : rate_(bytesPerSecond) {}

  void take(std::uint64_t bytes) {
    if (rate_ == 0) return;
    std::unique_lock lock(mutex_);
    const auto now = Clock::now();
    const double rate = static_cast<double>(rate_);
    const double burst = rate / 4;  // a quarter second of traffic
    tokens_ =
        std::min(burst, tokens_ + std::chrono::duration<double>(now - refilled_).count() * rate);
    refilled_ = now;
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return;
    const auto wait = std::chrono::duration<double>(-tokens_ / rate);
    lock.unlock();
    std::this_thread::sleep_for(wait);
  }

 private:
  using Clock = std::chrono::steady_clock;
  const std::uint64_t rate_;
  std::mutex mutex_;
  double tokens_ = 0;
  Clock::time_point refilled_ = Clock::now();
};

}  // namespace warmsite::replication

#pragma once
// Test-isolation part of the plugin ABI: bubble networks with no uplink and test copies of replicas
// attached to them, so a test failover never touches production networks or the replica itself.
// A test copy is a machine: ComputeApi::machine/powerOn/powerOff take its copyId. Thread-safety and
// idempotency as in compute.h.

#include <string>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"
#include "warmsite/plugin/visibility.h"

namespace warmsite::plugin {

class WARMSITE_VISIBLE TestIsolationApi {
 public:
  virtual ~TestIsolationApi() = default;

  // Creates one isolated network per source network. Pre: the source networks exist (kNotFound).
  // Same id and spec again: success. Failure: no bubble network left.
  // @since 1.0
  virtual Status createBubble(const BubbleSpec& spec, const CallContext& ctx) noexcept = 0;

  // Deletes a bubble. Pre: no test copy is attached (kInvalidState). Unknown id: success.
  // @since 1.0
  virtual Status deleteBubble(const std::string& bubbleId, const CallContext& ctx) noexcept = 0;

  // Creates a powered-off copy of a replica at a restore point, its NICs on the bubble's networks,
  // its disks as overlays so the replica's own disks and restore points stay untouched. An empty
  // restorePointId is the latest point, or (since 1.1) the current disks when there is none.
  // Pre: replica, restore point and bubble exist (kNotFound). Failure: no copy left.
  // @since 1.0
  virtual Result<MachineInfo> createTestCopy(const TestCopySpec& spec,
                                             const CallContext& ctx) noexcept = 0;

  // Deletes a test copy, powering it off first if needed: cleanup must never be refused.
  // Unknown id: success.
  // @since 1.0
  virtual Status deleteTestCopy(const std::string& copyId, const CallContext& ctx) noexcept = 0;
};

}  // namespace warmsite::plugin

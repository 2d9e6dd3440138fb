#pragma once
// The object a plugin's factory returns: one per cloud host. It announces its capabilities and
// hands out its sub-interfaces; a part it does not offer is nullptr and its capability is false.
// The sub-interface pointers live as long as the plugin object.

#include "warmsite/plugin/compute.h"
#include "warmsite/plugin/edge.h"
#include "warmsite/plugin/network.h"
#include "warmsite/plugin/result.h"
#include "warmsite/plugin/test_isolation.h"
#include "warmsite/plugin/types.h"
#include "warmsite/plugin/visibility.h"

namespace warmsite::plugin {

class WARMSITE_VISIBLE CloudHostPlugin {
 public:
  // Destroying the object releases its connections; it never deletes backend state.
  virtual ~CloudHostPlugin() = default;

  // Constant for the object's life. @since 1.0
  virtual Capabilities capabilities() const noexcept = 0;

  // @since 1.0
  virtual ComputeApi* compute() noexcept { return nullptr; }
  // @since 1.0
  virtual NetworkApi* network() noexcept { return nullptr; }
  // @since 1.0
  virtual EdgeApi* edge() noexcept { return nullptr; }
  // @since 1.0
  virtual TestIsolationApi* testIsolation() noexcept { return nullptr; }

  // A cheap round trip to the backend: success means calls can be made now. @since 1.0
  virtual Status checkHealth(const CallContext& ctx) noexcept = 0;
};

}  // namespace warmsite::plugin

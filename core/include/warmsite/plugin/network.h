#pragma once
// Network part of the plugin ABI: one backend network per tenant plan network, on a VLAN that core
// allocated. Thread-safety and idempotency rules as in compute.h.

#include <string>
#include <vector>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"
#include "warmsite/plugin/visibility.h"

namespace warmsite::plugin {

class WARMSITE_VISIBLE NetworkApi {
 public:
  virtual ~NetworkApi() = default;

  // Creates the tenant network on spec.vlanId. Pre: the subscription's resources exist
  // (kNotFound); the VLAN is valid for the backend (kInvalidArgument) and not carried by another
  // Warmsite network of this cloud host (kAlreadyExists). Same id and spec again: success.
  // Failure: no network and no port group left.
  // @since 1.0
  virtual Result<NetworkInfo> createTenantNetwork(const TenantNetworkSpec& spec,
                                                  const CallContext& ctx) noexcept = 0;

  // Deletes a tenant network. Pre: no machine has a NIC on it, else kInvalidState.
  // Unknown id: success. Failure: the network is unchanged.
  // @since 1.0
  virtual Status deleteTenantNetwork(const std::string& networkId,
                                     const CallContext& ctx) noexcept = 0;

  // Every Warmsite-owned network on the backend (tenant networks and bubble networks).
  // @since 1.0
  virtual Result<std::vector<NetworkInfo>> listNetworks(const CallContext& ctx) noexcept = 0;
};

}  // namespace warmsite::plugin

#pragma once
// NetworkApi: a tenant network is an org VDC network named ws-<networkId>, marked with its spec.
// VLAN mode imports the vCenter port group carrying the network's VLAN (networkType OPAQUE,
// backing DV_PORTGROUP; a provider API); isolated mode creates an ISOLATED network from the VDC's
// network pool, where Cloud Director picks the backing and the VLAN id is Warmsite's bookkeeping.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "site.h"
#include "subscriptions.h"
#include "vcd_client.h"
#include "warmsite/plugin/network.h"

namespace warmsite::clouddirector {

struct NetworkRecord {
  plugin::TenantNetworkSpec spec;
  std::string urn;
  std::string status;  // REALIZED, or PENDING / REALIZATION_FAILED / ...
};

class NetworkService final : public plugin::NetworkApi {
 public:
  using UsageCheck = std::function<std::optional<std::string>(const std::string& networkId,
                                                              const plugin::CallContext& ctx)>;

  NetworkService(VcdClient& client, Site& site, SubscriptionStore& subscriptions)
      : client_(client), site_(site), subscriptions_(subscriptions) {}

  // Names a replica with a NIC on the network, if any (compute's registry answers).
  void setUsageCheck(UsageCheck check) { usage_ = std::move(check); }

  plugin::Result<plugin::NetworkInfo> createTenantNetwork(
      const plugin::TenantNetworkSpec& spec, const plugin::CallContext& ctx) noexcept override;
  plugin::Status deleteTenantNetwork(const std::string& networkId,
                                     const plugin::CallContext& ctx) noexcept override;
  plugin::Result<std::vector<plugin::NetworkInfo>> listNetworks(
      const plugin::CallContext& ctx) noexcept override;

  // A Warmsite network, from this object's cache or else listed from the backend.
  std::optional<NetworkRecord> find(const std::string& networkId, const plugin::CallContext& ctx);
  std::optional<std::string> anyNetworkOf(const std::string& subscriptionId,
                                          const plugin::CallContext& ctx);

 private:
  std::vector<NetworkRecord> listOwned(const plugin::CallContext& ctx);
  Json creationBody(const plugin::TenantNetworkSpec& spec, const plugin::CallContext& ctx);
  void remove(const std::string& urn, const plugin::CallContext& ctx);
  // Removes what a failed creation left (a network in REALIZATION_FAILED, say).
  void removeLeftover(const std::string& networkId, const plugin::CallContext& ctx);

  VcdClient& client_;
  Site& site_;
  SubscriptionStore& subscriptions_;
  UsageCheck usage_;
  std::mutex changeMutex_;  // creates and deletes one at a time: VLANs stay exclusive
  std::mutex cacheMutex_;
  std::map<std::string, NetworkRecord> cache_;
};

}  // namespace warmsite::clouddirector

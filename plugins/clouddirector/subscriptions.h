#pragma once
// Plan subscriptions served by the VDC, kept in the VDC's metadata (one entry per subscription,
// key warmsite.subscription.<id>, value tags.h's JSON), so they survive a restart of Warmsite and
// are visible to an operator in Cloud Director.

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "site.h"
#include "vcd_client.h"

namespace warmsite::clouddirector {

class SubscriptionStore {
 public:
  SubscriptionStore(VcdClient& client, Site& site) : client_(client), site_(site) {}

  // Read from the backend.
  std::optional<plugin::TenantResourcesSpec> read(const std::string& subscriptionId,
                                                  const plugin::CallContext& ctx);
  // From what this plugin object last read or wrote, else from the backend.
  std::optional<plugin::TenantResourcesSpec> cached(const std::string& subscriptionId,
                                                    const plugin::CallContext& ctx);
  // The subscription `user` (a replica, a network) is made in: kNotFound when there is none,
  // kInvalidArgument when it belongs to another tenant.
  plugin::TenantResourcesSpec require(const std::string& subscriptionId,
                                      const std::string& tenantId, const std::string& user,
                                      const plugin::CallContext& ctx);
  void write(const plugin::TenantResourcesSpec& spec, const plugin::CallContext& ctx);
  void erase(const std::string& subscriptionId, const plugin::CallContext& ctx);

 private:
  std::string entryPath(const std::string& subscriptionId, const plugin::CallContext& ctx);

  VcdClient& client_;
  Site& site_;
  std::mutex mutex_;
  std::map<std::string, plugin::TenantResourcesSpec> cache_;
};

}  // namespace warmsite::clouddirector

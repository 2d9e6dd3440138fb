#pragma once
// EdgeApi on the VDC's NSX-T edge gateway: a port mapping is a DNAT rule (external address and
// dnatExternalPort = the public side; internal address and a TENANT application port profile
// "ws-<proto>-<port>" = the replica's side); outbound NAT is an SNAT rule. Each rule's description
// marks its tenant, its Warmsite id and its position. Changes to one edge gateway hold its lock
// (as terraform-provider-vcd does) and are undone when a later step fails.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "keyed_mutex.h"
#include "networks.h"
#include "site.h"
#include "tags.h"
#include "vcd_client.h"
#include "warmsite/plugin/edge.h"

namespace warmsite::clouddirector {

class EdgeService final : public plugin::EdgeApi {
 public:
  EdgeService(VcdClient& client, Site& site, NetworkService& networks)
      : client_(client), site_(site), networks_(networks) {}

  plugin::Status applyTenantEdge(const plugin::TenantEdgeSpec& spec,
                                 const plugin::CallContext& ctx) noexcept override;
  plugin::Result<plugin::TenantEdgeSpec> tenantEdge(
      const std::string& tenantId, const plugin::CallContext& ctx) noexcept override;
  plugin::Status removeTenantEdge(const std::string& tenantId,
                                  const plugin::CallContext& ctx) noexcept override;

 private:
  struct PortProfile {
    plugin::Protocol protocol = plugin::Protocol::kTcp;
    std::uint16_t port = 0;
  };

  std::string rulesPath(const plugin::CallContext& ctx);
  std::vector<Json> listRules(const plugin::CallContext& ctx);
  // The urn of the application port profile for (protocol, port), created on first use.
  std::string profileFor(plugin::Protocol protocol, std::uint16_t port,
                         const plugin::CallContext& ctx);
  // What a profile stands for; nullopt for one that is not a single TCP/UDP port.
  std::optional<PortProfile> profileOf(const std::string& urn, const plugin::CallContext& ctx);
  void checkAgainstEdge(const plugin::TenantEdgeSpec& spec, const plugin::CallContext& ctx);
  void checkConflicts(const plugin::TenantEdgeSpec& spec, const std::vector<Json>& rules,
                      const plugin::CallContext& ctx);
  std::vector<Json> desiredRules(const plugin::TenantEdgeSpec& spec,
                                 const plugin::CallContext& ctx);
  void createRule(const Json& rule, const plugin::CallContext& ctx);
  void deleteRule(const std::string& ruleId, const plugin::CallContext& ctx);
  // Creates `toCreate`, checks on a re-list that each exists (learning its id), then deletes
  // `toDelete`; on a failure, puts the edge back as it was.
  void change(const std::vector<Json>& toCreate, const std::vector<Json>& toDelete,
              const std::vector<Json>& before, const plugin::CallContext& ctx);

  VcdClient& client_;
  Site& site_;
  NetworkService& networks_;
  KeyedMutex edgeLocks_;
  std::mutex profileMutex_;
  std::map<std::string, std::string> profileUrns_;              // profile name -> urn
  std::map<std::string, std::optional<PortProfile>> profiles_;  // urn -> what it stands for
};

}  // namespace warmsite::clouddirector

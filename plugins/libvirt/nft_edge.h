#pragma once
// The edge on nftables: one table per tenant ("inet warmsite-<tenant>") holding
//   prerouting/output (nat): public ip:port -> replica ip:port (DNAT), one rule per mapping,
//   postrouting (nat):       SNAT of each internet network's subnet leaving by the uplink,
//   forward (filter):        accepts for established flows, DNATed flows and outbound internet
//                            traffic; drops new traffic from the uplink to the tenant's addresses
//                            that did not come through a mapping.
// A table is replaced in one `nft -f` transaction (add, delete, define), so the rules in force are
// always the old set or the new one. Rule comments carry the rule and network ids, which is how
// the rules are read back from the kernel.

#include <map>
#include <string>

#include "config.h"
#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::libvirtplugin {

// Addresses parse and match in family, ports are not 0, subnets have no host bits, ids fit nft
// comments (kInvalidArgument); no public ip:port/protocol twice (kAlreadyExists).
plugin::Status validateEdgeSpec(const plugin::TenantEdgeSpec& spec);

// The nft script that replaces the tenant's table with `spec` (deletes it when spec is empty).
std::string renderEdgeScript(const plugin::TenantEdgeSpec& spec, const std::string& uplink);

// Every Warmsite tenant table in `nft -j list ruleset` output, by tenant id.
plugin::Result<std::map<std::string, plugin::TenantEdgeSpec>> parseEdgeRuleset(
    const std::string& json);

class NftEdge {
 public:
  explicit NftEdge(EdgeConfig config) : config_(std::move(config)) {}

  plugin::Result<std::map<std::string, plugin::TenantEdgeSpec>> readAll(
      const plugin::CallContext& ctx) const;
  plugin::Status apply(const plugin::TenantEdgeSpec& spec, const plugin::CallContext& ctx) const;
  const EdgeConfig& config() const { return config_; }

 private:
  EdgeConfig config_;
};

}  // namespace warmsite::libvirtplugin

#pragma once
// Edge part of the plugin ABI: inbound public-IP port mappings (DNAT) and outbound NAT for
// networks with internet access. Declarative: core sends the whole desired state of a tenant and
// the plugin makes the backend match it in one step. Thread-safety as in compute.h; calls for the
// same tenant are serialized by the plugin.

#include <string>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"
#include "warmsite/plugin/visibility.h"

namespace warmsite::plugin {

class WARMSITE_VISIBLE EdgeApi {
 public:
  virtual ~EdgeApi() = default;

  // Makes the tenant's edge rules equal to `spec`, atomically: after success exactly spec's rules
  // are in force; after a failure the previous rules still are. Pre: every mapping's public
  // ip:port/protocol is unique within the spec and not used by another tenant (kAlreadyExists);
  // addresses parse and families match (kInvalidArgument); NAT networks exist (kNotFound).
  // @since 1.0
  virtual Status applyTenantEdge(const TenantEdgeSpec& spec, const CallContext& ctx) noexcept = 0;

  // The rules in force for a tenant, read back from the backend. No rules: an empty spec.
  // @since 1.0
  virtual Result<TenantEdgeSpec> tenantEdge(const std::string& tenantId,
                                            const CallContext& ctx) noexcept = 0;

  // Removes every rule of the tenant. No rules: success.
  // @since 1.0
  virtual Status removeTenantEdge(const std::string& tenantId, const CallContext& ctx) noexcept = 0;
};

}  // namespace warmsite::plugin

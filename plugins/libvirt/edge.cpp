// The edge part of the libvirt plugin: tenant rules checked here, kept in nftables (nft_edge.h).

#include "libvirt_plugin.h"
#include "plugin_util.h"

namespace warmsite::libvirtplugin {

using plugin::CallContext;
using plugin::ErrorCode;
using plugin::Result;
using plugin::Status;

Status LibvirtPlugin::applyTenantEdge(const plugin::TenantEdgeSpec& spec,
                                      const CallContext& ctx) noexcept {
  return guarded("apply tenant edge", ctx, [&]() -> Status {
    if (auto status = validateEdgeSpec(spec); !status.ok()) return status;
    std::lock_guard lock(edgeMutex_);
    for (const auto& nat : spec.outboundNat) {
      const auto network = ledger_.network(nat.networkId);
      if (!network || network->isolated() || network->spec.tenantId != spec.tenantId) {
        return notFound("network", nat.networkId + " of tenant " + spec.tenantId);
      }
      if (!network->spec.internet) {
        return plugin::makeError(
            ErrorCode::kInvalidArgument,
            "network " + nat.networkId + " has no internet access; no outbound NAT");
      }
    }
    auto current = edge_->readAll(ctx);
    if (!current.ok()) return std::move(current).error();
    for (const auto& [tenantId, other] : *current) {
      if (tenantId == spec.tenantId) continue;
      for (const auto& taken : other.mappings) {
        for (const auto& mapping : spec.mappings) {
          if (taken.publicIp == mapping.publicIp && taken.publicPort == mapping.publicPort &&
              taken.protocol == mapping.protocol) {
            return plugin::makeError(ErrorCode::kAlreadyExists,
                                     mapping.publicIp + ":" + std::to_string(mapping.publicPort) +
                                         " is already mapped for another tenant");
          }
        }
      }
    }
    return edge_->apply(spec, ctx);
  });
}

Result<plugin::TenantEdgeSpec> LibvirtPlugin::tenantEdge(const std::string& tenantId,
                                                         const CallContext& ctx) noexcept {
  return guarded("tenant edge", ctx, [&]() -> Result<plugin::TenantEdgeSpec> {
    auto current = edge_->readAll(ctx);
    if (!current.ok()) return std::move(current).error();
    auto it = current->find(tenantId);
    if (it == current->end()) return plugin::TenantEdgeSpec{tenantId, {}, {}};
    return it->second;
  });
}

Status LibvirtPlugin::removeTenantEdge(const std::string& tenantId,
                                       const CallContext& ctx) noexcept {
  return guarded("remove tenant edge", ctx, [&]() -> Status {
    if (auto status = checkId("tenantId", tenantId); !status.ok()) return status;
    std::lock_guard lock(edgeMutex_);
    return edge_->apply(plugin::TenantEdgeSpec{tenantId, {}, {}}, ctx);
  });
}

}  // namespace warmsite::libvirtplugin

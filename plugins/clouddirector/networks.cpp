#include "networks.h"

#include "guarded.h"
#include "tags.h"
#include "util.h"

namespace warmsite::clouddirector {

using plugin::ErrorCode;

namespace {

plugin::NetworkInfo infoOf(const NetworkRecord& record) {
  return {record.spec.networkId,
          record.spec.tenantId,
          record.spec.subscriptionId,
          record.spec.vlanId,
          record.spec.internet,
          false,
          record.urn};
}

void validate(const plugin::TenantNetworkSpec& spec) {
  if (spec.networkId.empty() || spec.networkId.size() > 120) {
    fail(ErrorCode::kInvalidArgument, "networkId must be 1-120 characters");
  }
  if (spec.vlanId < 1 || spec.vlanId > 4094) {
    fail(ErrorCode::kInvalidArgument, "network " + spec.networkId + ": VLAN " +
                                          std::to_string(spec.vlanId) + " is outside 1-4094");
  }
}

}  // namespace

std::vector<NetworkRecord> NetworkService::listOwned(const plugin::CallContext& ctx) {
  std::vector<NetworkRecord> owned;
  for (const auto& item : client_.listAll("/cloudapi/1.0.0/orgVdcNetworks",
                                          "ownerRef.id==" + site_.vdc(ctx).urn, ctx)) {
    auto spec = parseNetworkTag(textOf(item, "description"));
    if (!spec || textOf(item, "name") != networkName(spec->networkId)) continue;
    owned.push_back({*spec, textOf(item, "id"), textOf(item, "status")});
  }
  std::lock_guard lock(cacheMutex_);
  cache_.clear();
  for (const auto& record : owned) cache_[record.spec.networkId] = record;
  return owned;
}

std::optional<NetworkRecord> NetworkService::find(const std::string& networkId,
                                                  const plugin::CallContext& ctx) {
  {
    std::lock_guard lock(cacheMutex_);
    if (auto it = cache_.find(networkId); it != cache_.end()) return it->second;
  }
  for (auto& record : listOwned(ctx)) {
    if (record.spec.networkId == networkId) return record;
  }
  return std::nullopt;
}

std::optional<std::string> NetworkService::anyNetworkOf(const std::string& subscriptionId,
                                                        const plugin::CallContext& ctx) {
  for (const auto& record : listOwned(ctx)) {
    if (record.spec.subscriptionId == subscriptionId) return record.spec.networkId;
  }
  return std::nullopt;
}

Json NetworkService::creationBody(const plugin::TenantNetworkSpec& spec,
                                  const plugin::CallContext& ctx) {
  const Config& config = client_.config();
  const VdcRef& vdc = site_.vdc(ctx);
  const Json subnet = {{"gateway", config.networkGateway},
                       {"prefixLength", config.networkPrefixLength},
                       {"ipRanges", {{"values", Json::array()}}},
                       {"enabled", true}};
  Json body = {{"name", networkName(spec.networkId)},
               {"description", networkTag(spec)},
               {"ownerRef", {{"id", vdc.urn}}},
               {"subnets", {{"values", Json::array({subnet})}}}};
  if (config.networkMode == NetworkMode::kIsolated) {
    body["networkType"] = "ISOLATED";
    return body;
  }
  const std::string vlan = std::to_string(spec.vlanId);
  for (const auto& group :
       client_.listAll("/cloudapi/1.0.0/virtualCenters/resources/importableDvpgs",
                       "orgVdcId==" + vdc.urn, ctx)) {
    if (textOf(group, "vlan") != vlan) continue;
    body["networkType"] = "OPAQUE";
    body["backingNetworkType"] = "DV_PORTGROUP";
    body["backingNetworkId"] = textOf(objectOf(group, "backingRef"), "id");
    return body;
  }
  fail(ErrorCode::kInvalidArgument,
       "network " + spec.networkId + ": no vCenter port group on VLAN " + vlan +
           " can be imported into VDC " + config.vdc +
           " (it needs a free distributed port group with that VLAN)",
       "NO_IMPORTABLE_DVPG");
}

void NetworkService::remove(const std::string& urn, const plugin::CallContext& ctx) {
  client_.deleteAndWait("/cloudapi/1.0.0/orgVdcNetworks/" + urn, Api::kCloud,
                        "delete network " + urn, ctx);
}

void NetworkService::removeLeftover(const std::string& networkId, const plugin::CallContext& ctx) {
  for (const auto& item : client_.listAll(
           "/cloudapi/1.0.0/orgVdcNetworks",
           "name==" + networkName(networkId) + ";ownerRef.id==" + site_.vdc(ctx).urn, ctx)) {
    remove(textOf(item, "id"), ctx);
  }
}

plugin::Result<plugin::NetworkInfo> NetworkService::createTenantNetwork(
    const plugin::TenantNetworkSpec& spec, const plugin::CallContext& ctx) noexcept {
  return guarded("create_tenant_network", [&]() -> plugin::Result<plugin::NetworkInfo> {
    validate(spec);
    std::lock_guard change(changeMutex_);
    for (const auto& record : listOwned(ctx)) {
      if (record.spec.networkId == spec.networkId) {
        if (record.status == "REALIZATION_FAILED") {
          remove(record.urn, ctx);  // what an earlier failed attempt left: start over
          continue;
        }
        if (record.spec == spec) return infoOf(record);
        fail(ErrorCode::kAlreadyExists,
             "network " + spec.networkId + " already exists with another spec", "DUPLICATE_NAME");
      }
      if (record.spec.vlanId == spec.vlanId) {
        fail(ErrorCode::kAlreadyExists, "VLAN " + std::to_string(spec.vlanId) +
                                            " is already carried by network " +
                                            record.spec.networkId);
      }
    }
    subscriptions_.require(spec.subscriptionId, spec.tenantId, "network " + spec.networkId, ctx);
    const std::string body = creationBody(spec, ctx).dump();
    NetworkRecord record{spec, "", "REALIZED"};
    try {
      const Json task = client_.runTask(
          [&]() -> std::string {
            const ApiResponse response = client_.call("POST", "/cloudapi/1.0.0/orgVdcNetworks",
                                                      Api::kCloud, ctx, body, "application/json");
            if (response.status == 201) {  // created at once (some versions): the body is it
              record.urn = textOf(response.json(), "id");
              return {};
            }
            return client_.acceptedTask(response, "create network " + spec.networkId);
          },
          ctx, [&] { removeLeftover(spec.networkId, ctx); });
      if (record.urn.empty()) {
        record.urn = textOf(objectOf(task, "owner"), "id");  // the new network
      }
    } catch (const Failure& failure) {
      if (!mayStillComplete(failure)) removeLeftover(spec.networkId, cleanupContext());
      throw;
    }
    std::lock_guard lock(cacheMutex_);
    cache_[spec.networkId] = record;
    return infoOf(record);
  });
}

plugin::Status NetworkService::deleteTenantNetwork(const std::string& networkId,
                                                   const plugin::CallContext& ctx) noexcept {
  return guarded("delete_tenant_network", [&]() -> plugin::Status {
    std::lock_guard change(changeMutex_);
    const auto record = find(networkId, ctx);
    if (!record) return {};
    if (usage_) {
      if (auto replica = usage_(networkId, ctx)) {
        fail(ErrorCode::kInvalidState,
             "network " + networkId + " still has a NIC of replica " + *replica);
      }
    }
    remove(record->urn, ctx);
    std::lock_guard lock(cacheMutex_);
    cache_.erase(networkId);
    return {};
  });
}

plugin::Result<std::vector<plugin::NetworkInfo>> NetworkService::listNetworks(
    const plugin::CallContext& ctx) noexcept {
  return guarded("list_networks", [&]() -> plugin::Result<std::vector<plugin::NetworkInfo>> {
    std::vector<plugin::NetworkInfo> networks;
    for (const auto& record : listOwned(ctx)) networks.push_back(infoOf(record));
    return networks;
  });
}

}  // namespace warmsite::clouddirector

#include "subscriptions.h"

#include "failure.h"
#include "tags.h"
#include "util.h"
#include "xml_writer.h"

namespace warmsite::clouddirector {

std::optional<plugin::TenantResourcesSpec> SubscriptionStore::read(
    const std::string& subscriptionId, const plugin::CallContext& ctx) {
  const Json metadata = client_.get(site_.vdc(ctx).path + "/metadata", Api::kLegacy, ctx);
  std::optional<plugin::TenantResourcesSpec> found;
  for (const auto& entry : arrayOf(metadata, "metadataEntry")) {
    if (subscriptionIdOfKey(textOf(entry, "key")) != subscriptionId) continue;
    const Json typed = objectOf(entry, "typedValue");
    found = parseSubscriptionValue(subscriptionId, textOf(typed, "value"));
  }
  std::lock_guard lock(mutex_);
  if (found) {
    cache_[subscriptionId] = *found;
  } else {
    cache_.erase(subscriptionId);
  }
  return found;
}

std::optional<plugin::TenantResourcesSpec> SubscriptionStore::cached(
    const std::string& subscriptionId, const plugin::CallContext& ctx) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(subscriptionId); it != cache_.end()) return it->second;
  }
  return read(subscriptionId, ctx);
}

plugin::TenantResourcesSpec SubscriptionStore::require(const std::string& subscriptionId,
                                                       const std::string& tenantId,
                                                       const std::string& user,
                                                       const plugin::CallContext& ctx) {
  auto subscription = cached(subscriptionId, ctx);
  if (!subscription) {
    fail(plugin::ErrorCode::kNotFound,
         "subscription " + subscriptionId + " has no resources on this cloud host (" + user + ")");
  }
  if (subscription->tenantId != tenantId) {
    fail(plugin::ErrorCode::kInvalidArgument,
         "subscription " + subscriptionId + " does not belong to tenant " + tenantId);
  }
  return std::move(*subscription);
}

std::string SubscriptionStore::entryPath(const std::string& subscriptionId,
                                         const plugin::CallContext& ctx) {
  // Writes go through the admin view of the VDC, as go-vcloud-director's AdminVdc does.
  return "/api/admin/vdc/" + site_.vdc(ctx).uuid + "/metadata/" +
         encodeQueryValue(subscriptionKey(subscriptionId));
}

void SubscriptionStore::write(const plugin::TenantResourcesSpec& spec,
                              const plugin::CallContext& ctx) {
  XmlWriter xml;
  xml.open("MetadataValue", {{"xmlns", kVcloudNamespace}, {"xmlns:xsi", kXsiNamespace}})
      .open("TypedValue", {{"xsi:type", "MetadataStringValue"}})
      .element("Value", subscriptionValue(spec));
  const std::string body = xml.finish(), path = entryPath(spec.subscriptionId, ctx);
  client_.runTask(
      [&] {
        return client_.acceptedTask(
            client_.call("PUT", path, Api::kLegacy, ctx, body,
                         "application/vnd.vmware.vcloud.metadata.value+xml"),
            "record subscription " + spec.subscriptionId + " in VDC metadata");
      },
      ctx);
  std::lock_guard lock(mutex_);
  cache_[spec.subscriptionId] = spec;
}

void SubscriptionStore::erase(const std::string& subscriptionId, const plugin::CallContext& ctx) {
  const std::string path = entryPath(subscriptionId, ctx);
  client_.runTask(
      [&] {
        return client_.acceptedTask(client_.call("DELETE", path, Api::kLegacy, ctx),
                                    "remove subscription " + subscriptionId + " from VDC metadata");
      },
      ctx);
  std::lock_guard lock(mutex_);
  cache_.erase(subscriptionId);
}

}  // namespace warmsite::clouddirector

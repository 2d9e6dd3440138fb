#include "site.h"

#include <strings.h>

#include "failure.h"
#include "util.h"

namespace warmsite::clouddirector {

using plugin::ErrorCode;

std::string uuidOfUrn(const std::string& urn) {
  const auto colon = urn.rfind(':');
  return colon == std::string::npos ? urn : urn.substr(colon + 1);
}

const VdcRef& Site::vdc(const plugin::CallContext& ctx) {
  std::lock_guard lock(mutex_);
  if (vdc_) return *vdc_;
  const Config& config = client_.config();
  client_.ensureSession(ctx);
  for (const auto& item : client_.listAll("/cloudapi/1.0.0/vdcs", "name==" + config.vdc, ctx)) {
    const Json org = objectOf(item, "org");
    if (textOf(item, "name") != config.vdc ||
        strcasecmp(textOf(org, "name").c_str(), config.org.c_str()) != 0) {
      continue;
    }
    VdcRef ref;
    ref.urn = textOf(item, "id");
    ref.uuid = uuidOfUrn(ref.urn);
    ref.path = "/api/vdc/" + ref.uuid;
    ref.orgUuid = uuidOfUrn(textOf(org, "id"));
    ref.orgName = textOf(org, "name");
    if (config.providerSession()) client_.setTenantContext(ref.orgUuid, ref.orgName);
    vdc_ = ref;
    return *vdc_;
  }
  fail(ErrorCode::kInvalidArgument, "config field \"vdc\": org " + config.org +
                                        " has no VDC named \"" + config.vdc + "\" that " +
                                        config.username + "@" + config.loginOrg + " can see");
}

void Site::updateStorageProfiles(const Json& vdc) {
  std::map<std::string, std::string> profiles;
  const Json list = objectOf(vdc, "vdcStorageProfiles");
  for (const auto& profile : arrayOf(list, "vdcStorageProfile")) {
    profiles[textOf(profile, "name")] = textOf(profile, "href");
  }
  std::lock_guard lock(mutex_);
  profiles_ = std::move(profiles);
}

std::string Site::storageProfileHref(const std::string& name, const plugin::CallContext& ctx) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = profiles_.find(name); it != profiles_.end()) return it->second;
  }
  updateStorageProfiles(client_.get(vdc(ctx).path, Api::kLegacy, ctx));
  std::lock_guard lock(mutex_);
  auto it = profiles_.find(name);
  return it == profiles_.end() ? std::string() : it->second;
}

const EdgeRef& Site::edge(const plugin::CallContext& ctx) {
  const std::string vdcUrn = vdc(ctx).urn;
  std::lock_guard lock(mutex_);
  if (edge_) return *edge_;
  const Config& config = client_.config();
  std::vector<EdgeRef> candidates;
  for (const auto& item :
       client_.listAll("/cloudapi/1.0.0/edgeGateways", "ownerRef.id==" + vdcUrn, ctx)) {
    const Json backing = objectOf(item, "gatewayBacking");
    if (textOf(backing, "gatewayType") != "NSXT_BACKED") continue;  // NSX-V has another NAT API
    if (!config.edgeGateway.empty() && textOf(item, "name") != config.edgeGateway) continue;
    candidates.push_back({textOf(item, "id"), textOf(item, "name")});
  }
  if (candidates.size() != 1) {
    fail(ErrorCode::kInvalidArgument,
         config.edgeGateway.empty()
             ? "config field \"edge_gateway\": VDC " + config.vdc + " has " +
                   std::to_string(candidates.size()) + " NSX-T edge gateways; name the one to use"
             : "config field \"edge_gateway\": VDC " + config.vdc +
                   " has no NSX-T edge gateway named \"" + config.edgeGateway + "\"");
  }
  edge_ = candidates.front();
  return *edge_;
}

std::string Site::vappQueryType() const {
  return client_.config().providerSession() ? "adminVApp" : "vApp";
}

std::string Site::networkHref(const std::string& networkUrn) const {
  return client_.config().url + "/api/admin/network/" + uuidOfUrn(networkUrn);
}

}  // namespace warmsite::clouddirector

#pragma once
// The Cloud Director objects the config names, resolved once per plugin object on the first call
// that needs them: the org and VDC, the VDC's storage profiles, and the edge gateway.

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "vcd_client.h"

namespace warmsite::clouddirector {

struct VdcRef {
  std::string urn;  // urn:vcloud:vdc:<uuid>
  std::string uuid;
  std::string path;  // /api/vdc/<uuid>
  std::string orgUuid;
  std::string orgName;
};

struct EdgeRef {
  std::string urn;  // urn:vcloud:gateway:<uuid>
  std::string name;
};

class Site {
 public:
  explicit Site(VcdClient& client) : client_(client) {}

  // Logs in if needed and finds the VDC (and, for a provider, sets the tenant context).
  const VdcRef& vdc(const plugin::CallContext& ctx);
  // The href of the VDC's storage profile `name`, "" when it has none (re-read once on a miss).
  std::string storageProfileHref(const std::string& name, const plugin::CallContext& ctx);
  // Takes the storage profiles of a freshly read VDC (GET /api/vdc/<uuid>).
  void updateStorageProfiles(const Json& vdc);
  const EdgeRef& edge(const plugin::CallContext& ctx);

  // The query type listing vApps: system administrators use the admin variant.
  std::string vappQueryType() const;
  // The legacy href of an org VDC network, as compose's ParentNetwork wants it.
  std::string networkHref(const std::string& networkUrn) const;

 private:
  VcdClient& client_;
  std::mutex mutex_;
  std::optional<VdcRef> vdc_;
  std::optional<EdgeRef> edge_;
  std::map<std::string, std::string> profiles_;  // name -> href
};

// The uuid of "urn:vcloud:<kind>:<uuid>".
std::string uuidOfUrn(const std::string& urn);

}  // namespace warmsite::clouddirector

// Cloud hosts (plugin instances), their VLAN ranges, and the loaded plugins.
#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ids.h"

namespace warmsite::api {

namespace {

nlohmann::json statusOf(plugins::CloudHostRegistry& registry, const std::string& id) {
  for (const auto& status : registry.status()) {
    if (status.cloudHostId != id) continue;
    nlohmann::json json{
        {"attached", status.attached},
        {"error", status.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(status.error)}};
    if (auto plugin = registry.find(id)) {
      const auto caps = plugin->capabilities();
      json["capabilities"] = {{"compute", caps.compute},
                              {"network", caps.network},
                              {"edge", caps.edge},
                              {"test_isolation", caps.testIsolation},
                              {"graceful_shutdown", caps.gracefulShutdown},
                              {"max_restore_points_per_replica", caps.maxRestorePointsPerReplica},
                              {"max_nics_per_replica", caps.maxNicsPerReplica}};
    }
    return json;
  }
  return {{"attached", false}, {"error", "not attached"}};
}

// Creates the plugin object for `host`, which validates its config. A refusal is a 400 carrying the
// plugin's own message, and the registry goes back to `previous` (or forgets the id).
void attachOrThrow(ApiContext& context, const domain::CloudHost& host,
                   const std::optional<domain::CloudHost>& previous = std::nullopt) {
  const auto* library = context.catalog.find(host.plugin);
  if (library == nullptr) {
    std::string loaded;
    for (const auto* l : context.catalog.libraries())
      loaded += (loaded.empty() ? "" : ", ") + l->name();
    throw badRequest("no plugin named \"" + host.plugin + "\" is loaded (loaded: " + loaded + ")",
                     {{"field", "plugin"}});
  }
  auto attached = context.cloudHosts.attach(host);
  if (!attached.ok()) {
    if (previous) {
      (void)context.cloudHosts.attach(*previous);  // it worked before; keep it working
    } else {
      context.cloudHosts.detach(host.id);
    }
    const auto& error = attached.error();
    const bool rejected = error.cause == plugins::PluginFailure::kConfigRejected &&
                          error.pluginError.code == plugin::ErrorCode::kInvalidArgument;
    throw ApiError(
        rejected ? 400 : 502, rejected ? "invalid_argument" : "plugin_failed",
        rejected ? "config rejected by plugin " + host.plugin + ": " + error.pluginError.message
                 : error.message,
        {{"field", "config"}});
  }
}

domain::VlanRange readRange(JsonInput& body, std::string id, std::string cloudHostId) {
  domain::VlanRange range;
  range.id = std::move(id);
  range.cloudHostId = std::move(cloudHostId);
  range.first = static_cast<std::uint32_t>(body.unsignedInt("first", 1, 4094));
  range.last = static_cast<std::uint32_t>(body.unsignedInt("last", 1, 4094));
  range.internet = body.optionalBool("internet").value_or(false);
  body.finish();
  require(domain::checkVlanRange(range.first, range.last), "last");
  return range;
}

nlohmann::json rangesWithUsage(store::Transaction& tx, const std::string& cloudHostId) {
  return {{"ranges", toJsonArray(tx.listVlanRanges(cloudHostId))},
          {"free_with_internet", tx.freeVlanCount(cloudHostId, true)},
          {"free_without_internet", tx.freeVlanCount(cloudHostId, false)}};
}

domain::CloudHost requireHost(store::Transaction& tx, const std::string& id) {
  auto host = tx.findCloudHost(id);
  if (!host) throw notFound("cloud host", id);
  return *host;
}

}  // namespace

void addCloudHostRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/plugins", Access::kProvider, [&context](ApiRequest&) {
    ApiResponse response;
    response.body["plugins"] = nlohmann::json::array();
    for (const auto* library : context.catalog.libraries()) {
      response.body["plugins"].push_back({{"name", library->name()},
                                          {"version", library->version()},
                                          {"path", library->path().string()},
                                          {"abi_minor", library->abiMinor()}});
    }
    response.body["failures"] = nlohmann::json::array();
    for (const auto& failure : context.catalog.failures()) {
      response.body["failures"].push_back(
          {{"cause", plugins::toString(failure.cause)}, {"message", failure.message}});
    }
    return response;
  });

  router.add("GET", "/api/v1/cloud-hosts", Access::kProvider, [&context](ApiRequest&) {
    auto hosts = context.store.read([](store::Transaction& tx) { return tx.listCloudHosts(); });
    auto array = nlohmann::json::array();
    for (const auto& host : hosts)
      array.push_back(toJson(host, statusOf(context.cloudHosts, host.id)));
    return ApiResponse{200, array};
  });

  router.add("POST", "/api/v1/cloud-hosts", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    domain::CloudHost host;
    host.id = domain::newId("ch");
    host.name = body.string("name", 256);
    host.plugin = body.string("plugin", 64);
    host.configJson = body.rawObject("config").dump();
    body.finish();
    require(domain::checkAccountName(host.name), "name");
    host.createdUnix = security::nowUnix();
    attachOrThrow(context, host);
    try {
      context.store.write([&](store::Transaction& tx) { tx.insertCloudHost(host); });
    } catch (...) {
      context.cloudHosts.detach(host.id);
      throw;
    }
    ApiResponse response{201, toJson(host, statusOf(context.cloudHosts, host.id))};
    response.headers.emplace_back("Location", "/api/v1/cloud-hosts/" + host.id);
    return response;
  });

  router.add("GET", "/api/v1/cloud-hosts/{id}", Access::kProvider, [&context](ApiRequest& request) {
    auto host = context.store.read(
        [&](store::Transaction& tx) { return requireHost(tx, request.param("id")); });
    return ApiResponse{200, toJson(host, statusOf(context.cloudHosts, host.id))};
  });

  router.add("PATCH", "/api/v1/cloud-hosts/{id}", Access::kProvider,
             [&context](ApiRequest& request) {
               auto body = request.body();
               const auto name = body.optionalString("name", 256);
               const bool newConfig = body.has("config");
               const auto config = newConfig ? body.rawObject("config").dump() : std::string();
               body.finish();
               if (name) require(domain::checkAccountName(*name), "name");
               auto host = context.store.read(
                   [&](store::Transaction& tx) { return requireHost(tx, request.param("id")); });
               const auto previous = host;
               if (name) host.name = *name;
               if (newConfig) {
                 host.configJson = config;
                 attachOrThrow(context, host, previous);
               }
               try {
                 context.store.write([&](store::Transaction& tx) { tx.updateCloudHost(host); });
               } catch (...) {
                 if (newConfig)
                   (void)context.cloudHosts.attach(previous);  // best effort: the old config worked
                 throw;
               }
               return ApiResponse{200, toJson(host, statusOf(context.cloudHosts, host.id))};
             });

  router.add("DELETE", "/api/v1/cloud-hosts/{id}", Access::kProvider,
             [&context](ApiRequest& request) {
               context.store.write([&](store::Transaction& tx) {
                 requireHost(tx, request.param("id"));
                 tx.deleteCloudHost(request.param("id"));
               });
               context.cloudHosts.detach(request.param("id"));
               return ApiResponse(204);
             });

  router.add("GET", "/api/v1/cloud-hosts/{id}/vlan-ranges", Access::kProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 requireHost(tx, request.param("id"));
                 return ApiResponse{200, rangesWithUsage(tx, request.param("id"))};
               });
             });

  router.add("POST", "/api/v1/cloud-hosts/{id}/vlan-ranges", Access::kProvider,
             [&context](ApiRequest& request) {
               auto body = request.body();
               auto range = readRange(body, domain::newId("vr"), request.param("id"));
               return context.store.write([&](store::Transaction& tx) {
                 requireHost(tx, range.cloudHostId);
                 tx.insertVlanRange(range);
                 ApiResponse response{201, toJson(range)};
                 response.headers.emplace_back(
                     "Location",
                     "/api/v1/cloud-hosts/" + range.cloudHostId + "/vlan-ranges/" + range.id);
                 return response;
               });
             });

  router.add("PUT", "/api/v1/cloud-hosts/{id}/vlan-ranges/{rangeId}", Access::kProvider,
             [&context](ApiRequest& request) {
               auto body = request.body();
               auto range = readRange(body, request.param("rangeId"), request.param("id"));
               return context.store.write([&](store::Transaction& tx) {
                 auto existing = tx.findVlanRange(range.id);
                 if (!existing || existing->cloudHostId != range.cloudHostId)
                   throw notFound("VLAN range", range.id);
                 tx.updateVlanRange(range);
                 return ApiResponse{200, toJson(range)};
               });
             });

  router.add("DELETE", "/api/v1/cloud-hosts/{id}/vlan-ranges/{rangeId}", Access::kProvider,
             [&context](ApiRequest& request) {
               context.store.write([&](store::Transaction& tx) {
                 auto existing = tx.findVlanRange(request.param("rangeId"));
                 if (!existing || existing->cloudHostId != request.param("id")) {
                   throw notFound("VLAN range", request.param("rangeId"));
                 }
                 tx.deleteVlanRange(existing->id);
               });
               return ApiResponse(204);
             });
}

}  // namespace warmsite::api

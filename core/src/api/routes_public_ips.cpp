// The SP's pool of public IP addresses (IPv4 and IPv6, single addresses or ranges).
#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ip_address.h"

namespace warmsite::api {

namespace {
constexpr std::size_t kMaxAddressesPerRequest = 65'536;
}

void addPublicIpRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/public-ips", Access::kProvider, [&context](ApiRequest&) {
    return context.store.read([](store::Transaction& tx) {
      return ApiResponse{
          200, {{"addresses", toJsonArray(tx.listPublicIps())}, {"free", tx.freePublicIpCount()}}};
    });
  });

  router.add("POST", "/api/v1/public-ips", Access::kProvider, [&context](ApiRequest& request) {
    auto body = request.body();
    const auto entries = body.stringArray("addresses", 1024, 100);
    body.finish();
    if (entries.empty())
      throw badRequest("field \"addresses\" must list at least one address or range");
    auto expanded = domain::expandAddressList(entries, kMaxAddressesPerRequest);
    if (auto* error = std::get_if<domain::ParseError>(&expanded)) {
      throw badRequest("field \"addresses\": " + error->message, {{"field", "addresses"}});
    }
    std::vector<domain::PublicIp> addresses;
    for (const auto& address : std::get<std::vector<domain::IpAddress>>(expanded)) {
      addresses.push_back({address.toString(), address.family, {}, {}});
    }
    context.store.write([&](store::Transaction& tx) { tx.insertPublicIps(addresses); });
    return ApiResponse{201, {{"added", addresses.size()}}};
  });

  router.add("DELETE", "/api/v1/public-ips/{address}", Access::kProvider,
             [&context](ApiRequest& request) {
               auto parsed = domain::parseIpAddress(request.param("address"));
               if (auto* error = std::get_if<domain::ParseError>(&parsed))
                 throw badRequest(error->message);
               const auto canonical = std::get<domain::IpAddress>(parsed).toString();
               context.store.write([&](store::Transaction& tx) { tx.deletePublicIp(canonical); });
               return ApiResponse(204);
             });
}

}  // namespace warmsite::api

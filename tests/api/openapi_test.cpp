// docs/openapi.yaml and the router describe the same API: every documented operation exists with
// the documented access, and every route is documented.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "tests/api/api_fixture.h"

namespace warmsite::apitest {
namespace {

std::string accessName(api::Access access) {
  switch (access) {
    case api::Access::kPublic:
      return "public";
    case api::Access::kAuthenticated:
      return "authenticated";
    case api::Access::kProvider:
      return "provider";
    case api::Access::kTenantOrProvider:
      return "tenant_or_provider";
  }
  return "?";
}

TEST_F(ApiTest, OpenApiDocumentMatchesTheRouterBothWays) {
  const auto document = YAML::LoadFile(std::string(WARMSITE_SOURCE_DIR) + "/docs/openapi.yaml");
  ASSERT_EQ(document["openapi"].as<std::string>().substr(0, 2), "3.");
  const std::string base = document["servers"][0]["url"].as<std::string>();  // "/api/v1"
  std::map<std::string, std::string> documented;  // "METHOD path" -> access
  for (const auto& path : document["paths"]) {
    for (const auto& operation : path.second) {
      std::string method = operation.first.as<std::string>();
      if (method == "parameters") continue;
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      ASSERT_TRUE(operation.second["x-access"])
          << method << " " << path.first << " has no x-access";
      ASSERT_TRUE(operation.second["responses"])
          << method << " " << path.first << " has no responses";
      documented[method + " " + base + path.first.as<std::string>()] =
          operation.second["x-access"].as<std::string>();
    }
  }
  std::map<std::string, std::string> routed;
  for (const auto& route : orchestrator_->api().router().routes()) {
    routed[route.method + " " + route.pattern] = accessName(route.access);
  }
  for (const auto& [operation, access] : routed) {
    auto it = documented.find(operation);
    EXPECT_NE(it, documented.end()) << operation << " is not documented in docs/openapi.yaml";
    if (it != documented.end()) {
      EXPECT_EQ(it->second, access) << operation << " access";
    }
  }
  for (const auto& [operation, access] : documented) {
    EXPECT_TRUE(routed.contains(operation)) << operation << " is documented but not routed";
  }
}

}  // namespace
}  // namespace warmsite::apitest

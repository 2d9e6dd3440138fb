// The clouddirector plugin's connection to Cloud Director: config checks, TLS (CA file, pinned
// thumbprint, refusal), tenant and provider sessions, API version choice, logging in again after
// a token expired, and paging.

#include <gmock/gmock.h>

#include "tests/clouddirector/harness.h"

namespace warmsite::clouddirector::testing {
namespace {

using plugin::ErrorCode;
using ::testing::HasSubstr;

TEST(ClouddirectorConfig, EachBadFieldIsNamed) {
  Harness harness;
  struct Case {
    const char* field;
    nlohmann::json changes;  // null removes the field
  };
  const std::vector<Case> cases = {
      {"url", {{"url", nullptr}}},
      {"url", {{"url", "http://vcd.example.com"}}},
      {"url", {{"url", "https://vcd.example.com/api"}}},
      {"org", {{"org", ""}}},
      {"vdc", {{"vdc", 7}}},
      {"password", {{"password", nullptr}}},
      {"login_org", {{"login_org", "other-org"}}},
      {"network_mode", {{"network_mode", "bridged"}}},
      {"network_mode", {{"login_org", nullptr}}},  // VLAN import needs a provider login
      {"network_subnet", {{"network_subnet", "10.0.0.1"}}},
      {"tls", {{"tls", {{"ca_file", "/etc/hostname"}, {"pinned_sha256", std::string(64, 'A')}}}}},
      {"tls.pinned_sha256", {{"tls", {{"pinned_sha256", "12:34"}}}}},
      {"tls.ca_file", {{"tls", {{"ca_file", "/nonexistent/ca.pem"}}}}},
      {"api_version", {{"api_version", "36.0"}}},
      {"retry.attempts", {{"retry", {{"attempts", 0}}}}},
      {"hardware_version", {{"hardware_version", "19"}}},
      {"vcenter", {{"vcenter", "vc-01"}}},
  };
  for (const auto& c : cases) {
    nlohmann::json config = harness.config();
    for (const auto& [key, value] : c.changes.items()) {
      if (value.is_null()) {
        config.erase(key);
      } else {
        config[key] = value;
      }
    }
    auto created = harness.create(config.dump());
    ASSERT_FALSE(created.ok()) << c.changes.dump() << " was accepted";
    EXPECT_EQ(created.error().pluginError.code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(created.error().pluginError.message, HasSubstr("\"" + std::string(c.field) + "\""))
        << c.changes.dump();
  }
  EXPECT_EQ(harness.simulator.requests().size(), 0u) << "config checks must not call the cell";
}

TEST(ClouddirectorConfig, NotJsonIsInvalidArgument) {
  Harness harness;
  auto created = harness.create("{\"url\": ");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().pluginError.code, ErrorCode::kInvalidArgument);
}

TEST(ClouddirectorTls, APinnedThumbprintReplacesTheCaFile) {
  Harness harness;
  auto plugin = harness.open({{"tls", {{"pinned_sha256", harness.simulator.thumbprint()}}}});
  ASSERT_OK(plugin->checkHealth(Harness::ctx()));
}

TEST(ClouddirectorTls, AWrongPinIsRefusedBeforeAnyRequest) {
  Harness harness;
  auto plugin = harness.open({{"tls", {{"pinned_sha256", std::string(64, 'A')}}}});
  const auto health = plugin->checkHealth(Harness::ctx());
  ASSERT_FALSE(health.ok());
  EXPECT_EQ(health.error().code, ErrorCode::kPermissionDenied);
  // The message names the certificate the server showed, so the SP can check it.
  std::string actual = harness.simulator.thumbprint();
  std::erase(actual, ':');
  EXPECT_THAT(health.error().message, HasSubstr(actual));
  EXPECT_EQ(harness.simulator.requests().size(), 0u) << "no request may leave before the pin";
}

TEST(ClouddirectorTls, AnUntrustedCertificateIsRefused) {
  Harness harness;
  auto plugin = harness.open({{"tls", nullptr}});  // the system trust store does not know it
  const auto health = plugin->checkHealth(Harness::ctx());
  ASSERT_FALSE(health.ok());
  EXPECT_EQ(health.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(harness.simulator.requests().size(), 0u);
}

TEST(ClouddirectorSession, ATenantLoginWorksWithIsolatedNetworks) {
  Harness harness;
  auto plugin = harness.open(
      {{"login_org", nullptr}, {"username", "dr-admin"}, {"network_mode", "isolated"}});
  harness.provisionTenantA(*plugin);
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  EXPECT_EQ(harness.simulator.countRequests("POST", "/cloudapi/1.0.0/sessions/provider"), 0u);
  EXPECT_EQ(harness.simulator.countRequests("POST", "/cloudapi/1.0.0/sessions"), 1u);
  EXPECT_EQ(harness.simulator.countRequests("GET", "importableDvpgs"), 0u);
  // VLANs stay exclusive in Warmsite's bookkeeping even where Cloud Director picks the backing.
  EXPECT_ERROR(plugin->network()->createTenantNetwork(
                   {"net-b", "sub-a", "tenant-a", "b", 101, false}, Harness::ctx()),
               ErrorCode::kAlreadyExists);
}

TEST(ClouddirectorSession, AWrongPasswordIsPermissionDenied) {
  Harness harness;
  auto plugin = harness.open({{"password", "wrong"}});
  const auto health = plugin->checkHealth(Harness::ctx());
  ASSERT_FALSE(health.ok());
  EXPECT_EQ(health.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(health.error().backendCode, HasSubstr("401"));
}

TEST(ClouddirectorSession, TheNewestSupportedApiVersionIsUsed) {
  auto options = sim::SimulatorOptions::standardSite();
  options.apiVersions = {"36.0", "37.0", "38.0", "40.0"};  // 40.0 is VCF Automation's
  Harness harness(options);
  auto plugin = harness.open();
  ASSERT_OK(plugin->checkHealth(Harness::ctx()));
  const auto lines = harness.host.lines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const auto& line) {
    return line.find("API 38.0") != std::string::npos;
  }));
}

TEST(ClouddirectorSession, ACellWithoutASupportedVersionIsRefused) {
  auto options = sim::SimulatorOptions::standardSite();
  options.apiVersions = {"35.0", "36.0"};
  Harness harness(options);
  auto plugin = harness.open();
  const auto health = plugin->checkHealth(Harness::ctx());
  ASSERT_FALSE(health.ok());
  EXPECT_THAT(health.error().message, HasSubstr("36.0"));
  EXPECT_EQ(harness.simulator.countRequests("POST", "sessions"), 0u);
}

TEST(ClouddirectorSession, AnExpiredTokenMeansASecondLogin) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  harness.simulator.expireAllSessions();
  const auto machine = plugin->compute()->machine("rep-1", Harness::ctx());
  ASSERT_OK(machine);
  EXPECT_EQ(harness.simulator.countRequests("POST", "/cloudapi/1.0.0/sessions/provider"), 2u);
  const auto requests = harness.simulator.requests();
  EXPECT_TRUE(
      std::any_of(requests.begin(), requests.end(), [](const auto& r) { return r.status == 401; }));
}

TEST(ClouddirectorSession, DestroyingThePluginEndsItsSession) {
  Harness harness;
  {
    auto plugin = harness.open();
    ASSERT_OK(plugin->checkHealth(Harness::ctx()));
    EXPECT_EQ(harness.simulator.openSessions(), 1u);
  }
  EXPECT_EQ(harness.simulator.openSessions(), 0u);
  EXPECT_EQ(harness.simulator.countRequests("DELETE", "/cloudapi/1.0.0/sessions/current"), 1u);
}

TEST(ClouddirectorPaging, ListsFollowEveryPage) {
  auto options = sim::SimulatorOptions::standardSite();
  options.maxPageSize = 2;
  Harness harness(options);
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  for (std::uint32_t vlan = 102; vlan <= 105; ++vlan) {
    ASSERT_OK(plugin->network()->createTenantNetwork(
        {"net-" + std::to_string(vlan), "sub-a", "tenant-a", "n", vlan, false}, Harness::ctx()));
  }
  for (const char* id : {"rep-1", "rep-2", "rep-3"}) {
    ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec(id), Harness::ctx()));
  }
  harness.simulator.clearRequests();
  const auto networks = plugin->network()->listNetworks(Harness::ctx());
  ASSERT_OK(networks);
  EXPECT_EQ(networks->size(), 5u);  // CloudAPI: Link rel="nextPage" headers
  EXPECT_EQ(harness.simulator.countRequests("GET", "/cloudapi/1.0.0/orgVdcNetworks"), 3u);

  auto reopened = harness.open();  // a fresh object knows nothing: inventory reads it all
  const auto inventory = reopened->compute()->inventory(Harness::ctx());
  ASSERT_OK(inventory);
  EXPECT_EQ(inventory->size(), 3u);  // query service: link rel="nextPage" in the body
  EXPECT_EQ(harness.simulator.countRequests("GET", "/api/query"), 2u);
}

}  // namespace
}  // namespace warmsite::clouddirector::testing

// Public-IP mappings on the NSX-T edge gateway through the simulator: a NAT create that returns no
// id (the plugin finds its rule by re-listing), rollback of a change that fails half-way, and one
// change at a time per edge gateway.

#include <gmock/gmock.h>

#include <thread>

#include "tests/clouddirector/harness.h"

namespace warmsite::clouddirector::testing {
namespace {

using plugin::ErrorCode;
using plugin::Protocol;
using sim::Fault;
using ::testing::ElementsAre;

plugin::TenantEdgeSpec webAndDns(const std::string& tenantId, const std::string& publicIp) {
  return {tenantId,
          {{"web", publicIp, 443, Protocol::kTcp, "10.0.0.10", 8443},
           {"dns", publicIp, 53, Protocol::kUdp, "10.0.0.11", 53}},
          {}};
}

TEST(ClouddirectorEdge, ANewRulesIdIsLearnedByListingAgain) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  harness.simulator.clearRequests();
  const auto spec = webAndDns("tenant-a", "203.0.113.20");
  ASSERT_OK(plugin->edge()->applyTenantEdge(spec, Harness::ctx()));

  // POSTs answer 202 without the rule's id; a GET of the rules follows the last POST.
  const auto requests = harness.simulator.requests();
  std::ptrdiff_t lastPost = -1, lastGet = -1;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].path.ends_with("/nat/rules")) {
      if (requests[i].method == "POST") {
        EXPECT_EQ(requests[i].status, 202);
        lastPost = static_cast<std::ptrdiff_t>(i);
      }
      if (requests[i].method == "GET") lastGet = static_cast<std::ptrdiff_t>(i);
    }
  }
  EXPECT_EQ(harness.simulator.countRequests("POST", "/nat/rules"), 2u);
  EXPECT_GT(lastGet, lastPost);
  EXPECT_EQ(*plugin->edge()->tenantEdge("tenant-a", Harness::ctx()), spec);

  // One application port profile per target port and protocol, made once and reused.
  EXPECT_EQ(harness.simulator.countRequests("POST", "applicationPortProfiles"), 2u);
  ASSERT_OK(plugin->edge()->applyTenantEdge(webAndDns("tenant-b", "203.0.113.21"), Harness::ctx()));
  EXPECT_EQ(harness.simulator.countRequests("POST", "applicationPortProfiles"), 2u);
}

TEST(ClouddirectorEdge, AChangeThatFailsHalfWayPutsThePreviousRulesBack) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  const plugin::TenantEdgeSpec before{
      "tenant-a", {{"web", "203.0.113.20", 443, Protocol::kTcp, "10.0.0.10", 443}}, {}};
  ASSERT_OK(plugin->edge()->applyTenantEdge(before, Harness::ctx()));
  const auto namesBefore = harness.simulator.natRuleNames();

  // The new spec changes "web" (one create, one delete) and adds "ssh"; the second create's task
  // fails for good.
  plugin::TenantEdgeSpec after = before;
  after.mappings[0].targetIp = "10.0.0.99";
  after.mappings.push_back({"ssh", "203.0.113.20", 22, Protocol::kTcp, "10.0.0.10", 22});
  harness.simulator.addFault({Fault::kTaskError, "POST", "/nat/rules", 2, 1,
                              "INTERNAL_SERVER_ERROR", "NSX Manager rejected the rule"});
  EXPECT_ERROR(plugin->edge()->applyTenantEdge(after, Harness::ctx()), ErrorCode::kInternal);
  EXPECT_EQ(*plugin->edge()->tenantEdge("tenant-a", Harness::ctx()), before);
  EXPECT_EQ(harness.simulator.natRuleNames(), namesBefore);

  ASSERT_OK(plugin->edge()->applyTenantEdge(after, Harness::ctx()));  // the fault is spent
  EXPECT_EQ(*plugin->edge()->tenantEdge("tenant-a", Harness::ctx()), after);
}

TEST(ClouddirectorEdge, PublicAddressesMustBelongToTheEdgeGateway) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  EXPECT_ERROR(
      plugin->edge()->applyTenantEdge(webAndDns("tenant-a", "198.51.100.7"), Harness::ctx()),
      ErrorCode::kInvalidArgument);
  const plugin::TenantEdgeSpec ipv6{
      "tenant-a", {{"web", "2001:db8::10", 443, Protocol::kTcp, "fd00::10", 443}}, {}};
  EXPECT_ERROR(plugin->edge()->applyTenantEdge(ipv6, Harness::ctx()), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(harness.simulator.natRuleNames().empty());
}

TEST(ClouddirectorEdge, OneChangeAtATimePerEdgeGateway) {
  Harness harness;
  // Slow NAT tasks: without the plugin's lock, concurrent changes would meet a busy edge gateway.
  harness.simulator.setTaskDelays(std::chrono::milliseconds(0), std::chrono::milliseconds(15));
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string ip = "203.0.113." + std::to_string(30 + t);
      if (!plugin->edge()
               ->applyTenantEdge(webAndDns("tenant-" + std::to_string(t), ip), Harness::ctx())
               .ok()) {
        ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(harness.simulator.natRuleNames().size(), 8u);
  const auto requests = harness.simulator.requests();
  EXPECT_TRUE(std::none_of(requests.begin(), requests.end(), [](const auto& r) {
    return r.status == 400;
  })) << "a NAT change met a busy edge gateway";
}

TEST(ClouddirectorEdge, RemovingATenantsRulesLeavesTheOthers) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  ASSERT_OK(plugin->edge()->applyTenantEdge(webAndDns("tenant-a", "203.0.113.20"), Harness::ctx()));
  ASSERT_OK(plugin->edge()->applyTenantEdge(webAndDns("tenant-b", "203.0.113.21"), Harness::ctx()));
  ASSERT_OK(plugin->edge()->removeTenantEdge("tenant-a", Harness::ctx()));
  EXPECT_THAT(harness.simulator.natRuleNames(), ElementsAre("ws-tenant-b-dns", "ws-tenant-b-web"));
  EXPECT_TRUE(plugin->edge()->tenantEdge("tenant-a", Harness::ctx())->mappings.empty());
}

}  // namespace
}  // namespace warmsite::clouddirector::testing

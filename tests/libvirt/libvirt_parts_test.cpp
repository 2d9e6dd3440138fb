// The libvirt plugin's parts on their own: config checks, name encoding, the network rules the
// test driver does not enforce, edge spec checks, and reconnecting with backoff.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "config.h"
#include "connection_pool.h"
#include "names.h"
#include "nft_edge.h"
#include "records.h"

namespace warmsite::libvirtplugin {
namespace {

using plugin::ErrorCode;
using ::testing::HasSubstr;

// ---- config

struct BadConfig {
  const char* json;
  const char* field;  // the message must name it
};

void PrintTo(const BadConfig& config, std::ostream* os) {
  *os << config.json;
}

std::string caseName(const ::testing::TestParamInfo<BadConfig>& info) {
  std::string name = std::to_string(info.index) + "_" + info.param.field;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class ConfigRejects : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigRejects, WithInvalidArgumentNamingTheField) {
  auto config = parseConfig(GetParam().json);
  ASSERT_FALSE(config.ok()) << GetParam().json;
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(config.error().message, HasSubstr(GetParam().field));
}

INSTANTIATE_TEST_SUITE_P(
    Libvirt, ConfigRejects,
    ::testing::Values(
        BadConfig{R"({})", "uri"}, BadConfig{R"({"uri": 5})", "uri"},
        BadConfig{R"({"uri": "test://node.xml"})", "uri"},
        BadConfig{R"({"uri": "test:///no/such/node.xml"})", "uri"},
        BadConfig{R"({"uri": "xen:///system"})", "uri"},
        BadConfig{R"({"uri": "qemu+ssh:///system"})", "uri"},
        BadConfig{R"({"uri": "qemu:///root"})", "uri"},
        BadConfig{R"({"uri": "test:///default", "pool_size": 0})", "pool_size"},
        BadConfig{R"({"uri": "test:///default", "domain_type": "xen"})", "domain_type"},
        BadConfig{R"({"uri": "test:///default", "storage_pools": "images"})", "storage_pools"},
        BadConfig{R"({"uri": "test:///default", "colour": "blue"})", "colour"},
        BadConfig{R"({"uri": "test:///default", "network": {"mode": "macvtap", "bridge": "b"}})",
                  "network.mode"},
        BadConfig{R"({"uri": "test:///default", "network": {"mode": "openvswitch"}})",
                  "network.bridge"},
        BadConfig{R"({"uri": "test:///default",
                      "network": {"mode": "openvswitch", "bridge": "a-very-long-bridge"}})",
                  "network.bridge"},
        // A Linux bridge cannot tag: real libvirt refuses <vlan> on it.
        BadConfig{
            R"({"uri": "test:///default", "network": {"mode": "linux-bridge", "bridge": "br0"}})",
            "network.bridge"},
        BadConfig{R"({"uri": "test:///default", "edge": {"netns": "x"}})", "edge.uplink"},
        BadConfig{
            R"({"uri": "test:///default", "edge": {"uplink": "eth0", "netns": "no-such-ns"}})",
            "edge.netns"},
        BadConfig{R"({"uri": "test:///default", "edge": {"uplink": "eth0", "nft": "nft"}})",
                  "edge.nft"},
        BadConfig{R"({"uri": "test:///default", "reconnect_ms": {"initial": 500, "max": 100}})",
                  "reconnect_ms.max"},
        BadConfig{"not json", "JSON"}),
    caseName);

TEST(LibvirtConfig, NodeFilesGetOneConnectionAndBridgeTemplatesAreFilled) {
  auto config = parseConfig(R"({"uri": "test://)" WARMSITE_LIBVIRT_HOSTS_DIR
                            R"(/preloaded-host.xml", "pool_size": 4,
                                "network": {"mode": "linux-bridge", "bridge": "br{vlan}"}})");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->uriKind, UriKind::kTestFile);
  EXPECT_EQ(config->poolSize, 1u);  // each open of a node file would be another host
  EXPECT_EQ(config->network->bridgeFor(101), "br101");
  auto remote = parseConfig(R"({"uri": "qemu+tls://kvm-01.example.net/system"})");
  ASSERT_TRUE(remote.ok()) << remote.error().message;
  EXPECT_EQ(remote->uriKind, UriKind::kRemote);
  EXPECT_EQ(remote->poolSize, 2u);
}

// ---- names

TEST(LibvirtNames, IdsRoundTripThroughEveryEncoding) {
  for (std::string id :
       {"rep-1", "rep-0123456789abcdef", "a/b", "x.y", "100%", "ünï cödé", "\"q\""}) {
    EXPECT_EQ(machineIdOf(domainName(id)), id);
    EXPECT_EQ(decodeId(encodeId(id)), id);
    EXPECT_EQ(tenantOfNftTable(nftTableName(id)), id);
    EXPECT_EQ(idOfNftComment(nftComment(id)), id);
    EXPECT_EQ(domainName(id).find('/'), std::string::npos);
    EXPECT_EQ(nftTableName(id).find('%'), std::string::npos);
  }
  EXPECT_EQ(domainName("rep-1"), "ws-m-rep-1");
  EXPECT_EQ(volumeName("rep-1", "disk-0"), "ws-m-rep-1.disk-0.qcow2");
  // '.' separates parts, so ids containing it cannot collide.
  EXPECT_NE(volumeName("a.b", "c"), volumeName("a", "b.c"));
  EXPECT_EQ(machineIdOf("mail-server"), std::nullopt);
  EXPECT_EQ(machineIdOf("ws-m-bad%zz"), std::nullopt);
}

// ---- what real libvirt refuses and the test driver accepts

NetworkDefinition network(ForwardMode forward, std::string bridge, bool ovs,
                          std::optional<std::uint32_t> vlan) {
  NetworkDefinition definition;
  definition.name = "ws-n-x";
  definition.forward = forward;
  definition.bridge = std::move(bridge);
  definition.openvswitch = ovs;
  definition.vlan = vlan;
  return definition;
}

TEST(LibvirtNetworkRules, VlanTagsOnlyWhereTheRealDriverAcceptsThem) {
  EXPECT_TRUE(checkAcceptedByLibvirt(network(ForwardMode::kBridge, "ovsbr0", true, 101)).ok());
  EXPECT_TRUE(checkAcceptedByLibvirt(network(ForwardMode::kHostdev, "", false, 101)).ok());
  EXPECT_TRUE(checkAcceptedByLibvirt(network(ForwardMode::kPassthrough, "", false, 101)).ok());
  EXPECT_TRUE(checkAcceptedByLibvirt(network(ForwardMode::kBridge, "br101", false, {})).ok());
  for (const auto& refused : {network(ForwardMode::kNat, "virbr9", false, 101),
                              network(ForwardMode::kBridge, "br0", false, 101),
                              network(ForwardMode::kNone, "", false, 101),
                              network(ForwardMode::kRoute, "", false, 101)}) {
    auto status = checkAcceptedByLibvirt(refused);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(status.error().message, HasSubstr("doesn't support vlan configuration"));
  }
  EXPECT_FALSE(checkAcceptedByLibvirt(network(ForwardMode::kBridge, "", true, 101)).ok());
  EXPECT_FALSE(checkAcceptedByLibvirt(network(ForwardMode::kNat, "virbr9", true, {})).ok());
  EXPECT_FALSE(
      checkAcceptedByLibvirt(network(ForwardMode::kBridge, "a-very-long-bridge", false, {})).ok());
}

TEST(LibvirtDomainXml, CpuQuotaCapsTheDomainAtThePlansClock) {
  EXPECT_EQ(cpuQuotaUs(2000, 2000), 100'000u);  // one full host CPU
  EXPECT_EQ(cpuQuotaUs(1000, 2000), 50'000u);
  EXPECT_EQ(cpuQuotaUs(8000, 2000), 400'000u);  // four CPUs' worth
  EXPECT_EQ(cpuQuotaUs(1, 2600), 1000u);        // libvirt's minimum
}

// ---- edge specs

plugin::TenantEdgeSpec edgeSpec() {
  return {"tenant-a",
          {{"rule-1", "203.0.113.10", 443, plugin::Protocol::kTcp, "10.0.0.10", 8443},
           {"rule-2", "2001:db8::10", 53, plugin::Protocol::kUdp, "fd00::11", 53}},
          {{"net-a", "10.0.0.0/24", "203.0.113.10"}}};
}

TEST(LibvirtEdgeSpec, BadSpecsAreRefusedBeforeNftRuns) {
  EXPECT_TRUE(validateEdgeSpec(edgeSpec()).ok());
  auto hostBits = edgeSpec();
  hostBits.outboundNat[0].sourceCidr = "10.0.0.5/24";
  auto mixed = edgeSpec();
  mixed.mappings[0].targetIp = "fd00::1";
  auto portZero = edgeSpec();
  portZero.mappings[1].publicPort = 0;
  auto longId = edgeSpec();
  longId.mappings[0].ruleId = std::string(100, '"');  // 300 bytes once encoded for a comment
  for (const auto& bad : {hostBits, mixed, portZero, longId}) {
    auto status = validateEdgeSpec(bad);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument) << status.error().message;
  }
  auto twice = edgeSpec();
  twice.mappings.push_back(twice.mappings[0]);
  EXPECT_EQ(validateEdgeSpec(twice).error().code, ErrorCode::kAlreadyExists);
}

TEST(LibvirtEdgeSpec, ScriptReplacesTheTenantTableInOneTransaction) {
  const auto script = renderEdgeScript(edgeSpec(), "eth0");
  EXPECT_THAT(script, HasSubstr("add table inet warmsite-tenant-a\ndelete table inet "
                                "warmsite-tenant-a\ntable inet warmsite-tenant-a {"));
  EXPECT_THAT(script, HasSubstr("ip daddr 203.0.113.10 tcp dport 443 dnat ip to 10.0.0.10:8443 "
                                "comment \"rule-1\""));
  EXPECT_THAT(script, HasSubstr("dnat ip6 to [fd00::11]:53"));
  EXPECT_THAT(script, HasSubstr("ip saddr 10.0.0.0/24 oifname \"eth0\" snat ip to 203.0.113.10"));
  // Removing the rules is the same transaction with nothing after the delete.
  EXPECT_EQ(renderEdgeScript({"tenant-a", {}, {}}, "eth0"),
            "add table inet warmsite-tenant-a\ndelete table inet warmsite-tenant-a\n");
}

// ---- reconnecting

TEST(LibvirtBackoff, DoublesUpToTheCapAndStartsOverAfterASuccess) {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(500));
  EXPECT_EQ(backoff.next().count(), 100);
  EXPECT_EQ(backoff.next().count(), 200);
  EXPECT_EQ(backoff.next().count(), 400);
  EXPECT_EQ(backoff.next().count(), 500);
  EXPECT_EQ(backoff.next().count(), 500);
  backoff.reset();
  EXPECT_EQ(backoff.next().count(), 100);
}

// A node file opened without the process-long pin: once the file is gone, reopening fails like a
// host that went away, and the slot waits out its backoff before it tries again.
TEST(LibvirtConnectionPool, ReopensAClosedConnectionOnlyAfterItsBackoff) {
  const auto dir = std::filesystem::path(WARMSITE_BINARY_DIR) / "libvirt-pool-test";
  std::filesystem::create_directories(dir);
  const auto node = dir / "host.xml";
  std::filesystem::copy_file(std::filesystem::path(WARMSITE_LIBVIRT_HOSTS_DIR) / "auth-host.xml",
                             node, std::filesystem::copy_options::overwrite_existing);
  PoolOptions options;
  options.uri = "test://" + node.string();
  options.size = 1;
  options.username = "warmsite";
  options.password = "s3cret";
  options.reconnectInitial = std::chrono::milliseconds(300);
  int opened = 0, closed = 0;
  auto pool = ConnectionPool::open(
      options,
      [&](Connection&, std::size_t) -> plugin::Status {
        ++opened;
        return {};
      },
      [&](std::size_t, int) { ++closed; });
  ASSERT_TRUE(pool.ok()) << pool.error().message;
  EXPECT_EQ(opened, 1);

  std::filesystem::remove(node);
  (*pool)->markClosedForTest(0);
  EXPECT_EQ(closed, 1);
  auto first = (*pool)->acquire();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, ErrorCode::kUnavailable);
  EXPECT_GT((*pool)->retryDelay(0).count(), 0);
  auto early = (*pool)->acquire();  // within the backoff: no attempt, a clear answer
  ASSERT_FALSE(early.ok());
  EXPECT_THAT(early.error().message, HasSubstr("next attempt in"));
  EXPECT_EQ(opened, 1);

  std::filesystem::copy_file(std::filesystem::path(WARMSITE_LIBVIRT_HOSTS_DIR) / "auth-host.xml",
                             node);
  std::this_thread::sleep_for((*pool)->retryDelay(0));
  auto again = (*pool)->acquire();
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(opened, 2);  // the open hook ran again: callbacks are registered on the new one
  EXPECT_EQ((*pool)->retryDelay(0).count(), 0);
}

TEST(LibvirtConnectionPool, WrongCredentialsArePermissionDenied) {
  PoolOptions options;
  options.uri = "test://" WARMSITE_LIBVIRT_HOSTS_DIR "/auth-host.xml";
  options.username = "warmsite";
  options.password = "wrong";
  auto pool = ConnectionPool::open(options, nullptr, nullptr);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.error().code, ErrorCode::kPermissionDenied) << pool.error().message;
  EXPECT_THAT(pool.error().backendCode, HasSubstr("VIR_ERR_AUTH_FAILED"));
}

}  // namespace
}  // namespace warmsite::libvirtplugin

// Pieces of the plugin and of the simulator that can be checked alone: the marks the plugin
// leaves on Cloud Director objects, its text helpers, and the simulator's FIQL and XML readers.

#include <gmock/gmock.h>

#include "plugins/clouddirector/tags.h"
#include "plugins/clouddirector/util.h"
#include "plugins/clouddirector/xml_writer.h"
#include "tests/clouddirector-sim/fiql.h"
#include "tests/clouddirector-sim/xml_reader.h"

namespace warmsite::clouddirector {
namespace {

TEST(ClouddirectorTags, MarksReadBackAsWritten) {
  plugin::ReplicaSpec replica{"rep-1",
                              "sub-a",
                              "tenant-a",
                              "web \"01\"",
                              2,
                              2000,
                              1024,
                              {{"d0", "gold", 10}, {"d1", "silver", 20}},
                              {{"n0", "net-a", "00:50:56:00:00:01"}}};
  EXPECT_EQ(parseReplicaTag(replicaTag(replica)), replica);
  const plugin::TenantNetworkSpec network{"net-a", "sub-a", "tenant-a", "a", 101, true};
  EXPECT_EQ(parseNetworkTag(networkTag(network)), network);
  const plugin::TenantResourcesSpec subscription{
      "sub-a", "tenant-a", "A", std::nullopt, 4096, {{"gold", "gold-profile", 100}}};
  EXPECT_EQ(parseSubscriptionValue("sub-a", subscriptionValue(subscription)), subscription);
  const NatTag nat{"tenant-a", true, "net-a", 3};
  EXPECT_EQ(parseNatTag(natTag(nat)), nat);
  const auto point = parseRestorePointTag(restorePointTag({"rp-1", "nightly", 1700000000}));
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(point->restorePointId, "rp-1");
  EXPECT_EQ(point->createdUnix, 1700000000);
  EXPECT_EQ(subscriptionIdOfKey(subscriptionKey("sub-a")), "sub-a");
}

TEST(ClouddirectorTags, ForeignAndDamagedMarksAreNoMarks) {
  EXPECT_FALSE(parseReplicaTag("").has_value());
  EXPECT_FALSE(parseReplicaTag("web server of the finance team").has_value());
  EXPECT_FALSE(parseReplicaTag(networkTag({"n", "s", "t", "x", 1, false})).has_value());
  EXPECT_FALSE(parseReplicaTag(R"({"ws":"replica","v":1,"id":"rep-1"})").has_value());
  EXPECT_FALSE(parseReplicaTag(R"({"ws":"replica","v":2})").has_value());
  EXPECT_FALSE(parseNatTag("{not json").has_value());
  // Mark fields of another type (found by fuzz_clouddirector_parsers: this threw out of the
  // parser).
  EXPECT_FALSE(parseNatTag(R"({"ws":"nat","v":"snat","id":"rule-2","3os":2})").has_value());
  EXPECT_FALSE(parseNatTag(R"({"ws":7,"v":1})").has_value());
  EXPECT_FALSE(subscriptionIdOfKey("owner").has_value());
}

TEST(ClouddirectorUtil, TextHelpers) {
  EXPECT_EQ(encodeQueryValue("name==ws-*;ownerRef.id==urn:vcloud:vdc:1"),
            "name%3D%3Dws-%2A%3BownerRef.id%3D%3Durn%3Avcloud%3Avdc%3A1");
  EXPECT_EQ(pathOfHref("https://vcd.example.com:8443/api/task/1?x=y"), "/api/task/1?x=y");
  EXPECT_EQ(pathOfHref("/api/task/1"), "/api/task/1");
  EXPECT_EQ(parseApiVersion("38.1"), 3801);
  EXPECT_FALSE(parseApiVersion("38").has_value());
  EXPECT_TRUE(supportedApiVersion("39.0"));
  EXPECT_FALSE(supportedApiVersion("36.3"));
  EXPECT_FALSE(supportedApiVersion("40.0"));
  EXPECT_EQ(parseIsoTime("2024-05-01T10:00:00.000Z"), 1714557600);
  EXPECT_EQ(parseIsoTime("2024-05-01T12:00:00.000+02:00"), 1714557600);
  EXPECT_EQ(parseIsoTime("yesterday"), 0);
  EXPECT_TRUE(ipv4InRange("203.0.113.50", "203.0.113.10", "203.0.113.99"));
  EXPECT_FALSE(ipv4InRange("203.0.113.100", "203.0.113.10", "203.0.113.99"));
  EXPECT_FALSE(parseCidr("10.0.0.0/33").has_value());
  EXPECT_EQ(parseCidr("fd00::/64")->prefixLength, 64u);
}

TEST(ClouddirectorXml, WriterOutputReadsBackInTheSimulator) {
  XmlWriter xml;
  xml.open("Vm", {{"xmlns", kVcloudNamespace}, {"name", "a \"b\" & <c>"}})
      .element("Description", R"({"ws":"restorePoint","desc":"<&>"})")
      .element("Empty", "");
  const auto node = sim::parseXml(xml.finish());
  EXPECT_EQ(node.name, "Vm");
  EXPECT_EQ(node.attribute("name"), "a \"b\" & <c>");
  EXPECT_EQ(node.childText("Description"), R"({"ws":"restorePoint","desc":"<&>"})");
  EXPECT_NE(node.child("Empty"), nullptr);
  EXPECT_THROW(sim::parseXml("<a><b></a>"), std::invalid_argument);
  EXPECT_THROW(sim::parseXml("<a>&bogus;</a>"), std::invalid_argument);
}

TEST(ClouddirectorSimFilter, FiqlAsCloudDirectorReadsIt) {
  const nlohmann::json record = {
      {"name", "ws-rep-1"}, {"size", 10}, {"ownerRef", {{"id", "urn:1"}}}};
  auto matches = [&](const std::string& text) { return sim::Filter::parse(text).matches(record); };
  EXPECT_TRUE(matches(""));
  EXPECT_TRUE(matches("name==ws-*"));
  EXPECT_FALSE(matches("name==ws-*-2"));
  EXPECT_TRUE(matches("name==ws-rep-1;ownerRef.id==urn:1"));
  EXPECT_TRUE(matches("name==other,size=gt=5"));
  EXPECT_FALSE(matches("(name==other,size=lt=5);ownerRef.id==urn:1"));
  EXPECT_TRUE(matches("missing!=x"));
  EXPECT_TRUE(sim::Filter::parse("_context==v").matches(record, {{"_context", "v"}}));
  EXPECT_THROW(sim::Filter::parse("name~x"), std::invalid_argument);
  EXPECT_THROW(sim::Filter::parse("(name==x"), std::invalid_argument);
}

}  // namespace
}  // namespace warmsite::clouddirector

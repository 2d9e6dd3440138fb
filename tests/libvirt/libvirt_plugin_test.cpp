// The libvirt plugin against the libvirt test driver in this process: what it writes into
// libvirt (read back through a connection of the test's own), what it reports to core, and what
// it refuses that the test driver itself would accept.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "libvirt_plugin.h"
#include "names.h"
#include "tests/libvirt/recording_host.h"
#include "xml.h"

namespace warmsite::libvirtplugin {
namespace {

using plugin::ErrorCode;
using plugin::PowerState;
using ::testing::HasSubstr;
using testing::RecordingHost;

plugin::CallContext ctx() {
  return plugin::CallContext::withTimeout(std::chrono::seconds(30));
}

std::string xmlOf(virDomainPtr domain) {
  char* xml = virDomainGetXMLDesc(domain, 0);
  std::string copy = xml != nullptr ? xml : "";
  free(xml);
  return copy;
}

class LibvirtPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A connection of the test's own: it keeps test:///default alive and acts as an operator.
    operator_ = virConnectOpen("test:///default");
    ASSERT_NE(operator_, nullptr);
    plugin_ = open(R"({"uri": "test:///default", "storage_pools": ["default-pool"],
                      "network": {"mode": "openvswitch", "bridge": "ovsbr0"}})");
    ASSERT_NE(plugin_, nullptr);
  }
  void TearDown() override {
    plugin_.reset();
    virConnectClose(operator_);
  }

  std::unique_ptr<LibvirtPlugin> open(const std::string& config) {
    auto created = create({config, &host_});
    EXPECT_TRUE(created.ok()) << created.error().message;
    if (!created.ok()) return nullptr;
    return std::unique_ptr<LibvirtPlugin>(
        static_cast<LibvirtPlugin*>(std::move(created).value().release()));
  }

  void provision(std::uint64_t quotaGb = 100) {
    plugin::TenantResourcesSpec spec{"sub-a", "tenant-a", "Tenant A",
                                     8000,    8192,       {{"gold", "default-pool", quotaGb}}};
    ASSERT_TRUE(plugin_->applyTenantResources(spec, ctx()).ok());
    ASSERT_TRUE(
        plugin_->createTenantNetwork({"net-a", "sub-a", "tenant-a", "net a", 101, true}, ctx())
            .ok());
  }

  plugin::ReplicaSpec replica(const std::string& id) {
    return {id,
            "sub-a",
            "tenant-a",
            "vm " + id,
            2,
            2000,
            1024,
            {{"disk-0", "gold", 10}},
            {{"nic-0", "net-a", ""}}};
  }

  DomainHandle domain(const std::string& machineId) {
    return DomainHandle(virDomainLookupByName(operator_, domainName(machineId).c_str()));
  }

  RecordingHost host_;
  virConnectPtr operator_ = nullptr;
  std::unique_ptr<LibvirtPlugin> plugin_;
};

TEST_F(LibvirtPluginTest, ReplicaBecomesADomainWithItsLimitsVolumesAndRecord) {
  provision();
  auto created = plugin_->createReplica(replica("rep-1"), ctx());
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto dom = domain("rep-1");
  ASSERT_TRUE(dom);
  auto doc = XmlDocument::parse(xmlOf(dom.get()));
  ASSERT_TRUE(doc);
  EXPECT_EQ(textOf(doc->first("/domain/vcpu")), "2");
  EXPECT_EQ(textOf(doc->first("/domain/memory")), "1048576");  // KiB
  virNodeInfo node{};
  virNodeGetInfo(operator_, &node);
  EXPECT_EQ(textOf(doc->first("/domain/cputune/global_quota")),
            std::to_string(cpuQuotaUs(2000, node.mhz)));
  EXPECT_EQ(attribute(doc->first("/domain/devices/disk/source"), "volume"),
            "ws-m-rep-1.disk-0.qcow2");
  EXPECT_EQ(attribute(doc->first("/domain/devices/interface/source"), "network"), "ws-n-net-a");
  EXPECT_EQ(attribute(doc->first("/domain/devices/interface/mac"), "address"),
            created->nicMacs.at(0));
  EXPECT_EQ(attribute(doc->first("/domain/metadata/ws:machine"), "id"), "rep-1");
  EXPECT_EQ(created->platformRef, [&] {
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainGetUUIDString(dom.get(), uuid);
    return std::string(uuid);
  }());

  PoolHandle pool(virStoragePoolLookupByName(operator_, "default-pool"));
  VolumeHandle volume(virStorageVolLookupByName(pool.get(), "ws-m-rep-1.disk-0.qcow2"));
  ASSERT_TRUE(volume);
  virStorageVolInfo info{};
  virStorageVolGetInfo(volume.get(), &info);
  EXPECT_EQ(info.capacity, 10ull << 30);

  ASSERT_TRUE(plugin_->deleteReplica("rep-1", ctx()).ok());
  EXPECT_FALSE(domain("rep-1"));
  EXPECT_FALSE(VolumeHandle(virStorageVolLookupByName(pool.get(), "ws-m-rep-1.disk-0.qcow2")));
}

TEST_F(LibvirtPluginTest, TheXmlItWritesPassesLibvirtsSchemas) {
  // The plugin defines without schema validation (it costs ~9 ms a domain); this proves the XML
  // it writes would pass it, as a real host's strict parsing needs.
  provision();
  ASSERT_TRUE(plugin_->createReplica(replica("rep-1"), ctx()).ok());
  ASSERT_TRUE(plugin_->createRestorePoint("rep-1", "rp-1", "", ctx()).ok());
  ASSERT_TRUE(plugin_->createBubble({"bubble-1", "tenant-a", {"net-a"}}, ctx()).ok());
  ASSERT_TRUE(plugin_->createTestCopy({"copy-1", "rep-1", "", "bubble-1"}, ctx()).ok());
  for (const char* machine : {"rep-1", "copy-1"}) {
    const auto xml = xmlOf(domain(machine).get());
    DomainHandle again(virDomainDefineXMLFlags(operator_, xml.c_str(), VIR_DOMAIN_DEFINE_VALIDATE));
    EXPECT_TRUE(again) << machine << ": " << virGetLastErrorMessage();
  }
  for (const char* name : {"ws-n-net-a", "ws-s-sub-a", "ws-b-bubble-1.net-a"}) {
    NetworkHandle network(virNetworkLookupByName(operator_, name));
    ASSERT_TRUE(network) << name;
    char* xml = virNetworkGetXMLDesc(network.get(), 0);
    NetworkHandle again(virNetworkDefineXMLFlags(operator_, xml, VIR_NETWORK_DEFINE_VALIDATE));
    free(xml);
    EXPECT_TRUE(again) << name << ": " << virGetLastErrorMessage();
  }
}

TEST_F(LibvirtPluginTest, AFailedCreateRemovesTheVolumesItMade) {
  // Two plan storages on two pools; the second pool disappears behind the plugin's back, so the
  // second volume fails after the first was made.
  PoolHandle extra(virStoragePoolCreateXML(
      operator_, "<pool type='dir'><name>extra</name><target><path>/extra</path></target></pool>",
      0));
  ASSERT_TRUE(extra);
  auto anyPool = open(R"({"uri": "test:///default"})");  // no storage_pools: every pool allowed
  plugin::TenantResourcesSpec spec{
      "sub-a", "tenant-a", "Tenant A",
      {},      {},         {{"gold", "default-pool", 100}, {"silver", "extra", 100}}};
  ASSERT_TRUE(anyPool->applyTenantResources(spec, ctx()).ok());
  ASSERT_EQ(virStoragePoolDestroy(extra.get()), 0);
  auto spread = replica("rep-1");
  spread.nics.clear();
  spread.disks.push_back({"disk-1", "silver", 5});
  auto created = anyPool->createReplica(spread, ctx());
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, ErrorCode::kNotFound) << created.error().message;
  EXPECT_THAT(created.error().backendCode, HasSubstr("VIR_ERR_NO_STORAGE_POOL"));
  EXPECT_FALSE(domain("rep-1"));
  PoolHandle pool(virStoragePoolLookupByName(operator_, "default-pool"));
  EXPECT_FALSE(VolumeHandle(virStorageVolLookupByName(pool.get(), "ws-m-rep-1.disk-0.qcow2")));
  EXPECT_EQ(anyPool->tenantResources("sub-a", ctx())->storages[0].usedGb, 0u);
}

TEST_F(LibvirtPluginTest, BadSpecsNameTheField) {
  provision();
  auto noMemory = replica("rep-1");
  noMemory.memoryMb = 0;
  auto badMac = replica("rep-1");
  badMac.nics[0].mac = "53:54:00:00:00:01";  // multicast
  auto twoDisks = replica("rep-1");
  twoDisks.disks.push_back(twoDisks.disks[0]);
  auto control = replica("rep-1");
  control.name = std::string("bell\a");
  for (const auto& [spec, field] :
       std::vector<std::pair<plugin::ReplicaSpec, std::string>>{{noMemory, "memoryMb"},
                                                                {badMac, "nics[].mac"},
                                                                {twoDisks, "disks[].diskId"},
                                                                {control, "name"}}) {
    auto created = plugin_->createReplica(spec, ctx());
    ASSERT_FALSE(created.ok()) << field;
    EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(created.error().message, HasSubstr(field));
    EXPECT_FALSE(domain("rep-1"));
  }
  auto pool = plugin_->applyTenantResources(
      {"sub-b", "tenant-b", "B", {}, {}, {{"gold", "other-pool", 10}}}, ctx());
  ASSERT_FALSE(pool.ok());
  EXPECT_THAT(pool.error().message, HasSubstr("storages[].backendStorage"));
}

TEST_F(LibvirtPluginTest, NetworksCarryTheirVlanOnTheOpenVswitchBridge) {
  provision();
  NetworkHandle network(virNetworkLookupByName(operator_, "ws-n-net-a"));
  ASSERT_TRUE(network);
  char* xml = virNetworkGetXMLDesc(network.get(), 0);
  auto doc = XmlDocument::parse(xml);
  free(xml);
  ASSERT_TRUE(doc);
  EXPECT_EQ(attribute(doc->first("/network/forward"), "mode"), "bridge");
  EXPECT_EQ(attribute(doc->first("/network/bridge"), "name"), "ovsbr0");
  EXPECT_EQ(attribute(doc->first("/network/virtualport"), "type"), "openvswitch");
  EXPECT_EQ(attribute(doc->first("/network/vlan/tag"), "id"), "101");
  EXPECT_EQ(virNetworkIsActive(network.get()), 1);
}

TEST_F(LibvirtPluginTest, LinuxBridgeModePutsEachVlanOnItsOwnBridgeWithoutATag) {
  auto perVlan = open(R"({"uri": "test:///default",
                          "network": {"mode": "linux-bridge", "bridge": "br{vlan}"}})");
  ASSERT_NE(perVlan, nullptr);
  ASSERT_TRUE(perVlan
                  ->applyTenantResources(
                      {"sub-l", "tenant-l", "L", {}, {}, {{"gold", "default-pool", 10}}}, ctx())
                  .ok());
  ASSERT_TRUE(
      perVlan->createTenantNetwork({"net-l", "sub-l", "tenant-l", "l", 204, false}, ctx()).ok());
  NetworkHandle network(virNetworkLookupByName(operator_, "ws-n-net-l"));
  char* xml = virNetworkGetXMLDesc(network.get(), 0);
  auto doc = XmlDocument::parse(xml);
  free(xml);
  EXPECT_EQ(attribute(doc->first("/network/bridge"), "name"), "br204");
  EXPECT_EQ(doc->first("/network/vlan"), nullptr);
  EXPECT_EQ(doc->first("/network/virtualport"), nullptr);
}

TEST_F(LibvirtPluginTest, PowerChangesMadeOutsideThePluginAreReportedItsOwnAreNot) {
  provision();
  ASSERT_TRUE(plugin_->createReplica(replica("rep-1"), ctx()).ok());
  ASSERT_TRUE(plugin_->powerOn("rep-1", ctx()).ok());
  ASSERT_TRUE(plugin_->powerOff("rep-1", {false, {}}, ctx()).ok());

  // An operator starts it, a guest shuts it down: both reach core.
  ASSERT_EQ(virDomainCreate(domain("rep-1").get()), 0);
  EXPECT_TRUE(host_.waitForPower("rep-1", PowerState::kOn));
  ASSERT_EQ(virDomainShutdown(domain("rep-1").get()), 0);
  EXPECT_TRUE(host_.waitForPower("rep-1", PowerState::kOff));
  ASSERT_EQ(host_.powerChanges().size(), 2u);
  EXPECT_EQ(host_.powerChanges()[0], std::make_pair(std::string("rep-1"), PowerState::kOn));
  EXPECT_EQ(host_.powerChanges()[1], std::make_pair(std::string("rep-1"), PowerState::kOff));
  EXPECT_EQ(plugin_->machine("rep-1", ctx())->power, PowerState::kOff);

  // Domains of other owners are not Warmsite's business.
  DomainHandle other(virDomainLookupByName(operator_, "test"));
  ASSERT_EQ(virDomainSuspend(other.get()), 0);
  ASSERT_EQ(virDomainSuspend(domain("rep-1").get()), -1);  // off: nothing happens
  ASSERT_EQ(virDomainCreate(domain("rep-1").get()), 0);
  ASSERT_TRUE(host_.waitForPower("rep-1", PowerState::kOn));
  for (const auto& [id, power] : host_.powerChanges()) EXPECT_EQ(id, "rep-1");
}

TEST_F(LibvirtPluginTest, EventsKeepFlowingAfterTheConnectionIsReopened) {
  provision();
  ASSERT_TRUE(plugin_->createReplica(replica("rep-1"), ctx()).ok());
  plugin_->simulateConnectionClosedForTest();
  ASSERT_TRUE(host_.waitForLog("reconnected to test:///default"));
  ASSERT_EQ(virDomainCreate(domain("rep-1").get()), 0);
  EXPECT_TRUE(host_.waitForPower("rep-1", PowerState::kOn));
  EXPECT_TRUE(plugin_->checkHealth(ctx()).ok());
}

TEST_F(LibvirtPluginTest, DataFilesBecomeTheDomainsDisksAndARevertBringsBackTheSnapshots) {
  provision();
  ASSERT_TRUE(plugin_->createReplica(replica("rep-1"), ctx()).ok());
  ASSERT_TRUE(plugin_->createRestorePoint("rep-1", "rp-1", "volumes", ctx()).ok());
  const auto uuid = [&] {
    char text[VIR_UUID_STRING_BUFLEN];
    virDomainGetUUIDString(domain("rep-1").get(), text);
    return std::string(text);
  };
  const auto before = uuid();
  ASSERT_TRUE(
      plugin_->useDiskData("rep-1", {{"disk-0", "/srv/replicas/rep-1/disk-0.qcow2"}}, ctx()).ok());
  auto doc = XmlDocument::parse(xmlOf(domain("rep-1").get()));
  ASSERT_TRUE(doc);
  EXPECT_EQ(attribute(doc->first("/domain/devices/disk"), "type"), "file");
  EXPECT_EQ(attribute(doc->first("/domain/devices/disk/source"), "file"),
            "/srv/replicas/rep-1/disk-0.qcow2");
  EXPECT_EQ(uuid(), before);  // the same domain, redefined
  EXPECT_EQ(attribute(doc->first("/domain/metadata/ws:machine/ws:disk"), "data"),
            "/srv/replicas/rep-1/disk-0.qcow2");

  // The snapshot holds the definition it was taken with: reverting brings back the volume.
  ASSERT_TRUE(plugin_->revertToRestorePoint("rep-1", "rp-1", ctx()).ok());
  doc = XmlDocument::parse(xmlOf(domain("rep-1").get()));
  EXPECT_EQ(attribute(doc->first("/domain/devices/disk/source"), "volume"),
            "ws-m-rep-1.disk-0.qcow2");
  EXPECT_TRUE(plugin_->diskData("rep-1", ctx())->empty());
}

TEST_F(LibvirtPluginTest, GracefulPowerOffShutsTheGuestDown) {
  provision();
  ASSERT_TRUE(plugin_->createReplica(replica("rep-1"), ctx()).ok());
  ASSERT_TRUE(plugin_->powerOn("rep-1", ctx()).ok());
  ASSERT_TRUE(plugin_->powerOff("rep-1", {true, std::chrono::seconds(5)}, ctx()).ok());
  // The test driver's shutdown is immediate and leaves reason SHUTDOWN, not DESTROYED.
  int state = 0, reason = 0;
  virDomainGetState(domain("rep-1").get(), &state, &reason, 0);
  EXPECT_EQ(state, VIR_DOMAIN_SHUTOFF);
  EXPECT_EQ(reason, VIR_DOMAIN_SHUTOFF_SHUTDOWN);

  // A paused guest cannot answer ACPI: forced off at once.
  ASSERT_TRUE(plugin_->powerOn("rep-1", ctx()).ok());
  ASSERT_EQ(virDomainSuspend(domain("rep-1").get()), 0);
  ASSERT_TRUE(plugin_->powerOff("rep-1", {true, std::chrono::seconds(5)}, ctx()).ok());
  virDomainGetState(domain("rep-1").get(), &state, &reason, 0);
  EXPECT_EQ(reason, VIR_DOMAIN_SHUTOFF_DESTROYED);
}

TEST_F(LibvirtPluginTest, AnExpiredOrCancelledCallChangesNothing) {
  provision();
  auto expired = ctx();
  expired.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto created = plugin_->createReplica(replica("rep-1"), expired);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, ErrorCode::kTimeout);
  std::atomic<bool> cancel{true};
  auto cancelled = ctx();
  cancelled.cancelRequested = &cancel;
  EXPECT_EQ(plugin_->createReplica(replica("rep-1"), cancelled).error().code,
            ErrorCode::kCancelled);
  EXPECT_FALSE(domain("rep-1"));
}

TEST_F(LibvirtPluginTest, RevertRestoresTheDisksAndLeavesTheMachineOff) {
  provision();
  ASSERT_TRUE(plugin_->createReplica(replica("rep-1"), ctx()).ok());
  ASSERT_TRUE(plugin_->powerOn("rep-1", ctx()).ok());
  // Taken while running: libvirt would restart the domain on revert; the ABI reverts disks only.
  ASSERT_TRUE(plugin_->createRestorePoint("rep-1", "rp-live", "taken running", ctx()).ok());
  ASSERT_TRUE(plugin_->powerOff("rep-1", {false, {}}, ctx()).ok());
  ASSERT_TRUE(plugin_->revertToRestorePoint("rep-1", "rp-live", ctx()).ok());
  EXPECT_EQ(plugin_->machine("rep-1", ctx())->power, PowerState::kOff);
  auto points = plugin_->listRestorePoints("rep-1", ctx());
  ASSERT_TRUE(points.ok());
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].description, "taken running");
  EXPECT_GT((*points)[0].createdUnix, 1'600'000'000);
}

TEST_F(LibvirtPluginTest, TestCopyDisksAreOverlaysOnTheReplicasVolumes) {
  provision();
  ASSERT_TRUE(plugin_->createReplica(replica("rep-1"), ctx()).ok());
  ASSERT_TRUE(plugin_->createRestorePoint("rep-1", "rp-1", "", ctx()).ok());
  ASSERT_TRUE(plugin_->createBubble({"bubble-1", "tenant-a", {"net-a"}}, ctx()).ok());
  // The restore point under the copy cannot go while the copy exists.
  auto copy = plugin_->createTestCopy({"copy-1", "rep-1", "", "bubble-1"}, ctx());
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  EXPECT_EQ(plugin_->deleteRestorePoint("rep-1", "rp-1", ctx()).error().code,
            ErrorCode::kInvalidState);
  PoolHandle pool(virStoragePoolLookupByName(operator_, "default-pool"));
  VolumeHandle overlay(virStorageVolLookupByName(pool.get(), "ws-m-copy-1.disk-0.qcow2"));
  ASSERT_TRUE(overlay);
  char* xml = virStorageVolGetXMLDesc(overlay.get(), 0);
  auto doc = XmlDocument::parse(xml);
  free(xml);
  EXPECT_EQ(textOf(doc->first("/volume/backingStore/path")),
            "/default-pool/ws-m-rep-1.disk-0.qcow2");
  auto dom = XmlDocument::parse(xmlOf(domain("copy-1").get()));
  EXPECT_EQ(attribute(dom->first("/domain/devices/interface/source"), "network"),
            "ws-b-bubble-1.net-a");
  NetworkHandle twin(virNetworkLookupByName(operator_, "ws-b-bubble-1.net-a"));
  char* twinXml = virNetworkGetXMLDesc(twin.get(), 0);
  auto twinDoc = XmlDocument::parse(twinXml);
  free(twinXml);
  EXPECT_EQ(twinDoc->first("/network/forward"), nullptr);  // isolated: no uplink
  EXPECT_EQ(twinDoc->first("/network/vlan"), nullptr);
  EXPECT_EQ(copy->nicMacs, plugin_->machine("rep-1", ctx())->nicMacs);
}

// A host the plugin worked on before a restart: everything is found again from the metadata.
TEST(LibvirtPluginRestart, RebuildsItsStateFromTheHostsRecords) {
  RecordingHost host;
  auto created =
      create({R"({"uri": "test://)" WARMSITE_LIBVIRT_HOSTS_DIR
              R"(/warmsite-host.xml", "network": {"mode": "openvswitch", "bridge": "ovsbr0"}})",
              &host});
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto plugin = std::move(created).value();
  auto* compute = plugin->compute();
  auto inventory = compute->inventory(ctx());
  ASSERT_TRUE(inventory.ok());
  ASSERT_EQ(inventory->size(), 1u);
  const auto& old = inventory->front();
  EXPECT_EQ(old.machineId, "rep-old");
  EXPECT_EQ(old.subscriptionId, "sub-old");
  EXPECT_EQ(old.nicMacs, std::vector<std::string>{"52:54:00:aa:bb:01"});
  ASSERT_EQ(old.restorePoints.size(), 1u);
  EXPECT_EQ(old.restorePoints[0].restorePointId, "rp-old");
  EXPECT_EQ(old.restorePoints[0].createdUnix, 1700000000);

  auto usage = compute->tenantResources("sub-old", ctx());
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->storages[0].quotaGb, 50u);
  EXPECT_EQ(usage->storages[0].usedGb, 30u);

  // The replay of the original create is still a replay, and the quota counts the old replica.
  plugin::ReplicaSpec spec{"rep-old",
                           "sub-old",
                           "tenant-old",
                           "old replica",
                           1,
                           1000,
                           2048,
                           {{"disk-0", "gold", 30}},
                           {{"nic-0", "net-old", "52:54:00:aa:bb:01"}}};
  ASSERT_TRUE(compute->createReplica(spec, ctx()).ok());
  spec.replicaId = "rep-new";
  spec.nics[0].mac = "";
  auto over = compute->createReplica(spec, ctx());
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(plugin->network()
                ->createTenantNetwork({"net-new", "sub-old", "tenant-old", "n", 300, false}, ctx())
                .error()
                .code,
            ErrorCode::kAlreadyExists);  // VLAN 300 is net-old's
  EXPECT_EQ(compute->releaseTenantResources("sub-old", ctx()).error().code,
            ErrorCode::kInvalidState);
}

}  // namespace
}  // namespace warmsite::libvirtplugin

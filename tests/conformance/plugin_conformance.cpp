#include "tests/conformance/plugin_conformance.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace warmsite::conformance {

using plugin::ErrorCode;
using plugin::PowerState;
using ::testing::HasSubstr;

#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    const auto& result_ = (expr);                                          \
    ASSERT_TRUE(result_.ok()) << #expr << ": " << result_.error().message; \
  } while (false)

#define EXPECT_ERROR(expr, errorCode)                                          \
  do {                                                                         \
    const auto& result_ = (expr);                                              \
    EXPECT_FALSE(result_.ok()) << #expr << " succeeded; expected " #errorCode; \
    if (!result_.ok()) {                                                       \
      EXPECT_EQ(result_.error().code, errorCode) << result_.error().message;   \
      EXPECT_FALSE(result_.error().message.empty());                           \
    }                                                                          \
  } while (false)

#define REQUIRE_CAPABILITY(flag, what) \
  if (!caps_.flag) GTEST_SKIP() << GetParam().name << " does not offer " what " (capabilities)"

std::string conformanceName(const ::testing::TestParamInfo<PluginUnderTest>& info) {
  return info.param.name;
}

void PluginConformance::SetUp() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  instance_ = std::string("conf-") + test->name();
  std::replace(instance_.begin(), instance_.end(), '/', '-');
  if (GetParam().keepBackendAlive) backendKeeper_ = GetParam().keepBackendAlive(instance_);
  reopen();
}

void PluginConformance::TearDown() {
  plugin_.reset();
  backendKeeper_.reset();
}

void PluginConformance::reopen() {
  plugin_.reset();
  compute_ = nullptr;
  network_ = nullptr;
  edge_ = nullptr;
  isolation_ = nullptr;
  auto library = plugins::loadPluginLibrary(GetParam().library);
  ASSERT_TRUE(library.ok()) << library.error().message;
  host_ = std::make_unique<plugins::CloudHostServices>(instance_);
  auto created = library->create(GetParam().config(instance_), *host_);
  ASSERT_TRUE(created.ok()) << created.error().message;
  plugin_ = std::move(created).value();
  caps_ = plugin_->capabilities();
  compute_ = plugin_->compute();
  network_ = plugin_->network();
  edge_ = plugin_->edge();
  isolation_ = plugin_->testIsolation();
}

plugin::TenantResourcesSpec PluginConformance::tenantSpec(const std::string& subscriptionId,
                                                          const std::string& tenantId,
                                                          std::uint64_t quotaGb) const {
  plugin::TenantResourcesSpec spec;
  spec.subscriptionId = subscriptionId;
  spec.tenantId = tenantId;
  spec.tenantName = "Tenant " + tenantId;
  spec.cpuMhz = 20000;
  spec.memoryMb = 16384;
  spec.storages = {{"gold", GetParam().backendStorage, quotaGb}};
  return spec;
}

plugin::TenantNetworkSpec PluginConformance::networkSpec(const std::string& networkId,
                                                         const std::string& subscriptionId,
                                                         const std::string& tenantId,
                                                         std::uint32_t vlan) const {
  return {networkId, subscriptionId, tenantId, "net " + networkId, vlan, true};
}

plugin::ReplicaSpec PluginConformance::replicaSpec(const std::string& replicaId,
                                                   const std::string& subscriptionId,
                                                   const std::string& tenantId,
                                                   const std::string& networkId,
                                                   std::uint64_t diskGb) const {
  plugin::ReplicaSpec spec;
  spec.replicaId = replicaId;
  spec.subscriptionId = subscriptionId;
  spec.tenantId = tenantId;
  spec.name = "vm " + replicaId;
  spec.vcpus = 2;
  spec.cpuMhz = 2000;
  spec.memoryMb = 1024;
  spec.disks = {{"disk-0", "gold", diskGb}};
  if (!networkId.empty()) spec.nics = {{"nic-0", networkId, ""}};
  return spec;
}

void PluginConformance::provisionTenantA() {
  ASSERT_NE(compute_, nullptr);
  ASSERT_OK(compute_->applyTenantResources(tenantSpec("sub-a", "tenant-a"), ctx()));
  if (network_ != nullptr) {
    ASSERT_OK(network_->createTenantNetwork(networkSpec("net-a", "sub-a", "tenant-a", 101), ctx()));
  }
}

bool PluginConformance::inInventory(const std::string& machineId) {
  auto inventory = compute_->inventory(ctx());
  EXPECT_TRUE(inventory.ok()) << inventory.error().message;
  if (!inventory.ok()) return false;
  return std::any_of(inventory->begin(), inventory->end(),
                     [&](const plugin::MachineInfo& m) { return m.machineId == machineId; });
}

std::string networkOf(plugin::NetworkApi* network) {
  return network != nullptr ? "net-a" : "";
}

// ---- capabilities
// ---------------------------------------------------------------------------------

TEST_P(PluginConformance, AnnouncedPartsAreHandedOut) {
  EXPECT_EQ(caps_.compute, compute_ != nullptr);
  EXPECT_EQ(caps_.network, network_ != nullptr);
  EXPECT_EQ(caps_.edge, edge_ != nullptr);
  EXPECT_EQ(caps_.testIsolation, isolation_ != nullptr);
  ASSERT_OK(plugin_->checkHealth(ctx()));
}

// ---- idempotent replays
// ----------------------------------------------------------------------------

TEST_P(PluginConformance, TenantResourcesReplayIsIdempotent) {
  REQUIRE_CAPABILITY(compute, "compute");
  const auto spec = tenantSpec("sub-a", "tenant-a");
  ASSERT_OK(compute_->applyTenantResources(spec, ctx()));
  auto again = compute_->applyTenantResources(spec, ctx());
  ASSERT_OK(again);
  EXPECT_EQ(again->subscriptionId, "sub-a");
  EXPECT_EQ(again->tenantId, "tenant-a");
  ASSERT_EQ(again->storages.size(), 1u);
  EXPECT_EQ(again->storages[0].quotaGb, 100u);
  EXPECT_EQ(again->storages[0].usedGb, 0u);

  // An edit (the plan grew) reaches the backend.
  ASSERT_OK(compute_->applyTenantResources(tenantSpec("sub-a", "tenant-a", 200), ctx()));
  auto read = compute_->tenantResources("sub-a", ctx());
  ASSERT_OK(read);
  EXPECT_EQ(read->storages[0].quotaGb, 200u);

  ASSERT_OK(compute_->releaseTenantResources("sub-a", ctx()));
  ASSERT_OK(compute_->releaseTenantResources("sub-a", ctx()));  // replay of a delete
  EXPECT_ERROR(compute_->tenantResources("sub-a", ctx()), ErrorCode::kNotFound);
}

TEST_P(PluginConformance, SubscriptionOfAnotherTenantIsRefused) {
  REQUIRE_CAPABILITY(compute, "compute");
  ASSERT_OK(compute_->applyTenantResources(tenantSpec("sub-a", "tenant-a"), ctx()));
  EXPECT_ERROR(compute_->applyTenantResources(tenantSpec("sub-a", "tenant-b"), ctx()),
               ErrorCode::kAlreadyExists);
  auto read = compute_->tenantResources("sub-a", ctx());
  ASSERT_OK(read);
  EXPECT_EQ(read->tenantId, "tenant-a");
}

TEST_P(PluginConformance, NetworkReplayIsIdempotentAndVlansAreExclusive) {
  REQUIRE_CAPABILITY(network, "networks");
  ASSERT_OK(compute_->applyTenantResources(tenantSpec("sub-a", "tenant-a"), ctx()));
  const auto spec = networkSpec("net-a", "sub-a", "tenant-a", 101);
  auto first = network_->createTenantNetwork(spec, ctx());
  ASSERT_OK(first);
  auto again = network_->createTenantNetwork(spec, ctx());
  ASSERT_OK(again);
  EXPECT_EQ(again->vlanId, 101u);
  EXPECT_EQ(again->platformRef, first->platformRef);

  EXPECT_ERROR(network_->createTenantNetwork(networkSpec("net-a", "sub-a", "tenant-a", 102), ctx()),
               ErrorCode::kAlreadyExists);
  EXPECT_ERROR(network_->createTenantNetwork(networkSpec("net-b", "sub-a", "tenant-a", 101), ctx()),
               ErrorCode::kAlreadyExists);
  EXPECT_ERROR(network_->createTenantNetwork(networkSpec("net-c", "sub-a", "tenant-a", 0), ctx()),
               ErrorCode::kInvalidArgument);
  EXPECT_ERROR(
      network_->createTenantNetwork(networkSpec("net-c", "sub-a", "tenant-a", 4095), ctx()),
      ErrorCode::kInvalidArgument);
  EXPECT_ERROR(network_->createTenantNetwork(networkSpec("net-c", "sub-x", "tenant-a", 103), ctx()),
               ErrorCode::kNotFound);

  auto networks = network_->listNetworks(ctx());
  ASSERT_OK(networks);
  EXPECT_EQ(
      std::count_if(networks->begin(), networks->end(), [](const auto& n) { return !n.isolated; }),
      1);
  ASSERT_OK(network_->deleteTenantNetwork("net-a", ctx()));
  ASSERT_OK(network_->deleteTenantNetwork("net-a", ctx()));
  networks = network_->listNetworks(ctx());
  ASSERT_OK(networks);
  EXPECT_TRUE(networks->empty());
}

TEST_P(PluginConformance, ReplicaReplayIsIdempotent) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  const auto spec = replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_));
  auto first = compute_->createReplica(spec, ctx());
  ASSERT_OK(first);
  EXPECT_EQ(first->power, PowerState::kOff);
  EXPECT_EQ(first->nicMacs.size(), spec.nics.size());
  auto again = compute_->createReplica(spec, ctx());
  ASSERT_OK(again);
  EXPECT_EQ(again->platformRef, first->platformRef);
  EXPECT_EQ(again->nicMacs, first->nicMacs);

  auto changed = spec;
  changed.memoryMb = 2048;
  EXPECT_ERROR(compute_->createReplica(changed, ctx()), ErrorCode::kAlreadyExists);

  auto inventory = compute_->inventory(ctx());
  ASSERT_OK(inventory);
  EXPECT_EQ(std::count_if(inventory->begin(), inventory->end(),
                          [](const auto& m) { return m.machineId == "rep-1"; }),
            1);
  auto usage = compute_->tenantResources("sub-a", ctx());
  ASSERT_OK(usage);
  EXPECT_EQ(usage->storages[0].usedGb, 10u);

  ASSERT_OK(compute_->deleteReplica("rep-1", ctx()));
  ASSERT_OK(compute_->deleteReplica("rep-1", ctx()));
  EXPECT_FALSE(inInventory("rep-1"));
  EXPECT_ERROR(compute_->machine("rep-1", ctx()), ErrorCode::kNotFound);
}

// ---- cleanup after a failed call
// -------------------------------------------------------------------

TEST_P(PluginConformance, OverQuotaReplicaLeavesNothingBehind) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  auto spec = replicaSpec("rep-big", "sub-a", "tenant-a", networkOf(network_), 60);
  spec.disks.push_back({"disk-1", "gold", 60});  // 120 GB on a 100 GB quota
  EXPECT_ERROR(compute_->createReplica(spec, ctx()), ErrorCode::kResourceExhausted);
  EXPECT_FALSE(inInventory("rep-big"));
  auto usage = compute_->tenantResources("sub-a", ctx());
  ASSERT_OK(usage);
  EXPECT_EQ(usage->storages[0].usedGb, 0u);

  // The id is free again: the failure left no half-made replica to collide with.
  spec.disks.pop_back();
  ASSERT_OK(compute_->createReplica(spec, ctx()));
}

TEST_P(PluginConformance, ReplicaOnUnknownNetworkLeavesNothingBehind) {
  REQUIRE_CAPABILITY(network, "networks");
  provisionTenantA();
  auto spec = replicaSpec("rep-lost", "sub-a", "tenant-a", "net-missing");
  EXPECT_ERROR(compute_->createReplica(spec, ctx()), ErrorCode::kNotFound);
  EXPECT_FALSE(inInventory("rep-lost"));
  auto usage = compute_->tenantResources("sub-a", ctx());
  ASSERT_OK(usage);
  EXPECT_EQ(usage->storages[0].usedGb, 0u);
}

TEST_P(PluginConformance, MemoryBeyondThePlanIsRefused) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  auto spec = replicaSpec("rep-fat", "sub-a", "tenant-a", networkOf(network_));
  spec.memoryMb = 32768;  // the plan allows 16384
  EXPECT_ERROR(compute_->createReplica(spec, ctx()), ErrorCode::kResourceExhausted);
  EXPECT_FALSE(inInventory("rep-fat"));
}

TEST_P(PluginConformance, ReplicaWithoutSubscriptionIsNotFound) {
  REQUIRE_CAPABILITY(compute, "compute");
  EXPECT_ERROR(compute_->createReplica(replicaSpec("rep-1", "sub-none", "tenant-a", ""), ctx()),
               ErrorCode::kNotFound);
  EXPECT_FALSE(inInventory("rep-1"));
}

// ---- state errors
// ----------------------------------------------------------------------------------

TEST_P(PluginConformance, PowerFollowsTheStateRules) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));

  EXPECT_ERROR(compute_->powerOff("rep-1", {false, {}}, ctx()), ErrorCode::kInvalidState);
  ASSERT_OK(compute_->powerOn("rep-1", ctx()));
  EXPECT_EQ(compute_->machine("rep-1", ctx())->power, PowerState::kOn);
  EXPECT_ERROR(compute_->powerOn("rep-1", ctx()), ErrorCode::kInvalidState);
  EXPECT_ERROR(compute_->deleteReplica("rep-1", ctx()), ErrorCode::kInvalidState);
  EXPECT_TRUE(inInventory("rep-1"));  // the refused delete left it alone

  plugin::PowerOffOptions graceful;
  graceful.graceful = caps_.gracefulShutdown;
  graceful.gracefulTimeout = std::chrono::seconds(5);
  ASSERT_OK(compute_->powerOff("rep-1", graceful, ctx()));
  EXPECT_EQ(compute_->machine("rep-1", ctx())->power, PowerState::kOff);
  ASSERT_OK(compute_->deleteReplica("rep-1", ctx()));

  EXPECT_ERROR(compute_->powerOn("rep-none", ctx()), ErrorCode::kNotFound);
  EXPECT_ERROR(compute_->powerOff("rep-none", {false, {}}, ctx()), ErrorCode::kNotFound);
}

TEST_P(PluginConformance, ResourcesInUseCannotBeReleased) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));
  EXPECT_ERROR(compute_->releaseTenantResources("sub-a", ctx()), ErrorCode::kInvalidState);
  if (network_ != nullptr) {
    EXPECT_ERROR(network_->deleteTenantNetwork("net-a", ctx()), ErrorCode::kInvalidState);
  }
  // Shrinking a quota below what is used is refused and changes nothing.
  EXPECT_ERROR(compute_->applyTenantResources(tenantSpec("sub-a", "tenant-a", 5), ctx()),
               ErrorCode::kResourceExhausted);
  EXPECT_EQ(compute_->tenantResources("sub-a", ctx())->storages[0].quotaGb, 100u);

  ASSERT_OK(compute_->deleteReplica("rep-1", ctx()));
  if (network_ != nullptr) ASSERT_OK(network_->deleteTenantNetwork("net-a", ctx()));
  ASSERT_OK(compute_->releaseTenantResources("sub-a", ctx()));
}

// ---- restore points
// --------------------------------------------------------------------------------

TEST_P(PluginConformance, RestorePointsAreOrderedAndIdempotent) {
  REQUIRE_CAPABILITY(compute, "compute");
  if (caps_.maxRestorePointsPerReplica == 1) {
    GTEST_SKIP() << GetParam().name << " keeps one restore point per replica (capabilities)";
  }
  provisionTenantA();
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));
  ASSERT_OK(compute_->createRestorePoint("rep-1", "rp-1", "first", ctx()));
  ASSERT_OK(compute_->createRestorePoint("rep-1", "rp-2", "second", ctx()));
  ASSERT_OK(compute_->createRestorePoint("rep-1", "rp-1", "first", ctx()));  // replay
  auto points = compute_->listRestorePoints("rep-1", ctx());
  ASSERT_OK(points);
  ASSERT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[0].restorePointId, "rp-1");
  EXPECT_EQ((*points)[1].restorePointId, "rp-2");

  ASSERT_OK(compute_->powerOn("rep-1", ctx()));
  EXPECT_ERROR(compute_->revertToRestorePoint("rep-1", "rp-1", ctx()), ErrorCode::kInvalidState);
  ASSERT_OK(compute_->powerOff("rep-1", {false, {}}, ctx()));
  ASSERT_OK(compute_->revertToRestorePoint("rep-1", "rp-1", ctx()));
  EXPECT_ERROR(compute_->revertToRestorePoint("rep-1", "rp-none", ctx()), ErrorCode::kNotFound);

  ASSERT_OK(compute_->deleteRestorePoint("rep-1", "rp-1", ctx()));
  ASSERT_OK(compute_->deleteRestorePoint("rep-1", "rp-1", ctx()));
  points = compute_->listRestorePoints("rep-1", ctx());
  ASSERT_OK(points);
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].restorePointId, "rp-2");
  EXPECT_ERROR(compute_->listRestorePoints("rep-none", ctx()), ErrorCode::kNotFound);
}

// ---- inventory after restart
// -----------------------------------------------------------------------

TEST_P(PluginConformance, InventorySurvivesARestartOfThePluginObject) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-2", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));
  ASSERT_OK(compute_->powerOn("rep-2", ctx()));
  ASSERT_OK(compute_->createRestorePoint("rep-1", "rp-1", "before restart", ctx()));
  const auto before = compute_->machine("rep-1", ctx());
  ASSERT_OK(before);

  reopen();
  ASSERT_NE(compute_, nullptr);
  auto inventory = compute_->inventory(ctx());
  ASSERT_OK(inventory);
  std::map<std::string, plugin::MachineInfo> byId;
  for (const auto& machine : *inventory) byId[machine.machineId] = machine;
  ASSERT_TRUE(byId.contains("rep-1"));
  ASSERT_TRUE(byId.contains("rep-2"));
  EXPECT_EQ(byId["rep-1"].tenantId, "tenant-a");
  EXPECT_EQ(byId["rep-1"].subscriptionId, "sub-a");
  EXPECT_EQ(byId["rep-1"].power, PowerState::kOff);
  EXPECT_EQ(byId["rep-2"].power, PowerState::kOn);
  EXPECT_EQ(byId["rep-1"].nicMacs, before->nicMacs);
  ASSERT_EQ(byId["rep-1"].restorePoints.size(), 1u);
  EXPECT_EQ(byId["rep-1"].restorePoints[0].restorePointId, "rp-1");
  // Ids keep working after the restart: a replay is still a replay.
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));
  EXPECT_ERROR(compute_->powerOn("rep-2", ctx()), ErrorCode::kInvalidState);
}

TEST_P(PluginConformance, DisksBootFromDataFilesUntilToldOtherwise) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));
  const std::vector<plugin::DiskData> data = {{"disk-0", "/srv/replicas/rep-1/disk-0.qcow2"}};
  const auto used = compute_->useDiskData("rep-1", data, ctx());
  if (!used.ok() && used.error().code == ErrorCode::kUnimplemented) {
    EXPECT_ERROR(compute_->diskData("rep-1", ctx()), ErrorCode::kUnimplemented);
    GTEST_SKIP() << "this plugin cannot boot data files: " << used.error().message;
  }
  ASSERT_OK(used);
  auto now = compute_->diskData("rep-1", ctx());
  ASSERT_OK(now);
  EXPECT_EQ(*now, data);
  ASSERT_OK(compute_->useDiskData("rep-1", data, ctx()));  // a replay

  // Bad input changes nothing.
  EXPECT_ERROR(compute_->useDiskData("rep-1", {{"disk-9", "/srv/x.qcow2"}}, ctx()),
               ErrorCode::kInvalidArgument);
  EXPECT_ERROR(compute_->useDiskData("rep-1", {{"disk-0", "relative.qcow2"}}, ctx()),
               ErrorCode::kInvalidArgument);
  EXPECT_ERROR(compute_->useDiskData("rep-none", data, ctx()), ErrorCode::kNotFound);
  EXPECT_EQ(*compute_->diskData("rep-1", ctx()), data);

  // A running machine keeps its disks; the same list is still a replay.
  ASSERT_OK(compute_->powerOn("rep-1", ctx()));
  EXPECT_ERROR(compute_->useDiskData("rep-1", {}, ctx()), ErrorCode::kInvalidState);
  ASSERT_OK(compute_->useDiskData("rep-1", data, ctx()));
  ASSERT_OK(compute_->powerOff("rep-1", {false, {}}, ctx()));

  reopen();  // the backend keeps it, not the plugin object
  ASSERT_NE(compute_, nullptr);
  EXPECT_EQ(*compute_->diskData("rep-1", ctx()), data);
  ASSERT_OK(compute_->useDiskData("rep-1", {}, ctx()));
  EXPECT_TRUE(compute_->diskData("rep-1", ctx())->empty());
  EXPECT_ERROR(compute_->diskData("rep-none", ctx()), ErrorCode::kNotFound);
}

// ---- concurrency
// -----------------------------------------------------------------------------------

TEST_P(PluginConformance, ConcurrentCallsOnDistinctReplicas) {
  REQUIRE_CAPABILITY(compute, "compute");
  provisionTenantA();
  constexpr int kThreads = 4, kPerThread = 5;
  std::atomic<int> failures{0};
  std::mutex firstFailureMutex;
  std::string firstFailure;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "rep-" + std::to_string(t) + "-" + std::to_string(i);
        auto spec = replicaSpec(id, "sub-a", "tenant-a", networkOf(network_), 1);
        spec.memoryMb = 128;
        spec.cpuMhz = 100;
        auto record = [&](const char* call, const auto& result) {
          if (result.ok()) return true;
          std::lock_guard lock(firstFailureMutex);
          if (++failures == 1) firstFailure = id + " " + call + ": " + result.error().message;
          return false;
        };
        record("create", compute_->createReplica(spec, ctx())) &&
            record("power on", compute_->powerOn(id, ctx())) &&
            record("power off", compute_->powerOff(id, {false, {}}, ctx()));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0) << "first: " << firstFailure;
  auto inventory = compute_->inventory(ctx());
  ASSERT_OK(inventory);
  EXPECT_EQ(inventory->size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(compute_->tenantResources("sub-a", ctx())->storages[0].usedGb,
            static_cast<std::uint64_t>(kThreads * kPerThread));
}

// ---- edge
// ------------------------------------------------------------------------------------------

TEST_P(PluginConformance, EdgeRulesAreAppliedAtomically) {
  REQUIRE_CAPABILITY(edge, "an edge");
  provisionTenantA();
  plugin::TenantEdgeSpec spec{
      "tenant-a",
      {{"rule-1", "203.0.113.10", 443, plugin::Protocol::kTcp, "10.0.0.10", 8443},
       {"rule-2", "203.0.113.10", 53, plugin::Protocol::kUdp, "10.0.0.11", 53}},
      {}};
  if (network_ != nullptr) spec.outboundNat = {{"net-a", "10.0.0.0/24", "203.0.113.10"}};
  ASSERT_OK(edge_->applyTenantEdge(spec, ctx()));
  ASSERT_OK(edge_->applyTenantEdge(spec, ctx()));  // replay
  auto read = edge_->tenantEdge("tenant-a", ctx());
  ASSERT_OK(read);
  EXPECT_EQ(*read, spec);

  // A bad spec changes nothing: the previous rules stay in force.
  auto bad = spec;
  bad.mappings.push_back({"rule-3", "203.0.113.10", 8080, plugin::Protocol::kTcp, "fe80::1", 80});
  EXPECT_ERROR(edge_->applyTenantEdge(bad, ctx()), ErrorCode::kInvalidArgument);
  auto duplicate = spec;
  duplicate.mappings.push_back(
      {"rule-4", "203.0.113.10", 443, plugin::Protocol::kTcp, "10.0.0.12", 443});
  EXPECT_ERROR(edge_->applyTenantEdge(duplicate, ctx()), ErrorCode::kAlreadyExists);
  EXPECT_EQ(*edge_->tenantEdge("tenant-a", ctx()), spec);

  // Another tenant cannot take a public ip:port already mapped.
  plugin::TenantEdgeSpec other{
      "tenant-b", {{"rule-9", "203.0.113.10", 443, plugin::Protocol::kTcp, "10.1.0.10", 443}}, {}};
  EXPECT_ERROR(edge_->applyTenantEdge(other, ctx()), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(edge_->tenantEdge("tenant-b", ctx())->mappings.empty());

  ASSERT_OK(edge_->removeTenantEdge("tenant-a", ctx()));
  ASSERT_OK(edge_->removeTenantEdge("tenant-a", ctx()));
  auto empty = edge_->tenantEdge("tenant-a", ctx());
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->mappings.empty());
  EXPECT_TRUE(empty->outboundNat.empty());
  ASSERT_OK(edge_->applyTenantEdge(other, ctx()));  // free again
}

// ---- test isolation
// --------------------------------------------------------------------------------

TEST_P(PluginConformance, TestCopiesLiveInTheBubbleAndLeaveTheReplicaAlone) {
  REQUIRE_CAPABILITY(testIsolation, "test isolation");
  REQUIRE_CAPABILITY(network, "networks (bubbles mirror them)");
  provisionTenantA();
  ASSERT_OK(compute_->createReplica(replicaSpec("rep-1", "sub-a", "tenant-a", networkOf(network_)),
                                    ctx()));
  ASSERT_OK(compute_->createRestorePoint("rep-1", "rp-1", "", ctx()));
  const plugin::BubbleSpec bubble{"bubble-1", "tenant-a", {"net-a"}};
  ASSERT_OK(isolation_->createBubble(bubble, ctx()));
  ASSERT_OK(isolation_->createBubble(bubble, ctx()));  // replay

  const plugin::TestCopySpec copySpec{"copy-1", "rep-1", "", "bubble-1"};
  auto copy = isolation_->createTestCopy(copySpec, ctx());
  ASSERT_OK(copy);
  EXPECT_EQ(copy->kind, plugin::MachineKind::kTestCopy);
  EXPECT_EQ(copy->sourceReplicaId, "rep-1");
  ASSERT_OK(isolation_->createTestCopy(copySpec, ctx()));  // replay
  ASSERT_OK(compute_->powerOn("copy-1", ctx()));

  // The bubble's networks are isolated, and the replica is untouched.
  auto networks = network_->listNetworks(ctx());
  ASSERT_OK(networks);
  EXPECT_EQ(
      std::count_if(networks->begin(), networks->end(), [](const auto& n) { return n.isolated; }),
      1);
  auto replica = compute_->machine("rep-1", ctx());
  ASSERT_OK(replica);
  EXPECT_EQ(replica->power, PowerState::kOff);
  EXPECT_EQ(replica->restorePoints.size(), 1u);
  EXPECT_ERROR(isolation_->deleteBubble("bubble-1", ctx()), ErrorCode::kInvalidState);
  EXPECT_ERROR(compute_->deleteReplica("rep-1", ctx()), ErrorCode::kInvalidState);

  // Cleanup is never refused, even with the copy running; then everything is gone.
  ASSERT_OK(isolation_->deleteTestCopy("copy-1", ctx()));
  ASSERT_OK(isolation_->deleteTestCopy("copy-1", ctx()));
  ASSERT_OK(isolation_->deleteBubble("bubble-1", ctx()));
  EXPECT_FALSE(inInventory("copy-1"));
  networks = network_->listNetworks(ctx());
  ASSERT_OK(networks);
  EXPECT_EQ(
      std::count_if(networks->begin(), networks->end(), [](const auto& n) { return n.isolated; }),
      0);

  EXPECT_ERROR(isolation_->createTestCopy({"copy-2", "rep-1", "rp-none", "bubble-1"}, ctx()),
               ErrorCode::kNotFound);
  EXPECT_FALSE(inInventory("copy-2"));
}

}  // namespace warmsite::conformance

// Compute and network operations of the clouddirector plugin against the simulator: the plan
// against the VDC's capacity, slow tasks and deadlines, injected faults (what is retried, what
// fails, what a failure leaves), the one snapshot per VM, and what others do behind its back.

#include <gmock/gmock.h>

#include <thread>

#include "tests/clouddirector/harness.h"

namespace warmsite::clouddirector::testing {
namespace {

using plugin::ErrorCode;
using plugin::PowerState;
using sim::Fault;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

plugin::TenantResourcesSpec plan(std::optional<std::uint64_t> cpuMhz, std::uint64_t memoryMb,
                                 const std::string& profile, std::uint64_t quotaGb) {
  return {"sub-a", "tenant-a", "Tenant A", cpuMhz, memoryMb, {{"gold", profile, quotaGb}}};
}

TEST(ClouddirectorMapping, APlanBeyondTheVdcIsRefusedAndNothingIsRecorded) {
  Harness harness;  // the VDC: 20000 MHz, 65536 MB, "gold" limited to 500 GB
  auto plugin = harness.open();
  auto* compute = plugin->compute();
  EXPECT_ERROR(compute->applyTenantResources(plan(20000, 100000, "gold", 100), Harness::ctx()),
               ErrorCode::kResourceExhausted);
  EXPECT_ERROR(compute->applyTenantResources(plan(std::nullopt, 1024, "gold", 100), Harness::ctx()),
               ErrorCode::kResourceExhausted);  // unlimited CPU from a limited VDC
  EXPECT_ERROR(compute->applyTenantResources(plan(20000, 1024, "gold", 600), Harness::ctx()),
               ErrorCode::kResourceExhausted);
  EXPECT_ERROR(compute->applyTenantResources(plan(20000, 1024, "bronze", 10), Harness::ctx()),
               ErrorCode::kNotFound);
  EXPECT_EQ(harness.simulator.metadataEntries("dr-vdc"), 0u);

  // "silver" has no limit: any quota fits.
  ASSERT_OK(compute->applyTenantResources(plan(20000, 1024, "silver", 100000), Harness::ctx()));
  EXPECT_EQ(harness.simulator.metadataEntries("dr-vdc"), 1u);
  ASSERT_OK(compute->releaseTenantResources("sub-a", Harness::ctx()));
  EXPECT_EQ(harness.simulator.metadataEntries("dr-vdc"), 0u);
}

TEST(ClouddirectorTasks, SlowTasksArePolledUntilTheyEnd) {
  Harness harness;
  harness.simulator.setTaskDelays(std::chrono::milliseconds(20), std::chrono::milliseconds(60));
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  harness.simulator.clearRequests();
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  ASSERT_OK(plugin->compute()->powerOn("rep-1", Harness::ctx()));
  EXPECT_EQ(plugin->compute()->machine("rep-1", Harness::ctx())->power, PowerState::kOn);
  // Two tasks, each seen queued or running at least once before it ended.
  EXPECT_GT(harness.simulator.countRequests("GET", "/api/task/"), 2u);
}

TEST(ClouddirectorTasks, TheCallsDeadlineEndsTheWaitAndTheTaskStillCompletes) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  harness.simulator.setTaskDelays(std::chrono::milliseconds(0), std::chrono::milliseconds(1500));
  EXPECT_ERROR(plugin->compute()->powerOn("rep-1", Harness::ctx(std::chrono::milliseconds(300))),
               ErrorCode::kTimeout);
  // kTimeout promised "it may still complete": it does, and nothing undid it.
  PowerState power = PowerState::kOff;
  for (int i = 0; i < 100 && power != PowerState::kOn; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    power = plugin->compute()->machine("rep-1", Harness::ctx())->power;
  }
  EXPECT_EQ(power, PowerState::kOn);
}

TEST(ClouddirectorTasks, AReplayAfterATimeoutAdoptsTheReplica) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  harness.simulator.setTaskDelays(std::chrono::milliseconds(0), std::chrono::milliseconds(800));
  const auto spec = Harness::replicaSpec("rep-1");
  EXPECT_ERROR(plugin->compute()->createReplica(spec, Harness::ctx(std::chrono::milliseconds(200))),
               ErrorCode::kTimeout);
  auto replay = plugin->compute()->createReplica(spec, Harness::ctx());
  ASSERT_OK(replay);
  EXPECT_EQ(replay->nicMacs.size(), 1u);
  EXPECT_THAT(harness.simulator.vappNames(), ElementsAre("ws-rep-1"));
  EXPECT_EQ(harness.simulator.countRequests("POST", "composeVApp"), 1u);
}

TEST(ClouddirectorTasks, ATaskOverTheTaskTimeoutIsATimeout) {
  Harness harness;
  auto plugin = harness.open({{"timeouts", {{"task_seconds", 1}}}});
  harness.provisionTenantA(*plugin);
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  harness.simulator.setTaskDelays(std::chrono::milliseconds(0), std::chrono::seconds(3));
  const auto result = plugin->compute()->powerOn("rep-1", Harness::ctx());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kTimeout);
  EXPECT_THAT(result.error().backendCode, HasSubstr("TASK_TIMEOUT"));
}

TEST(ClouddirectorFaults, AFailedComposeLeavesNothingBehind) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  harness.simulator.addFault({Fault::kTaskError, "POST", "composeVApp", 1, 1,
                              "INTERNAL_SERVER_ERROR", "Unable to place the VM on a host"});
  const auto created =
      plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx());
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, ErrorCode::kInternal);
  EXPECT_THAT(created.error().message, HasSubstr("Unable to place"));
  EXPECT_THAT(created.error().backendCode, HasSubstr("INTERNAL_SERVER_ERROR"));
  // The vApp that failed (status -1) was deleted, and the plan's storage is free again.
  EXPECT_TRUE(harness.simulator.vappNames().empty());
  EXPECT_EQ(plugin->compute()->tenantResources("sub-a", Harness::ctx())->storages[0].usedGb, 0u);
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
}

TEST(ClouddirectorFaults, AFailedNetworkLeavesNothingBehind) {
  Harness harness;
  auto plugin = harness.open();
  ASSERT_OK(plugin->compute()->applyTenantResources(plan(20000, 1024, "gold", 10), Harness::ctx()));
  harness.simulator.addFault({Fault::kTaskError, "POST", "orgVdcNetworks", 1, 1});
  EXPECT_ERROR(plugin->network()->createTenantNetwork(
                   {"net-a", "sub-a", "tenant-a", "a", 101, false}, Harness::ctx()),
               ErrorCode::kInternal);
  EXPECT_TRUE(harness.simulator.networkNames().empty());  // no REALIZATION_FAILED network left
  ASSERT_OK(plugin->network()->createTenantNetwork({"net-a", "sub-a", "tenant-a", "a", 101, false},
                                                   Harness::ctx()));
}

TEST(ClouddirectorFaults, ThrottlingAndBusyObjectsAreRetried) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  harness.simulator.addFault({Fault::kServiceUnavailable, "POST", "composeVApp", 1, 2});
  harness.simulator.addFault({Fault::kTooManyRequests, "POST", "/power/action/powerOn", 1, 2});
  harness.simulator.addFault({Fault::kBusyEntity, "POST", "/action/undeploy", 1, 2});
  harness.simulator.addFault(
      {Fault::kTaskError, "POST", "createSnapshot", 1, 1, "BUSY_ENTITY", "The VM is busy."});
  auto* compute = plugin->compute();
  ASSERT_OK(compute->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  ASSERT_OK(compute->powerOn("rep-1", Harness::ctx()));
  ASSERT_OK(compute->powerOff("rep-1", {false, {}}, Harness::ctx()));
  ASSERT_OK(compute->createRestorePoint("rep-1", "rp-1", "", Harness::ctx()));
  EXPECT_EQ(harness.simulator.countRequests("POST", "composeVApp"), 3u);
  EXPECT_EQ(harness.simulator.countRequests("POST", "/power/action/powerOn"), 3u);
  EXPECT_EQ(harness.simulator.countRequests("POST", "/action/undeploy"), 3u);
  EXPECT_EQ(harness.simulator.countRequests("POST", "createSnapshot"), 2u);  // the task failed once
  EXPECT_EQ(compute->machine("rep-1", Harness::ctx())->restorePoints.size(), 1u);
}

TEST(ClouddirectorFaults, AnObjectBusyForeverIsUnavailable) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  harness.simulator.addFault({Fault::kBusyEntity, "POST", "/power/action/powerOn"});
  const auto result = plugin->compute()->powerOn("rep-1", Harness::ctx());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);  // core retries it later
  EXPECT_THAT(result.error().backendCode, HasSubstr("BUSY_ENTITY"));
  EXPECT_EQ(harness.simulator.countRequests("POST", "/power/action/powerOn"), 5u);  // attempts
}

TEST(ClouddirectorSnapshots, ANewRestorePointReplacesThePreviousOne) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  auto* compute = plugin->compute();
  ASSERT_OK(compute->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  EXPECT_EQ(plugin->capabilities().maxRestorePointsPerReplica, 1u);
  ASSERT_OK(compute->createRestorePoint("rep-1", "rp-1", "first", Harness::ctx()));
  const auto second = compute->createRestorePoint("rep-1", "rp-2", "second", Harness::ctx());
  ASSERT_OK(second);
  EXPECT_GT(second->createdUnix, 0);
  ASSERT_OK(compute->createRestorePoint("rep-1", "rp-2", "second", Harness::ctx()));  // replay
  EXPECT_EQ(harness.simulator.countRequests("POST", "createSnapshot"), 2u);

  auto points = compute->listRestorePoints("rep-1", Harness::ctx());
  ASSERT_OK(points);
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].restorePointId, "rp-2");
  EXPECT_EQ((*points)[0].description, "second");
  EXPECT_EQ((*points)[0].createdUnix, second->createdUnix);
  EXPECT_ERROR(compute->revertToRestorePoint("rep-1", "rp-1", Harness::ctx()),
               ErrorCode::kNotFound);
  ASSERT_OK(compute->revertToRestorePoint("rep-1", "rp-2", Harness::ctx()));

  ASSERT_OK(compute->deleteRestorePoint("rep-1", "rp-1", Harness::ctx()));  // not there: success
  ASSERT_OK(compute->deleteRestorePoint("rep-1", "rp-2", Harness::ctx()));
  EXPECT_TRUE(compute->listRestorePoints("rep-1", Harness::ctx())->empty());
  EXPECT_ERROR(compute->revertToRestorePoint("rep-1", "rp-2", Harness::ctx()),
               ErrorCode::kNotFound);
}

TEST(ClouddirectorInventory, VAppsThatAreNotWarmsitesAreLeftOut) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  ASSERT_OK(plugin->compute()->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  harness.simulator.addForeignVApp("dr-vdc", "web-01");
  harness.simulator.addForeignVApp("dr-vdc", "ws-lookalike");  // our prefix, but no mark
  const auto inventory = plugin->compute()->inventory(Harness::ctx());
  ASSERT_OK(inventory);
  ASSERT_EQ(inventory->size(), 1u);
  EXPECT_EQ((*inventory)[0].machineId, "rep-1");
  EXPECT_EQ((*inventory)[0].tenantId, "tenant-a");
  EXPECT_THAT((*inventory)[0].platformRef, HasSubstr("urn:vcloud:vapp:"));
  EXPECT_ERROR(plugin->compute()->createReplica(Harness::replicaSpec("lookalike"), Harness::ctx()),
               ErrorCode::kAlreadyExists);  // its name is taken by a vApp that is not this replica
}

TEST(ClouddirectorInventory, AReplicaDeletedBehindItsBackIsGone) {
  Harness harness;
  auto plugin = harness.open();
  harness.provisionTenantA(*plugin);
  auto* compute = plugin->compute();
  ASSERT_OK(compute->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
  ASSERT_TRUE(harness.simulator.deleteVAppBehindTheBack("ws-rep-1"));
  EXPECT_ERROR(compute->machine("rep-1", Harness::ctx()), ErrorCode::kNotFound);
  ASSERT_OK(compute->deleteReplica("rep-1", Harness::ctx()));
  EXPECT_EQ(compute->tenantResources("sub-a", Harness::ctx())->storages[0].usedGb, 0u);
  ASSERT_OK(compute->createReplica(Harness::replicaSpec("rep-1"), Harness::ctx()));
}

}  // namespace
}  // namespace warmsite::clouddirector::testing

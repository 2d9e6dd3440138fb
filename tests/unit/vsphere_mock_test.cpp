// What the vSphere mock adds to the conformance suite: fault and latency injection, its own
// capacity rules, persistence across processes, and config validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "plugins/host_services.h"
#include "plugins/plugin_loader.h"

namespace warmsite {
namespace {

using plugin::ErrorCode;
using ::testing::HasSubstr;

class VsphereMockTest : public ::testing::Test {
 protected:
  plugin::Result<std::shared_ptr<plugin::CloudHostPlugin>> open(const std::string& config) {
    auto library =
        plugins::loadPluginLibrary(std::filesystem::path(WARMSITE_PLUGIN_DIR) / "vsphere-mock.so");
    if (!library.ok()) return plugin::makeError(ErrorCode::kInternal, library.error().message);
    auto created = library->create(config, host_);
    if (!created.ok()) return created.error().pluginError;
    return std::move(created).value();
  }

  std::shared_ptr<plugin::CloudHostPlugin> openOrFail(const std::string& config) {
    auto plugin = open(config);
    EXPECT_TRUE(plugin.ok()) << plugin.error().message;
    return plugin.ok() ? *plugin : nullptr;
  }

  // A subscription "sub" of tenant "t" with 8 GB of memory, 50 GB on "gold" and no networks.
  static void provision(plugin::ComputeApi& compute) {
    plugin::TenantResourcesSpec spec{"sub",        "t",  "T",
                                     std::nullopt, 8192, {{"gold", "datastore1", 50}}};
    ASSERT_TRUE(compute.applyTenantResources(spec, {}).ok());
  }

  static plugin::ReplicaSpec replica(const std::string& id, std::uint64_t memoryMb = 1024,
                                     std::uint64_t diskGb = 1) {
    return {id, "sub", "t", id, 1, 1000, memoryMb, {{"d0", "gold", diskGb}}, {}};
  }

  std::string uniqueName() const {
    return ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  plugins::CloudHostServices host_{"mock-test"};
};

TEST_F(VsphereMockTest, NthCallFailsOnceAndTransiently) {
  auto plugin =
      openOrFail(R"({"vcenter": ")" + uniqueName() +
                 R"(", "faults": [{"operation": "power_on", "nth": 2, "kind": "transient"}]})");
  auto& compute = *plugin->compute();
  provision(compute);
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(compute.createReplica(replica(id), {}).ok());

  EXPECT_TRUE(compute.powerOn("a", {}).ok());
  auto second = compute.powerOn("b", {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(second.error().transient());
  EXPECT_EQ(second.error().backendCode, "HostCommunication");
  EXPECT_EQ(compute.machine("b", {})->power,
            plugin::PowerState::kOff);         // the fault changed nothing
  EXPECT_TRUE(compute.powerOn("b", {}).ok());  // a retry succeeds
  EXPECT_TRUE(compute.powerOn("c", {}).ok());
}

TEST_F(VsphereMockTest, PermanentFaultForOneTargetOnly) {
  auto plugin = openOrFail(R"({"vcenter": ")" + uniqueName() + R"(", "faults": [
      {"operation": "create_replica", "target": "rep-7", "kind": "permanent"}]})");
  auto& compute = *plugin->compute();
  provision(compute);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto failed = compute.createReplica(replica("rep-7"), {});
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, ErrorCode::kInternal);
    EXPECT_FALSE(failed.error().transient());
    EXPECT_THAT(failed.error().message, HasSubstr("rep-7"));
  }
  EXPECT_TRUE(compute.createReplica(replica("rep-8"), {}).ok());
  EXPECT_EQ(compute.inventory({})->size(), 1u);
}

TEST_F(VsphereMockTest, PermanentFaultWithChosenCodeAndLimit) {
  auto plugin = openOrFail(R"({"vcenter": ")" + uniqueName() + R"(", "faults": [
      {"operation": "*", "kind": "permanent", "code": "permission_denied", "times": 2}]})");
  auto& compute = *plugin->compute();
  EXPECT_EQ(compute.inventory({}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(plugin->checkHealth({}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(compute.inventory({}).ok());  // two faults spent
}

TEST_F(VsphereMockTest, SeededProbabilityIsRepeatable) {
  auto pattern = [&](const std::string& vcenter) {
    auto plugin = openOrFail(R"({"vcenter": ")" + vcenter + R"(", "faults": [
        {"operation": "inventory", "probability": 0.5, "seed": 7, "kind": "transient"}]})");
    std::string failures;
    for (int i = 0; i < 200; ++i) failures += plugin->compute()->inventory({}).ok() ? '.' : 'x';
    return failures;
  };
  const auto first = pattern(uniqueName() + "-1");
  EXPECT_EQ(first, pattern(uniqueName() + "-2"));
  const auto failed = std::count(first.begin(), first.end(), 'x');
  EXPECT_GT(failed, 60);
  EXPECT_LT(failed, 140);
}

TEST_F(VsphereMockTest, LatencyHonoursDeadlineAndCancel) {
  auto plugin =
      openOrFail(R"({"vcenter": ")" + uniqueName() + R"(", "latency_ms": {"inventory": 60000}})");
  auto& compute = *plugin->compute();
  auto timedOut =
      compute.inventory(plugin::CallContext::withTimeout(std::chrono::milliseconds(20)));
  ASSERT_FALSE(timedOut.ok());
  EXPECT_EQ(timedOut.error().code, ErrorCode::kTimeout);

  std::atomic<bool> cancel{true};
  plugin::CallContext ctx;
  ctx.cancelRequested = &cancel;
  auto cancelled = compute.inventory(ctx);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code, ErrorCode::kCancelled);
  EXPECT_TRUE(plugin->checkHealth({}).ok());  // other operations have no latency
}

TEST_F(VsphereMockTest, DatastoreAndHostCapacityAreEnforced) {
  auto plugin = openOrFail(R"({"vcenter": ")" + uniqueName() + R"(",
      "hosts": [{"name": "esx-small", "memory_mb": 1536}],
      "datastores": [{"name": "datastore1", "capacity_gb": 30}]})");
  auto& compute = *plugin->compute();
  provision(compute);  // the plan allows 50 GB, the datastore holds 30
  auto full = compute.createReplica(replica("big", 1024, 40), {});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(full.error().backendCode, "InsufficientDiskSpace");

  ASSERT_TRUE(compute.createReplica(replica("a", 1024), {}).ok());
  ASSERT_TRUE(compute.createReplica(replica("b", 1024), {}).ok());
  ASSERT_TRUE(compute.powerOn("a", {}).ok());
  auto noMemory = compute.powerOn("b", {});
  ASSERT_FALSE(noMemory.ok());
  EXPECT_EQ(noMemory.error().backendCode, "InsufficientResourcesFault");
}

TEST_F(VsphereMockTest, StateFileCarriesTheInventoryToAnotherProcess) {
  const auto stateFile =
      std::filesystem::path(WARMSITE_BINARY_DIR) / ("mock-state-" + uniqueName() + ".json");
  std::filesystem::remove(stateFile);
  const std::string config =
      R"({"vcenter": ")" + uniqueName() + R"(", "state_file": ")" + stateFile.string() + R"("})";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // another process creates the inventory, then dies without cleanup
    auto plugin = open(config);
    bool ok = plugin.ok();
    if (ok) {
      auto& compute = *(*plugin)->compute();
      plugin::TenantResourcesSpec spec{"sub",        "t",  "T",
                                       std::nullopt, 8192, {{"gold", "datastore1", 50}}};
      ok = compute.applyTenantResources(spec, {}).ok() &&
           compute.createReplica(replica("kept"), {}).ok() && compute.powerOn("kept", {}).ok();
    }
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  auto plugin = openOrFail(config);
  auto kept = plugin->compute()->machine("kept", {});
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept->power, plugin::PowerState::kOn);
  std::filesystem::remove(stateFile);
}

TEST_F(VsphereMockTest, ConfigErrorsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"vcenter": "x", "colour": "blue"})", "colour"},
      {R"({"hosts": []})", "hosts"},
      {R"({"datastores": [{"name": "d"}]})", "capacity_gb"},
      {R"({"faults": [{"operation": "explode"}]})", "explode"},
      {R"({"faults": [{"operation": "power_on", "kind": "sometimes"}]})", "kind"},
      {R"({"faults": [{"operation": "power_on", "probability": 2}]})", "probability"},
      {R"({"latency_ms": {"power_on": -1}})", "latency_ms.power_on"},
      {R"({"state_file": "relative.json"})", "absolute"},
      {R"([1, 2])", "object"},
  };
  for (const auto& [config, field] : cases) {
    auto result = open(config);
    ASSERT_FALSE(result.ok()) << config;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << config;
    EXPECT_THAT(result.error().message, HasSubstr(field)) << config;
  }
}

TEST_F(VsphereMockTest, SameVcenterWithOtherTopologyIsRefused) {
  openOrFail(R"({"vcenter": ")" + uniqueName() + R"("})");
  auto other = open(R"({"vcenter": ")" + uniqueName() +
                    R"(", "datastores": [{"name": "x", "capacity_gb": 1}]})");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.error().message, HasSubstr("already open"));
}

}  // namespace
}  // namespace warmsite

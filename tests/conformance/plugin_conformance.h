#pragma once
// The conformance suite every plugin must pass. A plugin joins it from its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(VsphereMock, PluginConformance,
//                            ::testing::Values(PluginUnderTest{...}), conformanceName);
//
// Each test gets a fresh backend (PluginUnderTest::config is called with a unique instance name)
// and talks to the plugin only through the loader and the ABI, as the daemon does.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "plugins/host_services.h"
#include "plugins/plugin_loader.h"
#include "warmsite/plugin/abi.h"

namespace warmsite::conformance {

struct PluginUnderTest {
  std::string name;  // test-name suffix, [A-Za-z0-9_]
  std::filesystem::path library;
  // The cloud host config for one fresh backend called `instance`.
  std::function<std::string(const std::string& instance)> config;
  // Backend storage the tenant resources of the tests use (a datastore, a storage pool).
  std::string backendStorage;
  // Optional: keeps a backend alive between plugin objects of one test (libvirt's test:///default
  // forgets its state when the last connection closes). Released at the end of the test.
  std::function<std::shared_ptr<void>(const std::string& instance)> keepBackendAlive;
};

std::string conformanceName(const ::testing::TestParamInfo<PluginUnderTest>& info);
inline void PrintTo(const PluginUnderTest& plugin, std::ostream* os) {
  *os << plugin.name;
}

class PluginConformance : public ::testing::TestWithParam<PluginUnderTest> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Destroys the plugin object and creates a new one from the same config, as a daemon restart.
  void reopen();

  plugin::TenantResourcesSpec tenantSpec(const std::string& subscriptionId,
                                         const std::string& tenantId,
                                         std::uint64_t quotaGb = 100) const;
  plugin::TenantNetworkSpec networkSpec(const std::string& networkId,
                                        const std::string& subscriptionId,
                                        const std::string& tenantId, std::uint32_t vlan) const;
  plugin::ReplicaSpec replicaSpec(const std::string& replicaId, const std::string& subscriptionId,
                                  const std::string& tenantId, const std::string& networkId,
                                  std::uint64_t diskGb = 10) const;
  // A subscription "sub-a" of tenant "tenant-a" with network "net-a" on VLAN 101.
  void provisionTenantA();
  // Whether the plugin's inventory holds `machineId`.
  bool inInventory(const std::string& machineId);

  plugin::CallContext ctx() const {
    return plugin::CallContext::withTimeout(std::chrono::seconds(30));
  }

  std::string instance_;
  std::shared_ptr<void> backendKeeper_;
  std::unique_ptr<plugins::CloudHostServices> host_;
  std::shared_ptr<plugin::CloudHostPlugin> plugin_;
  plugin::Capabilities caps_;
  plugin::ComputeApi* compute_ = nullptr;
  plugin::NetworkApi* network_ = nullptr;
  plugin::EdgeApi* edge_ = nullptr;
  plugin::TestIsolationApi* isolation_ = nullptr;
};

}  // namespace warmsite::conformance

#pragma once
// An orchestrator running in this process on a fresh data directory and a loopback port, with
// clients that talk to it over real TLS, and helpers that set up SP resources through the API.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "client/api_client.h"
#include "daemon/orchestrator.h"

namespace warmsite::apitest {

inline constexpr const char* kAdminPassword = "admin-password-1";

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts the orchestrator; `adjust` may change the options first. Called by SetUp with none.
  void start(const std::function<void(daemon::OrchestratorOptions&)>& adjust = {});
  void restart(const std::function<void(daemon::OrchestratorOptions&)>& adjust = {});

  // A client pinned to the server's certificate; logged in when a name is given.
  client::ApiClient client(const std::string& name = {}, const std::string& password = {});
  client::ApiClient admin() { return client("admin", kAdminPassword); }

  // Creates SP resources; each returns the new object's id and fails the test on a non-2xx.
  std::string cloudHost(client::ApiClient& sp, const std::string& name = "lab2");
  void vlanRange(client::ApiClient& sp, const std::string& cloudHostId, int first, int last,
                 bool internet);
  void publicIps(client::ApiClient& sp, const std::vector<std::string>& addresses);
  std::string plan(client::ApiClient& sp, const std::string& cloudHostId,
                   const std::string& name = "Silver", int withInternet = 1,
                   int withoutInternet = 1, const std::string& backendStorage = "datastore1");
  std::string tenant(client::ApiClient& sp, const std::string& name,
                     const std::string& password = "tenant-pass-1");
  // Subscribes and waits for the provisioning task; returns the subscription id.
  std::string subscribe(client::ApiClient& sp, const std::string& tenantId,
                        const std::string& planId, int ips = 0);
  // Polls a task until it is finished; returns its final JSON.
  nlohmann::json waitTask(client::ApiClient& c, const std::string& taskId);
  // Polls a failover session until `count` of its VMs finished (a failure of the test after ~10 s);
  // returns its last JSON.
  nlohmann::json waitVmsFinished(client::ApiClient& c, const std::string& sessionId, int count);

  // Every row of every table that holds state (not the audit log, sessions or login counters).
  std::string dumpStore();

  // Where each test's data directory is made (the build tree unless a suite moves it).
  static std::filesystem::path& dataRoot();

  std::filesystem::path dataDir_;
  std::unique_ptr<daemon::Orchestrator> orchestrator_;
  std::string thumbprint_;
};

// ASSERT-style check that prints the body on failure.
#define ASSERT_STATUS(response, expected) ASSERT_EQ((response).status, expected) << (response).body
#define EXPECT_STATUS(response, expected) EXPECT_EQ((response).status, expected) << (response).body

}  // namespace warmsite::apitest

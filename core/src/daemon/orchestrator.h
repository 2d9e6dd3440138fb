#pragma once
// The daemon's parts wired together: store, plugins, cloud hosts, task engine, authentication, TLS
// identity, REST API and HTTPS listener. warmsited runs one; in-process tests run their own.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/api_service.h"
#include "api/http_server.h"
#include "engine/failover_runner.h"
#include "engine/task_engine.h"
#include "plugins/cloud_host_registry.h"
#include "plugins/plugin_catalog.h"
#include "replication/receiver.h"
#include "security/authenticator.h"
#include "security/tls_identity_manager.h"
#include "store/store.h"

namespace warmsite::daemon {

struct OrchestratorOptions {
  std::filesystem::path dataDir = "var/warmsite";
  std::filesystem::path pluginDir;
  api::HttpServerOptions http;
  std::vector<std::string> tlsNames;      // SANs of a generated certificate
  std::vector<std::string> tlsAddresses;  // IP SANs of a generated certificate
  security::ScryptCost scrypt;
  security::AuthPolicy auth;
  int engineWorkers = 32;  // tasks at once (a failover session is one task)
  engine::FailoverOptions failover;
  bool registerDefaultCloudHost = true;
  // The first administrator's password when the store has none; empty = generate one and write it
  // to <dataDir>/admin-password (mode 0600).
  std::string initialAdminPassword;
  // Tenant agents' replication port (TLS 1.3); replica data lives under <dataDir>/replicas.
  replication::ReceiverOptions replication;
};

// Options for an orchestrator inside another program (benchmarks, fuzzing): loopback on free
// ports, a certificate for localhost, cheap password hashing, no default cloud host.
OrchestratorOptions embeddedOptions(std::filesystem::path dataDir, std::filesystem::path pluginDir,
                                    std::string adminPassword);

class Orchestrator {
 public:
  // Opens the store, loads plugins, attaches cloud hosts, resumes tasks and starts listening.
  // Throws (StoreError, CertificateError, std::runtime_error) with a message naming the cause.
  explicit Orchestrator(OrchestratorOptions options);
  ~Orchestrator();

  // Graceful: the listener drains in-flight requests, then the engine finishes running tasks.
  void stop();

  std::uint16_t port() const { return server_->port(); }
  std::uint16_t replicationPort() const { return receiver_->port(); }
  const replication::ReplicaDataStore& replicaData() const { return *replicaData_; }
  store::Store& store() { return *store_; }
  engine::TaskEngine& engine() { return *engine_; }
  const api::ApiService& api() const { return *api_; }
  api::ApiService& api() { return *api_; }  // requests without the listener (fuzzing)
  plugins::CloudHostRegistry& cloudHosts() { return *cloudHosts_; }
  security::TlsIdentityManager& tls() { return *tls_; }

 private:
  void bootstrapAdministrator();
  void registerDefaultCloudHost();

  OrchestratorOptions options_;
  std::unique_ptr<store::Store> store_;
  plugins::PluginCatalog catalog_;
  std::unique_ptr<plugins::CloudHostRegistry> cloudHosts_;
  std::unique_ptr<replication::ReplicaDataStore> replicaData_;  // before the tasks that use it
  std::unique_ptr<engine::TaskEngine> engine_;
  std::unique_ptr<engine::FailoverRunner> failover_;
  std::unique_ptr<security::Authenticator> auth_;
  std::unique_ptr<security::TlsIdentityManager> tls_;
  std::unique_ptr<api::ApiService> api_;
  std::unique_ptr<api::HttpServer> server_;
  std::unique_ptr<replication::ReplicationReceiver> receiver_;
  bool stopped_ = false;
};

}  // namespace warmsite::daemon

#include "daemon/orchestrator.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "domain/ids.h"
#include "engine/reconcile.h"
#include "engine/replica_tasks.h"
#include "engine/subscription_tasks.h"
#include "security/encoding.h"
#include "security/secret_box.h"
#include "store/sqlite_store.h"

namespace warmsite::daemon {

OrchestratorOptions embeddedOptions(std::filesystem::path dataDir, std::filesystem::path pluginDir,
                                    std::string adminPassword) {
  OrchestratorOptions options;
  options.dataDir = std::move(dataDir);
  options.pluginDir = std::move(pluginDir);
  options.http.address = options.replication.listener.address = "127.0.0.1";
  options.http.port = options.replication.listener.port = 0;
  options.tlsNames = {"localhost"};
  options.scrypt.logN = 10;
  options.initialAdminPassword = std::move(adminPassword);
  options.registerDefaultCloudHost = false;
  return options;
}

Orchestrator::Orchestrator(OrchestratorOptions options) : options_(std::move(options)) {
  // Peers vanish mid-write (a killed libvirtd, an agent, an API client): the write must fail, not
  // end the daemon (libvirt and OpenSSL write to sockets with write(2), which raises SIGPIPE).
  signal(SIGPIPE, SIG_IGN);
  std::filesystem::create_directories(options_.dataDir);
  const auto dataDir = std::filesystem::absolute(options_.dataDir);

  store::SqliteOptions storeOptions;
  storeOptions.cipher = security::SecretBox::fromKeyFile(dataDir / "secret.key");
  store_ = store::openSqliteStore(dataDir / "warmsite.db", storeOptions);
  spdlog::info("store {} at schema version {}", (dataDir / "warmsite.db").string(),
               store_->schemaVersion());

  catalog_.loadDirectory(std::filesystem::absolute(options_.pluginDir));
  for (const auto* library : catalog_.libraries()) {
    spdlog::info("plugin {} {} loaded from {}", library->name(), library->version(),
                 library->path().string());
  }
  for (const auto& failure : catalog_.failures()) {
    spdlog::error("plugin not loaded ({}): {}", plugins::toString(failure.cause), failure.message);
  }

  if (options_.registerDefaultCloudHost) registerDefaultCloudHost();
  cloudHosts_ = std::make_unique<plugins::CloudHostRegistry>(catalog_);
  for (const auto& host :
       store_->read([](store::Transaction& tx) { return tx.listCloudHosts(); })) {
    auto attached = cloudHosts_->attach(host);
    if (attached.ok()) {
      spdlog::info("cloud host {} attached ({})", host.name, host.plugin);
    } else {
      spdlog::error("cloud host {} not attached: {}", host.name, attached.error().message);
    }
  }

  // Reconcile before any task runs, so the report shows what a crash or an operator left.
  const auto report = engine::toJson(engine::reconcile(*store_, *cloudHosts_));
  store_->write([&](store::Transaction& tx) { tx.setSetting("reconcile_report", report.dump()); });
  // Reconcile held every replica and machine at once; give the freed heap back to the system.
  malloc_trim(0);

  replicaData_ = std::make_unique<replication::ReplicaDataStore>(dataDir / "replicas");
  engine_ = std::make_unique<engine::TaskEngine>(*store_, options_.engineWorkers);
  failover_ = std::make_unique<engine::FailoverRunner>(*store_, *cloudHosts_, *replicaData_,
                                                       options_.failover);
  engine::registerSubscriptionTasks(*engine_, *store_, *cloudHosts_);
  engine::registerReplicaTasks(*engine_, *store_, *cloudHosts_, *replicaData_);
  failover_->registerWith(*engine_);
  engine_->start();

  auth_ = std::make_unique<security::Authenticator>(
      *store_, security::PasswordHasher(options_.scrypt), options_.auth);
  bootstrapAdministrator();

  tls_ = std::make_unique<security::TlsIdentityManager>(security::CertificateFiles(dataDir / "tls"),
                                                        options_.tlsNames, options_.tlsAddresses);
  spdlog::info("TLS certificate {} (SHA-256 {})", tls_->current().info.subject,
               tls_->current().info.thumbprintSha256);

  api_ = std::make_unique<api::ApiService>(
      api::ApiContext{*store_, catalog_, *cloudHosts_, *engine_, *auth_, *tls_, PROJECT_VERSION});
  server_ = std::make_unique<api::HttpServer>(
      options_.http, [this](const api::HttpRequest& request) { return api_->handle(request); },
      [](int status, const std::string& code, const std::string& message) {
        return api::ApiService::errorResponse(status, code, message);
      },
      tls_->current());
  receiver_ = std::make_unique<replication::ReplicationReceiver>(
      *store_, *auth_, *replicaData_, tls_->current(), options_.replication);
  tls_->onReplace([this](const security::TlsIdentity& identity) {
    server_->replaceIdentity(identity);
    receiver_->replaceIdentity(identity);
  });
  server_->start();
  spdlog::info("listening on https://{}:{}/api/v1", options_.http.address, server_->port());
  receiver_->start();
  spdlog::info("replication on {}:{} (TLS 1.3)", options_.replication.listener.address,
               receiver_->port());
}

Orchestrator::~Orchestrator() {
  stop();
}

void Orchestrator::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_) server_->stop();
  if (receiver_) receiver_->stop();
  if (engine_) engine_->stop();
}

void Orchestrator::bootstrapAdministrator() {
  const bool empty =
      store_->read([](store::Transaction& tx) { return tx.listProviderAccounts().empty(); });
  if (!empty) return;
  std::string password = options_.initialAdminPassword;
  if (password.empty()) {
    password = security::base64UrlEncode(security::randomBytes(18));
    const auto path = std::filesystem::absolute(options_.dataDir) / "admin-password";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::write(fd, (password + "\n").data(), password.size() + 1) < 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot write " + path.string());
    }
    ::close(fd);
    spdlog::warn(
        "created administrator \"admin\"; its password is in {} (change it, then delete the file)",
        path.string());
  } else {
    spdlog::info("created administrator \"admin\" with the configured initial password");
  }
  domain::Account admin{domain::newId("acc"),
                        "admin",
                        domain::Role::kProvider,
                        "",
                        auth_->hashPassword(password),
                        0,
                        std::nullopt,
                        security::nowUnix()};
  store_->write([&](store::Transaction& tx) { tx.insertAccount(admin); });
}

// On first start there is nothing to manage yet: register a lab cloud host so the daemon runs on
// its embedded defaults. libvirt's test driver is a real libvirt in this process (state in memory);
// without the libvirt plugin, the vSphere mock (state in a file beside the database).
void Orchestrator::registerDefaultCloudHost() {
  const auto dataDir = std::filesystem::absolute(options_.dataDir);
  const bool libvirt = catalog_.find("libvirt") != nullptr;
  store_->write([&](store::Transaction& tx) {
    if (!tx.listCloudHosts().empty()) return;
    const std::string config =
        libvirt
            ? R"({"uri": "test:///default", "network": {"mode": "openvswitch", "bridge": "ovsbr0"}})"
            : R"({"vcenter": "lab", "state_file": ")" + (dataDir / "lab-vcenter.json").string() +
                  R"("})";
    const std::string plugin = libvirt ? "libvirt" : "vsphere-mock";
    tx.insertCloudHost({domain::newId("ch"), "lab", plugin, config, security::nowUnix()});
    spdlog::info("registered the default cloud host \"lab\" ({})", plugin);
  });
}

}  // namespace warmsite::daemon

// A warmsited process restarted on a large installation:
//
//   restart_reconcile_s  from the daemon's exec until its API listens, which is after it opened
//                        the store, attached the cloud hosts (the vSphere mock reads its state
//                        file) and reconciled every replica against their inventory
//   daemon_rss_mb        its resident memory then, after a tenant logged in and listed replicas
//
// The installation (10,000 tenants, 100,000 replicas by default) is seeded directly: the cloud
// hosts, VLAN ranges, public IPs and plans through the API of an orchestrator in this process,
// then tenants, subscriptions (a VLAN with internet and a public IP each) and ready replicas (one
// 1 GB disk and a NIC each) written into the store in batches, and the same inventory written
// into the vSphere mock's state files in one go (through the API it would take hours: each
// provisioning call rewrites the mock's whole file). The reconcile report must find every replica
// and no drift, or the benchmark fails. The mock runs inside the daemon, so the figure includes
// its copy of the inventory (held by vCenter in production).
//
// Usage: scale [--tenants N] [--replicas-per-tenant N]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_service.h"
#include "domain/ids.h"
#include "engine/replica_tasks.h"
#include "engine/subscription_tasks.h"
#include "security/authenticator.h"
#include "security/password_hasher.h"
#include "security/secret_box.h"
#include "simulated_vcenter.h"
#include "store/sqlite_store.h"

namespace {

using namespace warmsite;
using Clock = std::chrono::steady_clock;
using bench::BenchService;
using bench::require;
using vspheremock::SimulatedVcenter;

constexpr std::uint32_t kVlansPerHost = 4000;  // 802.1Q has 4094
constexpr const char* kAdminPassword = "bench-admin-1";
constexpr const char* kTenantPassword = "tenant-pass-1";

// A client of the service on `port`, logged in.
client::ApiClient loggedIn(std::uint16_t port, const std::string& thumbprint,
                           const std::string& name, const std::string& password) {
  client::ClientOptions options;
  options.port = port;
  options.pinnedThumbprint = thumbprint;
  client::ApiClient c(options);
  auto login = c.post("/api/v1/auth/login", {{"name", name}, {"password", password}});
  require(login.status == 200, "login " + name + ": " + login.body);
  c.setToken(login.json()["token"]);
  return c;
}

struct CloudHostSeed {
  std::string id;
  domain::HardwarePlan plan;
  std::filesystem::path stateFile;
  SimulatedVcenter::State state;
};

struct Infrastructure {
  std::vector<CloudHostSeed> hosts;
  std::string thumbprint;  // of the service's certificate, kept in the data directory
};

// Cloud hosts (a vSphere mock each, state in a file), their VLAN ranges, plans with one network
// with internet, and the public IP pool: through the API, as an SP would.
Infrastructure seedInfrastructure(const std::filesystem::path& dataDir, int tenants) {
  auto options = daemon::embeddedOptions(dataDir, WARMSITE_PLUGIN_DIR, kAdminPassword);
  daemon::Orchestrator orchestrator(options);
  Infrastructure seeded;
  seeded.thumbprint = orchestrator.tls().current().info.thumbprintSha256;
  auto sp = loggedIn(orchestrator.port(), seeded.thumbprint, "admin", kAdminPassword);

  for (int index = 0; index * kVlansPerHost < static_cast<std::uint32_t>(tenants); ++index) {
    CloudHostSeed host;
    const auto name = "scale-" + std::to_string(index);
    host.stateFile = std::filesystem::absolute(dataDir / (name + ".vcenter.json"));
    host.id = BenchService::expect(
        sp.post("/api/v1/cloud-hosts",
                {{"name", name},
                 {"plugin", "vsphere-mock"},
                 {"config", {{"vcenter", name}, {"state_file", host.stateFile.string()}}}}),
        201, "cloud host")["id"];
    BenchService::expect(
        sp.post("/api/v1/cloud-hosts/" + host.id + "/vlan-ranges",
                {{"first", 10}, {"last", 10 + kVlansPerHost - 1}, {"internet", true}}),
        201, "VLAN range");
    const std::string planId = BenchService::expect(
        sp.post("/api/v1/plans",
                {{"name", "Gold-" + name},
                 {"cloud_host_id", host.id},
                 {"networks_with_internet", 1},
                 {"storages",
                  {{{"name", "gold"}, {"backend_storage", "datastore1"}, {"quota_gb", 1000}}}}}),
        201, "plan")["id"];
    host.plan = orchestrator.store().read(
        [&](store::Transaction& tx) { return tx.findPlan(planId).value(); });
    seeded.hosts.push_back(std::move(host));
  }
  BenchService::expect(sp.post("/api/v1/public-ips", {{"addresses", {"10.64.0.0-10.64.127.255"}}}),
                       201, "public IPs");
  return seeded;
}

// Tenants with their account, subscription, network and replicas, in the store and in the
// mock's state, as provisioning and replica creation would have left them.
void seedTenants(const std::filesystem::path& dataDir, std::vector<CloudHostSeed>& hosts,
                 int tenants, int replicasPerTenant) {
  store::SqliteOptions options;
  options.cipher = security::SecretBox::fromKeyFile(dataDir / "secret.key");
  auto store = store::openSqliteStore(dataDir / "warmsite.db", options);
  const std::string passwordHash = security::PasswordHasher().hash(kTenantPassword);
  const auto now = security::nowUnix();
  constexpr int kBatch = 500;
  for (int first = 0; first < tenants; first += kBatch) {
    store->write([&](store::Transaction& tx) {
      for (int i = first; i < std::min(tenants, first + kBatch); ++i) {
        auto& host = hosts[static_cast<std::size_t>(i) / kVlansPerHost];
        domain::Tenant tenant;
        tenant.id = domain::newId("tnt");
        tenant.name = "tenant-" + std::to_string(i);
        tenant.createdUnix = now;
        tx.insertTenant(tenant);
        domain::Account account;
        account.id = domain::newId("acc");
        account.name = tenant.name;
        account.role = domain::Role::kTenant;
        account.tenantId = tenant.id;
        account.passwordHash = passwordHash;
        account.createdUnix = now;
        tx.insertAccount(account);

        auto scope = tx.tenant(tenant.id);
        domain::Subscription subscription;
        subscription.id = domain::newId("sub");
        subscription.tenantId = tenant.id;
        subscription.planId = host.plan.id;
        subscription.cloudHostId = host.id;
        subscription.state = domain::SubscriptionState::kReady;
        subscription.publicIpCount = 1;
        subscription.createdUnix = now;
        scope->insertSubscription(subscription);
        domain::SubscriptionNetwork network;
        network.networkId = domain::newId("net");
        network.name = "internet-1";
        network.internet = true;
        const auto vlan = scope->allocateVlan(host.id, true, network.networkId);
        require(vlan.has_value(), "a VLAN for " + tenant.name);
        network.vlanId = *vlan;
        scope->addSubscriptionNetwork(subscription.id, network);
        subscription.networks.push_back(network);
        subscription.publicIps = scope->allocatePublicIps(1, subscription.id);
        require(subscription.publicIps.size() == 1, "a public IP for " + tenant.name);

        host.state.pools[subscription.id] =
            engine::tenantResourcesSpec(subscription, host.plan, tenant);
        const plugin::TenantNetworkSpec networkSpec{network.networkId, subscription.id,
                                                    tenant.id,         tenant.name + " internet-1",
                                                    network.vlanId,    true};
        SimulatedVcenter::PortGroup group;
        group.spec = networkSpec;
        group.info = {network.networkId,
                      tenant.id,
                      subscription.id,
                      network.vlanId,
                      true,
                      false,
                      "scale/network-" + network.networkId};
        host.state.portGroups[network.networkId] = group;

        for (int r = 0; r < replicasPerTenant; ++r) {
          domain::Replica replica;
          replica.id = domain::newId("rep");
          replica.tenantId = tenant.id;
          replica.subscriptionId = subscription.id;
          replica.name = "vm-" + std::to_string(r);
          replica.cpuMhz = 500;
          replica.memoryMb = 1024;
          replica.disks = {{"disk-0", "gold", 1}};
          char mac[18];
          const auto serial = host.state.nextMac++;
          std::snprintf(mac, sizeof mac, "00:50:56:%02x:%02x:%02x",
                        static_cast<unsigned>((serial >> 16) & 0x3f),
                        static_cast<unsigned>((serial >> 8) & 0xff),
                        static_cast<unsigned>(serial & 0xff));
          replica.nics = {{"nic-0", network.networkId, mac, ""}};
          replica.state = domain::ReplicaState::kReady;
          replica.createdUnix = now;
          scope->insertReplica(replica);

          SimulatedVcenter::Vm vm;
          vm.spec = engine::replicaSpec(replica);
          vm.info.machineId = replica.id;
          vm.info.kind = plugin::MachineKind::kReplica;
          vm.info.tenantId = tenant.id;
          vm.info.subscriptionId = subscription.id;
          vm.info.name = replica.name;
          vm.info.power = plugin::PowerState::kOff;
          vm.info.nicMacs = {mac};
          vm.info.platformRef = "scale/vm-" + std::to_string(host.state.nextRef++);
          vm.host = "esx-01";  // the mock's default host
          host.state.vms.emplace(replica.id, std::move(vm));
        }
      }
    });
  }
  for (const auto& host : hosts) SimulatedVcenter::writeStateFile(host.state, host.stateFile);
}

long residentKb(pid_t pid, const char* field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return -1;
}

struct RestartFigures {
  double seconds = 0;
  double rssMb = 0;
  double peakMb = 0;
};

// Starts warmsited on `dataDir`, waits for its API, checks the reconcile report, reads as a
// tenant, and stops it.
RestartFigures restart(const std::filesystem::path& dataDir, const std::string& thumbprint,
                       std::size_t replicas) {
  const auto portFile = dataDir / "port";
  const auto log = dataDir / "warmsited.log";
  std::filesystem::remove(portFile);
  std::filesystem::remove(log);
  std::fflush(stdout);  // or the child would print what is buffered again
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    freopen(log.c_str(), "w", stdout);
    freopen(log.c_str(), "a", stderr);
    const std::string binary = std::string(WARMSITE_BINARY_DIR) + "/bin/warmsited";
    execl(binary.c_str(), binary.c_str(), "--data-dir", dataDir.c_str(), "--plugin-dir",
          WARMSITE_PLUGIN_DIR, "--listen", "127.0.0.1:0", "--replication-listen", "127.0.0.1:0",
          "--port-file", portFile.c_str(), "--no-default-cloud-host", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::uint16_t port = 0;
  while (port == 0) {
    require(waitpid(pid, nullptr, WNOHANG) == 0, "warmsited exited; see " + log.string());
    std::ifstream(portFile) >> port;
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  RestartFigures figures;
  figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();

  auto sp = loggedIn(port, thumbprint, "admin", kAdminPassword);
  const auto report = BenchService::expect(sp.get("/api/v1/reconcile"), 200, "reconcile report");
  require(report["machines_checked"] == replicas && report["drift"].empty(),
          "reconcile: " + report.dump().substr(0, 2000));
  auto tenant = loggedIn(port, thumbprint, "tenant-0", kTenantPassword);
  const auto listed = BenchService::expect(tenant.get("/api/v1/replicas"), 200, "replicas");
  require(!listed.empty(), "tenant-0 sees no replicas");

  figures.rssMb = residentKb(pid, "VmRSS:") / 1024.0;
  figures.peakMb = residentKb(pid, "VmHWM:") / 1024.0;
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  require(WIFEXITED(status) && WEXITSTATUS(status) == 0, "warmsited did not stop cleanly");
  return figures;
}

}  // namespace

int main(int argc, char** argv) {
  int tenants = 10000, replicasPerTenant = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tenants") tenants = std::atoi(argv[i + 1]);
    if (flag == "--replicas-per-tenant") replicasPerTenant = std::atoi(argv[i + 1]);
  }
  const auto dataDir = std::filesystem::path(WARMSITE_BINARY_DIR) / "bench" / "scale";
  std::filesystem::remove_all(dataDir);
  const auto seedStart = Clock::now();
  auto seeded = seedInfrastructure(dataDir, tenants);
  seedTenants(dataDir, seeded.hosts, tenants, replicasPerTenant);
  const std::size_t replicas = static_cast<std::size_t>(tenants) * replicasPerTenant;
  std::printf("seeded %d tenants and %zu replicas on %zu cloud hosts in %.1f s\n", tenants,
              replicas, seeded.hosts.size(),
              std::chrono::duration<double>(Clock::now() - seedStart).count());

  // Two restarts: the first finds the page cache as seeding left it, the second as a restart
  // after a clean stop does.
  RestartFigures figures;
  for (int run = 1; run <= 2; ++run) {
    figures = restart(dataDir, seeded.thumbprint, replicas);
    std::printf(
        "restart %d: listening after %.2f s (reconcile of %zu replicas included), "
        "RSS %.1f MB (peak %.1f MB)\n",
        run, figures.seconds, replicas, figures.rssMb, figures.peakMb);
  }
  std::printf("@figure restart_reconcile_s %.2f\n", figures.seconds);
  std::printf("@figure daemon_rss_mb %.1f\n", figures.rssMb);
  std::filesystem::remove_all(dataDir);
  return 0;
}

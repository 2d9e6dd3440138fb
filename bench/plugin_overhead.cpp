// What the libvirt plugin costs on top of libvirt: create + power on + power off + delete of N
// replicas through the plugin (loaded as the daemon loads it), against the same libvirt calls
// made directly with the same domain XML, both on the test driver in this process. Rounds
// alternate and each side's median counts, so drift of the machine hits both alike.
//
//   plugin_overhead [N]   (default 1000)

#include <libvirt/libvirt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "names.h"
#include "plugins/host_services.h"
#include "plugins/plugin_loader.h"
#include "records.h"

namespace {

using namespace warmsite;
using Clock = std::chrono::steady_clock;

constexpr int kRounds = 3;

plugin::CallContext ctx() {
  return plugin::CallContext::withTimeout(std::chrono::seconds(60));
}

plugin::ReplicaSpec replica(int i) {
  const std::string id = "bench-" + std::to_string(i);
  return {id,
          "sub-bench",
          "tenant-bench",
          "bench " + id,
          1,
          500,
          512,
          {{"disk-0", "gold", 10}},
          {{"nic-0", "net-bench", "52:54:00:00:10:01"}}};
}

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "plugin_overhead: %s failed\n", what.c_str());
    std::exit(1);
  }
}

double throughPlugin(plugin::CloudHostPlugin& host, int n) {
  auto* compute = host.compute();
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    const auto spec = replica(i);
    check(compute->createReplica(spec, ctx()).ok(), "createReplica");
    check(compute->powerOn(spec.replicaId, ctx()).ok(), "powerOn");
    check(compute->powerOff(spec.replicaId, {false, {}}, ctx()).ok(), "powerOff");
    check(compute->deleteReplica(spec.replicaId, ctx()).ok(), "deleteReplica");
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The calls the plugin makes for the same work, without its checks, records and lookups.
double direct(virConnectPtr conn, int n, std::uint32_t hostMhz) {
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    const auto spec = replica(i);
    libvirtplugin::MachineRecord record;
    record.spec = spec;
    const auto volumeName = libvirtplugin::volumeName(spec.replicaId, "disk-0");
    record.volumes = {{"default-pool", volumeName}};
    libvirtplugin::DomainLayout layout;
    layout.hostCpuMhz = hostMhz;
    layout.macs = {spec.nics[0].mac};
    layout.networkNames = {libvirtplugin::networkName(spec.nics[0].networkId)};
    const std::string volumeXml =
        "<volume><name>" + volumeName +
        "</name><capacity unit='GiB'>10</capacity><allocation>0</allocation>"
        "<target><format type='qcow2'/></target></volume>";

    virStoragePoolPtr pool = virStoragePoolLookupByName(conn, "default-pool");
    virStorageVolPtr volume = virStorageVolCreateXML(pool, volumeXml.c_str(), 0);
    check(volume != nullptr, "virStorageVolCreateXML");
    virDomainPtr domain =
        virDomainDefineXML(conn, libvirtplugin::renderDomainXml(record, layout).c_str());
    check(domain != nullptr, "virDomainDefineXML");
    check(virDomainCreate(domain) == 0, "virDomainCreate");
    check(virDomainDestroy(domain) == 0, "virDomainDestroy");
    check(virDomainUndefineFlags(domain, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                             VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) == 0,
          "virDomainUndefineFlags");
    check(virStorageVolDelete(volume, 0) == 0, "virStorageVolDelete");
    virDomainFree(domain);
    virStorageVolFree(volume);
    virStoragePoolFree(pool);
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  // Keeps test:///default's state while plugin objects come and go.
  virConnectPtr conn = virConnectOpen("test:///default");
  check(conn != nullptr, "virConnectOpen");
  virNodeInfo node{};
  virNodeGetInfo(conn, &node);

  auto library =
      plugins::loadPluginLibrary(std::filesystem::path(WARMSITE_PLUGIN_DIR) / "libvirt.so");
  check(library.ok(), "loading libvirt.so");
  plugins::CloudHostServices services("bench");
  auto created = library->create(R"({"uri": "test:///default", "storage_pools": ["default-pool"],
      "network": {"mode": "openvswitch", "bridge": "ovsbr0"}})",
                                 services);
  check(created.ok(), "creating the plugin");
  auto host = std::move(created).value();
  check(host->compute()
            ->applyTenantResources({"sub-bench",
                                    "tenant-bench",
                                    "Bench",
                                    std::nullopt,
                                    std::nullopt,
                                    {{"gold", "default-pool", 1'000'000}}},
                                   ctx())
            .ok(),
        "applyTenantResources");
  check(host->network()
            ->createTenantNetwork({"net-bench", "sub-bench", "tenant-bench", "bench", 100, false},
                                  ctx())
            .ok(),
        "createTenantNetwork");

  std::vector<double> viaPlugin, viaLibvirt;
  for (int round = 0; round < kRounds; ++round) {
    viaLibvirt.push_back(direct(conn, n, node.mhz));
    viaPlugin.push_back(throughPlugin(*host, n));
  }
  const double pluginMs = median(viaPlugin), directMs = median(viaLibvirt);
  const double ratio = pluginMs / directMs;
  std::printf(
      "plugin_overhead: %d replicas x (create, power on, power off, delete), test:///default,"
      " median of %d rounds\n",
      n, kRounds);
  std::printf("  through the plugin:   %8.1f ms  (%6.1f us per replica)\n", pluginMs,
              pluginMs * 1000 / n);
  std::printf("  direct libvirt calls: %8.1f ms  (%6.1f us per replica)\n", directMs,
              directMs * 1000 / n);
  std::printf("  ratio: %.2fx (target <= 1.30x)\n", ratio);
  std::printf("@figure plugin_overhead_ratio %.3f\n", ratio);
  std::printf("@figure plugin_overhead_plugin_ms %.1f\n", pluginMs);
  std::printf("@figure plugin_overhead_direct_ms %.1f\n", directMs);
  host.reset();
  virConnectClose(conn);
  return 0;
}

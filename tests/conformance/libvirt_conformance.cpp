// The libvirt plugin in the conformance suite, against the libvirt test driver in this process:
// test:///default, and a node file describing a host that already runs guests of other owners.
// When the suite runs as root, the edge applies real nftables rules inside a network namespace
// made for each test.

#include <libvirt/libvirt.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/conformance/plugin_conformance.h"

namespace warmsite::conformance {
namespace {

bool root() {
  return geteuid() == 0;
}

std::string netnsOf(const std::string& instance) {
  return "wsc-" + std::to_string(getpid()) + "-" +
         std::to_string(std::hash<std::string>{}(instance) % 100000);
}

std::string edgeConfig(const std::string& instance) {
  if (!root()) return "";
  return R"(, "edge": {"uplink": "up0", "netns": ")" + netnsOf(instance) + R"("})";
}

std::string config(const std::string& uri, const std::string& pool, const std::string& instance) {
  return R"({"uri": ")" + uri + R"(", "storage_pools": [")" + pool +
         R"("], "network": {"mode": "openvswitch", "bridge": "ovsbr0"})" + edgeConfig(instance) +
         "}";
}

// The edge's namespace, deleted by name when the test ends.
std::shared_ptr<void> edgeNamespace(const std::string& instance) {
  if (!root()) return nullptr;
  const std::string name = netnsOf(instance);
  if (std::system(("ip netns add " + name).c_str()) != 0) return nullptr;
  return std::shared_ptr<void>(nullptr, [name](void*) {
    [[maybe_unused]] int rc = std::system(("ip netns del " + name).c_str());
  });
}

// test:///default forgets everything when its last connection closes, and the suite recreates the
// plugin object within a test: a connection of our own keeps the host for the test's duration.
PluginUnderTest testDefault() {
  return {"LibvirtTestDefault", std::filesystem::path(WARMSITE_PLUGIN_DIR) / "libvirt.so",
          [](const std::string& instance) {
            return config("test:///default", "default-pool", instance);
          },
          "default-pool",
          [](const std::string& instance) -> std::shared_ptr<void> {
            virConnectPtr keeper = virConnectOpen("test:///default");
            auto netns = edgeNamespace(instance);
            return std::shared_ptr<void>(
                keeper, [netns](void* conn) { virConnectClose(static_cast<virConnectPtr>(conn)); });
          }};
}

// Each open of a node file is a new private host; each test gets its own copy of the file, which
// the plugin keeps open for the process (so a new plugin object sees the same host).
PluginUnderTest nodeFile() {
  return {"LibvirtNodeFile", std::filesystem::path(WARMSITE_PLUGIN_DIR) / "libvirt.so",
          [](const std::string& instance) {
            const auto dir = std::filesystem::path(WARMSITE_BINARY_DIR) / "libvirt-conformance";
            std::filesystem::create_directories(dir);
            const auto copy = dir / (instance + ".xml");
            std::filesystem::copy_file(
                std::filesystem::path(WARMSITE_LIBVIRT_HOSTS_DIR) / "preloaded-host.xml", copy,
                std::filesystem::copy_options::overwrite_existing);
            return config("test://" + copy.string(), "images", instance);
          },
          "images", edgeNamespace};
}

INSTANTIATE_TEST_SUITE_P(Libvirt, PluginConformance, ::testing::Values(testDefault(), nodeFile()),
                         conformanceName);

}  // namespace
}  // namespace warmsite::conformance

// The libvirt plugin against a real libvirtd that serves the test driver over a unix socket, and
// dies: kill -9 of the daemon drops the plugin's connections mid-life. Calls then fail as
// transient (kUnavailable, which the task engine retries), and once a daemon listens again the
// plugin reopens its connections and its event registrations without a restart of its own.
// libvirtd runs with an empty driver directory: the test driver lives in libvirt itself, and the
// qemu, network and storage drivers would want a configured host.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "libvirt_plugin.h"
#include "names.h"
#include "tests/libvirt/recording_host.h"

namespace warmsite::libvirtplugin {
namespace {

using plugin::ErrorCode;
using plugin::PowerState;
using ::testing::HasSubstr;
using testing::RecordingHost;

constexpr const char* kLibvirtd = "/usr/sbin/libvirtd";

plugin::CallContext ctx() {
  return plugin::CallContext::withTimeout(std::chrono::seconds(30));
}

// One libvirtd process with its sockets, config and pid file in a directory of its own.
class Libvirtd {
 public:
  Libvirtd() {
    char pattern[] = "/tmp/ws-lvd-XXXXXX";  // short: a unix socket path has 108 bytes
    dir_ = mkdtemp(pattern);
    std::filesystem::create_directory(dir_ / "no-drivers");
    std::ofstream(dir_ / "libvirtd.conf") << "unix_sock_dir = \"" << dir_.string() << "\"\n"
                                          << "auth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n";
  }
  ~Libvirtd() {
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string uri() const {
    return "test+unix:///default?socket=" + (dir_ / "libvirt-sock").string();
  }

  // Starts the daemon and waits until it accepts a connection; false after 10 s.
  bool start() {
    std::filesystem::remove(dir_ / "libvirt-sock");
    pid_ = fork();
    if (pid_ == 0) {
      const auto log = (dir_ / "libvirtd.log").string();
      freopen(log.c_str(), "a", stdout);
      freopen(log.c_str(), "a", stderr);
      setenv("LIBVIRT_DRIVER_DIR", (dir_ / "no-drivers").c_str(), 1);
      execl(kLibvirtd, kLibvirtd, "-f", (dir_ / "libvirtd.conf").c_str(), "-p",
            (dir_ / "libvirtd.pid").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (virConnectPtr probe = virConnectOpen(uri().c_str()); probe != nullptr) {
        virConnectClose(probe);
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = 0;
};

class LibvirtDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kLibvirtd, X_OK) != 0) {
      GTEST_SKIP() << kLibvirtd << " is not installed (package libvirt-daemon)";
    }
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});  // the refusals below are expected
    // As warmsited does: libvirt writes to a killed daemon's socket with write(2), whose SIGPIPE
    // would end this process instead of failing the call.
    signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(daemon_.start()) << "libvirtd did not start";
    auto created = create({R"({"uri": ")" + daemon_.uri() + R"(",
                               "storage_pools": ["default-pool"],
                               "network": {"mode": "openvswitch", "bridge": "ovsbr0"},
                               "reconnect_ms": {"initial": 50, "max": 200}})",
                           &host_});
    ASSERT_TRUE(created.ok()) << created.error().message;
    plugin_.reset(static_cast<LibvirtPlugin*>(std::move(created).value().release()));
  }

  void provisionAndCreate(const std::string& replicaId) {
    const auto applied = plugin_->applyTenantResources(
        {"sub-a", "tenant-a", "Tenant A", 8000, 8192, {{"gold", "default-pool", 100}}}, ctx());
    ASSERT_TRUE(applied.ok()) << applied.error().message;
    ASSERT_TRUE(
        plugin_->createTenantNetwork({"net-a", "sub-a", "tenant-a", "net a", 101, true}, ctx())
            .ok());
    auto created = plugin_->createReplica({replicaId,
                                           "sub-a",
                                           "tenant-a",
                                           "vm " + replicaId,
                                           1,
                                           1000,
                                           512,
                                           {{"disk-0", "gold", 1}},
                                           {{"nic-0", "net-a", ""}}},
                                          ctx());
    ASSERT_TRUE(created.ok()) << created.error().message;
  }

  Libvirtd daemon_;
  RecordingHost host_;
  std::unique_ptr<LibvirtPlugin> plugin_;
};

TEST_F(LibvirtDaemonTest, AKilledDaemonIsTransientAndTheRestartedOneIsReconnected) {
  provisionAndCreate("rep-1");
  ASSERT_TRUE(plugin_->powerOn("rep-1", ctx()).ok());
  ASSERT_EQ(plugin_->machine("rep-1", ctx())->power, PowerState::kOn);

  daemon_.kill();
  // Every call now fails as transient, saying which host is gone, and changes nothing.
  for (int call = 0; call < 3; ++call) {
    const auto health = plugin_->checkHealth(ctx());
    ASSERT_FALSE(health.ok());
    EXPECT_EQ(health.error().code, ErrorCode::kUnavailable);
    EXPECT_THAT(health.error().message, HasSubstr("test+unix:///default"));
    const auto machine = plugin_->machine("rep-1", ctx());
    ASSERT_FALSE(machine.ok());
    EXPECT_EQ(machine.error().code, ErrorCode::kUnavailable);
  }

  // A new daemon: the plugin reconnects on its own within its backoff (≤ 200 ms here).
  ASSERT_TRUE(daemon_.start()) << "libvirtd did not restart";
  bool healthy = false;
  for (int i = 0; i < 100 && !healthy; ++i) {
    healthy = plugin_->checkHealth(ctx()).ok();
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(healthy) << "the plugin did not reconnect within 5 s";
  EXPECT_TRUE(host_.waitForLog("reconnected to test+unix:///default"));

  // The new daemon's test driver starts empty, as a host that lost its state would: the plugin
  // reports the replica gone (reconcile's drift) instead of a stale answer.
  const auto lost = plugin_->machine("rep-1", ctx());
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, ErrorCode::kNotFound);

  // Work goes on over the new connections, and power events flow again: an operator's start
  // through a connection of its own reaches core.
  provisionAndCreate("rep-2");
  virConnectPtr operatorConnection = virConnectOpen(daemon_.uri().c_str());
  ASSERT_NE(operatorConnection, nullptr);
  virDomainPtr domain = virDomainLookupByName(operatorConnection, domainName("rep-2").c_str());
  ASSERT_NE(domain, nullptr);
  EXPECT_EQ(virDomainCreate(domain), 0);
  EXPECT_TRUE(host_.waitForPower("rep-2", PowerState::kOn));
  virDomainFree(domain);
  virConnectClose(operatorConnection);
}

}  // namespace
}  // namespace warmsite::libvirtplugin

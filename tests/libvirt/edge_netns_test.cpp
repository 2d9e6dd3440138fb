// The edge on real nftables: three network namespaces (a client on the internet, the edge host,
// a tenant VM behind it) joined by veth pairs, the plugin's rules applied inside the edge's
// namespace, and real TCP connections through them. Everything is created inside the test's own
// namespaces, which it deletes by name at the end; the root namespace is never touched.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "libvirt_plugin.h"
#include "tests/libvirt/recording_host.h"

namespace warmsite::libvirtplugin {
namespace {

using plugin::ErrorCode;

plugin::CallContext ctx() {
  return plugin::CallContext::withTimeout(std::chrono::seconds(30));
}

bool run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs `body` on a thread that has joined namespace `netns` (setns affects the calling thread
// only, so the test's other threads stay where they are).
template <typename Body>
auto inNamespace(const std::string& netns, Body body) -> decltype(body()) {
  return std::async(std::launch::async,
                    [&] {
                      const int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
                      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) std::abort();
                      ::close(fd);
                      return body();
                    })
      .get();
}

sockaddr_in address(const std::string& ip, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  return addr;
}

// A TCP server that answers each connection with the peer address it saw, until stopped.
class EchoPeerServer {
 public:
  EchoPeerServer(const std::string& netns, const std::string& ip, std::uint16_t port) {
    listener_ = inNamespace(netns, [&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      auto addr = address(ip, port);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
          ::listen(fd, 8) != 0) {
        std::abort();
      }
      return fd;
    });
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd pfd{listener_, POLLIN, 0};
        if (::poll(&pfd, 1, 50) <= 0) continue;
        sockaddr_in peer{};
        socklen_t length = sizeof peer;
        const int client = ::accept(listener_, reinterpret_cast<sockaddr*>(&peer), &length);
        if (client < 0) continue;
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
        const std::string reply = std::string("peer ") + text;
        [[maybe_unused]] auto sent = ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }
  ~EchoPeerServer() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }

 private:
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Connects from `netns` and returns what the server said, or "" when no connection was made.
std::string talk(const std::string& netns, const std::string& ip, std::uint16_t port) {
  return inNamespace(netns, [&]() -> std::string {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    auto addr = address(ip, port);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    pollfd pfd{fd, POLLOUT, 0};
    std::string reply;
    int error = 0;
    socklen_t length = sizeof error;
    if (::poll(&pfd, 1, 1500) == 1 &&
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) {
      pfd.events = POLLIN;
      char buffer[128];
      if (::poll(&pfd, 1, 1500) == 1) {
        const auto n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) reply.assign(buffer, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
    return reply;
  });
}

class EdgeInNetworkNamespaces : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "creating network namespaces needs root; running as uid " << geteuid();
    }
    const std::string tag = std::to_string(getpid());
    client_ = "wsedge-" + tag + "-client";
    edge_ = "wsedge-" + tag + "-edge";
    vm_ = "wsedge-" + tag + "-vm";
    for (const auto& ns : {client_, edge_, vm_}) {
      ASSERT_TRUE(run("ip netns add " + ns)) << ns;
      created_.push_back(ns);
    }
    // client c0 203.0.113.2 <-> up0 203.0.113.1 + public 203.0.113.10 on the edge;
    // edge vm0 10.77.0.1 <-> eth0 10.77.0.10 in the VM.
    const std::vector<std::string> commands = {
        "ip link add c0 netns " + client_ + " type veth peer name up0 netns " + edge_,
        "ip link add vm0 netns " + edge_ + " type veth peer name eth0 netns " + vm_,
        "ip -n " + client_ + " addr add 203.0.113.2/24 dev c0",
        "ip -n " + client_ + " link set c0 up",
        "ip -n " + client_ + " link set lo up",
        "ip -n " + edge_ + " addr add 203.0.113.1/24 dev up0",
        "ip -n " + edge_ + " addr add 203.0.113.10/24 dev up0",
        "ip -n " + edge_ + " link set up0 up",
        "ip -n " + edge_ + " addr add 10.77.0.1/24 dev vm0",
        "ip -n " + edge_ + " link set vm0 up",
        "ip netns exec " + edge_ + " sysctl -qw net.ipv4.ip_forward=1",
        "ip -n " + vm_ + " addr add 10.77.0.10/24 dev eth0",
        "ip -n " + vm_ + " link set eth0 up",
        "ip -n " + vm_ + " route add default via 10.77.0.1"};
    for (const auto& command : commands) ASSERT_TRUE(run(command)) << command;

    operator_ = virConnectOpen("test:///default");
    auto created = create({R"({"uri": "test:///default",
        "network": {"mode": "openvswitch", "bridge": "ovsbr0"},
        "edge": {"uplink": "up0", "netns": ")" +
                               edge_ + R"("}})",
                           &host_});
    ASSERT_TRUE(created.ok()) << created.error().message;
    plugin_ = std::move(created).value();
    ASSERT_TRUE(plugin_->compute()
                    ->applyTenantResources(
                        {"sub-a", "tenant-a", "A", {}, {}, {{"gold", "default-pool", 10}}}, ctx())
                    .ok());
    ASSERT_TRUE(plugin_->network()
                    ->createTenantNetwork({"net-a", "sub-a", "tenant-a", "a", 101, true}, ctx())
                    .ok());
  }

  void TearDown() override {
    plugin_.reset();
    if (operator_ != nullptr) virConnectClose(operator_);
    for (const auto& ns : created_) EXPECT_TRUE(run("ip netns del " + ns)) << ns;
    for (const auto& ns : created_) {
      EXPECT_FALSE(std::filesystem::exists("/run/netns/" + ns)) << ns << " was left behind";
    }
  }

  std::string client_, edge_, vm_;
  std::vector<std::string> created_;
  testing::RecordingHost host_;
  virConnectPtr operator_ = nullptr;
  std::unique_ptr<plugin::CloudHostPlugin> plugin_;
};

TEST_F(EdgeInNetworkNamespaces, AMappingCarriesRealConnectionsAndOnlyWhileItExists) {
  EchoPeerServer web(vm_, "10.77.0.10", 8080);
  // Without rules the VM is unreachable from the internet.
  EXPECT_EQ(talk(client_, "203.0.113.10", 2222), "");

  const plugin::TenantEdgeSpec spec{
      "tenant-a", {{"web", "203.0.113.10", 2222, plugin::Protocol::kTcp, "10.77.0.10", 8080}}, {}};
  ASSERT_TRUE(plugin_->edge()->applyTenantEdge(spec, ctx()).ok());
  // Through the mapping; the VM sees the client's own address (DNAT keeps the source).
  EXPECT_EQ(talk(client_, "203.0.113.10", 2222), "peer 203.0.113.2");
  // Not through a port that is not mapped.
  EXPECT_EQ(talk(client_, "203.0.113.10", 2223), "");
  auto read = plugin_->edge()->tenantEdge("tenant-a", ctx());
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, spec);

  ASSERT_TRUE(plugin_->edge()->removeTenantEdge("tenant-a", ctx()).ok());
  EXPECT_EQ(talk(client_, "203.0.113.10", 2222), "");
  EXPECT_TRUE(plugin_->edge()->tenantEdge("tenant-a", ctx())->mappings.empty());
}

TEST_F(EdgeInNetworkNamespaces, InternetAccessLeavesWithThePublicAddress) {
  EchoPeerServer outside(client_, "203.0.113.2", 7070);
  const plugin::TenantEdgeSpec spec{
      "tenant-a",
      {{"web", "203.0.113.10", 2222, plugin::Protocol::kTcp, "10.77.0.10", 8080}},
      {{"net-a", "10.77.0.0/24", "203.0.113.10"}}};
  ASSERT_TRUE(plugin_->edge()->applyTenantEdge(spec, ctx()).ok());
  EXPECT_EQ(talk(vm_, "203.0.113.2", 7070), "peer 203.0.113.10");
  EXPECT_EQ(*plugin_->edge()->tenantEdge("tenant-a", ctx()), spec);

  // Without internet access for the network, outbound NAT is refused and the rules stay.
  ASSERT_TRUE(plugin_->network()
                  ->createTenantNetwork({"net-b", "sub-a", "tenant-a", "b", 102, false}, ctx())
                  .ok());
  auto closed = spec;
  closed.outboundNat = {{"net-b", "10.78.0.0/24", "203.0.113.10"}};
  EXPECT_EQ(plugin_->edge()->applyTenantEdge(closed, ctx()).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(talk(vm_, "203.0.113.2", 7070), "peer 203.0.113.10");
  ASSERT_TRUE(plugin_->edge()->removeTenantEdge("tenant-a", ctx()).ok());
}

TEST_F(EdgeInNetworkNamespaces, NewTrafficFromTheUplinkReachesTheTenantOnlyThroughAMapping) {
  EchoPeerServer ssh(vm_, "10.77.0.10", 22);
  // A client that routes the tenant's private subnet through the edge...
  ASSERT_TRUE(run("ip -n " + client_ + " route add 10.77.0.0/24 via 203.0.113.1"));
  EXPECT_EQ(talk(client_, "10.77.0.10", 22), "peer 203.0.113.2");  // no rules: plain routing
  const plugin::TenantEdgeSpec spec{
      "tenant-a", {{"web", "203.0.113.10", 2222, plugin::Protocol::kTcp, "10.77.0.10", 8080}}, {}};
  ASSERT_TRUE(plugin_->edge()->applyTenantEdge(spec, ctx()).ok());
  // ...is stopped at the edge once the tenant has rules.
  EXPECT_EQ(talk(client_, "10.77.0.10", 22), "");
  ASSERT_TRUE(plugin_->edge()->removeTenantEdge("tenant-a", ctx()).ok());
}

}  // namespace
}  // namespace warmsite::libvirtplugin

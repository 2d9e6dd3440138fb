// The HTTPS API under load, in one process on loopback:
//
//   api_throughput_ratio  authenticated task-status reads (GET /api/v1/tasks/{id}) per second
//                         through warmsited's API, divided by the reads per second of a minimal
//                         Boost.Beast TLS server (same certificate, a fixed answer of the same
//                         size, a thread per connection), with the same keep-alive clients in the
//                         same run; the median of 3 alternating rounds. 1.0 = the API costs
//                         nothing beyond HTTPS itself.
//   api_load_p50_ms       100 tenants at once each start their failover plan (5 VMs, 20 ms per
//   api_load_p99_ms       power-on) and read its task, their replicas and sessions until it ends,
//                         then undo it the same way: the latency of every request. The benchmark
//                         fails when a request is refused, an accepted operation does not finish
//                         (lost work) or the run outlives its deadline (a deadlock).
//
// Usage: api [--clients N] [--seconds S] [--tenants N]
#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_service.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using warmsite::bench::require;

// The least an HTTPS server can do: TLS, keep-alive, one fixed answer.
class MinimalTlsServer {
 public:
  MinimalTlsServer(const warmsite::security::TlsIdentity& identity, std::string body)
      : tls_(asio::ssl::context::tls_server),
        body_(std::move(body)),
        acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    tls_.use_certificate_chain(asio::buffer(identity.certificateChainPem));
    tls_.use_private_key(asio::buffer(identity.privateKeyPem), asio::ssl::context::pem);
    acceptLoop_ = std::thread([this] { acceptLoop(); });
  }
  // Clients must have closed their connections first.
  ~MinimalTlsServer() {
    stopping_ = true;
    tcp::socket wake(io_);  // accept() returns on a connection, not on close
    boost::system::error_code ec;
    wake.connect({asio::ip::make_address("127.0.0.1"), port()}, ec);
    acceptLoop_.join();
    for (auto& connection : connections_) connection.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void acceptLoop() {
    while (true) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (!ec) connections_.emplace_back([this, s = std::move(socket)]() mutable { serve(s); });
    }
  }
  void serve(tcp::socket& socket) {
    beast::ssl_stream<tcp::socket&> stream(socket, tls_);
    beast::error_code ec;
    stream.handshake(asio::ssl::stream_base::server, ec);
    beast::flat_buffer buffer;
    while (!ec) {
      http::request<http::string_body> request;
      http::read(stream, buffer, request, ec);
      if (ec) break;
      http::response<http::string_body> response{http::status::ok, request.version()};
      response.set(http::field::content_type, "application/json");
      response.keep_alive(request.keep_alive());
      response.body() = body_;
      response.prepare_payload();
      http::write(stream, response, ec);
    }
  }

  asio::io_context io_;
  asio::ssl::context tls_;
  const std::string body_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::thread acceptLoop_;
  std::vector<std::thread> connections_;  // touched by the accept loop only, until it ended
};

// Reads per second of GET `target` from `clients` keep-alive clients during `seconds`.
double readsPerSecond(std::uint16_t port, const std::string& thumbprint, const std::string& token,
                      const std::string& target, int clients, double seconds) {
  std::atomic<long> reads{0};
  std::vector<std::thread> threads;
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      warmsite::client::ClientOptions options;
      options.port = port;
      options.pinnedThumbprint = thumbprint;
      warmsite::client::ApiClient client(options);
      client.setToken(token);
      long mine = 0;
      while (Clock::now() < until) {
        const auto response = client.get(target);
        require(response.status == 200, target + ": " + response.body);
        ++mine;
      }
      reads += mine;
    });
  }
  for (auto& thread : threads) thread.join();
  return static_cast<double>(reads) / seconds;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void throughput(warmsite::bench::BenchService& bench, const std::string& planId, int clients,
                double seconds) {
  auto sp = bench.admin();
  bench.tenantWithPlan(sp, "reader", planId, 1);
  auto tenant = bench.login("reader", "tenant-pass-1");
  const auto tasks = tenant.get("/api/v1/tasks").json();
  require(tasks.is_array() && !tasks.empty(), "a task to read: " + tasks.dump());
  const std::string target = "/api/v1/tasks/" + tasks[0]["id"].get<std::string>();
  const auto answer = tenant.get(target);
  MinimalTlsServer minimal(bench.orchestrator().tls().current(), answer.body);
  std::vector<double> api, bare, ratios;
  for (int round = 0; round < 3; ++round) {
    api.push_back(readsPerSecond(bench.orchestrator().port(), bench.thumbprint(), tenant.token(),
                                 target, clients, seconds));
    bare.push_back(
        readsPerSecond(minimal.port(), bench.thumbprint(), "", target, clients, seconds));
    ratios.push_back(api.back() / bare.back());
    std::printf("round %d: API %.0f reads/s, minimal Beast TLS server %.0f reads/s, ratio %.3f\n",
                round + 1, api.back(), bare.back(), ratios.back());
  }
  std::printf("@figure api_reads_per_s %.0f\n", median(api));
  std::printf("@figure api_minimal_reads_per_s %.0f\n", median(bare));
  std::printf("@figure api_throughput_ratio %.3f\n", median(ratios));
}

// One tenant's client during the load run: start `operation`, read until its task ends.
class LoadClient {
 public:
  LoadClient(warmsite::bench::BenchService& bench, const std::string& name, std::string plan)
      : client_(bench.login(name, "tenant-pass-1")), plan_(std::move(plan)) {}

  void run(const std::string& operation, Clock::time_point deadline) {
    const auto started = timed("POST", "/api/v1/failover-plans/" + plan_ + "/" + operation, "{}");
    require(started.status == 202, operation + " refused: " + started.body);
    const auto body = started.json();
    const std::string task = body["task_id"];
    const std::string session = body["session"]["id"];
    const std::vector<std::string> reads = {"/api/v1/tasks/" + task, "/api/v1/replicas",
                                            "/api/v1/sessions/" + session};
    for (std::size_t i = 0;; ++i) {
      require(Clock::now() < deadline, operation + " of plan " + plan_ + " outlived the deadline");
      const auto response = timed("GET", reads[i % reads.size()], "");
      require(response.status == 200, reads[i % reads.size()] + ": " + response.body);
      if (i % reads.size() == 0) {
        const std::string state = response.json()["state"];
        if (state == "succeeded") return;
        require(state == "queued" || state == "running",
                operation + " of plan " + plan_ + " ended " + state + ": " + response.body);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  const std::vector<double>& latenciesMs() const { return latenciesMs_; }

 private:
  warmsite::client::ClientResponse timed(const std::string& method, const std::string& target,
                                         const std::string& body) {
    const auto start = Clock::now();
    auto response = client_.request(method, target, body);
    latenciesMs_.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    return response;
  }

  warmsite::client::ApiClient client_;
  std::string plan_;
  std::vector<double> latenciesMs_;
};

void load(warmsite::bench::BenchService& bench, const std::string& planId, int tenants) {
  auto sp = bench.admin();
  std::vector<std::string> plans;
  for (int t = 0; t < tenants; ++t)
    plans.push_back(bench.tenantWithPlan(sp, "load-" + std::to_string(t), planId, 5));
  std::vector<LoadClient> clients;
  for (int t = 0; t < tenants; ++t)
    clients.emplace_back(bench, "load-" + std::to_string(t), plans[t]);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::minutes(5);
  std::vector<std::thread> threads;
  for (auto& client : clients) {
    threads.emplace_back([&client, deadline] {
      client.run("failover", deadline);
      client.run("undo", deadline);
    });
  }
  for (auto& thread : threads) thread.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& client : clients)
    all.insert(all.end(), client.latenciesMs().begin(), client.latenciesMs().end());
  std::sort(all.begin(), all.end());
  const auto at = [&](double q) { return all[static_cast<std::size_t>(q * (all.size() - 1))]; };
  std::printf(
      "%d tenants: failover + undo of 5 VMs each in %.2f s, %zu requests, p50 %.2f ms, p99 %.2f "
      "ms, max %.2f ms\n",
      tenants, wall, all.size(), at(0.5), at(0.99), all.back());
  std::printf("@figure api_load_p50_ms %.2f\n", at(0.5));
  std::printf("@figure api_load_p99_ms %.2f\n", at(0.99));
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 8, tenants = 100;
  double seconds = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--clients") clients = std::atoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    if (flag == "--tenants") tenants = std::atoi(argv[i + 1]);
  }
  warmsite::bench::BenchService bench("api", [](warmsite::daemon::OrchestratorOptions& options) {
    options.http.workerThreads = 16;
    options.engineWorkers = 64;
  });
  auto sp = bench.admin();
  const auto plan = bench.cloudHost(
      sp,
      {{"name", "vc"},
       {"plugin", "vsphere-mock"},
       {"config", {{"vcenter", "bench"}, {"latency_ms", {{"power_on", 20}, {"power_off", 20}}}}}},
      "datastore1");
  throughput(bench, plan, clients, seconds);
  load(bench, plan, tenants);
  return 0;
}

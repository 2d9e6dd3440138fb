// The HTTPS listener on its own: body limit, header timeout, keep-alive, graceful drain and
// certificate replacement, with raw TLS connections where the client must misbehave.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "api/http_server.h"
#include "client/api_client.h"

namespace warmsite::api {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
using ::testing::HasSubstr;

class HttpServerTest : public ::testing::Test {
 protected:
  void startServer(RequestHandler handler,
                   const std::function<void(HttpServerOptions&)>& adjust = {}) {
    HttpServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.bodyLimit = 1024;
    options.headerTimeout = std::chrono::milliseconds(300);
    if (adjust) adjust(options);
    identity_ = security::generateSelfSigned({"localhost"}, {"127.0.0.1"});
    server_ = std::make_unique<HttpServer>(
        options, std::move(handler),
        [](int status, const std::string& code, const std::string& message) {
          return HttpResponse{status,
                              "application/json",
                              "{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}",
                              {}};
        },
        identity_);
    server_->start();
  }

  client::ApiClient client() {
    client::ClientOptions options;
    options.port = server_->port();
    options.pinnedThumbprint = identity_.info.thumbprintSha256;
    return client::ApiClient(options);
  }

  // Sends `bytes` over a fresh TLS connection and returns everything the server sends back
  // before it closes the connection.
  std::string rawExchange(const std::string& bytes) {
    net::io_context ioc;
    ssl::context tls(ssl::context::tls_client);
    tls.set_verify_mode(ssl::verify_none);
    ssl::stream<net::ip::tcp::socket> stream(ioc, tls);
    stream.next_layer().connect({net::ip::make_address("127.0.0.1"), server_->port()});
    stream.handshake(ssl::stream_base::client);
    if (!bytes.empty()) net::write(stream, net::buffer(bytes));
    std::string received;
    boost::system::error_code ec;
    char buffer[4096];
    while (true) {
      const auto n = stream.read_some(net::buffer(buffer), ec);
      if (ec) break;
      received.append(buffer, n);
    }
    return received;
  }

  security::TlsIdentity identity_;
  std::unique_ptr<HttpServer> server_;
};

HttpResponse ok(const std::string& body = "{}") {
  return HttpResponse{200, "application/json", body, {}};
}

TEST_F(HttpServerTest, BodyOverTheLimitIsRefusedBeforeTheHandlerRuns) {
  std::atomic<int> calls{0};
  startServer([&](const HttpRequest&) {
    ++calls;
    return ok();
  });
  const auto answer =
      rawExchange("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n");
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 413"));
  EXPECT_THAT(answer, HasSubstr("payload_too_large"));
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(HttpServerTest, SilentClientIsDisconnectedAfterTheHeaderTimeout) {
  startServer([](const HttpRequest&) { return ok(); });
  const auto started = std::chrono::steady_clock::now();
  const auto answer = rawExchange("");  // handshake, then nothing
  EXPECT_EQ(answer, "");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));  // not a hang
}

TEST_F(HttpServerTest, MalformedRequestGetsA400) {
  startServer([](const HttpRequest&) { return ok(); });
  EXPECT_THAT(rawExchange("NOT HTTP AT ALL\r\n\r\n"), HasSubstr("HTTP/1.1 400"));
}

TEST_F(HttpServerTest, QueryAndPathAreDecoded) {
  startServer([](const HttpRequest& request) {
    return ok(nlohmann::json{{"path", request.path}, {"q", request.query.at("q")}}.dump());
  });
  auto c = client();
  auto response = c.get("/a%20b?q=x%2By+z");
  EXPECT_EQ(response.json()["path"], "/a b");
  EXPECT_EQ(response.json()["q"], "x+y z");
}

TEST_F(HttpServerTest, StopLetsInFlightRequestsFinishAndRefusesNewOnes) {
  std::promise<void> entered;
  startServer([&](const HttpRequest&) {
    entered.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return ok("{\"done\":true}");
  });
  auto slow = std::async(std::launch::async, [&] { return client().get("/slow"); });
  entered.get_future().wait();
  server_->stop();  // returns only after the slow request was answered
  auto response = slow.get();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.json()["done"], true);
  EXPECT_THROW(client().get("/after"), client::ConnectionError);
}

TEST_F(HttpServerTest, ReplacedCertificateServesNewConnectionsWithoutARestart) {
  startServer([](const HttpRequest&) { return ok(); });
  auto before = client();
  EXPECT_EQ(before.get("/").status, 200);
  const auto next = security::generateSelfSigned({"other.example"}, {});
  server_->replaceIdentity(next);
  client::ClientOptions options;
  options.port = server_->port();
  client::ApiClient learning(options);
  EXPECT_EQ(learning.get("/").status, 200);
  EXPECT_EQ(learning.serverThumbprint(), next.info.thumbprintSha256);
  auto oldPin = client();
  EXPECT_THROW(oldPin.get("/"), client::PinMismatch);
}

}  // namespace
}  // namespace warmsite::api

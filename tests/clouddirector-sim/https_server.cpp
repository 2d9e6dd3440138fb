#include "tests/clouddirector-sim/https_server.h"

#include <strings.h>
#include <sys/socket.h>

#include <atomic>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace warmsite::clouddirector::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
  return strcasecmp(a.c_str(), b.c_str()) < 0;
}

std::string ServerRequest::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpsServer::Impl {
  struct Connection {
    explicit Connection(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  Impl(const std::string& certificatePem, const std::string& privateKeyPem, Handler h)
      : tls(asio::ssl::context::tls_server), acceptor(io), handler(std::move(h)) {
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    tls.use_certificate_chain(asio::buffer(certificatePem));
    tls.use_private_key(asio::buffer(privateKeyPem), asio::ssl::context::pem);
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    acceptThread = std::thread([this] { acceptLoop(); });
  }

  void acceptLoop() {
    for (;;) {
      tcp::socket socket(io);
      beast::error_code ec;
      acceptor.accept(socket, ec);
      if (stopping.load()) return;
      if (ec) continue;
      std::lock_guard lock(mutex);
      reapFinishedLocked();
      auto& connection = connections.emplace_back(std::move(socket));
      connection.thread = std::thread([this, &connection] {
        serve(connection.socket);
        connection.done = true;
      });
    }
  }

  void reapFinishedLocked() {
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done.load()) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  void serve(tcp::socket& socket) {
    beast::error_code ec;
    asio::ssl::stream<tcp::socket&> stream(socket, tls);
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (ec) return;
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(16 * 1024 * 1024);
      http::read(stream, buffer, parser, ec);
      if (ec) break;
      auto& in = parser.get();
      ServerRequest request;
      request.method = std::string(in.method_string());
      request.target = std::string(in.target());
      for (const auto& field : in) {
        request.headers[std::string(field.name_string())] = std::string(field.value());
      }
      request.body = std::move(in.body());
      ServerResponse reply = handler(request);
      http::response<http::string_body> out{static_cast<http::status>(reply.status), in.version()};
      out.set(http::field::server, "vcd-simulator");
      for (const auto& [name, value] : reply.headers) out.insert(name, value);
      out.body() = std::move(reply.body);
      out.keep_alive(in.keep_alive());
      out.prepare_payload();
      http::write(stream, out, ec);
      if (ec || !out.keep_alive()) break;
    }
    stream.shutdown(ec);
  }

  ~Impl() {
    stopping = true;
    beast::error_code ec;
    // Wake the blocking accept and every blocking read: shutdown(2) on the descriptors is safe
    // from this thread, unlike closing the Asio objects under their users.
    ::shutdown(acceptor.native_handle(), SHUT_RDWR);
    acceptThread.join();
    std::lock_guard lock(mutex);
    for (auto& connection : connections) ::shutdown(connection.socket.native_handle(), SHUT_RDWR);
    for (auto& connection : connections) connection.thread.join();
    acceptor.close(ec);
  }

  asio::io_context io;
  asio::ssl::context tls;
  tcp::acceptor acceptor;
  Handler handler;
  unsigned short port = 0;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::list<Connection> connections;  // a list: threads keep references to their element
  std::thread acceptThread;
};

HttpsServer::HttpsServer(const std::string& certificatePem, const std::string& privateKeyPem,
                         Handler handler)
    : impl_(std::make_unique<Impl>(certificatePem, privateKeyPem, std::move(handler))) {}

HttpsServer::~HttpsServer() = default;

unsigned short HttpsServer::port() const {
  return impl_->port;
}

}  // namespace warmsite::clouddirector::sim

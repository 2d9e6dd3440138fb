#include "api/http_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace warmsite::api {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

std::optional<std::string> percentDecode(std::string_view text, bool plusIsSpace) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      const int high = hex(text[i + 1]), low = hex(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plusIsSpace) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::shared_ptr<ssl::context> makeTlsContext(const security::TlsIdentity& identity) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->use_certificate_chain(net::buffer(identity.certificateChainPem));
  context->use_private_key(net::buffer(identity.privateKeyPem), ssl::context::pem);
  return context;
}

class Session;

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions opts, RequestHandler h, ErrorFormatter e)
      : options(std::move(opts)),
        handler(std::move(h)),
        errors(std::move(e)),
        ioc(options.ioThreads),
        workers(static_cast<std::size_t>(options.workerThreads)) {}

  std::shared_ptr<ssl::context> tls() {
    std::lock_guard lock(tlsMutex);
    return tlsContext;
  }

  void accept();
  void requestStarted() { ++inFlight; }
  void requestFinished() {
    if (--inFlight == 0) {
      std::lock_guard lock(drainMutex);
      drained.notify_all();
    }
  }

  HttpServerOptions options;
  RequestHandler handler;
  ErrorFormatter errors;
  net::io_context ioc;
  // Keeps the network threads running while a handler works on the pool (no I/O is pending then).
  std::optional<net::executor_work_guard<net::io_context::executor_type>> keepRunning;
  std::optional<tcp::acceptor> acceptor;
  std::mutex tlsMutex;
  std::shared_ptr<ssl::context> tlsContext;
  net::thread_pool workers;
  std::vector<std::thread> ioThreads;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> inFlight{0};
  std::mutex drainMutex;
  std::condition_variable drained;
  std::uint16_t boundPort = 0;
  bool stopped = false;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& server, tcp::socket socket)
      : server_(server), tls_(server.tls()), stream_(std::move(socket), *tls_) {
    beast::error_code ec;
    const auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
  }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(self->server_.options.handshakeTimeout);
      self->stream_.async_handshake(ssl::stream_base::server,
                                    [self](beast::error_code ec) { self->onHandshake(ec); });
    });
  }

 private:
  void onHandshake(beast::error_code ec) {
    if (ec) return;  // TLS 1.0/1.1, plaintext, a wrong certificate pin: the client sees the failure
    readHeader(server_.options.headerTimeout);
  }

  void readHeader(std::chrono::milliseconds timeout) {
    parser_.emplace();
    parser_->body_limit(server_.options.bodyLimit);
    parser_->header_limit(16 * 1024);
    beast::get_lowest_layer(stream_).expires_after(timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onHeader(ec); });
  }

  void onHeader(beast::error_code ec) {
    if (ec) return failRead(ec);
    server_.requestStarted();
    counted_ = true;
    beast::get_lowest_layer(stream_).expires_after(server_.options.bodyTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onBody(ec); });
  }

  void failRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return replyAndClose(
          413, "payload_too_large",
          "request body exceeds " + std::to_string(server_.options.bodyLimit) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return replyAndClose(431, "headers_too_large", "request headers exceed 16 KiB");
    }
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream) {
      return replyAndClose(400, "bad_request", "malformed HTTP request: " + ec.message());
    }
    finishRequest();  // timeout, closed connection, TLS error: nothing to answer
  }

  void onBody(beast::error_code ec) {
    if (ec) return failRead(ec);
    auto message = parser_->release();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.body = std::move(message.body());
    request.peer = peer_;
    for (const auto& field : message) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      request.headers[name] = std::string(field.value());
    }
    keepAlive_ = message.keep_alive();
    const auto question = request.target.find('?');
    auto path = percentDecode(std::string_view(request.target).substr(0, question), false);
    if (!path) return replyAndClose(400, "bad_request", "malformed percent-escape in the path");
    request.path = *path;
    if (question != std::string::npos) {
      std::string_view query = std::string_view(request.target).substr(question + 1);
      while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        auto key = percentDecode(pair.substr(0, eq), true);
        auto value = percentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
        if (!key || !value)
          return replyAndClose(400, "bad_request", "malformed percent-escape in the query");
        if (!key->empty()) request.query[*key] = *value;
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      }
    }
    // The handler may block (store, plugins): run it on the worker pool, write from the strand.
    net::post(server_.workers, [self = shared_from_this(), request = std::move(request)] {
      HttpResponse response;
      try {
        response = self->server_.handler(request);
      } catch (const std::exception& e) {
        response =
            self->server_.errors(500, "internal", std::string("unhandled error: ") + e.what());
      }
      net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->write(std::move(response));
      });
    });
  }

  void replyAndClose(int status, const std::string& code, const std::string& message) {
    keepAlive_ = false;
    write(server_.errors(status, code, message));
  }

  void write(HttpResponse response) {
    auto out = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), 11);
    out->set(http::field::server, "warmsite");
    out->set(http::field::content_type, response.contentType);
    out->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : response.headers) out->set(name, value);
    out->body() = std::move(response.body);
    out->keep_alive(keepAlive_ && !server_.draining);
    out->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_.options.bodyTimeout);
    http::async_write(stream_, *out,
                      [self = shared_from_this(), out](beast::error_code ec, std::size_t) {
                        self->finishRequest();
                        if (ec) return;
                        if (!out->keep_alive()) return self->close();
                        self->readHeader(self->server_.options.idleTimeout);
                      });
  }

  void finishRequest() {
    if (counted_) {
      counted_ = false;
      server_.requestFinished();
    }
  }

  void close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  HttpServer::Impl& server_;
  std::shared_ptr<ssl::context> tls_;  // kept while this connection uses it
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_;
  bool keepAlive_ = true;
  bool counted_ = false;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted) return;  // closed by stop()
    } else {
      std::make_shared<Session>(*this, std::move(socket))->run();
    }
    if (!draining) accept();
  });
}

HttpServer::HttpServer(HttpServerOptions options, RequestHandler handler, ErrorFormatter errors,
                       const security::TlsIdentity& identity)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(errors))) {
  impl_->tlsContext = makeTlsContext(identity);
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  auto& impl = *impl_;
  beast::error_code ec;
  const auto address = net::ip::make_address(impl.options.address, ec);
  if (ec)
    throw std::runtime_error("listen address \"" + impl.options.address +
                             "\" is not an IP address");
  impl.acceptor.emplace(impl.ioc);
  const tcp::endpoint endpoint(address, impl.options.port);
  impl.acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor->bind(endpoint, ec);
  if (!ec) impl.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + impl.options.address + ":" +
                             std::to_string(impl.options.port) + ": " + ec.message());
  }
  impl.boundPort = impl.acceptor->local_endpoint().port();
  impl.keepRunning.emplace(impl.ioc.get_executor());
  impl.accept();
  for (int i = 0; i < impl.options.ioThreads; ++i)
    impl.ioThreads.emplace_back([&impl] { impl.ioc.run(); });
}

std::uint16_t HttpServer::port() const {
  return impl_->boundPort;
}

std::size_t HttpServer::inFlight() const {
  return impl_->inFlight;
}

void HttpServer::replaceIdentity(const security::TlsIdentity& identity) {
  auto context = makeTlsContext(identity);  // throws before anything changes when it is unusable
  std::lock_guard lock(impl_->tlsMutex);
  impl_->tlsContext = std::move(context);
}

void HttpServer::stop() {
  auto& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  impl.draining = true;
  if (impl.acceptor) {
    net::post(impl.ioc, [&impl] {
      beast::error_code ignored;
      impl.acceptor->close(ignored);
    });
  }
  {
    std::unique_lock lock(impl.drainMutex);
    impl.drained.wait_for(lock, impl.options.drainTimeout, [&impl] { return impl.inFlight == 0; });
  }
  impl.ioc.stop();
  for (auto& thread : impl.ioThreads) thread.join();
  impl.workers.join();
}

}  // namespace warmsite::api

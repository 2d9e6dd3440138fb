#pragma once
// The HTTPS listener: Boost.Beast over OpenSSL, TLS 1.2+ only. It reads a request with a header
// timeout, a body timeout and a body-size limit, hands it to a worker pool (handlers may block on
// the store or a plugin without stalling the network threads), writes the response, and keeps the
// connection for the next request. No Boost type appears here.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "security/certificates.h"

namespace warmsite::api {

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 6180;  // 0 = any free port (tests)
  std::size_t bodyLimit = 1 << 20;
  std::chrono::milliseconds handshakeTimeout{10'000};
  std::chrono::milliseconds headerTimeout{10'000};
  std::chrono::milliseconds bodyTimeout{30'000};
  std::chrono::milliseconds idleTimeout{60'000};  // keep-alive: wait this long for the next request
  std::chrono::milliseconds drainTimeout{30'000};  // at stop: how long in-flight requests may take
  int ioThreads = 2;
  int workerThreads = 8;
};

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as sent: path and query
  std::string path;                            // decoded path without the query
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string peer;  // "address:port"

  std::string header(const std::string& lowerCaseName) const {
    auto it = headers.find(lowerCaseName);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;
// What the server answers by itself (oversized body, malformed request), in the API's error shape.
using ErrorFormatter =
    std::function<HttpResponse(int status, const std::string& code, const std::string& message)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, RequestHandler handler, ErrorFormatter errors,
             const security::TlsIdentity& identity);
  ~HttpServer();

  // Binds and starts serving. Throws std::runtime_error when the address cannot be bound.
  void start();
  std::uint16_t port() const;

  // New connections use `identity` from now on; open ones keep theirs.
  void replaceIdentity(const security::TlsIdentity& identity);

  // Stops accepting, lets in-flight requests finish (up to drainTimeout), then closes everything.
  void stop();

  std::size_t inFlight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Percent-decoding of a path or query component; nullopt for a malformed escape.
std::optional<std::string> percentDecode(std::string_view text, bool plusIsSpace);

}  // namespace warmsite::api

#pragma once
// HttpTransport on cpprestsdk (Debian's libcpprest-dev 2.10.18), with TLS verification always on:
// the system trust store plus an optional CA file, or a pinned SHA-256 thumbprint of the server's
// certificate instead of chain and host name checks.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "config.h"
#include "http_transport.h"

namespace warmsite::clouddirector {

struct TransportOptions {
  std::string baseUrl;  // "https://host[:port]"
  TlsSettings tls;
  std::chrono::milliseconds requestTimeout{std::chrono::seconds(60)};
  std::size_t threadPoolSize = 4;  // cpprest's process-wide pool; only the first plugin sets it
};

std::unique_ptr<HttpTransport> makeCpprestTransport(const TransportOptions& options);

}  // namespace warmsite::clouddirector

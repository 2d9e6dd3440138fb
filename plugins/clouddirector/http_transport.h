#pragma once
// The plugin's only view of HTTP. cpprestsdk stays behind this interface (cpprest_transport.cpp);
// the rest of the plugin, and its unit tests, see plain structs.

#include <string>
#include <utility>
#include <vector>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::clouddirector {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string target;  // path and query, starting with '/'
  Headers headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // a header sent several times appears several times
  std::string body;

  // The first value of a header (names compare case-insensitively), "" when absent.
  std::string header(const std::string& name) const;
  std::vector<std::string> headerValues(const std::string& name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Sends one request and reads the whole answer. An HTTP error status is a response, not an
  // error; errors are: kUnavailable (no connection, TLS handshake refused), kPermissionDenied
  // (the server's certificate does not match the pinned thumbprint), kTimeout (the request
  // timeout or the call's deadline passed), kCancelled. Thread-safe.
  virtual plugin::Result<HttpResponse> send(const HttpRequest& request,
                                            const plugin::CallContext& ctx) noexcept = 0;
};

}  // namespace warmsite::clouddirector

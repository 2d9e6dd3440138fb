#pragma once
// A small HTTPS/1.1 server on 127.0.0.1 and a kernel-chosen port, for the Cloud Director
// simulator. One thread per connection with blocking I/O: a handler may sleep (injected latency)
// without holding up other connections, as a real cell serves clients in parallel.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace warmsite::clouddirector::sim {

struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

struct ServerRequest {
  std::string method;
  std::string target;  // path and query, as sent
  std::map<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;

  std::string header(const std::string& name) const;
};

struct ServerResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class HttpsServer {
 public:
  using Handler = std::function<ServerResponse(const ServerRequest&)>;

  // Listens at once with this certificate and key (PEM); throws if it cannot.
  HttpsServer(const std::string& certificatePem, const std::string& privateKeyPem, Handler handler);
  ~HttpsServer();  // stops accepting, closes open connections, joins every thread
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  unsigned short port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace warmsite::clouddirector::sim

#pragma once
// An HTTPS client for the Warmsite API that trusts the server by its pinned SHA-256 certificate
// thumbprint (the way Cloud Connect tenants trust a self-signed SP certificate), keeps its
// connection alive between requests, and reconnects when the server closed it. Used by the CLI
// and the tests. Not thread-safe: one client per thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace warmsite::client {

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6180;
  // Expected thumbprint ("AB:CD:..." or plain hex, any case). Empty = accept any certificate and
  // report it (first contact, before the user accepts it).
  std::string pinnedThumbprint;
  std::chrono::milliseconds timeout{30'000};
  int minTlsVersion = 0;  // 0 = TLS 1.2; tests set 0x0302 (TLS 1.1) to prove the server refuses it
  int maxTlsVersion = 0;  // 0 = no maximum
};

// The server presented another certificate than the pinned one.
class PinMismatch : public std::runtime_error {
 public:
  PinMismatch(std::string expected, std::string actual)
      : std::runtime_error("the server's certificate changed: pinned " + expected + ", presented " +
                           actual),
        expected_(std::move(expected)),
        actual_(std::move(actual)) {}
  const std::string& expected() const noexcept { return expected_; }
  const std::string& actual() const noexcept { return actual_; }

 private:
  std::string expected_, actual_;
};

// The server could not be reached or the TLS handshake failed for another reason.
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The leaf certificate the server presented in the last handshake, for a user to judge before
// pinning it.
struct PresentedCertificate {
  std::string thumbprint;  // upper-case hex pairs joined by ':'
  std::string subject;     // RFC 2253
  std::int64_t notAfterUnix = 0;
};

struct ClientResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names

  nlohmann::json json() const;
  std::string header(const std::string& name) const;
};

class ApiClient {
 public:
  explicit ApiClient(ClientOptions options);
  ~ApiClient();
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;

  void setToken(std::string token) { token_ = std::move(token); }
  const std::string& token() const noexcept { return token_; }

  ClientResponse request(const std::string& method, const std::string& target,
                         const std::string& body = {});
  ClientResponse get(const std::string& target) { return request("GET", target); }
  ClientResponse post(const std::string& target, const nlohmann::json& body) {
    return request("POST", target, body.dump());
  }

  // The thumbprint the server presented in the last handshake.
  const std::string& serverThumbprint() const noexcept { return serverCertificate().thumbprint; }
  const PresentedCertificate& serverCertificate() const noexcept;
  // How many TLS handshakes this client made (keep-alive makes it 1 for many requests).
  int handshakes() const noexcept;

  // Normalises a thumbprint to upper-case hex pairs joined by ':'; nullopt when it is not 32 bytes.
  static std::optional<std::string> normalizeThumbprint(const std::string& text);

 private:
  struct Connection;
  ClientOptions options_;
  std::string token_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace warmsite::client

#include "cpprest_transport.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <strings.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <mutex>

#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

namespace warmsite::clouddirector {

namespace {

namespace http = web::http;
using plugin::ErrorCode;
using plugin::makeError;

void initializeThreadPool(std::size_t threads) {
  static std::once_flag once;
  std::call_once(once, [threads] {
    try {
      // Must be the process's first cpprest call, or cpprest has already started its default
      // pool of 40 threads (../shared/reference/dependencies.md §1).
      crossplat::threadpool::initialize_with_threads(threads);
    } catch (const std::exception&) {
      // Someone else in the process started the pool first: share it as it is.
    }
  });
}

// What the pinned-thumbprint check needs while OpenSSL verifies a server certificate. Owned by
// the client's TLS callback, so it outlives every handshake, even one finishing after send().
struct PinState {
  std::string expected;  // 64 upper-case hex digits
  std::atomic<std::uint64_t> refusals{0};
  std::mutex mutex;
  std::string lastRefused;
};

std::string sha256Hex(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &size) != 1) return {};
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02X", digest[i]);
    hex += byte;
  }
  return hex;
}

// Replaces OpenSSL's chain verification: the server's own certificate must be the pinned one.
int verifyPinned(X509_STORE_CTX* store, void* arg) {
  auto* state = static_cast<PinState*>(arg);
  X509* cert = X509_STORE_CTX_get0_cert(store);
  const std::string actual = cert == nullptr ? std::string() : sha256Hex(cert);
  if (!actual.empty() && actual == state->expected) return 1;
  {
    std::lock_guard lock(state->mutex);
    state->lastRefused = actual;
  }
  ++state->refusals;
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

class CpprestTransport final : public HttpTransport {
 public:
  explicit CpprestTransport(const TransportOptions& options)
      : baseUrl_(options.baseUrl), pin_(std::make_shared<PinState>()) {
    initializeThreadPool(options.threadPoolSize);
    pin_->expected = options.tls.pinnedSha256;
    http::client::http_client_config config;
    config.set_timeout(options.requestTimeout);
    config.set_validate_certificates(true);  // never off: a pin replaces the checks, nothing less
    const std::string caFile = options.tls.caFile;
    const std::shared_ptr<PinState> pin = options.tls.pinnedSha256.empty() ? nullptr : pin_;
    config.set_ssl_context_callback([caFile, pin](boost::asio::ssl::context& context) {
      context.set_options(
          boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
          boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1);
      if (!caFile.empty()) {
        boost::system::error_code ignored;  // an unreadable file simply adds no trust
        context.load_verify_file(caFile, ignored);
      }
      if (pin) SSL_CTX_set_cert_verify_callback(context.native_handle(), &verifyPinned, pin.get());
    });
    client_ = std::make_unique<http::client::http_client>(options.baseUrl, config);
  }

  plugin::Result<HttpResponse> send(const HttpRequest& request,
                                    const plugin::CallContext& ctx) noexcept override {
    const std::uint64_t refusalsBefore = pin_->refusals.load();
    try {
      http::http_request message(request.method);
      message.set_request_uri(web::uri(request.target));
      std::string contentType;
      for (const auto& [name, value] : request.headers) {
        if (strcasecmp(name.c_str(), "Content-Type") == 0) {
          contentType = value;
        } else {
          message.headers().add(name, value);
        }
      }
      if (!request.body.empty() || !contentType.empty()) {
        message.set_body(request.body, contentType);
      }
      pplx::cancellation_token_source cancel;
      // The continuation may run after send() gave up (deadline, cancel): it owns what it uses.
      auto outcome = std::make_shared<std::promise<HttpResponse>>();
      auto future = outcome->get_future();
      client_->request(message, cancel.get_token())
          .then([](http::http_response response) {
            return response.extract_utf8string(true).then([response](std::string body) {
              HttpResponse out;
              out.status = response.status_code();
              for (const auto& [name, value] : response.headers())
                out.headers.emplace_back(name, value);
              out.body = std::move(body);
              return out;
            });
          })
          .then([outcome](pplx::task<HttpResponse> done) {
            try {
              outcome->set_value(done.get());
            } catch (...) {
              outcome->set_exception(std::current_exception());
            }
          });
      while (future.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
        if (ctx.cancelled()) {
          cancel.cancel();
          return makeError(ErrorCode::kCancelled,
                           request.method + " " + request.target + ": cancelled by the caller");
        }
        if (ctx.expired()) {
          cancel.cancel();
          return makeError(ErrorCode::kTimeout,
                           request.method + " " + request.target + ": the call's deadline passed");
        }
      }
      return future.get();
    } catch (const http::http_exception& e) {
      if (pin_->refusals.load() != refusalsBefore) {
        std::lock_guard lock(pin_->mutex);
        return makeError(ErrorCode::kPermissionDenied,
                         "TLS: the certificate of " + baseUrl_ + " has SHA-256 thumbprint " +
                             pin_->lastRefused + ", not the pinned " + pin_->expected,
                         "TLS_PIN_MISMATCH");
      }
      if (e.error_code() == std::errc::timed_out) {
        return makeError(ErrorCode::kTimeout,
                         request.method + " " + request.target + ": no answer in time", "TIMEOUT");
      }
      return makeError(ErrorCode::kUnavailable,
                       request.method + " " + baseUrl_ + request.target + " failed: " + e.what() +
                           " (an untrusted certificate fails here too; see tls.ca_file)",
                       "HTTP_TRANSPORT");
    } catch (const std::exception& e) {
      return makeError(ErrorCode::kUnavailable,
                       request.method + " " + baseUrl_ + request.target + " failed: " + e.what(),
                       "HTTP_TRANSPORT");
    }
  }

 private:
  std::string baseUrl_;
  std::shared_ptr<PinState> pin_;
  std::unique_ptr<http::client::http_client> client_;
};

}  // namespace

std::unique_ptr<HttpTransport> makeCpprestTransport(const TransportOptions& options) {
  return std::make_unique<CpprestTransport>(options);
}

}  // namespace warmsite::clouddirector

#include "client/api_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <ctime>

namespace warmsite::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

nlohmann::json ClientResponse::json() const {
  return body.empty() ? nlohmann::json() : nlohmann::json::parse(body, nullptr, false);
}

std::string ClientResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::optional<std::string> ApiClient::normalizeThumbprint(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 64) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out += ':';
    out += hex.substr(i, 2);
  }
  return out;
}

namespace {

std::string subjectText(X509* certificate) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(certificate), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

struct ApiClient::Connection {
  net::io_context ioc;
  ssl::context tls{ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  PresentedCertificate presented;
  int handshakes = 0;

  void connect(const ClientOptions& options) {
    stream.reset();
    buffer.clear();
    SSL_CTX_set_min_proto_version(tls.native_handle(),
                                  options.minTlsVersion ? options.minTlsVersion : TLS1_2_VERSION);
    if (options.maxTlsVersion)
      SSL_CTX_set_max_proto_version(tls.native_handle(), options.maxTlsVersion);
    if (options.minTlsVersion && options.minTlsVersion < TLS1_2_VERSION) {
      SSL_CTX_set_security_level(tls.native_handle(), 0);  // let old protocols be offered at all
    }
    // Trust comes from the pin, not from a CA: the callback decides on the leaf certificate.
    tls.set_verify_mode(ssl::verify_peer);
    const std::string pinned =
        options.pinnedThumbprint.empty()
            ? std::string()
            : ApiClient::normalizeThumbprint(options.pinnedThumbprint).value_or("invalid pin");
    tls.set_verify_callback([this, pinned](bool, ssl::verify_context& context) {
      X509_STORE_CTX* store = context.native_handle();
      if (X509_STORE_CTX_get_error_depth(store) != 0) return true;  // decided at the leaf
      X509* leaf = X509_STORE_CTX_get_current_cert(store);
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int length = 0;
      X509_digest(leaf, EVP_sha256(), digest, &length);
      std::string hex;
      static constexpr char kHex[] = "0123456789ABCDEF";
      for (unsigned int i = 0; i < length; ++i) {
        if (i > 0) hex += ':';
        hex += kHex[digest[i] >> 4];
        hex += kHex[digest[i] & 0x0f];
      }
      presented.thumbprint = hex;
      presented.subject = subjectText(leaf);
      struct tm notAfter {};
      ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &notAfter);
      presented.notAfterUnix = static_cast<std::int64_t>(timegm(&notAfter));
      return pinned.empty() || pinned == hex;
    });

    tcp::resolver resolver(ioc);
    beast::error_code ec;
    const auto endpoints = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec) throw ConnectionError("cannot resolve " + options.host + ": " + ec.message());
    stream.emplace(ioc, tls);
    if (!SSL_set_tlsext_host_name(stream->native_handle(), options.host.c_str())) {
      throw ConnectionError("cannot set the TLS server name");
    }
    auto& socket = beast::get_lowest_layer(*stream);
    socket.expires_after(options.timeout);
    socket.connect(endpoints, ec);
    if (ec)
      throw ConnectionError("cannot connect to " + options.host + ":" +
                            std::to_string(options.port) + ": " + ec.message());
    stream->handshake(ssl::stream_base::client, ec);
    ++handshakes;
    if (ec) {
      const std::string pinnedNormal =
          options.pinnedThumbprint.empty()
              ? std::string()
              : ApiClient::normalizeThumbprint(options.pinnedThumbprint).value_or("");
      if (!presented.thumbprint.empty() && !pinnedNormal.empty() &&
          presented.thumbprint != pinnedNormal) {
        throw PinMismatch(pinnedNormal, presented.thumbprint);
      }
      stream.reset();
      throw ConnectionError("TLS handshake with " + options.host + ":" +
                            std::to_string(options.port) + " failed: " + ec.message());
    }
  }
};

ApiClient::ApiClient(ClientOptions options) : options_(std::move(options)) {}
ApiClient::~ApiClient() = default;
ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;

const PresentedCertificate& ApiClient::serverCertificate() const noexcept {
  static const PresentedCertificate none;
  return connection_ ? connection_->presented : none;
}

int ApiClient::handshakes() const noexcept {
  return connection_ ? connection_->handshakes : 0;
}

ClientResponse ApiClient::request(const std::string& method, const std::string& target,
                                  const std::string& body) {
  if (!connection_) connection_ = std::make_unique<Connection>();
  http::request<http::string_body> request(http::string_to_verb(method), target, 11);
  request.set(http::field::host, options_.host);
  request.set(http::field::user_agent, "warmsite-client");
  request.set(http::field::accept, "application/json");
  if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.keep_alive(true);
  request.prepare_payload();

  // One retry on a fresh connection: the server may have closed an idle keep-alive connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = connection_->stream.has_value();
    if (!reused) connection_->connect(options_);
    auto& stream = *connection_->stream;
    beast::get_lowest_layer(stream).expires_after(options_.timeout);
    beast::error_code ec;
    http::write(stream, request, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (!ec) http::read(stream, connection_->buffer, parser, ec);
    if (ec) {
      connection_->stream.reset();
      if (reused) continue;
      throw ConnectionError(method + " " + target + ": " + ec.message());
    }
    auto response = parser.release();
    ClientResponse result;
    result.status = static_cast<int>(response.result_int());
    result.body = std::move(response.body());
    for (const auto& field : response) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      result.headers[name] = std::string(field.value());
    }
    if (!response.keep_alive()) connection_->stream.reset();
    return result;
  }
  throw ConnectionError(method + " " + target + ": the connection closed twice");
}

}  // namespace warmsite::client

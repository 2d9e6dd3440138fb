#include "replication/frame_stream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/api_client.h"
#include "security/encoding.h"

namespace warmsite::replication {

namespace {

std::string openSslError() {
  const unsigned long code = ERR_get_error();
  if (code == 0) return errno ? std::strerror(errno) : "connection closed";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

void setTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string peerName(const sockaddr_storage& address) {
  char host[NI_MAXHOST] = "?";
  char port[NI_MAXSERV] = "?";
  getnameinfo(reinterpret_cast<const sockaddr*>(&address), sizeof address, host, sizeof host, port,
              sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
  return std::string(host) + ":" + port;
}

// Bulk data: OpenSSL reads ahead into a buffer of many records, one syscall for several of them
// instead of two per 16 KiB record.
void readInBulk(SSL_CTX* context) {
  SSL_CTX_set_read_ahead(context, 1);
  SSL_CTX_set_default_read_buffer_len(context, 256 * 1024);
}

// TLS 1.3 only: the replication port has no older clients to serve.
SSL_CTX* serverContext(const security::TlsIdentity& identity) {
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  if (context == nullptr)
    throw std::runtime_error("cannot create a TLS context: " + openSslError());
  SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION);
  readInBulk(context);
  std::unique_ptr<BIO, decltype(&BIO_free)> chain(
      BIO_new_mem_buf(identity.certificateChainPem.data(),
                      static_cast<int>(identity.certificateChainPem.size())),
      &BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key(
      BIO_new_mem_buf(identity.privateKeyPem.data(),
                      static_cast<int>(identity.privateKeyPem.size())),
      &BIO_free);
  X509* leaf = PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr);
  EVP_PKEY* privateKey = PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr);
  bool ok = leaf != nullptr && privateKey != nullptr &&
            SSL_CTX_use_certificate(context, leaf) == 1 &&
            SSL_CTX_use_PrivateKey(context, privateKey) == 1;
  X509_free(leaf);
  EVP_PKEY_free(privateKey);
  while (ok) {
    X509* intermediate = PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr);
    if (intermediate == nullptr) break;
    ok = SSL_CTX_add0_chain_cert(context, intermediate) == 1;
  }
  ERR_clear_error();  // the end of the chain reads as an error
  if (!ok) {
    SSL_CTX_free(context);
    throw std::runtime_error("the TLS identity cannot be used for replication");
  }
  return context;
}

// A signal cut a blocking read or write short; the socket's timeout shows as EAGAIN instead.
bool interrupted(int sslError) {
  return (sslError == SSL_ERROR_WANT_READ || sslError == SSL_ERROR_WANT_WRITE ||
          sslError == SSL_ERROR_SYSCALL) &&
         errno == EINTR;
}

// A peer that vanishes mid-write must fail the write, not kill the process (OpenSSL writes to the
// socket with write(2), which raises SIGPIPE).
void ignoreBrokenPipes() {
  static const bool ignored = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)ignored;
}

}  // namespace

FrameStream::FrameStream(int fd, SSL* ssl, std::string peer, std::chrono::milliseconds timeout)
    : fd_(fd),
      wakeFd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      ssl_(ssl),
      timeout_(timeout),
      peer_(std::move(peer)) {}

FrameStream::~FrameStream() {
  SSL_free(ssl_);
  close(fd_);
  if (wakeFd_ >= 0) close(wakeFd_);
}

void FrameStream::waitReadable() {
  if (SSL_has_pending(ssl_) == 1) return;  // decrypted or read-ahead bytes wait in OpenSSL
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
  int ready = 0;
  do {
    ready = poll(fds, wakeFd_ >= 0 ? 2 : 1, static_cast<int>(timeout_.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) throw TransportError("timed out waiting for " + peer_);
  if (fds[1].revents != 0) throw TransportError("reading from " + peer_ + " was stopped");
}

std::unique_ptr<FrameStream> FrameStream::connect(const ConnectOptions& options) {
  ignoreBrokenPipes();
  const auto pinned = client::ApiClient::normalizeThumbprint(options.pinnedThumbprint);
  if (!pinned) throw TransportError("the SP certificate thumbprint to pin is missing or malformed");

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int resolved =
      getaddrinfo(options.host.c_str(), std::to_string(options.port).c_str(), &hints, &found);
  if (resolved != 0) {
    throw TransportError("cannot resolve " + options.host + ": " + gai_strerror(resolved));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  int fd = -1;
  std::string lastError = "no address";
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    setTimeouts(fd, options.timeout);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      lastError = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  const std::string where = options.host + ":" + std::to_string(options.port);
  if (fd < 0) throw TransportError("cannot connect to " + where + ": " + lastError);

  static SSL_CTX* context = [] {
    SSL_CTX* created = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(created, TLS1_3_VERSION);
    readInBulk(created);
    // Trust comes from the pin, checked on the leaf right after the handshake, before any frame.
    SSL_CTX_set_verify(created, SSL_VERIFY_NONE, nullptr);
    return created;
  }();
  SSL* ssl = SSL_new(context);
  std::unique_ptr<FrameStream> stream(new FrameStream(fd, ssl, where, options.timeout));
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, options.host.c_str());
  if (SSL_connect(ssl) != 1) {
    throw TransportError("TLS 1.3 handshake with " + where + " failed: " + openSslError());
  }
  std::unique_ptr<X509, decltype(&X509_free)> leaf(SSL_get1_peer_certificate(ssl), &X509_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!leaf || X509_digest(leaf.get(), EVP_sha256(), digest, &length) != 1) {
    throw TransportError(where + " presented no certificate");
  }
  std::string presented =
      security::hexEncode(std::string_view(reinterpret_cast<char*>(digest), length), ':');
  std::transform(presented.begin(), presented.end(), presented.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (presented != *pinned) throw client::PinMismatch(*pinned, presented);
  return stream;
}

void FrameStream::readExactly(void* buffer, std::size_t length) {
  auto* out = static_cast<char*>(buffer);
  while (length > 0) {
    waitReadable();
    const int n = SSL_read(ssl_, out, static_cast<int>(std::min<std::size_t>(length, 1 << 30)));
    if (n <= 0) {
      const int error = SSL_get_error(ssl_, n);
      if (interrupted(error)) continue;
      if (error == SSL_ERROR_WANT_READ) throw TransportError("timed out waiting for " + peer_);
      if (error == SSL_ERROR_ZERO_RETURN) throw TransportError(peer_ + " closed the connection");
      throw TransportError("reading from " + peer_ + " failed: " + openSslError());
    }
    out += n;
    length -= static_cast<std::size_t>(n);
    bytesReceived_ += static_cast<std::uint64_t>(n);
  }
}

void FrameStream::writeAll(const void* buffer, std::size_t length) {
  const auto* in = static_cast<const char*>(buffer);
  while (length > 0) {
    const int n = SSL_write(ssl_, in, static_cast<int>(std::min<std::size_t>(length, 1 << 30)));
    if (n <= 0) {
      const int error = SSL_get_error(ssl_, n);
      if (interrupted(error)) continue;
      if (error == SSL_ERROR_WANT_WRITE) throw TransportError("timed out sending to " + peer_);
      throw TransportError("sending to " + peer_ + " failed: " + openSslError());
    }
    in += n;
    length -= static_cast<std::size_t>(n);
    bytesSent_ += static_cast<std::uint64_t>(n);
  }
}

void FrameStream::send(FrameType type, std::string_view body) {
  // One TLS record for header and a small body; a large body follows in its own writes.
  std::string header = encodeFrameHeader(type, body.size());
  if (body.size() <= 16 * 1024) {
    header.append(body);
    writeAll(header.data(), header.size());
    return;
  }
  writeAll(header.data(), header.size());
  writeAll(body.data(), body.size());
}

Frame FrameStream::receive() {
  unsigned char header[kFrameHeaderSize];
  readExactly(header, sizeof header);
  Frame frame;
  const std::uint32_t length = decodeFrameHeader(header, frame.type);
  frame.body.resize(length);
  readExactly(frame.body.data(), length);
  if (frame.type == FrameType::kError) {
    const auto error = frame.json();
    throw ProtocolError(error.value("code", "error"), error.value("message", "the peer refused"));
  }
  return frame;
}

Frame FrameStream::expect(FrameType type) {
  Frame frame = receive();
  if (frame.type != type) {
    throw ProtocolError("unexpected_frame", std::string("expected ") + frameTypeName(type) +
                                                ", received " + frameTypeName(frame.type));
  }
  return frame;
}

void FrameStream::abort() noexcept {
  shutdown(fd_, SHUT_RDWR);
}

void FrameStream::stopReading() noexcept {
  const std::uint64_t one = 1;
  if (write(wakeFd_, &one, sizeof one) < 0) shutdown(fd_, SHUT_RDWR);  // no eventfd: cut it
}

FrameListener::FrameListener(Options options, const security::TlsIdentity& identity,
                             Handler handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      context_(serverContext(identity)) {}

FrameListener::~FrameListener() {
  stop();
  SSL_CTX_free(context_);
}

void FrameListener::replaceIdentity(const security::TlsIdentity& identity) {
  SSL_CTX* replacement = serverContext(identity);
  std::lock_guard lock(mutex_);
  SSL_CTX_free(context_);  // open connections hold their own reference
  context_ = replacement;
}

void FrameListener::start() {
  ignoreBrokenPipes();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(options_.address.c_str(), std::to_string(options_.port).c_str(), &hints,
                  &found) != 0) {
    throw std::runtime_error("replication listener: bad address " + options_.address);
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> address(found, &freeaddrinfo);
  listenFd_ = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listenFd_ < 0 || bind(listenFd_, found->ai_addr, found->ai_addrlen) != 0 ||
      listen(listenFd_, 64) != 0) {
    const std::string error = std::strerror(errno);
    if (listenFd_ >= 0) close(listenFd_);
    listenFd_ = -1;
    throw std::runtime_error("replication listener cannot listen on " + options_.address + ":" +
                             std::to_string(options_.port) + ": " + error);
  }
  sockaddr_storage bound{};
  socklen_t boundLength = sizeof bound;
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&bound), &boundLength);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  acceptThread_ = std::thread([this] { acceptLoop(); });
}

void FrameListener::acceptLoop() {
  while (!stopping_) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      return;
    }
    std::lock_guard lock(mutex_);
    if (stopping_) {
      close(fd);
      return;
    }
    std::erase_if(connections_, [](Connection& connection) {
      if (!*connection.done) return false;
      connection.thread.join();
      return true;
    });
    openFds_.push_back(fd);
    auto done = std::make_shared<std::atomic<bool>>(false);
    connections_.push_back({std::thread([this, fd, done, peer = peerName(address)] {
                              serve(fd, peer);
                              *done = true;
                            }),
                            done});
  }
}

void FrameListener::serve(int fd, std::string peer) {
  setTimeouts(fd, options_.timeout);
  SSL* ssl = nullptr;
  {
    std::lock_guard lock(mutex_);
    ssl = SSL_new(context_);
  }
  FrameStream stream(fd, ssl, std::move(peer), options_.timeout);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    handler_(stream);
  } else {
    ERR_clear_error();  // a plaintext or pre-1.3 client: nothing to tell it
  }
  std::lock_guard lock(mutex_);
  openFds_.erase(std::remove(openFds_.begin(), openFds_.end(), fd), openFds_.end());
}

void FrameListener::stop() {
  if (stopping_.exchange(true)) return;
  if (listenFd_ >= 0) {
    shutdown(listenFd_, SHUT_RDWR);
    if (acceptThread_.joinable()) acceptThread_.join();
    close(listenFd_);
    listenFd_ = -1;
  }
  std::vector<Connection> running;
  {
    std::lock_guard lock(mutex_);
    for (int fd : openFds_) shutdown(fd, SHUT_RDWR);
    running.swap(connections_);
  }
  for (auto& connection : running) connection.thread.join();
}

}  // namespace warmsite::replication

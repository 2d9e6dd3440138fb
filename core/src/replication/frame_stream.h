#pragma once
// A TLS 1.3 connection that carries replication frames, on OpenSSL over a blocking socket with
// send and receive timeouts. The agent connects out (trusting the SP by its pinned certificate
// thumbprint, as the CLI does); the receiver's listener accepts and hands each connection to a
// handler on its own thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "replication/wire.h"
#include "security/certificates.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace warmsite::replication {

// The connection failed or timed out; the run may resume on a new one.
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ConnectOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6181;
  std::string pinnedThumbprint;  // required: the agent never trusts an unknown SP
  std::chrono::milliseconds timeout{30'000};
};

class FrameStream {
 public:
  static std::unique_ptr<FrameStream> connect(const ConnectOptions& options);
  ~FrameStream();
  FrameStream(const FrameStream&) = delete;
  FrameStream& operator=(const FrameStream&) = delete;

  void send(FrameType type, std::string_view body);
  void sendJson(FrameType type, const nlohmann::json& body) { send(type, body.dump()); }
  // An ERROR frame from the peer becomes a ProtocolError with its code and message.
  Frame receive();
  // Receives a frame and checks its type; ProtocolError otherwise.
  Frame expect(FrameType type);

  // Closes the connection at once (from another thread too): blocked calls fail.
  void abort() noexcept;
  // Wakes a receive blocked in another thread: it fails with TransportError, and the connection
  // stays usable for sending (the TLS state is untouched).
  void stopReading() noexcept;
  std::uint64_t bytesSent() const noexcept { return bytesSent_; }
  std::uint64_t bytesReceived() const noexcept { return bytesReceived_; }
  std::string peer() const { return peer_; }

 private:
  FrameStream(int fd, SSL* ssl, std::string peer, std::chrono::milliseconds timeout);
  void waitReadable();
  void readExactly(void* buffer, std::size_t length);
  void writeAll(const void* buffer, std::size_t length);
  friend class FrameListener;

  int fd_;
  int wakeFd_;  // an eventfd that stopReading signals
  SSL* ssl_;
  std::chrono::milliseconds timeout_;
  std::string peer_;
  std::uint64_t bytesSent_ = 0;
  std::uint64_t bytesReceived_ = 0;
};

class FrameListener {
 public:
  using Handler = std::function<void(FrameStream&)>;
  struct Options {
    std::string address = "0.0.0.0";
    std::uint16_t port = 6181;                  // 0 = any free port (tests)
    std::chrono::milliseconds timeout{60'000};  // a silent peer is dropped after this
  };

  FrameListener(Options options, const security::TlsIdentity& identity, Handler handler);
  ~FrameListener();

  void start();  // binds; std::runtime_error when it cannot
  std::uint16_t port() const noexcept { return port_; }
  void replaceIdentity(const security::TlsIdentity& identity);
  // Stops accepting, cuts open connections and waits for their handlers to return.
  void stop();

 private:
  void acceptLoop();
  void serve(int fd, std::string peer);

  Options options_;
  Handler handler_;
  std::mutex mutex_;
  SSL_CTX* context_ = nullptr;
  int listenFd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptThread_;
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Connection> connections_;  // finished ones are joined at the next accept
  std::vector<int> openFds_;
};

}  // namespace warmsite::replication

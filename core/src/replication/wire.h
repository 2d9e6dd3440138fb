#pragma once
// The replication protocol on the wire, tenant agent -> SP receiver over TLS 1.3. A frame is an
// 8-byte header (type, three zero bytes, body length as big-endian u32) and its body: JSON for the
// control frames, a binary record for an extent. The conversation is documented in
// docs/replication.md.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace warmsite::replication {

inline constexpr std::uint32_t kMaxExtentLength = 1u << 20;      // reader chunks are at most 1 MiB
inline constexpr std::uint32_t kMaxZeroExtentLength = 1u << 30;  // a zero extent carries no bytes
inline constexpr std::uint32_t kMaxFrameBody = kMaxExtentLength + 4096;
inline constexpr std::size_t kFrameHeaderSize = 8;
inline constexpr int kProtocolVersion = 1;

enum class FrameType : std::uint8_t {
  kHello = 1,        // agent: {"version", "token"}
  kWelcome = 2,      // receiver: {"version", "tenantId", "tenant"}
  kRunBegin = 3,     // agent: which replica, which disks, full or incremental, from which base
  kRunAccepted = 4,  // receiver: where to resume (disk index and offset)
  kExtent = 5,       // agent: one extent (binary)
  kRunCommit = 6,    // agent: the totals the receiver must have seen
  kCommitted = 7,    // receiver: the restore point the run became
  kError = 8,        // either side: {"code", "message"}; the sender closes afterwards
  // Failback: the same extents flow from the SP back to the agent.
  kFailbackBegin = 9,  // agent: which replica and disks, and what changed on its side
  kFailbackPlan = 10,  // SP: full or incremental, and per disk what it will send
  kFailbackDone = 11,  // SP: the totals sent; agent: they all landed
};

const char* frameTypeName(FrameType type) noexcept;

// A peer broke the protocol or refused the run; `code` is machine-readable.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

struct Frame {
  FrameType type = FrameType::kError;
  std::string body;

  nlohmann::json json() const;  // a control frame's body; ProtocolError when it is not JSON
};

std::string encodeFrameHeader(FrameType type, std::size_t bodyLength);
// Checks the type and the length limit; returns the body length.
std::uint32_t decodeFrameHeader(const unsigned char (&header)[kFrameHeaderSize], FrameType& type);

enum class ExtentKind : std::uint8_t { kData = 0, kZero = 1 };
enum class Codec : std::uint8_t { kNone = 0, kZstd = 1 };

struct Extent {
  std::uint16_t disk = 0;  // index into the run's disk list
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  ExtentKind kind = ExtentKind::kData;
  std::string data;  // the plain bytes of a data extent (length bytes); empty for a zero extent
};

struct PackedExtent {
  std::string body;  // the frame body
  Codec codec = Codec::kNone;
};

// Hashes the plain bytes (SHA-256) and compresses them with zstd when that makes them smaller.
PackedExtent packExtent(const Extent& extent, int compressionLevel);
// Decompresses and checks the hash; ProtocolError "extent_corrupt" when the bytes do not match.
// Takes the body so that uncompressed bytes stay in its buffer instead of being copied.
Extent unpackExtent(std::string body);

}  // namespace warmsite::replication

#include "replication/wire.h"

#include <openssl/evp.h>
#include <zstd.h>

#include <array>
#include <cstring>
#include <memory>

namespace warmsite::replication {

namespace {

// Extent record: disk u16, kind u8, codec u8, length u32, offset u64, SHA-256 of the plain bytes,
// then the payload (absent for a zero extent). Integers are big-endian.
constexpr std::size_t kExtentHeaderSize = 2 + 1 + 1 + 4 + 8 + 32;

void putBigEndian(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

std::uint64_t getBigEndian(const unsigned char* in, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | in[i];
  return value;
}

std::array<unsigned char, 32> sha256Of(const void* data, std::size_t length) {
  std::array<unsigned char, 32> digest{};
  unsigned int written = 0;
  EVP_Digest(data, length, digest.data(), &written, EVP_sha256(), nullptr);
  return digest;
}

// One compression and one decompression context per thread: creating them per extent costs more
// than compressing a 64 KiB extent.
ZSTD_CCtx* compressionContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context(ZSTD_createCCtx(),
                                                                            &ZSTD_freeCCtx);
  return context.get();
}

ZSTD_DCtx* decompressionContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> context(ZSTD_createDCtx(),
                                                                            &ZSTD_freeDCtx);
  return context.get();
}

}  // namespace

const char* frameTypeName(FrameType type) noexcept {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kWelcome:
      return "WELCOME";
    case FrameType::kRunBegin:
      return "RUN_BEGIN";
    case FrameType::kRunAccepted:
      return "RUN_ACCEPTED";
    case FrameType::kExtent:
      return "EXTENT";
    case FrameType::kRunCommit:
      return "RUN_COMMIT";
    case FrameType::kCommitted:
      return "COMMITTED";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kFailbackBegin:
      return "FAILBACK_BEGIN";
    case FrameType::kFailbackPlan:
      return "FAILBACK_PLAN";
    case FrameType::kFailbackDone:
      return "FAILBACK_DONE";
  }
  return "UNKNOWN";
}

nlohmann::json Frame::json() const {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    throw ProtocolError("bad_frame",
                        std::string(frameTypeName(type)) + " body is not a JSON object");
  }
  return parsed;
}

std::string encodeFrameHeader(FrameType type, std::size_t bodyLength) {
  std::string header;
  header += static_cast<char>(type);
  header.append(3, '\0');
  putBigEndian(header, bodyLength, 4);
  return header;
}

std::uint32_t decodeFrameHeader(const unsigned char (&header)[kFrameHeaderSize], FrameType& type) {
  if (header[0] < static_cast<unsigned char>(FrameType::kHello) ||
      header[0] > static_cast<unsigned char>(FrameType::kFailbackDone) || header[1] != 0 ||
      header[2] != 0 || header[3] != 0) {
    throw ProtocolError("bad_frame", "unknown frame type " + std::to_string(header[0]));
  }
  type = static_cast<FrameType>(header[0]);
  const auto length = static_cast<std::uint32_t>(getBigEndian(header + 4, 4));
  if (length > kMaxFrameBody) {
    throw ProtocolError("bad_frame", std::string(frameTypeName(type)) + " of " +
                                         std::to_string(length) + " bytes exceeds the limit of " +
                                         std::to_string(kMaxFrameBody));
  }
  return length;
}

PackedExtent packExtent(const Extent& extent, int compressionLevel) {
  PackedExtent packed;
  const bool data = extent.kind == ExtentKind::kData;
  std::array<unsigned char, 32> digest{};
  if (data) digest = sha256Of(extent.data.data(), extent.data.size());

  std::string& body = packed.body;
  body.reserve(kExtentHeaderSize + (data ? ZSTD_compressBound(extent.data.size()) : 0));
  putBigEndian(body, extent.disk, 2);
  body += static_cast<char>(extent.kind);
  const std::size_t codecAt = body.size();
  body += static_cast<char>(Codec::kNone);
  putBigEndian(body, extent.length, 4);
  putBigEndian(body, extent.offset, 8);
  body.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  if (!data) return packed;

  if (compressionLevel > 0) {
    const std::size_t bound = ZSTD_compressBound(extent.data.size());
    body.resize(kExtentHeaderSize + bound);
    const std::size_t size =
        ZSTD_compressCCtx(compressionContext(), body.data() + kExtentHeaderSize, bound,
                          extent.data.data(), extent.data.size(), compressionLevel);
    if (!ZSTD_isError(size) && size < extent.data.size()) {
      body.resize(kExtentHeaderSize + size);
      body[codecAt] = static_cast<char>(Codec::kZstd);
      packed.codec = Codec::kZstd;
      return packed;
    }
    body.resize(kExtentHeaderSize);  // incompressible: plain bytes cost less to unpack
  }
  body += extent.data;
  return packed;
}

Extent unpackExtent(std::string body) {
  if (body.size() < kExtentHeaderSize) {
    throw ProtocolError("bad_frame", "EXTENT body of " + std::to_string(body.size()) +
                                         " bytes is shorter than its header");
  }
  const auto* in = reinterpret_cast<const unsigned char*>(body.data());
  Extent extent;
  extent.disk = static_cast<std::uint16_t>(getBigEndian(in, 2));
  const unsigned char kind = in[2];
  const unsigned char codec = in[3];
  extent.length = static_cast<std::uint32_t>(getBigEndian(in + 4, 4));
  extent.offset = getBigEndian(in + 8, 8);
  unsigned char digest[32];
  std::memcpy(digest, in + 16, sizeof digest);
  const std::string_view payload = std::string_view(body).substr(kExtentHeaderSize);

  if (kind > static_cast<unsigned char>(ExtentKind::kZero) ||
      codec > static_cast<unsigned char>(Codec::kZstd)) {
    throw ProtocolError("bad_frame", "EXTENT has an unknown kind or codec");
  }
  extent.kind = static_cast<ExtentKind>(kind);
  const std::uint32_t limit =
      extent.kind == ExtentKind::kZero ? kMaxZeroExtentLength : kMaxExtentLength;
  if (extent.length == 0 || extent.length > limit) {
    throw ProtocolError("bad_frame", "EXTENT length " + std::to_string(extent.length) +
                                         " is outside 1.." + std::to_string(limit));
  }
  if (extent.kind == ExtentKind::kZero) {
    if (!payload.empty()) throw ProtocolError("bad_frame", "a zero EXTENT carries no payload");
    return extent;
  }

  if (static_cast<Codec>(codec) == Codec::kZstd) {
    extent.data.resize(extent.length);
    const std::size_t size =
        ZSTD_decompressDCtx(decompressionContext(), extent.data.data(), extent.data.size(),
                            payload.data(), payload.size());
    if (ZSTD_isError(size) || size != extent.length) {
      throw ProtocolError("extent_corrupt", "extent at offset " + std::to_string(extent.offset) +
                                                " does not decompress to its length");
    }
  } else {
    if (payload.size() != extent.length) {
      throw ProtocolError("extent_corrupt", "extent at offset " + std::to_string(extent.offset) +
                                                " carries " + std::to_string(payload.size()) +
                                                " bytes instead of " +
                                                std::to_string(extent.length));
    }
    body.erase(0, kExtentHeaderSize);  // in place: no new buffer for the bytes
    extent.data = std::move(body);
  }
  const auto actual = sha256Of(extent.data.data(), extent.data.size());
  if (std::memcmp(actual.data(), digest, actual.size()) != 0) {
    throw ProtocolError("extent_corrupt", "extent at offset " + std::to_string(extent.offset) +
                                              " fails its SHA-256 check");
  }
  return extent;
}

}  // namespace warmsite::replication

// The replication protocol's frames and extent records, without a network.
#include <gtest/gtest.h>

#include <random>

#include "replication/wire.h"

namespace warmsite::replication {
namespace {

std::string randomBytes(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(generator());
  return bytes;
}

Extent dataExtent(std::string bytes, std::uint64_t offset = 65536) {
  Extent extent;
  extent.disk = 1;
  extent.offset = offset;
  extent.length = static_cast<std::uint32_t>(bytes.size());
  extent.data = std::move(bytes);
  return extent;
}

TEST(ReplicationWire, CompressibleExtentTravelsCompressedAndUnpacksToItsBytes) {
  const auto extent = dataExtent(std::string(256 * 1024, 'a') + randomBytes(1024, 1));
  const auto packed = packExtent(extent, 1);
  EXPECT_EQ(packed.codec, Codec::kZstd);
  EXPECT_LT(packed.body.size(), extent.data.size() / 10);
  const auto unpacked = unpackExtent(packed.body);
  EXPECT_EQ(unpacked.disk, 1);
  EXPECT_EQ(unpacked.offset, 65536u);
  EXPECT_EQ(unpacked.kind, ExtentKind::kData);
  EXPECT_EQ(unpacked.data, extent.data);
}

TEST(ReplicationWire, IncompressibleExtentTravelsPlain) {
  const auto extent = dataExtent(randomBytes(128 * 1024, 2));
  const auto packed = packExtent(extent, 1);
  EXPECT_EQ(packed.codec, Codec::kNone);
  EXPECT_EQ(unpackExtent(packed.body).data, extent.data);
  EXPECT_EQ(packExtent(extent, 0).codec, Codec::kNone);  // level 0: never compressed
}

TEST(ReplicationWire, ZeroExtentCarriesNoPayload) {
  Extent zero;
  zero.offset = 1 << 20;
  zero.length = 512u << 20;  // larger than a data extent may be
  zero.kind = ExtentKind::kZero;
  const auto packed = packExtent(zero, 1);
  EXPECT_EQ(packed.body.size(), 48u);
  const auto unpacked = unpackExtent(packed.body);
  EXPECT_EQ(unpacked.kind, ExtentKind::kZero);
  EXPECT_EQ(unpacked.length, 512u << 20);
  EXPECT_TRUE(unpacked.data.empty());
}

TEST(ReplicationWire, AFlippedBitInThePayloadIsRefusedByItsHash) {
  for (const auto& bytes : {randomBytes(4096, 3), std::string(4096, 'z')}) {
    auto packed = packExtent(dataExtent(bytes), 1);
    packed.body[packed.body.size() - 7] ^= 0x10;
    try {
      unpackExtent(packed.body);
      FAIL() << "a corrupted extent was accepted";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.code(), "extent_corrupt") << e.what();
    }
  }
}

TEST(ReplicationWire, MalformedRecordsAreRefused) {
  const auto packed = packExtent(dataExtent(randomBytes(4096, 4)), 0);
  auto expectCode = [](std::string body, const std::string& code) {
    try {
      unpackExtent(body);
      ADD_FAILURE() << "accepted a malformed extent";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.code(), code) << e.what();
    }
  };
  expectCode(packed.body.substr(0, 20), "bad_frame");  // shorter than its header
  expectCode(packed.body.substr(0, packed.body.size() - 1), "extent_corrupt");  // short payload
  auto badKind = packed.body;
  badKind[2] = 7;
  expectCode(badKind, "bad_frame");
  auto tooLong = packed.body;
  tooLong[4] = 0x7f;  // length far beyond 1 MiB
  expectCode(tooLong, "bad_frame");
}

TEST(ReplicationWire, FrameHeaderRoundTripsAndRefusesUnknownTypesAndHugeBodies) {
  const auto header = encodeFrameHeader(FrameType::kRunCommit, 1234);
  ASSERT_EQ(header.size(), kFrameHeaderSize);
  unsigned char raw[kFrameHeaderSize];
  std::copy(header.begin(), header.end(), raw);
  FrameType type{};
  EXPECT_EQ(decodeFrameHeader(raw, type), 1234u);
  EXPECT_EQ(type, FrameType::kRunCommit);
  raw[0] = 42;
  EXPECT_THROW(decodeFrameHeader(raw, type), ProtocolError);
  const auto huge = encodeFrameHeader(FrameType::kExtent, kMaxFrameBody + 1);
  std::copy(huge.begin(), huge.end(), raw);
  EXPECT_THROW(decodeFrameHeader(raw, type), ProtocolError);
}

}  // namespace
}  // namespace warmsite::replication

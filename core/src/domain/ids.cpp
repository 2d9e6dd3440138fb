#include "domain/ids.h"

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace warmsite::domain {

std::string newId(std::string_view prefix) {
  constexpr std::size_t kTimeBytes = 6;
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data() + kTimeBytes, static_cast<int>(bytes.size() - kTimeBytes)) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed: no randomness for a new id");
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  for (std::size_t i = 0; i < kTimeBytes; ++i)
    bytes[i] = static_cast<unsigned char>(ms >> (8 * (kTimeBytes - 1 - i)));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  id += '-';
  for (unsigned char byte : bytes) {
    id += kHex[byte >> 4];
    id += kHex[byte & 0x0f];
  }
  return id;
}

}  // namespace warmsite::domain

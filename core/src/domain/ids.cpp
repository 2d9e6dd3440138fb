#include "domain/ids.h"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace warmsite::domain {

std::string newId(std::string_view prefix) {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed: no randomness for a new id");
  }
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

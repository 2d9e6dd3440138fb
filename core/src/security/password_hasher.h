#pragma once
// Password hashing with scrypt (OpenSSL's EVP_KDF), memory-hard as OWASP asks. The hash string
// carries its parameters, so raising the cost later keeps old hashes verifiable:
//   $scrypt$ln=16,r=8,p=1$<salt base64>$<hash base64>

#include <string>
#include <string_view>

namespace warmsite::security {

struct ScryptCost {
  int logN = 16;  // N = 2^16: 64 MiB per hash with r = 8
  int r = 8;
  int p = 1;
};

class PasswordHasher {
 public:
  explicit PasswordHasher(ScryptCost cost = {}) : cost_(cost) {}

  std::string hash(std::string_view password) const;
  // Constant-time comparison; false for a malformed hash string.
  bool verify(std::string_view password, std::string_view hashString) const;

 private:
  ScryptCost cost_;
};

}  // namespace warmsite::security

#pragma once
// How the store keeps secrets (cloud host configs) encrypted at rest without knowing the
// algorithm: security/secret_box.h implements it with AES-256-GCM.

#include <string>
#include <string_view>

namespace warmsite::store {

class SecretCipher {
 public:
  virtual ~SecretCipher() = default;
  // `aad` binds the ciphertext to its row (e.g. "cloud_host:<id>"), so one cannot be swapped for
  // another. open() throws std::runtime_error when the text was altered or the key is wrong.
  virtual std::string seal(std::string_view plaintext, std::string_view aad) const = 0;
  virtual std::string open(std::string_view sealed, std::string_view aad) const = 0;
};

}  // namespace warmsite::store

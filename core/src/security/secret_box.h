#pragma once
// Secrets at rest: AES-256-GCM with a fresh 96-bit nonce per message and the row's identity as
// associated data. The key lives in a file only its owner may read (0600), created on first use.

#include <filesystem>
#include <memory>
#include <string>

#include "store/secret_cipher.h"

namespace warmsite::security {

class SecretBox final : public store::SecretCipher {
 public:
  // Loads the key, creating the file (mode 0600) when it does not exist. Throws
  // std::runtime_error when it is unreadable, malformed, or readable by group or others.
  static std::shared_ptr<SecretBox> fromKeyFile(const std::filesystem::path& path);

  explicit SecretBox(std::string key) : key_(std::move(key)) {}

  // "v1:" + base64(nonce || ciphertext || tag)
  std::string seal(std::string_view plaintext, std::string_view aad) const override;
  std::string open(std::string_view sealed, std::string_view aad) const override;

 private:
  std::string key_;  // 32 bytes
};

}  // namespace warmsite::security

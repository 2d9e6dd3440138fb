#include "security/secret_box.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "security/encoding.h"

namespace warmsite::security {

namespace {

constexpr std::size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;
constexpr std::string_view kVersion = "v1:";

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

unsigned char* bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}
const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::shared_ptr<SecretBox> SecretBox::fromKeyFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd >= 0) {  // first start: a new key
    const std::string text = base64Encode(randomBytes(kKeyBytes)) + "\n";
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::fsync(fd);
    ::close(fd);
    if (!written) throw std::runtime_error("cannot write key file " + path.string());
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw std::runtime_error("cannot read key file " + path.string());
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", info.st_mode & 07777);
    throw std::runtime_error("key file " + path.string() + " has mode " + mode +
                             "; it must be readable by its owner only (chmod 600)");
  }
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  const auto key = base64Decode(text);
  if (!key || key->size() != kKeyBytes) {
    throw std::runtime_error("key file " + path.string() + " does not hold a base64 256-bit key");
  }
  return std::make_shared<SecretBox>(*key);
}

std::string SecretBox::seal(std::string_view plaintext, std::string_view aad) const {
  std::string nonce = randomBytes(kNonceBytes);
  std::string out = nonce + std::string(plaintext.size() + kTagBytes, '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int length = 0;
  unsigned char* cipherText = bytes(out) + kNonceBytes;
  if (!ctx ||
      EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), bytes(key_), bytes(nonce), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, bytes(aad), static_cast<int>(aad.size())) !=
          1 ||
      EVP_EncryptUpdate(ctx.get(), cipherText, &length, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), cipherText + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          cipherText + plaintext.size()) != 1) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  return std::string(kVersion) + base64Encode(out);
}

std::string SecretBox::open(std::string_view sealed, std::string_view aad) const {
  if (!sealed.starts_with(kVersion)) throw std::runtime_error("unknown secret format");
  const auto raw = base64Decode(sealed.substr(kVersion.size()));
  if (!raw || raw->size() < kNonceBytes + kTagBytes)
    throw std::runtime_error("secret is truncated");
  const std::string_view all(*raw);
  const auto nonce = all.substr(0, kNonceBytes);
  const auto cipherText = all.substr(kNonceBytes, all.size() - kNonceBytes - kTagBytes);
  std::string tag(all.substr(all.size() - kTagBytes));
  std::string plaintext(cipherText.size(), '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int length = 0;
  if (!ctx ||
      EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), bytes(key_), bytes(nonce), nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, bytes(aad), static_cast<int>(aad.size())) !=
          1 ||
      EVP_DecryptUpdate(ctx.get(), bytes(plaintext), &length, bytes(cipherText),
                        static_cast<int>(cipherText.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), bytes(plaintext) + length, &length) != 1) {
    throw std::runtime_error(
        "secret failed authentication (altered, moved to another row, or another key)");
  }
  return plaintext;
}

}  // namespace warmsite::security

#include "security/password_hasher.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include "security/encoding.h"

namespace warmsite::security {

namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

std::string deriveKey(std::string_view password, std::string_view salt, const ScryptCost& cost) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr),
                                                        &EVP_KDF_free);
  if (!kdf) throw std::runtime_error("OpenSSL has no SCRYPT KDF");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  std::uint64_t n = std::uint64_t{1} << cost.logN;
  std::uint32_t r = static_cast<std::uint32_t>(cost.r), p = static_cast<std::uint32_t>(cost.p);
  // 128 * N * r bytes, plus headroom: the 32 MiB default refuses N = 2^17.
  std::uint64_t maxMemory = 128 * n * r * p + (std::uint64_t{16} << 20);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxMemory),
      OSSL_PARAM_construct_end()};
  std::string key(kHashBytes, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(key.data()), key.size(), params) !=
      1) {
    throw std::runtime_error("scrypt failed (out of memory?)");
  }
  return key;
}

}  // namespace

std::string PasswordHasher::hash(std::string_view password) const {
  const std::string salt = randomBytes(kSaltBytes);
  char header[64];
  std::snprintf(header, sizeof header, "$scrypt$ln=%d,r=%d,p=%d$", cost_.logN, cost_.r, cost_.p);
  return header + base64Encode(salt) + "$" + base64Encode(deriveKey(password, salt, cost_));
}

bool PasswordHasher::verify(std::string_view password, std::string_view hashString) const {
  ScryptCost cost;
  char saltText[64] = {}, hashText[64] = {};
  const std::string copy(hashString);
  if (std::sscanf(copy.c_str(), "$scrypt$ln=%d,r=%d,p=%d$%63[^$]$%63s", &cost.logN, &cost.r,
                  &cost.p, saltText, hashText) != 5 ||
      cost.logN < 1 || cost.logN > 22 || cost.r < 1 || cost.r > 32 || cost.p < 1 || cost.p > 16) {
    return false;
  }
  const auto salt = base64Decode(saltText);
  const auto expected = base64Decode(hashText);
  if (!salt || !expected || expected->size() != kHashBytes) return false;
  const std::string actual = deriveKey(password, *salt, cost);
  return CRYPTO_memcmp(actual.data(), expected->data(), kHashBytes) == 0;
}

}  // namespace warmsite::security

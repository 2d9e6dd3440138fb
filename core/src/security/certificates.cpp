#include "security/certificates.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "security/encoding.h"

namespace warmsite::security {

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::string opensslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "no OpenSSL detail" : text;
}

[[noreturn]] void fail(const std::string& what) {
  throw CertificateError(what + " (" + opensslErrors() + ")");
}

BioPtr memoryBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string pemOf(X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), certificate);
  return bioText(bio.get());
}

std::string pemOf(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bioText(bio.get());
}

std::string nameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return bioText(bio.get());
}

std::int64_t unixTime(const ASN1_TIME* time) {
  struct tm parts {};
  ASN1_TIME_to_tm(time, &parts);
  return static_cast<std::int64_t>(timegm(&parts));
}

CertificateInfo describe(X509* certificate) {
  CertificateInfo info;
  info.subject = nameText(X509_get_subject_name(certificate));
  info.issuer = nameText(X509_get_issuer_name(certificate));
  info.selfSigned =
      X509_NAME_cmp(X509_get_subject_name(certificate), X509_get_issuer_name(certificate)) == 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(certificate, EVP_sha256(), digest, &length);
  info.thumbprintSha256 = hexEncode(std::string_view(reinterpret_cast<char*>(digest), length), ':');
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> serial(
      ASN1_INTEGER_to_BN(X509_get_serialNumber(certificate), nullptr));
  char* serialHex = BN_bn2hex(serial.get());
  info.serial = serialHex;
  OPENSSL_free(serialHex);
  info.notBeforeUnix = unixTime(X509_get0_notBefore(certificate));
  info.notAfterUnix = unixTime(X509_get0_notAfter(certificate));
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      info.subjectAltNames.push_back(
          "DNS:" +
          std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                      static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName))));
    } else if (name->type == GEN_IPADD) {
      const auto* raw = ASN1_STRING_get0_data(name->d.iPAddress);
      const int length = ASN1_STRING_length(name->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = "?";
      if (length == 4 || length == 16)
        inet_ntop(length == 4 ? AF_INET : AF_INET6, raw, text, sizeof text);
      info.subjectAltNames.push_back("IP:" + std::string(text));
    }
  }
  GENERAL_NAMES_free(names);
  return info;
}

void addExtension(X509* certificate, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, certificate, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (extension == nullptr) fail("certificate extension " + value);
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

TlsIdentity finish(X509* leaf, EVP_PKEY* key, const std::vector<X509*>& intermediates) {
  if (X509_check_private_key(leaf, key) != 1) {
    ERR_clear_error();
    throw CertificateError("the private key does not match the certificate");
  }
  TlsIdentity identity;
  identity.info = describe(leaf);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (identity.info.notAfterUnix <= now) {
    throw CertificateError("the certificate expired (not after " +
                           std::to_string(identity.info.notAfterUnix) + " unix time)");
  }
  if (identity.info.notBeforeUnix > now + 300)
    throw CertificateError("the certificate is not valid yet");
  identity.certificateChainPem = pemOf(leaf);
  for (X509* intermediate : intermediates) identity.certificateChainPem += pemOf(intermediate);
  identity.privateKeyPem = pemOf(key);
  return identity;
}

// Old Windows exports and `openssl pkcs12 -legacy` use RC2/3DES, which OpenSSL 3 keeps in the
// legacy provider; loading it explicitly unloads nothing, so default must be loaded too.
void loadLegacyProvider() {
  static std::once_flag once;
  std::call_once(once, [] {
    OSSL_PROVIDER_load(nullptr, "legacy");
    OSSL_PROVIDER_load(nullptr, "default");
  });
}

}  // namespace

TlsIdentity generateSelfSigned(const std::vector<std::string>& dnsNames,
                               const std::vector<std::string>& ipAddresses, int validDays) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an ECDSA P-256 key");
  X509Ptr certificate(X509_new());
  X509_set_version(certificate.get(), 2);
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> serial(BN_new());
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate.get()));
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), static_cast<long>(validDays) * 24 * 3600);
  X509_set_pubkey(certificate.get(), key.get());
  X509_NAME* name = X509_get_subject_name(certificate.get());
  const std::string commonName = dnsNames.empty() ? "warmsite" : dnsNames.front();
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Warmsite"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0);
  X509_set_issuer_name(certificate.get(), name);
  std::string sans;
  for (const auto& dns : dnsNames) sans += (sans.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : ipAddresses) sans += (sans.empty() ? "IP:" : ",IP:") + ip;
  addExtension(certificate.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(certificate.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  addExtension(certificate.get(), NID_ext_key_usage, "serverAuth");
  addExtension(certificate.get(), NID_subject_key_identifier, "hash");
  if (!sans.empty()) addExtension(certificate.get(), NID_subject_alt_name, sans);
  if (X509_sign(certificate.get(), key.get(), EVP_sha256()) == 0)
    fail("cannot sign the certificate");
  return finish(certificate.get(), key.get(), {});
}

TlsIdentity importPem(std::string_view certificateChainPem, std::string_view privateKeyPem,
                      std::string_view passphrase) {
  auto certBio = memoryBio(certificateChainPem);
  X509Ptr leaf(PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr));
  if (!leaf) fail("the certificate is not PEM (-----BEGIN CERTIFICATE-----)");
  std::vector<X509Ptr> chain;
  while (X509* next = PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr))
    chain.emplace_back(next);
  ERR_clear_error();  // the end of the chain reads as an error
  auto keyBio = memoryBio(privateKeyPem);
  const std::string pass(passphrase);
  KeyPtr key(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr,
                                     pass.empty() ? nullptr : const_cast<char*>(pass.c_str())));
  if (!key) fail("the private key is not PEM, or its passphrase is wrong");
  std::vector<X509*> intermediates;
  for (auto& c : chain) intermediates.push_back(c.get());
  return finish(leaf.get(), key.get(), intermediates);
}

TlsIdentity importPkcs12(std::string_view der, std::string_view password) {
  loadLegacyProvider();
  auto bio = memoryBio(der);
  std::unique_ptr<PKCS12, Deleter<PKCS12, PKCS12_free>> p12(d2i_PKCS12_bio(bio.get(), nullptr));
  if (!p12) fail("the file is not PKCS#12 (.pfx/.p12)");
  EVP_PKEY* rawKey = nullptr;
  X509* rawLeaf = nullptr;
  STACK_OF(X509)* rawChain = nullptr;
  const std::string pass(password);
  if (PKCS12_parse(p12.get(), pass.c_str(), &rawKey, &rawLeaf, &rawChain) != 1) {
    fail("cannot open the PKCS#12 file: wrong password or unsupported encryption");
  }
  KeyPtr key(rawKey);
  X509Ptr leaf(rawLeaf);
  std::vector<X509*> intermediates;
  for (int i = 0; rawChain != nullptr && i < sk_X509_num(rawChain); ++i) {
    intermediates.push_back(sk_X509_value(rawChain, i));
  }
  if (!key || !leaf) {
    sk_X509_pop_free(rawChain, X509_free);
    throw CertificateError("the PKCS#12 file holds no certificate with its private key");
  }
  try {
    auto identity = finish(leaf.get(), key.get(), intermediates);
    sk_X509_pop_free(rawChain, X509_free);
    return identity;
  } catch (...) {
    sk_X509_pop_free(rawChain, X509_free);
    throw;
  }
}

bool CertificateFiles::exists() const {
  return std::filesystem::exists(directory_ / "server.crt") &&
         std::filesystem::exists(directory_ / "server.key");
}

TlsIdentity CertificateFiles::load() const {
  auto read = [](const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw CertificateError("cannot read " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  try {
    return importPem(read(directory_ / "server.crt"), read(directory_ / "server.key"));
  } catch (const CertificateError& e) {
    throw CertificateError("TLS identity in " + directory_.string() + ": " + e.what());
  }
}

void CertificateFiles::save(const TlsIdentity& identity) const {
  std::filesystem::create_directories(directory_);
  auto write = [&](const std::string& name, const std::string& text, mode_t mode) {
    const auto temporary = directory_ / (name + ".tmp");
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) throw CertificateError("cannot write " + temporary.string());
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::fchmod(fd, mode);
    ::close(fd);
    if (!ok) throw CertificateError("cannot write " + temporary.string());
    return temporary;
  };
  // Key first, then certificate: a crash between the renames leaves a new key and the old
  // certificate, which load() refuses as a mismatch rather than serving silently.
  const auto key = write("server.key", identity.privateKeyPem, 0600);
  const auto certificate = write("server.crt", identity.certificateChainPem, 0644);
  std::filesystem::rename(key, directory_ / "server.key");
  std::filesystem::rename(certificate, directory_ / "server.crt");
}

}  // namespace warmsite::security

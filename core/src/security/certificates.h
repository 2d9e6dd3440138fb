#pragma once
// The listener's TLS identity: generated on first start (self-signed, ECDSA P-256, with SANs) or
// imported by the SP as PEM or PKCS#12 (legacy RC2/3DES files too). Tenants pin its SHA-256
// thumbprint.

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace warmsite::security {

class CertificateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CertificateInfo {
  std::string subject;
  std::string issuer;
  std::vector<std::string> subjectAltNames;  // "DNS:host", "IP:1.2.3.4"
  std::string
      thumbprintSha256;  // hex pairs separated by ':', as `openssl x509 -fingerprint -sha256`
  std::string serial;
  std::int64_t notBeforeUnix = 0;
  std::int64_t notAfterUnix = 0;
  bool selfSigned = false;
};

struct TlsIdentity {
  std::string certificateChainPem;  // leaf first
  std::string privateKeyPem;        // unencrypted PKCS#8
  CertificateInfo info;
};

TlsIdentity generateSelfSigned(const std::vector<std::string>& dnsNames,
                               const std::vector<std::string>& ipAddresses, int validDays = 825);
// Checks that the key matches the leaf and the leaf is within its validity period.
TlsIdentity importPem(std::string_view certificateChainPem, std::string_view privateKeyPem,
                      std::string_view passphrase = {});
TlsIdentity importPkcs12(std::string_view der, std::string_view password);

// Where the identity lives on disk: <dir>/server.crt and <dir>/server.key (0600), replaced
// atomically so a crash never leaves a key that does not match its certificate.
class CertificateFiles {
 public:
  explicit CertificateFiles(std::filesystem::path directory) : directory_(std::move(directory)) {}

  bool exists() const;
  TlsIdentity load() const;
  void save(const TlsIdentity& identity) const;

 private:
  std::filesystem::path directory_;
};

}  // namespace warmsite::security

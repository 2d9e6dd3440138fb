#include "security/tls_identity_manager.h"

namespace warmsite::security {

TlsIdentityManager::TlsIdentityManager(CertificateFiles files, std::vector<std::string> dnsNames,
                                       std::vector<std::string> ipAddresses)
    : files_(std::move(files)),
      dnsNames_(std::move(dnsNames)),
      ipAddresses_(std::move(ipAddresses)) {
  if (files_.exists()) {
    current_ = files_.load();
  } else {
    current_ = generateSelfSigned(dnsNames_, ipAddresses_);
    files_.save(current_);
  }
}

TlsIdentity TlsIdentityManager::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void TlsIdentityManager::onReplace(Listener listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

void TlsIdentityManager::replace(const TlsIdentity& identity) {
  std::lock_guard lock(mutex_);
  for (const auto& listener : listeners_) {
    try {
      listener(identity);
    } catch (const std::exception& e) {
      throw CertificateError(std::string("the listener cannot use this certificate: ") + e.what());
    }
  }
  files_.save(identity);
  current_ = identity;
}

TlsIdentity TlsIdentityManager::regenerate(const std::vector<std::string>& dnsNames,
                                           const std::vector<std::string>& ipAddresses) {
  auto identity = generateSelfSigned(dnsNames, ipAddresses);
  replace(identity);
  return identity;
}

}  // namespace warmsite::security

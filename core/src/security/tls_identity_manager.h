#pragma once
// The listener's current TLS identity: loaded from the data directory, generated on first start,
// replaced by an import. Listeners subscribe and switch without a restart.

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "security/certificates.h"

namespace warmsite::security {

class TlsIdentityManager {
 public:
  using Listener = std::function<void(const TlsIdentity&)>;

  // Loads <directory>/server.{crt,key}, or generates and saves a self-signed identity with these
  // names when there is none. Throws CertificateError when the files exist but are unusable.
  TlsIdentityManager(CertificateFiles files, std::vector<std::string> dnsNames,
                     std::vector<std::string> ipAddresses);

  TlsIdentity current() const;
  void onReplace(Listener listener);

  // Validates with every listener (which may refuse, e.g. a context that will not load) before
  // saving, so a bad import leaves the running identity in place. Throws CertificateError.
  void replace(const TlsIdentity& identity);
  TlsIdentity regenerate(const std::vector<std::string>& dnsNames,
                         const std::vector<std::string>& ipAddresses);

  const std::vector<std::string>& dnsNames() const noexcept { return dnsNames_; }
  const std::vector<std::string>& ipAddresses() const noexcept { return ipAddresses_; }

 private:
  CertificateFiles files_;
  std::vector<std::string> dnsNames_;
  std::vector<std::string> ipAddresses_;
  mutable std::mutex mutex_;
  TlsIdentity current_;
  std::vector<Listener> listeners_;
};

}  // namespace warmsite::security

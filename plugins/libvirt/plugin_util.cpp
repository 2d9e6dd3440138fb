#include "plugin_util.h"

#include <cctype>
#include <cstdio>
#include <random>

#include "names.h"
#include "power_monitor.h"
#include "xml.h"

namespace warmsite::libvirtplugin {

using plugin::ErrorCode;

plugin::Status checkId(const char* field, const std::string& value) {
  if (value.empty() || value.size() > 128 || !xmlSafe(value)) {
    return plugin::makeError(
        ErrorCode::kInvalidArgument,
        std::string(field) + " must be 1-128 bytes of UTF-8 text, got \"" + value + "\"");
  }
  return {};
}

plugin::Status checkText(const char* field, const std::string& value) {
  if (!xmlSafe(value)) {
    return plugin::makeError(ErrorCode::kInvalidArgument,
                             std::string(field) + " must be UTF-8 text without control characters");
  }
  return {};
}

plugin::Error notFound(const std::string& what, const std::string& id) {
  return plugin::makeError(ErrorCode::kNotFound, what + " " + id + " not found");
}

std::string uuidOf(virDomainPtr domain) {
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  virDomainGetUUIDString(domain, uuid);
  return uuid;
}

std::string uuidOf(virNetworkPtr network) {
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  virNetworkGetUUIDString(network, uuid);
  return uuid;
}

std::string randomMac() {
  thread_local std::mt19937 engine{std::random_device{}()};
  std::uniform_int_distribution<int> octet(0, 255);
  char mac[18];
  std::snprintf(mac, sizeof mac, "52:54:00:%02x:%02x:%02x", octet(engine), octet(engine),
                octet(engine));
  return mac;
}

bool validUnicastMac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (std::size_t i = 0; i < mac.size(); ++i) {
    const bool colon = i % 3 == 2;
    if (colon != (mac[i] == ':')) return false;
    if (!colon && !std::isxdigit(static_cast<unsigned char>(mac[i]))) return false;
  }
  return (std::stoi(mac.substr(0, 2), nullptr, 16) & 1) == 0;
}

plugin::Result<DomainHandle> lookupDomain(virConnectPtr conn, const std::string& machineId) {
  DomainHandle domain(virDomainLookupByName(conn, domainName(machineId).c_str()));
  if (domain) return domain;
  if (lastErrorCode() == VIR_ERR_NO_DOMAIN) return notFound("machine", machineId);
  return lastError("looking up machine " + machineId);
}

plugin::Result<int> domainState(virDomainPtr domain) {
  int state = 0, reason = 0;
  if (virDomainGetState(domain, &state, &reason, 0) < 0) return lastError("reading domain state");
  return state;
}

plugin::Result<DomainPower> lookupWithPower(virConnectPtr conn, const std::string& machineId) {
  auto domain = lookupDomain(conn, machineId);
  if (!domain.ok()) return std::move(domain).error();
  auto state = domainState(domain->get());
  if (!state.ok()) return std::move(state).error();
  return DomainPower{std::move(domain).value(), powerOf(*state)};
}

plugin::Result<SnapshotHandle> lookupRestorePoint(virDomainPtr domain, const std::string& replicaId,
                                                  const std::string& restorePointId) {
  SnapshotHandle snapshot(
      virDomainSnapshotLookupByName(domain, snapshotName(restorePointId).c_str(), 0));
  if (snapshot) return snapshot;
  if (lastErrorCode() == VIR_ERR_NO_DOMAIN_SNAPSHOT) {
    return notFound("restore point", restorePointId + " of " + replicaId);
  }
  return lastError("looking up restore point " + restorePointId);
}

}  // namespace warmsite::libvirtplugin

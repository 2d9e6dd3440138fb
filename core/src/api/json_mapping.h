#pragma once
// How entities look in API responses (snake_case fields, times as Unix seconds, limits as a number
// or "unlimited"). Secrets never leave: cloud host configs are shown redacted.

#include <nlohmann/json.hpp>

#include "domain/entities.h"
#include "security/certificates.h"

namespace warmsite::api {

nlohmann::json toJson(const domain::Tenant& tenant);
nlohmann::json toJson(const domain::Account& account);
nlohmann::json toJson(const domain::CloudHost& host, const nlohmann::json& status);
nlohmann::json toJson(const domain::VlanRange& range);
nlohmann::json toJson(const domain::PublicIp& ip);
nlohmann::json toJson(const domain::HardwarePlan& plan);
nlohmann::json toJson(const domain::Subscription& subscription);
nlohmann::json toJson(const domain::Task& task);
nlohmann::json toJson(const domain::AuditEntry& entry);
nlohmann::json toJson(const security::CertificateInfo& info);
nlohmann::json toJson(const domain::Replica& replica);
nlohmann::json toJson(const domain::RestorePoint& point);
nlohmann::json toJson(const domain::ReplicationJob& job);
nlohmann::json toJson(const domain::ReplicationRun& run);
nlohmann::json toJson(const domain::FailoverPlan& plan);
// A session without its VMs' list (counts and progress only): what a 202 carries, whatever the
// plan's size.
nlohmann::json toSummaryJson(const domain::FailoverSession& session);
nlohmann::json toJson(const domain::FailoverSession& session);

// Replaces the values of keys that look secret ("password", "secret", "token", "key") with
// "********".
nlohmann::json redactSecrets(const nlohmann::json& config);

template <typename T>
nlohmann::json toJsonArray(const std::vector<T>& items) {
  auto array = nlohmann::json::array();
  for (const auto& item : items) array.push_back(toJson(item));
  return array;
}

}  // namespace warmsite::api

#pragma once
// Validation rules of the domain, as pure functions: each returns nullopt when the value is
// acceptable, else a message that says what is wrong and names the value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/entities.h"

namespace warmsite::domain {

inline constexpr std::size_t kMaxNameLength = 128;
inline constexpr std::uint32_t kMaxNetworksPerPlan = 64;
inline constexpr std::uint64_t kMaxStorageQuotaGb = 2'097'151;  // what Veeam's cmdlets accept
inline constexpr std::uint32_t kMaxPublicIpsPerSubscription = 9999;

using Problem = std::optional<std::string>;

// Tenant and account names: 1-128 characters, none of + ] [ , \ / : * ? " < > | = ; @, not
// ending in '.', no control characters (Veeam Cloud Connect's rule for tenant names).
Problem checkAccountName(std::string_view name);
Problem checkPassword(std::string_view password);
Problem checkDescription(std::string_view description);
Problem checkVlanRange(std::uint32_t first, std::uint32_t last);
Problem checkPlan(const HardwarePlan& plan);
// An edit keeps the cloud host and never lowers a network count (tenants' VLANs stay allocated).
Problem checkPlanEdit(const HardwarePlan& before, const HardwarePlan& after);

}  // namespace warmsite::domain

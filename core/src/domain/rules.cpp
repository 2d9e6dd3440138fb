#include "domain/rules.h"

#include <set>

namespace warmsite::domain {

Problem checkAccountName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return "name must be 1-" + std::to_string(kMaxNameLength) + " characters, got " +
           std::to_string(name.size());
  }
  static constexpr std::string_view kForbidden = "+][,\\/:*?\"<>|=;@";
  for (char c : name) {
    if (kForbidden.find(c) != std::string_view::npos) {
      return "name \"" + std::string(name) + "\" contains '" + c +
             "'; these are not allowed: " + std::string(kForbidden);
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "name contains a control character";
    }
  }
  if (name.back() == '.') return "name \"" + std::string(name) + "\" must not end with '.'";
  if (name.front() == ' ' || name.back() == ' ') return "name must not start or end with a space";
  return std::nullopt;
}

Problem checkPassword(std::string_view password) {
  if (password.size() < 8 || password.size() > 256) {
    return std::string("password must be 8-256 characters");
  }
  return std::nullopt;
}

Problem checkDescription(std::string_view description) {
  if (description.size() > 1024) return std::string("description must be at most 1024 characters");
  return std::nullopt;
}

Problem checkVlanRange(std::uint32_t first, std::uint32_t last) {
  if (first < 1 || first > 4094 || last < 1 || last > 4094) {
    return "VLAN ids must be 1-4094, got " + std::to_string(first) + "-" + std::to_string(last);
  }
  if (first > last) {
    return "VLAN range " + std::to_string(first) + "-" + std::to_string(last) +
           " ends before it starts";
  }
  return std::nullopt;
}

Problem checkPlan(const HardwarePlan& plan) {
  if (auto problem = checkAccountName(plan.name)) return "plan " + *problem;
  if (auto problem = checkDescription(plan.description)) return problem;
  if (plan.cpuMhz && *plan.cpuMhz == 0)
    return std::string("cpu_mhz must be at least 1 (or unlimited)");
  if (plan.memoryMb && *plan.memoryMb == 0) {
    return std::string("memory_mb must be at least 1 (or unlimited)");
  }
  if (plan.storages.empty()) return std::string("a plan needs at least one storage");
  std::set<std::string> names;
  for (const auto& storage : plan.storages) {
    if (auto problem = checkAccountName(storage.name)) return "storage " + *problem;
    if (!names.insert(storage.name).second) {
      return "storage name \"" + storage.name + "\" is used twice";
    }
    if (storage.backendStorage.empty() || storage.backendStorage.size() > 256) {
      return "storage \"" + storage.name + "\" needs a backend_storage of 1-256 characters";
    }
    if (storage.quotaGb < 1 || storage.quotaGb > kMaxStorageQuotaGb) {
      return "storage \"" + storage.name + "\" quota must be 1-" +
             std::to_string(kMaxStorageQuotaGb) + " GB";
    }
  }
  if (plan.networksWithInternet + plan.networksWithoutInternet > kMaxNetworksPerPlan) {
    return "a plan has at most " + std::to_string(kMaxNetworksPerPlan) + " networks";
  }
  return std::nullopt;
}

Problem checkPlanEdit(const HardwarePlan& before, const HardwarePlan& after) {
  if (before.cloudHostId != after.cloudHostId) {
    return std::string("a plan's cloud host cannot change; create another plan");
  }
  if (after.networksWithInternet < before.networksWithInternet ||
      after.networksWithoutInternet < before.networksWithoutInternet) {
    return "network counts cannot be reduced (now " + std::to_string(before.networksWithInternet) +
           " with internet, " + std::to_string(before.networksWithoutInternet) + " without)";
  }
  return checkPlan(after);
}

}  // namespace warmsite::domain

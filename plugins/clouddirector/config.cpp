#include "config.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "util.h"

namespace warmsite::clouddirector {

bool Config::providerSession() const {
  return strcasecmp(loginOrg.c_str(), "System") == 0;
}

namespace {

using nlohmann::json;

class FieldError : public std::invalid_argument {
 public:
  FieldError(const std::string& field, const std::string& problem)
      : std::invalid_argument("config field \"" + field + "\": " + problem) {}
};

// Reads the members of one JSON object, refusing unknown ones so a typo does not pass silently.
class Fields {
 public:
  Fields(const json& object, std::string prefix, std::set<std::string> known)
      : object_(object), prefix_(std::move(prefix)) {
    if (!object_.is_object())
      throw FieldError(prefix_.empty() ? "(root)" : prefix_, "must be an object");
    for (const auto& [key, value] : object_.items()) {
      if (!known.contains(key)) throw FieldError(name(key), "unknown field");
    }
  }

  std::string name(const std::string& key) const {
    return prefix_.empty() ? key : prefix_ + "." + key;
  }

  bool has(const std::string& key) const { return object_.contains(key); }
  const json& at(const std::string& key) const { return object_.at(key); }

  std::string text(const std::string& key, bool required, const std::string& fallback = "") const {
    if (!has(key)) {
      if (required) throw FieldError(name(key), "is required");
      return fallback;
    }
    const json& value = object_.at(key);
    if (!value.is_string() || value.get<std::string>().empty()) {
      throw FieldError(name(key), "must be a non-empty string");
    }
    return value.get<std::string>();
  }

  std::uint64_t count(const std::string& key, std::uint64_t fallback, std::uint64_t min,
                      std::uint64_t max) const {
    if (!has(key)) return fallback;
    const json& value = object_.at(key);
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() < min ||
        value.get<std::uint64_t>() > max) {
      throw FieldError(name(key), "must be an integer from " + std::to_string(min) + " to " +
                                      std::to_string(max));
    }
    return value.get<std::uint64_t>();
  }

  std::chrono::milliseconds millis(const std::string& key, std::chrono::milliseconds fallback,
                                   std::uint64_t unitMs, std::uint64_t max) const {
    return std::chrono::milliseconds(
        count(key, static_cast<std::uint64_t>(fallback.count()) / unitMs, 0, max) * unitMs);
  }

 private:
  const json& object_;
  std::string prefix_;
};

std::string normalizeThumbprint(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return hex.size() == 64 ? hex : std::string();
}

void parseUrl(Config& config, const Fields& fields) {
  config.url = fields.text("url", true);
  if (config.url.rfind("https://", 0) != 0) {
    throw FieldError("url", "must be an https:// URL (TLS is not optional)");
  }
  while (config.url.size() > 8 && config.url.back() == '/') config.url.pop_back();
  const std::string authority = config.url.substr(8);
  if (authority.empty() || authority.find_first_of("/?#@ ") != std::string::npos) {
    throw FieldError("url",
                     "must be https://host[:port] without a path, e.g. https://vcd.example.com");
  }
}

void parseTls(Config& config, const Fields& fields) {
  if (!fields.has("tls")) return;
  const Fields tls(fields.at("tls"), "tls", {"ca_file", "pinned_sha256"});
  config.tls.caFile = tls.text("ca_file", false);
  if (tls.has("pinned_sha256")) {
    config.tls.pinnedSha256 = normalizeThumbprint(tls.text("pinned_sha256", true));
    if (config.tls.pinnedSha256.empty()) {
      throw FieldError("tls.pinned_sha256",
                       "must be a SHA-256 thumbprint: 64 hex digits, colons allowed");
    }
  }
  if (!config.tls.caFile.empty() && !config.tls.pinnedSha256.empty()) {
    throw FieldError("tls", "give ca_file or pinned_sha256, not both");
  }
  if (!config.tls.caFile.empty()) {
    if (config.tls.caFile.front() != '/')
      throw FieldError("tls.ca_file", "must be an absolute path");
    std::ifstream file(config.tls.caFile);
    std::string firstLine;
    if (!file || !std::getline(file, firstLine) ||
        firstLine.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      throw FieldError("tls.ca_file", "cannot read a PEM certificate from " + config.tls.caFile);
    }
  }
}

void parseNetworking(Config& config, const Fields& fields) {
  const std::string mode = fields.text("network_mode", false, "vlan");
  if (mode == "vlan") {
    config.networkMode = NetworkMode::kVlan;
    if (!config.providerSession()) {
      throw FieldError("network_mode",
                       "\"vlan\" imports vCenter port groups, which needs a provider login "
                       "(login_org \"System\"); use \"isolated\" with a tenant login");
    }
  } else if (mode == "isolated") {
    config.networkMode = NetworkMode::kIsolated;
  } else {
    throw FieldError("network_mode", "must be \"vlan\" or \"isolated\"");
  }
  if (fields.has("network_subnet")) {
    const std::string subnet = fields.text("network_subnet", true);
    const auto cidr = parseCidr(subnet);
    if (!cidr || cidr->prefixLength < 8 || cidr->prefixLength > 30) {
      throw FieldError("network_subnet",
                       "must be an IPv4 gateway with a prefix of 8-30, e.g. 192.168.255.1/24");
    }
    config.networkGateway = subnet.substr(0, subnet.find('/'));
    config.networkPrefixLength = cidr->prefixLength;
  }
}

void parseTuning(Config& config, const Fields& fields) {
  if (fields.has("timeouts")) {
    const Fields timeouts(fields.at("timeouts"), "timeouts", {"request_seconds", "task_seconds"});
    config.requestTimeout = timeouts.millis("request_seconds", config.requestTimeout, 1000, 3600);
    config.taskTimeout = timeouts.millis("task_seconds", config.taskTimeout, 1000, 86400);
    if (config.requestTimeout.count() == 0 || config.taskTimeout.count() == 0) {
      throw FieldError("timeouts", "timeouts must be at least 1 second");
    }
  }
  if (fields.has("task_poll_ms")) {
    const Fields poll(fields.at("task_poll_ms"), "task_poll_ms", {"initial", "max"});
    config.taskPollInitial = poll.millis("initial", config.taskPollInitial, 1, 60000);
    config.taskPollMax = poll.millis("max", config.taskPollMax, 1, 60000);
    if (config.taskPollMax < config.taskPollInitial || config.taskPollMax.count() == 0) {
      throw FieldError("task_poll_ms.max", "must be positive and at least task_poll_ms.initial");
    }
  }
  if (fields.has("retry")) {
    const Fields retry(fields.at("retry"), "retry",
                       {"attempts", "initial_backoff_ms", "max_backoff_ms"});
    config.retryAttempts = static_cast<std::uint32_t>(retry.count("attempts", 6, 1, 50));
    config.retryInitialBackoff =
        retry.millis("initial_backoff_ms", config.retryInitialBackoff, 1, 60000);
    config.retryMaxBackoff = retry.millis("max_backoff_ms", config.retryMaxBackoff, 1, 600000);
  }
  config.maxConcurrentCalls =
      static_cast<std::uint32_t>(fields.count("max_concurrent_calls", 16, 1, 1000));
  config.httpThreads = static_cast<std::uint32_t>(fields.count("http_threads", 4, 2, 64));
}

}  // namespace

plugin::Result<Config> parseConfig(std::string_view text) {
  try {
    const json document = json::parse(text);
    const Fields fields(
        document, "",
        {"url", "org", "vdc", "edge_gateway", "login_org", "username", "password", "api_version",
         "network_mode", "network_subnet", "hardware_version", "guest_os_type", "tls", "timeouts",
         "task_poll_ms", "retry", "max_concurrent_calls", "http_threads"});
    Config config;
    parseUrl(config, fields);
    config.org = fields.text("org", true);
    config.vdc = fields.text("vdc", true);
    config.edgeGateway = fields.text("edge_gateway", false);
    config.loginOrg = fields.text("login_org", false, config.org);
    if (!config.providerSession() && strcasecmp(config.loginOrg.c_str(), config.org.c_str()) != 0) {
      throw FieldError("login_org", "must be \"System\" (provider) or the org itself (tenant)");
    }
    config.username = fields.text("username", true);
    config.password = fields.text("password", true);
    config.apiVersion = fields.text("api_version", false);
    if (!config.apiVersion.empty() && !supportedApiVersion(config.apiVersion)) {
      throw FieldError("api_version", "must be a Cloud Director API version from 37.0 to 39.x");
    }
    config.hardwareVersion = fields.text("hardware_version", false, config.hardwareVersion);
    if (config.hardwareVersion.rfind("vmx-", 0) != 0) {
      throw FieldError("hardware_version", "must look like vmx-19");
    }
    config.guestOsType = fields.text("guest_os_type", false, config.guestOsType);
    parseNetworking(config, fields);
    parseTls(config, fields);
    parseTuning(config, fields);
    return config;
  } catch (const json::exception& e) {
    return plugin::makeError(plugin::ErrorCode::kInvalidArgument,
                             std::string("config is not valid JSON: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return plugin::makeError(plugin::ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace warmsite::clouddirector

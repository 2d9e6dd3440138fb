#include "api/json_input.h"

#include "api/api_error.h"

namespace warmsite::api {

JsonInput JsonInput::parse(const std::string& body) {
  if (body.empty()) throw badRequest("the request needs a JSON object body");
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {  // parse errors and numbers out of range
    throw badRequest(std::string("the body is not valid JSON: ") + e.what());
  }
  if (!value.is_object()) throw badRequest("the body must be a JSON object");
  return JsonInput(std::move(value), "");
}

JsonInput::JsonInput(nlohmann::json value, std::string path)
    : value_(std::move(value)), path_(std::move(path)) {}

std::string JsonInput::where(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void JsonInput::fail(const std::string& key, const std::string& expected) const {
  std::string got = "nothing";
  if (auto it = value_.find(key); it != value_.end()) {
    got = it->dump();
    if (got.size() > 64) got = got.substr(0, 61) + "...";
  }
  throw badRequest("field \"" + where(key) + "\" must be " + expected + ", got " + got,
                   {{"field", where(key)}});
}

const nlohmann::json* JsonInput::find(const std::string& key) {
  read_.insert(key);
  auto it = value_.find(key);
  return it == value_.end() ? nullptr : &*it;
}

bool JsonInput::has(const std::string& key) const {
  return value_.contains(key);
}

bool JsonInput::isNull(const std::string& key) const {
  auto it = value_.find(key);
  return it != value_.end() && it->is_null();
}

std::string JsonInput::string(const std::string& key, std::size_t maxLength) {
  auto value = optionalString(key, maxLength);
  if (!value) fail(key, "a string");
  return *value;
}

std::optional<std::string> JsonInput::optionalString(const std::string& key,
                                                     std::size_t maxLength) {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string() || value->get_ref<const std::string&>().size() > maxLength) {
    fail(key, "a string of at most " + std::to_string(maxLength) + " characters");
  }
  return value->get<std::string>();
}

std::uint64_t JsonInput::unsignedInt(const std::string& key, std::uint64_t min, std::uint64_t max) {
  auto value = optionalUnsigned(key, min, max);
  if (!value) fail(key, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return *value;
}

std::optional<std::uint64_t> JsonInput::optionalUnsigned(const std::string& key, std::uint64_t min,
                                                         std::uint64_t max) {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_unsigned() || value->get<std::uint64_t>() < min ||
      value->get<std::uint64_t>() > max) {
    fail(key, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return value->get<std::uint64_t>();
}

std::optional<std::uint64_t> JsonInput::limitOrUnlimited(const std::string& key, std::uint64_t max,
                                                         std::optional<std::uint64_t> whenAbsent) {
  const auto* value = find(key);
  if (value == nullptr) return whenAbsent;
  if (value->is_string() && value->get_ref<const std::string&>() == "unlimited")
    return std::nullopt;
  if (!value->is_number_unsigned() || value->get<std::uint64_t>() < 1 ||
      value->get<std::uint64_t>() > max) {
    fail(key, "an integer from 1 to " + std::to_string(max) + " or \"unlimited\"");
  }
  return value->get<std::uint64_t>();
}

std::optional<std::optional<std::uint64_t>> JsonInput::nullableUnsigned(const std::string& key,
                                                                        std::uint64_t min,
                                                                        std::uint64_t max) {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_null()) return std::optional<std::uint64_t>();
  return optionalUnsigned(key, min, max);
}

std::optional<bool> JsonInput::optionalBool(const std::string& key) {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) fail(key, "true or false");
  return value->get<bool>();
}

std::vector<std::string> JsonInput::stringArray(const std::string& key, std::size_t maxItems,
                                                std::size_t maxLength) {
  const auto* value = find(key);
  const std::string expected = "an array of at most " + std::to_string(maxItems) + " strings";
  if (value == nullptr || !value->is_array() || value->size() > maxItems) fail(key, expected);
  std::vector<std::string> result;
  for (const auto& item : *value) {
    if (!item.is_string() || item.get_ref<const std::string&>().size() > maxLength)
      fail(key, expected);
    result.push_back(item.get<std::string>());
  }
  return result;
}

std::vector<JsonInput> JsonInput::objectArray(const std::string& key, std::size_t maxItems) {
  const auto* value = find(key);
  const std::string expected = "an array of at most " + std::to_string(maxItems) + " objects";
  if (value == nullptr || !value->is_array() || value->size() > maxItems) fail(key, expected);
  std::vector<JsonInput> result;
  for (std::size_t i = 0; i < value->size(); ++i) {
    if (!(*value)[i].is_object()) fail(key, expected);
    result.emplace_back((*value)[i], where(key) + "[" + std::to_string(i) + "]");
  }
  return result;
}

nlohmann::json JsonInput::rawObject(const std::string& key) {
  const auto* value = find(key);
  if (value == nullptr || !value->is_object()) fail(key, "a JSON object");
  return *value;
}

void JsonInput::finish() const {
  for (const auto& [key, value] : value_.items()) {
    if (!read_.contains(key)) {
      throw badRequest("unknown field \"" + where(key) + "\"", {{"field", where(key)}});
    }
  }
}

}  // namespace warmsite::api

#pragma once
// Reading a JSON request body field by field, with types, ranges and unknown fields checked at the
// edge. Every failure is a 400 ApiError whose message names the field (with its path, e.g.
// "storages[1].quota_gb") and says what was expected.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace warmsite::api {

class JsonInput {
 public:
  // Parses a request body; it must be a JSON object.
  static JsonInput parse(const std::string& body);
  JsonInput(nlohmann::json value, std::string path);

  std::string string(const std::string& key, std::size_t maxLength = 1024);
  std::optional<std::string> optionalString(const std::string& key, std::size_t maxLength = 1024);
  std::uint64_t unsignedInt(const std::string& key, std::uint64_t min, std::uint64_t max);
  std::optional<std::uint64_t> optionalUnsigned(const std::string& key, std::uint64_t min,
                                                std::uint64_t max);
  // A number or the string "unlimited" (nullopt). Absent: `whenAbsent`.
  std::optional<std::uint64_t> limitOrUnlimited(const std::string& key, std::uint64_t max,
                                                std::optional<std::uint64_t> whenAbsent);
  // Absent: nullopt; null: an empty inner optional (clear the value); a number: the number.
  std::optional<std::optional<std::uint64_t>> nullableUnsigned(const std::string& key,
                                                               std::uint64_t min,
                                                               std::uint64_t max);
  std::optional<bool> optionalBool(const std::string& key);
  std::vector<std::string> stringArray(const std::string& key, std::size_t maxItems,
                                       std::size_t maxLength = 256);
  std::vector<JsonInput> objectArray(const std::string& key, std::size_t maxItems);
  // Any JSON object, returned as it is (a plugin's config).
  nlohmann::json rawObject(const std::string& key);
  // A nullable field: present with null gives a present-but-empty optional.
  bool isNull(const std::string& key) const;
  bool has(const std::string& key) const;

  // Refuses fields nobody read: a misspelt field is an error, not silently ignored.
  void finish() const;

 private:
  const nlohmann::json* find(const std::string& key);
  std::string where(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;

  nlohmann::json value_;
  std::string path_;
  std::set<std::string> read_;
};

}  // namespace warmsite::api

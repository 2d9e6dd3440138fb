#pragma once
// How API objects are shown to a person: lists as aligned tables, single objects as key/value
// blocks. Each resource describes its columns once; both layouts use the same descriptions.

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace warmsite::cli {

// One column of a table, or one line of a key/value block.
struct Column {
  std::string header;
  std::function<std::string(const nlohmann::json& object)> text;
};

enum class Format {
  kPlain,   // strings as they are, null as "-", booleans yes/no, arrays joined with ", "
  kTime,    // Unix seconds, shown in UTC
  kTimeMs,  // Unix milliseconds, shown in UTC
  kJson,    // compact JSON (plugin configs, capabilities)
  kCount,   // the size of an array
};

// The member `key` of the object ("a.b" for a nested one), shown in `format`; "-" when absent.
Column field(std::string header, const std::string& key, Format format = Format::kPlain);

std::string plainText(const nlohmann::json& value);
std::string formatUnixTime(std::int64_t seconds);

// Columns padded to their widest cell (counting UTF-8 characters, not bytes).
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : rows_{std::move(headers)} {}
  void add(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A table with a row per element of `array`.
void printTable(std::ostream& out, const nlohmann::json& array, const std::vector<Column>& columns);
// "Header:  value" lines for one object, the values aligned.
void printFields(std::ostream& out, const nlohmann::json& object,
                 const std::vector<Column>& fields);

}  // namespace warmsite::cli

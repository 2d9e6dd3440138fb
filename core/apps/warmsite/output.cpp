#include "output.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace warmsite::cli {

namespace {

std::size_t displayWidth(const std::string& text) {
  // UTF-8 continuation bytes do not start a character.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string formatted(const nlohmann::json& value, Format format) {
  if (value.is_null()) return "-";
  switch (format) {
    case Format::kTime:
      return value.is_number() ? formatUnixTime(value.get<std::int64_t>()) : plainText(value);
    case Format::kTimeMs:
      return value.is_number() ? formatUnixTime(value.get<std::int64_t>() / 1000)
                               : plainText(value);
    case Format::kJson:
      return value.dump();
    case Format::kCount:
      return std::to_string(value.size());
    case Format::kPlain:
      break;
  }
  return plainText(value);
}

}  // namespace

std::string plainText(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>().empty() ? "-" : value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_array()) {
    if (value.empty()) return "-";
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : ", ") + plainText(item);
    return joined;
  }
  return value.dump();
}

std::string formatUnixTime(std::int64_t seconds) {
  const auto time = static_cast<std::time_t>(seconds);
  std::tm parts{};
  gmtime_r(&time, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return text;
}

Column field(std::string header, const std::string& key, Format format) {
  std::string pointer = "/" + key;
  std::replace(pointer.begin(), pointer.end(), '.', '/');
  return {std::move(header),
          [path = nlohmann::json::json_pointer(pointer), format](const nlohmann::json& object) {
            return object.contains(path) ? formatted(object.at(path), format) : std::string("-");
          }};
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], displayWidth(row[i]));
  }
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      // The last column is not padded: no trailing blanks.
      if (i + 1 < row.size()) line += std::string(widths[i] - displayWidth(row[i]) + 2, ' ');
    }
    out << line << '\n';
  }
}

void printTable(std::ostream& out, const nlohmann::json& array,
                const std::vector<Column>& columns) {
  std::vector<std::string> headers;
  for (const auto& column : columns) headers.push_back(column.header);
  Table table(std::move(headers));
  for (const auto& object : array) {
    std::vector<std::string> cells;
    for (const auto& column : columns) cells.push_back(column.text(object));
    table.add(std::move(cells));
  }
  table.print(out);
}

void printFields(std::ostream& out, const nlohmann::json& object,
                 const std::vector<Column>& fields) {
  std::size_t width = 0;
  for (const auto& f : fields) width = std::max(width, displayWidth(f.header));
  for (const auto& f : fields) {
    out << fmt::format("{}:{}{}\n", f.header, std::string(width - displayWidth(f.header) + 2, ' '),
                       f.text(object));
  }
}

}  // namespace warmsite::cli

#include "util.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace warmsite::clouddirector {

int ipFamily(const std::string& text) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, text.c_str(), buffer) == 1) return AF_INET;
  if (inet_pton(AF_INET6, text.c_str(), buffer) == 1) return AF_INET6;
  return 0;
}

std::optional<Cidr> parseCidr(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  const std::string bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 ||
      !std::all_of(bits.begin(), bits.end(), [](char c) { return std::isdigit(c) != 0; })) {
    return std::nullopt;
  }
  const int family = ipFamily(text.substr(0, slash));
  const auto prefix = static_cast<std::uint32_t>(std::stoul(bits));
  if (family == 0 || prefix > (family == AF_INET ? 32u : 128u)) return std::nullopt;
  return Cidr{family, prefix};
}

bool ipv4InRange(const std::string& address, const std::string& first, const std::string& last) {
  in_addr a{}, f{}, l{};
  if (inet_pton(AF_INET, address.c_str(), &a) != 1 || inet_pton(AF_INET, first.c_str(), &f) != 1 ||
      inet_pton(AF_INET, last.c_str(), &l) != 1) {
    return false;
  }
  return ntohl(a.s_addr) >= ntohl(f.s_addr) && ntohl(a.s_addr) <= ntohl(l.s_addr);
}

std::string encodeQueryValue(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

std::string pathOfHref(const std::string& href) {
  const auto scheme = href.find("://");
  if (scheme == std::string::npos) return href;
  const auto path = href.find('/', scheme + 3);
  return path == std::string::npos ? "/" : href.substr(path);
}

std::optional<int> parseApiVersion(const std::string& version) {
  int major = 0, minor = 0;
  char tail = 0;
  if (std::sscanf(version.c_str(), "%d.%d%c", &major, &minor, &tail) != 2 || major < 0 ||
      minor < 0 || minor > 99) {
    return std::nullopt;
  }
  return major * 100 + minor;
}

bool supportedApiVersion(const std::string& version) {
  const auto value = parseApiVersion(version);
  return value && *value >= 3700 && *value < 4000;
}

std::int64_t parseIsoTime(const std::string& text) {
  std::tm utc{};
  int offsetHours = 0, offsetMinutes = 0;
  char sign = 'Z';
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                  &utc.tm_hour, &utc.tm_min, &utc.tm_sec) != 6) {
    return 0;
  }
  const auto zone = text.find_first_of("Z+-", 19);
  if (zone != std::string::npos && text[zone] != 'Z') {
    sign = text[zone];
    std::sscanf(text.c_str() + zone + 1, "%2d:%2d", &offsetHours, &offsetMinutes);
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  const std::int64_t seconds = timegm(&utc);
  const std::int64_t offset = (offsetHours * 60 + offsetMinutes) * 60;
  return sign == '+' ? seconds - offset : (sign == '-' ? seconds + offset : seconds);
}

}  // namespace warmsite::clouddirector

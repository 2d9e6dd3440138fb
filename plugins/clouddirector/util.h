#pragma once
// Small text helpers: IP literals and subnets, URL encoding, Cloud Director API versions and
// timestamps.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warmsite::clouddirector {

// AF_INET, AF_INET6, or 0 when `text` is not an IP literal.
int ipFamily(const std::string& text);

struct Cidr {
  int family = 0;
  std::uint32_t prefixLength = 0;
};
// "10.0.0.0/24" or "fd00::/64"; nullopt when it does not parse.
std::optional<Cidr> parseCidr(const std::string& text);

// Whether IPv4 `address` lies in [first, last].
bool ipv4InRange(const std::string& address, const std::string& first, const std::string& last);

// RFC 3986 percent-encoding of a query value (everything but unreserved characters).
std::string encodeQueryValue(std::string_view value);

// "https://host:port/api/task/1?x" -> "/api/task/1?x". Hrefs carry the cell's public address,
// which need not be the configured one (a load balancer), so only the path is kept.
std::string pathOfHref(const std::string& href);

// "38.1" -> 3801; nullopt when it is not "<major>.<minor>".
std::optional<int> parseApiVersion(const std::string& version);
// 37.0 <= version < 40.0: the versions whose endpoints this plugin was written against.
bool supportedApiVersion(const std::string& version);

// "2024-05-01T10:00:00.000Z" (or with an offset) -> seconds since the epoch; 0 when unreadable.
std::int64_t parseIsoTime(const std::string& text);

}  // namespace warmsite::clouddirector

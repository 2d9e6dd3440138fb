#pragma once
// IP addresses and ranges as the SP and tenants type them: "203.0.113.10",
// "203.0.113.10-203.0.113.20", "2001:db8::1", "10.0.1.0/24". Parsing never throws; a bad entry
// gives a message that quotes it.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace warmsite::domain {

struct IpAddress {
  int family = 4;                        // 4 or 6
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

  std::string toString() const;  // canonical (inet_ntop)
  auto operator<=>(const IpAddress&) const = default;
};

struct ParseError {
  std::string message;
};

std::variant<IpAddress, ParseError> parseIpAddress(std::string_view text);

// Expands entries of single addresses and "first-last" ranges (same family, first <= last) into
// addresses, refusing more than `maxAddresses` in all and duplicates.
std::variant<std::vector<IpAddress>, ParseError> expandAddressList(
    const std::vector<std::string>& entries, std::size_t maxAddresses);

struct Cidr {
  IpAddress network;
  int prefixLength = 0;

  std::string toString() const;
  bool contains(const IpAddress& address) const;
};

// "10.0.1.0/24" or "2001:db8::/64"; host bits must be zero.
std::variant<Cidr, ParseError> parseCidr(std::string_view text);

}  // namespace warmsite::domain

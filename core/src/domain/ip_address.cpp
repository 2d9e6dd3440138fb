#include "domain/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace warmsite::domain {

namespace {

// Adds one to a big-endian number of `size` bytes; false on overflow.
bool increment(std::array<std::uint8_t, 16>& bytes, std::size_t size) {
  for (std::size_t i = size; i-- > 0;) {
    if (++bytes[i] != 0) return true;
  }
  return false;
}

std::size_t width(int family) {
  return family == 4 ? 4 : 16;
}

}  // namespace

std::string IpAddress::toString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

std::variant<IpAddress, ParseError> parseIpAddress(std::string_view text) {
  const std::string copy(text);
  IpAddress address;
  if (copy.size() <= 15 && inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) {
    address.family = 4;
    return address;
  }
  if (copy.size() <= 45 && copy.find('%') == std::string::npos &&
      inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) {
    address.family = 6;
    return address;
  }
  return ParseError{"\"" + copy + "\" is not an IPv4 or IPv6 address"};
}

std::variant<std::vector<IpAddress>, ParseError> expandAddressList(
    const std::vector<std::string>& entries, std::size_t maxAddresses) {
  std::vector<IpAddress> result;
  std::set<IpAddress> seen;
  auto add = [&](const IpAddress& address, const std::string& entry) -> std::optional<ParseError> {
    if (result.size() >= maxAddresses) {
      return ParseError{"more than " + std::to_string(maxAddresses) + " addresses (at \"" + entry +
                        "\"); add large ranges in parts"};
    }
    if (!seen.insert(address).second) {
      return ParseError{"address " + address.toString() + " is listed twice"};
    }
    result.push_back(address);
    return std::nullopt;
  };
  for (const auto& entry : entries) {
    const auto dash = entry.find('-');
    if (dash == std::string::npos) {
      auto single = parseIpAddress(entry);
      if (auto* error = std::get_if<ParseError>(&single)) return *error;
      if (auto error = add(std::get<IpAddress>(single), entry)) return *error;
      continue;
    }
    auto first = parseIpAddress(std::string_view(entry).substr(0, dash));
    auto last = parseIpAddress(std::string_view(entry).substr(dash + 1));
    if (auto* error = std::get_if<ParseError>(&first))
      return ParseError{"range \"" + entry + "\": " + error->message};
    if (auto* error = std::get_if<ParseError>(&last))
      return ParseError{"range \"" + entry + "\": " + error->message};
    IpAddress current = std::get<IpAddress>(first);
    const IpAddress end = std::get<IpAddress>(last);
    if (current.family != end.family) {
      return ParseError{"range \"" + entry + "\" mixes IPv4 and IPv6"};
    }
    if (end < current) return ParseError{"range \"" + entry + "\" ends before it starts"};
    while (true) {
      if (auto error = add(current, entry)) return *error;
      if (current == end || !increment(current.bytes, width(current.family))) break;
    }
  }
  return result;
}

std::string Cidr::toString() const {
  return network.toString() + "/" + std::to_string(prefixLength);
}

bool Cidr::contains(const IpAddress& address) const {
  if (address.family != network.family) return false;
  int bits = prefixLength;
  for (std::size_t i = 0; i < width(address.family) && bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((address.bytes[i] & mask) != network.bytes[i]) return false;
  }
  return true;
}

std::variant<Cidr, ParseError> parseCidr(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return ParseError{"\"" + std::string(text) + "\" is not a subnet (address/prefix length)"};
  }
  auto address = parseIpAddress(text.substr(0, slash));
  if (auto* error = std::get_if<ParseError>(&address)) return *error;
  Cidr cidr{std::get<IpAddress>(address), 0};
  const auto prefix = text.substr(slash + 1);
  const int maxPrefix = cidr.network.family == 4 ? 32 : 128;
  auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), cidr.prefixLength);
  if (prefix.empty() || ec != std::errc() || end != prefix.data() + prefix.size() ||
      cidr.prefixLength < 0 || cidr.prefixLength > maxPrefix) {
    return ParseError{"\"" + std::string(text) + "\" needs a prefix length from 0 to " +
                      std::to_string(maxPrefix)};
  }
  Cidr masked = cidr;
  int bits = cidr.prefixLength;
  for (std::size_t i = 0; i < width(cidr.network.family); ++i, bits -= 8) {
    masked.network.bytes[i] &= bits >= 8   ? 0xff
                               : bits <= 0 ? 0
                                           : static_cast<std::uint8_t>(0xff << (8 - bits));
  }
  if (masked.network != cidr.network) {
    return ParseError{"\"" + std::string(text) + "\" has host bits set; the subnet is " +
                      masked.toString()};
  }
  return cidr;
}

}  // namespace warmsite::domain

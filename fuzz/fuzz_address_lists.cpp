// Address and VLAN input as an SP types it: single addresses, "first-last" ranges and CIDRs of
// either family, and VLAN ranges. Every answer is a value or a ParseError, never a crash, and
// what parses prints back to something that parses to the same value.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "domain/ip_address.h"
#include "domain/rules.h"
#include "fuzz/fuzz_check.h"

using warmsite::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warmsite::domain;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto parsed = parseIpAddress(text);
  if (const auto* address = std::get_if<IpAddress>(&parsed)) {
    const auto again = parseIpAddress(address->toString());
    check(std::holds_alternative<IpAddress>(again) && std::get<IpAddress>(again) == *address);
  }
  if (const auto cidr = parseCidr(text); std::holds_alternative<Cidr>(cidr)) {
    const auto& network = std::get<Cidr>(cidr);
    check(network.contains(network.network));
    const auto again = parseCidr(network.toString());
    check(std::holds_alternative<Cidr>(again) &&
          std::get<Cidr>(again).prefixLength == network.prefixLength);
  }
  // Lines as list entries, as the API takes them.
  std::vector<std::string> entries;
  std::size_t start = 0;
  while (start <= text.size() && entries.size() < 64) {
    const auto end = std::min(text.find('\n', start), text.size());
    entries.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  constexpr std::size_t kMax = 4096;
  const auto expanded = expandAddressList(entries, kMax);
  if (const auto* list = std::get_if<std::vector<IpAddress>>(&expanded))
    check(list->size() <= kMax);
  if (size >= 8) {
    std::uint32_t first = 0, last = 0;
    std::memcpy(&first, data, 4);
    std::memcpy(&last, data + 4, 4);
    if (!checkVlanRange(first, last)) check(first >= 1 && first <= last && last <= 4094);
  }
  return 0;
}

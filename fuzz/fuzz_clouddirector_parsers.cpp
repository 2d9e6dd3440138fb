// What the Cloud Director plugin reads from the cell's answers and from its own configuration:
// metadata tags it wrote earlier (read back from responses, so possibly altered by anyone with
// access to the org), hrefs, API versions, timestamps, CIDRs, and the cloud host's config JSON.
// None may crash, and a tag that parses writes back to the same text's meaning.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_check.h"
#include "plugins/clouddirector/config.h"
#include "plugins/clouddirector/tags.h"
#include "plugins/clouddirector/util.h"

using warmsite::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warmsite::clouddirector;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto tag = parseNatTag(text)) {
    const auto again = parseNatTag(natTag(*tag));
    check(again.has_value() && *again == *tag);
  }
  parseReplicaTag(text);
  parseRestorePointTag(text);
  parseNetworkTag(text);
  parseSubscriptionValue("sub-1", text);
  pathOfHref(text);
  parseApiVersion(text);
  supportedApiVersion(text);
  parseIsoTime(text);
  parseCidr(text);
  encodeQueryValue(text);
  auto config = parseConfig(text);
  (void)config;
  return 0;
}

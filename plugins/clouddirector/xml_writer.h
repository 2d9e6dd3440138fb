#pragma once
// Writes the XML request bodies of the legacy API (composeVApp, undeploy, snapshots, reconfigure,
// metadata). Cloud Director validates against its XSDs, so callers emit elements in schema order.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warmsite::clouddirector {

inline constexpr char kVcloudNamespace[] = "http://www.vmware.com/vcloud/v1.5";
inline constexpr char kOvfNamespace[] = "http://schemas.dmtf.org/ovf/envelope/1";
inline constexpr char kXsiNamespace[] = "http://www.w3.org/2001/XMLSchema-instance";

class XmlWriter {
 public:
  using Attributes = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  XmlWriter();
  XmlWriter& open(std::string_view name, Attributes attributes = {});
  XmlWriter& close();
  // <name attrs>text</name>, or <name attrs/> when text is empty.
  XmlWriter& element(std::string_view name, std::string_view text, Attributes attributes = {});
  std::string finish();  // closes what is open

 private:
  void tag(std::string_view name, Attributes attributes);

  std::string out_;
  std::vector<std::string> open_;
};

std::string xmlEscape(std::string_view text);

}  // namespace warmsite::clouddirector

#pragma once
// Just enough XML for the legacy request bodies the simulator accepts (ComposeVAppParams,
// UndeployVAppParams, CreateSnapshotParams, Vm, MetadataValue): elements, attributes, text and
// the five predefined entities. Namespace prefixes are dropped: Cloud Director matches on local
// names within its own namespaces.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace warmsite::clouddirector::sim {

struct XmlNode {
  std::string name;                               // local name
  std::map<std::string, std::string> attributes;  // local names
  std::string text;                               // character data directly inside
  std::vector<XmlNode> children;

  const XmlNode* child(std::string_view localName) const;
  std::vector<const XmlNode*> all(std::string_view localName) const;
  std::string childText(std::string_view localName) const;  // "" when absent
  std::string attribute(std::string_view localName) const;  // "" when absent
};

// Throws std::invalid_argument with the offset of the first error.
XmlNode parseXml(std::string_view document);

}  // namespace warmsite::clouddirector::sim

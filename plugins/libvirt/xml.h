#pragma once
// Reading libvirt's XML with libxml2 (XPath over a parsed document), and escaping for writing it.

#include <libxml/tree.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warmsite::libvirtplugin {

// The namespace of the plugin's <metadata> elements; XPath queries use the prefix "ws".
inline constexpr const char* kMetadataNamespace = "urn:warmsite:libvirt:1";

class XmlDocument {
 public:
  // nullopt when `text` is not well-formed.
  static std::optional<XmlDocument> parse(std::string_view text);

  // Nodes matching `xpath`, evaluated at `context` (the document root when null).
  std::vector<xmlNodePtr> select(const char* xpath, xmlNodePtr context = nullptr) const;
  xmlNodePtr first(const char* xpath, xmlNodePtr context = nullptr) const;

 private:
  struct FreeDoc {
    void operator()(xmlDocPtr doc) const noexcept { xmlFreeDoc(doc); }
  };
  explicit XmlDocument(xmlDocPtr doc) : doc_(doc) {}
  std::unique_ptr<xmlDoc, FreeDoc> doc_;
};

// An attribute's value, or `fallback` when absent.
std::string attribute(xmlNodePtr node, const char* name, std::string fallback = {});
bool hasAttribute(xmlNodePtr node, const char* name);
std::optional<std::uint64_t> unsignedAttribute(xmlNodePtr node, const char* name);
std::string textOf(xmlNodePtr node);

// Escapes text for an XML attribute value or element content. Newlines and tabs become character
// references so an attribute keeps them through the parser's normalization.
std::string xmlEscape(std::string_view text);

// True when `text` is valid UTF-8 without control characters other than tab, newline and return:
// what an XML 1.0 document can carry.
bool xmlSafe(std::string_view text);

}  // namespace warmsite::libvirtplugin

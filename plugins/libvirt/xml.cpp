#include "xml.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <charconv>

namespace warmsite::libvirtplugin {

std::optional<XmlDocument> XmlDocument::parse(std::string_view text) {
  xmlDocPtr doc = xmlReadMemory(text.data(), static_cast<int>(text.size()), nullptr, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) return std::nullopt;
  return XmlDocument(doc);
}

std::vector<xmlNodePtr> XmlDocument::select(const char* xpath, xmlNodePtr context) const {
  std::vector<xmlNodePtr> nodes;
  std::unique_ptr<xmlXPathContext, void (*)(xmlXPathContextPtr)> ctx(xmlXPathNewContext(doc_.get()),
                                                                     xmlXPathFreeContext);
  if (ctx == nullptr) return nodes;
  xmlXPathRegisterNs(ctx.get(), BAD_CAST "ws", BAD_CAST kMetadataNamespace);
  if (context != nullptr) ctx->node = context;
  std::unique_ptr<xmlXPathObject, void (*)(xmlXPathObjectPtr)> result(
      xmlXPathEvalExpression(BAD_CAST xpath, ctx.get()), xmlXPathFreeObject);
  if (result == nullptr || result->nodesetval == nullptr) return nodes;
  for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
    nodes.push_back(result->nodesetval->nodeTab[i]);
  }
  return nodes;
}

xmlNodePtr XmlDocument::first(const char* xpath, xmlNodePtr context) const {
  auto nodes = select(xpath, context);
  return nodes.empty() ? nullptr : nodes.front();
}

std::string attribute(xmlNodePtr node, const char* name, std::string fallback) {
  if (node == nullptr) return fallback;
  xmlChar* value = xmlGetProp(node, BAD_CAST name);
  if (value == nullptr) return fallback;
  std::string copy(reinterpret_cast<const char*>(value));
  xmlFree(value);
  return copy;
}

bool hasAttribute(xmlNodePtr node, const char* name) {
  return node != nullptr && xmlHasProp(node, BAD_CAST name) != nullptr;
}

std::optional<std::uint64_t> unsignedAttribute(xmlNodePtr node, const char* name) {
  if (!hasAttribute(node, name)) return std::nullopt;
  const std::string text = attribute(node, name);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string textOf(xmlNodePtr node) {
  if (node == nullptr) return {};
  xmlChar* content = xmlNodeGetContent(node);
  if (content == nullptr) return {};
  std::string copy(reinterpret_cast<const char*>(content));
  xmlFree(content);
  return copy;
}

std::string xmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      case '\t':
        out += "&#9;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool xmlSafe(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      ++i;
      continue;
    }
    const std::size_t length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (length == 0 || c > 0xf4 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    }
    // No overlong forms, no surrogates, nothing past U+10FFFF.
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if ((c == 0xe0 && second < 0xa0) || (c == 0xed && second >= 0xa0) ||
        (c == 0xf0 && second < 0x90) || (c == 0xf4 && second >= 0x90)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace warmsite::libvirtplugin

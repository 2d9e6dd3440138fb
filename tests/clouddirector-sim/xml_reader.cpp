#include "tests/clouddirector-sim/xml_reader.h"

#include <cctype>
#include <stdexcept>

namespace warmsite::clouddirector::sim {

const XmlNode* XmlNode::child(std::string_view localName) const {
  for (const auto& node : children) {
    if (node.name == localName) return &node;
  }
  return nullptr;
}

std::vector<const XmlNode*> XmlNode::all(std::string_view localName) const {
  std::vector<const XmlNode*> found;
  for (const auto& node : children) {
    if (node.name == localName) found.push_back(&node);
  }
  return found;
}

std::string XmlNode::childText(std::string_view localName) const {
  const XmlNode* node = child(localName);
  return node == nullptr ? std::string() : node->text;
}

std::string XmlNode::attribute(std::string_view localName) const {
  auto it = attributes.find(std::string(localName));
  return it == attributes.end() ? std::string() : it->second;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  XmlNode document() {
    skipMisc();
    XmlNode root = element();
    skipMisc();
    if (pos_ != doc_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("XML: " + what + " at offset " + std::to_string(pos_));
  }

  bool startsWith(std::string_view s) const { return doc_.substr(pos_, s.size()) == s; }

  void skipSpace() {
    while (pos_ < doc_.size() && std::isspace(static_cast<unsigned char>(doc_[pos_]))) ++pos_;
  }

  void skipPast(std::string_view end) {
    const auto at = doc_.find(end, pos_);
    if (at == std::string_view::npos) fail("unterminated markup");
    pos_ = at + end.size();
  }

  // Prolog, comments and processing instructions between elements.
  void skipMisc() {
    for (;;) {
      skipSpace();
      if (startsWith("<?")) {
        skipPast("?>");
      } else if (startsWith("<!--")) {
        skipPast("-->");
      } else {
        return;
      }
    }
  }

  std::string name() {
    const auto start = pos_;
    while (pos_ < doc_.size()) {
      const char c = doc_[pos_];
      if (std::isspace(static_cast<unsigned char>(c)) || c == '>' || c == '/' || c == '=') break;
      ++pos_;
    }
    if (pos_ == start) fail("name expected");
    return std::string(doc_.substr(start, pos_ - start));
  }

  static std::string localName(const std::string& qualified) {
    const auto colon = qualified.find(':');
    return colon == std::string::npos ? qualified : qualified.substr(colon + 1);
  }

  std::string decode(std::string_view raw) const {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '&') {
        out += raw[i];
        continue;
      }
      const auto semi = raw.find(';', i);
      if (semi == std::string_view::npos) fail("unterminated entity");
      const auto entity = raw.substr(i + 1, semi - i - 1);
      if (entity == "lt") {
        out += '<';
      } else if (entity == "gt") {
        out += '>';
      } else if (entity == "amp") {
        out += '&';
      } else if (entity == "quot") {
        out += '"';
      } else if (entity == "apos") {
        out += '\'';
      } else if (!entity.empty() && entity[0] == '#') {
        const bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
        const auto code =
            std::stoul(std::string(entity.substr(hex ? 2 : 1)), nullptr, hex ? 16 : 10);
        if (code > 0x7f) fail("only ASCII character references are supported");
        out += static_cast<char>(code);
      } else {
        fail("unknown entity &" + std::string(entity) + ";");
      }
      i = semi;
    }
    return out;
  }

  XmlNode element() {
    if (!startsWith("<")) fail("'<' expected");
    ++pos_;
    const std::string qualified = name();
    XmlNode node;
    node.name = localName(qualified);
    for (;;) {
      skipSpace();
      if (startsWith("/>")) {
        pos_ += 2;
        return node;
      }
      if (startsWith(">")) {
        ++pos_;
        break;
      }
      const std::string attribute = name();
      skipSpace();
      if (!startsWith("=")) fail("'=' expected after attribute " + attribute);
      ++pos_;
      skipSpace();
      if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) fail("quote expected");
      const char quote = doc_[pos_++];
      const auto end = doc_.find(quote, pos_);
      if (end == std::string_view::npos) fail("unterminated attribute value");
      if (attribute.rfind("xmlns", 0) != 0) {
        node.attributes[localName(attribute)] = decode(doc_.substr(pos_, end - pos_));
      }
      pos_ = end + 1;
    }
    for (;;) {
      const auto textEnd = doc_.find('<', pos_);
      if (textEnd == std::string_view::npos) fail("unterminated element " + qualified);
      node.text += decode(doc_.substr(pos_, textEnd - pos_));
      pos_ = textEnd;
      if (startsWith("</")) {
        pos_ += 2;
        if (name() != qualified) fail("mismatched end tag of " + qualified);
        skipSpace();
        if (!startsWith(">")) fail("'>' expected");
        ++pos_;
        return node;
      }
      if (startsWith("<!--") || startsWith("<?")) {
        skipMisc();
        continue;
      }
      node.children.push_back(element());
    }
  }

  std::string_view doc_;
  std::size_t pos_ = 0;
};

}  // namespace

XmlNode parseXml(std::string_view document) {
  return Parser(document).document();
}

}  // namespace warmsite::clouddirector::sim

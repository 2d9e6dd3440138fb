#include "xml_writer.h"

namespace warmsite::clouddirector {

std::string xmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

XmlWriter::XmlWriter() : out_("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") {}

void XmlWriter::tag(std::string_view name, Attributes attributes) {
  out_ += '<';
  out_ += name;
  for (const auto& [key, value] : attributes) {
    out_ += ' ';
    out_ += key;
    out_ += "=\"";
    out_ += xmlEscape(value);
    out_ += '"';
  }
}

XmlWriter& XmlWriter::open(std::string_view name, Attributes attributes) {
  tag(name, attributes);
  out_ += '>';
  open_.emplace_back(name);
  return *this;
}

XmlWriter& XmlWriter::close() {
  out_ += "</" + open_.back() + ">";
  open_.pop_back();
  return *this;
}

XmlWriter& XmlWriter::element(std::string_view name, std::string_view text, Attributes attributes) {
  tag(name, attributes);
  if (text.empty()) {
    out_ += "/>";
  } else {
    out_ += '>';
    out_ += xmlEscape(text);
    out_ += "</";
    out_ += name;
    out_ += '>';
  }
  return *this;
}

std::string XmlWriter::finish() {
  while (!open_.empty()) close();
  return out_;
}

}  // namespace warmsite::clouddirector

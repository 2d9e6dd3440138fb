#include "tests/clouddirector-sim/fiql.h"

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <vector>

namespace warmsite::clouddirector::sim {

struct Filter::Node {
  enum class Kind { kAnd, kOr, kCompare } kind = Kind::kCompare;
  std::vector<std::shared_ptr<const Node>> operands;
  std::string attribute, op, value;
};

namespace {

using NodePtr = std::shared_ptr<const Filter::Node>;

class FilterParser {
 public:
  explicit FilterParser(std::string_view text) : text_(text) {}

  NodePtr parse() {
    NodePtr node = disjunction();
    if (pos_ != text_.size()) fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return node;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("filter: " + what + " at " + std::to_string(pos_) + " in \"" +
                                std::string(text_) + "\"");
  }

  NodePtr combine(Filter::Node::Kind kind, char separator, NodePtr (FilterParser::*next)()) {
    auto node = std::make_shared<Filter::Node>();
    node->kind = kind;
    node->operands.push_back((this->*next)());
    while (pos_ < text_.size() && text_[pos_] == separator) {
      ++pos_;
      node->operands.push_back((this->*next)());
    }
    return node->operands.size() == 1 ? node->operands.front() : node;
  }

  NodePtr disjunction() {
    return combine(Filter::Node::Kind::kOr, ',', &FilterParser::conjunction);
  }
  NodePtr conjunction() { return combine(Filter::Node::Kind::kAnd, ';', &FilterParser::term); }

  NodePtr term() {
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      NodePtr inner = disjunction();
      if (pos_ >= text_.size() || text_[pos_] != ')') fail("')' expected");
      ++pos_;
      return inner;
    }
    auto node = std::make_shared<Filter::Node>();
    const auto opAt = text_.find_first_of("=!", pos_);
    if (opAt == std::string_view::npos || opAt == pos_) fail("comparison expected");
    node->attribute = std::string(text_.substr(pos_, opAt - pos_));
    pos_ = opAt;
    static const char* const kOperators[] = {"==", "!=", "=lt=", "=le=", "=gt=", "=ge="};
    for (const char* op : kOperators) {
      if (text_.substr(pos_).starts_with(op)) node->op = op;
    }
    if (node->op.empty()) fail("unknown operator");
    pos_ += node->op.size();
    const auto end = text_.find_first_of(";,)", pos_);
    const auto stop = end == std::string_view::npos ? text_.size() : end;
    node->value = std::string(text_.substr(pos_, stop - pos_));
    pos_ = stop;
    return node;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

bool wildcardMatch(std::string_view pattern, std::string_view value) {
  const auto star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == value;
  const auto prefix = pattern.substr(0, star);
  if (!value.starts_with(prefix)) return false;
  const auto rest = pattern.substr(star + 1);
  for (std::size_t at = prefix.size(); at <= value.size(); ++at) {
    if (wildcardMatch(rest, value.substr(at))) return true;
  }
  return false;
}

std::optional<std::string> lookup(const nlohmann::json& record, const std::string& path) {
  const nlohmann::json* node = &record;
  std::size_t start = 0;
  for (;;) {
    const auto dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!node->is_object() || !node->contains(key)) return std::nullopt;
    node = &(*node)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (node->is_string()) return node->get<std::string>();
  if (node->is_null()) return std::nullopt;
  return node->dump();
}

bool compare(const std::string& actual, const std::string& op, const std::string& wanted) {
  if (op == "==") return wildcardMatch(wanted, actual);
  if (op == "!=") return !wildcardMatch(wanted, actual);
  char* endA = nullptr;
  char* endW = nullptr;
  const double a = std::strtod(actual.c_str(), &endA);
  const double w = std::strtod(wanted.c_str(), &endW);
  const bool numeric = !actual.empty() && !wanted.empty() && *endA == '\0' && *endW == '\0';
  const int order = numeric ? (a < w ? -1 : (a > w ? 1 : 0)) : actual.compare(wanted);
  if (op == "=lt=") return order < 0;
  if (op == "=le=") return order <= 0;
  if (op == "=gt=") return order > 0;
  return order >= 0;
}

bool evaluate(const Filter::Node& node, const nlohmann::json& record,
              const std::map<std::string, std::string>& extra) {
  switch (node.kind) {
    case Filter::Node::Kind::kAnd:
      for (const auto& operand : node.operands) {
        if (!evaluate(*operand, record, extra)) return false;
      }
      return true;
    case Filter::Node::Kind::kOr:
      for (const auto& operand : node.operands) {
        if (evaluate(*operand, record, extra)) return true;
      }
      return false;
    case Filter::Node::Kind::kCompare:
      break;
  }
  std::optional<std::string> actual;
  if (auto it = extra.find(node.attribute); it != extra.end()) {
    actual = it->second;
  } else {
    actual = lookup(record, node.attribute);
  }
  // A record without the attribute never equals anything (and is "not equal" to everything).
  if (!actual) return node.op == "!=";
  return compare(*actual, node.op, node.value);
}

}  // namespace

Filter Filter::parse(std::string_view text) {
  Filter filter;
  if (!text.empty()) filter.root_ = FilterParser(text).parse();
  return filter;
}

bool Filter::matches(const nlohmann::json& record,
                     const std::map<std::string, std::string>& extra) const {
  return root_ == nullptr || evaluate(*root_, record, extra);
}

}  // namespace warmsite::clouddirector::sim

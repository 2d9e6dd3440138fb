#pragma once
// FIQL filters as Cloud Director takes them in `filter=` (both the cloudapi lists and the legacy
// query service): `attr==value` (with * as a wildcard), `!=`, `=lt=`, `=le=`, `=gt=`, `=ge=`,
// `;` for AND, `,` for OR, parentheses. Attributes are dotted paths into a record's JSON
// (`ownerRef.id`), or names the endpoint supplies itself (`_context`, `orgVdcId`).

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace warmsite::clouddirector::sim {

class Filter {
 public:
  // An empty text matches everything. Throws std::invalid_argument on a syntax error.
  static Filter parse(std::string_view text);

  // `extra` holds attributes that are not in the JSON record (they win over the record).
  bool matches(const nlohmann::json& record,
               const std::map<std::string, std::string>& extra = {}) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace warmsite::clouddirector::sim

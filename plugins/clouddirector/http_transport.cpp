#include "http_transport.h"

#include <strings.h>

namespace warmsite::clouddirector {

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
  }
  return {};
}

std::vector<std::string> HttpResponse::headerValues(const std::string& name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : headers) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) values.push_back(value);
  }
  return values;
}

}  // namespace warmsite::clouddirector

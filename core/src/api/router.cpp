#include "api/router.h"

#include <stdexcept>

#include "store/store.h"

namespace warmsite::api {

void ApiRequest::auditIn(store::Transaction& tx, int status, const std::string& tenantId) {
  tx.appendAudit(auditEntry(status, tenantId));
  auditedStatus = status;
}

namespace {

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> segments;
  std::size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string::npos ? path.size() : slash;
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

bool isParameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::add(std::string method, std::string pattern, Access access, ApiHandler handler) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::logic_error("route pattern must start with /");
  Route route{std::move(method), std::move(pattern), access, std::move(handler), {}};
  route.segments = split(route.pattern);
  for (const auto& existing : routes_) {
    if (existing.method == route.method && existing.pattern == route.pattern) {
      throw std::logic_error("route " + route.method + " " + route.pattern + " added twice");
    }
  }
  routes_.push_back(std::move(route));
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match result;
  if (path.empty() || path.front() != '/') return result;
  const auto segments = split(path);
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool matches = true;
    for (std::size_t i = 0; i < segments.size() && matches; ++i) {
      if (isParameter(route.segments[i])) {
        if (segments[i].empty()) matches = false;
        params[route.segments[i].substr(1, route.segments[i].size() - 2)] = segments[i];
      } else {
        matches = route.segments[i] == segments[i];
      }
    }
    if (!matches) continue;
    if (route.method == method) {
      result.route = &route;
      result.params = std::move(params);
      return result;
    }
    result.allowedMethods.push_back(route.method);
  }
  return result;
}

}  // namespace warmsite::api

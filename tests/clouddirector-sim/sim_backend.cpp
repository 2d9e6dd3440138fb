#include "tests/clouddirector-sim/sim_backend.h"

#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <random>
#include <sstream>
#include <thread>

namespace warmsite::clouddirector::sim {

// ---- helpers shared by the handler files
// ----------------------------------------------------------

std::string newUuid() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  const std::uint64_t high = engine(), low = engine();
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-4%03x-%04x-%012llx",
                static_cast<unsigned>(high >> 32), static_cast<unsigned>((high >> 16) & 0xffff),
                static_cast<unsigned>(high & 0x0fff),
                static_cast<unsigned>(0x8000 | ((low >> 48) & 0x3fff)),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return text;
}

std::string isoNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return text;
}

std::string urnUuid(const std::string& urn, const std::string& kind) {
  const std::string prefix = "urn:vcloud:" + kind + ":";
  return urn.rfind(prefix, 0) == 0 ? urn.substr(prefix.size()) : std::string();
}

ApiError forbidden(const std::string& what) {
  // Cloud Director answers 403, not 404, for an id that does not exist or is not visible.
  return {403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
          "[ " + newUuid() + " ] Either you need some or all of the following rights [] to " +
              "perform operations [] for " + what + " or the target entity is invalid."};
}

ApiError badRequest(const std::string& message, const std::string& code) {
  return {400, code, "[ " + newUuid() + " ] " + message};
}

Json parseJsonBody(const Request& request) {
  try {
    return Json::parse(request.raw.body);
  } catch (const Json::exception& e) {
    throw badRequest(std::string("The request body is not valid JSON: ") + e.what());
  }
}

std::string Request::param(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

namespace {

std::string percentDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string base64Decode(const std::string& text) {
  std::string out(text.size(), '\0');
  const int size = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(text.data()),
                                   static_cast<int>(text.size()));
  if (size < 0) return {};
  out.resize(static_cast<std::size_t>(size));
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) out.pop_back();
  return out;
}

std::string randomToken() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token = "eyJhbGciOiJSUzI1NiJ9.";  // a JWT-shaped bearer token, ~600 characters
  for (int i = 0; i < 580; ++i) token += kAlphabet[engine() % 64];
  return token;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// "version=38.0" inside an Accept header.
std::string acceptedVersion(const std::string& accept) {
  const auto at = accept.find("version=");
  if (at == std::string::npos) return {};
  const auto start = at + 8;
  const auto end = accept.find_first_of(";, ", start);
  return accept.substr(start, end == std::string::npos ? end : end - start);
}

bool isCloudApi(const Request& request) {
  return !request.segments.empty() && request.segments[0] == "cloudapi";
}

ServerResponse errorResponse(const Request& request, const ApiError& error) {
  ServerResponse response;
  response.status = error.status;
  const std::string version = request.version.empty() ? "" : ";version=" + request.version;
  Json body;
  if (isCloudApi(request)) {
    body = {{"minorErrorCode", error.minorErrorCode},
            {"message", error.message},
            {"stackTrace", nullptr}};
    response.headers.emplace_back("Content-Type", "application/json" + version);
  } else {
    body = {{"otherAttributes", Json::object()},  {"message", error.message},
            {"majorErrorCode", error.status},     {"minorErrorCode", error.minorErrorCode},
            {"vendorSpecificErrorCode", nullptr}, {"stackTrace", nullptr}};
    response.headers.emplace_back("Content-Type",
                                  "application/vnd.vmware.vcloud.error+json" + version);
  }
  response.body = body.dump();
  return response;
}

}  // namespace

// ---- construction
// ---------------------------------------------------------------------------------

Backend::Backend(const SimulatorOptions& opts) : options(opts) {
  auto orgUuid = [this](const std::string& name) {
    for (const auto& org : orgs) {
      if (iequals(org.name, name)) return org.uuid;
    }
    orgs.push_back({newUuid(), name});
    return orgs.back().uuid;
  };
  orgUuid("System");
  for (const auto& user : options.users) orgUuid(user.org);
  for (const auto& seed : options.vdcs) {
    Vdc vdc;
    vdc.uuid = newUuid();
    vdc.name = seed.name;
    vdc.orgUuid = orgUuid(seed.org);
    vdc.cpuLimitMhz = seed.cpuLimitMhz;
    vdc.memoryLimitMb = seed.memoryLimitMb;
    for (const auto& profile : seed.storageProfiles) {
      vdc.profiles.push_back({newUuid(), profile.name, profile.limitMb});
    }
    vdcs.emplace(vdc.uuid, std::move(vdc));
  }
  for (const auto& seed : options.edges) {
    Edge edge;
    edge.uuid = newUuid();
    edge.name = seed.name;
    edge.seed = seed;
    for (const auto& [uuid, vdc] : vdcs) {
      if (vdc.name == seed.vdc) edge.vdcUuid = uuid;
    }
    edges.emplace(edge.uuid, std::move(edge));
  }
  int portGroupNumber = 1000;
  for (const auto& seed : options.portGroups) {
    portGroups.push_back(
        {"dvportgroup-" + std::to_string(++portGroupNumber), seed.name, seed.vlan, ""});
  }
}

// ---- request pipeline
// -----------------------------------------------------------------------------

ServerResponse Backend::handle(const ServerRequest& raw) {
  std::chrono::milliseconds latency;
  {
    std::lock_guard lock(mutex);
    latency = options.requestLatency;
  }
  if (latency.count() > 0) std::this_thread::sleep_for(latency);

  Request request{raw, raw.method, {}, {}, {}, {}, nullptr, {}};
  const auto question = raw.target.find('?');
  request.path = raw.target.substr(0, question);
  if (question != std::string::npos) {
    std::istringstream pairs(raw.target.substr(question + 1));
    std::string pair;
    while (std::getline(pairs, pair, '&')) {
      const auto eq = pair.find('=');
      request.query[percentDecode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : percentDecode(pair.substr(eq + 1));
    }
  }
  std::istringstream segments(request.path);
  std::string segment;
  while (std::getline(segments, segment, '/')) {
    if (!segment.empty()) request.segments.push_back(percentDecode(segment));
  }

  std::lock_guard lock(mutex);
  advanceTasks(Clock::now());
  ServerResponse response;
  try {
    response = dispatch(request);
  } catch (const ApiError& error) {
    response = errorResponse(request, error);
  } catch (const std::exception& e) {
    response = errorResponse(request, {500, "INTERNAL_SERVER_ERROR", e.what()});
  }
  requests.push_back({request.method, request.path, response.status});
  return response;
}

std::optional<std::size_t> Backend::fireFault(const Request& request, Fault kind) {
  for (std::size_t i = 0; i < faults.size(); ++i) {
    auto& rule = faults[i];
    if (rule.fault != kind || rule.times == 0) continue;
    if (!rule.method.empty() && rule.method != request.method) continue;
    if (!rule.pathContains.empty() && request.path.find(rule.pathContains) == std::string::npos) {
      continue;
    }
    if (++faultHits[i] % std::max<std::uint32_t>(rule.every, 1) != 0) continue;
    if (rule.times > 0) --rule.times;
    return i;
  }
  return std::nullopt;
}

std::optional<ServerResponse> Backend::injectedFault(const Request& request, Fault kind, int status,
                                                     const std::string& code) {
  const auto fired = fireFault(request, kind);
  if (!fired) return std::nullopt;
  auto response = errorResponse(request, {status, code, faults[*fired].message});
  if (kind == Fault::kExpiredToken) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

ServerResponse Backend::dispatch(Request& request) {
  request.version = acceptedVersion(request.raw.header("Accept"));
  // A proxy or NSX in front of the cell throttles before anything is looked at.
  if (auto fault = injectedFault(request, Fault::kServiceUnavailable, 503, "SERVICE_UNAVAILABLE")) {
    return *fault;
  }
  if (auto fault = injectedFault(request, Fault::kTooManyRequests, 429, "TOO_MANY_REQUESTS")) {
    return *fault;
  }
  if (request.method == "GET" && request.path == "/api/versions") return versions(request);

  if (request.version.empty() || std::find(options.apiVersions.begin(), options.apiVersions.end(),
                                           request.version) == options.apiVersions.end()) {
    throw ApiError{406, "NOT_ACCEPTABLE",
                   "The request has an Accept header without a supported version: \"" +
                       request.raw.header("Accept") + "\""};
  }
  if (request.method == "POST" && request.path == "/cloudapi/1.0.0/sessions") {
    return login(request, false);
  }
  if (request.method == "POST" && request.path == "/cloudapi/1.0.0/sessions/provider") {
    return login(request, true);
  }

  std::string token;
  const std::string authorization = request.raw.header("Authorization");
  if (authorization.size() > 7 && iequals(authorization.substr(0, 7), "Bearer ")) {
    token = authorization.substr(7);
  } else {
    token = request.raw.header("x-vcloud-authorization");
  }
  auto session = sessions.find(token);
  if (token.empty() || session == sessions.end()) {
    throw ApiError{401, "UNAUTHORIZED",
                   "Either no access token was provided, or it is invalid or expired."};
  }
  if (auto fault = injectedFault(request, Fault::kExpiredToken, 401, "UNAUTHORIZED")) {
    sessions.erase(session);
    return *fault;
  }
  request.session = &session->second;
  if (request.session->provider) {
    const std::string context = request.raw.header("X-VMWARE-VCLOUD-TENANT-CONTEXT");
    if (!context.empty()) {
      if (std::none_of(orgs.begin(), orgs.end(), [&](const Org& o) { return o.uuid == context; })) {
        throw forbidden("tenant context " + context);
      }
      request.tenantContext = context;
    }
  }
  if (request.method != "GET") {
    if (auto fault = injectedFault(request, Fault::kBusyEntity, 400, "BUSY_ENTITY")) return *fault;
  }
  return route(request);
}

ServerResponse Backend::route(Request& request) {
  if (request.segments.size() >= 2 && request.segments[0] == "cloudapi") {
    if (request.segments[1] != "1.0.0") throw ApiError{404, "RESOURCE_NOT_FOUND", "No such API"};
    return cloudapi(request);
  }
  if (!request.segments.empty() && request.segments[0] == "api") return legacy(request);
  throw ApiError{404, "RESOURCE_NOT_FOUND", "No resource at " + request.path};
}

// ---- versions and sessions
// ------------------------------------------------------------------------

ServerResponse Backend::versions(const Request& request) {
  Json infos = Json::array();
  for (const auto& version : options.apiVersions) {
    const bool legacyLogin = version < std::string("37.0");
    infos.push_back({{"version", version},
                     {"loginUrl", href(legacyLogin ? "/api/sessions" : "/cloudapi/1.0.0/sessions")},
                     {"providerLoginUrl", href("/cloudapi/1.0.0/sessions/provider")},
                     {"mediaTypeMapping", Json::array()},
                     {"deprecated", legacyLogin}});
  }
  return json(request, 200, {{"versionInfo", infos}}, "application/json");
}

ServerResponse Backend::login(Request& request, bool provider) {
  const std::string authorization = request.raw.header("Authorization");
  const std::string unauthorized = "Invalid credentials";
  if (authorization.size() <= 6 || !iequals(authorization.substr(0, 6), "Basic ")) {
    throw ApiError{401, "UNAUTHORIZED", unauthorized};
  }
  const std::string decoded = base64Decode(authorization.substr(6));
  const auto colon = decoded.find(':');
  const std::string principal = decoded.substr(0, colon);
  const auto at = principal.rfind('@');
  if (colon == std::string::npos || at == std::string::npos) {
    throw ApiError{401, "UNAUTHORIZED", unauthorized};
  }
  const std::string user = principal.substr(0, at), orgName = principal.substr(at + 1);
  const std::string password = decoded.substr(colon + 1);
  // The provider endpoint is for the System org only, and the tenant one for the others.
  if (provider != iequals(orgName, "System")) throw ApiError{401, "UNAUTHORIZED", unauthorized};
  const auto match = std::find_if(options.users.begin(), options.users.end(), [&](const auto& u) {
    return iequals(u.org, orgName) && u.name == user && u.password == password;
  });
  if (match == options.users.end()) throw ApiError{401, "UNAUTHORIZED", unauthorized};
  Session session;
  session.token = randomToken();
  session.id = newUuid();
  session.user = user;
  session.provider = provider;
  for (const auto& org : orgs) {
    if (iequals(org.name, orgName)) session.orgUuid = org.uuid;
  }
  auto& stored = sessions.emplace(session.token, session).first->second;
  auto response = sessionBody(request, stored, 200);
  response.headers.emplace_back("X-VMWARE-VCLOUD-ACCESS-TOKEN", stored.token);
  response.headers.emplace_back("X-VMWARE-VCLOUD-TOKEN-TYPE", "Bearer");
  return response;
}

ServerResponse Backend::sessionBody(const Request& request, const Session& session, int status) {
  const Org& sessionOrg = org(session.orgUuid);
  const std::string role = session.provider ? "System Administrator" : "Organization Administrator";
  return json(request, status,
              {{"id", "urn:vcloud:session:" + session.id},
               {"site", {{"name", "vcd-simulator"}, {"id", "urn:vcloud:site:" + orgs[0].uuid}}},
               {"user", {{"name", session.user}, {"id", "urn:vcloud:user:" + session.id}}},
               {"org", {{"name", sessionOrg.name}, {"id", "urn:vcloud:org:" + sessionOrg.uuid}}},
               {"location", "vcd-simulator"},
               {"roles", {role}},
               {"roleRefs", {{{"name", role}, {"id", "urn:vcloud:role:" + orgs[0].uuid}}}},
               {"sessionIdleTimeoutMinutes", 30}});
}

// ---- tasks
// ----------------------------------------------------------------------------------------

Task& Backend::startTask(const Request& request, const std::string& operationName,
                         const std::string& operation, Json owner, const std::string& busyKey,
                         std::function<void()> onSuccess, std::function<void()> onFailure) {
  Task task;
  task.uuid = newUuid();
  task.operationName = operationName;
  task.operation = operation;
  task.owner = std::move(owner);
  task.orgUuid = request.tenantContext.empty() ? request.session->orgUuid : request.tenantContext;
  task.user = request.session->user;
  task.busyKey = busyKey;
  const auto now = Clock::now();
  task.runningAt = now + options.taskQueued;
  task.doneAt = task.runningAt + options.taskRunning;
  task.startTime = isoNow();
  task.onSuccess = std::move(onSuccess);
  task.onFailure = std::move(onFailure);
  if (const auto fired = fireFault(request, Fault::kTaskError)) task.failure = faults[*fired];
  if (!busyKey.empty()) busy[busyKey] = task.uuid;
  taskOrder.push_back(task.uuid);
  return tasks.emplace(task.uuid, std::move(task)).first->second;
}

void Backend::advanceTasks(Clock::time_point now) {
  std::vector<std::string> pending;
  for (const auto& uuid : taskOrder) {
    Task& task = tasks.at(uuid);
    if (task.status == "queued" && now >= task.runningAt) task.status = "running";
    if (now < task.doneAt && !task.cancelRequested) {
      pending.push_back(uuid);
      continue;
    }
    if (task.cancelRequested) {
      task.status = "canceled";
      if (task.onFailure) task.onFailure();
    } else if (task.failure) {
      task.status = "error";
      if (task.onFailure) task.onFailure();
    } else {
      task.status = "success";
      if (task.onSuccess) task.onSuccess();
    }
    task.onSuccess = nullptr;
    task.onFailure = nullptr;
    task.endTime = isoNow();
    if (auto it = busy.find(task.busyKey); it != busy.end() && it->second == uuid) busy.erase(it);
  }
  taskOrder = std::move(pending);
}

void Backend::requireNotBusy(const std::string& busyKey, const std::string& what) const {
  if (busy.contains(busyKey)) {
    throw badRequest("The entity " + what + " is busy completing an operation.", "BUSY_ENTITY");
  }
}

// ---- lookups and answers
// ----------------------------------------------------------------------------------

bool Backend::visible(const Request& request, const std::string& orgUuid) const {
  if (request.session->provider) {
    return request.tenantContext.empty() || request.tenantContext == orgUuid;
  }
  return request.session->orgUuid == orgUuid;
}

const Org& Backend::org(const std::string& uuid) const {
  for (const auto& o : orgs) {
    if (o.uuid == uuid) return o;
  }
  throw ApiError{500, "INTERNAL_SERVER_ERROR", "unknown org " + uuid};
}

Vdc& Backend::vdcOrThrow(const Request& request, const std::string& uuid) {
  auto it = vdcs.find(uuid);
  if (it == vdcs.end() || !visible(request, it->second.orgUuid)) throw forbidden("vdc " + uuid);
  return it->second;
}

VApp& Backend::vappOrThrow(const Request& request, const std::string& uuid) {
  auto it = vapps.find(uuid);
  if (it == vapps.end() || !visible(request, vdcs.at(it->second.vdcUuid).orgUuid)) {
    throw forbidden("vApp vapp-" + uuid);
  }
  return it->second;
}

std::pair<VApp*, Vm*> Backend::vmOrThrow(const Request& request, const std::string& uuid) {
  for (auto& [vappUuid, vapp] : vapps) {
    for (auto& vm : vapp.vms) {
      if (vm.uuid == uuid && visible(request, vdcs.at(vapp.vdcUuid).orgUuid)) return {&vapp, &vm};
    }
  }
  throw forbidden("VM vm-" + uuid);
}

Edge& Backend::edgeOrThrow(const Request& request, const std::string& urn) {
  auto it = edges.find(urnUuid(urn, "gateway"));
  if (it == edges.end() || !visible(request, vdcs.at(it->second.vdcUuid).orgUuid)) {
    throw forbidden("edge gateway " + urn);
  }
  return it->second;
}

ServerResponse Backend::json(const Request& request, int status, const Json& body,
                             const std::string& mediaType) const {
  ServerResponse response;
  response.status = status;
  response.headers.emplace_back(
      "Content-Type", mediaType + (request.version.empty() ? "" : ";version=" + request.version));
  response.body = body.dump();
  return response;
}

ServerResponse Backend::taskAccepted(const Request& /*request*/, const Task& task) const {
  ServerResponse response;
  response.status = 202;
  response.headers.emplace_back("Location", href("/api/task/" + task.uuid));
  return response;
}

std::pair<long, long> Backend::pageParams(const Request& request) const {
  const std::string pageText = request.param("page"), sizeText = request.param("pageSize");
  long pageNumber = 0, pageSize = 0;
  try {
    pageNumber = pageText.empty() ? 1 : std::stol(pageText);
    pageSize = sizeText.empty() ? 25 : std::stol(sizeText);
  } catch (const std::exception&) {
    throw badRequest("page and pageSize must be numbers");
  }
  if (pageNumber < 1 || pageSize < 1) throw badRequest("page and pageSize must be positive");
  return {pageNumber, std::min<long>(pageSize, options.maxPageSize)};
}

ServerResponse Backend::page(const Request& request, const std::vector<Json>& all) const {
  const auto [pageNumber, pageSize] = pageParams(request);
  const long total = static_cast<long>(all.size());
  const long pageCount = std::max(1L, (total + pageSize - 1) / pageSize);
  Json values = Json::array();
  for (long i = (pageNumber - 1) * pageSize; i < std::min(total, pageNumber * pageSize); ++i) {
    values.push_back(all[static_cast<std::size_t>(i)]);
  }
  auto response = json(request, 200,
                       {{"resultTotal", total},
                        {"pageCount", pageCount},
                        {"page", pageNumber},
                        {"pageSize", pageSize},
                        {"associations", nullptr},
                        {"values", values}});
  // Navigation links as Cloud Director sends them: one Link header each, and several rel names in
  // one header when two links coincide ("lastPage nextPage").
  const std::string target = request.raw.target;
  const auto question = target.find('?');
  std::string rest;
  if (question != std::string::npos) {
    std::istringstream pairs(target.substr(question + 1));
    std::string pair;
    while (std::getline(pairs, pair, '&')) {
      if (pair.rfind("page=", 0) != 0) rest += pair + "&";
    }
  }
  auto link = [&](long number, const std::string& rel) {
    response.headers.emplace_back(
        "Link", "<" + href(request.path) + "?" + rest + "page=" + std::to_string(number) +
                    ">;rel=\"" + rel + "\";type=\"application/json;version=" + request.version +
                    "\"");
  };
  if (pageNumber < pageCount) {
    link(pageNumber + 1, pageNumber + 1 == pageCount ? "lastPage nextPage" : "nextPage");
    if (pageNumber + 1 != pageCount) link(pageCount, "lastPage");
  }
  return response;
}

std::string Backend::nextMac() {
  // VMware's range for addresses a VCD assigns: 00:50:56:00:00:00 - 00:50:56:3f:ff:ff.
  const std::uint64_t n = macCounter++;
  char mac[18];
  std::snprintf(mac, sizeof mac, "00:50:56:%02x:%02x:%02x", static_cast<unsigned>((n >> 16) & 0x3f),
                static_cast<unsigned>((n >> 8) & 0xff), static_cast<unsigned>(n & 0xff));
  return mac;
}

}  // namespace warmsite::clouddirector::sim

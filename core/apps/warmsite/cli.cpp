#include "cli.h"

#include <fmt/format.h>

#include <iostream>
#include <regex>
#include <thread>

#include "errors.h"
#include "terminal.h"

namespace warmsite::cli {

ServerAddress parseServer(const std::string& text) {
  ServerAddress address;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) throw UsageError("--server \"" + text + "\": missing ']'");
    address.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') throw UsageError("--server \"" + text + "\": expected :PORT");
      port = text.substr(close + 2);
    }
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    address.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  } else {
    address.host = text;
  }
  if (address.host.empty()) throw UsageError("--server \"" + text + "\" names no host");
  if (!port.empty()) {
    char* end = nullptr;
    const auto number = std::strtoul(port.c_str(), &end, 10);
    if (*end != '\0' || number == 0 || number > 65535) {
      throw UsageError("--server \"" + text + "\": the port must be a number from 1 to 65535");
    }
    address.port = static_cast<std::uint16_t>(number);
  }
  return address;
}

std::string urlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

ProfileStore& Cli::profiles() {
  if (!profiles_) {
    try {
      profiles_.emplace(options.configPath.empty() ? ProfileStore::defaultPath()
                                                   : std::filesystem::path(options.configPath));
    } catch (const std::runtime_error& e) {
      throw UsageError(e.what());
    }
  }
  return *profiles_;
}

const Profile& Cli::profile() {
  const auto* found = profiles().find(options.profile);
  if (found == nullptr || found->server.empty()) {
    throw UsageError("profile \"" + options.profile + "\" has no server (" +
                     profiles().path().string() +
                     "); log in first: warmsite login --server HOST:PORT --user NAME");
  }
  return *found;
}

void Cli::saveProfile(const Profile& profile) {
  profiles().put(options.profile, profile);
  profiles().save();
  client_.reset();  // the next request uses the new pin and token
}

client::ApiClient& Cli::api() {
  if (!client_) {
    const auto& current = profile();
    const auto address = parseServer(current.server);
    client::ClientOptions clientOptions;
    clientOptions.host = address.host;
    clientOptions.port = address.port;
    clientOptions.pinnedThumbprint = current.thumbprint;
    if (clientOptions.pinnedThumbprint.empty()) {
      // An empty pin would accept any certificate; a profile always has one after login.
      throw UsageError("profile \"" + options.profile +
                       "\" has no pinned certificate; log in again");
    }
    client_.emplace(clientOptions);
    client_->setToken(current.token);
  }
  return *client_;
}

nlohmann::json answerOf(const client::ClientResponse& response, const std::string& profile) {
  auto json = response.json();
  if (response.status >= 200 && response.status < 300) return json;
  if (!json.is_object()) {
    throw ApiFailure(response.status, "http_" + std::to_string(response.status),
                     "the server answered HTTP " + std::to_string(response.status), {});
  }
  std::string message = json.value("message", "");
  if (response.status == 401 && json.value("code", "") != "bad_credentials") {
    message += "; log in again: warmsite --profile " + profile + " login";
  }
  throw ApiFailure(response.status, json.value("code", ""), message,
                   json.value("details", nlohmann::json::object()));
}

nlohmann::json Cli::call(const std::string& method, const std::string& path,
                         const nlohmann::json& body) {
  return answerOf(api().request(method, "/api/v1" + path, body.is_null() ? "" : body.dump()),
                  options.profile);
}

void Cli::print(const nlohmann::json& value, const Renderer& render) {
  if (options.json) {
    if (!value.is_null()) std::cout << value.dump(2) << '\n';
  } else {
    render(std::cout, value);
  }
}

nlohmann::json Cli::waitForTask(const std::string& taskId, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool live = stderrIsTerminal();
  std::string shown;
  for (;;) {
    auto task = get("/tasks/" + urlEncode(taskId));
    const auto state = task.value("state", "");
    const int progress = task.value("progress", 0);
    const int filled = std::clamp(progress, 0, 100) / 5;
    const auto line =
        fmt::format("{} {} [{}{}] {:>3}% {}", taskId, task.value("kind", ""),
                    std::string(filled, '#'), std::string(20 - filled, '.'), progress, state);
    // A terminal gets one line redrawn in place; a log gets a line per change.
    if (live) {
      std::cerr << '\r' << line << "\033[K" << std::flush;
    } else if (line != shown) {
      std::cerr << line << '\n';
    }
    shown = line;
    const bool finished = state == "succeeded" || state == "failed" || state == "cancelled";
    if (finished && live) std::cerr << '\n';
    if (state == "succeeded") return task;
    if (finished) {
      throw TaskFailed(
          "task " + taskId + " " + state + ": " +
          (task["error"].is_string() ? task["error"].get<std::string>() : "no reason"));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      if (live) std::cerr << '\n';
      throw TaskFailed(
          fmt::format("task {} is still {} after {} s; follow it with: warmsite task "
                      "wait {}",
                      taskId, state, timeout.count(), taskId));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string Cli::resolveId(const std::string& collection, const std::string& noun,
                           const std::string& nameOrId) {
  static const std::regex kId("[a-z]+-[0-9a-f]{32}");
  if (std::regex_match(nameOrId, kId)) return nameOrId;
  std::vector<std::string> ids;
  for (const auto& item : get(collection)) {
    if (item.value("name", "") == nameOrId) ids.push_back(item.value("id", ""));
  }
  if (ids.size() == 1) return ids.front();
  if (ids.empty()) {
    throw ApiFailure(404, "not_found", "no " + noun + " is named \"" + nameOrId + "\"", {});
  }
  throw UsageError(std::to_string(ids.size()) + " " + noun + "s are named \"" + nameOrId +
                   "\"; give the id");
}

}  // namespace warmsite::cli

#pragma once
// What every command shares: the global options, the selected profile, a client pinned to the
// profile's certificate, and printing either the API's JSON or a view of it for people.

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "client/api_client.h"
#include "profile_store.h"

namespace warmsite::cli {

struct GlobalOptions {
  std::string profile = "default";
  std::string configPath;  // empty = ProfileStore::defaultPath()
  bool json = false;
};

struct ServerAddress {
  std::string host;
  std::uint16_t port = 6180;
};
// "host", "host:port", "[v6]:port"; throws UsageError.
ServerAddress parseServer(const std::string& text);

// Percent-encodes one path segment or query value.
std::string urlEncode(const std::string& text);

// The JSON of a 2xx answer (null when empty); ApiFailure with the API's error otherwise.
nlohmann::json answerOf(const client::ClientResponse& response, const std::string& profile);

using Renderer = std::function<void(std::ostream& out, const nlohmann::json& value)>;

class Cli {
 public:
  GlobalOptions options;

  ProfileStore& profiles();
  // The selected profile; UsageError when it has never logged in.
  const Profile& profile();
  void saveProfile(const Profile& profile);

  // A client for the profile's server that accepts only the pinned certificate.
  client::ApiClient& api();

  // Sends `body` (none when null) to /api/v1`path`; returns the answer's JSON (null when empty).
  // A non-2xx answer throws ApiFailure.
  nlohmann::json call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr);
  nlohmann::json get(const std::string& path) { return call("GET", path); }

  // The API's JSON under --json, else `render`'s view of it.
  void print(const nlohmann::json& value, const Renderer& render);

  // Polls the task until it finishes, drawing its progress on stderr; returns its last state.
  // Throws TaskFailed when it failed or did not finish within `timeout`.
  nlohmann::json waitForTask(const std::string& taskId, std::chrono::seconds timeout);

  // `nameOrId` when it is an id, else the id of the one object named so in `collection`.
  std::string resolveId(const std::string& collection, const std::string& noun,
                        const std::string& nameOrId);

 private:
  std::optional<ProfileStore> profiles_;
  std::optional<client::ApiClient> client_;
};

}  // namespace warmsite::cli

#pragma once
// The CLI's profiles: per profile, the server, the certificate thumbprint pinned at login, the
// bearer token and who it belongs to. Kept in one JSON file readable by its owner only (0600),
// since the tokens in it are as good as passwords until they expire.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace warmsite::cli {

struct Profile {
  std::string server;      // host:port
  std::string thumbprint;  // SHA-256 of the server certificate, "AB:CD:..."
  std::string token;       // empty after logout
  std::string account;
  std::string role;      // provider or tenant
  std::string tenantId;  // tenants only
  std::int64_t tokenExpiresAt = 0;
};

class ProfileStore {
 public:
  // $WARMSITE_CONFIG, else $XDG_CONFIG_HOME/warmsite/profiles.json, else
  // ~/.config/warmsite/profiles.json.
  static std::filesystem::path defaultPath();

  // Reads the file when it exists; throws std::runtime_error when it is not a profile file.
  explicit ProfileStore(std::filesystem::path path);

  const std::filesystem::path& path() const noexcept { return path_; }
  const Profile* find(const std::string& name) const;
  void put(const std::string& name, Profile profile) { profiles_[name] = std::move(profile); }

  // Replaces the file atomically with a 0600 one (its directory is created 0700).
  void save() const;

 private:
  std::filesystem::path path_;
  std::map<std::string, Profile> profiles_;
};

}  // namespace warmsite::cli

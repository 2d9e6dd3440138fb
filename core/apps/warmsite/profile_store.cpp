#include "profile_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace warmsite::cli {

namespace {

std::runtime_error systemError(const std::string& what, const std::filesystem::path& path) {
  return std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

std::filesystem::path ProfileStore::defaultPath() {
  if (const char* config = std::getenv("WARMSITE_CONFIG"); config && *config) return config;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) {
    return std::filesystem::path(xdg) / "warmsite" / "profiles.json";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".config" / "warmsite" / "profiles.json";
}

ProfileStore::ProfileStore(std::filesystem::path path) : path_(std::move(path)) {
  std::ifstream in(path_);
  if (!in) return;
  struct stat info {};
  if (::stat(path_.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    std::cerr << "warning: " << path_.string()
              << " can be read by other users and holds login tokens; run chmod 600 on it\n";
  }
  const auto document = nlohmann::json::parse(in, nullptr, false);
  const auto profiles =
      document.is_object() ? document.value("profiles", nlohmann::json::object()) : nullptr;
  if (!profiles.is_object()) {
    throw std::runtime_error(path_.string() + " is not a warmsite profile file");
  }
  for (const auto& [name, item] : profiles.items()) {
    if (!item.is_object()) continue;
    Profile profile;
    profile.server = item.value("server", "");
    profile.thumbprint = item.value("thumbprint", "");
    profile.token = item.value("token", "");
    profile.account = item.value("account", "");
    profile.role = item.value("role", "");
    profile.tenantId = item.value("tenant_id", "");
    profile.tokenExpiresAt = item.value("token_expires_at", std::int64_t{0});
    profiles_[name] = std::move(profile);
  }
}

const Profile* ProfileStore::find(const std::string& name) const {
  auto it = profiles_.find(name);
  return it == profiles_.end() ? nullptr : &it->second;
}

void ProfileStore::save() const {
  auto profiles = nlohmann::json::object();
  for (const auto& [name, profile] : profiles_) {
    profiles[name] = {{"server", profile.server},
                      {"thumbprint", profile.thumbprint},
                      {"token", profile.token},
                      {"account", profile.account},
                      {"role", profile.role},
                      {"tenant_id", profile.tenantId},
                      {"token_expires_at", profile.tokenExpiresAt}};
  }
  const std::string text = nlohmann::json{{"profiles", profiles}}.dump(2) + "\n";

  const auto directory = path_.has_parent_path() ? path_.parent_path() : ".";
  if (!std::filesystem::exists(directory)) {
    std::filesystem::create_directories(directory);
    std::filesystem::permissions(directory, std::filesystem::perms::owner_all);
  }
  // Written beside the target and renamed over it, so a crash never leaves half a file.
  auto temporary = path_;
  temporary += ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw systemError("cannot write", temporary);
  ::fchmod(fd, 0600);  // O_CREAT's mode does not apply to a leftover file
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path_.c_str()) != 0) {
    const auto error = systemError("cannot write", path_);
    ::unlink(temporary.c_str());
    throw error;
  }
}

}  // namespace warmsite::cli

#pragma once
// The plugin libraries this daemon found, keyed by the name each announces in its handshake.
// Filled once at start from one thread; read-only afterwards, so lookups need no lock.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "plugins/plugin_loader.h"

namespace warmsite::plugins {

class PluginCatalog {
 public:
  // Loads every "*.so" file of `directory` in name order. A bad library is recorded in failures()
  // and skipped; the others still load.
  void loadDirectory(const std::filesystem::path& directory);

  // Loads one library; false (and a recorded failure) when it is bad or its name is taken.
  bool loadFile(const std::filesystem::path& path);

  const PluginLibrary* find(const std::string& name) const;
  std::vector<const PluginLibrary*> libraries() const;
  const std::vector<PluginError>& failures() const noexcept { return failures_; }

 private:
  std::map<std::string, PluginLibrary> libraries_;
  std::vector<PluginError> failures_;
};

}  // namespace warmsite::plugins

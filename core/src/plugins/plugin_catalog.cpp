#include "plugins/plugin_catalog.h"

#include <algorithm>
#include <system_error>

namespace warmsite::plugins {

void PluginCatalog::loadDirectory(const std::filesystem::path& directory) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    if (entry.path().extension() == ".so") files.push_back(std::filesystem::absolute(entry.path()));
  }
  if (ec) {
    failures_.push_back(PluginError{PluginFailure::kFileMissing,
                                    "plugin directory " + directory.string() + ": " + ec.message(),
                                    {}});
    return;
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) loadFile(file);
}

bool PluginCatalog::loadFile(const std::filesystem::path& path) {
  auto loaded = loadPluginLibrary(path);
  if (!loaded.ok()) {
    failures_.push_back(std::move(loaded).error());
    return false;
  }
  const PluginLibrary& library = loaded.value();
  if (const auto* existing = find(library.name())) {
    failures_.push_back(PluginError{PluginFailure::kDuplicateName,
                                    "plugin " + path.string() + ": name \"" + library.name() +
                                        "\" is already provided by " + existing->path().string(),
                                    {}});
    return false;
  }
  libraries_.emplace(library.name(), library);
  return true;
}

const PluginLibrary* PluginCatalog::find(const std::string& name) const {
  auto it = libraries_.find(name);
  return it == libraries_.end() ? nullptr : &it->second;
}

std::vector<const PluginLibrary*> PluginCatalog::libraries() const {
  std::vector<const PluginLibrary*> result;
  for (const auto& [name, library] : libraries_) result.push_back(&library);
  return result;
}

}  // namespace warmsite::plugins

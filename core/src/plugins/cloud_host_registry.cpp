#include "plugins/cloud_host_registry.h"

#include <mutex>

namespace warmsite::plugins {

PluginResult<std::shared_ptr<plugin::CloudHostPlugin>> CloudHostRegistry::attach(
    const domain::CloudHost& host) {
  Entry entry;
  entry.status = {host.id, host.name, host.plugin, false, {}};
  auto fail = [&](PluginError error) -> PluginResult<std::shared_ptr<plugin::CloudHostPlugin>> {
    entry.status.error = error.message;
    std::unique_lock lock(mutex_);
    entries_[host.id] = std::move(entry);
    return error;
  };

  const PluginLibrary* library = catalog_.find(host.plugin);
  if (library == nullptr) {
    return fail({PluginFailure::kFileMissing,
                 "cloud host " + host.name + ": no plugin named \"" + host.plugin + "\" is loaded",
                 {}});
  }
  // The services object must outlive the plugin object: both live in one block, and the plugin
  // (declared second) is destroyed first.
  struct Holder {
    explicit Holder(const std::string& name) : services(name) {}
    CloudHostServices services;
    std::shared_ptr<plugin::CloudHostPlugin> plugin;
  };
  entry.status.abiMinor = library->abiMinor();
  auto holder = std::make_shared<Holder>(host.name);
  auto created = library->create(host.configJson, holder->services);
  if (!created.ok()) return fail(std::move(created).error());
  holder->plugin = std::move(created).value();
  entry.plugin = std::shared_ptr<plugin::CloudHostPlugin>(holder, holder->plugin.get());
  entry.status.attached = true;
  auto attached = entry.plugin;
  std::unique_lock lock(mutex_);
  entries_[host.id] = std::move(entry);
  return attached;
}

void CloudHostRegistry::detach(const std::string& cloudHostId) {
  std::unique_lock lock(mutex_);
  entries_.erase(cloudHostId);
}

std::shared_ptr<plugin::CloudHostPlugin> CloudHostRegistry::find(
    const std::string& cloudHostId) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(cloudHostId);
  return it == entries_.end() ? nullptr : it->second.plugin;
}

std::uint32_t CloudHostRegistry::abiMinor(const std::string& cloudHostId) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(cloudHostId);
  return it == entries_.end() ? 0 : it->second.status.abiMinor;
}

std::vector<CloudHostStatus> CloudHostRegistry::status() const {
  std::shared_lock lock(mutex_);
  std::vector<CloudHostStatus> result;
  for (const auto& [id, entry] : entries_) result.push_back(entry.status);
  return result;
}

}  // namespace warmsite::plugins

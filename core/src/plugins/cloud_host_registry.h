#pragma once
// The running plugin object of each registered cloud host, keyed by cloud host id. Thread-safe:
// the API and the engine look hosts up from many threads while the SP adds or removes one.

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "domain/entities.h"
#include "plugins/host_services.h"
#include "plugins/plugin_catalog.h"

namespace warmsite::plugins {

struct CloudHostStatus {
  std::string cloudHostId;
  std::string name;
  std::string plugin;
  bool attached = false;
  std::string error;           // why it is not attached
  std::uint32_t abiMinor = 0;  // of its plugin: core calls no method newer than this
};

class CloudHostRegistry {
 public:
  explicit CloudHostRegistry(const PluginCatalog& catalog) : catalog_(catalog) {}

  // Creates the plugin object for a stored cloud host (replacing an earlier one). On failure the
  // host is still listed, with the error, so the SP sees why it is down.
  PluginResult<std::shared_ptr<plugin::CloudHostPlugin>> attach(const domain::CloudHost& host);
  void detach(const std::string& cloudHostId);

  // nullptr when the host is unknown or failed to attach.
  std::shared_ptr<plugin::CloudHostPlugin> find(const std::string& cloudHostId) const;
  // The ABI minor its plugin was built against (0 when the host is unknown).
  std::uint32_t abiMinor(const std::string& cloudHostId) const;
  std::vector<CloudHostStatus> status() const;

 private:
  struct Entry {
    CloudHostStatus status;
    std::shared_ptr<plugin::CloudHostPlugin> plugin;
  };

  const PluginCatalog& catalog_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace warmsite::plugins

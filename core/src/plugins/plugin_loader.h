#pragma once
// Loads plugin libraries. The only code that touches Boost.DLL lives in plugin_loader.cpp; nothing
// of Boost appears here. A loaded library is never unloaded: objects, vtables and exception types
// of a plugin may outlive any handle to it (Boost.DLL "missuses"; libvirt's virModuleLoad).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "warmsite/plugin/abi.h"

namespace warmsite::plugins {

// Each way a plugin can fail to load or to create its cloud-host object. Tests assert on these.
enum class PluginFailure : std::uint32_t {
  kRelativePath,         // a path without a leading '/': never searched, never guessed
  kFileMissing,          // no such file
  kNotSharedLibrary,     // the file is not an ELF shared object
  kUnresolvedSymbol,     // dlopen with RTLD_NOW found an undefined symbol
  kOpenFailed,           // any other dlopen failure (wrong architecture, missing dependency, ...)
  kNoHandshake,          // warmsite_plugin_handshake is not exported
  kHandshakeThrew,       // the handshake function threw
  kAbiMajorMismatch,     // built against another ABI major
  kAbiMinorTooNew,       // built against a newer ABI minor than this core
  kFingerprintMismatch,  // built with another compiler, standard library or flags
  kBadPluginName,        // the handshake's name is empty or not [a-z0-9-]
  kNoFactory,            // warmsite_plugin_create is not exported
  kFactoryThrew,         // the factory threw
  kFactoryReturnedNull,  // the factory returned success without an object
  kConfigRejected,       // the factory refused the cloud host's config
  kCapabilityMismatch,  // capabilities announce a part the object does not hand out, or the reverse
  kDuplicateName,       // two libraries claim the same plugin name
};

std::string_view toString(PluginFailure failure) noexcept;

struct PluginError {
  PluginFailure cause;
  std::string message;  // names the file and the cause, with dlerror() text where there is one
  plugin::Error pluginError;  // kConfigRejected and kFactoryReturnedNull: the factory's own error
};

template <typename T>
using PluginResult = plugin::Result<T, PluginError>;

// A library whose handshake passed. Cheap to copy; all copies refer to the same mapped library.
class PluginLibrary {
 public:
  const std::filesystem::path& path() const noexcept;
  const std::string& name() const noexcept;
  const std::string& version() const noexcept;
  std::uint32_t abiMinor() const noexcept;

  // Creates the object for one cloud host. The factory validates `configJson`; a rejection is
  // kConfigRejected carrying the plugin's message. The loader then checks the capabilities.
  PluginResult<std::shared_ptr<plugin::CloudHostPlugin>> create(std::string_view configJson,
                                                                plugin::HostServices& host) const;

  struct Impl;

 private:
  friend PluginResult<PluginLibrary> loadPluginLibrary(const std::filesystem::path& path);
  explicit PluginLibrary(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Opens `path` with RTLD_NOW | RTLD_LOCAL and checks the handshake before anything else runs.
PluginResult<PluginLibrary> loadPluginLibrary(const std::filesystem::path& path);

}  // namespace warmsite::plugins

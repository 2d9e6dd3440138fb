// The one file that includes Boost.DLL (1.74 API: boost::dll::import). Keeping it here means a
// Boost upgrade (import became import_symbol in 1.76) touches one file.
#include "plugins/plugin_loader.h"

#include <algorithm>
#include <exception>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/import.hpp>
#include <boost/dll/shared_library.hpp>

namespace warmsite::plugins {

std::string_view toString(PluginFailure failure) noexcept {
  switch (failure) {
    case PluginFailure::kRelativePath:
      return "relative_path";
    case PluginFailure::kFileMissing:
      return "file_missing";
    case PluginFailure::kNotSharedLibrary:
      return "not_shared_library";
    case PluginFailure::kUnresolvedSymbol:
      return "unresolved_symbol";
    case PluginFailure::kOpenFailed:
      return "open_failed";
    case PluginFailure::kNoHandshake:
      return "no_handshake";
    case PluginFailure::kHandshakeThrew:
      return "handshake_threw";
    case PluginFailure::kAbiMajorMismatch:
      return "abi_major_mismatch";
    case PluginFailure::kAbiMinorTooNew:
      return "abi_minor_too_new";
    case PluginFailure::kFingerprintMismatch:
      return "fingerprint_mismatch";
    case PluginFailure::kBadPluginName:
      return "bad_plugin_name";
    case PluginFailure::kNoFactory:
      return "no_factory";
    case PluginFailure::kFactoryThrew:
      return "factory_threw";
    case PluginFailure::kFactoryReturnedNull:
      return "factory_returned_null";
    case PluginFailure::kConfigRejected:
      return "config_rejected";
    case PluginFailure::kCapabilityMismatch:
      return "capability_mismatch";
    case PluginFailure::kDuplicateName:
      return "duplicate_name";
  }
  return "unknown";
}

struct PluginLibrary::Impl {
  std::filesystem::path path;
  std::string name;
  std::string version;
  std::uint32_t abiMinor = 0;
  std::function<plugin::CreateFunction> create;  // holds the library mapped (import keeps a ref)
};

namespace {

// Every library that was ever opened, kept mapped for the life of the process on purpose: a
// rejected plugin's static constructors already ran, and unmapping code that may be referenced
// (atexit handlers, TLS destructors) is a crash waiting to happen.
void keepLoadedForever(const boost::dll::shared_library& library) {
  static std::mutex mutex;
  static auto* libraries = new std::vector<boost::dll::shared_library>();  // never destroyed
  std::lock_guard lock(mutex);
  libraries->push_back(library);
}

PluginError failure(PluginFailure cause, const std::filesystem::path& path,
                    const std::string& what) {
  return PluginError{cause, "plugin " + path.string() + ": " + what, {}};
}

bool startsWithElfMagic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' &&
         magic[3] == 'F';
}

PluginError classifyOpenFailure(const std::filesystem::path& path, const std::string& what) {
  if (!startsWithElfMagic(path)) {
    return failure(PluginFailure::kNotSharedLibrary, path, "not an ELF shared library: " + what);
  }
  if (what.find("undefined symbol") != std::string::npos) {
    return failure(PluginFailure::kUnresolvedSymbol, path,
                   "unresolved symbol at load time: " + what);
  }
  return failure(PluginFailure::kOpenFailed, path, "cannot be loaded: " + what);
}

bool validPluginName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "a non-standard exception";
  }
}

}  // namespace

PluginResult<PluginLibrary> loadPluginLibrary(const std::filesystem::path& path) {
  if (!path.is_absolute()) {
    return failure(PluginFailure::kRelativePath, path,
                   "plugin paths must be absolute; relative paths are never searched");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return failure(PluginFailure::kFileMissing, path, "no such file");
  }

  boost::dll::shared_library library;
  try {
    library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    return classifyOpenFailure(path, e.what());
  }
  keepLoadedForever(library);

  if (!library.has(plugin::kHandshakeSymbol)) {
    return failure(PluginFailure::kNoHandshake, path,
                   std::string("does not export ") + plugin::kHandshakeSymbol +
                       " (not a Warmsite plugin, or built without WARMSITE_PLUGIN)");
  }
  auto handshakeFunction =
      boost::dll::import <plugin::HandshakeFunction>(library, plugin::kHandshakeSymbol);

  // An impossible value until the call succeeds, so a throwing handshake can never pass.
  plugin::Handshake handshake{0, 0, nullptr, nullptr, nullptr};
  try {
    handshake = handshakeFunction();
  } catch (...) {
    return failure(
        PluginFailure::kHandshakeThrew, path,
        std::string(plugin::kHandshakeSymbol) + " threw: " + describe(std::current_exception()));
  }

  if (handshake.abiMajor != plugin::kAbiMajor) {
    return failure(PluginFailure::kAbiMajorMismatch, path,
                   "built for plugin ABI " + std::to_string(handshake.abiMajor) + "." +
                       std::to_string(handshake.abiMinor) + ", this Warmsite speaks " +
                       std::to_string(plugin::kAbiMajor) + "." + std::to_string(plugin::kAbiMinor) +
                       "; rebuild the plugin against this release");
  }
  if (handshake.abiMinor > plugin::kAbiMinor) {
    return failure(PluginFailure::kAbiMinorTooNew, path,
                   "built for plugin ABI " + std::to_string(handshake.abiMajor) + "." +
                       std::to_string(handshake.abiMinor) + ", newer than this Warmsite's " +
                       std::to_string(plugin::kAbiMajor) + "." + std::to_string(plugin::kAbiMinor) +
                       "; upgrade Warmsite first");
  }
  const std::string fingerprint = handshake.buildFingerprint ? handshake.buildFingerprint : "";
  if (fingerprint != plugin::kBuildFingerprint) {
    return failure(PluginFailure::kFingerprintMismatch, path,
                   "built with another toolchain: plugin \"" + fingerprint + "\", core \"" +
                       plugin::kBuildFingerprint + "\"");
  }
  const std::string name = handshake.pluginName ? handshake.pluginName : "";
  if (!validPluginName(name)) {
    return failure(PluginFailure::kBadPluginName, path,
                   "plugin name \"" + name + "\" must be 1-64 characters of [a-z0-9-]");
  }

  if (!library.has(plugin::kCreateSymbol)) {
    return failure(PluginFailure::kNoFactory, path,
                   std::string("does not export ") + plugin::kCreateSymbol);
  }
  auto impl = std::make_shared<PluginLibrary::Impl>();
  impl->path = path;
  impl->name = name;
  impl->version = handshake.pluginVersion ? handshake.pluginVersion : "";
  impl->abiMinor = handshake.abiMinor;
  impl->create = boost::dll::import <plugin::CreateFunction>(library, plugin::kCreateSymbol);
  return PluginLibrary(std::move(impl));
}

const std::filesystem::path& PluginLibrary::path() const noexcept {
  return impl_->path;
}
const std::string& PluginLibrary::name() const noexcept {
  return impl_->name;
}
const std::string& PluginLibrary::version() const noexcept {
  return impl_->version;
}
std::uint32_t PluginLibrary::abiMinor() const noexcept {
  return impl_->abiMinor;
}

PluginResult<std::shared_ptr<plugin::CloudHostPlugin>> PluginLibrary::create(
    std::string_view configJson, plugin::HostServices& host) const {
  const auto& path = impl_->path;
  std::optional<plugin::CreateResult> created;
  try {
    created.emplace(impl_->create(plugin::FactoryArgs{configJson, &host}));
  } catch (...) {
    return failure(
        PluginFailure::kFactoryThrew, path,
        std::string(plugin::kCreateSymbol) + " threw: " + describe(std::current_exception()));
  }
  if (!created->ok()) {
    const auto& error = created->error();
    PluginError rejected = failure(PluginFailure::kConfigRejected, path,
                                   "rejected the cloud host config: " + error.message);
    rejected.pluginError = error;
    return rejected;
  }
  std::shared_ptr<plugin::CloudHostPlugin> object = std::move(*created).value();
  if (!object) {
    return failure(PluginFailure::kFactoryReturnedNull, path,
                   std::string(plugin::kCreateSymbol) + " returned success without an object");
  }

  const plugin::Capabilities caps = object->capabilities();
  const struct {
    const char* part;
    bool announced;
    bool present;
  } parts[] = {
      {"compute", caps.compute, object->compute() != nullptr},
      {"network", caps.network, object->network() != nullptr},
      {"edge", caps.edge, object->edge() != nullptr},
      {"test isolation", caps.testIsolation, object->testIsolation() != nullptr},
  };
  for (const auto& part : parts) {
    if (part.announced != part.present) {
      return failure(PluginFailure::kCapabilityMismatch, path,
                     std::string("capabilities say ") + part.part + " is " +
                         (part.announced ? "offered" : "not offered") + " but the object " +
                         (part.present ? "hands it out" : "does not hand it out"));
    }
  }
  return object;
}

}  // namespace warmsite::plugins

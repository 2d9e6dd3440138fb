#pragma once
// The plugin entry points and the handshake that guards them.
//
// A plugin library exports two C-linkage functions (sdk.h writes them):
//   warmsite_plugin_handshake  -> Handshake (plain C layout: readable even from a mismatched build)
//   warmsite_plugin_create     -> the CloudHostPlugin for one cloud host's JSON config
// Core reads the handshake first and calls create only when the ABI major is equal, the plugin's
// minor is not newer than core's, and the build fingerprint is identical.
//
// Versioning: the major changes when any boundary type or existing method changes. The minor grows
// when a virtual method is appended to the end of an interface or a new type is added; core never
// calls a method newer than the plugin's minor (each method says @since).

#include <cstdint>
#include <memory>
#include <string_view>

#include "warmsite/plugin/host.h"
#include "warmsite/plugin/plugin.h"
#include "warmsite/plugin/result.h"

#define WARMSITE_PLUGIN_ABI_MAJOR 1
#define WARMSITE_PLUGIN_ABI_MINOR 1

#define WARMSITE_PLUGIN_STR_(x) #x
#define WARMSITE_PLUGIN_STR(x) WARMSITE_PLUGIN_STR_(x)

#if defined(__SANITIZE_ADDRESS__)
#define WARMSITE_PLUGIN_ASAN "1"
#else
#define WARMSITE_PLUGIN_ASAN "0"
#endif
#if defined(_GLIBCXX_ASSERTIONS)
#define WARMSITE_PLUGIN_ASSERTIONS "1"
#else
#define WARMSITE_PLUGIN_ASSERTIONS "0"
#endif
#if defined(_GLIBCXX_DEBUG)
#define WARMSITE_PLUGIN_DEBUG_MODE "1"
#else
#define WARMSITE_PLUGIN_DEBUG_MODE "0"
#endif

namespace warmsite::plugin {

inline constexpr std::uint32_t kAbiMajor = WARMSITE_PLUGIN_ABI_MAJOR;
inline constexpr std::uint32_t kAbiMinor = WARMSITE_PLUGIN_ABI_MINOR;

// Everything that decides the layout of the standard-library types crossing the boundary: compiler,
// libstdc++ release and its dual ABI, language level, debug containers, sanitizer. No other
// library's types cross (the config travels as JSON text), so no other version belongs here.
inline constexpr char kBuildFingerprint[] =
    "compiler=" __VERSION__ ";libstdc++=" WARMSITE_PLUGIN_STR(__GLIBCXX__) ";cxx11abi=" WARMSITE_PLUGIN_STR(
        _GLIBCXX_USE_CXX11_ABI) ";std=" WARMSITE_PLUGIN_STR(__cplusplus) ";assertions=" WARMSITE_PLUGIN_ASSERTIONS
                                                                         ";debug=" WARMSITE_PLUGIN_DEBUG_MODE
                                                                         ";asan=" WARMSITE_PLUGIN_ASAN;

struct Handshake {
  std::uint32_t abiMajor;
  std::uint32_t abiMinor;
  const char* buildFingerprint;  // static storage in the plugin
  const char* pluginName;        // registry key, e.g. "libvirt"; [a-z0-9-]+
  const char* pluginVersion;     // free text, shown to the SP
};

struct FactoryArgs {
  std::string_view configJson;  // the cloud host's config; valid during the call only
  HostServices* host;           // never null; outlives the plugin object
};

// The factory validates the config and returns kInvalidArgument with a message naming the field
// when it is wrong; it may also check that the backend is reachable.
using CreateResult = Result<std::unique_ptr<CloudHostPlugin>>;

using HandshakeFunction = Handshake();
using CreateFunction = CreateResult(const FactoryArgs&);

inline constexpr const char* kHandshakeSymbol = "warmsite_plugin_handshake";
inline constexpr const char* kCreateSymbol = "warmsite_plugin_create";

}  // namespace warmsite::plugin

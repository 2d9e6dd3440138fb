#pragma once
// For plugin authors: WARMSITE_PLUGIN(name, version, factory) writes both entry points of abi.h.
// `factory` is a function `warmsite::plugin::CreateResult f(const warmsite::plugin::FactoryArgs&)`.
// An exception escaping the factory becomes a kInternal error instead of crossing the boundary.
//
//   WARMSITE_PLUGIN("vsphere-mock", "1.0.0", vspheremock::create)

#include <exception>
#include <string>

#include "warmsite/plugin/abi.h"

#define WARMSITE_PLUGIN(NAME, VERSION, FACTORY)                                                    \
  extern "C" WARMSITE_VISIBLE ::warmsite::plugin::Handshake warmsite_plugin_handshake() noexcept { \
    return {::warmsite::plugin::kAbiMajor, ::warmsite::plugin::kAbiMinor,                          \
            ::warmsite::plugin::kBuildFingerprint, NAME, VERSION};                                 \
  }                                                                                                \
  extern "C" WARMSITE_VISIBLE ::warmsite::plugin::CreateResult warmsite_plugin_create(             \
      const ::warmsite::plugin::FactoryArgs& args) noexcept {                                      \
    try {                                                                                          \
      return FACTORY(args);                                                                        \
    } catch (const std::exception& e) {                                                            \
      return ::warmsite::plugin::makeError(::warmsite::plugin::ErrorCode::kInternal,               \
                                           std::string("plugin factory threw: ") + e.what());      \
    } catch (...) {                                                                                \
      return ::warmsite::plugin::makeError(::warmsite::plugin::ErrorCode::kInternal,               \
                                           "plugin factory threw a non-standard exception");       \
    }                                                                                              \
  }

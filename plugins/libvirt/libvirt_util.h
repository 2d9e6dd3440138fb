#pragma once
// Small helpers over the libvirt C API: owning handles, and error capture.
//
// Errors: libvirt keeps the last error per thread; every public call resets it on entry. So the
// error is copied (virSaveLastError) right after the failing call, on the same thread, before any
// other libvirt call. The per-connection slot (virConnGetLastError) races between threads and is
// never used.

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "warmsite/plugin/result.h"

namespace warmsite::libvirtplugin {

template <typename Ptr, int (*Free)(Ptr)>
struct LibvirtFree {
  void operator()(Ptr ptr) const noexcept {
    if (ptr != nullptr) Free(ptr);
  }
};

template <typename Ptr, int (*Free)(Ptr)>
using LibvirtHandle = std::unique_ptr<std::remove_pointer_t<Ptr>, LibvirtFree<Ptr, Free>>;

using DomainHandle = LibvirtHandle<virDomainPtr, virDomainFree>;
using NetworkHandle = LibvirtHandle<virNetworkPtr, virNetworkFree>;
using PoolHandle = LibvirtHandle<virStoragePoolPtr, virStoragePoolFree>;
using VolumeHandle = LibvirtHandle<virStorageVolPtr, virStorageVolFree>;
using SnapshotHandle = LibvirtHandle<virDomainSnapshotPtr, virDomainSnapshotFree>;

// Takes ownership of a string libvirt allocated; empty when `text` is null.
std::string takeString(char* text);

// Once per process: virInitialize and a quiet error handler (libvirt's default prints every error
// to stderr; the plugin reports errors through Results instead).
void initializeLibvirt();

// The calling thread's last libvirt error as a plugin error: "<what>: <libvirt message>", the code
// mapped to the closest ErrorCode, backendCode "VIR_ERR_NO_DOMAIN(42)". Call it right after the
// failing libvirt call.
plugin::Error lastError(std::string_view what);

// The libvirt code of the calling thread's last error (VIR_ERR_OK when none).
int lastErrorCode();

plugin::ErrorCode mapErrorCode(int virErrorNumber, int virErrorDomain);
std::string errorCodeName(int virErrorNumber);

}  // namespace warmsite::libvirtplugin

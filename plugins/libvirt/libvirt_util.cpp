#include "libvirt_util.h"

#include <cstdlib>
#include <mutex>

namespace warmsite::libvirtplugin {

using plugin::ErrorCode;

std::string takeString(char* text) {
  if (text == nullptr) return {};
  std::string copy(text);
  std::free(text);
  return copy;
}

void initializeLibvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  });
}

std::string errorCodeName(int code) {
  switch (code) {
    case VIR_ERR_INTERNAL_ERROR:
      return "VIR_ERR_INTERNAL_ERROR(1)";
    case VIR_ERR_NO_SUPPORT:
      return "VIR_ERR_NO_SUPPORT(3)";
    case VIR_ERR_NO_CONNECT:
      return "VIR_ERR_NO_CONNECT(5)";
    case VIR_ERR_INVALID_ARG:
      return "VIR_ERR_INVALID_ARG(8)";
    case VIR_ERR_OPERATION_FAILED:
      return "VIR_ERR_OPERATION_FAILED(9)";
    case VIR_ERR_XML_ERROR:
      return "VIR_ERR_XML_ERROR(27)";
    case VIR_ERR_SYSTEM_ERROR:
      return "VIR_ERR_SYSTEM_ERROR(38)";
    case VIR_ERR_RPC:
      return "VIR_ERR_RPC(39)";
    case VIR_ERR_NO_DOMAIN:
      return "VIR_ERR_NO_DOMAIN(42)";
    case VIR_ERR_NO_NETWORK:
      return "VIR_ERR_NO_NETWORK(43)";
    case VIR_ERR_AUTH_FAILED:
      return "VIR_ERR_AUTH_FAILED(45)";
    case VIR_ERR_NO_STORAGE_POOL:
      return "VIR_ERR_NO_STORAGE_POOL(49)";
    case VIR_ERR_NO_STORAGE_VOL:
      return "VIR_ERR_NO_STORAGE_VOL(50)";
    case VIR_ERR_OPERATION_INVALID:
      return "VIR_ERR_OPERATION_INVALID(55)";
    case VIR_ERR_CONFIG_UNSUPPORTED:
      return "VIR_ERR_CONFIG_UNSUPPORTED(67)";
    case VIR_ERR_OPERATION_TIMEOUT:
      return "VIR_ERR_OPERATION_TIMEOUT(68)";
    case VIR_ERR_NO_DOMAIN_SNAPSHOT:
      return "VIR_ERR_NO_DOMAIN_SNAPSHOT(72)";
    case VIR_ERR_AUTH_CANCELLED:
      return "VIR_ERR_AUTH_CANCELLED(79)";
    case VIR_ERR_OPERATION_UNSUPPORTED:
      return "VIR_ERR_OPERATION_UNSUPPORTED(84)";
    case VIR_ERR_AGENT_UNRESPONSIVE:
      return "VIR_ERR_AGENT_UNRESPONSIVE(86)";
    case VIR_ERR_ACCESS_DENIED:
      return "VIR_ERR_ACCESS_DENIED(88)";
    default:
      return "virErrorNumber(" + std::to_string(code) + ")";
  }
}

ErrorCode mapErrorCode(int code, int domain) {
  switch (code) {
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_NETWORK:
    case VIR_ERR_NO_STORAGE_POOL:
    case VIR_ERR_NO_STORAGE_VOL:
    case VIR_ERR_NO_DOMAIN_SNAPSHOT:
      return ErrorCode::kNotFound;
    case VIR_ERR_OPERATION_INVALID:
      return ErrorCode::kInvalidState;
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_CONFIG_UNSUPPORTED:
      return ErrorCode::kInvalidArgument;
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_OPERATION_UNSUPPORTED:
      return ErrorCode::kUnimplemented;
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_AUTH_CANCELLED:
    case VIR_ERR_AUTH_UNAVAILABLE:
    case VIR_ERR_ACCESS_DENIED:
      return ErrorCode::kPermissionDenied;
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AGENT_UNRESPONSIVE:
      return ErrorCode::kTimeout;
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_RPC:
    case VIR_ERR_RESOURCE_BUSY:
      return ErrorCode::kUnavailable;
    case VIR_ERR_SYSTEM_ERROR:
      // A socket that broke under the call: the host may be back later.
      return domain == VIR_FROM_RPC || domain == VIR_FROM_REMOTE ? ErrorCode::kUnavailable
                                                                 : ErrorCode::kInternal;
    default:
      return domain == VIR_FROM_RPC ? ErrorCode::kUnavailable : ErrorCode::kInternal;
  }
}

plugin::Error lastError(std::string_view what) {
  std::unique_ptr<virError, void (*)(virErrorPtr)> error(virSaveLastError(), virFreeError);
  if (error == nullptr || error->code == VIR_ERR_OK) {
    return plugin::makeError(ErrorCode::kInternal,
                             std::string(what) + ": libvirt failed without an error");
  }
  return plugin::makeError(
      mapErrorCode(error->code, error->domain),
      std::string(what) + ": " + (error->message != nullptr ? error->message : "(no message)"),
      errorCodeName(error->code));
}

int lastErrorCode() {
  virErrorPtr error = virGetLastError();
  return error == nullptr ? VIR_ERR_OK : error->code;
}

}  // namespace warmsite::libvirtplugin

#include "engine/plugin_call.h"

namespace warmsite::engine {

std::string describe(const plugin::Error& error) {
  std::string text = error.message + " [" + std::string(plugin::toString(error.code));
  if (!error.backendCode.empty()) text += ", " + error.backendCode;
  return text + "]";
}

}  // namespace warmsite::engine

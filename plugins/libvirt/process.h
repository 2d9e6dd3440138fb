#pragma once
// Runs a helper program (nft) and collects its output, optionally inside a named network
// namespace: the child joins it with setns() before exec, so the plugin's own threads stay where
// they are.

#include <string>
#include <vector>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::libvirtplugin {

struct ProcessOutput {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// argv[0] is an absolute path. `netns` names /run/netns/<netns>; empty = the caller's namespace.
// kTimeout (the child is killed) when ctx's deadline passes, kCancelled when ctx is cancelled.
plugin::Result<ProcessOutput> runProcess(const std::vector<std::string>& argv,
                                         const std::string& netns, const plugin::CallContext& ctx);

}  // namespace warmsite::libvirtplugin

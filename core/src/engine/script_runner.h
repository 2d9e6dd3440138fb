#pragma once
// Runs an SP-provided pre- or post-failover script: an executable path, no shell, with the plan's
// identity in its environment, a timeout after which it is killed, and its output kept.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace warmsite::engine {

struct ScriptResult {
  bool succeeded = false;
  int exitCode = -1;
  bool timedOut = false;
  std::string output;  // stdout and stderr together, cut at 64 KiB
};

ScriptResult runScript(const std::string& command,
                       const std::map<std::string, std::string>& environment,
                       std::chrono::seconds timeout);

// The same for any program with arguments (looked up on PATH when not absolute).
ScriptResult runCommand(const std::vector<std::string>& arguments,
                        const std::map<std::string, std::string>& environment,
                        std::chrono::seconds timeout);

}  // namespace warmsite::engine

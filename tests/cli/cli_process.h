#pragma once
// Runs the warmsite binary as a child process, the way a person or a script does: arguments,
// a few lines on stdin, and an environment whose only profile file is the test's own.

#include <filesystem>
#include <string>
#include <vector>

namespace warmsite::clitest {

struct CliResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Runs `program` with `args`, writes `input` to its stdin and collects stdout and stderr. HOME and
// WARMSITE_CONFIG point into `home`, so no real profile is read or written. A child still running
// after `timeoutSeconds` is killed and reported with exit code -1.
CliResult runProgram(const std::string& program, const std::vector<std::string>& args,
                     const std::string& input, const std::filesystem::path& home,
                     int timeoutSeconds = 120);

// One exchange on a terminal: when `prompt` appears, `answer` is typed.
struct Exchange {
  std::string prompt;
  std::string answer;
};

// Runs `program` on a new pseudo-terminal (stdin, stdout and stderr all on it, as in an
// interactive shell) and plays `dialogue` in order; everything shown lands in `out`.
CliResult runOnTerminal(const std::string& program, const std::vector<std::string>& args,
                        const std::vector<Exchange>& dialogue, const std::filesystem::path& home,
                        int timeoutSeconds = 120);

}  // namespace warmsite::clitest

#include "engine/script_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

extern char** environ;

namespace warmsite::engine {

namespace {
constexpr std::size_t kMaxOutput = 64 * 1024;
}

ScriptResult runScript(const std::string& command,
                       const std::map<std::string, std::string>& environment,
                       std::chrono::seconds timeout) {
  if (command.empty() || command.front() != '/') {
    ScriptResult result;
    result.output = "script \"" + command + "\" is not an absolute path";
    return result;
  }
  return runCommand({command}, environment, timeout);
}

ScriptResult runCommand(const std::vector<std::string>& arguments,
                        const std::map<std::string, std::string>& environment,
                        std::chrono::seconds timeout) {
  ScriptResult result;
  const std::string& command = arguments.at(0);
  int pipeFds[2];
  if (pipe2(pipeFds, O_CLOEXEC) != 0) {
    result.output = std::string("cannot create a pipe: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipeFds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipeFds[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& [key, value] : environment) env.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> argumentCopies = arguments;
  std::vector<char*> argv;
  for (auto& argument : argumentCopies) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned =
      posix_spawnp(&pid, command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipeFds[1]);
  if (spawned != 0) {
    close(pipeFds[0]);
    result.output = "cannot start " + command + ": " + std::strerror(spawned);
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timedOut = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fd{pipeFds[0], POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(std::min<long>(left.count(), 1000))) < 0 && errno != EINTR)
      break;
    if (fd.revents == 0) continue;
    const auto n = read(pipeFds[0], buffer, sizeof buffer);
    if (n <= 0) break;  // the script closed its output: it is ending
    if (result.output.size() < kMaxOutput) {
      result.output.append(buffer, std::min<std::size_t>(static_cast<std::size_t>(n),
                                                         kMaxOutput - result.output.size()));
    }
  }
  close(pipeFds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (result.timedOut) {
    result.output += "\n[killed after " + std::to_string(timeout.count()) + " s]";
  } else if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
    result.succeeded = result.exitCode == 0;
  }
  return result;
}

}  // namespace warmsite::engine

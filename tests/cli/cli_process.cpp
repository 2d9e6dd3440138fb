#include "tests/cli/cli_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace warmsite::clitest {

namespace {

std::vector<std::string> childEnvironment(const std::filesystem::path& home) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string variable(*entry);
    // The user's own profile settings must not leak into the test.
    if (variable.rfind("HOME=", 0) == 0 || variable.rfind("WARMSITE_", 0) == 0 ||
        variable.rfind("XDG_CONFIG_HOME=", 0) == 0) {
      continue;
    }
    env.push_back(variable);
  }
  env.push_back("HOME=" + home.string());
  env.push_back("WARMSITE_CONFIG=" + (home / "profiles.json").string());
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int exitCodeOf(pid_t pid, bool timedOut) {
  if (timedOut) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return !timedOut && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

CliResult runProgram(const std::string& program, const std::vector<std::string>& args,
                     const std::string& input, const std::filesystem::path& home,
                     int timeoutSeconds) {
  std::array<int, 2> in{}, out{}, err{};
  if (pipe2(in.data(), O_CLOEXEC) != 0 || pipe2(out.data(), O_CLOEXEC) != 0 ||
      pipe2(err.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);

  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  auto env = childEnvironment(home);
  auto argvPointers = pointers(argv);
  auto envPointers = pointers(env);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, program.c_str(), &actions, nullptr, argvPointers.data(),
                                  envPointers.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (spawned != 0) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(spawned));
  }
  // The inputs are a few lines: they fit the pipe, so writing first cannot block.
  if (!input.empty()) (void)::write(in[1], input.data(), input.size());
  ::close(in[1]);

  CliResult result;
  std::array<pollfd, 2> fds{pollfd{out[0], POLLIN, 0}, pollfd{err[0], POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  bool timedOut = false;
  int open = 2;
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timedOut = true;
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const auto n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  result.exitCode = exitCodeOf(pid, timedOut);
  return result;
}

CliResult runOnTerminal(const std::string& program, const std::vector<std::string>& args,
                        const std::vector<Exchange>& dialogue, const std::filesystem::path& home,
                        int timeoutSeconds) {
  // Everything the child needs is built before the fork: after it, only exec.
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  auto env = childEnvironment(home);
  auto argvPointers = pointers(argv);
  auto envPointers = pointers(env);
  int terminal = -1;
  const pid_t pid = forkpty(&terminal, nullptr, nullptr, nullptr);
  if (pid < 0) throw std::runtime_error(std::string("forkpty: ") + std::strerror(errno));
  if (pid == 0) {
    ::execve(program.c_str(), argvPointers.data(), envPointers.data());
    ::_exit(127);
  }
  CliResult result;
  std::size_t next = 0, answeredAt = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  bool timedOut = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timedOut = true;
      break;
    }
    pollfd fd{terminal, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    char buffer[4096];
    const auto n = ::read(terminal, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO once the child has closed the terminal
    result.out.append(buffer, static_cast<std::size_t>(n));
    if (next < dialogue.size() &&
        result.out.find(dialogue[next].prompt, answeredAt) != std::string::npos) {
      answeredAt = result.out.size();
      const auto typed = dialogue[next++].answer + "\n";
      (void)::write(terminal, typed.data(), typed.size());
    }
  }
  ::close(terminal);
  result.exitCode = exitCodeOf(pid, timedOut);
  return result;
}

}  // namespace warmsite::clitest

#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace warmsite::libvirtplugin {

namespace {

using plugin::ErrorCode;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

plugin::Error systemError(const std::string& what) {
  return plugin::makeError(ErrorCode::kInternal, what + ": " + std::strerror(errno));
}

}  // namespace

plugin::Result<ProcessOutput> runProcess(const std::vector<std::string>& argv,
                                         const std::string& netns, const plugin::CallContext& ctx) {
  Fd netnsFd;
  if (!netns.empty()) {
    netnsFd.reset(::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC));
    if (netnsFd.get() < 0) return systemError("cannot open network namespace " + netns);
  }
  int outPipe[2], errPipe[2];
  if (::pipe2(outPipe, O_CLOEXEC) != 0) return systemError("pipe");
  Fd outRead(outPipe[0]), outWrite(outPipe[1]);
  if (::pipe2(errPipe, O_CLOEXEC) != 0) return systemError("pipe");
  Fd errRead(errPipe[0]), errWrite(errPipe[1]);
  Fd devNull(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  // Everything the child touches is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return systemError("fork");
  if (pid == 0) {
    if (netnsFd.get() >= 0 && ::setns(netnsFd.get(), CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(devNull.get(), STDIN_FILENO);
    ::dup2(outWrite.get(), STDOUT_FILENO);
    ::dup2(errWrite.get(), STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  outWrite.reset();
  errWrite.reset();

  ProcessOutput output;
  pollfd fds[2] = {{outRead.get(), POLLIN, 0}, {errRead.get(), POLLIN, 0}};
  std::string* sinks[2] = {&output.out, &output.err};
  int open = 2;
  std::optional<plugin::Error> abandoned;
  while (open > 0) {
    if (ctx.cancelled() || ctx.expired()) {
      abandoned = plugin::makeError(ctx.cancelled() ? ErrorCode::kCancelled : ErrorCode::kTimeout,
                                    argv[0] + " did not finish before the call's deadline");
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, 50) < 0 && errno != EINTR) {
      ::kill(pid, SIGKILL);
      abandoned = systemError("poll");
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (abandoned) return *abandoned;
  if (WIFEXITED(status)) {
    output.exitCode = WEXITSTATUS(status);
    if (output.exitCode == 126 && !netns.empty() && output.err.empty()) {
      output.err = "cannot enter network namespace " + netns;
    }
    if (output.exitCode == 127 && output.err.empty()) output.err = "cannot run " + argv[0];
  }
  return output;
}

}  // namespace warmsite::libvirtplugin

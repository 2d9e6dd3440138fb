#include "terminal.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "errors.h"

namespace warmsite::cli {

namespace {

// The terminal settings to restore when Ctrl-C interrupts a password prompt, so the shell does
// not stay without echo.
struct termios savedTerminal;
volatile std::sig_atomic_t echoDisabled = 0;

extern "C" void restoreEchoAndExit(int signal) {
  if (echoDisabled) ::tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminal);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

std::string withoutLineEnd(std::string line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

void requireTerminal(const std::string& question) {
  if (!stdinIsTerminal()) {
    throw UsageError("cannot ask \"" + question + "\": stdin is not a terminal");
  }
}

}  // namespace

bool stdinIsTerminal() {
  return ::isatty(STDIN_FILENO) == 1;
}
bool stderrIsTerminal() {
  return ::isatty(STDERR_FILENO) == 1;
}
std::size_t stderrColumns() {
  struct winsize size {};
  return ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 ? size.ws_col : 0;
}

std::string readStdinLine(const std::string& what) {
  std::string line;
  if (!std::getline(std::cin, line)) throw UsageError("expected " + what + " on stdin");
  return withoutLineEnd(line);
}

std::string ask(const std::string& question) {
  requireTerminal(question);
  std::cerr << question << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) throw UsageError("no answer to \"" + question + "\"");
  return withoutLineEnd(line);
}

bool confirm(const std::string& question) {
  const auto answer = ask(question + " [y/N] ");
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES";
}

std::string askSecret(const std::string& question) {
  requireTerminal(question);
  ::tcgetattr(STDIN_FILENO, &savedTerminal);
  struct termios silent = savedTerminal;
  silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  auto previousInt = std::signal(SIGINT, restoreEchoAndExit);
  auto previousTerm = std::signal(SIGTERM, restoreEchoAndExit);
  echoDisabled = 1;
  // Echo goes off before the prompt shows, so nothing typed after the prompt is echoed or flushed.
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
  std::cerr << question << std::flush;
  std::string line;
  const bool read = static_cast<bool>(std::getline(std::cin, line));
  ::tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminal);
  echoDisabled = 0;
  std::signal(SIGINT, previousInt);
  std::signal(SIGTERM, previousTerm);
  std::cerr << '\n';
  if (!read) throw UsageError("no answer to \"" + question + "\"");
  return withoutLineEnd(line);
}

std::string readPassword(bool fromStdin, const std::string& question) {
  if (fromStdin) return readStdinLine("the password");
  if (!stdinIsTerminal())
    throw UsageError("no terminal to ask the password on; pipe it in with --password-stdin");
  return askSecret(question);
}

std::string readNewPassword(bool fromStdin, const std::string& question) {
  const auto password = readPassword(fromStdin, question);
  if (!fromStdin && askSecret("Repeat it: ") != password) {
    throw UsageError("the two passwords differ");
  }
  return password;
}

}  // namespace warmsite::cli

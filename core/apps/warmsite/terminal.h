#pragma once
// Talking to the person at the terminal: questions on stderr, answers on stdin, passwords without
// echo. Passwords never come from the command line, where `ps` and the shell history see them.

#include <cstddef>
#include <string>

namespace warmsite::cli {

bool stdinIsTerminal();
bool stderrIsTerminal();
// The width of the terminal on stderr; 0 when unknown.
std::size_t stderrColumns();

// One line of stdin without its line ending; throws UsageError at the end of input.
std::string readStdinLine(const std::string& what);

// Asks on stderr and reads the answer from the terminal.
std::string ask(const std::string& question);
bool confirm(const std::string& question);  // "[y/N]": only y or yes accepts
std::string askSecret(const std::string& question);

// The password of an existing account: from stdin with --password-stdin, else asked without echo.
std::string readPassword(bool fromStdin, const std::string& question);
// A new password: one stdin line with --password-stdin, else asked twice without echo.
std::string readNewPassword(bool fromStdin, const std::string& question);

}  // namespace warmsite::cli

#pragma once
// The CLI tests' fixture: an orchestrator on a loopback port over TLS, and the warmsite binary run
// as a child process with a home and profile file of the test's own.

#include <gtest/gtest.h>

#include <fstream>

#include "tests/api/api_fixture.h"
#include "tests/cli/cli_process.h"

namespace warmsite::clitest {

inline constexpr const char* kTenantPassword = "tenant-pass-1";

class CliTest : public apitest::ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    home_ = dataDir_ / "home";
    std::filesystem::create_directories(home_);
  }

  CliResult run(const std::vector<std::string>& args, const std::string& input = {}) {
    return runProgram(WARMSITE_CLI, args, input, home_);
  }

  std::string server() const { return "127.0.0.1:" + std::to_string(orchestrator_->port()); }

  // Logs `user` in under `profile`, accepting the server's current certificate.
  void login(const std::string& profile, const std::string& user, const std::string& password) {
    const auto result = run({"--profile", profile, "login", "--server", server(), "--user", user,
                             "--password-stdin", "--accept-thumbprint", thumbprint_},
                            password + "\n");
    ASSERT_EQ(result.exitCode, 0) << result.err;
  }

  nlohmann::json profiles() {
    std::ifstream in(home_ / "profiles.json");
    return nlohmann::json::parse(in, nullptr, false);
  }

  // Runs a command with --json and returns what it printed, parsed.
  nlohmann::json json(std::vector<std::string> args) {
    args.push_back("--json");
    const auto result = run(args);
    EXPECT_EQ(result.exitCode, 0) << result.err;
    return nlohmann::json::parse(result.out, nullptr, false);
  }

  std::filesystem::path home_;
};

#define ASSERT_RUN_OK(result) ASSERT_EQ((result).exitCode, 0) << (result).out << (result).err

}  // namespace warmsite::clitest

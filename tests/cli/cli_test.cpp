// The warmsite CLI as its users run it: the real binary in a child process, against an
// orchestrator listening on a loopback port over TLS, with a profile file of the test's own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/cli/cli_fixture.h"

namespace warmsite::clitest {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(CliTest, FirstLoginIsRefusedUntilTheThumbprintIsAccepted) {
  const auto refused = run({"login", "--server", server(), "--user", "admin", "--password-stdin"},
                           std::string(apitest::kAdminPassword) + "\n");
  EXPECT_EQ(refused.exitCode, 4);
  EXPECT_THAT(refused.err,
              AllOf(HasSubstr(thumbprint_), HasSubstr("--accept-thumbprint"), HasSubstr("CN=")));
  EXPECT_FALSE(std::filesystem::exists(home_ / "profiles.json"));
  // The password never left: the only login the server saw is the one the check below makes.
  const auto audit = admin().get("/api/v1/audit").json()["entries"];
  EXPECT_EQ(std::count_if(audit.begin(), audit.end(),
                          [](const auto& entry) { return entry["path"] == "/api/v1/auth/login"; }),
            1)
      << audit.dump();
}

TEST_F(CliTest, OnATerminalTheCertificateIsAcceptedByAnswerAndThePasswordIsNotEchoed) {
  const std::vector<std::string> args{"login", "--server", server(), "--user", "admin"};
  const auto declined = runOnTerminal(WARMSITE_CLI, args, {{"[y/N]", "n"}}, home_);
  EXPECT_EQ(declined.exitCode, 4) << declined.out;
  EXPECT_THAT(declined.out, AllOf(HasSubstr(thumbprint_), HasSubstr("not accepted")));
  EXPECT_FALSE(std::filesystem::exists(home_ / "profiles.json"));

  const auto accepted = runOnTerminal(
      WARMSITE_CLI, args, {{"[y/N]", "y"}, {"Password for admin", apitest::kAdminPassword}}, home_);
  ASSERT_EQ(accepted.exitCode, 0) << accepted.out;
  EXPECT_THAT(accepted.out, Not(HasSubstr(apitest::kAdminPassword)));
  EXPECT_EQ(profiles()["profiles"]["default"]["thumbprint"], thumbprint_);
}

TEST_F(CliTest, AnAcceptedThumbprintOtherThanThePresentedOneIsRefused) {
  const std::string other(64, 'A');
  const auto refused = run({"login", "--server", server(), "--user", "admin", "--password-stdin",
                            "--accept-thumbprint", other},
                           std::string(apitest::kAdminPassword) + "\n");
  EXPECT_EQ(refused.exitCode, 4);
  EXPECT_THAT(refused.err, AllOf(HasSubstr(thumbprint_), HasSubstr("AA:AA:AA")));
  EXPECT_FALSE(std::filesystem::exists(home_ / "profiles.json"));

  const auto malformed = run({"login", "--server", server(), "--user", "admin", "--password-stdin",
                              "--accept-thumbprint", "12:34"},
                             std::string(apitest::kAdminPassword) + "\n");
  EXPECT_EQ(malformed.exitCode, 2) << malformed.err;
}

TEST_F(CliTest, LoginPinsTheThumbprintInAProfileOnlyItsOwnerReads) {
  login("default", "admin", apitest::kAdminPassword);
  struct stat info {};
  ASSERT_EQ(::stat((home_ / "profiles.json").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const auto profile = profiles()["profiles"]["default"];
  EXPECT_EQ(profile["server"], server());
  EXPECT_EQ(profile["thumbprint"], thumbprint_);
  EXPECT_EQ(profile["account"], "admin");
  EXPECT_FALSE(profile["token"].get<std::string>().empty());

  // The pin stands for itself from now on: no --server, no --accept-thumbprint.
  const auto again =
      run({"login", "--password-stdin"}, std::string(apitest::kAdminPassword) + "\n");
  ASSERT_RUN_OK(again);
  const auto whoami = run({"whoami"});
  ASSERT_RUN_OK(whoami);
  EXPECT_THAT(whoami.out, AllOf(HasSubstr("admin"), HasSubstr("provider"), HasSubstr(server())));
}

TEST_F(CliTest, ARegeneratedCertificateIsRefusedLoudlyUntilTheNewThumbprintIsPinned) {
  auto sp = admin();
  const auto tenantId = tenant(sp, "acme", kTenantPassword);
  login("default", "admin", apitest::kAdminPassword);
  login("acme", "acme", kTenantPassword);
  const auto old = thumbprint_;

  const auto generated = run({"certificate", "generate"});
  ASSERT_RUN_OK(generated);
  const auto fresh = orchestrator_->tls().current().info.thumbprintSha256;
  ASSERT_NE(fresh, old);
  EXPECT_THAT(generated.out, HasSubstr(fresh));
  // The administrator's profile learned the new certificate over the connection it trusted.
  EXPECT_EQ(profiles()["profiles"]["default"]["thumbprint"], fresh);
  ASSERT_RUN_OK(run({"whoami"}));

  const auto refused = run({"--profile", "acme", "tenant", "show"});
  EXPECT_EQ(refused.exitCode, 4);
  EXPECT_THAT(refused.err, AllOf(HasSubstr("CERTIFICATE HAS CHANGED"), HasSubstr(old),
                                 HasSubstr(fresh), HasSubstr("login --accept-thumbprint")));
  // Logging in again without the new thumbprint is refused just as loudly.
  const auto relogin =
      run({"--profile", "acme", "login", "--password-stdin"}, std::string(kTenantPassword) + "\n");
  EXPECT_EQ(relogin.exitCode, 4);
  EXPECT_THAT(relogin.err, HasSubstr(fresh));
  EXPECT_EQ(profiles()["profiles"]["acme"]["thumbprint"], old);

  const auto pinned =
      run({"--profile", "acme", "login", "--password-stdin", "--accept-thumbprint", fresh},
          std::string(kTenantPassword) + "\n");
  ASSERT_RUN_OK(pinned);
  const auto shown = run({"--profile", "acme", "tenant", "show"});
  ASSERT_RUN_OK(shown);
  EXPECT_THAT(shown.out, HasSubstr(tenantId));
}

TEST_F(CliTest, ACertificateReplacedOnTheServerIsRefusedByEveryPinnedProfile) {
  login("default", "admin", apitest::kAdminPassword);
  const auto replaced = orchestrator_->tls().regenerate({"localhost"}, {"127.0.0.1"});
  const auto refused = run({"tenant", "list"});
  EXPECT_EQ(refused.exitCode, 4);
  EXPECT_THAT(refused.err,
              AllOf(HasSubstr(thumbprint_), HasSubstr(replaced.info.thumbprintSha256)));
  EXPECT_THAT(refused.out, Not(HasSubstr("ID")));
}

TEST_F(CliTest, ServiceProviderSetsUpATenantThatThenSeesItsPlan) {
  login("default", "admin", apitest::kAdminPassword);
  ASSERT_RUN_OK(run({"cloud-host", "add", "--name", "lab2", "--plugin", "vsphere-mock", "--config",
                     R"({"vcenter": "cli-walkthrough"})"}));
  ASSERT_RUN_OK(run({"vlan", "add", "lab2", "100-109", "--internet"}));
  ASSERT_RUN_OK(run({"vlan", "add", "lab2", "200-209"}));
  const auto vlans = run({"vlan", "list", "lab2"});
  ASSERT_RUN_OK(vlans);
  EXPECT_THAT(vlans.out, HasSubstr("Free VLANs: 10 with internet, 10 without."));
  ASSERT_RUN_OK(run({"public-ip", "add", "203.0.113.10-203.0.113.19", "2001:db8::10"}));
  ASSERT_RUN_OK(run({"plan", "create", "--name", "Silver", "--cloud-host", "lab2", "--cpu-mhz",
                     "20000", "--memory-mb", "unlimited", "--storage", "gold:datastore1:500",
                     "--networks-with-internet", "2", "--networks-without-internet", "1"}));
  ASSERT_RUN_OK(
      run({"tenant", "create", "--name", "acme", "--description", "Acme Corp", "--password-stdin"},
          std::string(kTenantPassword) + "\n"));

  const auto accepted =
      json({"subscription", "create", "--tenant", "acme", "--plan", "Silver", "--public-ips", "2"});
  const auto taskId = accepted["task"]["id"].get<std::string>();
  const auto waited = run({"task", "wait", taskId});
  ASSERT_RUN_OK(waited);
  EXPECT_THAT(waited.out, HasSubstr("succeeded"));
  EXPECT_THAT(waited.err, HasSubstr("100%"));

  login("acme", "acme", kTenantPassword);
  const auto mine = run({"--profile", "acme", "subscription", "list"});
  ASSERT_RUN_OK(mine);
  EXPECT_THAT(mine.out, AllOf(HasSubstr("Silver"), HasSubstr("ready"), HasSubstr("203.0.113.1")));
  const auto subscriptionId = accepted["subscription"]["id"].get<std::string>();
  const auto shown = run({"--profile", "acme", "subscription", "show", subscriptionId});
  ASSERT_RUN_OK(shown);
  EXPECT_THAT(shown.out, AllOf(HasSubstr("Silver"), HasSubstr("gold 500 GB on datastore1"),
                               HasSubstr("2 with internet, 1 without"), HasSubstr("internet-2")));
  const auto plan = run({"--profile", "acme", "plan", "show", accepted["subscription"]["plan_id"]});
  ASSERT_RUN_OK(plan);
  EXPECT_THAT(plan.out, HasSubstr("Silver"));
  // A tenant sees its own objects only; the SP's lists stay closed.
  EXPECT_EQ(run({"--profile", "acme", "tenant", "list"}).exitCode, 3);
}

TEST_F(CliTest, JsonOutputIsTheApisJson) {
  auto sp = admin();
  const auto host = cloudHost(sp);
  vlanRange(sp, host, 100, 109, true);
  vlanRange(sp, host, 200, 209, false);
  const auto planId = plan(sp, host);
  const auto tenantId = tenant(sp, "acme");
  const auto subscriptionId = subscribe(sp, tenantId, planId);
  login("default", "admin", apitest::kAdminPassword);

  EXPECT_EQ(json({"tenant", "list"}), sp.get("/api/v1/tenants").json());
  EXPECT_EQ(json({"tenant", "show", "acme"}), sp.get("/api/v1/tenants/" + tenantId).json());
  EXPECT_EQ(json({"plan", "show", "Silver"}), sp.get("/api/v1/plans/" + planId).json());
  EXPECT_EQ(json({"cloud-host", "list"}), sp.get("/api/v1/cloud-hosts").json());
  EXPECT_EQ(json({"vlan", "list", host}),
            sp.get("/api/v1/cloud-hosts/" + host + "/vlan-ranges").json());
  EXPECT_EQ(json({"subscription", "show", subscriptionId}),
            sp.get("/api/v1/subscriptions/" + subscriptionId).json());
  EXPECT_EQ(json({"certificate", "show"}), sp.get("/api/v1/certificate").json());
  const auto audit = json({"audit", "--actor", "admin", "--limit", "5"});
  ASSERT_EQ(audit["entries"].size(), 5u);
  for (const auto& entry : audit["entries"]) EXPECT_EQ(entry["actor"], "admin");
}

TEST_F(CliTest, TablesAlignTheirColumns) {
  auto sp = admin();
  tenant(sp, "a");
  tenant(sp, "a-much-longer-name");
  login("default", "admin", apitest::kAdminPassword);
  const auto listed = run({"tenant", "list"});
  ASSERT_RUN_OK(listed);
  std::vector<std::string> lines;
  std::istringstream in(listed.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << listed.out;
  const auto column = lines[0].find("ENABLED");
  for (const auto& line : {lines[1], lines[2]})
    EXPECT_EQ(line.substr(column, 3), "yes") << listed.out;
}

TEST_F(CliTest, ApiErrorsExitWith3AndSayWhatTheApiSaid) {
  login("default", "admin", apitest::kAdminPassword);
  const std::string missing = "tnt-" + std::string(32, '0');
  const auto notFound = run({"tenant", "show", missing});
  EXPECT_EQ(notFound.exitCode, 3);
  EXPECT_THAT(notFound.err,
              AllOf(HasSubstr("tenant " + missing + " not found"), HasSubstr("not_found")));

  ASSERT_RUN_OK(run({"tenant", "create", "--name", "acme", "--password-stdin"},
                    std::string(kTenantPassword) + "\n"));
  const auto duplicate = run({"tenant", "create", "--name", "acme", "--password-stdin"},
                             std::string(kTenantPassword) + "\n");
  EXPECT_EQ(duplicate.exitCode, 3);
  EXPECT_THAT(duplicate.err, AllOf(HasSubstr("already exists"), HasSubstr("conflict")));

  const auto shortPassword =
      run({"admin", "create", "--name", "ops", "--password-stdin"}, "short\n");
  EXPECT_EQ(shortPassword.exitCode, 3);
  EXPECT_THAT(shortPassword.err, HasSubstr("password"));
}

TEST_F(CliTest, UsageAndConnectionProblemsHaveTheirOwnExitCodes) {
  EXPECT_EQ(run({"tenant", "list"}).exitCode, 2);  // no profile yet
  EXPECT_EQ(run({"no-such-command"}).exitCode, 2);
  login("default", "admin", apitest::kAdminPassword);
  EXPECT_EQ(
      run({"plan", "create", "--name", "X", "--cloud-host", "h", "--storage", "gold"}).exitCode, 2);
  EXPECT_EQ(run({"plan", "create", "--name", "X", "--cloud-host", "h", "--storage", "a:b:1",
                 "--cpu-mhz", "lots"})
                .exitCode,
            2);
  EXPECT_EQ(run({"tenant", "create", "--name", "x"}).exitCode, 2);  // no terminal for a password

  const auto unreachable = run({"--profile", "other", "login", "--server", "127.0.0.1:1", "--user",
                                "admin", "--password-stdin"},
                               "x\n");
  EXPECT_EQ(unreachable.exitCode, 4);
  EXPECT_THAT(unreachable.err, HasSubstr("127.0.0.1"));
}

TEST_F(CliTest, AFailedTaskMakesTheWaitFail) {
  auto sp = admin();
  const auto host = cloudHost(sp);
  const auto tenantId = tenant(sp, "acme");
  login("default", "admin", apitest::kAdminPassword);
  // A datastore this vCenter does not have: provisioning fails.
  ASSERT_RUN_OK(run(
      {"plan", "create", "--name", "Broken", "--cloud-host", host, "--storage", "x:no-such-ds:1"}));
  const auto failed =
      run({"subscription", "create", "--tenant", tenantId, "--plan", "Broken", "--wait"});
  EXPECT_EQ(failed.exitCode, 1);
  EXPECT_THAT(failed.err, AllOf(HasSubstr("failed"), HasSubstr("no-such-ds")));

  const auto task = json({"task", "list", "--limit", "1"})[0];
  const auto waited = run({"task", "wait", task["id"]});
  EXPECT_EQ(waited.exitCode, 1);
  EXPECT_THAT(waited.out, HasSubstr("no-such-ds"));
}

TEST_F(CliTest, PasswordChangeKeepsTheProfileLoggedInAndLogoutRevokesTheToken) {
  login("default", "admin", apitest::kAdminPassword);
  ASSERT_RUN_OK(run({"password", "change", "--password-stdin"},
                    std::string(apitest::kAdminPassword) + "\nnew-admin-pass-2\n"));
  ASSERT_RUN_OK(run({"whoami"}));

  const auto token = profiles()["profiles"]["default"]["token"].get<std::string>();
  ASSERT_RUN_OK(run({"logout"}));
  EXPECT_EQ(profiles()["profiles"]["default"]["token"], "");
  EXPECT_EQ(profiles()["profiles"]["default"]["thumbprint"], thumbprint_);
  auto revoked = client();
  revoked.setToken(token);
  EXPECT_EQ(revoked.get("/api/v1/auth/session").status, 401);
  const auto after = run({"whoami"});
  EXPECT_EQ(after.exitCode, 3);
  EXPECT_THAT(after.err, HasSubstr("login"));
  ASSERT_RUN_OK(run({"login", "--password-stdin"}, "new-admin-pass-2\n"));
}

TEST_F(CliTest, MaintenanceModeIsSwitchedAndShown) {
  login("default", "admin", apitest::kAdminPassword);
  ASSERT_RUN_OK(run({"maintenance", "on", "--message", "Storage upgrade until 18:00"}));
  const auto shown = json({"maintenance", "show"});
  EXPECT_EQ(shown["enabled"], true);
  EXPECT_EQ(shown["message"], "Storage upgrade until 18:00");
  ASSERT_RUN_OK(run({"maintenance", "off"}));
  EXPECT_EQ(json({"maintenance", "show"})["enabled"], false);
  const auto status = run({"status"});
  ASSERT_RUN_OK(status);
  EXPECT_THAT(status.out, AllOf(HasSubstr("ok"), HasSubstr(thumbprint_)));
}

}  // namespace
}  // namespace warmsite::clitest

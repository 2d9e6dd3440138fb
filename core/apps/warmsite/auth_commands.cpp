// Logging in (and pinning the server's certificate), logging out, who the profile is, one's own
// password, and whether the server answers.
#include <iostream>

#include "commands.h"
#include "errors.h"
#include "terminal.h"

namespace warmsite::cli {

namespace {

struct LoginFlags {
  std::string server;
  std::string user;
  std::string acceptThumbprint;
  bool passwordStdin = false;
};

std::string serverText(const ServerAddress& address) {
  const bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

client::ClientOptions clientOptions(const ServerAddress& address, const std::string& pin) {
  client::ClientOptions options;
  options.host = address.host;
  options.port = address.port;
  options.pinnedThumbprint = pin;
  return options;
}

// The thumbprint to pin: the profile's pin while the server still presents it, else the one the
// user accepts now (on the terminal, or by --accept-thumbprint). Only GET /health is sent to a
// server not trusted yet.
std::string trustedThumbprint(const ServerAddress& address, const std::string& pinned,
                              const std::string& accepted) {
  client::ApiClient probe(clientOptions(address, pinned));
  try {
    probe.get("/api/v1/health");
  } catch (const client::PinMismatch& e) {
    // A replaced certificate is trusted only when the user gives its thumbprint.
    if (!accepted.empty() && accepted == e.actual()) return accepted;
    throw;
  }
  if (!pinned.empty()) return pinned;
  const auto& presented = probe.serverCertificate();
  if (!accepted.empty()) {
    if (accepted == presented.thumbprint) return accepted;
    throw TrustError("the server presented the certificate\n  " + presented.thumbprint +
                     "\nnot the one given with --accept-thumbprint\n  " + accepted +
                     "\nNothing was sent to it.");
  }
  std::cerr << "The server " << serverText(address) << " presented a certificate not seen before:\n"
            << "  subject:  " << presented.subject << '\n'
            << "  expires:  " << formatUnixTime(presented.notAfterUnix) << '\n'
            << "  SHA-256:  " << presented.thumbprint << '\n'
            << "Compare the thumbprint with the one your service provider gave you.\n";
  if (!stdinIsTerminal()) {
    throw TrustError(
        "certificate not accepted: there is no terminal to ask on. If the thumbprint is the "
        "right one, run the login again with --accept-thumbprint " +
        presented.thumbprint);
  }
  if (!confirm("Accept and pin this certificate?")) {
    throw TrustError("certificate not accepted; nothing was sent to the server");
  }
  return presented.thumbprint;
}

void login(Cli& cli, const LoginFlags& flags) {
  const auto* existing = cli.profiles().find(cli.options.profile);
  Profile profile = existing ? *existing : Profile{};
  if (flags.server.empty() && profile.server.empty()) {
    throw UsageError("--server HOST:PORT is needed: profile \"" + cli.options.profile +
                     "\" has no server yet");
  }
  const auto address = parseServer(flags.server.empty() ? profile.server : flags.server);
  if (serverText(address) != profile.server) {
    profile = Profile{};  // another server: nothing of the old one applies
    profile.server = serverText(address);
  }
  const auto user = flags.user.empty() ? profile.account : flags.user;
  if (user.empty()) throw UsageError("--user NAME is needed");
  std::string accepted;
  if (!flags.acceptThumbprint.empty()) {
    auto normal = client::ApiClient::normalizeThumbprint(flags.acceptThumbprint);
    if (!normal) {
      throw UsageError(
          "--accept-thumbprint must be a SHA-256 thumbprint (64 hex digits, ':' "
          "between pairs allowed)");
    }
    accepted = *normal;
  }

  const auto pin = trustedThumbprint(address, profile.thumbprint, accepted);
  const auto password =
      readPassword(flags.passwordStdin, "Password for " + user + " on " + profile.server + ": ");
  // The password goes only to a server presenting the pinned certificate.
  client::ApiClient api(clientOptions(address, pin));
  const auto answer =
      answerOf(api.post("/api/v1/auth/login", {{"name", user}, {"password", password}}),
               cli.options.profile);
  profile.thumbprint = pin;
  profile.token = answer.value("token", "");
  profile.account = answer["account"].value("name", user);
  profile.role = answer["account"].value("role", "");
  profile.tenantId = answer["account"]["tenant_id"].is_string()
                         ? answer["account"]["tenant_id"].get<std::string>()
                         : "";
  profile.tokenExpiresAt = answer.value("expires_at", std::int64_t{0});
  cli.saveProfile(profile);
  cli.print(answer, [&](std::ostream& out, const nlohmann::json&) {
    out << "Logged in to " << profile.server << " as " << profile.account << " (" << profile.role
        << ") until " << formatUnixTime(profile.tokenExpiresAt) << ".\n"
        << "Profile \"" << cli.options.profile << "\" pins the certificate " << pin << ".\n";
  });
}

void logout(Cli& cli) {
  auto profile = cli.profile();
  nlohmann::json answer;
  if (!profile.token.empty()) {
    try {
      answer = cli.call("POST", "/auth/logout");
    } catch (const ApiFailure& e) {
      if (e.status() != 401) throw;  // an expired token is as good as revoked
    }
  }
  profile.token.clear();
  profile.tokenExpiresAt = 0;
  cli.saveProfile(profile);
  cli.print(answer, sentence("Logged out of " + profile.server +
                             "; the profile keeps its pinned "
                             "certificate."));
}

void changePassword(Cli& cli, bool fromStdin) {
  const auto current = readPassword(fromStdin, "Current password: ");
  const auto next = readNewPassword(fromStdin, "New password: ");
  const auto answer =
      cli.call("PUT", "/auth/password", {{"current_password", current}, {"new_password", next}});
  // The change ended every session of the account, this one too: log in with the new password.
  auto profile = cli.profile();
  const auto login =
      cli.call("POST", "/auth/login", {{"name", profile.account}, {"password", next}});
  profile.token = login.value("token", "");
  profile.tokenExpiresAt = login.value("expires_at", std::int64_t{0});
  cli.saveProfile(profile);
  cli.print(answer, sentence("Password changed; your other sessions ended."));
}

}  // namespace

void addAuthCommands(CLI::App& app, Cli& cli) {
  auto loginFlags = std::make_shared<LoginFlags>();
  auto* loginCommand =
      app.add_subcommand("login", "Log in, pinning the server's certificate on first contact");
  loginCommand->add_option(
      "--server", loginFlags->server,
      "HOST:PORT of warmsited (default: the profile's; port 6180 if left out)");
  loginCommand->add_option("--user", loginFlags->user, "Account name (default: the profile's)");
  loginCommand->add_flag("--password-stdin", loginFlags->passwordStdin,
                         "Read the password from the first line of stdin");
  loginCommand->add_option("--accept-thumbprint", loginFlags->acceptThumbprint,
                           "Trust the server's certificate if its SHA-256 thumbprint is this one");
  loginCommand->callback([&cli, loginFlags] { login(cli, *loginFlags); });

  app.add_subcommand("logout", "Revoke the profile's token and forget it")->callback([&cli] {
    logout(cli);
  });

  addCommand(app, cli,
             {"whoami", "Show the profile's account, role and tenant",
              [](const std::string&) {
                return Request{"GET", "/auth/session"};
              },
              [&cli](std::ostream& out, const nlohmann::json& session) {
                const auto& profile = cli.profile();
                printFields(
                    out, session,
                    {{"Profile", [&](const nlohmann::json&) { return cli.options.profile; }},
                     {"Server", [&](const nlohmann::json&) { return profile.server; }},
                     field("Account", "account.name"),
                     field("Role", "account.role"),
                     field("Tenant", "tenant.name"),
                     field("Tenant id", "tenant.id"),
                     field("Token expires", "expires_at", Format::kTime)});
              }});

  auto* password = addGroup(app, "password", "Your own password");
  auto passwordStdin = std::make_shared<bool>(false);
  auto* change =
      password->add_subcommand("change", "Change your password (ends your other sessions)");
  change->add_flag("--password-stdin", *passwordStdin,
                   "Read the current and the new password from two lines of stdin");
  change->callback([&cli, passwordStdin] { changePassword(cli, *passwordStdin); });

  addCommand(app, cli,
             {"status", "Check that the server answers (no login needed)",
              [](const std::string&) {
                return Request{"GET", "/health"};
              },
              [&cli](std::ostream& out, const nlohmann::json& health) {
                const auto& profile = cli.profile();
                printFields(out, health,
                            {{"Server", [&](const nlohmann::json&) { return profile.server; }},
                             field("Status", "status"),
                             field("Version", "version"),
                             field("Maintenance", "maintenance"),
                             {"Certificate", [&](const nlohmann::json&) {
                                return profile.thumbprint + " (pinned)";
                              }}});
              }});
}

}  // namespace warmsite::cli

// warmsite: the command-line client of the Warmsite API, for service provider administrators and
// tenants alike. Exit codes: 0 ok, 1 a followed task or session failed, 2 usage, 3 API error, 4
// connection or certificate trust.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "errors.h"

namespace {

using namespace warmsite::cli;

void reportChangedCertificate(const warmsite::client::PinMismatch& e, const std::string& profile) {
  std::cerr << "error: THE SERVER'S CERTIFICATE HAS CHANGED; nothing was sent to it.\n"
            << "  pinned in profile \"" << profile << "\": " << e.expected() << '\n'
            << "  presented by the server:  " << e.actual() << '\n'
            << "Either the service provider replaced its certificate, or someone is intercepting "
               "the connection.\n"
            << "Ask your service provider for the new SHA-256 thumbprint. Only if it is the one "
               "presented above, pin it with:\n"
            << "  warmsite --profile " << profile << " login --accept-thumbprint NEW_THUMBPRINT\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "warmsite: manage a Warmsite disaster-recovery service (service providers and "
      "tenants)"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command: warmsite tenant list --json
  Cli cli;
  app.add_option("--profile", cli.options.profile, "Profile to use")
      ->envname("WARMSITE_PROFILE")
      ->capture_default_str();
  app.add_option("--config", cli.options.configPath,
                 "Profile file (default: $WARMSITE_CONFIG, else ~/.config/warmsite/profiles.json)");
  app.add_flag("--json", cli.options.json, "Print the API's JSON instead of tables");
  app.set_version_flag("--version", WARMSITE_VERSION);

  addAuthCommands(app, cli);
  addAccountCommands(app, cli);
  addCloudHostCommands(app, cli);
  addPlanCommands(app, cli);
  addServiceCommands(app, cli);
  addFailoverCommands(app, cli);
  addReplicationCommands(app, cli);

  try {
    app.parse(argc, argv);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitUsage;
  } catch (const ApiFailure& e) {
    std::cerr << "error: " << e.what() << " [" << e.code() << ", HTTP " << e.status() << "]";
    if (e.details().contains("field")) std::cerr << " (field " << e.details()["field"] << ")";
    std::cerr << '\n';
    return kExitApi;
  } catch (const warmsite::client::PinMismatch& e) {
    reportChangedCertificate(e, cli.options.profile);
    return kExitConnection;
  } catch (const warmsite::client::ConnectionError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitConnection;
  } catch (const TrustError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitConnection;
  } catch (const TaskFailed& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitFailed;
  }
}

// The service itself: tasks, the audit log, maintenance mode and the TLS certificate.
#include <iostream>

#include "commands.h"
#include "errors.h"
#include "security/encoding.h"
#include "terminal.h"

namespace warmsite::cli {

namespace {

const std::vector<Column>& taskFields() {
  static const std::vector<Column> fields{field("Id", "id"),
                                          field("Kind", "kind"),
                                          field("Target", "target_id"),
                                          field("Tenant", "tenant_id"),
                                          field("State", "state"),
                                          field("Progress", "progress"),
                                          field("Error", "error"),
                                          field("Created by", "created_by"),
                                          field("Created", "created_at", Format::kTime),
                                          field("Started", "started_at", Format::kTime),
                                          field("Finished", "finished_at", Format::kTime)};
  return fields;
}

void addTaskGroup(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "task", "Tasks: provisioning and other long-running work");
  const Collection tasks{"/tasks", "task"};
  auto limit = std::make_shared<int>(100);
  addCommand(*group, cli,
             {"list",
              "List recent tasks, newest first (a tenant sees its own)",
              [limit](const std::string&) {
                return Request{"GET", "/tasks?limit=" + std::to_string(*limit)};
              },
              tableOf({field("ID", "id"), field("KIND", "kind"), field("TARGET", "target_id"),
                       field("STATE", "state"), field("PROGRESS", "progress"),
                       field("CREATED", "created_at", Format::kTime), field("ERROR", "error")}),
              {},
              [limit](CLI::App& command) {
                command.add_option("--limit", *limit, "How many")
                    ->check(CLI::Range(1, 1000))
                    ->capture_default_str();
              }});
  addObjectCommand(*group, cli, tasks, showCommand(tasks, fieldsOf(taskFields())));

  struct WaitFlags {
    std::string id;
    int timeoutSeconds = 3600;
  };
  auto wait = std::make_shared<WaitFlags>();
  auto* waitCommand =
      group->add_subcommand("wait", "Follow a task to its end (exit 1 if it fails)");
  waitCommand->add_option("TASK", wait->id, "The task")->required();
  waitCommand->add_option("--timeout", wait->timeoutSeconds, "Seconds to wait at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  waitCommand->callback([&cli, wait] {
    nlohmann::json task;
    try {
      task = cli.waitForTask(wait->id, std::chrono::seconds(wait->timeoutSeconds));
    } catch (const TaskFailed&) {
      // The task's final state is the answer whichever way it ended.
      cli.print(cli.get("/tasks/" + urlEncode(wait->id)), fieldsOf(taskFields()));
      throw;
    }
    cli.print(task, fieldsOf(taskFields()));
  });
}

// "15m", "2h", "7d" ago, or a time parseTime accepts; in Unix milliseconds.
std::int64_t sinceMs(const std::string& text) {
  static const std::map<char, std::int64_t> kUnitSeconds{
      {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  const auto unit = text.empty() ? kUnitSeconds.end() : kUnitSeconds.find(text.back());
  const auto digits = text.substr(0, text.size() - 1);
  if (unit != kUnitSeconds.end() && !digits.empty() && digits.size() < 9 &&
      std::all_of(digits.begin(), digits.end(), ::isdigit)) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return now - std::stoll(digits) * unit->second * 1000;
  }
  return parseTime(text) * 1000;
}

void addAuditCommand(CLI::App& app, Cli& cli) {
  struct AuditFlags {
    std::string tenant;
    std::string actor;
    std::string since;
    std::int64_t beforeId = 0;
    int limit = 100;
  };
  auto flags = std::make_shared<AuditFlags>();
  addCommand(
      app, cli,
      {"audit",
       "Show the audit log of mutating calls, newest first",
       [&cli, flags](const std::string&) {
         std::string query = "?limit=" + std::to_string(flags->limit);
         if (!flags->tenant.empty())
           query += "&tenant_id=" + urlEncode(cli.resolveId("/tenants", "tenant", flags->tenant));
         if (!flags->actor.empty()) query += "&actor=" + urlEncode(flags->actor);
         if (!flags->since.empty()) query += "&since_ms=" + std::to_string(sinceMs(flags->since));
         if (flags->beforeId > 0) query += "&before_id=" + std::to_string(flags->beforeId);
         return Request{"GET", "/audit" + query};
       },
       [](std::ostream& out, const nlohmann::json& answer) {
         printTable(
             out, answer.value("entries", nlohmann::json::array()),
             {field("ID", "id"), field("TIME", "at_ms", Format::kTimeMs), field("ACTOR", "actor"),
              field("ROLE", "actor_role"), field("TENANT", "tenant_id"), field("METHOD", "method"),
              field("PATH", "path"), field("STATUS", "status"), field("MESSAGE", "message")});
         if (answer.contains("next_before_id")) {
           out << "More: warmsite audit --before-id " << answer["next_before_id"] << '\n';
         }
       },
       {},
       [flags](CLI::App& command) {
         command.add_option("--tenant", flags->tenant, "Only calls about this tenant (id or name)");
         command.add_option("--actor", flags->actor, "Only calls by this account name");
         command.add_option("--since", flags->since,
                            "Only since: 15m, 2h, 7d ago, or YYYY-MM-DD[THH:MM] UTC");
         command.add_option("--before-id", flags->beforeId, "Only entries older than this id")
             ->check(CLI::PositiveNumber);
         command.add_option("--limit", flags->limit, "How many")
             ->check(CLI::Range(1, 1000))
             ->capture_default_str();
       }});
}

void addMaintenanceGroup(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "maintenance", "Maintenance mode: tenants' new work is refused");
  const auto render = fieldsOf({field("Maintenance", "enabled"), field("Message", "message")});
  addCommand(*group, cli,
             {"show", "Whether the service is in maintenance",
              [](const std::string&) {
                return Request{"GET", "/service/maintenance"};
              },
              render});
  auto message = std::make_shared<std::string>();
  addCommand(
      *group, cli,
      {"on",
       "Enter maintenance mode",
       [message](const std::string&) {
         return Request{"PUT", "/service/maintenance", {{"enabled", true}, {"message", *message}}};
       },
       render,
       {},
       [message](CLI::App& command) {
         command.add_option("--message", *message, "What tenants are told (350 chars)");
       }});
  addCommand(*group, cli,
             {"off", "Leave maintenance mode",
              [](const std::string&) {
                return Request{"PUT", "/service/maintenance", {{"enabled", false}}};
              },
              render});
}

struct ImportFlags {
  std::string pem;
  std::string key;
  std::string pkcs12;
  bool passwordStdin = false;
};

nlohmann::json importBody(const ImportFlags& flags) {
  if (flags.pem.empty() == flags.pkcs12.empty()) {
    throw UsageError("give either --pem CERT --key KEY or --pkcs12 FILE");
  }
  nlohmann::json body;
  if (!flags.pkcs12.empty()) {
    body = {{"format", "pkcs12"}, {"data_base64", security::base64Encode(readFile(flags.pkcs12))}};
  } else {
    body = {{"format", "pem"},
            {"certificate", readFile(flags.pem)},
            {"private_key", readFile(flags.key)}};
  }
  const char* secretField = flags.pkcs12.empty() ? "passphrase" : "password";
  const bool encrypted = !flags.pkcs12.empty() || body["private_key"].get<std::string>().find(
                                                      "ENCRYPTED") != std::string::npos;
  if (flags.passwordStdin) {
    body[secretField] = readStdinLine("the password");
  } else if (encrypted && stdinIsTerminal()) {
    body[secretField] =
        askSecret(std::string(flags.pkcs12.empty() ? "Key passphrase" : "PKCS#12 password") +
                  " (empty if none): ");
  }
  return body;
}

void addCertificateGroup(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "certificate", "The API's TLS certificate");
  const auto render = fieldsOf(
      {field("Subject", "subject"), field("Issuer", "issuer"), field("Names", "subject_alt_names"),
       field("SHA-256", "thumbprint_sha256"), field("Serial", "serial"),
       field("Valid from", "not_before", Format::kTime),
       field("Valid until", "not_after", Format::kTime), field("Self-signed", "self_signed")});
  addCommand(*group, cli,
             {"show", "Show the certificate and its SHA-256 thumbprint",
              [](const std::string&) {
                return Request{"GET", "/certificate"};
              },
              render});

  // The answer came over the connection pinned to the old certificate, so this profile can trust
  // the new one at once; everybody else is refused until they pin it.
  const auto repin = [&cli](const nlohmann::json& certificate) {
    auto profile = cli.profile();
    const auto thumbprint =
        client::ApiClient::normalizeThumbprint(certificate.value("thumbprint_sha256", ""));
    if (!thumbprint || *thumbprint == profile.thumbprint) return;
    profile.thumbprint = *thumbprint;
    cli.saveProfile(profile);
    std::cerr << "Profile \"" << cli.options.profile << "\" now pins " << *thumbprint << ".\n"
              << "Other clients refuse the server until they log in with: warmsite login "
                 "--accept-thumbprint "
              << *thumbprint << '\n';
  };

  auto imported = std::make_shared<ImportFlags>();
  addCommand(*group, cli,
             {"import", "Replace the certificate with a PEM pair or a PKCS#12 file",
              [imported](const std::string&) {
                return Request{"PUT", "/certificate", importBody(*imported)};
              },
              render, repin,
              [imported](CLI::App& command) {
                auto* pem =
                    command
                        .add_option("--pem", imported->pem, "Certificate chain (PEM, leaf first)")
                        ->check(CLI::ExistingFile);
                auto* key = command.add_option("--key", imported->key, "Private key (PEM)")
                                ->check(CLI::ExistingFile);
                pem->needs(key);
                key->needs(pem);
                command.add_option("--pkcs12", imported->pkcs12, "PKCS#12 file (.pfx, .p12)")
                    ->check(CLI::ExistingFile)
                    ->excludes(pem)
                    ->excludes(key);
                command.add_flag("--password-stdin", imported->passwordStdin,
                                 "Read the PKCS#12 password or key passphrase from stdin");
              }});

  struct GenerateFlags {
    std::vector<std::string> dnsNames;
    std::vector<std::string> addresses;
  };
  auto generated = std::make_shared<GenerateFlags>();
  addCommand(*group, cli,
             {"generate", "Replace the certificate with a new self-signed one",
              [generated](const std::string&) {
                auto body = nlohmann::json::object();
                if (!generated->dnsNames.empty()) body["dns_names"] = generated->dnsNames;
                if (!generated->addresses.empty()) body["ip_addresses"] = generated->addresses;
                return Request{"POST", "/certificate/generate", body};
              },
              render, repin,
              [generated](CLI::App& command) {
                command.add_option("--dns-name", generated->dnsNames,
                                   "DNS name (repeatable; default: the current ones)");
                command.add_option("--ip", generated->addresses,
                                   "IP address (repeatable; default: the current ones)");
              }});
}

}  // namespace

void addServiceCommands(CLI::App& app, Cli& cli) {
  addTaskGroup(app, cli);
  addAuditCommand(app, cli);
  addMaintenanceGroup(app, cli);
  addCertificateGroup(app, cli);
}

}  // namespace warmsite::cli

// Tenants (each with its login account) and SP administrator accounts.
#include <optional>

#include "commands.h"
#include "errors.h"
#include "terminal.h"

namespace warmsite::cli {

namespace {

struct TenantFlags {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<bool> enabled;
  std::optional<std::string> leaseExpires;  // a time, or "never"
  std::optional<int> maxTasks;
  bool passwordStdin = false;
};

void addTenantFlags(CLI::App& app, TenantFlags& flags) {
  addOptional(app, "--name", flags.name, "Tenant name, also its login name (at most 128 chars)");
  addOptional(app, "--description", flags.description, "Free text");
  app.add_flag_function(
      "--enable,!--disable", [&flags](std::int64_t count) { flags.enabled = count > 0; },
      "Whether the tenant may log in and start work");
  addOptional(app, "--lease-expires", flags.leaseExpires,
              "End of the lease: YYYY-MM-DD[THH:MM] UTC, Unix seconds, or \"never\"");
  addOptional(app, "--max-tasks", flags.maxTasks, "Tasks the tenant may run at once")
      ->check(CLI::Range(1, 10000));
}

nlohmann::json tenantBody(const TenantFlags& flags) {
  auto body = nlohmann::json::object();
  putIfGiven(body, "name", flags.name);
  putIfGiven(body, "description", flags.description);
  putIfGiven(body, "enabled", flags.enabled);
  putIfGiven(body, "max_concurrent_tasks", flags.maxTasks);
  if (flags.leaseExpires) {
    body["lease_expires_at"] = *flags.leaseExpires == "never"
                                   ? nlohmann::json(nullptr)
                                   : nlohmann::json(parseTime(*flags.leaseExpires));
  }
  return body;
}

const std::vector<Column>& tenantFields() {
  static const std::vector<Column> fields{field("Id", "id"),
                                          field("Name", "name"),
                                          field("Description", "description"),
                                          field("Enabled", "enabled"),
                                          field("Lease expires", "lease_expires_at", Format::kTime),
                                          field("Max concurrent tasks", "max_concurrent_tasks"),
                                          field("Created", "created_at", Format::kTime)};
  return fields;
}

void addTenantCommands(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "tenant", "Tenants and their login accounts");
  const Collection tenants{"/tenants", "tenant", true};
  // A tenant shows its own tenant without naming it.
  Collection ownTenant = tenants;
  ownTenant.implicitId = [](Cli& cli) {
    const auto& profile = cli.profile();
    if (profile.tenantId.empty()) throw UsageError("name the tenant (id or name)");
    return profile.tenantId;
  };
  addCommand(
      *group, cli,
      listCommand(tenants, {field("ID", "id"), field("NAME", "name"), field("ENABLED", "enabled"),
                            field("LEASE EXPIRES", "lease_expires_at", Format::kTime),
                            field("MAX TASKS", "max_concurrent_tasks"),
                            field("CREATED", "created_at", Format::kTime)}));

  auto showFields = tenantFields();
  showFields.push_back(field("Subscriptions", "subscription_count"));
  showFields.push_back({"Public IPs", [](const nlohmann::json& tenant) {
                          std::string addresses;
                          for (const auto& ip : tenant.value("public_ips", nlohmann::json::array()))
                            addresses += (addresses.empty() ? "" : ", ") + ip.value("address", "");
                          return addresses.empty() ? std::string("-") : addresses;
                        }});
  addObjectCommand(*group, cli, ownTenant, showCommand(tenants, fieldsOf(std::move(showFields))));

  auto created = std::make_shared<TenantFlags>();
  addCommand(*group, cli,
             {"create",
              "Create a tenant and its login account",
              [created](const std::string&) {
                auto body = tenantBody(*created);
                body["password"] =
                    readNewPassword(created->passwordStdin, "Password for the new tenant: ");
                return Request{"POST", "/tenants", body};
              },
              fieldsOf(tenantFields()),
              {},
              [created](CLI::App& command) {
                addTenantFlags(command, *created);
                command.get_option("--name")->required();
                command.add_flag("--password-stdin", created->passwordStdin,
                                 "Read the tenant's password from stdin");
              }});

  auto edited = std::make_shared<TenantFlags>();
  addObjectCommand(*group, cli, tenants,
                   {"update",
                    "Edit a tenant (disabling it ends its sessions)",
                    [tenants, edited](const std::string& id) {
                      return Request{"PATCH", tenants.objectPath(id), tenantBody(*edited)};
                    },
                    fieldsOf(tenantFields()),
                    {},
                    [edited](CLI::App& command) { addTenantFlags(command, *edited); }});

  addObjectCommand(*group, cli, tenants, removeCommand(tenants, "delete"));

  auto passwordStdin = std::make_shared<bool>(false);
  addObjectCommand(
      *group, cli, tenants,
      {"set-password",
       "Set a tenant's password (unlocks it, ends its sessions)",
       [tenants, passwordStdin](const std::string& id) {
         return Request{"PUT",
                        tenants.objectPath(id) + "/password",
                        {{"password", readNewPassword(*passwordStdin, "New tenant password: ")}}};
       },
       sentence("Password set; the tenant's sessions ended."),
       {},
       [passwordStdin](CLI::App& command) {
         command.add_flag("--password-stdin", *passwordStdin, "Read the password from stdin");
       }});

  addObjectCommand(*group, cli, tenants,
                   {"end-sessions", "Log a tenant out everywhere",
                    [tenants](const std::string& id) {
                      return Request{"DELETE", tenants.objectPath(id) + "/sessions"};
                    },
                    [](std::ostream& out, const nlohmann::json& answer) {
                      out << "Ended " << answer.value("sessions_ended", 0) << " session(s).\n";
                    }});
}

void addAdminCommands(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "admin", "Service provider administrator accounts");
  const Collection admins{"/accounts", "administrator", true};
  const std::vector<Column> columns{field("ID", "id"), field("NAME", "name"),
                                    field("LOCKED UNTIL", "locked_until", Format::kTime),
                                    field("CREATED", "created_at", Format::kTime)};
  addCommand(*group, cli, listCommand(admins, columns));

  struct AdminFlags {
    std::string name;
    bool passwordStdin = false;
  };
  auto created = std::make_shared<AdminFlags>();
  addCommand(*group, cli,
             {"create",
              "Create an administrator",
              [created](const std::string&) {
                return Request{
                    "POST",
                    "/accounts",
                    {{"name", created->name},
                     {"password", readNewPassword(created->passwordStdin,
                                                  "Password for the new administrator: ")}}};
              },
              fieldsOf(columns),
              {},
              [created](CLI::App& command) {
                command.add_option("--name", created->name, "Login name")->required();
                command.add_flag("--password-stdin", created->passwordStdin,
                                 "Read the password from stdin");
              }});
  addObjectCommand(*group, cli, admins, removeCommand(admins, "delete"));
}

}  // namespace

void addAccountCommands(CLI::App& app, Cli& cli) {
  addTenantCommands(app, cli);
  addAdminCommands(app, cli);
}

}  // namespace warmsite::cli

// Replication jobs and the history of replication runs. The runs themselves come from the tenant's
// warmsite-agent over the replication port.
#include <memory>
#include <optional>

#include "commands.h"

namespace warmsite::cli {

namespace {

// "?tenant_id=..." for an SP acting on a tenant's jobs (named or by id), "" otherwise.
std::string tenantQuery(Cli& cli, const std::optional<std::string>& tenant, char separator = '?') {
  if (!tenant) return {};
  return std::string(1, separator) +
         "tenant_id=" + urlEncode(cli.resolveId("/tenants", "tenant", *tenant));
}

std::string megabytes(const nlohmann::json& value) {
  if (!value.is_number()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value.get<double>() / 1e6);
  return text;
}

const std::vector<Column>& jobColumns() {
  static const std::vector<Column> columns{
      field("ID", "id"), field("NAME", "name"), field("REPLICAS", "replica_ids", Format::kCount),
      field("EVERY (MIN)", "schedule_minutes"), field("RETENTION", "retention")};
  return columns;
}

const std::vector<Column>& runColumns() {
  static const std::vector<Column> columns{
      field("ID", "id"),
      field("REPLICA", "replica_id"),
      field("KIND", "kind"),
      field("RESULT", "result"),
      field("STARTED", "started_at", Format::kTime),
      field("SECONDS", "duration_s"),
      {"CHANGED MB", [](const nlohmann::json& run) { return megabytes(run["changed_bytes"]); }},
      {"SENT MB", [](const nlohmann::json& run) { return megabytes(run["bytes_sent"]); }},
      field("RESTORE POINT", "restore_point_id"),
      {"WHY", [](const nlohmann::json& run) {
         const std::string error = run.value("error", "");
         return error.empty() ? run.value("reason", "") : error;
       }}};
  return columns;
}

}  // namespace

void addReplicationCommands(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "replication", "Replication jobs and runs");
  auto* jobs = addGroup(*group, "job", "Which replicas an agent ships, how often, what it keeps");

  auto listTenant = std::make_shared<std::optional<std::string>>();
  addCommand(*jobs, cli,
             {"list",
              "List replication jobs",
              [&cli, listTenant](const std::string&) {
                return Request{"GET", "/replication-jobs" + tenantQuery(cli, *listTenant)};
              },
              tableOf(jobColumns()),
              {},
              [listTenant](CLI::App& command) {
                addOptional(command, "--tenant", *listTenant,
                            "Service provider: one tenant's (name or id)");
              }});

  struct JobFlags {
    std::string name;
    std::vector<std::string> replicas;
    std::optional<int> retention;
    std::optional<int> everyMinutes;
    std::optional<std::string> tenant;
  };
  auto created = std::make_shared<JobFlags>();
  addCommand(
      *jobs, cli,
      {"create",
       "Create a replication job",
       [&cli, created](const std::string&) {
         nlohmann::json body{{"name", created->name}, {"replica_ids", created->replicas}};
         if (created->retention) body["retention"] = *created->retention;
         if (created->everyMinutes) body["schedule_minutes"] = *created->everyMinutes;
         return Request{"POST", "/replication-jobs" + tenantQuery(cli, created->tenant), body};
       },
       [](std::ostream& out, const nlohmann::json& job) {
         out << "Replication job " << job.value("name", "") << " created: " << job.value("id", "")
             << "\n";
       },
       {},
       [created](CLI::App& command) {
         command.add_option("--name", created->name, "Job name")->required();
         command.add_option("--replica", created->replicas, "Replica id, repeatable")->required();
         addOptional(command, "--retention", created->retention,
                     "Restore points kept per replica (default 7)")
             ->check(CLI::Range(1, 1000));
         addOptional(command, "--every-minutes", created->everyMinutes,
                     "Run every N minutes (default: on demand)")
             ->check(CLI::Range(1, 7 * 24 * 60));
         addOptional(command, "--tenant", created->tenant,
                     "Service provider: for a tenant (name or id)");
       }});

  struct Removed {
    std::string job;
    std::optional<std::string> tenant;
  };
  auto removed = std::make_shared<Removed>();
  addCommand(*jobs, cli,
             {"delete",
              "Delete a replication job (its replicas and restore points stay)",
              [&cli, removed](const std::string&) {
                return Request{"DELETE", "/replication-jobs/" + urlEncode(removed->job) +
                                             tenantQuery(cli, removed->tenant)};
              },
              [](std::ostream& out, const nlohmann::json&) { out << "Deleted.\n"; },
              {},
              [removed](CLI::App& command) {
                command.add_option("JOB", removed->job, "The job's id")->required();
                addOptional(command, "--tenant", removed->tenant,
                            "Service provider: a tenant's (name or id)");
              }});

  struct RunsFlags {
    std::optional<std::string> replica;
    std::optional<std::string> tenant;
    int limit = 50;
  };
  auto runs = std::make_shared<RunsFlags>();
  addCommand(
      *group, cli,
      {"runs",
       "Replication runs, newest first, with bytes and result per run",
       [&cli, runs](const std::string&) {
         const std::string limit = "?limit=" + std::to_string(runs->limit);
         if (runs->replica) {
           return Request{"GET",
                          "/replicas/" + urlEncode(*runs->replica) + "/replication-runs" + limit};
         }
         return Request{"GET", "/replication-runs" + limit + tenantQuery(cli, runs->tenant, '&')};
       },
       tableOf(runColumns()),
       {},
       [runs](CLI::App& command) {
         addOptional(command, "--replica", runs->replica, "Only this replica's runs");
         addOptional(command, "--tenant", runs->tenant,
                     "Service provider: one tenant's (name or id)");
         command.add_option("--limit", runs->limit, "How many")
             ->check(CLI::Range(1, 1000))
             ->capture_default_str();
       }});
}

}  // namespace warmsite::cli

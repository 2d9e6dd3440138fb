// Replicas and their restore points, failover plans, and the sessions their operations run, which
// `--watch` and `session watch` follow VM by VM.
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "commands.h"
#include "errors.h"
#include "terminal.h"

namespace warmsite::cli {

namespace {

const Collection kTenants{"/tenants", "tenant", true};
const Collection kReplicas{"/replicas", "replica", true};
const Collection kPlans{"/failover-plans", "failover plan", true};
const Collection kSessions{"/sessions", "session"};

// A whole number from `min` to `max`; UsageError saying `what` was expected otherwise.
std::uint64_t parseNumber(const std::string& text, std::uint64_t min, std::uint64_t max,
                          const std::string& what) {
  const bool digits =
      !text.empty() && text.size() < 11 && std::all_of(text.begin(), text.end(), ::isdigit);
  const auto number = digits ? std::stoull(text) : 0;
  if (!digits || number < min || number > max) throw UsageError(what);
  return number;
}

// A CLI11 check that `parse` accepts the value: its UsageError is the message, exit code 2.
template <typename Parse>
CLI::Validator checkedBy(Parse parse, const std::string& form) {
  return CLI::Validator(
      [parse](std::string& text) {
        try {
          parse(text);
          return std::string();
        } catch (const UsageError& e) {
          return std::string(e.what());
        }
      },
      form);
}

// STORAGE:GB, e.g. gold:40.
nlohmann::json parseDisk(const std::string& text) {
  const std::string form = "\"" + text + "\" must be STORAGE:GB, e.g. gold:40";
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw UsageError(form);
  return {{"storage", text.substr(0, colon)},
          {"size_gb", parseNumber(text.substr(colon + 1), 1, 65536, form)}};
}

// NETWORK_ID[:IP]; the API checks the address.
nlohmann::json parseNic(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == 0 || text.empty() || colon + 1 == text.size()) {
    throw UsageError("\"" + text + "\" must be NETWORK_ID[:IP]");
  }
  nlohmann::json nic{{"network_id", text.substr(0, colon)}};
  if (colon != std::string::npos) nic["ip_address"] = text.substr(colon + 1);
  return nic;
}

// REPLICA[:BOOT_DELAY_S], the replica as given (id or name).
std::pair<std::string, std::optional<std::uint64_t>> parseMember(const std::string& text) {
  const auto colon = text.find(':');
  const std::string form = "\"" + text + "\" must be REPLICA[:BOOT_DELAY_S], 0 to 3600 s";
  if (colon == 0 || text.empty()) throw UsageError(form);
  if (colon == std::string::npos) return {text, std::nullopt};
  return {text.substr(0, colon), parseNumber(text.substr(colon + 1), 0, 3600, form)};
}

// "ADDRESS:PORT", an IPv6 address with or without brackets.
std::pair<std::string, std::uint64_t> parseEndpoint(const std::string& text,
                                                    const std::string& form) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw UsageError(form);
  auto address = text.substr(0, colon);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  return {address, parseNumber(text.substr(colon + 1), 1, 65535, form)};
}

struct Rule {
  std::string replica;  // as given (id or name)
  nlohmann::json body;
};

// REPLICA:PUBLIC_IP:PORT->TARGET_IP:PORT[/udp]
Rule parseRule(const std::string& text) {
  const std::string form = "\"" + text +
                           "\" must be REPLICA:PUBLIC_IP:PORT->TARGET_IP:PORT[/udp], e.g. "
                           "web:203.0.113.10:443->10.0.0.5:8443";
  const auto arrow = text.find("->");
  const auto colon = text.find(':');
  if (arrow == std::string::npos || colon == 0 || colon >= arrow) throw UsageError(form);
  auto target = text.substr(arrow + 2);
  std::string protocol = "tcp";
  if (const auto slash = target.rfind('/'); slash != std::string::npos) {
    protocol = target.substr(slash + 1);
    target.resize(slash);
  }
  if (protocol != "tcp" && protocol != "udp") throw UsageError(form);
  const auto [publicIp, publicPort] =
      parseEndpoint(text.substr(colon + 1, arrow - colon - 1), form);
  const auto [targetIp, targetPort] = parseEndpoint(target, form);
  return {text.substr(0, colon),
          {{"public_ip", publicIp},
           {"public_port", publicPort},
           {"protocol", protocol},
           {"target_ip", targetIp},
           {"target_port", targetPort}}};
}

// The id of `given` in `collection` (an id or a name); "" when not given.
std::string resolved(Cli& cli, const Collection& collection, const std::string& given) {
  return given.empty() ? given : cli.resolveId(collection.path, collection.noun, given);
}

// `path` with the filters that were given, e.g. /sessions?plan_id=fp-…
std::string filtered(std::string path,
                     const std::vector<std::pair<std::string, std::string>>& filters) {
  char separator = '?';
  for (const auto& [name, value] : filters) {
    if (value.empty()) continue;
    path += separator + name + "=" + urlEncode(value);
    separator = '&';
  }
  return path;
}

// An option of a list that passes its value, an id or a name in `collection`, as `parameter`.
struct Filter {
  std::string flag;
  std::string parameter;
  Collection collection;
  std::string description;
};

// `list` of `collection`, narrowed by the filters given.
Command filteredList(Cli& cli, const Collection& collection, std::string description,
                     std::vector<Filter> filters, Renderer render) {
  auto given = std::make_shared<std::vector<std::string>>(filters.size());
  return {"list",
          std::move(description),
          [&cli, collection, filters, given](const std::string&) {
            std::vector<std::pair<std::string, std::string>> query;
            for (std::size_t i = 0; i < filters.size(); ++i) {
              query.emplace_back(filters[i].parameter,
                                 resolved(cli, filters[i].collection, (*given)[i]));
            }
            return Request{"GET", filtered(collection.path, query)};
          },
          std::move(render),
          {},
          [filters, given](CLI::App& command) {
            for (std::size_t i = 0; i < filters.size(); ++i)
              command.add_option(filters[i].flag, (*given)[i], filters[i].description);
          }};
}

// "203.0.113.10:443", "[2001:db8::10]:443".
std::string endpoint(const nlohmann::json& address, const nlohmann::json& port) {
  const auto text = address.get<std::string>();
  return (text.find(':') == std::string::npos ? text : "[" + text + "]") + ":" + port.dump();
}

// The names of the tenant's replicas by id: plans and sessions name their replicas by id only.
std::map<std::string, std::string> replicaNames(Cli& cli, const std::string& tenantId) {
  std::map<std::string, std::string> names;
  for (const auto& replica : cli.get(filtered(kReplicas.path, {{"tenant_id", tenantId}}))) {
    names[replica.value("id", "")] = replica.value("name", "");
  }
  return names;
}

// The replica's name, or its id when it has none (any more).
std::string nameOf(const std::map<std::string, std::string>& names, const std::string& id) {
  const auto found = names.find(id);
  return found == names.end() || found->second.empty() ? id : found->second;
}

// The columns naming the replica of a plan member or a session's VM.
std::vector<Column> replicaColumns(std::map<std::string, std::string> names) {
  return {{"REPLICA",
           [names = std::move(names)](const nlohmann::json& object) {
             return nameOf(names, object.value("replica_id", ""));
           }},
          field("ID", "replica_id")};
}

// ---- replicas

struct ReplicaFlags {
  std::string subscription;
  std::string name;
  std::uint64_t vcpus = 0;
  std::uint64_t cpuMhz = 0;
  std::uint64_t memoryMb = 0;
  std::vector<std::string> disks;
  std::vector<std::string> nics;
};

nlohmann::json replicaBody(const ReplicaFlags& flags) {
  nlohmann::json body{{"subscription_id", flags.subscription},
                      {"name", flags.name},
                      {"vcpus", flags.vcpus},
                      {"cpu_mhz", flags.cpuMhz},
                      {"memory_mb", flags.memoryMb},
                      {"disks", nlohmann::json::array()},
                      {"nics", nlohmann::json::array()}};
  for (const auto& disk : flags.disks) body["disks"].push_back(parseDisk(disk));
  for (const auto& nic : flags.nics) body["nics"].push_back(parseNic(nic));
  return body;
}

std::string disksText(const nlohmann::json& replica) {
  std::string text;
  for (const auto& disk : replica.value("disks", nlohmann::json::array())) {
    text += (text.empty() ? "" : ", ") + disk.value("storage", "") + " " +
            std::to_string(disk.value("size_gb", 0)) + " GB";
  }
  return text.empty() ? "-" : text;
}

const std::vector<Column>& restorePointColumns() {
  static const std::vector<Column> columns{
      field("ID", "id"), field("CREATED", "created_at", Format::kTime), field("ORIGIN", "origin"),
      field("DATA BYTES", "data_bytes"), field("DESCRIPTION", "description")};
  return columns;
}

// ---- sessions and their live view

// The object's error, or "" when it has none.
std::string errorOf(const nlohmann::json& object) {
  const auto error = object.value("error", nlohmann::json());
  return error.is_string() ? error.get<std::string>() : std::string();
}

// "2/3": VMs finished of all.
std::string vmsText(const nlohmann::json& session) {
  return fmt::format("{}/{}", session.value("vms_finished", 0), session.value("vms_total", 0));
}

Renderer sessionView(Cli& cli) {
  return [&cli](std::ostream& out, const nlohmann::json& session) {
    printFields(out, session,
                {field("Id", "id"),
                 field("Kind", "kind"),
                 field("State", "state"),
                 field("Error", "error"),
                 field("Failover plan", "plan_id"),
                 field("Tenant", "tenant_id"),
                 field("Task", "task_id"),
                 {"VMs finished", vmsText},
                 field("Started by", "started_by"),
                 field("Started", "started_at", Format::kTime),
                 field("Finished", "finished_at", Format::kTime),
                 field("Script output", "script_output")});
    out << "\nVMs:\n";
    auto columns = replicaColumns(replicaNames(cli, session.value("tenant_id", "")));
    columns.insert(columns.end(),
                   {field("STATE", "state"), field("STEP", "step"), field("ATTEMPTS", "attempts"),
                    field("RESTORE POINT", "restore_point_id"), field("ERROR", "error")});
    printTable(out, session.value("vms", nlohmann::json::array()), columns);
  };
}

// A line per VM (name, state, step, attempts, error), then the session's own line.
std::vector<std::string> liveLines(const nlohmann::json& session,
                                   const std::map<std::string, std::string>& names) {
  const auto vms = session.value("vms", nlohmann::json::array());
  std::vector<std::string> vmNames;
  std::size_t width = 0;
  for (const auto& vm : vms) {
    vmNames.push_back(nameOf(names, vm.value("replica_id", "")));
    width = std::max(width, vmNames.back().size());
  }
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < vms.size(); ++i) {
    const auto& vm = vms[i];
    lines.push_back(fmt::format(
        "  {:<{}}  {:<7}  {:<21}  attempts {}{}", vmNames[i], width, vm.value("state", ""),
        plainText(vm.value("step", nlohmann::json())), vm.value("attempts", 0),
        errorOf(vm).empty() ? std::string() : "  " + errorOf(vm)));
  }
  lines.push_back(fmt::format("{} {}: {} VMs finished, {}{}", session.value("id", ""),
                              session.value("kind", ""), vmsText(session),
                              session.value("state", ""),
                              errorOf(session).empty() ? std::string() : ": " + errorOf(session)));
  return lines;
}

// At most `columns` bytes, not cutting a UTF-8 character: a wrapped line would spoil the redraw.
std::string fitted(std::string line, std::size_t columns) {
  if (columns == 0 || line.size() < columns) return line;
  auto cut = columns - 1;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
  line.resize(cut);
  return line;
}

// Polls the session from `session`, its state at the start, until it ends, drawing it on stderr:
// redrawn in place on a terminal, a line per change otherwise. Returns the final session;
// TaskFailed if it runs past `timeout`.
nlohmann::json watchSession(Cli& cli, nlohmann::json session, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool live = stderrIsTerminal();
  const auto id = session.value("id", "");
  const auto names = replicaNames(cli, session.value("tenant_id", ""));
  // A 202 carries the session's summary: its VMs come with the session itself.
  if (!session.contains("vms")) session = cli.get("/sessions/" + urlEncode(id));
  std::vector<std::string> shown;
  for (;;) {
    const auto lines = liveLines(session, names);
    if (live) {
      if (!shown.empty()) std::cerr << "\033[" << shown.size() << 'A';
      for (const auto& line : lines)
        std::cerr << '\r' << fitted(line, stderrColumns()) << "\033[K\n";
      std::cerr << std::flush;
    } else {
      for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i >= shown.size() || lines[i] != shown[i]) std::cerr << lines[i] << '\n';
      }
    }
    shown = lines;
    const auto state = session.value("state", "");
    if (state != "in_progress") return session;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw TaskFailed(fmt::format(
          "session {} is still {} after {} s; follow it with: warmsite session watch {}", id, state,
          timeout.count(), id));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    session = cli.get("/sessions/" + urlEncode(id));
  }
}

struct Follow {
  bool watch = false;
  int timeoutSeconds = 3600;
};

// `command` with --timeout, that (when follow->watch) watches the session its answer carries to
// its end and prints its final state, alone under --json; TaskFailed unless it completed.
Command followingSession(Cli& cli, Command command,
                         std::function<nlohmann::json(const nlohmann::json&)> sessionOf,
                         std::shared_ptr<Follow> follow) {
  command.after = [&cli, sessionOf, follow](const nlohmann::json& answer) {
    if (!follow->watch) return;
    const auto session =
        watchSession(cli, sessionOf(answer), std::chrono::seconds(follow->timeoutSeconds));
    cli.print(session, sessionView(cli));
    const auto state = session.value("state", "");
    const auto error = errorOf(session);
    if (state != "completed") {
      throw TaskFailed("session " + session.value("id", "") + " " + state + ": " +
                       (error.empty() ? "no reason" : error));
    }
  };
  command.afterPrints = [follow] { return follow->watch; };
  command.flags = [flags = std::move(command.flags), follow](CLI::App& app) {
    if (flags) flags(app);
    app.add_option("--timeout", follow->timeoutSeconds, "Seconds to follow the session at most")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
  };
  return command;
}

// An operation: POST to `path` below the object, answered by 202 and a session; --watch follows
// the session to its end.
struct Operation {
  std::string name;
  std::string path;
  std::string description;
  bool pointInTime = false;  // takes --point-in-time (failovers)
  bool duration = false;     // takes --duration (test failover)
};

void addOperations(CLI::App& group, Cli& cli, const Collection& collection,
                   const std::vector<Operation>& operations) {
  struct Body {
    std::optional<std::string> before;
    std::optional<int> duration;
  };
  for (const auto& operation : operations) {
    auto body = std::make_shared<Body>();
    auto follow = std::make_shared<Follow>();
    Command command{
        operation.name,
        operation.description,
        [collection, path = operation.path, body](const std::string& id) {
          auto json = nlohmann::json::object();
          if (body->before) json["before"] = parseTime(*body->before);
          putIfGiven(json, "duration_s", body->duration);
          return Request{"POST", collection.objectPath(id) + "/" + path, json};
        },
        [follow](std::ostream& out, const nlohmann::json& answer) {
          const auto& session = answer["session"];
          const auto id = session.value("id", "");
          out << "Session " << id << " (" << session.value("kind", "") << ") started for "
              << session.value("vms_total", 0) << " VM(s).\n";
          if (!follow->watch) out << "Follow it with: warmsite session watch " << id << '\n';
        },
        {},
        [operation, body, follow](CLI::App& app) {
          if (operation.pointInTime) {
            addOptional(app, "--point-in-time", body->before,
                        "Boot the newest restore point taken at or before this time "
                        "(YYYY-MM-DD[THH:MM] UTC or Unix seconds); default: the latest");
          }
          if (operation.duration) {
            addOptional(app, "--duration", body->duration,
                        "Seconds the copies stay up before they are removed (default 0)")
                ->check(CLI::Range(0, 86400));
          }
          app.add_flag("--watch", follow->watch,
                       "Follow the session VM by VM to its end (exit 1 if it fails)");
        }};
    addObjectCommand(group, cli, collection,
                     followingSession(
                         cli, std::move(command),
                         [](const nlohmann::json& answer) { return answer["session"]; }, follow));
  }
}

void addReplicaGroup(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "replica", "Replicas: VMs kept at the DR site, with restore points");
  addCommand(
      *group, cli,
      filteredList(cli, kReplicas, "List replicas (a tenant sees its own)",
                   {{"--subscription",
                     "subscription_id",
                     {"/subscriptions", "subscription"},
                     "Only this subscription's"},
                    {"--tenant", "tenant_id", kTenants, "Only this tenant's (id or name; SP)"}},
                   tableOf({field("ID", "id"),
                            field("NAME", "name"),
                            field("STATE", "state"),
                            field("VCPUS", "vcpus"),
                            field("CPU MHZ", "cpu_mhz"),
                            field("MEMORY MB", "memory_mb"),
                            {"DISKS", disksText},
                            field("ERROR", "error")})));
  addObjectCommand(*group, cli, kReplicas,
                   showCommand(kReplicas, [](std::ostream& out, const nlohmann::json& replica) {
                     printFields(out, replica,
                                 {field("Id", "id"),
                                  field("Name", "name"),
                                  field("Tenant", "tenant_id"),
                                  field("Subscription", "subscription_id"),
                                  field("State", "state"),
                                  field("Deleting", "deleting"),
                                  field("Error", "error"),
                                  field("vCPUs", "vcpus"),
                                  field("CPU MHz", "cpu_mhz"),
                                  field("Memory MB", "memory_mb"),
                                  {"Disks", disksText},
                                  field("Created", "created_at", Format::kTime)});
                     out << "\nNICs:\n";
                     printTable(out, replica.value("nics", nlohmann::json::array()),
                                {field("ID", "id"), field("NETWORK", "network_id"),
                                 field("IP", "ip_address"), field("MAC", "mac")});
                     out << "\nRestore points:\n";
                     printTable(out, replica.value("restore_points", nlohmann::json::array()),
                                restorePointColumns());
                   }));

  auto created = std::make_shared<ReplicaFlags>();
  auto create = taskCommand(cli, "create", "Create a replica inside the subscription's quota",
                            [created](const std::string&) {
                              return Request{"POST", kReplicas.path, replicaBody(*created)};
                            });
  create.flags = [created, followFlags = create.flags](CLI::App& command) {
    command.add_option("--subscription", created->subscription, "Subscription id")->required();
    command.add_option("--name", created->name, "Replica name")->required();
    command.add_option("--vcpus", created->vcpus, "Virtual CPUs")
        ->check(CLI::Range(1, 256))
        ->required();
    command.add_option("--cpu-mhz", created->cpuMhz, "CPU in MHz")
        ->check(CLI::PositiveNumber)
        ->required();
    command.add_option("--memory-mb", created->memoryMb, "Memory in MB")
        ->check(CLI::PositiveNumber)
        ->required();
    command.add_option("--disk", created->disks, "STORAGE:GB on a plan storage, repeatable")
        ->check(checkedBy(parseDisk, "STORAGE:GB"))
        ->required();
    command.add_option("--nic", created->nics, "NETWORK_ID[:IP] of the subscription, repeatable")
        ->check(checkedBy(parseNic, "NETWORK_ID[:IP]"));
    followFlags(command);
  };
  addCommand(*group, cli, std::move(create));
  addObjectCommand(*group, cli, kReplicas,
                   taskCommand(cli, "delete", "Delete a replica that is in no failover plan",
                               [](const std::string& id) {
                                 return Request{"DELETE", kReplicas.objectPath(id)};
                               }));

  addOperations(
      *group, cli, kReplicas,
      {{"failover", "failover", "Fail one replica over (its latest restore point)", true},
       {"undo-failover", "undo-failover", "Undo the failover of one replica"},
       {"permanent-failover", "permanent-failover", "Make one replica's failover permanent"},
       {"failback", "failback", "Fail one replica back (then failback-commit or failback-undo)"},
       {"failback-commit", "failback/commit", "Commit a failback: the replica is ready again"},
       {"failback-undo", "failback/undo", "Undo a failback: the replica runs again"}});

  auto* points = addGroup(*group, "restore-point", "A replica's restore points");
  const auto pointsOf = [](const std::string& id) {
    return kReplicas.objectPath(id) + "/restore-points";
  };
  addObjectCommand(*points, cli, kReplicas,
                   {"list", "List a replica's restore points, oldest first",
                    [pointsOf](const std::string& id) {
                      return Request{"GET", pointsOf(id)};
                    },
                    tableOf(restorePointColumns())});
  auto take = taskCommand(cli, "take", "Take a restore point of a ready replica",
                          [pointsOf](const std::string& id) {
                            return Request{"POST", pointsOf(id)};
                          });
  take.render = [render = take.render](std::ostream& out, const nlohmann::json& answer) {
    out << "Restore point " << answer.value("restore_point_id", "") << " is being taken.\n";
    render(out, answer);
  };
  addObjectCommand(*points, cli, kReplicas, std::move(take));
  auto removed = std::make_shared<std::string>();
  auto remove = taskCommand(cli, "delete", "Delete a restore point",
                            [pointsOf, removed](const std::string& id) {
                              return Request{"DELETE", pointsOf(id) + "/" + urlEncode(*removed)};
                            });
  remove.flags = [removed, followFlags = remove.flags](CLI::App& command) {
    command.add_option("POINT", *removed, "The restore point's id")->required();
    followFlags(command);
  };
  addObjectCommand(*points, cli, kReplicas, std::move(remove));
}

// ---- failover plans

struct PlanFlags {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<int> parallelism;
  std::optional<std::string> tenant;
  std::optional<std::string> file;
  std::vector<std::string> members;
  std::vector<std::string> rules;
};

void addPlanFlags(CLI::App& app, PlanFlags& flags) {
  addOptional(app, "--name", flags.name, "Plan name");
  addOptional(app, "--description", flags.description, "Free text");
  addOptional(app, "--parallelism", flags.parallelism, "VMs booted at once (default 10)")
      ->check(CLI::Range(1, 1000));
  auto* members =
      app.add_option("--member", flags.members,
                     "REPLICA[:BOOT_DELAY_S] in boot order, repeatable (delay default 60 s); "
                     "replaces the members and their rules")
          ->check(checkedBy(parseMember, "REPLICA[:BOOT_DELAY_S]"));
  auto* rules = app.add_option("--rule", flags.rules,
                               "REPLICA:PUBLIC_IP:PORT->TARGET_IP:PORT[/udp], repeatable; "
                               "replaces the rules")
                    ->check(checkedBy(parseRule, "RULE"));
  addOptional(app, "--file", flags.file,
              "The plan as the API's JSON body (name, parallelism, members with their rules)")
      ->check(CLI::ExistingFile)
      ->excludes(members)
      ->excludes(rules);
}

// `body` (empty, or the plan as it is) with the flags' changes.
nlohmann::json planBody(Cli& cli, const PlanFlags& flags, nlohmann::json body) {
  if (flags.file) {
    body = nlohmann::json::parse(readFile(*flags.file), nullptr, false);
    if (!body.is_object()) throw UsageError(*flags.file + " does not hold a JSON object");
  }
  putIfGiven(body, "name", flags.name);
  putIfGiven(body, "description", flags.description);
  putIfGiven(body, "parallelism", flags.parallelism);
  if (flags.tenant) body["tenant_id"] = cli.resolveId(kTenants.path, kTenants.noun, *flags.tenant);
  if (!flags.members.empty()) {
    body["members"] = nlohmann::json::array();
    for (const auto& text : flags.members) {
      const auto [replica, delay] = parseMember(text);
      nlohmann::json member{{"replica_id", cli.resolveId(kReplicas.path, kReplicas.noun, replica)}};
      putIfGiven(member, "boot_delay_s", delay);
      body["members"].push_back(member);
    }
  }
  if (!flags.rules.empty()) {
    auto& members = body["members"];
    for (auto& member : members) member["public_ip_rules"] = nlohmann::json::array();
    for (const auto& text : flags.rules) {
      auto rule = parseRule(text);
      const auto id = cli.resolveId(kReplicas.path, kReplicas.noun, rule.replica);
      auto member = std::find_if(members.begin(), members.end(),
                                 [&id](const auto& m) { return m.value("replica_id", "") == id; });
      if (member == members.end()) {
        throw UsageError("--rule \"" + text + "\": replica " + rule.replica +
                         " is not a member of the plan");
      }
      (*member)["public_ip_rules"].push_back(std::move(rule.body));
    }
  }
  return body;
}

// What PUT takes to keep the plan as it is.
nlohmann::json planInput(const nlohmann::json& plan) {
  nlohmann::json body{{"name", plan["name"]},
                      {"description", plan["description"]},
                      {"parallelism", plan["parallelism"]},
                      {"members", plan["members"]}};
  for (auto& member : body["members"]) {
    for (auto& rule : member["public_ip_rules"]) rule.erase("id");
  }
  return body;
}

std::string rulesText(const nlohmann::json& member) {
  std::string text;
  for (const auto& rule : member.value("public_ip_rules", nlohmann::json::array())) {
    text += (text.empty() ? "" : ", ") + endpoint(rule["public_ip"], rule["public_port"]) + " -> " +
            endpoint(rule["target_ip"], rule["target_port"]) + "/" + rule.value("protocol", "tcp");
  }
  return text.empty() ? "-" : text;
}

std::string scriptText(const nlohmann::json& script) {
  if (!script.is_object()) return "-";
  return fmt::format("{} ({} s)", script.value("command", ""), script.value("timeout_s", 0));
}

Renderer planView(Cli& cli) {
  return [&cli](std::ostream& out, const nlohmann::json& plan) {
    printFields(
        out, plan,
        {field("Id", "id"),
         field("Name", "name"),
         field("Tenant", "tenant_id"),
         field("Description", "description"),
         field("State", "state"),
         field("Parallelism", "parallelism"),
         {"Pre-script",
          [](const auto& p) { return scriptText(p.value("pre_script", nlohmann::json())); }},
         {"Post-script",
          [](const auto& p) { return scriptText(p.value("post_script", nlohmann::json())); }},
         field("Last session", "last_session_id"),
         field("Created", "created_at", Format::kTime)});
    out << "\nMembers (boot order):\n";
    auto columns = replicaColumns(replicaNames(cli, plan.value("tenant_id", "")));
    columns.insert(columns.end(),
                   {field("BOOT DELAY S", "boot_delay_s"), {"PUBLIC IP RULES", rulesText}});
    printTable(out, plan.value("members", nlohmann::json::array()), columns);
  };
}

void addFailoverPlanGroup(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "failover-plan",
                         "Failover plans: replicas booted in order, with public IP rules");
  addCommand(*group, cli,
             listCommand(kPlans, {field("ID", "id"), field("NAME", "name"), field("STATE", "state"),
                                  field("MEMBERS", "members", Format::kCount),
                                  field("PARALLELISM", "parallelism"),
                                  field("LAST SESSION", "last_session_id")}));
  addObjectCommand(*group, cli, kPlans, showCommand(kPlans, planView(cli)));

  auto created = std::make_shared<PlanFlags>();
  addCommand(
      *group, cli,
      {"create",
       "Create a failover plan",
       [&cli, created](const std::string&) {
         if (!created->file && created->members.empty())
           throw UsageError("give the members with --member, or the plan with --file");
         return Request{"POST", kPlans.path, planBody(cli, *created, nlohmann::json::object())};
       },
       planView(cli),
       {},
       [created](CLI::App& command) {
         addPlanFlags(command, *created);
         addOptional(command, "--tenant", created->tenant,
                     "The tenant whose plan it is (id or name; SP only)");
       }});

  // PUT replaces the whole plan: what is not given is kept from the current one.
  auto edited = std::make_shared<PlanFlags>();
  addObjectCommand(*group, cli, kPlans,
                   {"update",
                    "Edit a plan (not while it runs); what is not given is kept",
                    [&cli, edited](const std::string& id) {
                      return Request{
                          "PUT", kPlans.objectPath(id),
                          planBody(cli, *edited, planInput(cli.get(kPlans.objectPath(id))))};
                    },
                    planView(cli),
                    {},
                    [edited](CLI::App& command) { addPlanFlags(command, *edited); }});
  addObjectCommand(*group, cli, kPlans, removeCommand(kPlans, "delete"));

  struct ScriptFlags {
    std::optional<std::string> preCommand;
    std::optional<int> preTimeout;
    std::optional<std::string> postCommand;
    std::optional<int> postTimeout;
  };
  auto scripts = std::make_shared<ScriptFlags>();
  addObjectCommand(
      *group, cli, kPlans,
      {"scripts",
       "Set the scripts run before and after a failover (SP); one not given is cleared",
       [scripts](const std::string& id) {
         auto body = nlohmann::json::object();
         putIfGiven(body, "pre_script_command", scripts->preCommand);
         putIfGiven(body, "pre_script_timeout_s", scripts->preTimeout);
         putIfGiven(body, "post_script_command", scripts->postCommand);
         putIfGiven(body, "post_script_timeout_s", scripts->postTimeout);
         return Request{"PUT", kPlans.objectPath(id) + "/scripts", body};
       },
       planView(cli),
       {},
       [scripts](CLI::App& command) {
         addOptional(command, "--pre", scripts->preCommand,
                     "Absolute path of the script run before (no shell)");
         addOptional(command, "--pre-timeout", scripts->preTimeout, "Its timeout in seconds")
             ->check(CLI::Range(1, 86400));
         addOptional(command, "--post", scripts->postCommand,
                     "Absolute path of the script run after (no shell)");
         addOptional(command, "--post-timeout", scripts->postTimeout, "Its timeout in seconds")
             ->check(CLI::Range(1, 86400));
       }});

  addOperations(
      *group, cli, kPlans,
      {{"failover", "failover",
        "Fail the plan's replicas over, in boot order; its public IP rules go live", true},
       {"test-failover", "test-failover",
        "Boot copies in an isolated network for --duration, then remove them", true, true},
       {"undo", "undo", "Undo the failover: members power off and revert"},
       {"permanent-failover", "permanent-failover",
        "Make the failover permanent: restore points are dropped"}});
}

void addSessionGroup(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "session", "Failover sessions: the runs of failover operations");
  addCommand(
      *group, cli,
      filteredList(cli, kSessions, "List recent sessions, newest first (a tenant sees its own)",
                   {{"--plan", "plan_id", kPlans, "Only this failover plan's (id or name)"},
                    {"--tenant", "tenant_id", kTenants, "Only this tenant's (id or name; SP)"}},
                   tableOf({field("ID", "id"),
                            field("KIND", "kind"),
                            field("STATE", "state"),
                            {"VMS", vmsText},
                            field("PLAN", "plan_id"),
                            field("STARTED BY", "started_by"),
                            field("STARTED", "started_at", Format::kTime),
                            field("ERROR", "error")})));
  addObjectCommand(*group, cli, kSessions, showCommand(kSessions, sessionView(cli)));

  auto watched = std::make_shared<Follow>(Follow{true});
  addObjectCommand(*group, cli, kSessions,
                   followingSession(
                       cli,
                       {"watch", "Follow a session VM by VM to its end (exit 1 if it fails)",
                        [](const std::string& id) {
                          return Request{"GET", kSessions.objectPath(id)};
                        },
                        [](std::ostream&, const nlohmann::json&) {}},
                       [](const nlohmann::json& session) { return session; }, watched));

  auto cancelled = std::make_shared<std::string>();
  addObjectCommand(*group, cli, kSessions,
                   {"cancel", "Cancel a running session (a test failover still cleans up)",
                    [cancelled](const std::string& id) {
                      *cancelled = id;
                      return Request{"POST", kSessions.objectPath(id) + "/cancel"};
                    },
                    [cancelled](std::ostream& out, const nlohmann::json&) {
                      out << "Cancelling session " << *cancelled
                          << "; follow it with: warmsite session watch " << *cancelled << '\n';
                    }});
}

}  // namespace

void addFailoverCommands(CLI::App& app, Cli& cli) {
  addReplicaGroup(app, cli);
  addFailoverPlanGroup(app, cli);
  addSessionGroup(app, cli);
}

}  // namespace warmsite::cli

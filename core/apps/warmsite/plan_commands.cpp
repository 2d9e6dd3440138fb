// Hardware plans and subscriptions (a tenant on a plan).
#include <map>
#include <optional>

#include "commands.h"
#include "errors.h"

namespace warmsite::cli {

namespace {

// A CPU or memory limit: a positive number or "unlimited".
const CLI::Validator kLimit(
    [](std::string& text) {
      if (text == "unlimited") return std::string();
      const bool number = !text.empty() && text.size() < 19 &&
                          std::all_of(text.begin(), text.end(), ::isdigit) && std::stoll(text) > 0;
      return number ? std::string() : "must be a positive number or \"unlimited\"";
    },
    "NUMBER|unlimited");

// NAME:BACKEND:GB, e.g. gold:datastore1:500.
const CLI::Validator kStorage(
    [](std::string& text) {
      const auto first = text.find(':'), last = text.rfind(':');
      const auto quota = last == std::string::npos ? std::string() : text.substr(last + 1);
      const bool ok = first != std::string::npos && first != last && first > 0 &&
                      last > first + 1 && !quota.empty() && quota.size() < 10 &&
                      std::all_of(quota.begin(), quota.end(), ::isdigit);
      return ok ? std::string() : "must be NAME:BACKEND_STORAGE:QUOTA_GB, e.g. gold:datastore1:500";
    },
    "NAME:BACKEND:GB");

nlohmann::json limitValue(const std::string& text) {
  return text == "unlimited" ? nlohmann::json(text) : nlohmann::json(std::stoll(text));
}

struct PlanFlags {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> cloudHost;
  std::optional<std::string> cpuMhz;
  std::optional<std::string> memoryMb;
  std::vector<std::string> storages;
  std::optional<int> withInternet;
  std::optional<int> withoutInternet;
};

void addPlanFlags(CLI::App& app, PlanFlags& flags) {
  addOptional(app, "--name", flags.name, "Plan name");
  addOptional(app, "--description", flags.description, "Free text");
  addOptional(app, "--cloud-host", flags.cloudHost, "Cloud host (id or name); fixed once created");
  addOptional(app, "--cpu-mhz", flags.cpuMhz, "CPU limit in MHz, or \"unlimited\"")->check(kLimit);
  addOptional(app, "--memory-mb", flags.memoryMb, "Memory limit in MB, or \"unlimited\"")
      ->check(kLimit);
  app.add_option("--storage", flags.storages,
                 "NAME:BACKEND_STORAGE:QUOTA_GB, repeatable; given on update, replaces them all")
      ->check(kStorage);
  addOptional(app, "--networks-with-internet", flags.withInternet,
              "Networks with internet access (never fewer than before)")
      ->check(CLI::Range(0, 64));
  addOptional(app, "--networks-without-internet", flags.withoutInternet,
              "Networks without internet access (never fewer than before)")
      ->check(CLI::Range(0, 64));
}

nlohmann::json planBody(Cli& cli, const PlanFlags& flags) {
  auto body = nlohmann::json::object();
  putIfGiven(body, "name", flags.name);
  putIfGiven(body, "description", flags.description);
  if (flags.cloudHost) {
    body["cloud_host_id"] = cli.resolveId("/cloud-hosts", "cloud host", *flags.cloudHost);
  }
  if (flags.cpuMhz) body["cpu_mhz"] = limitValue(*flags.cpuMhz);
  if (flags.memoryMb) body["memory_mb"] = limitValue(*flags.memoryMb);
  if (!flags.storages.empty()) {
    body["storages"] = nlohmann::json::array();
    for (const auto& storage : flags.storages) {
      const auto first = storage.find(':'), last = storage.rfind(':');
      body["storages"].push_back({{"name", storage.substr(0, first)},
                                  {"backend_storage", storage.substr(first + 1, last - first - 1)},
                                  {"quota_gb", std::stoll(storage.substr(last + 1))}});
    }
  }
  putIfGiven(body, "networks_with_internet", flags.withInternet);
  putIfGiven(body, "networks_without_internet", flags.withoutInternet);
  return body;
}

std::string storagesText(const nlohmann::json& plan) {
  std::string text;
  for (const auto& storage : plan.value("storages", nlohmann::json::array())) {
    text += (text.empty() ? "" : ", ") + storage.value("name", "") + " " +
            std::to_string(storage.value("quota_gb", 0)) + " GB on " +
            storage.value("backend_storage", "");
  }
  return text.empty() ? "-" : text;
}

std::string networksText(const nlohmann::json& plan) {
  return std::to_string(plan.value("networks_with_internet", 0)) + " with internet, " +
         std::to_string(plan.value("networks_without_internet", 0)) + " without";
}

const std::vector<Column>& planFields() {
  static const std::vector<Column> fields{field("Id", "id"),
                                          field("Name", "name"),
                                          field("Description", "description"),
                                          field("Cloud host", "cloud_host_id"),
                                          field("CPU MHz", "cpu_mhz"),
                                          field("Memory MB", "memory_mb"),
                                          {"Storage", storagesText},
                                          {"Networks", networksText},
                                          field("Subscribers", "subscriber_count"),
                                          field("Updated", "updated_at", Format::kTime)};
  return fields;
}

void addPlanGroup(CLI::App& app, Cli& cli, const Collection& plans) {
  auto* group = addGroup(app, "plan", "Hardware plans: what a subscription gives a tenant");
  addCommand(*group, cli,
             listCommand(plans, {field("ID", "id"),
                                 field("NAME", "name"),
                                 field("CLOUD HOST", "cloud_host_id"),
                                 field("CPU MHZ", "cpu_mhz"),
                                 field("MEMORY MB", "memory_mb"),
                                 {"STORAGE", storagesText},
                                 {"NETWORKS", networksText}}));
  addObjectCommand(*group, cli, plans, showCommand(plans, fieldsOf(planFields())));

  auto created = std::make_shared<PlanFlags>();
  addCommand(*group, cli,
             {"create",
              "Create a hardware plan",
              [&cli, plans, created](const std::string&) {
                return Request{"POST", plans.path, planBody(cli, *created)};
              },
              fieldsOf(planFields()),
              {},
              [created](CLI::App& command) {
                addPlanFlags(command, *created);
                for (const char* required : {"--name", "--cloud-host", "--storage"})
                  command.get_option(required)->required();
              }});

  auto edited = std::make_shared<PlanFlags>();
  addObjectCommand(*group, cli, plans,
                   {"update",
                    "Edit a plan; every subscriber gets the change",
                    [&cli, plans, edited](const std::string& id) {
                      return Request{"PATCH", plans.objectPath(id), planBody(cli, *edited)};
                    },
                    fieldsOf(planFields()),
                    {},
                    [edited](CLI::App& command) { addPlanFlags(command, *edited); }});
  addObjectCommand(*group, cli, plans, removeCommand(plans, "delete"));
}

void addSubscriptionGroup(CLI::App& app, Cli& cli, const Collection& plans) {
  auto* group = addGroup(app, "subscription", "Subscriptions: a tenant on a hardware plan");
  const Collection subscriptions{"/subscriptions", "subscription"};

  auto tenant = std::make_shared<std::string>();
  addCommand(
      *group, cli,
      {"list",
       "List subscriptions (a tenant sees its own)",
       [&cli, tenant](const std::string&) {
         if (tenant->empty()) return Request{"GET", "/subscriptions"};
         return Request{"GET", "/subscriptions?tenant_id=" +
                                   urlEncode(cli.resolveId("/tenants", "tenant", *tenant))};
       },
       [&cli, plans](std::ostream& out, const nlohmann::json& list) {
         // Plans by name: the subscription only carries the plan's id.
         std::map<std::string, std::string> planNames;
         for (const auto& subscription : list) {
           const auto id = subscription.value("plan_id", "");
           if (planNames.count(id)) continue;
           try {
             planNames[id] = cli.get(plans.objectPath(id)).value("name", id);
           } catch (const ApiFailure&) {
             planNames[id] = id;
           }
         }
         printTable(
             out, list,
             {field("ID", "id"),
              field("TENANT", "tenant_id"),
              {"PLAN", [&](const nlohmann::json& s) { return planNames[s.value("plan_id", "")]; }},
              field("STATE", "state"),
              field("NETWORKS", "networks", Format::kCount),
              field("PUBLIC IPS", "public_ips"),
              field("ERROR", "error")});
       },
       {},
       [tenant](CLI::App& command) {
         command.add_option("--tenant", *tenant, "Only this tenant's (id or name)");
       }});

  addObjectCommand(
      *group, cli, subscriptions,
      showCommand(subscriptions, [](std::ostream& out, const nlohmann::json& subscription) {
        printFields(
            out, subscription,
            {field("Id", "id"), field("Tenant", "tenant_id"), field("Plan", "plan.name"),
             field("Plan id", "plan_id"), field("Cloud host", "cloud_host_id"),
             field("State", "state"), field("Error", "error"), field("Public IPs", "public_ips"),
             field("Created", "created_at", Format::kTime)});
        out << "\nNetworks:\n";
        printTable(out, subscription.value("networks", nlohmann::json::array()),
                   {field("NAME", "name"), field("VLAN", "vlan_id"), field("INTERNET", "internet"),
                    field("ID", "id")});
        if (subscription.contains("plan")) {
          out << "\nPlan:\n";
          printFields(out, subscription["plan"], planFields());
        }
      }));

  struct SubscribeFlags {
    std::string tenant;
    std::string plan;
    int publicIps = 0;
  };
  auto subscribe = std::make_shared<SubscribeFlags>();
  auto create = taskCommand(
      cli, "create", "Subscribe a tenant to a plan and provision it",
      [&cli, subscribe](const std::string&) {
        return Request{"POST",
                       "/subscriptions",
                       {{"tenant_id", cli.resolveId("/tenants", "tenant", subscribe->tenant)},
                        {"plan_id", cli.resolveId("/plans", "plan", subscribe->plan)},
                        {"public_ip_count", subscribe->publicIps}}};
      });
  create.flags = [subscribe, followFlags = create.flags](CLI::App& command) {
    command.add_option("--tenant", subscribe->tenant, "Tenant (id or name)")->required();
    command.add_option("--plan", subscribe->plan, "Plan (id or name)")->required();
    command.add_option("--public-ips", subscribe->publicIps, "Public IPs to give the tenant")
        ->check(CLI::Range(0, 9999));
    followFlags(command);
  };
  addCommand(*group, cli, std::move(create));

  addObjectCommand(
      *group, cli, subscriptions,
      taskCommand(cli, "delete", "Unsubscribe (refused while replicas exist); frees VLANs and IPs",
                  [subscriptions](const std::string& id) {
                    return Request{"DELETE", subscriptions.objectPath(id)};
                  }));
  addObjectCommand(*group, cli, subscriptions,
                   taskCommand(cli, "retry", "Provision a failed subscription again",
                               [subscriptions](const std::string& id) {
                                 return Request{"POST", subscriptions.objectPath(id) + "/retry"};
                               }));
}

}  // namespace

void addPlanCommands(CLI::App& app, Cli& cli) {
  const Collection plans{"/plans", "plan", true};
  addPlanGroup(app, cli, plans);
  addSubscriptionGroup(app, cli, plans);
}

}  // namespace warmsite::cli

// Cloud hosts (a plugin and its config), their VLAN ranges, the public IP pool, and the plugins
// the daemon loaded.
#include <optional>

#include "commands.h"
#include "errors.h"

namespace warmsite::cli {

namespace {

struct CloudHostFlags {
  std::optional<std::string> name;
  std::string plugin;
  std::optional<std::string> config;
  std::optional<std::string> configFile;
};

void addCloudHostFlags(CLI::App& app, CloudHostFlags& flags) {
  addOptional(app, "--name", flags.name, "Cloud host name");
  auto* config = addOptional(app, "--config", flags.config,
                             "The plugin's config as a JSON object (secrets: use --config-file)");
  addOptional(app, "--config-file", flags.configFile, "Read the plugin's config from this file")
      ->check(CLI::ExistingFile)
      ->excludes(config);
}

nlohmann::json cloudHostBody(const CloudHostFlags& flags) {
  auto body = nlohmann::json::object();
  putIfGiven(body, "name", flags.name);
  if (flags.config || flags.configFile) {
    const auto text = flags.config ? *flags.config : readFile(*flags.configFile);
    auto config = nlohmann::json::parse(text, nullptr, false);
    if (!config.is_object()) throw UsageError("the plugin config must be a JSON object");
    body["config"] = std::move(config);
  }
  return body;
}

const std::vector<Column>& cloudHostFields() {
  static const std::vector<Column> fields{
      field("Id", "id"),
      field("Name", "name"),
      field("Plugin", "plugin"),
      field("Attached", "status.attached"),
      field("Error", "status.error"),
      field("Config", "config", Format::kJson),
      field("Capabilities", "status.capabilities", Format::kJson),
      field("Created", "created_at", Format::kTime)};
  return fields;
}

void addCloudHostGroup(CLI::App& app, Cli& cli, const Collection& hosts) {
  auto* group = addGroup(app, "cloud-host", "Cloud hosts: a plugin and the config it validates");
  addCommand(
      *group, cli,
      listCommand(hosts, {field("ID", "id"), field("NAME", "name"), field("PLUGIN", "plugin"),
                          field("ATTACHED", "status.attached"), field("ERROR", "status.error")}));
  addObjectCommand(*group, cli, hosts, showCommand(hosts, fieldsOf(cloudHostFields())));

  auto added = std::make_shared<CloudHostFlags>();
  addCommand(
      *group, cli,
      {"add",
       "Register a cloud host; the plugin checks its config",
       [added](const std::string&) {
         auto body = cloudHostBody(*added);
         body["plugin"] = added->plugin;
         if (!body.contains("config")) body["config"] = nlohmann::json::object();
         return Request{"POST", "/cloud-hosts", body};
       },
       fieldsOf(cloudHostFields()),
       {},
       [added](CLI::App& command) {
         addCloudHostFlags(command, *added);
         command.get_option("--name")->required();
         command.add_option("--plugin", added->plugin, "Plugin name (see: warmsite plugin list)")
             ->required();
       }});

  auto edited = std::make_shared<CloudHostFlags>();
  addObjectCommand(*group, cli, hosts,
                   {"update",
                    "Rename a cloud host or replace its config",
                    [hosts, edited](const std::string& id) {
                      return Request{"PATCH", hosts.objectPath(id), cloudHostBody(*edited)};
                    },
                    fieldsOf(cloudHostFields()),
                    {},
                    [edited](CLI::App& command) { addCloudHostFlags(command, *edited); }});
  addObjectCommand(*group, cli, hosts, removeCommand(hosts, "remove"));
}

// "FIRST-LAST" or a single VLAN id.
std::pair<int, int> parseVlanSpan(const std::string& text) {
  const auto dash = text.find('-');
  try {
    std::size_t used = 0;
    const int first = std::stoi(text.substr(0, dash), &used);
    if (used != text.substr(0, dash).size()) throw std::invalid_argument(text);
    if (dash == std::string::npos) return {first, first};
    const auto tail = text.substr(dash + 1);
    const int last = std::stoi(tail, &used);
    if (used != tail.size()) throw std::invalid_argument(text);
    return {first, last};
  } catch (const std::logic_error&) {
    throw UsageError("\"" + text + "\" is not a VLAN range: use FIRST-LAST, e.g. 100-199");
  }
}

struct VlanFlags {
  std::string rangeId;
  std::string span;
  std::optional<bool> internet;
};

void addVlanGroup(CLI::App& app, Cli& cli, const Collection& hosts) {
  auto* group = addGroup(app, "vlan", "VLAN ranges of a cloud host, with or without internet");
  auto rangesOf = [hosts](const std::string& hostId) {
    return hosts.objectPath(hostId) + "/vlan-ranges";
  };
  addObjectCommand(*group, cli, hosts,
                   {"list", "List a cloud host's VLAN ranges and how many VLANs are free",
                    [rangesOf](const std::string& id) {
                      return Request{"GET", rangesOf(id)};
                    },
                    [](std::ostream& out, const nlohmann::json& answer) {
                      printTable(out, answer.value("ranges", nlohmann::json::array()),
                                 {field("ID", "id"), field("FIRST", "first"), field("LAST", "last"),
                                  field("INTERNET", "internet")});
                      out << "Free VLANs: " << answer.value("free_with_internet", 0)
                          << " with internet, " << answer.value("free_without_internet", 0)
                          << " without.\n";
                    }});

  const auto rangeFields =
      fieldsOf({field("Id", "id"), field("Cloud host", "cloud_host_id"), field("First", "first"),
                field("Last", "last"), field("Internet", "internet")});
  auto added = std::make_shared<VlanFlags>();
  addObjectCommand(
      *group, cli, hosts,
      {"add",
       "Add a VLAN range (it must not overlap the host's others)",
       [rangesOf, added](const std::string& id) {
         const auto [first, last] = parseVlanSpan(added->span);
         return Request{
             "POST",
             rangesOf(id),
             {{"first", first}, {"last", last}, {"internet", added->internet.value_or(false)}}};
       },
       rangeFields,
       {},
       [added](CLI::App& command) {
         command.add_option("VLANS", added->span, "FIRST-LAST, e.g. 100-199")->required();
         command.add_flag_function(
             "--internet", [added](std::int64_t) { added->internet = true; },
             "The range's VLANs reach the internet");
       }});

  // PUT replaces the whole range: what is not given is kept from the current one.
  auto edited = std::make_shared<VlanFlags>();
  addObjectCommand(
      *group, cli, hosts,
      {"update",
       "Edit a VLAN range; VLANs already allocated stay with their tenants",
       [&cli, rangesOf, edited](const std::string& id) {
         nlohmann::json current;
         for (const auto& range : cli.get(rangesOf(id)).value("ranges", nlohmann::json::array())) {
           if (range.value("id", "") == edited->rangeId) current = range;
         }
         if (current.is_null()) {
           throw ApiFailure(404, "not_found", "VLAN range " + edited->rangeId + " not found", {});
         }
         nlohmann::json body{
             {"first", current["first"]},
             {"last", current["last"]},
             {"internet", edited->internet.value_or(current.value("internet", false))}};
         if (!edited->span.empty())
           std::tie(body["first"], body["last"]) = parseVlanSpan(edited->span);
         return Request{"PUT", rangesOf(id) + "/" + urlEncode(edited->rangeId), body};
       },
       rangeFields,
       {},
       [edited](CLI::App& command) {
         command.add_option("RANGE", edited->rangeId, "The range's id")->required();
         command.add_option("--vlans", edited->span, "New FIRST-LAST");
         command.add_flag_function(
             "--internet,!--no-internet",
             [edited](std::int64_t count) { edited->internet = count > 0; },
             "Whether the range's VLANs reach the internet");
       }});

  auto removed = std::make_shared<std::string>();
  addObjectCommand(*group, cli, hosts,
                   {"remove",
                    "Delete a VLAN range; allocated VLANs stay with their tenants",
                    [rangesOf, removed](const std::string& id) {
                      return Request{"DELETE", rangesOf(id) + "/" + urlEncode(*removed)};
                    },
                    sentence("Removed the VLAN range."),
                    {},
                    [removed](CLI::App& command) {
                      command.add_option("RANGE", *removed, "The range's id")->required();
                    }});
}

void addPublicIpGroup(CLI::App& app, Cli& cli) {
  auto* group = addGroup(app, "public-ip", "The public IP pool tenants get addresses from");
  const Collection pool{"/public-ips", "address"};
  addCommand(*group, cli,
             {"list", "List the pool's addresses and who holds them",
              [pool](const std::string&) {
                return Request{"GET", pool.path};
              },
              [](std::ostream& out, const nlohmann::json& answer) {
                const auto addresses = answer.value("addresses", nlohmann::json::array());
                printTable(
                    out, addresses,
                    {field("ADDRESS", "address"), field("FAMILY", "family"),
                     field("TENANT", "tenant_id"), field("SUBSCRIPTION", "subscription_id")});
                out << answer.value("free", 0) << " of " << addresses.size() << " free.\n";
              }});

  auto addresses = std::make_shared<std::vector<std::string>>();
  addCommand(
      *group, cli,
      {"add",
       "Add IPv4/IPv6 addresses and ranges (203.0.113.10-203.0.113.20)",
       [pool, addresses](const std::string&) {
         return Request{"POST", pool.path, {{"addresses", *addresses}}};
       },
       [](std::ostream& out, const nlohmann::json& answer) {
         out << "Added " << answer.value("added", 0) << " address(es).\n";
       },
       {},
       [addresses](CLI::App& command) {
         command.add_option("ADDRESSES", *addresses, "Addresses or FIRST-LAST ranges")->required();
       }});
  addObjectCommand(*group, cli, pool, removeCommand(pool, "remove"));
}

}  // namespace

void addCloudHostCommands(CLI::App& app, Cli& cli) {
  const Collection hosts{"/cloud-hosts", "cloud host", true};
  addCloudHostGroup(app, cli, hosts);
  addVlanGroup(app, cli, hosts);
  addPublicIpGroup(app, cli);

  auto* plugins = addGroup(app, "plugin", "Plugin libraries the daemon loaded");
  addCommand(*plugins, cli,
             {"list", "List loaded plugins, and the ones that failed to load",
              [](const std::string&) {
                return Request{"GET", "/plugins"};
              },
              [](std::ostream& out, const nlohmann::json& answer) {
                printTable(out, answer.value("plugins", nlohmann::json::array()),
                           {field("NAME", "name"), field("VERSION", "version"),
                            field("ABI MINOR", "abi_minor"), field("PATH", "path")});
                const auto failures = answer.value("failures", nlohmann::json::array());
                if (failures.empty()) return;
                out << "\nNot loaded:\n";
                printTable(out, failures, {field("CAUSE", "cause"), field("MESSAGE", "message")});
              }});
}

}  // namespace warmsite::cli

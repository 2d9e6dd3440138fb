#include "commands.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "errors.h"

namespace warmsite::cli {

namespace {

std::string argumentName(const std::string& noun) {
  std::string name;
  for (char c : noun) name += c == ' ' || c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

// "Replica rep-… is processing.": the object a task works on, when the answer carries it.
void printTaskTarget(std::ostream& out, const nlohmann::json& answer) {
  for (const std::string noun : {"subscription", "replica"}) {
    if (!answer.contains(noun)) continue;
    out << static_cast<char>(std::toupper(noun[0])) << noun.substr(1) << " "
        << answer[noun].value("id", "") << " is " << answer[noun].value("state", "") << ".\n";
  }
}

}  // namespace

CLI::App* addGroup(CLI::App& app, const std::string& name, const std::string& description) {
  auto* group = app.add_subcommand(name, description);
  group->require_subcommand(1);
  return group;
}

CLI::App* addCommand(CLI::App& group, Cli& cli, Command command) {
  auto* app = group.add_subcommand(command.name, command.description);
  if (command.flags) command.flags(*app);
  app->callback([&cli, command = std::move(command)] {
    const auto request = command.build("");
    const auto answer = cli.call(request.method, request.path, request.body);
    if (!cli.options.json || !command.afterPrints || !command.afterPrints()) {
      cli.print(answer, command.render);
    }
    if (command.after) command.after(answer);
  });
  return app;
}

CLI::App* addObjectCommand(CLI::App& group, Cli& cli, const Collection& collection,
                           Command command) {
  auto given = std::make_shared<std::string>();
  auto build = std::move(command.build);
  command.build = [&cli, collection, given, build](const std::string&) {
    if (!given->empty() && collection.byName) {
      return build(cli.resolveId(collection.path, collection.noun, *given));
    }
    return build(given->empty() ? collection.implicitId(cli) : *given);
  };
  // The object comes first, before the options the command adds.
  auto flags = std::move(command.flags);
  command.flags = [collection, given, flags](CLI::App& app) {
    auto* argument =
        app.add_option(argumentName(collection.noun), *given,
                       "The " + collection.noun + (collection.byName ? " (id or name)" : ""));
    if (!collection.implicitId) argument->required();
    if (flags) flags(app);
  };
  return addCommand(group, cli, std::move(command));
}

Command listCommand(const Collection& collection, std::vector<Column> columns) {
  return {"list", "List " + collection.noun + "s",
          [collection](const std::string&) {
            return Request{"GET", collection.path};
          },
          tableOf(std::move(columns))};
}

Command showCommand(const Collection& collection, Renderer render) {
  return {"show", "Show one " + collection.noun,
          [collection](const std::string& id) {
            return Request{"GET", collection.objectPath(id)};
          },
          std::move(render)};
}

Command removeCommand(const Collection& collection, const std::string& verb) {
  auto removed = std::make_shared<std::string>();
  return {verb, (verb == "delete" ? "Delete one " : "Remove one ") + collection.noun,
          [collection, removed](const std::string& id) {
            *removed = id;
            return Request{"DELETE", collection.objectPath(id)};
          },
          [collection, removed, verb](std::ostream& out, const nlohmann::json&) {
            out << (verb == "delete" ? "Deleted " : "Removed ") << collection.noun << " "
                << *removed << ".\n";
          }};
}

Renderer tableOf(std::vector<Column> columns) {
  return [columns = std::move(columns)](std::ostream& out, const nlohmann::json& value) {
    printTable(out, value, columns);
  };
}

Renderer fieldsOf(std::vector<Column> fields) {
  return [fields = std::move(fields)](std::ostream& out, const nlohmann::json& value) {
    printFields(out, value, fields);
  };
}

Renderer sentence(std::string text) {
  return
      [text = std::move(text)](std::ostream& out, const nlohmann::json&) { out << text << '\n'; };
}

Command taskCommand(Cli& cli, std::string name, std::string description,
                    std::function<Request(const std::string& id)> build) {
  struct Follow {
    bool wait = false;
    int timeoutSeconds = 3600;
  };
  auto follow = std::make_shared<Follow>();
  return {std::move(name),
          std::move(description),
          std::move(build),
          [follow](std::ostream& out, const nlohmann::json& answer) {
            printTaskTarget(out, answer);
            const auto taskId = answer["task"].value("id", "");
            out << "Task " << taskId << " (" << answer["task"].value("kind", "") << ") "
                << answer["task"].value("state", "") << ".\n";
            if (!follow->wait) out << "Follow it with: warmsite task wait " << taskId << '\n';
          },
          [&cli, follow](const nlohmann::json& answer) {
            if (follow->wait) {
              cli.waitForTask(answer["task"].value("id", ""),
                              std::chrono::seconds(follow->timeoutSeconds));
            }
          },
          [follow](CLI::App& app) {
            app.add_flag("--wait", follow->wait,
                         "Wait until the task finishes (exit 1 if it fails)");
            app.add_option("--timeout", follow->timeoutSeconds, "Seconds --wait waits at most")
                ->check(CLI::PositiveNumber)
                ->capture_default_str();
          }};
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::int64_t parseTime(const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) return std::stoll(text);
  std::tm parts{};
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    parts = {};
    const char* end = strptime(text.c_str(), format, &parts);
    if (end != nullptr && *end == '\0') return static_cast<std::int64_t>(timegm(&parts));
  }
  throw UsageError("\"" + text +
                   "\" is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or Unix seconds");
}

}  // namespace warmsite::cli

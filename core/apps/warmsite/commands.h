#pragma once
// The building blocks of the commands: most send one request and print its answer, so each is
// described by a Command and wired to CLI11 by the same few helpers.

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "output.h"

namespace warmsite::cli {

struct Request {
  std::string method;
  std::string path;  // below /api/v1
  nlohmann::json body = nullptr;
};

// A kind of object the API keeps under `path`, e.g. {"/tenants", "tenant"}.
struct Collection {
  std::string path;
  std::string noun;
  bool byName = false;  // its objects have unique names the CLI accepts instead of ids
  // The object meant when the argument is left out (e.g. a tenant's own tenant); none = required.
  std::function<std::string(Cli&)> implicitId = {};

  std::string objectPath(const std::string& id) const { return path + "/" + urlEncode(id); }
};

struct Command {
  std::string name;
  std::string description;
  // Makes the request; gets the resolved id of the object argument (empty for plain commands).
  std::function<Request(const std::string& id)> build;
  Renderer render;
  // Runs after printing, under --json too (e.g. following a task).
  std::function<void(const nlohmann::json& answer)> after = {};
  // Adds the command's options, bound to state that `build` shares.
  std::function<void(CLI::App&)> flags = {};
  // Whether `after` prints the outcome itself, so that --json prints that alone (e.g. --watch).
  std::function<bool()> afterPrints = {};
};

CLI::App* addGroup(CLI::App& app, const std::string& name, const std::string& description);
CLI::App* addCommand(CLI::App& group, Cli& cli, Command command);
// The same with a first positional argument naming one object of `collection`.
CLI::App* addObjectCommand(CLI::App& group, Cli& cli, const Collection& collection,
                           Command command);

// `list`, `show ID` and deleting one object.
Command listCommand(const Collection& collection, std::vector<Column> columns);
Command showCommand(const Collection& collection, Renderer render);
Command removeCommand(const Collection& collection, const std::string& verb);

Renderer tableOf(std::vector<Column> columns);
Renderer fieldsOf(std::vector<Column> fields);
Renderer sentence(std::string text);

// A request answered by 202 and a task; --wait follows the task to its end.
Command taskCommand(Cli& cli, std::string name, std::string description,
                    std::function<Request(const std::string& id)> build);

// An option whose value is sent only when given.
template <typename T>
CLI::Option* addOptional(CLI::App& command, const std::string& flag, std::optional<T>& value,
                         const std::string& description) {
  return command.add_option_function<T>(
      flag, [&value](const T& given) { value = given; }, description);
}
template <typename T>
void putIfGiven(nlohmann::json& body, const char* key, const std::optional<T>& value) {
  if (value) body[key] = *value;
}

// A file's whole content; UsageError when it cannot be read.
std::string readFile(const std::string& path);
// Unix seconds from "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" (UTC) or a number of seconds.
std::int64_t parseTime(const std::string& text);

void addAuthCommands(CLI::App& app, Cli& cli);
void addAccountCommands(CLI::App& app, Cli& cli);
void addCloudHostCommands(CLI::App& app, Cli& cli);
void addPlanCommands(CLI::App& app, Cli& cli);
void addServiceCommands(CLI::App& app, Cli& cli);
void addFailoverCommands(CLI::App& app, Cli& cli);
void addReplicationCommands(CLI::App& app, Cli& cli);

}  // namespace warmsite::cli

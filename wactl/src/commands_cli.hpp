// wactl's subcommands for the registry's commands (wa/contract/commands.hpp):
// each command with a CLI path becomes a subcommand whose positionals and
// options are its fields, in the registry's order, and whose request is
// built from them. Commands that are more than one request (pair, events)
// and the raw `call` are written by hand in main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wa/contract/commands.hpp"
#include "wa/result.hpp"

namespace wactl {

struct RegistryCommand {
  const wa::contract::CommandSpec* spec = nullptr;
  CLI::App* app = nullptr;
  // What the user gave, by field name (maps: stable addresses for CLI11).
  std::map<std::string, std::string> text;
  std::map<std::string, std::vector<std::string>> lists;
  std::map<std::string, bool> flags;
  std::map<std::string, uint64_t> counts;
  bool yes = false;  // confirms a field marked `confirm`
};

std::vector<std::unique_ptr<RegistryCommand>> add_registry_commands(CLI::App& app);

// The control request, or a usage error (exit 2) naming what is missing.
wa::Result<nlohmann::json> build_request(const RegistryCommand& c);


}  // namespace wactl

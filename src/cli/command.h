// Subcommand registry. Each src/cli/<name>.cpp registers one subcommand with a static Command object;
// main.cpp only dispatches.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace convergy::cli {

struct CommandSpec {
  std::string name;
  std::string help;
  int order = 100;  // position in --help
  // Adds options to `sub` and returns the action to run after parsing; the action returns the exit code.
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

std::vector<CommandSpec>& registry();

struct Command {
  explicit Command(CommandSpec spec) { registry().push_back(std::move(spec)); }
};

}  // namespace convergy::cli

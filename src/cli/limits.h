// Options that raise the resource limits of util/checked.h (largest dimension, tensor, layer count,
// nesting) for one run; every subcommand that reads a network takes them.
#pragma once
#include <CLI/CLI.hpp>

namespace convergy::cli {

void add_limit_options(CLI::App& sub);

}  // namespace convergy::cli

// convergy command-line entry point: dispatches to the subcommands registered in src/cli/*.cpp and turns
// errors into exit codes (0 success, 1 failure, 2 bad input or usage).
#include "cli/command.h"
#include "convergy/version.h"
#include "util/error.h"
#include "util/heap.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

namespace convergy::cli {
std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> r;
  return r;
}
}  // namespace convergy::cli

namespace {
// Messages quote names from the user's files; a newline or an escape sequence there would break the one-line
// message or reach the terminal. Control bytes are shown escaped.
std::string printable(std::string_view message) {
  std::string out;
  for (char c : message) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (b < 0x20 || b == 0x7f) out += fmt::format("\\x{:02x}", b);
    else out += c;
  }
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace convergy;
  retain_freed_memory();  // predict and fit read thousands of networks: see util/heap.h
  CLI::App app{"convergy: measure and predict the energy and latency of ConvNet inference", "convergy"};
  app.set_version_flag("--version", std::string("convergy ") + CONVERGY_VERSION);
  app.require_subcommand(1);
  auto& commands = cli::registry();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.order != b.order ? a.order < b.order : a.name < b.name; });
  std::function<int()> action;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    auto run = c.setup(*sub);
    sub->callback([&action, run] { action = run; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    return action ? action() : 0;
  } catch (const Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "convergy: error: {}\n", printable(e.what()));
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "convergy: error: {}\n", printable(e.what()));
    return 1;
  }
}

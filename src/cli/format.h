// Output helpers shared by subcommands: the --format option, aligned text tables, CSV, JSON, and
// human-readable numbers for table mode (CSV and JSON always carry exact integers).
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace convergy {
class Graph;
}

namespace convergy::cli {

// An importer's notes and warnings about a graph, one line each on stderr ("convergy: note: ...").
void print_graph_notes(const Graph& graph);

enum class OutputFormat { Table, Csv, Json };

// Adds `--format table|csv|json` (default table); a value outside the set is a usage error (exit 2).
CLI::Option* add_format_option(CLI::App& app, OutputFormat& format);

// Adds `--classes N` (N >= 1; 0, the default, keeps the network's own count): the classifier gives N scores.
// `every` says the option applies to every network named; `stored` how the name then reads ("stored as",
// "printed as"), empty for commands that keep no name.
CLI::Option* add_classes_option(CLI::App& app, int64_t& classes, bool every, const char* stored = "");

enum class Align { Left, Right };

struct Column {
  std::string header;
  Align align = Align::Left;
};

// Rows of string cells, rendered either as an aligned text table or as CSV.
class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // One cell per column; a missing cell is an internal error.
  void add_row(std::vector<std::string> cells);
  size_t num_rows() const { return rows_.size(); }
  // Header and a dashed rule (unless `header` is false), then the rows; columns separated by two spaces, no
  // trailing blanks.
  std::string text(bool header = true) const;
  // Header row then the rows, '\n' line ends, fields quoted only when they need it (RFC 4180).
  std::string csv() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Quotes a CSV field if it contains a comma, quote or line break.
std::string csv_field(std::string_view s);

// Three significant digits with an SI prefix: 512, 1.23 k, 61.0 M, 724 M, 3.86 G. `unit` is appended after
// the prefix ("B" gives 244 MB); below 1000 the exact value is printed.
std::string human_count(uint64_t v, std::string_view unit = {});
// Exact integer with thousands separators: 3,857,925,120.
std::string grouped(uint64_t v);

// JSON objects keep their keys in insertion order so output is stable and readable.
using Json = nlohmann::ordered_json;
// Two-space indented JSON followed by a newline; arrays of scalars (shapes) stay on one line.
std::string json_text(const Json& j);

// Writes `path` through a temporary file beside it (PATH.tmpPID), renamed into place once complete, so an
// interrupted or failed command never leaves a half-written file that looks finished. `label` starts each
// error message ("out.csv", "--predictions out.csv"); an exception from `write` removes the temporary file.
void write_output_file(const std::string& path, const std::string& label,
                       const std::function<void(std::ostream&)>& write);

}  // namespace convergy::cli

// Text table, CSV and JSON rendering and number formatting for the CLI (see format.h).
#include "cli/format.h"

#include "graph/graph.h"

#include "util/error.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>

namespace convergy::cli {

CLI::Option* add_format_option(CLI::App& app, OutputFormat& format) {
  // A string checked against the set gives a plain message ("yaml not in {table,csv,json}") on bad input.
  return app
      .add_option_function<std::string>(
          "--format",
          [&format](const std::string& v) {
            format = v == "csv" ? OutputFormat::Csv : v == "json" ? OutputFormat::Json : OutputFormat::Table;
          },
          "Output format: table (default), csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}));
}

CLI::Option* add_classes_option(CLI::App& app, int64_t& classes, bool every, const char* stored) {
  return app
      .add_option(
          "--classes", classes,
          fmt::format("Give {} classifier (the last InnerProduct or Convolution before the output) this "
                      "many classes{}",
                      every ? "every network's" : "the",
                      *stored ? fmt::format(" ({} NAME@classes=N)", stored) : std::string()))
      ->check(CLI::PositiveNumber);
}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != columns_.size())
    throw_failure("internal: table row has {} cells, expected {}", cells.size(), columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::text(bool header) const {
  std::vector<size_t> width(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    width[c] = columns_[c].header.size();
    for (const auto& r : rows_) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) s += "  ";
      const size_t pad = width[c] - cells[c].size();
      if (columns_[c].align == Align::Right) s.append(pad, ' ');
      s += cells[c];
      if (columns_[c].align == Align::Left) s.append(pad, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out += s;
    out += '\n';
  };
  std::vector<std::string> headers;
  std::vector<std::string> rule;
  for (size_t c = 0; c < columns_.size(); ++c) {
    headers.push_back(columns_[c].header);
    rule.push_back(std::string(width[c], '-'));
  }
  if (header) {
    line(headers);
    line(rule);
  }
  for (const auto& r : rows_) line(r);
  return out;
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

std::string Table::csv() const {
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) out += ',';
      out += csv_field(cells[c]);
    }
    out += '\n';
  };
  std::vector<std::string> headers;
  for (const auto& c : columns_) headers.push_back(c.header);
  line(headers);
  for (const auto& r : rows_) line(r);
  return out;
}

std::string human_count(uint64_t v, std::string_view unit) {
  const std::string space_unit = unit.empty() ? std::string() : " " + std::string(unit);
  if (v < 1000) return std::to_string(v) + space_unit;
  static constexpr std::array<const char*, 6> kPrefix = {"k", "M", "G", "T", "P", "E"};
  double x = static_cast<double>(v);
  size_t p = 0;
  x /= 1000.0;
  // Rounding to three digits can reach 1000 (999.6 k -> "1000 k"); move to the next prefix then.
  while (p + 1 < kPrefix.size() && (x >= 999.5)) {
    x /= 1000.0;
    ++p;
  }
  std::string digits = x >= 99.95   ? fmt::format("{:.0f}", x)
                       : x >= 9.995 ? fmt::format("{:.1f}", x)
                                    : fmt::format("{:.2f}", x);
  return digits + " " + kPrefix[p] + std::string(unit);
}

std::string grouped(uint64_t v) {
  std::string d = std::to_string(v);
  std::string out;
  const size_t n = d.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

namespace {
// Like dump(2), but an array of scalars (a shape) stays on one line: [1, 3, 224, 224].
void write_json(const Json& j, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  if (j.is_object()) {
    if (j.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += ",\n";
      first = false;
      out += pad + Json(it.key()).dump() + ": ";
      write_json(it.value(), indent + 2, out);
    }
    out += "\n" + std::string(static_cast<size_t>(indent), ' ') + "}";
  } else if (j.is_array()) {
    const bool flat = std::none_of(j.begin(), j.end(), [](const Json& e) { return e.is_structured(); });
    if (j.empty() || flat) {
      out += "[";
      for (size_t i = 0; i < j.size(); ++i) out += (i ? ", " : "") + j[i].dump();
      out += "]";
      return;
    }
    out += "[\n";
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += ",\n";
      out += pad;
      write_json(j[i], indent + 2, out);
    }
    out += "\n" + std::string(static_cast<size_t>(indent), ' ') + "]";
  } else {
    out += j.dump();
  }
}
}  // namespace

std::string json_text(const Json& j) {
  std::string out;
  write_json(j, 0, out);
  out += "\n";
  return out;
}

void print_graph_notes(const Graph& graph) {
  for (const auto& n : graph.notes())
    fmt::print(stderr, "convergy: {}: {}\n", n.warning ? "warning" : "note", n.text);
}

void write_output_file(const std::string& path, const std::string& label,
                       const std::function<void(std::ostream&)>& write) {
  const std::string tmp = fmt::format("{}.tmp{}", path, ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw_bad_input("{}: cannot write the output file", label);
    try {
      write(f);
    } catch (...) {
      f.close();
      std::remove(tmp.c_str());
      throw;
    }
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw_failure("{}: write failed (disk full?)", label);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw_failure("{}: cannot move the finished file into place", label);
  }
}

}  // namespace convergy::cli

// Terminal summary of a study (see summary.h), printed from the same table cells as the report.
#include "report/summary.h"

#include "report/format.h"
#include "report/html.h"
#include "report/tables.h"

#include <fmt/format.h>

#include <algorithm>

namespace convergy::report {

namespace {

// Columns a UTF-8 string takes in a terminal: one per code point (the names here hold no wide characters).
size_t columns(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string pad(const std::string& s, size_t width, bool right) {
  const size_t n = columns(s);
  const std::string fill(width > n ? width - n : 0, ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

std::string terminal_summary(const StudyResults& r, const std::string& report_path) {
  const std::vector<Table> tables = build_tables(r);
  const Table& models = find_table(tables, "models");
  auto cell = [&](size_t row, const char* key) -> const Cell& {
    return models.rows[row][models.column(key)];
  };
  auto percent = [&](size_t row, const char* key) {
    const Cell& c = cell(row, key);
    return c.number ? display_percent(*c.number) : std::string("–");
  };

  std::vector<std::vector<std::string>> lines = {
      {"combination", "evaluation", "held-out", "accuracy", "RMSPE", "±10%", "complexity"}};
  for (size_t k : headline_model_rows(r, models)) {
    const Combination* c = r.find_combination(cell(k, "combination").text);
    const Cell& items = cell(k, "items");
    const Cell& complexity = cell(k, "complexity");
    lines.push_back({c ? c->label : cell(k, "combination").text, evaluation_label(cell(k, "evaluation").text),
                     fmt::format("{} {}s", items.number ? display_integer(*items.number) : "?",
                                 cell(k, "item_kind").text),
                     percent(k, "accuracy"), percent(k, "rmspe"), percent(k, "within_10pct"),
                     complexity.number ? display_integer(*complexity.number) : "–"});
  }
  std::vector<size_t> width(lines[0].size(), 0);
  for (const auto& line : lines)
    for (size_t k = 0; k < line.size(); ++k) width[k] = std::max(width[k], columns(line[k]));

  std::string out =
      fmt::format("convergy study{}: {} models, target {} ({})\n", r.info.quick ? " (QUICK run)" : "",
                  r.info.headline_feature_set, r.info.target, r.info.target_reason);
  for (const auto& line : lines) {
    std::string text;
    for (size_t k = 0; k < line.size(); ++k) text += (k ? "  " : "") + pad(line[k], width[k], k >= 3);
    out += text + "\n";
  }
  if (lines.size() == 1)
    out += fmt::format("(no predictions for the {} feature set)\n", r.info.headline_feature_set);
  out += fmt::format("SyNERGY paper: {:.0f}-{:.0f}% whole-network accuracy with complexity-1 models.\n",
                     kPaperAccuracyLow * 100, kPaperAccuracyHigh * 100);
  if (r.info.wall_time_s) out += fmt::format("Wall time: {} s.\n", display_quantity(*r.info.wall_time_s));
  if (r.info.measured_rows && r.info.reused_rows)
    out += fmt::format("Measurement rows: {} taken now, {} reused from the database.\n",
                       *r.info.measured_rows, *r.info.reused_rows);
  out += fmt::format("Report: {}\n", report_path);
  return out;
}

}  // namespace convergy::report

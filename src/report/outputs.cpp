// Writes a study's outputs (see outputs.h): every file comes from the one set of tables built here.
#include "report/outputs.h"

#include "report/html.h"
#include "report/tables.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <system_error>

namespace convergy::report {

namespace {

// Writes through a temporary file and renames it, so an interrupted study never leaves a half-written file
// that looks complete.
void write_file(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw_failure("{}: cannot open for writing", tmp.string());
    out << text;
    out.flush();
    if (!out) throw_failure("{}: write failed (disk full?)", tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw_failure("{}: cannot rename to {}: {}", tmp.string(), path.string(), ec.message());
}

}  // namespace

WrittenOutputs write_study_outputs(const StudyResults& results, const std::filesystem::path& out_dir) {
  validate(results, "study results");
  std::error_code ec;
  std::filesystem::create_directories(out_dir / "tables", ec);
  if (ec)
    throw_failure("{}: cannot create the output folder: {}", (out_dir / "tables").string(), ec.message());

  const std::vector<Table> tables = build_tables(results);
  WrittenOutputs written;
  nlohmann::json j = to_json(results);
  nlohmann::json& jt = j["tables"] = nlohmann::json::object();
  for (const auto& t : tables) {
    jt[t.id] = table_json(t);
    const auto csv = out_dir / "tables" / (t.id + ".csv");
    write_file(csv, table_csv(t));
    written.csv_files.push_back(csv);
  }
  written.results_json = out_dir / "results.json";
  write_file(written.results_json, j.dump(2) + "\n");
  written.index_html = out_dir / "index.html";
  write_file(written.index_html, render_report_html(results, tables));
  return written;
}

}  // namespace convergy::report

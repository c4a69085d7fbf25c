// Writes everything a study produces under its output folder: index.html, results.json, tables/*.csv.
#pragma once
#include "report/study_results.h"

#include <filesystem>
#include <vector>

namespace convergy::report {

struct WrittenOutputs {
  std::filesystem::path index_html;
  std::filesystem::path results_json;
  std::vector<std::filesystem::path> csv_files;
};

// Validates `results`, builds the tables once and writes, under `out_dir` (created if needed):
// - results.json: the StudyResults JSON form plus "tables": {<id>: {title, columns, rows}};
// - tables/<id>.csv for every table;
// - index.html, the report.
// Throws BadInput for inconsistent results and Failure when a file cannot be written.
WrittenOutputs write_study_outputs(const StudyResults& results, const std::filesystem::path& out_dir);

}  // namespace convergy::report

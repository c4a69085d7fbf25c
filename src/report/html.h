// The study report page: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched,
// printable) built from StudyResults and the tables made from them.
#pragma once
#include "report/study_results.h"
#include "report/tables.h"

#include <string>
#include <vector>

namespace convergy::report {

// The whole-network accuracy range the SyNERGY paper reports for its compact models (fractions).
inline constexpr double kPaperAccuracyLow = 0.76;
inline constexpr double kPaperAccuracyHigh = 0.85;

// Renders report/index.html. `tables` must be build_tables(results): every number in an HTML table is
// printed from those cells and carries data-table, data-row, data-col and data-value attributes naming
// the row of results.json "tables" it shows, so a test can check the page against the JSON.
std::string render_report_html(const StudyResults& results, const std::vector<Table>& tables);

}  // namespace convergy::report

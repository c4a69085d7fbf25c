// Tests of the terminal summary: same figures as the report's tables, aligned columns, report path.
#include "report/summary.h"

#include "report/format.h"
#include "report/tables.h"
#include "report_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace convergy::report {
namespace {

using ::testing::HasSubstr;

TEST(TerminalSummary, ListsEveryCombinationsHeadlineAccuracyAndTheReportPath) {
  const StudyResults r = testing::synthetic_study(true);
  const std::string text = terminal_summary(r, "report/index.html");
  EXPECT_THAT(text, HasSubstr("convergy study (QUICK run): macs+mem models, target time_ms"));
  EXPECT_THAT(text, HasSubstr("Report: report/index.html\n"));
  EXPECT_THAT(text, HasSubstr("SyNERGY paper: 76-85%"));
  // Each headline accuracy of the models table appears on its combination's line.
  const auto tables = build_tables(r);
  const Table& models = find_table(tables, "models");
  const auto rows = headline_model_rows(r, models);
  ASSERT_EQ(rows.size(), r.combinations.size());
  std::istringstream lines(text);
  std::vector<std::string> all;
  for (std::string line; std::getline(lines, line);) all.push_back(line);
  for (size_t k = 0; k < rows.size(); ++k) {
    const std::string& line = all.at(2 + k);
    EXPECT_THAT(line, HasSubstr(r.combinations[k].label));
    EXPECT_THAT(line, HasSubstr(display_percent(*models.rows[rows[k]][models.column("accuracy")].number)));
  }
}

TEST(TerminalSummary, ColumnsLineUp) {
  const std::string text = terminal_summary(testing::synthetic_study(), "r.html");
  std::istringstream lines(text);
  std::vector<std::string> table;
  std::string line;
  std::getline(lines, line);  // title
  while (std::getline(lines, line) && line.rfind("SyNERGY", 0) != 0) table.push_back(line);
  ASSERT_GT(table.size(), 2u);
  // The right-aligned last column ends at the same terminal column on every line.
  auto columns = [](const std::string& s) {
    return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; });
  };
  for (const auto& l : table) EXPECT_EQ(columns(l), columns(table[0])) << l;
}

}  // namespace
}  // namespace convergy::report

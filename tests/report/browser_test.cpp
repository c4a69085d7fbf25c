// Opens the report in headless Chromium: no console message and no failed request may appear, and the
// screenshot is kept in the build folder (report-screenshot.png) for people and for the README.
#include "report/outputs.h"

#include "report_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace convergy::report {
namespace {

using ::testing::HasSubstr;

// The build folder: the convergy executable lives at its root.
std::filesystem::path build_dir() { return std::filesystem::path(CONVERGY_CLI).parent_path(); }

TEST(ReportInBrowser, OpensWithoutConsoleErrorsOrRequestsAndSavesAScreenshot) {
  ASSERT_TRUE(std::filesystem::exists(testing::chromium_path()))
      << "Chromium is needed for this test: bash scripts/setup.sh installs it";
  const auto out = build_dir() / "report-fixture";
  std::filesystem::remove_all(out);
  write_study_outputs(testing::synthetic_study(), out);
  const auto shot = build_dir() / "report-screenshot.png";
  std::filesystem::remove(shot);
  const auto run = testing::open_in_chromium(out / "index.html", shot, build_dir() / "report-browser");
  ASSERT_EQ(run.exit_code, 0) << run.log;
  EXPECT_TRUE(run.console.empty()) << ::testing::PrintToString(run.console);
  EXPECT_TRUE(run.network_errors.empty()) << ::testing::PrintToString(run.network_errors);
  // The browser really rendered our page: the DOM it built holds the sections and figures.
  EXPECT_THAT(run.dom, HasSubstr("<h2>Predicted against measured</h2>"));
  EXPECT_GE(testing::count_tags(run.dom, "svg"), 10u);
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 50'000u);  // a blank page compresses to a few kB
}

// The check above must be able to fail: a page that tries to fetch something is caught.
TEST(ReportInBrowser, CatchesAPageThatTriesToFetch) {
  ASSERT_TRUE(std::filesystem::exists(testing::chromium_path()));
  const auto dir = build_dir() / "report-browser" / "negative";
  std::filesystem::create_directories(dir);
  {
    std::ofstream page(dir / "fetching.html");
    page << "<!DOCTYPE html><html><head><meta charset=\"utf-8\" /><meta "
            "http-equiv=\"Content-Security-Policy\" "
            "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\" "
            "/><title>x</title></head>"
            "<body><img src=\"http://example.invalid/x.png\" alt=\"\" /></body></html>";
  }
  const auto run = testing::open_in_chromium(dir / "fetching.html", "", dir);
  ASSERT_EQ(run.exit_code, 0) << run.log;
  EXPECT_FALSE(run.console.empty() && run.network_errors.empty()) << run.log;
}

}  // namespace
}  // namespace convergy::report

namespace convergy::report {
namespace {

// A report written by `convergy study` itself: set CONVERGY_STUDY_REPORT=<out>/index.html to check it the
// same way (a CI step can run the study first). Its screenshot goes to <build>/study-screenshot.png.
TEST(ReportInBrowser, StudyReportNamedByTheEnvironment) {
  const char* path = std::getenv("CONVERGY_STUDY_REPORT");
  if (!path || !*path) GTEST_SKIP() << "CONVERGY_STUDY_REPORT is not set";
  ASSERT_TRUE(std::filesystem::is_regular_file(path)) << path;
  const std::string html = testing::read_text(path);
  EXPECT_EQ(testing::xml_problem(html), "");
  const auto shot = build_dir() / "study-screenshot.png";
  const auto run = testing::open_in_chromium(path, shot, build_dir() / "report-browser" / "study");
  ASSERT_EQ(run.exit_code, 0) << run.log;
  EXPECT_TRUE(run.console.empty()) << ::testing::PrintToString(run.console);
  EXPECT_TRUE(run.network_errors.empty()) << ::testing::PrintToString(run.network_errors);
  EXPECT_THAT(run.dom, HasSubstr("<h2>Summary</h2>"));
  EXPECT_TRUE(std::filesystem::exists(shot));
}

}  // namespace
}  // namespace convergy::report

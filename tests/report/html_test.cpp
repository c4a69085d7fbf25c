// Tests of the written study outputs: files, a strict well-formedness check of the page, nothing
// fetched, and every number in the page's tables equal to the one in results.json.
#include "report/html.h"
#include "report/outputs.h"
#include "report/tables.h"

#include "report/format.h"
#include "report_test_util.h"
#include "util/error.h"

#include <fmt/format.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

namespace convergy::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("convergy-report-{}-{}", name, ::getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

// One numeric table cell of the page: which results.json cell it claims to show, and what it shows.
struct HtmlCell {
  std::string table, col, value, shown;
  size_t row = 0;
};

std::string attribute(const std::string& tag, const std::string& name) {
  const std::string key = " " + name + "=\"";
  const size_t p = tag.find(key);
  if (p == std::string::npos) return "<missing>";
  const size_t s = p + key.size();
  return tag.substr(s, tag.find('"', s) - s);
}

std::vector<HtmlCell> numeric_cells(const std::string& html) {
  std::vector<HtmlCell> out;
  for (size_t p = html.find("<td "); p != std::string::npos; p = html.find("<td ", p + 1)) {
    const size_t close = html.find('>', p);
    const std::string tag = html.substr(p, close - p);
    if (tag.find("data-table=") == std::string::npos) continue;
    HtmlCell c;
    c.table = attribute(tag, "data-table");
    c.row = std::stoul(attribute(tag, "data-row"));
    c.col = attribute(tag, "data-col");
    c.value = attribute(tag, "data-value");
    c.shown = html.substr(close + 1, html.find("</td>", close) - close - 1);
    out.push_back(c);
  }
  return out;
}

class WrittenReport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(fresh_dir("html"));
    written_ = new WrittenOutputs(write_study_outputs(testing::synthetic_study(), *dir_));
    html_ = new std::string(testing::read_text(written_->index_html));
    json_ = new nlohmann::json(nlohmann::json::parse(testing::read_text(written_->results_json)));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete written_;
    delete html_;
    delete json_;
  }
  static std::filesystem::path* dir_;
  static WrittenOutputs* written_;
  static std::string* html_;
  static nlohmann::json* json_;
};
std::filesystem::path* WrittenReport::dir_;
WrittenOutputs* WrittenReport::written_;
std::string* WrittenReport::html_;
nlohmann::json* WrittenReport::json_;

TEST_F(WrittenReport, WritesTheReportJsonAndOneCsvPerTable) {
  EXPECT_TRUE(std::filesystem::is_regular_file(*dir_ / "index.html"));
  EXPECT_TRUE(std::filesystem::is_regular_file(*dir_ / "results.json"));
  for (const char* t :
       {"combinations", "models", "layer_types", "predictions", "breakdown", "transfer", "learning_curve"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(*dir_ / "tables" / (std::string(t) + ".csv"))) << t;
    EXPECT_TRUE(json_->at("tables").contains(t)) << t;
  }
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "index.html.tmp"));
  // results.json is also a StudyResults file.
  EXPECT_EQ(read_study_results(written_->results_json.string()).predictions.size(),
            testing::synthetic_study().predictions.size());
}

TEST_F(WrittenReport, PageIsWellFormedAndSelfContained) {
  EXPECT_EQ(testing::xml_problem(*html_), "");
  EXPECT_THAT(*html_, Not(HasSubstr("<script")));
  EXPECT_THAT(*html_, Not(HasSubstr("<link")));
  EXPECT_THAT(*html_, Not(HasSubstr("<img")));
  EXPECT_THAT(*html_, Not(HasSubstr("url(")));
  EXPECT_THAT(*html_, HasSubstr("Content-Security-Policy"));
  // The only URLs are the SVG namespace name, which is never fetched.
  std::string rest = *html_;
  for (size_t p; (p = rest.find("http://www.w3.org/2000/svg")) != std::string::npos;) rest.erase(p, 26);
  EXPECT_THAT(rest, Not(HasSubstr("http://")));
  EXPECT_THAT(rest, Not(HasSubstr("https://")));
  EXPECT_THAT(*html_, HasSubstr("@media print"));
}

TEST_F(WrittenReport, SummaryNamesMachineSensorTargetReasonAndThePaperRange) {
  EXPECT_THAT(*html_, HasSubstr("Synthetic CPU @ 2.20GHz (test fixture)"));
  EXPECT_THAT(*html_, HasSubstr("openblas, eigen, onednn"));
  EXPECT_THAT(*html_, HasSubstr("no power sensor on this machine: the target is time"));
  EXPECT_THAT(*html_, HasSubstr("SyNERGY paper: 76–85%"));
  EXPECT_THAT(*html_, Not(HasSubstr("QUICK run.")));
  EXPECT_THAT(*html_, HasSubstr("<div class=\"notice\">SYNTHETIC test fixture"));
}

TEST_F(WrittenReport, HasOnePlotPanelPerCombinationAndTheOtherFigures) {
  const size_t combos = json_->at("combinations").size();
  // Headline chart + predicted-vs-measured panels + breakdown charts (3 local + nano) + complexity panels
  // (every combination but nano, whose layer types have no accuracy... plus nano's whole-network points).
  EXPECT_GE(testing::count_tags(*html_, "svg"), 1 + combos + 4);
  for (const auto& c : json_->at("combinations"))
    EXPECT_THAT(*html_, HasSubstr(">" + c["label"].get<std::string>() + "</text>"));
}

TEST_F(WrittenReport, SampledPanelsSayTheirPointsAreASampleAndTheFiguresAreOverAll) {
  // The fixture lists every 4th of its 400 TX2 layers; the metrics are over all 400.
  EXPECT_THAT(*html_,
              HasSubstr("Points: an even sample of 100 of the 400 held-out layers of each feature set; "
                        "the accuracy figures are over all 400."));
  // The headline table counts every held-out layer.
  const nlohmann::json& models = json_->at("tables").at("models").at("rows");
  bool found = false;
  for (const auto& row : models)
    if (row["combination"] == "tx2-cpu" && row["feature_set"] == "macs+mem") {
      EXPECT_EQ(row["items"], 400);
      EXPECT_EQ(row["plotted"], 100);
      found = true;
    }
  EXPECT_TRUE(found);
  EXPECT_THAT(*html_, HasSubstr("Measurement rows: 24310 taken by this run, 0 reused from the database."));
}

TEST_F(WrittenReport, EscapesNamesEverywhere) {
  EXPECT_THAT(*html_, HasSubstr("toy&lt;&amp;&quot;&#39;&gt;net"));
  EXPECT_THAT(*html_, Not(HasSubstr("toy<&")));
}

// Every way a numeric cell of the page can disagree with results.json, one line each.
std::vector<std::string> page_json_mismatches(const std::string& html, const nlohmann::json& json) {
  std::vector<std::string> out;
  for (const auto& c : numeric_cells(html)) {
    const std::string where =
        fmt::format("{}[{}].{} = \"{}\" shown \"{}\"", c.table, c.row, c.col, c.value, c.shown);
    if (!json.at("tables").contains(c.table)) {
      out.push_back(where + ": no such table");
      continue;
    }
    const nlohmann::json& rows = json.at("tables").at(c.table).at("rows");
    if (c.row >= rows.size() || !rows[c.row].contains(c.col)) {
      out.push_back(where + ": no such cell");
      continue;
    }
    const nlohmann::json& v = rows[c.row].at(c.col);
    if (c.value.empty()) {
      if (!v.is_null() || c.shown != "–") out.push_back(where + ": empty on the page, not null in the JSON");
      continue;
    }
    if (!v.is_number() || std::stod(c.value) != v.get<double>()) {
      out.push_back(where + ": JSON has " + v.dump());
      continue;
    }
    // What a reader sees is that same value at lower precision.
    const double x = v.get<double>();
    const bool close = c.shown.back() == '%'
                           ? std::fabs(std::stod(c.shown) / 100 - x) <= 0.0005 + 1e-12
                           : std::fabs(std::stod(c.shown) - x) <= std::max(0.5, std::fabs(x) * 0.005);
    if (!close) out.push_back(where + ": shown text does not match");
  }
  return out;
}

TEST_F(WrittenReport, EveryNumberInThePageTablesEqualsTheJson) {
  ASSERT_GT(numeric_cells(*html_).size(), 200u);
  EXPECT_THAT(page_json_mismatches(*html_, *json_), ::testing::IsEmpty());
}

// The same check on a report that `convergy study` wrote (CI runs `convergy study --quick` first and names
// its index.html in CONVERGY_STUDY_REPORT).
TEST(StudyReport, EveryNumberInThePageTablesEqualsItsJson) {
  const char* path = std::getenv("CONVERGY_STUDY_REPORT");
  if (!path || !*path) GTEST_SKIP() << "CONVERGY_STUDY_REPORT is not set";
  const std::filesystem::path index(path);
  const std::string html = testing::read_text(index);
  const nlohmann::json json = nlohmann::json::parse(testing::read_text(index.parent_path() / "results.json"));
  ASSERT_GT(numeric_cells(html).size(), 50u);
  EXPECT_THAT(page_json_mismatches(html, json), ::testing::IsEmpty());
}

// The headline of the study is the model `convergy fit` writes by default, and its complexity (terms shared
// by every layer, layer type "net") is counted like any other model's.
TEST(StudyReport, HeadlineIsTheFitDefaultWithItsComplexity) {
  const char* path = std::getenv("CONVERGY_STUDY_REPORT");
  if (!path || !*path) GTEST_SKIP() << "CONVERGY_STUDY_REPORT is not set";
  const std::filesystem::path index(path);
  const nlohmann::json json = nlohmann::json::parse(testing::read_text(index.parent_path() / "results.json"));
  EXPECT_EQ(json["info"]["headline_feature_set"], "transfer");
  std::set<std::string> combinations, shared_terms;
  for (const auto& row : json["tables"]["models"]["rows"]) {
    if (row["feature_set"] != "transfer") continue;
    combinations.insert(row["combination"].get<std::string>());
    ASSERT_TRUE(row["complexity"].is_number()) << row.dump();
    EXPECT_GE(row["complexity"].get<int>(), 2) << row.dump();  // a constant and at least one rate
  }
  for (const auto& row : json["tables"]["layer_types"]["rows"])
    if (row["feature_set"] == "transfer" && row["layer_type"] == "net") {
      shared_terms.insert(row["combination"].get<std::string>());
      EXPECT_TRUE(row["accuracy"].is_null()) << "shared terms have no held-out layers of their own";
    }
  EXPECT_EQ(shared_terms, combinations);
  EXPECT_GE(combinations.size(), 3u);  // the local backends at least; the shared data adds the boards
  bool nano_transfer = false;
  for (const auto& row : json["tables"]["transfer"]["rows"])
    nano_transfer = nano_transfer || (row["feature_set"] == "transfer" && row["combination"] == "nano");
  if (std::filesystem::exists(std::filesystem::path(CONVERGY_SHARED_DATA) / "jetson-nano" / "networks.csv")) {
    EXPECT_TRUE(nano_transfer) << "the Nano transfer evaluations include the fit default";
  }
}

TEST_F(WrittenReport, TheNumberCheckCatchesATamperedPage) {
  // Change one shown value, then one data-value: each is reported.
  std::string shown = *html_;
  const size_t p = shown.find("data-col=\"accuracy\" data-value=\"");
  ASSERT_NE(p, std::string::npos);
  const size_t text = shown.find('>', p) + 1;
  shown.replace(text, shown.find('<', text) - text, "12.3%");
  EXPECT_THAT(page_json_mismatches(shown, *json_), ::testing::SizeIs(1));
  std::string value = *html_;
  value.replace(p + std::string("data-col=\"accuracy\" data-value=\"").size(), 1, "0.0");
  EXPECT_THAT(page_json_mismatches(value, *json_), ::testing::SizeIs(1));
}

TEST_F(WrittenReport, EveryModelAndLayerTypeNumberOfTheJsonIsInThePage) {
  std::set<std::tuple<std::string, size_t, std::string>> shown;
  for (const auto& c : numeric_cells(*html_)) shown.insert({c.table, c.row, c.col});
  for (const char* table : {"models", "layer_types"}) {
    const nlohmann::json& t = json_->at("tables").at(table);
    for (size_t r = 0; r < t["rows"].size(); ++r)
      for (const char* col : {"accuracy", "rmspe", "complexity"}) {
        // The models table repeats only the headline rows in the page; every layer-type cell is shown.
        if (std::string(table) == "models") {
          const auto& row = t["rows"][r];
          if (row["feature_set"] != json_->at("info").at("headline_feature_set")) continue;
          if (row["combination"] != "nano-trt" &&
              row["evaluation"] != json_->at("info").at("headline_evaluation"))
            continue;
        }
        EXPECT_TRUE(shown.count({table, r, col})) << table << "[" << r << "]." << col;
      }
  }
}

TEST_F(WrittenReport, TransferSectionShowsEveryTransferNumber) {
  EXPECT_THAT(*html_, HasSubstr("<section id=\"transfer\">"));
  EXPECT_THAT(*html_, HasSubstr("<a href=\"#transfer\">"));
  std::set<std::tuple<std::string, size_t, std::string>> shown;
  for (const auto& c : numeric_cells(*html_)) shown.insert({c.table, c.row, c.col});
  const nlohmann::json& t = json_->at("tables").at("transfer");
  ASSERT_EQ(t["rows"].size(), 3u);
  for (size_t r = 0; r < t["rows"].size(); ++r)
    for (const char* col : {"accuracy", "mape", "interval_coverage", "reference_accuracy", "test_items"})
      EXPECT_TRUE(shown.count({"transfer", r, col})) << "transfer[" << r << "]." << col;
  // MAPE is 1 - accuracy: the synthetic -> real row's 1305.5%.
  EXPECT_NEAR(t["rows"][1]["mape"].get<double>(), 13.055, 1e-9);
}

TEST_F(WrittenReport, LearningSectionPlotsAndShowsEveryPoint) {
  EXPECT_THAT(*html_, HasSubstr("<section id=\"learning\">"));
  EXPECT_THAT(*html_, HasSubstr("<a href=\"#learning\">"));
  std::set<std::tuple<std::string, size_t, std::string>> shown;
  for (const auto& c : numeric_cells(*html_)) shown.insert({c.table, c.row, c.col});
  const nlohmann::json& t = json_->at("tables").at("learning_curve");
  ASSERT_EQ(t["rows"].size(), 2u);
  for (size_t r = 0; r < t["rows"].size(); ++r)
    for (const char* col : {"train_items", "test_items", "draws", "accuracy", "accuracy_min", "accuracy_max"})
      EXPECT_TRUE(shown.count({"learning_curve", r, col})) << "learning_curve[" << r << "]." << col;
  EXPECT_TRUE(shown.count({"learning_curve", 1, "interval_coverage"}));
  EXPECT_TRUE(shown.count({"learning_curve", 1, "interval_unbounded"}));
  // The plot's points carry each row's figures in their tooltips.
  const size_t section = html_->find("<section id=\"learning\">");
  const std::string part = html_->substr(section, html_->find("</section>", section) - section);
  EXPECT_THAT(part, HasSubstr("<svg"));
  EXPECT_THAT(part, HasSubstr("10 networks measured, accuracy 87.4% on the others"));
  EXPECT_THAT(part, HasSubstr("100 networks measured, accuracy 93.1% on the others"));
  // The width plot has only the point with an interval.
  EXPECT_THAT(part, HasSubstr("How wide their 90% intervals are"));
  EXPECT_THAT(part, HasSubstr("100 networks measured, median interval x1.53"));
  EXPECT_THAT(part, Not(HasSubstr("10 networks measured, median interval")));
}

TEST(HtmlReport, NoLearningCurveNoSection) {
  StudyResults r = testing::synthetic_study();
  r.learning.clear();
  const std::string html = render_report_html(r, build_tables(r));
  EXPECT_THAT(html, Not(HasSubstr("id=\"learning\"")));
  EXPECT_THAT(html, Not(HasSubstr("#learning")));
}

// The headline transfer rows (the transfer and compact sets, pooled) come first; each held-out family and the
// other sets are folded below them, and every row's numbers are still in the page.
TEST(TransferSection, HeadlineRowsFirstTheRestFolded) {
  StudyResults r = testing::synthetic_study();
  r.transfer.push_back({"nano-trt", "leave-one-family-out", "the other families",
                        "each family in turn (pooled)", "transfer", 800, 1230, 0.912, 0.5, 0.94, 0.9,
                        "5-fold", 0.934});
  const std::string html = render_report_html(r, build_tables(r));
  EXPECT_EQ(testing::xml_problem(html), "");
  const size_t section = html.find("<section id=\"transfer\">");
  const size_t folded = html.find("<details><summary>The other 3 rows", section);
  ASSERT_NE(section, std::string::npos);
  ASSERT_NE(folded, std::string::npos);
  const size_t pooled = html.find("each family in turn (pooled)", section);
  EXPECT_LT(pooled, folded) << "the headline row is above the fold";
  EXPECT_GT(html.find("family=dws", section), folded) << "a single family is below it";
  std::set<size_t> rows;
  for (const auto& c : numeric_cells(html))
    if (c.table == "transfer" && c.col == "accuracy") rows.insert(c.row);
  EXPECT_EQ(rows.size(), 4u);
}

TEST(QuickReport, IsClearlyLabelled) {
  const auto dir = fresh_dir("quick");
  write_study_outputs(testing::synthetic_study(true), dir);
  const std::string html = testing::read_text(dir / "index.html");
  EXPECT_THAT(html, HasSubstr("QUICK run"));
  EXPECT_THAT(html, HasSubstr("<title>convergy study (QUICK)"));
  std::filesystem::remove_all(dir);
}

TEST(ReportOutputs, InconsistentResultsAreBadInputAndWriteNothing) {
  StudyResults r = testing::synthetic_study();
  r.breakdowns[0].combination = "elsewhere";
  const auto dir = fresh_dir("bad");
  EXPECT_THROW(write_study_outputs(r, dir), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "index.html"));
}

}  // namespace
}  // namespace convergy::report

namespace convergy::report {
namespace {

// Studies with little in them still give a well-formed page that says what is missing.
TEST(ReportEdgeCases, AnEmptyStudyStillRendersAWellFormedPage) {
  StudyResults r;
  r.info.target = "time_ms";
  r.info.sensor = "none";
  const std::string html = render_report_html(r, build_tables(r));
  EXPECT_EQ(testing::xml_problem(html), "");
  EXPECT_THAT(html, HasSubstr("No per-layer breakdowns in these results."));
  EXPECT_THAT(html, HasSubstr("No predictions for the macs+mem feature set"));
}

TEST(ReportEdgeCases, PoorModelsWithNegativePredictionsAndAccuracyRender) {
  StudyResults r;
  r.info.target = "time_ms";
  r.combinations.push_back(
      {"local-eigen", "Eigen", "host", "eigen", "measured by this study", "time_ms", "per layer"});
  r.predictions.push_back({"local-eigen", "lono", "macs", "alexnet", "network", 10, -3});
  r.predictions.push_back({"local-eigen", "lono", "macs", "vgg16", "network", 100, 350});
  r.layer_types.push_back({"local-eigen", "lono", "macs", "conv", -0.4, 2.1, 1, 12});
  r.breakdowns.push_back({"local-eigen", "alexnet", "macs", {{"conv", 8.0, -2.0}, {"fc", 2.0, 1.0}}});
  const std::string html = render_report_html(r, build_tables(r));
  EXPECT_EQ(testing::xml_problem(html), "");
  EXPECT_THAT(html, HasSubstr("cannot be drawn on log axes"));
  EXPECT_THAT(html, HasSubstr("data-value=\"-0.4\">-40.0%</td>"));
}

}  // namespace
}  // namespace convergy::report

// Unit tests of the CLI output helpers (human-readable numbers, CSV quoting, tables, compact JSON).
// format.cpp is built into the convergy executable, not into a library, so it is compiled in here directly.
#include "../../src/cli/format.cpp"  // NOLINT(bugprone-suspicious-include)

#include <gtest/gtest.h>

namespace convergy::cli {
namespace {

TEST(Format, HumanCount) {
  EXPECT_EQ(human_count(0), "0");
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1000), "1.00 k");
  EXPECT_EQ(human_count(1602), "1.60 k");
  EXPECT_EQ(human_count(60965224), "61.0 M");
  EXPECT_EQ(human_count(724406816), "724 M");
  EXPECT_EQ(human_count(3857925120ULL), "3.86 G");
  EXPECT_EQ(human_count(999600), "1.00 M") << "rounding up to 1000 moves to the next prefix";
  EXPECT_EQ(human_count(99960), "100 k");
  EXPECT_EQ(human_count(9996), "10.0 k");
  EXPECT_EQ(human_count(243860896, "B"), "244 MB");
  EXPECT_EQ(human_count(512, "B"), "512 B");
  EXPECT_EQ(human_count(UINT64_MAX), "18.4 E");
}

TEST(Format, Grouped) {
  EXPECT_EQ(grouped(0), "0");
  EXPECT_EQ(grouped(999), "999");
  EXPECT_EQ(grouped(1000), "1,000");
  EXPECT_EQ(grouped(3857925120ULL), "3,857,925,120");
}

TEST(Format, CsvQuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_field("conv1"), "conv1");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

TEST(Format, TableTextAndCsv) {
  Table t({{"name"}, {"n", Align::Right}});
  t.add_row({"a", "1"});
  t.add_row({"long,name", "12345"});
  EXPECT_EQ(t.text(), "name           n\n---------  -----\na              1\nlong,name  12345\n");
  EXPECT_EQ(t.text(false), "a              1\nlong,name  12345\n");
  EXPECT_EQ(t.csv(), "name,n\na,1\n\"long,name\",12345\n");
  EXPECT_THROW(t.add_row({"only one"}), Error);
}

TEST(Format, JsonKeepsShapesOnOneLine) {
  Json j = {{"name", "x"},
            {"shape", {1, 3, 5}},
            {"rows", Json::array({Json{{"k", 1}}})},
            {"empty", Json::object()},
            {"none", nullptr}};
  EXPECT_EQ(
      json_text(j),
      "{\n  \"name\": \"x\",\n  \"shape\": [1, 3, 5],\n  \"rows\": [\n    {\n      \"k\": 1\n    }\n  ],\n"
      "  \"empty\": {},\n  \"none\": null\n}\n");
  // The text is valid JSON that parses back to the same value.
  EXPECT_EQ(Json::parse(json_text(j)), j);
}

TEST(Format, FormatOption) {
  CLI::App app;
  OutputFormat f = OutputFormat::Table;
  add_format_option(app, f);
  app.parse("--format json", false);
  EXPECT_EQ(f, OutputFormat::Json);
  app.parse("--format csv", false);
  EXPECT_EQ(f, OutputFormat::Csv);
  EXPECT_THROW(app.parse("--format yaml", false), CLI::ValidationError);
}

}  // namespace
}  // namespace convergy::cli

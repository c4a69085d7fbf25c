// Tests of the SVG plotting module: escaping, tick generation, well-formed output, markers and legends.
#include "report/svg.h"

#include "report_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace convergy::report::svg {
namespace {

using testing::count_tags;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::xml_problem;

std::vector<std::string> labels_of(const std::vector<Tick>& ticks) {
  std::vector<std::string> out;
  for (const auto& t : ticks) out.push_back(t.label);
  return out;
}

TEST(SvgEscape, EscapesTheFiveXmlSpecials) {
  EXPECT_EQ(escape(R"(a<b>&"c'd)"), "a&lt;b&gt;&amp;&quot;c&#39;d");
}

TEST(SvgEscape, DropsControlCharactersButKeepsUtf8AndWhitespace) {
  EXPECT_EQ(escape(std::string("x\x01y\x1fz\tw\n")), "xyz\tw\n");
  EXPECT_EQ(escape("±10% · 76–85%"), "±10% · 76–85%");
}

TEST(SvgTicks, LogTicksOverTwoDecadesAreLabelledOneTwoFive) {
  const auto ticks = log_ticks(1, 100);
  EXPECT_THAT(labels_of(ticks), ::testing::ElementsAre("1", "2", "5", "10", "20", "50", "100"));
  EXPECT_DOUBLE_EQ(ticks[4].value, 20);
}

TEST(SvgTicks, LogTicksOverManyDecadesLabelOnlyPowersOfTen) {
  const auto ticks = log_ticks(0.01, 1e6);
  std::vector<std::string> labelled;
  for (const auto& t : ticks)
    if (!t.label.empty()) labelled.push_back(t.label);
  EXPECT_THAT(labelled,
              ::testing::ElementsAre("0.01", "0.1", "1", "10", "100", "1000", "10000", "10⁵", "10⁶"));
  EXPECT_EQ(ticks.size(), 3u * 8 + 1);  // 1, 2, 5 in each of 8 decades, then 10^6
}

TEST(SvgTicks, SmallDecimalTicksAreExact) {
  const auto ticks = log_ticks(0.005, 0.05);
  ASSERT_FALSE(ticks.empty());
  EXPECT_EQ(ticks.front().label, "0.005");
  EXPECT_EQ(ticks.front().value, 0.005);
  EXPECT_EQ(ticks.back().label, "0.05");
}

TEST(SvgTicks, LogRangeWithinADecadeStillHasTwoLabels) {
  const auto ticks = log_ticks(3, 4.5);
  size_t labelled = 0;
  for (const auto& t : ticks) labelled += t.label.empty() ? 0 : 1;
  EXPECT_GE(labelled, 2u);
  for (const auto& t : ticks) {
    EXPECT_GE(t.value, 3);
    EXPECT_LE(t.value, 4.5);
  }
}

TEST(SvgTicks, LinearTicksUseNiceSteps) {
  EXPECT_THAT(labels_of(linear_ticks(0, 1, 5)), ::testing::ElementsAre("0", "0.2", "0.4", "0.6", "0.8", "1"));
  EXPECT_THAT(labels_of(linear_ticks(0, 730, 6)), ::testing::ElementsAre("0", "200", "400", "600"));
  EXPECT_THAT(labels_of(linear_ticks(-0.3, 0.3, 6)),
              ::testing::ElementsAre("-0.3", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3"));
}

TEST(SvgTicks, NiceBoundsFollowOneTwoFive) {
  EXPECT_DOUBLE_EQ(nice_floor_125(37), 20);
  EXPECT_DOUBLE_EQ(nice_ceil_125(37), 50);
  EXPECT_DOUBLE_EQ(nice_floor_125(0.0013), 0.001);
  EXPECT_DOUBLE_EQ(nice_ceil_125(5.0), 5.0);
  EXPECT_DOUBLE_EQ(nice_ceil_125(5.01), 10.0);
}

TEST(SvgTicks, LabelsUseSuperscriptsOutsideThePlainRange) {
  EXPECT_EQ(tick_label(1e5), "10⁵");
  EXPECT_EQ(tick_label(2e-4), "2×10⁻⁴");
  EXPECT_EQ(tick_label(0.05), "0.05");
  EXPECT_EQ(tick_label(5000), "5000");
}

ScatterPlot sample_scatter() {
  ScatterPlot p;
  p.title = "Predicted <vs> measured & more";
  p.x_title = "measured time (ms)";
  p.y_title = "predicted time (ms)";
  p.log_x = p.log_y = true;
  p.identity = true;
  p.identity_band = 0.1;
  p.series.push_back(
      {"macs", "#D55E00", Marker::Circle, {{1, 1.2, "", "a"}, {10, 9, "", "b"}, {300, 350, "", "c"}}});
  p.series.push_back({"macs+mem", "#0072B2", Marker::Diamond, {{2, 2.05, "", "d"}, {40, 41, "", "e"}}});
  return p;
}

TEST(SvgScatter, IsWellFormedWithOneMarkerPerPoint) {
  const std::string out = render(sample_scatter());
  EXPECT_EQ(xml_problem(out), "");
  // Three circles for points, one in the legend; two diamonds (polygons) for points, one in the legend,
  // plus the band polygon.
  EXPECT_EQ(count_tags(out, "circle"), 3u + 1);
  EXPECT_EQ(count_tags(out, "polygon"), 2u + 1 + 1);
  EXPECT_THAT(out, HasSubstr("Predicted &lt;vs&gt; measured &amp; more"));
  EXPECT_THAT(out, HasSubstr(">measured time (ms)<"));
  EXPECT_THAT(out, HasSubstr(">±10%<"));
  EXPECT_THAT(out, HasSubstr(">y = x<"));
  EXPECT_THAT(out, Not(HasSubstr("<script")));
}

TEST(SvgScatter, LeavesOutNonPositivePointsOnLogAxesAndSaysSo) {
  ScatterPlot p = sample_scatter();
  p.series[0].points.push_back({5, -2, "", "negative"});
  const std::string out = render(p);
  EXPECT_EQ(xml_problem(out), "");
  EXPECT_EQ(count_tags(out, "circle"), 4u);
  EXPECT_THAT(out, HasSubstr("1 point(s) with values &lt;= 0 cannot be drawn on log axes."));
}

TEST(SvgScatter, ThinsHugeSeriesAndSaysHowManyAreShown) {
  ScatterPlot p;
  p.log_x = p.log_y = true;
  p.max_points_per_series = 100;
  Series s{"layers", "#0072B2", Marker::Circle, {}};
  for (int k = 1; k <= 1000; ++k) s.points.push_back({static_cast<double>(k), k * 1.05, "", ""});
  p.series.push_back(s);
  const std::string out = render(p);
  EXPECT_EQ(xml_problem(out), "");
  EXPECT_EQ(count_tags(out, "circle"), 100u + 1);
  EXPECT_THAT(out, HasSubstr("Showing 100 of 1000 points"));
}

TEST(SvgScatter, LabelsPointsAndEscapesLabels) {
  ScatterPlot p;
  p.log_x = true;
  p.percent_y = true;
  p.label_points = true;
  p.y_band = ReferenceBand{0.76, 0.85, "paper"};
  p.series.push_back({"conv", "#0072B2", Marker::Circle, {{1, 0.8, "macs", ""}, {40, 0.9, "a<b", ""}}});
  const std::string out = render(p);
  EXPECT_EQ(xml_problem(out), "");
  EXPECT_THAT(out, HasSubstr(">macs</text>"));
  EXPECT_THAT(out, HasSubstr(">a&lt;b</text>"));
  EXPECT_THAT(out, HasSubstr(">80%</text>"));
}

TEST(SvgBars, StackedBarsAreWellFormedWithOneRectPerPositiveValue) {
  StackedBarChart c;
  c.title = "Breakdown";
  c.x_title = "share (%)";
  c.categories = {"convolution", "fully connected"};
  c.colors = {"#0072B2", "#E69F00"};
  c.percent_x = true;
  c.bars.push_back({"alexnet", "measured", {0.7, 0.3}, "12 ms", ""});
  c.bars.push_back({"alexnet", "predicted", {0.75, std::nullopt}, "13 ms", ""});
  c.bars.push_back({"net<&>", "measured", {std::nullopt, std::nullopt}, "", "not measured"});
  const std::string out = render(c);
  EXPECT_EQ(xml_problem(out), "");
  // Background + two legend swatches + three bar segments.
  EXPECT_EQ(count_tags(out, "rect"), 1u + 2 + 3);
  EXPECT_THAT(out, HasSubstr(">net&lt;&amp;&gt;</text>"));
  EXPECT_THAT(out, HasSubstr(">not measured</text>"));
  EXPECT_THAT(out, HasSubstr(">12 ms</text>"));
}

}  // namespace
}  // namespace convergy::report::svg

namespace convergy::report::svg {
namespace {

TEST(SvgBars, ReferenceLineIsDrawnAndLabelled) {
  StackedBarChart c;
  c.categories = {"convolution"};
  c.colors = {"#0072B2"};
  c.percent_x = true;
  c.reference_line = StackedBarChart::Line{1.0, "measured total"};
  c.bars.push_back({"alexnet", "measured", {1.0}, "", ""});
  c.bars.push_back({"alexnet", "predicted", {0.9}, "", ""});
  const std::string out = render(c);
  EXPECT_EQ(testing::xml_problem(out), "");
  EXPECT_THAT(out, HasSubstr(">measured total</text>"));
  EXPECT_THAT(out, HasSubstr("stroke-dasharray=\"5 4\""));
  // The axis ends at the 100% tick: no empty 120% column.
  EXPECT_THAT(out, HasSubstr(">100%</text>"));
  EXPECT_THAT(out, Not(HasSubstr(">120%</text>")));
}

}  // namespace
}  // namespace convergy::report::svg

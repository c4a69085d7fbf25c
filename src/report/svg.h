// A small SVG plotting module for the study report: scatter plots (linear or log axes, y = x with a
// relative band, labelled points) and horizontal stacked bar charts. The output is standalone,
// well-formed SVG 1.1 with every text escaped, readable inline in HTML or on its own.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convergy::report::svg {

// Escapes text for XML content and attribute values (& < > " '); drops control characters XML 1.0
// forbids, so any network or file name is safe to print.
std::string escape(std::string_view text);

struct Tick {
  double value = 0;
  std::string label;  // empty for a minor, unlabelled tick
};
// Ticks at 1, 2 and 5 x 10^k within [lo, hi] (lo > 0). Over more than about 3 decades only the powers of
// ten carry labels; over less than a decade it falls back to linear steps so there are always >= 2 labels.
std::vector<Tick> log_ticks(double lo, double hi);
// Ticks at multiples of 1, 2 or 5 x 10^k, at most about `max_count` of them, within [lo, hi].
std::vector<Tick> linear_ticks(double lo, double hi, int max_count = 8);
// Short label of a tick value: "0.05", "200", "10⁵", "2×10⁻⁴".
std::string tick_label(double v);
// The largest 1-2-5 value <= v, and the smallest >= v (v > 0): bounds that make log axes end on a tick.
double nice_floor_125(double v);
double nice_ceil_125(double v);

enum class Marker { Circle, Square, Diamond, TriangleUp, TriangleDown, Cross };

struct Point {
  double x = 0, y = 0;
  std::string label;    // drawn next to the point when the plot labels points
  std::string tooltip;  // shown on hover (an SVG <title>); no script needed
};

struct Series {
  std::string name;
  std::string color;  // CSS colour, e.g. "#0072B2"
  Marker marker = Marker::Circle;
  std::vector<Point> points;
};

// A shaded band across the plot between two values of one axis, with a caption.
struct ReferenceBand {
  double lo = 0, hi = 0;
  std::string label;
  std::string color = "#f2c14e";
  std::string text_color = "#8a6d1a";
};

struct ScatterPlot {
  std::string title;
  std::string x_title, y_title;  // with units, e.g. "measured time (ms)"
  bool log_x = false, log_y = false;
  bool percent_y = false;                            // y values are fractions; ticks read "80%"
  bool identity = false;                             // draw y = x; forces the same range on both axes
  double identity_band = 0;                          // shade |y - x| <= band * x around y = x (0.1 for ±10%)
  std::optional<double> x_min, x_max, y_min, y_max;  // fixed ranges; otherwise from the data
  std::vector<Series> series;
  bool label_points = false;
  std::optional<ReferenceBand> y_band;
  bool zero_line = false;  // a dashed line at y = 0 (relative-error plots)
  bool legend = true;
  double width = 560, height = 460;
  // Series with more points are thinned evenly for drawing; the caption says how many are shown, and how
  // many fall outside fixed ranges.
  size_t max_points_per_series = 500;
  std::string note;  // small caption under the legend
};
std::string render(const ScatterPlot& plot);

struct StackedBar {
  std::string group;                          // printed once for a run of bars with the same group
  std::string label;                          // e.g. "measured" / "predicted"
  std::vector<std::optional<double>> values;  // one per category; missing values are not drawn
  std::string end_label;                      // printed right of the bar, e.g. "12.3 ms"
  std::string missing_text;                   // printed instead of a bar when every value is missing
};

struct StackedBarChart {
  std::string title;
  std::string x_title;
  std::vector<std::string> categories;
  std::vector<std::string> colors;  // one per category
  std::vector<StackedBar> bars;
  bool percent_x = false;  // values are fractions; ticks read "50%"
  std::optional<double> x_max;
  std::optional<ReferenceBand> x_band;
  struct Line {
    double value = 0;
    std::string label;
  };
  std::optional<Line> reference_line;  // a dashed vertical line, e.g. at 100% of the measured total
  bool legend = true;
  double width = 760;
  std::string note;
};
std::string render(const StackedBarChart& chart);

}  // namespace convergy::report::svg

// Renders the study report page (see html.h). The page is XHTML-compatible (void elements are
// self-closed) so the tests can check it with a strict XML reader, and it declares a Content Security
// Policy that forbids every fetch: a stray external reference shows up as a browser console error.
#include "report/html.h"

#include "report/format.h"
#include "report/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace convergy::report {

namespace {

using svg::escape;

// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies and in greyscale print.
struct SeriesStyle {
  std::string color;
  svg::Marker marker;
};

SeriesStyle feature_set_style(const std::string& fs, size_t index) {
  static const std::map<std::string, SeriesStyle> known = {
      {"macs", {"#D55E00", svg::Marker::Circle}},
      {"macs+1", {"#E69F00", svg::Marker::Square}},
      {"macs+mem", {"#0072B2", svg::Marker::Diamond}},
      {"neuralpower", {"#009E73", svg::Marker::TriangleUp}},
      {"counters", {"#CC79A7", svg::Marker::TriangleDown}},
  };
  if (auto it = known.find(fs); it != known.end()) return it->second;
  static const std::vector<std::string> spare = {"#56B4E9", "#000000", "#999999", "#882255"};
  return {spare[index % spare.size()], svg::Marker::Cross};
}

std::string layer_type_color(const std::string& type, size_t index) {
  static const std::map<std::string, std::string> known = {
      {"conv", "#0072B2"}, {"fc", "#E69F00"}, {"pool", "#009E73"}, {"other", "#A0A0A8"}};
  if (auto it = known.find(type); it != known.end()) return it->second;
  static const std::vector<std::string> spare = {"#CC79A7", "#56B4E9", "#D55E00", "#F0E442"};
  return spare[index % spare.size()];
}

std::string layer_type_name(const std::string& type) {
  if (type == "conv") return "convolution";
  if (type == "fc") return "fully connected";
  if (type == "pool") return "pooling";
  if (type == "other") return "other";
  if (type == "net") return "shared (every layer)";
  return type;
}

// Values in first-appearance order.
template <typename Range, typename Get>
std::vector<std::string> distinct(const Range& range, Get get) {
  std::vector<std::string> out;
  for (const auto& x : range) {
    std::string v = get(x);
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
  }
  return out;
}

// Layer types in the paper's order, then any others in first-appearance order.
std::vector<std::string> ordered_layer_types(std::vector<std::string> types) {
  static const std::vector<std::string> order = {"conv", "fc", "pool", "other"};
  std::stable_sort(types.begin(), types.end(), [](const std::string& a, const std::string& b) {
    auto rank = [](const std::string& t) {
      auto it = std::find(order.begin(), order.end(), t);
      return static_cast<int>(it - order.begin());
    };
    return rank(a) < rank(b);
  });
  return types;
}

// One numeric cell of an HTML table, printed from the table cell that results.json also holds.
std::string number_td(const Table& t, size_t row, const std::string& key,
                      const std::string& extra_class = "") {
  const size_t col = t.column(key);
  const Cell& c = t.rows.at(row).at(col);
  const std::string cls = extra_class.empty() ? "num" : "num " + extra_class;
  const std::string ref =
      fmt::format("data-table=\"{}\" data-row=\"{}\" data-col=\"{}\"", t.id, row, escape(key));
  if (!c.number)
    return fmt::format(
        "<td class=\"{} na\" {} data-value=\"\" title=\"not measured or not applicable\">–</td>", cls, ref);
  std::string shown;
  switch (t.columns[col].format) {
    case CellFormat::Percent:
      shown = display_percent(*c.number);
      break;
    case CellFormat::Integer:
      shown = display_integer(*c.number);
      break;
    default:
      shown = display_quantity(*c.number);
      break;
  }
  return fmt::format("<td class=\"{}\" {} data-value=\"{}\">{}</td>", cls, ref, canonical_text(*c.number),
                     escape(shown));
}

const std::string& text_at(const Table& t, size_t row, const std::string& key) {
  return t.rows.at(row).at(t.column(key)).text;
}
std::optional<double> number_at(const Table& t, size_t row, const std::string& key) {
  return t.rows.at(row).at(t.column(key)).number;
}

constexpr const char* kStyle = R"CSS(
:root { --ink: #1f2430; --muted: #5b6270; --line: #d9dce3; --accent: #0072B2; --paper: #f2c14e; }
* { box-sizing: border-box; }
body { margin: 0; font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; color: var(--ink);
  background: #f4f5f8; font-size: 15px; line-height: 1.5; }
header.top { background: #1f2a3c; color: #ffffff; padding: 22px 40px 18px; }
header.top h1 { margin: 0; font-size: 26px; letter-spacing: 0.2px; }
header.top p { margin: 4px 0 0; color: #c9d2e0; font-size: 14px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-size: 13px; font-weight: bold;
  vertical-align: middle; margin-left: 10px; }
.badge.quick { background: #E69F00; color: #1f2430; }
.badge.full { background: #2e7d4f; color: #ffffff; }
.notice { background: #eef4fb; border-left: 6px solid #0072B2; padding: 8px 16px; margin: 0 0 14px; }
.quick-banner { background: #fff4dc; border-left: 6px solid #E69F00; padding: 10px 16px; margin: 0 0 18px; }
nav.toc { background: #ffffff; border-bottom: 1px solid var(--line); padding: 8px 40px; font-size: 14px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 18px; }
main { max-width: 1240px; margin: 0 auto; padding: 22px 28px 40px; }
section { background: #ffffff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 24px 22px;
  margin-bottom: 22px; }
h2 { font-size: 20px; margin: 0 0 6px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 14px; max-width: 900px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 14px; margin-bottom: 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fafbfd; }
.card h3 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: 0.6px; color: var(--muted); }
.card .big { font-size: 28px; font-weight: bold; color: var(--accent); line-height: 1.2; }
.card .paper { font-size: 13px; color: #8a6d1a; }
.card p { margin: 2px 0; font-size: 13.5px; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid #eceef3; border-radius: 6px; padding: 6px; background: #ffffff; }
figure svg { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 12.5px; color: var(--muted); padding: 4px 6px 2px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 14px; }
th, td { border-bottom: 1px solid #e6e8ee; padding: 4px 9px; text-align: left; }
th { background: #f0f2f6; font-weight: bold; white-space: nowrap; }
th.group { text-align: center; border-left: 2px solid #ffffff; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.na { color: #a0a4ad; text-align: center; }
td.first-of-group, th.first-of-group { border-left: 1px solid #d9dce3; }
td.good { color: #1e6b3a; font-weight: bold; }
td.best { font-weight: bold; background: #eaf3fb; }
caption { text-align: left; caption-side: top; padding: 2px 0 4px; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
tr:hover td { background: #f7f9fc; }
.muted { color: var(--muted); }
.note { font-size: 13px; color: var(--muted); }
dl.defs { display: grid; grid-template-columns: 170px 1fr; gap: 4px 14px; font-size: 14px; }
dl.defs dt { font-weight: bold; }
dl.defs dd { margin: 0; }
code { background: #f0f2f6; padding: 0 4px; border-radius: 3px; font-size: 13px; }
footer { text-align: center; color: var(--muted); font-size: 12.5px; padding: 10px 0 30px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(2, 1fr); } .grid2 { grid-template-columns: 1fr; } }
@media print {
  body { background: #ffffff; font-size: 11pt; }
  nav.toc { display: none; }
  header.top { background: #ffffff; color: #000000; border-bottom: 2px solid #000000; padding: 0 0 8px; }
  header.top p { color: #333333; }
  main { max-width: none; padding: 0; }
  section { border: none; padding: 0; margin: 0 0 14pt; }
  figure, table, .card { break-inside: avoid; }
  h2 { break-after: avoid; }
  tr:hover td { background: none; }
}
)CSS";

class Page {
 public:
  Page(const StudyResults& r, const std::vector<Table>& tables)
      : r_(r),
        models_(find_table(tables, "models")),
        types_(find_table(tables, "layer_types")),
        preds_(find_table(tables, "predictions")),
        transfer_(find_table(tables, "transfer")),
        learning_(find_table(tables, "learning_curve")) {}

  std::string render() {
    head();
    summary();
    transfer();
    learning_curve();
    predicted_vs_measured();
    breakdowns();
    complexity();
    paper_tables();
    about();
    out_ += fmt::format(
        "</main>\n<footer>Generated by convergy {} on {}. Self-contained page: no scripts, nothing "
        "fetched.</footer>\n</body>\n</html>\n",
        escape(r_.info.convergy_version), escape(r_.info.created_utc));
    return std::move(out_);
  }

 private:
  const StudyResults& r_;
  const Table& models_;
  const Table& types_;
  const Table& preds_;
  const Table& transfer_;
  const Table& learning_;
  std::string out_;

  std::string unit(const std::string& combination) const {
    const Combination* c = r_.find_combination(combination);
    return c ? target_unit(c->target) : "";
  }
  std::string quantity(const std::string& combination) const {
    const Combination* c = r_.find_combination(combination);
    return c ? target_quantity(c->target) : "value";
  }

  // The evaluation a combination's plots use: the headline one when it has rows for it, else its first.
  std::string evaluation_for(const std::string& combination) const {
    std::vector<std::string> evals;
    for (const auto& p : r_.predictions)
      if (p.combination == combination) evals.push_back(p.evaluation);
    for (const auto& t : r_.layer_types)
      if (t.combination == combination) evals.push_back(t.evaluation);
    if (evals.empty() || std::find(evals.begin(), evals.end(), r_.info.headline_evaluation) != evals.end())
      return r_.info.headline_evaluation;
    return evals.front();
  }

  std::vector<size_t> headline_rows() const { return headline_model_rows(r_, models_); }

  void head() {
    const StudyInfo& i = r_.info;
    out_ += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n";
    // Forbid every fetch: the page must work offline, and a violation is a console error tests catch.
    out_ +=
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
        "'unsafe-inline'; "
        "img-src data:\" />\n";
    out_ += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n";
    out_ += fmt::format("<title>convergy study{} · {}</title>\n", i.quick ? " (QUICK)" : "",
                        escape(i.machine.hostname));
    out_ += fmt::format("<style>{}</style>\n</head>\n<body>\n", kStyle);
    out_ += "<header class=\"top\">\n";
    out_ += fmt::format("<h1>convergy study <span class=\"badge {}\">{}</span></h1>\n",
                        i.quick ? "quick" : "full", i.quick ? "QUICK run" : "full run");
    out_ += fmt::format(
        "<p>Energy and latency prediction of ConvNet inference with the SyNERGY method: measure layer by "
        "layer, fit "
        "layer-type models, predict networks the models never saw. {} · {}</p>\n",
        escape(i.machine.hostname), escape(i.created_utc));
    out_ += "</header>\n";
    out_ +=
        "<nav class=\"toc\"><a href=\"#summary\">Summary</a>";
    if (!transfer_.rows.empty()) out_ += "<a href=\"#transfer\">Transfer</a>";
    if (!learning_.rows.empty()) out_ += "<a href=\"#learning\">New device</a>";
    out_ +=
        "<a href=\"#predicted\">Predicted vs measured</a>"
        "<a href=\"#breakdown\">Per-layer breakdown</a><a href=\"#complexity\">Accuracy vs complexity</a>"
        "<a href=\"#tables\">Tables</a><a href=\"#about\">Method and files</a></nav>\n<main>\n";
    for (const auto& note : i.notes) out_ += fmt::format("<div class=\"notice\">{}</div>\n", escape(note));
    if (i.quick)
      out_ +=
          "<div class=\"quick-banner\"><strong>QUICK run.</strong> A subset of the networks and fewer "
          "repetitions "
          "per measurement: the figures show that the method works end to end, not how accurate it is at its "
          "best. Run <code>convergy study</code> without <code>--quick</code> for the full study.</div>\n";
  }

  void summary() {
    const StudyInfo& i = r_.info;
    out_ += "<section id=\"summary\">\n<h2>Summary</h2>\n";
    std::vector<size_t> rows = headline_rows();
    std::optional<double> lo, hi;
    size_t n_network_rows = 0;
    for (size_t k : rows)
      if (auto a = number_at(models_, k, "accuracy"); a && text_at(models_, k, "item_kind") == "network") {
        lo = lo ? std::min(*lo, *a) : *a;
        hi = hi ? std::max(*hi, *a) : *a;
        ++n_network_rows;
      }
    out_ += fmt::format(
        "<p class=\"lead\">Whole-network predictions of the <strong>{}</strong> models (each network the "
        "sum of its layers' predictions) on networks the models never saw ({} where available), beside the "
        "76–85% whole-network accuracy the SyNERGY paper reports for its compact models.</p>\n",
        escape(i.headline_feature_set), escape(evaluation_label(i.headline_evaluation)));
    out_ += "<div class=\"cards\">\n";
    out_ += fmt::format(
        "<div class=\"card\"><h3>Machine</h3><p><strong>{}</strong></p><p>{} cores · {}</p><p "
        "class=\"muted\">{} · "
        "{}</p></div>\n",
        escape(i.machine.cpu), i.machine.cores, escape(i.machine.os), escape(i.machine.compiler),
        escape(i.machine.build_type));
    std::string backends;
    for (const auto& b : i.backends) backends += (backends.empty() ? "" : ", ") + b;
    out_ += fmt::format(
        "<div class=\"card\"><h3>Backends</h3><p><strong>{}</strong></p><p>{} thread(s)</p><p "
        "class=\"muted\">{} "
        "combination(s) in all, shared board data included</p></div>\n",
        escape(backends.empty() ? "none" : backends), i.threads, r_.combinations.size());
    out_ += fmt::format(
        "<div class=\"card\"><h3>Sensor and target</h3><p><strong>{}</strong> · sensor: "
        "{}</p><p>{}</p></div>\n",
        escape(i.target), escape(i.sensor), escape(i.target_reason));
    std::string big = "n/a";
    if (lo && hi)
      big = display_percent(*lo) == display_percent(*hi) ? display_percent(*lo)
                                                         : display_percent(*lo) + "–" + display_percent(*hi);
    out_ += fmt::format(
        "<div class=\"card\"><h3>Headline accuracy</h3><div class=\"big\">{}</div><p>{} models, held-out "
        "whole "
        "networks, {} combination(s)</p><p class=\"paper\">SyNERGY paper: 76–85%</p></div>\n",
        escape(big), escape(i.headline_feature_set), n_network_rows);
    out_ += "</div>\n";

    // Headline chart: one bar per combination, the paper's range shaded behind.
    svg::StackedBarChart chart;
    chart.title = fmt::format("Accuracy of the {} models on held-out data", i.headline_feature_set);
    chart.x_title = "accuracy on held-out items (1 − mean |error|)";
    chart.categories = {"accuracy"};
    chart.colors = {"#0072B2"};
    chart.legend = false;
    chart.percent_x = true;
    chart.x_max = 1.0;
    chart.x_band = svg::ReferenceBand{kPaperAccuracyLow, kPaperAccuracyHigh, "SyNERGY paper: 76–85%"};
    chart.width = 1100;
    for (size_t k : rows) {
      const auto a = number_at(models_, k, "accuracy");
      const Combination* c = r_.find_combination(text_at(models_, k, "combination"));
      const std::string kind = text_at(models_, k, "item_kind");
      chart.bars.push_back({c ? c->label : text_at(models_, k, "combination"),
                            (kind == "network" ? "networks, " : "layers, ") +
                                evaluation_label(text_at(models_, k, "evaluation")),
                            {a ? std::optional<double>(std::max(0.0, *a)) : std::nullopt},
                            a ? display_percent(*a) : std::string(),
                            "not available"});
    }
    if (!rows.empty()) {
      out_ +=
          "<figure>" + svg::render(chart) +
          "<figcaption>Bars: share of the measured value the prediction gets right on average, over held-out "
          "networks (or held-out layers where a board was measured layer by layer only). Shaded: the range "
          "the "
          "SyNERGY paper reports for whole networks with complexity-1 models.</figcaption></figure>\n";
    } else {
      out_ += fmt::format("<p class=\"note\">No predictions for the {} feature set under {}.</p>\n",
                          escape(i.headline_feature_set), escape(evaluation_label(i.headline_evaluation)));
    }

    out_ +=
        "<h3>Headline figures per combination</h3>\n<table>\n<thead><tr><th>combination</th><th>hardware</th>"
        "<th>software</th><th>target</th><th>evaluation</th><th>held-out</th><th>count</th><th>accuracy</"
        "th><th>RMSPE</th>"
        "<th>within ±10%</th><th>complexity</th></tr></thead>\n<tbody>\n";
    for (size_t k : rows) {
      const Combination* c = r_.find_combination(text_at(models_, k, "combination"));
      if (!c) continue;
      out_ += fmt::format(
          "<tr><td><strong>{}</strong></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
          escape(c->label), escape(c->hardware), escape(c->software), escape(c->target),
          escape(evaluation_label(text_at(models_, k, "evaluation"))),
          escape(text_at(models_, k, "item_kind") + "s"));
      out_ += number_td(models_, k, "items") + number_td(models_, k, "accuracy") +
              number_td(models_, k, "rmspe") + number_td(models_, k, "within_10pct") +
              number_td(models_, k, "complexity") + "</tr>\n";
    }
    out_ += "</tbody>\n</table>\n";
    if (i.wall_time_s)
      out_ += fmt::format("<p class=\"note\">Study wall time: {} s.</p>\n",
                          escape(display_quantity(*i.wall_time_s)));
    if (i.measured_rows && i.reused_rows)
      out_ += fmt::format(
          "<p class=\"note\">Measurement rows: {} taken by this run, {} reused from the "
          "database.</p>\n",
          *i.measured_rows, *i.reused_rows);
    out_ += "</section>\n";
  }

  // The relative error of each point of a predicted-against-measured plot: on log-log axes ±10% is a thin
  // sliver, here it is a band a reader can judge by eye.
  static svg::ScatterPlot error_plot(svg::ScatterPlot& main) {
    svg::ScatterPlot e;
    e.log_x = true;
    e.percent_y = true;
    e.zero_line = true;
    e.legend = false;
    e.x_title = main.x_title;
    e.y_title = "relative error";
    e.height = 250;
    e.y_band = svg::ReferenceBand{-0.1, 0.1, "±10%", "#9aa5b1", "#5a6570"};
    double worst = 0.2;
    for (const auto& s : main.series) {
      svg::Series r{s.name, s.color, s.marker, {}};
      for (const auto& pt : s.points) {
        const double err = (pt.y - pt.x) / pt.x;
        worst = std::max(worst, std::fabs(err));
        r.points.push_back({pt.x, err, "", pt.tooltip});
      }
      e.series.push_back(std::move(r));
    }
    // Symmetric range, at most ±100%: a few wild points must not flatten the rest (the caption counts them).
    const double lim = std::min(1.0, std::ceil(worst * 1.05 * 10) / 10);
    e.y_min = -lim;
    e.y_max = lim;
    // Both plots share the x range so a point sits at the same x in each.
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    for (const auto& s : main.series)
      for (const auto& pt : s.points)
        if (pt.x > 0 && pt.y > 0) lo = std::min({lo, pt.x, pt.y}), hi = std::max({hi, pt.x, pt.y});
    if (hi > 0) {
      main.x_min = main.y_min = e.x_min = svg::nice_floor_125(lo / 1.08);
      main.x_max = main.y_max = e.x_max = svg::nice_ceil_125(hi * 1.08);
    }
    return e;
  }

  // Says when a panel draws fewer points than there are held-out items: the study kept an even sample
  // (the accuracy figures are still over every item), or the plot thinned a large series.
  std::string thinning_note(const std::string& combination, const std::string& eval,
                            const svg::ScatterPlot& plot) const {
    std::string note;
    int items = 0, plotted = 0;
    std::string kind;
    for (size_t k = 0; k < models_.rows.size(); ++k) {
      if (text_at(models_, k, "combination") != combination || text_at(models_, k, "evaluation") != eval)
        continue;
      const int n = static_cast<int>(number_at(models_, k, "items").value_or(0));
      const int shown = static_cast<int>(number_at(models_, k, "plotted").value_or(0));
      if (shown < n && n > items) items = n, plotted = shown, kind = text_at(models_, k, "item_kind");
    }
    if (plotted < items)
      note += fmt::format(
          " Points: an even sample of {} of the {} held-out {}s of each feature set; the accuracy "
          "figures are over all {}.",
          plotted, items, kind, items);
    size_t largest = 0;
    for (const auto& series : plot.series) largest = std::max(largest, series.points.size());
    if (largest > plot.max_points_per_series)
      note += fmt::format(" Series of more than {} points are drawn evenly thinned (the plot says how many).",
                          plot.max_points_per_series);
    return note;
  }

  // Transfer next to the ordinary cross-validation: the random folds mix every kind of network into training,
  // so they measure interpolation; these hold out a kind.
  void transfer() {
    if (transfer_.rows.empty()) return;
    out_ += "<section id=\"transfer\">\n<h2>Transfer to networks unlike the training set</h2>\n";
    out_ +=
        "<p class=\"lead\">Each row fits the model on one kind of network and predicts another kind it "
        "never saw: one family of the board's networks held out in turn, the synthetic board networks "
        "predicting real published ones, and on this machine the plain networks (no grouped or depthwise "
        "convolution, no element-wise add) predicting the others, and every network at its own input size "
        "predicting some of them at other sizes; for comparison, the headline model with every network "
        "held out in turn. The last column is the same feature set under the ordinary cross-validation of "
        "the combination, where every kind of network is in the training folds. Interval coverage is the "
        "share of held-out networks inside the interval <code>convergy predict</code> would print for them "
        "(per-layer data: the interval calibrated on whole networks inside the training domain, the "
        "per-layer one, widened, outside it). Coverage alone can flatter: an interval with an infinite "
        "bound holds every value on that side, so such intervals are counted (intervals unbounded), and "
        "the median width (upper bound over lower) says how sharp the others are.</p>\n";
    // The headline rows first (the default set and the layer-type set beside it, each transfer pooled); each
    // held-out family on its own and the other feature sets below, folded.
    std::vector<size_t> headline, rest;
    for (size_t k = 0; k < transfer_.rows.size(); ++k) {
      const std::string fs = text_at(transfer_, k, "feature_set");
      const bool one_family = text_at(transfer_, k, "held_out").rfind("family=", 0) == 0;
      ((fs == "transfer" || fs == "compact") && !one_family ? headline : rest).push_back(k);
    }
    transfer_table(headline.empty() ? rest : headline);
    if (!headline.empty() && !rest.empty()) {
      out_ += fmt::format(
          "<details><summary>The other {} rows: each held-out family on its own, and the other feature "
          "sets</summary>\n",
          rest.size());
      transfer_table(rest);
      out_ += "</details>\n";
    }
    out_ += "</section>\n";
  }

  void transfer_table(const std::vector<size_t>& rows) {
    out_ +=
        "<table class=\"transfer\">\n<thead><tr><th>combination</th><th>transfer</th><th>trained on</th>"
        "<th>held out</th><th>feature set</th><th>networks fitted</th><th>networks held "
        "out</th><th>accuracy</th>"
        "<th>MAPE</th><th>within ±10%</th><th>interval coverage</th><th>interval level</th><th>intervals "
        "unbounded</th><th>median interval width (upper / lower)</th><th>machine drift (the probe)</th>"
        "<th>accuracy, drift corrected</th><th>coverage, drift corrected</th>"
        "<th>ordinary evaluation</th><th>its accuracy</th></tr></thead>\n<tbody>\n";
    for (size_t k : rows) {
      const Combination* c = r_.find_combination(text_at(transfer_, k, "combination"));
      out_ += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                          escape(c ? c->label : text_at(transfer_, k, "combination")),
                          escape(text_at(transfer_, k, "transfer")), escape(text_at(transfer_, k, "trained_on")),
                          escape(text_at(transfer_, k, "held_out")), escape(text_at(transfer_, k, "feature_set")));
      const auto a = number_at(transfer_, k, "accuracy");
      out_ += number_td(transfer_, k, "train_items") + number_td(transfer_, k, "test_items") +
              number_td(transfer_, k, "accuracy", a && *a >= 0.9 ? "good" : "") +
              number_td(transfer_, k, "mape") + number_td(transfer_, k, "within_10pct") +
              number_td(transfer_, k, "interval_coverage") + number_td(transfer_, k, "interval_level") +
              number_td(transfer_, k, "interval_unbounded") +
              number_td(transfer_, k, "interval_median_width") + number_td(transfer_, k, "anchor_drift") +
              number_td(transfer_, k, "drift_corrected_accuracy") +
              number_td(transfer_, k, "drift_corrected_coverage") +
              fmt::format("<td>{}</td>",
                          escape(evaluation_label(text_at(transfer_, k, "reference_evaluation")))) +
              number_td(transfer_, k, "reference_accuracy") + "</tr>\n";
    }
    out_ += "</tbody>\n</table>\n";
  }

  // The learning curves: accuracy against the networks measured, one series per combination, then the table.
  void learning_curve() {
    if (learning_.rows.empty()) return;
    out_ += "<section id=\"learning\">\n<h2>A model for a new device: how many networks to measure</h2>\n";
    out_ +=
        "<p class=\"lead\">Each point fits the headline model on that many networks (layers, for "
        "standalone-layer data) drawn at random, several times, with the operator probe where one was "
        "measured, and predicts all the others: what a model for a device nobody has modelled yet gets from "
        "measuring that many. The spread of the draws is in the table (worst and best draw). With 4 to 18 "
        "networks the interval of a network is calibrated on the held-out networks' errors assuming they are "
        "about log-normal (too few for conformal ranks at 90%); with fewer, only the per-layer interval is "
        "left, far wider.</p>\n";
    static const char* kColors[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                    "#D55E00", "#56B4E9", "#000000"};
    static const svg::Marker kMarkers[] = {
        svg::Marker::Circle, svg::Marker::Square,       svg::Marker::Diamond, svg::Marker::TriangleUp,
        svg::Marker::Cross,  svg::Marker::TriangleDown, svg::Marker::Circle};
    svg::ScatterPlot plot;
    plot.title = "Accuracy on the networks not measured";
    plot.x_title = "networks (layers) measured, drawn at random";
    plot.y_title = "accuracy (1 - MAPE), pooled over the draws";
    plot.log_x = true;
    plot.percent_y = true;
    plot.y_max = 1.0;
    svg::ScatterPlot width;
    width.title = "How wide their 90% intervals are";
    width.x_title = plot.x_title;
    width.y_title = "median interval width (upper / lower bound)";
    width.log_x = width.log_y = true;
    const std::vector<std::string> combos =
        distinct(r_.learning, [](const LearningResult& l) { return l.combination; });
    for (size_t c = 0; c < combos.size(); ++c) {
      const Combination* combo = r_.find_combination(combos[c]);
      svg::Series series{combo ? combo->label : combos[c], kColors[c % 7], kMarkers[c % 7], {}};
      svg::Series widths = series;
      for (size_t k = 0; k < learning_.rows.size(); ++k) {
        if (text_at(learning_, k, "combination") != combos[c]) continue;
        const auto n = number_at(learning_, k, "train_items"), a = number_at(learning_, k, "accuracy"),
                   w = number_at(learning_, k, "interval_median_width");
        if (!n) continue;
        const std::string unit = text_at(learning_, k, "unit");
        if (a)
          series.points.push_back({*n, *a, "",
                                   fmt::format("{}: {:.0f} {}s measured, accuracy {:.1f}% on the others",
                                               series.name, *n, unit, 100 * *a)});
        if (w)
          widths.points.push_back(
              {*n, *w, "",
               fmt::format("{}: {:.0f} {}s measured, median interval x{:.2f}", series.name, *n, unit, *w)});
      }
      plot.series.push_back(std::move(series));
      if (!widths.points.empty()) width.series.push_back(std::move(widths));
    }
    out_ += "<div class=\"grid2\">\n<figure>\n" + svg::render(plot) +
            "<figcaption>Accuracy of the summed (or whole-network) predictions on every network not drawn, "
            "against the number drawn.</figcaption>\n</figure>\n";
    if (!width.series.empty())
      out_ += "<figure>\n" + svg::render(width) +
              "<figcaption>The median width of the intervals <code>convergy predict</code> would give those "
              "networks (on this machine per-layer below 4 networks, calibrated on whole networks from "
              "4).</figcaption>\n"
              "</figure>\n";
    out_ += "</div>\n";
    out_ +=
        "<table class=\"learning\">\n<thead><tr><th>combination</th><th>feature set</th>"
        "<th>measured (count)</th><th>predicted (count per draw)</th><th>draws</th><th>accuracy</th>"
        "<th>worst draw</th><th>best draw</th><th>within ±10%</th><th>interval coverage</th>"
        "<th>interval level</th><th>median interval width (upper / lower)</th>"
        "<th>intervals unbounded (all draws)</th></tr></thead>\n<tbody>\n";
    for (size_t k = 0; k < learning_.rows.size(); ++k) {
      const Combination* c = r_.find_combination(text_at(learning_, k, "combination"));
      const auto a = number_at(learning_, k, "accuracy");
      out_ += fmt::format("<tr><td>{}</td><td>{}</td>",
                          escape(c ? c->label : text_at(learning_, k, "combination")),
                          escape(text_at(learning_, k, "feature_set")));
      out_ += number_td(learning_, k, "train_items") + number_td(learning_, k, "test_items") +
              number_td(learning_, k, "draws") +
              number_td(learning_, k, "accuracy", a && *a >= 0.9 ? "good" : "") +
              number_td(learning_, k, "accuracy_min") + number_td(learning_, k, "accuracy_max") +
              number_td(learning_, k, "within_10pct") + number_td(learning_, k, "interval_coverage") +
              number_td(learning_, k, "interval_level") + number_td(learning_, k, "interval_median_width") +
              number_td(learning_, k, "interval_unbounded") + "</tr>\n";
    }
    out_ += "</tbody>\n</table>\n</section>\n";
  }

  void predicted_vs_measured() {
    out_ += "<section id=\"predicted\">\n<h2>Predicted against measured</h2>\n";
    out_ +=
        "<p class=\"lead\">One panel per hardware-software combination. Each point is a network (or a "
        "standalone "
        "layer) that was held out of the fit; points on the dashed line are exact, the shaded band is ±10%. "
        "Hover "
        "a point for its name and values.</p>\n<div class=\"grid2\">\n";
    for (const auto& c : r_.combinations) {
      const std::string eval = evaluation_for(c.id);
      svg::ScatterPlot plot;
      plot.title = c.label;
      plot.log_x = plot.log_y = true;
      plot.identity = true;
      plot.identity_band = 0.1;
      plot.x_title = fmt::format("measured {} ({})", target_quantity(c.target), target_unit(c.target));
      plot.y_title = fmt::format("predicted {} ({})", target_quantity(c.target), target_unit(c.target));
      std::vector<std::string> sets;
      for (const auto& p : r_.predictions)
        if (p.combination == c.id && p.evaluation == eval &&
            std::find(sets.begin(), sets.end(), p.feature_set) == sets.end())
          sets.push_back(p.feature_set);
      // The headline feature set is drawn last, on top of the others.
      std::stable_partition(sets.begin(), sets.end(),
                            [&](const std::string& fs) { return fs != r_.info.headline_feature_set; });
      std::string kind;
      for (size_t s = 0; s < sets.size(); ++s) {
        const SeriesStyle st = feature_set_style(sets[s], s);
        svg::Series series{sets[s], st.color, st.marker, {}};
        for (const auto& p : r_.predictions) {
          if (p.combination != c.id || p.evaluation != eval || p.feature_set != sets[s]) continue;
          kind = p.item_kind;
          const double err = (p.predicted - p.measured) / p.measured;
          series.points.push_back({p.measured, p.predicted, "",
                                   fmt::format("{} · {}: measured {} {}, predicted {} {} ({:+.1f}%)", p.item,
                                               p.feature_set, display_quantity(p.measured), unit(c.id),
                                               display_quantity(p.predicted), unit(c.id), err * 100)});
        }
        plot.series.push_back(std::move(series));
      }
      out_ += "<figure>\n";
      if (plot.series.empty()) {
        out_ += fmt::format("<p class=\"note\">{}: no held-out predictions.</p>\n", escape(c.label));
      } else {
        const svg::ScatterPlot errors = error_plot(plot);
        out_ += svg::render(plot);
        out_ += svg::render(errors);
      }
      out_ += fmt::format(
          "<figcaption>{} · {} · {}; held-out {}s, {}.{} Lower plot: the same points as relative "
          "error.</figcaption>\n</figure>\n",
          escape(c.hardware), escape(c.software), escape(c.origin), escape(kind.empty() ? "item" : kind),
          escape(evaluation_label(eval)), escape(thinning_note(c.id, eval, plot)));
    }
    out_ += "</div>\n</section>\n";
  }

  void breakdowns() {
    out_ += "<section id=\"breakdown\">\n<h2>Per-layer breakdown of each network</h2>\n";
    out_ +=
        "<p class=\"lead\">Where the time or energy of each network goes, by layer type: the measured split "
        "next to "
        "the predicted one. Bars are scaled to the measured total of the network (100%), so a predicted bar "
        "longer than its measured bar is an over-prediction; totals are printed at the end of each "
        "bar.</p>\n";
    bool any = false;
    for (const auto& c : r_.combinations) {
      // One predicted bar per network, from the headline feature set where there is one: all sets
      // are in tables/breakdown.csv.
      std::vector<const Breakdown*> bds;
      std::string fs;
      for (const auto& b : r_.breakdowns)
        if (b.combination == c.id && (fs.empty() || b.feature_set == r_.info.headline_feature_set))
          fs = b.feature_set;
      for (const auto& b : r_.breakdowns)
        if (b.combination == c.id && b.feature_set == fs) bds.push_back(&b);
      if (bds.empty()) continue;
      any = true;
      std::vector<std::string> types;
      for (const auto* b : bds)
        for (const auto& s : b->parts)
          if (std::find(types.begin(), types.end(), s.layer_type) == types.end())
            types.push_back(s.layer_type);
      types = ordered_layer_types(types);
      svg::StackedBarChart chart;
      chart.title = c.label;
      chart.x_title = fmt::format("share of the measured {} of the network (%)", target_quantity(c.target));
      for (size_t k = 0; k < types.size(); ++k) {
        chart.categories.push_back(layer_type_name(types[k]));
        chart.colors.push_back(layer_type_color(types[k], k));
      }
      chart.percent_x = true;
      bool any_measured = false;
      for (const auto* b : bds)
        for (const auto& part : b->parts) any_measured = any_measured || part.measured.has_value();
      // Without per-layer measurements the bars are scaled to the predicted total instead.
      if (any_measured)
        chart.reference_line = svg::StackedBarChart::Line{1.0, "measured total"};
      else
        chart.x_title =
            fmt::format("share of the predicted {} of the network (%)", target_quantity(c.target));
      chart.width = 1120;
      const std::vector<std::string> networks = distinct(bds, [](const Breakdown* b) { return b->network; });
      for (const auto& net : networks) {
        bool measured_done = false;
        for (const auto* b : bds) {
          if (b->network != net) continue;
          auto value = [&](const std::string& type, bool measured) -> std::optional<double> {
            for (const auto& s : b->parts)
              if (s.layer_type == type) return measured ? s.measured : s.predicted;
            return std::nullopt;
          };
          double m_total = 0, p_total = 0;
          bool has_m = false;
          for (const auto& s : b->parts) {
            if (s.measured) m_total += *s.measured, has_m = true;
            if (s.predicted) p_total += *s.predicted;
          }
          // Scale: the measured total where one exists, else the predicted total.
          const double scale = has_m && m_total > 0 ? m_total : (p_total > 0 ? p_total : 1);
          auto scaled = [&](bool measured) {
            std::vector<std::optional<double>> v;
            for (const auto& t : types) {
              auto x = value(t, measured);
              v.push_back(x ? std::optional<double>(*x / scale) : std::nullopt);
            }
            return v;
          };
          const std::string u = unit(c.id);
          if (!measured_done) {
            chart.bars.push_back({net, "measured", scaled(true),
                                  has_m ? fmt::format("{} {}", display_quantity(m_total), u) : "",
                                  "not measured per layer (whole networks only)"});
            measured_done = true;
          }
          std::string end = fmt::format("{} {}", display_quantity(p_total), u);
          if (has_m && m_total > 0) end += fmt::format(" ({:+.1f}%)", (p_total - m_total) / m_total * 100);
          chart.bars.push_back({net, "predicted", scaled(false), end, "no prediction"});
        }
      }
      out_ += "<figure>" + svg::render(chart) +
              fmt::format("<figcaption>{} · {} · {}; predicted by the {} models.</figcaption></figure>\n",
                          escape(c.hardware), escape(c.software), escape(c.origin), escape(fs));
    }
    if (!any) out_ += "<p class=\"note\">No per-layer breakdowns in these results.</p>\n";
    out_ += "</section>\n";
  }

  void complexity() {
    out_ += "<section id=\"complexity\">\n<h2>Accuracy against model complexity</h2>\n";
    out_ +=
        "<p class=\"lead\">The paper's headline trade-off. Complexity is the number of non-zero "
        "coefficients, "
        "intercept included (log scale). Each point is one feature set's model for one layer type, evaluated "
        "on "
        "held-out layers; black points are whole-network models (all layer types together) on held-out "
        "networks. Up and to the left is better.</p>\n<div class=\"grid2\">\n";
    bool any = false;
    for (const auto& c : r_.combinations) {
      const std::string eval = evaluation_for(c.id);
      std::vector<std::string> types;
      for (const auto& t : r_.layer_types)
        if (t.combination == c.id && t.evaluation == eval &&
            std::find(types.begin(), types.end(), t.layer_type) == types.end())
          types.push_back(t.layer_type);
      types = ordered_layer_types(types);
      svg::ScatterPlot plot;
      plot.title = c.label;
      plot.log_x = true;
      plot.percent_y = true;
      plot.label_points = true;
      plot.x_title = "model complexity (non-zero coefficients)";
      plot.y_title = "accuracy on held-out data";
      plot.y_band =
          svg::ReferenceBand{kPaperAccuracyLow, kPaperAccuracyHigh, "SyNERGY paper, whole networks: 76–85%"};
      plot.y_max = 1.0;
      const svg::Marker markers[] = {svg::Marker::Circle, svg::Marker::Square, svg::Marker::Diamond,
                                     svg::Marker::TriangleUp, svg::Marker::TriangleDown};
      for (size_t k = 0; k < types.size(); ++k) {
        svg::Series s{layer_type_name(types[k]), layer_type_color(types[k], k), markers[k % 5], {}};
        for (const auto& t : r_.layer_types)
          if (t.combination == c.id && t.evaluation == eval && t.layer_type == types[k] && t.accuracy &&
              t.complexity)
            s.points.push_back(
                {static_cast<double>(*t.complexity), *t.accuracy, t.feature_set,
                 fmt::format("{} · {}: accuracy {}, complexity {}", layer_type_name(t.layer_type),
                             t.feature_set, display_percent(*t.accuracy), *t.complexity)});
        if (!s.points.empty()) plot.series.push_back(std::move(s));
      }
      svg::Series whole{"whole network", "#1f2430", svg::Marker::Cross, {}};
      for (size_t k = 0; k < models_.rows.size(); ++k) {
        if (text_at(models_, k, "combination") != c.id || text_at(models_, k, "evaluation") != eval ||
            text_at(models_, k, "item_kind") != "network")
          continue;
        auto a = number_at(models_, k, "accuracy");
        auto cx = number_at(models_, k, "complexity");
        if (a && cx)
          whole.points.push_back(
              {*cx, *a, text_at(models_, k, "feature_set"),
               fmt::format("whole network · {}: accuracy {}, complexity {}",
                           text_at(models_, k, "feature_set"), display_percent(*a), display_integer(*cx))});
      }
      if (!whole.points.empty()) plot.series.push_back(std::move(whole));
      if (plot.series.empty()) continue;
      any = true;
      out_ += "<figure>\n" + svg::render(plot) +
              fmt::format("<figcaption>{} · {}.</figcaption>\n</figure>\n", escape(c.hardware),
                          escape(evaluation_label(eval)));
    }
    out_ += "</div>\n";
    if (!any) out_ += "<p class=\"note\">No layer-type accuracies in these results.</p>\n";
    out_ += "</section>\n";
  }

  void paper_tables() {
    out_ += "<section id=\"tables\">\n<h2>Tables</h2>\n";
    out_ +=
        "<p class=\"lead\">In the form the paper uses them: feature set × layer type, giving accuracy, RMSPE "
        "and "
        "complexity on held-out layers (the best accuracy of each layer type is highlighted), then "
        "whole-network "
        "accuracy per held-out network (green: within 10% of the measurement). Every number here is also in "
        "<code>results.json</code> and <code>tables/*.csv</code>; a dash (–) marks a value that was not "
        "measured "
        "or does not apply.</p>\n";
    for (const auto& c : r_.combinations) {
      std::vector<size_t> rows;
      for (size_t k = 0; k < types_.rows.size(); ++k)
        if (text_at(types_, k, "combination") == c.id) rows.push_back(k);
      std::vector<size_t> prows;
      for (size_t k = 0; k < preds_.rows.size(); ++k)
        if (text_at(preds_, k, "combination") == c.id && text_at(preds_, k, "item_kind") == "network")
          prows.push_back(k);
      if (rows.empty() && prows.empty()) continue;
      out_ += fmt::format("<h3>{}</h3>\n<p class=\"note\">{} · {} · {} · target {}</p>\n", escape(c.label),
                          escape(c.hardware), escape(c.software), escape(c.origin), escape(c.target));
      const auto evals = distinct(rows, [&](size_t k) { return text_at(types_, k, "evaluation"); });
      for (const auto& eval : evals) layer_type_table(c, eval, rows);
      const auto pevals = distinct(prows, [&](size_t k) { return text_at(preds_, k, "evaluation"); });
      out_ += "<div class=\"side-by-side\">\n";
      for (const auto& eval : pevals) network_table(c, eval, prows);
      out_ += "</div>\n";
    }
    out_ += "</section>\n";
  }

  void layer_type_table(const Combination& c, const std::string& eval, const std::vector<size_t>& rows) {
    std::vector<size_t> mine;
    for (size_t k : rows)
      if (text_at(types_, k, "evaluation") == eval) mine.push_back(k);
    const auto sets = distinct(mine, [&](size_t k) { return text_at(types_, k, "feature_set"); });
    const auto types =
        ordered_layer_types(distinct(mine, [&](size_t k) { return text_at(types_, k, "layer_type"); }));
    out_ += fmt::format("<table class=\"paper\" data-combination=\"{}\" data-evaluation=\"{}\">\n",
                        escape(c.id), escape(eval));
    out_ += fmt::format("<caption class=\"note\">Layer-type models, {}</caption>\n",
                        escape(evaluation_label(eval)));
    out_ += "<thead><tr><th rowspan=\"2\">feature set</th>";
    for (const auto& t : types)
      out_ +=
          fmt::format("<th class=\"group first-of-group\" colspan=\"3\">{}</th>", escape(layer_type_name(t)));
    out_ += "</tr>\n<tr>";
    for (size_t k = 0; k < types.size(); ++k)
      out_ += "<th class=\"first-of-group\">accuracy</th><th>RMSPE</th><th>complexity</th>";
    out_ += "</tr></thead>\n<tbody>\n";
    // The most accurate feature set of each layer type is set in bold, as the paper's tables do.
    std::map<std::string, double> best;
    for (size_t k : mine)
      if (auto a = number_at(types_, k, "accuracy")) {
        auto [it, added] = best.try_emplace(text_at(types_, k, "layer_type"), *a);
        if (!added) it->second = std::max(it->second, *a);
      }
    for (const auto& fs : sets) {
      out_ += fmt::format("<tr><td><strong>{}</strong></td>", escape(fs));
      for (const auto& t : types) {
        std::optional<size_t> row;
        for (size_t k : mine)
          if (text_at(types_, k, "feature_set") == fs && text_at(types_, k, "layer_type") == t) row = k;
        if (!row) {
          out_ += "<td class=\"na first-of-group\">–</td><td class=\"na\">–</td><td class=\"na\">–</td>";
          continue;
        }
        const auto a = number_at(types_, *row, "accuracy");
        const bool is_best = a && best.count(t) && *a == best.at(t);
        out_ += number_td(types_, *row, "accuracy", is_best ? "first-of-group best" : "first-of-group") +
                number_td(types_, *row, "rmspe") + number_td(types_, *row, "complexity");
      }
      out_ += "</tr>\n";
    }
    out_ += "</tbody>\n</table>\n";
  }

  void network_table(const Combination& c, const std::string& eval, const std::vector<size_t>& rows) {
    // Larger sets (thousands of board networks) are in the CSV; the page keeps the first ones readable.
    constexpr size_t kMaxNetworks = 40;
    std::vector<size_t> mine;
    for (size_t k : rows)
      if (text_at(preds_, k, "evaluation") == eval) mine.push_back(k);
    const auto sets = distinct(mine, [&](size_t k) { return text_at(preds_, k, "feature_set"); });
    const auto nets = distinct(mine, [&](size_t k) { return text_at(preds_, k, "item"); });
    out_ += fmt::format("<table class=\"networks\" data-combination=\"{}\" data-evaluation=\"{}\">\n",
                        escape(c.id), escape(eval));
    out_ += fmt::format("<caption class=\"note\">Whole-network accuracy per held-out network, {}</caption>\n",
                        escape(evaluation_label(eval)));
    out_ += fmt::format("<thead><tr><th>network</th><th>measured ({})</th>", escape(unit(c.id)));
    for (const auto& fs : sets) out_ += fmt::format("<th class=\"first-of-group\">{}</th>", escape(fs));
    out_ += "</tr></thead>\n<tbody>\n";
    for (size_t n = 0; n < nets.size() && n < kMaxNetworks; ++n) {
      std::optional<size_t> first;
      for (size_t k : mine)
        if (text_at(preds_, k, "item") == nets[n]) {
          first = k;
          break;
        }
      out_ += fmt::format("<tr><td>{}</td>", escape(nets[n]));
      out_ += number_td(preds_, *first, "measured");
      for (const auto& fs : sets) {
        std::optional<size_t> row;
        for (size_t k : mine)
          if (text_at(preds_, k, "item") == nets[n] && text_at(preds_, k, "feature_set") == fs) row = k;
        if (!row) {
          out_ += "<td class=\"na first-of-group\">–</td>";
          continue;
        }
        const auto a = number_at(preds_, *row, "accuracy");
        out_ +=
            number_td(preds_, *row, "accuracy", a && *a >= 0.9 ? "first-of-group good" : "first-of-group");
      }
      out_ += "</tr>\n";
    }
    out_ += "</tbody>\n</table>\n";
    if (nets.size() > kMaxNetworks)
      out_ += fmt::format(
          "<p class=\"note\">First {} of {} networks; all are in <code>tables/predictions.csv</code>.</p>\n",
          kMaxNetworks, nets.size());
  }

  void about() {
    out_ += "<section id=\"about\">\n<h2>Method and files</h2>\n<dl class=\"defs\">\n";
    out_ += "<dt>accuracy</dt><dd>1 − mean(|predicted − measured| / measured) over held-out items.</dd>\n";
    out_ +=
        "<dt>RMSPE</dt><dd>root mean square of the relative error (predicted − measured) / measured.</dd>\n";
    out_ += "<dt>within ±10%</dt><dd>share of held-out items whose relative error is at most 10%.</dd>\n";
    out_ +=
        "<dt>complexity</dt><dd>non-zero coefficients of a model, intercept included; a whole-network "
        "model's "
        "complexity is the sum over its layer-type sub-models.</dd>\n";
    out_ +=
        "<dt>leave-one-network-out</dt><dd>each network is predicted by models fitted on all the other "
        "networks.</dd>\n";
    out_ +=
        "<dt>fixed split</dt><dd>models are fitted on about two thirds of the networks and tested on the "
        "rest.</dd>\n";
    out_ +=
        "<dt>feature sets</dt><dd><code>macs</code>: MACs only; <code>macs+1</code>: MACs and an intercept; "
        "<code>macs+mem</code>: MACs, input, output and weight bytes, intercept; <code>neuralpower</code>: "
        "polynomial hyper-parameter features chosen by Lasso; <code>counters</code>: hardware counters where "
        "measured.</dd>\n";
    out_ +=
        "<dt>files</dt><dd><code>results.json</code> (everything, with every table), "
        "<code>tables/combinations.csv</code>, <code>tables/models.csv</code>, "
        "<code>tables/layer_types.csv</code>, <code>tables/predictions.csv</code>, "
        "<code>tables/breakdown.csv</code>.</dd>\n";
    out_ +=
        "</dl>\n<h3>Combinations</h3>\n<table>\n<thead><tr><th>combination</th><th>hardware</"
        "th><th>software</th>"
        "<th>origin</th><th>target</th><th>measured per</th></tr></thead>\n<tbody>\n";
    for (const auto& c : r_.combinations)
      out_ += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                          escape(c.label), escape(c.hardware), escape(c.software), escape(c.origin),
                          escape(c.target), escape(c.granularity));
    out_ += "</tbody>\n</table>\n</section>\n";
  }
};

}  // namespace

std::string render_report_html(const StudyResults& results, const std::vector<Table>& tables) {
  return Page(results, tables).render();
}

}  // namespace convergy::report

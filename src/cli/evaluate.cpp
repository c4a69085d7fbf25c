// `convergy evaluate --measurements M.csv --target T [--features A,B,...] [--cv K|lono|split]
// [--format table|json]`: cross-validates feature sets and prints accuracy, RMSPE, MAPE, within +-10%,
// complexity and interval coverage per feature set and layer group, plus whole-network figures.
// Transfer splits (--split, --train-where/--test-where, --test-measurements) fit on one group, subset or file
// and predict another, with a row per held-out group and, for a test subset, a row per held-out network.
// With --select-terms N it first searches a compact set (forward stepwise selection, model/select.h) and then
// evaluates the set it found.
#include "cli/command.h"
#include "cli/format.h"
#include "cli/limits.h"
#include "model/evaluate.h"
#include "model/select.h"
#include "util/error.h"

#include <fmt/core.h>

#include <cmath>
#include <optional>

namespace convergy::cli {

model::Dataset load_measurements(const std::string& path, const std::string& target,
                                 const std::vector<std::string>& where);  // fit.cpp
void apply_method(model::FeatureSet& fs, const std::string& method);      // fit.cpp

namespace {

struct EvaluateOptions {
  std::string measurements, target, cv = "10", group, method;
  std::vector<std::string> features;
  std::vector<std::string> where;
  OutputFormat format = OutputFormat::Table;
  double coverage = 0.9;
  int max_terms = 0;
  uint64_t seed = 1;
  int select_terms = 0;
  std::string candidates = "auto";
  int shortlist = 8;
  uint64_t select_seed = 0;  // 0: seed + 1
  int exchange_passes = 2;
  bool select_nested = false;
  // Transfer splits.
  std::string split, test_measurements;
  std::vector<std::string> train_where, test_where;
  bool cv_given = false;
  std::string predictions;  // CSV of every held-out row's prediction
  std::string learning_curve;  // "1,2,4,8": training networks per point
  int draws = 5;
  bool draws_given = false;
  std::string stratify;  // --stratify COLUMN
  bool correct_drift = false;  // --correct-drift: scale the test file's predictions by the probe's drift
};

// The pieces of `text` between commas, empty ones included ("a,,b" -> a, "", b).
std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = text.find(',', start)) != std::string::npos; start = comma + 1)
    out.push_back(text.substr(start, comma - start));
  out.push_back(text.substr(start));
  return out;
}

// --features values: a value holding '=' is one custom spec (its commas separate terms); any other value is
// a comma-separated list of named sets.
std::vector<std::string> feature_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    if (v.find('=') != std::string::npos) {
      out.push_back(v);
      continue;
    }
    for (auto& one : split_commas(v))
      if (!one.empty()) out.push_back(std::move(one));
  }
  if (out.empty()) out = {"macs", "macs+1", "macs+mem", "transfer", "neuralpower"};  // transfer: fit's default
  return out;
}

uint64_t so_seed(const EvaluateOptions& opt) { return opt.select_seed ? opt.select_seed : opt.seed + 1; }

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.1f}%", 100 * v) : ""; }

// "93.9%", or "100.0% (4 unbounded)" when some intervals have an infinite bound (inside by default on that
// side).
std::string coverage_text(const model::Metrics& m) {
  if (!m.coverage) return "";
  return pct(*m.coverage) + (m.unbounded ? fmt::format(" ({} unbounded)", m.unbounded) : "");
}

// The median interval's upper bound over its lower one, "x1.73".
std::string width_text(const model::Metrics& m) {
  return m.median_width ? fmt::format("x{:.2f}", *m.median_width) : "";
}

void add_rows(Table& t, const std::string& set, const std::string& what, const model::Metrics& m,
              const std::string& complexity) {
  t.add_row({set, what, std::to_string(m.n), pct(m.accuracy), pct(m.rmspe), pct(m.mape), pct(m.median_ape),
             pct(m.within_10), std::isfinite(m.r2) ? fmt::format("{:.3f}", m.r2) : "", complexity,
             coverage_text(m), width_text(m)});
}

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : ""; }

// Which rows are held out: --cv (with --group), --split, or a subset/file split. Contradictory combinations
// are refused here, before any file is read.
void check_split_options(const EvaluateOptions& opt) {
  const bool subsets = !opt.train_where.empty() || !opt.test_where.empty() || !opt.test_measurements.empty();
  if (!opt.split.empty() && opt.cv_given)
    throw_bad_input("--split and --cv both choose the held-out rows, expected one of them");
  if (!opt.split.empty() && !opt.group.empty())
    throw_bad_input("--split {} with --group {}, expected the group in --split by:COLUMN alone", opt.split, opt.group);
  if (!opt.split.empty() && subsets)
    throw_bad_input("--split with --train-where/--test-where/--test-measurements, expected one way to hold rows out");
  if (subsets && (opt.cv_given || !opt.group.empty()))
    throw_bad_input("--train-where/--test-where/--test-measurements make one train/test split, expected no --cv or --group");
  if (opt.select_terms > 0 && (subsets || !opt.split.empty()))
    throw_bad_input("--select-terms searches by k-fold cross-validation, expected no --split, --train-where, "
                    "--test-where or --test-measurements with it");
  if (!opt.learning_curve.empty() && (subsets || !opt.split.empty() || opt.cv_given || !opt.group.empty() ||
                                      opt.select_terms > 0 || !opt.predictions.empty()))
    throw_bad_input(
        "--learning-curve draws its own training networks, expected no --cv, --group, --split, "
        "--train-where, --test-where, --test-measurements, --select-terms or --predictions with it");
  if (opt.draws_given && opt.learning_curve.empty())
    throw_bad_input("--draws {}: expected --learning-curve with it", opt.draws);
  if (!opt.stratify.empty() && opt.learning_curve.empty())
    throw_bad_input("--stratify {}: expected --learning-curve with it", opt.stratify);
  if (opt.correct_drift && opt.test_measurements.empty())
    throw_bad_input(
        "--correct-drift compares the operator probe in two files, expected --test-measurements with it");
  if (!opt.split.empty() && opt.split != "leave-one-family-out" && (!opt.split.starts_with("by:") || opt.split.size() == 3))
    throw_bad_input("--split \"{}\", expected leave-one-family-out or by:COLUMN", opt.split);
}

// The transfer tables: a row per held-out group (each direction of a leave-one-group-out split), and for a
// single train/test split a row per held-out network with its interval.
void print_splits(const model::Dataset& data, const model::EvalOptions& eo, const std::vector<model::Evaluation>& results) {
  const bool layers = data.kind == model::DataKind::Layers;
  Table t({{"features"},
           {"held out"},
           {"train rows", Align::Right},
           {"test rows", Align::Right},
           {layers ? "networks" : "n", Align::Right},
           {"accuracy", Align::Right},
           {"MAPE", Align::Right},
           {"within 10%", Align::Right},
           {"coverage", Align::Right},
           {"width", Align::Right}});
  for (const auto& e : results)
    for (const auto& sr : e.splits) {
      const model::Metrics& m = sr.networks ? *sr.networks : sr.rows;
      t.add_row({e.feature_set, sr.held_out, std::to_string(sr.train_rows), std::to_string(sr.test_rows),
                 std::to_string(m.n), pct(m.accuracy), pct(m.mape), pct(m.within_10), coverage_text(m),
                 width_text(m)});
    }
  fmt::print("\nper held-out {} ({}; pooled above{}):\n{}", eo.mode == model::CvMode::Subsets ? "subset" : "group",
             layers ? "networks are sums of their layers, bounds the sums of theirs" : "every held-out row",
             layers ? " as \"networks (sum of layers)\"" : "", t.text());
  if (eo.mode != model::CvMode::Subsets) return;
  constexpr size_t kListed = 100;  // longer lists are for --format json
  for (const auto& e : results) {
    std::vector<model::HeldOutItem> items = model::held_out_items(data, e);
    if (items.size() > kListed) {
      fmt::print("\n{}: {} held-out items (--format json lists each)\n", e.feature_set, items.size());
      continue;
    }
    Table p({{"item"}, {"measured", Align::Right}, {"predicted", Align::Right}, {"error", Align::Right},
             {"lower", Align::Right}, {"upper", Align::Right}, {"inside"}});
    // An infinite bound prints as -inf/inf: the item is counted in the coverage like any other, and the
    // reader sees which "yes" says nothing on that side.
    auto bound = [](double v) {
      return std::isnan(v) ? std::string() : std::isinf(v) ? (v < 0 ? "-inf" : "inf") : num(v);
    };
    for (const auto& it : items) {
      const bool any = !std::isnan(it.lower) && !std::isnan(it.upper);
      const bool inside = it.measured >= it.lower && it.measured <= it.upper;
      const bool unbounded = any && (std::isinf(it.lower) || std::isinf(it.upper));
      p.add_row({it.label, num(it.measured), num(it.predicted),
                 pct((it.predicted - it.measured) / it.measured), bound(it.lower), bound(it.upper),
                 !any ? "" : std::string(inside ? "yes" : "no") + (unbounded ? " (unbounded)" : "")});
    }
    fmt::print("\n{} ({}):\n{}", e.feature_set, e.method, p.text());
  }
}

// Every held-out row with its prediction and interval, one line per row and feature set, for residual
// analysis (which layers a model gets wrong).
// `dw[k]`: whether results[k]'s feature set makes depthwise convolutions a group of their own.
void write_predictions(const std::string& path, const model::Dataset& data,
                       const std::vector<model::Evaluation>& results, const std::vector<bool>& dw) {
  const std::string& t = data.target;
  Table table({{"feature_set"},
               {"method"},
               {"item"},
               {"network"},
               {"group"},
               {"fold"},
               {"measured_" + t},
               {"predicted_" + t},
               {"error"},
               {"lower_" + t},
               {"upper_" + t}});
  for (size_t k = 0; k < results.size(); ++k) {
    const model::Evaluation& e = results[k];
    for (size_t i = 0; i < data.samples.size(); ++i) {
      if (i >= e.fold.size() || e.fold[i] < 0 || !std::isfinite(e.predicted[i])) continue;
      const model::Sample& s = data.samples[i];
      std::string group = "net";
      if (s.layers.size() == 1) {
        const auto g = model::layer_group(*s.layers.front(), dw[k]);
        group = g ? std::string(model::group_name(*g)) : "none";
      }
      table.add_row({e.feature_set, e.method, s.label, s.network ? s.group : "", group,
                     std::to_string(e.fold[i]), num(s.measured), num(e.predicted[i]),
                     num((e.predicted[i] - s.measured) / s.measured),
                     i < e.lower.size() ? num(e.lower[i]) : "", i < e.upper.size() ? num(e.upper[i]) : ""});
    }
  }
  write_output_file(path, "--predictions " + path, [&](std::ostream& f) { f << table.csv(); });
}

// "1,2,4,8" -> {1, 2, 4, 8}: training units per point of --learning-curve.
std::vector<size_t> parse_sizes(const std::string& text) {
  std::vector<size_t> out;
  for (const std::string& one : split_commas(text)) {
    char* end = nullptr;
    const long long v = std::strtoll(one.c_str(), &end, 10);
    if (one.empty() || end != one.c_str() + one.size() || v < 1 || v > 100000000)
      throw_bad_input(
          "--learning-curve \"{}\": \"{}\" is not a count, expected whole numbers >= 1 separated by "
          "commas, e.g. 1,2,4,8",
          text, one);
    out.push_back(static_cast<size_t>(v));
  }
  return out;
}

// --learning-curve: per feature set, a row per size with the accuracy on the networks not drawn.
int run_learning_curve(const EvaluateOptions& opt, const model::Dataset& data, model::EvalOptions eo) {
  model::LearningCurveOptions lo;
  lo.sizes = parse_sizes(opt.learning_curve);
  lo.draws = opt.draws;
  lo.stratify = opt.stratify;
  lo.eval = std::move(eo);
  std::vector<model::LearningCurve> curves;
  for (const auto& name : feature_list(opt.features)) {
    model::FeatureSet fs = model::parse_feature_set(name);
    apply_method(fs, opt.method);
    model::Design design = model::build_design(data, fs);
    curves.push_back(model::learning_curve(data, design, lo));
  }
  if (opt.format == OutputFormat::Json) {
    Json j = {{"measurements", opt.measurements},
              {"target", opt.target},
              {"unit", model::target_unit(opt.target)},
              {"data_kind", model::data_kind_name(data.kind)},
              {"samples", data.samples.size()},
              {"seed", opt.seed},
              {"coverage", opt.coverage}};
    j["where"] = opt.where;
    Json cs = Json::array();
    for (const auto& c : curves) cs.push_back(Json::parse(model::learning_curve_to_json(c).dump()));
    j["learning_curves"] = cs;
    fmt::print("{}", json_text(j));
    return 0;
  }
  const std::string unit = curves.empty() ? "network" : curves.front().unit;
  Table t({{"features"},
           {"train " + unit + "s", Align::Right},
           {"test " + unit + "s", Align::Right},
           {"draws", Align::Right},
           {"accuracy", Align::Right},
           {"min draw", Align::Right},
           {"max draw", Align::Right},
           {"within 10%", Align::Right},
           {"complexity", Align::Right},
           {"coverage", Align::Right},
           {"width", Align::Right}});
  for (const auto& c : curves)
    for (const auto& p : c.points) {
      const auto [worst, best] = p.accuracy_range();
      t.add_row({c.feature_set, std::to_string(p.train_units), std::to_string(p.test_units),
                 std::to_string(p.accuracy.size()), pct(p.pooled.accuracy), pct(worst), pct(best),
                 pct(p.pooled.within_10), std::to_string(p.complexity), coverage_text(p.pooled),
                 width_text(p.pooled)});
    }
  if (opt.format == OutputFormat::Csv) {
    fmt::print("{}", t.csv());
    return 0;
  }
  std::string where;
  for (const auto& w : opt.where) where += " " + w;
  fmt::print(
      "{}{}: {} {} rows ({} {}s besides the operator probe), target {} ({}); per size, {} draws of training "
      "{}s at random{} (seed {}), each predicting every {} not drawn; accuracy pooled over the draws, "
      "{:.0f}% "
      "intervals\n{}",
      opt.measurements, where, data.samples.size(), model::data_kind_name(data.kind),
      curves.empty() ? 0 : curves.front().units, unit, opt.target, model::target_unit(opt.target), opt.draws,
      unit, opt.stratify.empty() ? "" : ", spread over the values of " + opt.stratify, opt.seed, unit,
      100 * opt.coverage, t.text());
  return 0;
}

int run_evaluate(const EvaluateOptions& opt) {
  check_split_options(opt);
  model::EvalOptions eo;
  for (const auto& w : opt.train_where) eo.train_where.push_back(model::parse_row_filter(w, "--train-where"));
  for (const auto& w : opt.test_where) eo.test_where.push_back(model::parse_row_filter(w, "--test-where"));
  model::Dataset data = load_measurements(opt.measurements, opt.target, opt.where);
  if (!opt.test_measurements.empty())
    model::merge_test_data(data, load_measurements(opt.test_measurements, opt.target, {}));
  eo.group_column = opt.group;
  eo.fit.coverage = opt.coverage;
  eo.fit.max_terms = opt.max_terms;
  eo.fit.seed = opt.seed;
  if (!opt.learning_curve.empty()) return run_learning_curve(opt, data, eo);
  // The machine's drift between the two files' campaigns, as the operator probe measured it in both.
  std::optional<model::ProbeAnchor> anchor;
  if (opt.correct_drift) {
    anchor = model::probe_anchor(data);
    if (!anchor)
      throw_bad_input(
          "{} and {}: --correct-drift needs the operator probe's rows (network probe) in both files, "
          "expected `convergy profile probe` in each campaign",
          opt.measurements, opt.test_measurements);
    eo.test_scale = anchor->ratio();
  }
  const bool subsets = !eo.train_where.empty() || !eo.test_where.empty() || !opt.test_measurements.empty();
  if (!opt.split.empty()) {
    eo.mode = model::CvMode::LeaveOneGroupOut;
    eo.group_column = opt.split == "leave-one-family-out" ? "family" : opt.split.substr(3);
    eo.per_split = true;
  } else if (subsets) {
    eo.mode = model::CvMode::Subsets;
    eo.per_split = true;
  } else if (opt.cv == "lono") {
    eo.mode = model::CvMode::LeaveOneGroupOut;
  } else if (opt.cv == "split") {
    eo.mode = model::CvMode::Split;
  } else {
    char* end = nullptr;
    long k = std::strtol(opt.cv.c_str(), &end, 10);
    if (end == opt.cv.c_str() || *end || k < 2 || k > 100000)
      throw_bad_input("--cv \"{}\", expected a fold count >= 2, lono or split", opt.cv);
    eo.folds = static_cast<int>(k);
  }
  std::optional<model::Selection> selection;
  std::optional<model::NestedSelection> nested;
  std::vector<std::string> sets = feature_list(opt.features);
  if (opt.select_terms > 0) {
    // The search judges candidates on folds of another seed than the final evaluation's, so the reported
    // figure is not the one the search maximised (it stays optimistic: the data are the same).
    model::SelectOptions so;
    so.max_terms = opt.select_terms;
    so.shortlist = opt.shortlist;
    so.exchange_passes = opt.exchange_passes;
    so.eval = eo;
    so.eval.fit.seed = opt.select_seed ? opt.select_seed : opt.seed + 1;
    model::Method method = model::Method::Lad;
    if (!opt.method.empty()) {
      model::FeatureSet probe = model::parse_feature_set("conv=1");
      apply_method(probe, opt.method);
      method = probe.method;
    }
    model::FeatureSet pool;
    if (opt.candidates == "auto") {
      pool = model::candidate_pool(data, method);
    } else {
      pool = model::parse_feature_set(opt.candidates);
      if (!opt.method.empty()) pool.method = method;
    }
    selection = model::select_terms(data, pool, so);
    sets = {selection->spec};
    if (opt.select_nested) nested = model::select_terms_nested(data, pool, so, opt.seed);
  }
  std::vector<model::Evaluation> results;
  std::vector<bool> dw_groups;
  for (const auto& name : sets) {
    model::FeatureSet fs = model::parse_feature_set(name);
    apply_method(fs, opt.method);
    model::Design design = model::build_design(data, fs);
    results.push_back(model::evaluate(data, design, eo));
    dw_groups.push_back(design.features.depthwise_group());
  }
  if (!opt.predictions.empty()) write_predictions(opt.predictions, data, results, dw_groups);
  const std::string unit = model::target_unit(opt.target);
  if (opt.format == OutputFormat::Json) {
    Json j = {{"measurements", opt.measurements}, {"target", opt.target}, {"unit", unit},
              {"data_kind", model::data_kind_name(data.kind)}, {"samples", data.samples.size()},
              {"skipped_unmeasured", data.skipped_unmeasured}};
    j["where"] = opt.where;
    j["skipped_network_rows"] = data.skipped_network_rows;
    if (selection) {
      Json steps = Json::array();
      for (const auto& st : selection->steps)
        steps.push_back({{"term", st.term},
                         {"replaced", st.replaced.empty() ? Json(nullptr) : Json(st.replaced)},
                         {"accuracy", st.accuracy},
                         {"within_10pct", st.within_10},
                         {"judged", st.judged}});
      j["selection"] = {{"candidates", selection->candidates}, {"cv", selection->cv}, {"seed", so_seed(opt)},
                        {"steps", steps}, {"spec", selection->spec}};
      if (nested)
        j["selection"]["nested"] = {{"cv", nested->cv},
                                    {"accuracy", nested->rows.accuracy},
                                    {"within_10pct", nested->rows.within_10},
                                    {"specs", nested->specs}};
    }
    j["split"] = opt.split.empty() ? Json(nullptr) : Json(opt.split);
    j["train_where"] = opt.train_where;
    j["test_where"] = opt.test_where;
    j["test_measurements"] = opt.test_measurements.empty() ? Json(nullptr) : Json(opt.test_measurements);
    j["drift_correction"] = anchor ? Json{{"anchor", "operator probe"},
                                          {"train_total", anchor->train_total},
                                          {"test_total", anchor->test_total},
                                          {"scale", anchor->ratio()}}
                                   : Json(nullptr);
    Json rs = Json::array();
    for (const auto& e : results) {
      Json one = Json::parse(model::evaluation_to_json(e).dump());
      if (eo.mode == model::CvMode::Subsets) {
        // Each held-out network, as `convergy predict` would give it after fitting on the training rows.
        Json items = Json::array();
        for (const auto& it : model::held_out_items(data, e)) {
          const bool bounds = std::isfinite(it.lower) && std::isfinite(it.upper);
          items.push_back({{"item", it.label},
                           {"measured", it.measured},
                           {"predicted", it.predicted},
                           {"lower", bounds ? Json(it.lower) : Json(nullptr)},
                           {"upper", bounds ? Json(it.upper) : Json(nullptr)},
                           {"inside", bounds ? Json(it.measured >= it.lower && it.measured <= it.upper) : Json(nullptr)}});
        }
        one["predictions"] = std::move(items);
      }
      rs.push_back(std::move(one));
    }
    j["results"] = rs;
    fmt::print("{}", json_text(j));
    return 0;
  }
  Table t({{"features"},
           {"rows"},
           {"n", Align::Right},
           {"accuracy", Align::Right},
           {"RMSPE", Align::Right},
           {"MAPE", Align::Right},
           {"median APE", Align::Right},
           {"within 10%", Align::Right},
           {"R2", Align::Right},
           {"complexity", Align::Right},
           {"coverage", Align::Right},
           {"width", Align::Right}});
  const bool networks = data.kind == model::DataKind::Networks;
  for (const auto& e : results) {
    add_rows(t, e.feature_set, networks ? "networks" : "layers", e.rows, std::to_string(e.complexity));
    if (e.by_group.size() > 1 || (!networks && !e.by_group.empty() && e.by_group.begin()->second.n != e.rows.n))
      for (const auto& [g, m] : e.by_group) {
        auto c = e.complexity_by_group.find(g);
        add_rows(t, "", "  " + g, m, c == e.complexity_by_group.end() ? "0" : std::to_string(c->second));
      }
    if (e.networks) add_rows(t, "", "networks (sum of layers)", *e.networks, "");
  }
  if (selection) {
    Table st({{"step", Align::Right}, {"term added"}, {"replacing"}, {"accuracy", Align::Right},
              {"within 10%", Align::Right}, {"judged", Align::Right}});
    for (size_t i = 0; i < selection->steps.size(); ++i) {
      const auto& step = selection->steps[i];
      st.add_row({std::to_string(i + 1), step.term, step.replaced, pct(step.accuracy), pct(step.within_10),
                  std::to_string(step.judged)});
    }
    fmt::print("forward selection from {} candidate terms, judged by {} cross-validation (seed {}):\n{}selected: {}\n\n",
               selection->candidates, selection->cv, so_seed(opt), st.text(), selection->spec);
    if (nested) {
      fmt::print("the selection itself, {} (terms selected again without each held-out fold): accuracy {}, within "
                 "10% {}; sets selected per fold:\n",
                 nested->cv, pct(nested->rows.accuracy), pct(nested->rows.within_10));
      for (const auto& spec : nested->specs) fmt::print("  {}\n", spec);
      fmt::print("\n");
    }
  }
  std::string where;
  for (const auto& w : opt.where) where += " " + w;
  if (!opt.test_measurements.empty()) where += " -> " + opt.test_measurements;
  if (data.skipped_network_rows)
    where += fmt::format(" (skipped {} whole-network rows)", data.skipped_network_rows);
  fmt::print("{}{}: {} {} rows, target {} ({}), {}, {:.0f}% intervals\n{}", opt.measurements, where,
             data.samples.size(), model::data_kind_name(data.kind), opt.target, unit,
             results.empty() ? "" : results.front().cv, 100 * opt.coverage, t.text());
  if (anchor)
    fmt::print(
        "drift: the operator probe took {:.4g} {} in {} and {:.4g} in {} ({:+.1f}%); every prediction and "
        "bound of the test rows above is multiplied by {:.4f}\n",
        anchor->train_total, unit, opt.measurements, anchor->test_total, opt.test_measurements,
        100 * (anchor->ratio() - 1), anchor->ratio());
  if (eo.per_split) print_splits(data, eo, results);
  return 0;
}

const Command kEvaluate({"evaluate", "Cross-validate predictive models on measurements", 55, [](CLI::App& app) {
  add_limit_options(app);
  auto opt = std::make_shared<EvaluateOptions>();
  app.add_option("--measurements", opt->measurements, "CSV with a header row (see docs/models.md)")->required();
  app.add_option("--target", opt->target, "energy_mj or time_ms")->required()->check(CLI::IsMember({"energy_mj", "time_ms"}));
  app.add_option("--features", opt->features,
                 "Named sets, comma-separated (default macs,macs+1,macs+mem,transfer,neuralpower); repeat the option for a "
                 "custom spec such as \"conv=macs,1;fc=macs,1\"");
  auto* cv = app.add_option("--cv", opt->cv, "K (k-fold; grouped by network when rows name networks), lono, or split")
                ->capture_default_str();
  app.add_option("--group", opt->group, "Column whose rows share a fold, e.g. family (with --cv lono: leave-one-family-out)");
  app.add_option("--split", opt->split,
                 "Transfer: leave-one-family-out, or by:COLUMN (hold out each value of COLUMN in turn; COLUMN may be "
                 "net.grouped, net.depthwise, net.residual or net.structure); instead of --cv");
  app.add_option("--train-where", opt->train_where,
                 "Transfer: fit only on rows with COLUMN=VALUE or COLUMN!=VALUE (repeatable, all must hold; net.* "
                 "columns as for --split)");
  app.add_option("--test-where", opt->test_where,
                 "Transfer: predict the rows with COLUMN=VALUE or COLUMN!=VALUE (repeatable; default: the rows "
                 "--train-where leaves out)");
  app.add_option("--test-measurements", opt->test_measurements,
                 "Transfer: fit on --measurements, predict the rows of this CSV (same kind of rows and target)");
  app.add_flag(
      "--correct-drift", opt->correct_drift,
      "With --test-measurements: multiply the test rows' predictions and bounds by the operator probe's "
      "total in that file over its total in --measurements (the machine's drift between the campaigns)");
  app.add_option("--method", opt->method, "Override the regression: ols, wls, nnls, ridge, lasso, lad, loglinear");
  app.add_option(
      "--where", opt->where,
      "Keep only rows with COLUMN=VALUE or COLUMN!=VALUE (repeatable), e.g. rail=cpu; COLUMN may be a "
      "derived net.* column, e.g. net.structure=plain");
  app.add_option("--coverage", opt->coverage, "Prediction interval coverage")->capture_default_str()->check(CLI::Range(0.5, 0.999));
  app.add_option("--max-terms", opt->max_terms, "Lasso: keep at most this many terms (0 = CV decides)");
  app.add_option("--seed", opt->seed, "Seed of the fold assignment")->capture_default_str();
  app.add_option("--select-terms", opt->select_terms,
                 "Search a set of at most N terms by forward selection on cross-validated accuracy, then evaluate it "
                 "(method: --method, default lad)");
  app.add_option("--candidates", opt->candidates,
                 "Selection pool: auto (built from the data) or a spec such as \"conv=macs,in_elems,1\"")
      ->capture_default_str();
  app.add_option("--shortlist", opt->shortlist,
                 "Selection: candidates per step judged with the method itself after a least-squares screen (0 = all)")
      ->capture_default_str();
  app.add_option("--select-seed", opt->select_seed, "Selection: seed of the search's folds (default: --seed + 1)");
  app.add_option("--exchange-passes", opt->exchange_passes,
                 "Selection: passes that try to replace each selected term by a better candidate")
      ->capture_default_str();
  app.add_option("--predictions", opt->predictions,
                 "Write every held-out row's prediction, error and interval to this CSV (residual analysis)");
  app.add_flag("--select-nested", opt->select_nested,
               "Selection: also estimate the selection's accuracy by nested cross-validation (slow: one search per fold)");
  app.add_option(
      "--learning-curve", opt->learning_curve,
      "How many networks a new device needs: for each count (e.g. 1,2,4,8), fit on that many networks "
      "drawn at random (with the operator probe, if measured) and predict all the others");
  app.add_option(
      "--stratify", opt->stratify,
      "With --learning-curve: spread each draw over the values of this column (e.g. net.structure: "
      "plain, grouped and residual networks in turn)");
  auto* draws = app.add_option("--draws", opt->draws, "With --learning-curve: random draws per count")
                    ->capture_default_str()
                    ->check(CLI::Range(1, 1000));
  add_format_option(app, opt->format);
  return [opt, cv, draws] {
    opt->cv_given = cv->count() > 0;
    opt->draws_given = draws->count() > 0;
    return run_evaluate(*opt);
  };
}});

}  // namespace
}  // namespace convergy::cli

// `convergy fit --measurements M.csv --target energy_mj|time_ms [--features SET] --out MODEL.json`: fits a
// predictive model from per-layer rows, whole-network totals or standalone layers, and writes its JSON.
// Also home of the measurement loader that evaluate shares.
#include "cli/command.h"
#include "cli/limits.h"
#include "features/features.h"
#include "model/dataset.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "util/error.h"

#include <fmt/core.h>

#include <algorithm>
#include <set>

namespace convergy::cli {

std::shared_ptr<const NetworkFeatures> load_network_features(const std::string& reference);  // predict.cpp

// Reads the CSV, keeps rows matching every `--where COLUMN=VALUE` / `COLUMN!=VALUE`, and resolves the
// networks it names. A filter on a CSV column applies before the networks are resolved, one on a derived
// column (`net.structure=plain`, model::derived_columns()) after.
model::Dataset load_measurements(const std::string& path, const std::string& target,
                                 const std::vector<std::string>& where) {
  model::CsvTable csv = model::CsvTable::read_file(path);
  std::vector<model::RowFilter> on_networks;
  const auto& derived = model::derived_columns();
  for (const auto& w : where) {
    model::RowFilter f = model::parse_row_filter(w, "--where");
    if (std::find(derived.begin(), derived.end(), f.column) != derived.end()) {
      on_networks.push_back(std::move(f));
      continue;
    }
    if (!csv.has_column(f.column) && csv.has_column("network"))  // name the derived columns too
      throw_bad_input("{}: no column \"{}\" (columns: {})", path, f.column,
                      model::column_list(csv.header(), true));
    csv = csv.where(f.column, f.value, f.equal);
    if (csv.rows() == 0) throw_bad_input("{}: no row has {}", path, w);
  }
  model::Dataset data =
      model::load_dataset(csv, target, [](const std::string& ref) { return load_network_features(ref); });
  model::keep_rows(data, on_networks);
  return data;
}

// Applies --method to a parsed feature set (an override of the set's default).
void apply_method(model::FeatureSet& fs, const std::string& method) {
  if (method.empty()) return;
  auto m = model::method_from_name(method);
  if (!m) throw_bad_input("--method \"{}\", expected ols, wls, nnls, ridge, lasso, lad or loglinear", method);
  fs.method = *m;
}

namespace {

struct FitCliOptions {
  std::string measurements, target, features = "transfer", out, method;
  std::vector<std::string> where;
  std::string device, backend, sensor;
  double coverage = 0.9;
  int max_terms = 0;
  uint64_t seed = 1;
};

// The single value of a provenance column, if the CSV has one and it is the same in every training row.
std::string column_value(const model::Dataset& d, const std::string& column, const std::vector<size_t>& rows) {
  for (size_t c = 0; c < d.header.size(); ++c) {
    if (d.header[c] != column) continue;
    std::set<std::string> values;
    for (size_t r : rows) values.insert(d.samples[r].columns[c]);
    if (values.size() == 1) return *values.begin();
  }
  return "";
}

int run_fit(const FitCliOptions& opt) {
  model::Dataset data = load_measurements(opt.measurements, opt.target, opt.where);
  model::FeatureSet fs = model::parse_feature_set(opt.features);
  apply_method(fs, opt.method);
  std::vector<size_t> rows;
  bool has_split = false;
  for (const auto& h : data.header) has_split = has_split || h == "split";
  for (size_t i = 0; i < data.samples.size(); ++i)
    if (!has_split || data.samples[i].split == "train") rows.push_back(i);
  if (rows.empty()) throw_bad_input("{}: the \"split\" column marks no row as train", opt.measurements);
  model::Design design = model::build_design(data, fs);
  model::FitOptions fo;
  fo.coverage = opt.coverage;
  fo.max_terms = opt.max_terms;
  fo.seed = opt.seed;
  model::Model m = model::fit_model(data, design, rows, fo);
  m.provenance.device = !opt.device.empty() ? opt.device : column_value(data, "device", rows);
  m.provenance.backend = !opt.backend.empty() ? opt.backend : column_value(data, "backend", rows);
  m.provenance.sensor = !opt.sensor.empty() ? opt.sensor : column_value(data, "sensor", rows);
  for (const auto& w : opt.where) m.provenance.data_path += " [" + w + "]";
  model::save_model(m, opt.out);
  fmt::print("fitted {} ({} rows, {}) on {}: {} terms", m.id(), rows.size(), data_kind_name(data.kind), m.target,
             m.complexity());
  if (m.interval)
    fmt::print(", {:.0f}% interval x[{:.3f}, {:.3f}]", 100 * m.interval->coverage, m.interval->lower_ratio,
               m.interval->upper_ratio);
  if (m.network_interval)
    fmt::print(" per layer, x[{:.3f}, {:.3f}] per network inside the domain ({} networks)",
               m.network_interval->lower_ratio, m.network_interval->upper_ratio,
               m.network_interval->calibration_rows);
  if (data.skipped_network_rows) fmt::print(", skipped {} whole-network rows", data.skipped_network_rows);
  fmt::print(" -> {}\n", opt.out);
  // What the calibration could not give: a level below the one asked, a network interval not calibrated.
  if (m.interval && m.interval->coverage < fo.coverage - 1e-12)
    fmt::print(
        "  interval: {} calibration rows give at most a {:.1f}% interval (their [min, max]), not the {:.0f}% "
        "asked; more rows, or a lower --coverage, give the level asked\n",
        m.interval->calibration_rows, 100 * m.interval->coverage, 100 * fo.coverage);
  std::set<std::string> networks;
  for (size_t r : rows)
    if (!data.samples[r].probe) networks.insert(data.samples[r].group);
  if (data.kind == model::DataKind::Layers && !m.network_interval && m.interval &&
      networks.size() < model::kMinLogNormalCalibration)
    fmt::print(
        "  no network interval: an interval of network totals needs at least {} training networks, not {}; "
        "every network gets the per-layer interval, far wider\n",
        model::kMinLogNormalCalibration, networks.size());
  // The calibrations that assumed log-normal errors, being too few for conformal ranks at this coverage.
  const bool layers = data.kind == model::DataKind::Layers;
  auto log_normal_note = [&](const model::IntervalCalibration& c, const char* which, const char* items) {
    fmt::print(
        "  {} interval: {} calibration {} are too few for conformal ranks at {:.0f}%; its bounds assume "
        "log-normal errors (Student's t)\n",
        which, c.calibration_rows, items, 100 * fo.coverage);
  };
  if (m.interval && m.interval->log_normal)
    log_normal_note(*m.interval, layers ? "per-layer" : "the",
                    layers                                   ? "layers"
                    : data.kind == model::DataKind::Networks ? "networks"
                                                             : "rows");
  if (m.network_interval && m.network_interval->log_normal)
    log_normal_note(*m.network_interval, "network", "networks");
  // Every term the fit left out, and why: a term the data cannot identify must not look fitted.
  for (const auto& d : m.dropped) fmt::print("  dropped {}: {}\n", d.term, d.reason);
  return 0;
}

const Command kFit({"fit", "Fit a predictive model (energy or latency) from measurements", 50, [](CLI::App& app) {
  add_limit_options(app);
  auto opt = std::make_shared<FitCliOptions>();
  app.add_option("--measurements", opt->measurements, "CSV with a header row (see docs/models.md)")->required();
  app.add_option("--target", opt->target, "energy_mj or time_ms")->required()->check(CLI::IsMember({"energy_mj", "time_ms"}));
  app.add_option("--features", opt->features, "transfer, macs, macs+1, macs+mem, compact, neuralpower, counters, or a spec such as "
                                              "\"conv=macs,in_bytes,1;fc=macs,1\"")->capture_default_str();
  app.add_option("--out", opt->out, "Model JSON to write")->required();
  app.add_option("--method", opt->method, "Override the regression: ols, wls, nnls, ridge, lasso, lad, loglinear");
  app.add_option(
      "--where", opt->where,
      "Keep only rows with COLUMN=VALUE or COLUMN!=VALUE (repeatable), e.g. rail=cpu; COLUMN may be a "
      "derived net.* column, e.g. net.structure=plain");
  app.add_option("--device", opt->device, "Provenance: device (default: the CSV's device column)");
  app.add_option("--backend", opt->backend, "Provenance: backend (default: the CSV's backend column)");
  app.add_option("--sensor", opt->sensor, "Provenance: sensor (default: the CSV's sensor column)");
  app.add_option("--coverage", opt->coverage, "Prediction interval coverage")->capture_default_str()->check(CLI::Range(0.5, 0.999));
  app.add_option("--max-terms", opt->max_terms, "Lasso: keep at most this many terms (0 = CV decides)");
  app.add_option("--seed", opt->seed, "Seed of the calibration and Lasso folds")->capture_default_str();
  return [opt] { return run_fit(*opt); };
}});

}  // namespace
}  // namespace convergy::cli

// Cross-validation and metrics for predictive models (see evaluate.h).
#include "model/evaluate.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

namespace convergy::model {

Metrics compute_metrics(const std::vector<double>& measured, const std::vector<double>& predicted,
                        const std::vector<double>& lower, const std::vector<double>& upper) {
  Metrics m;
  m.n = measured.size();
  if (m.n == 0) return m;
  std::vector<double> ape(m.n);
  double se = 0, sq = 0, mean = 0;
  size_t within = 0, covered = 0;
  for (size_t i = 0; i < m.n; ++i) {
    double rel = (predicted[i] - measured[i]) / measured[i];
    ape[i] = std::abs(rel);
    sq += rel * rel;
    se += (predicted[i] - measured[i]) * (predicted[i] - measured[i]);
    mean += measured[i];
    within += ape[i] <= 0.10;
    if (!lower.empty()) covered += measured[i] >= lower[i] && measured[i] <= upper[i];
  }
  const double n = static_cast<double>(m.n);
  mean /= n;
  double ss = 0;
  for (double v : measured) ss += (v - mean) * (v - mean);
  m.mape = std::accumulate(ape.begin(), ape.end(), 0.0) / n;
  m.accuracy = 1.0 - m.mape;
  m.rmspe = std::sqrt(sq / n);
  std::sort(ape.begin(), ape.end());
  m.median_ape = m.n % 2 ? ape[m.n / 2] : 0.5 * (ape[m.n / 2 - 1] + ape[m.n / 2]);
  m.within_10 = static_cast<double>(within) / n;
  m.r2 = ss > 0 ? 1.0 - se / ss : std::numeric_limits<double>::quiet_NaN();
  if (!lower.empty()) m.coverage = static_cast<double>(covered) / n;
  return m;
}

namespace {

// Group key of each sample: the named column, else the network, else the row itself.
std::vector<std::string> group_keys(const Dataset& data, const std::string& column) {
  std::vector<std::string> keys;
  int col = -1;
  if (!column.empty()) {
    for (size_t i = 0; i < data.header.size(); ++i)
      if (data.header[i] == column) col = static_cast<int>(i);
    if (col < 0) {
      std::string cols;
      for (const auto& h : data.header) cols += (cols.empty() ? "" : ", ") + h;
      throw_bad_input("{}: no column \"{}\" to group by (columns: {})", data.path, column, cols);
    }
  }
  for (const auto& s : data.samples) keys.push_back(col >= 0 ? s.columns[static_cast<size_t>(col)] : s.group);
  return keys;
}

}  // namespace

Folds make_folds(const Dataset& data, const EvalOptions& options) {
  const size_t n = data.samples.size();
  Folds out;
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  out.final_train = all;
  auto& train_sets = out.train;
  auto& test_sets = out.test;

  if (options.mode == CvMode::Split) {
    std::vector<size_t> train, test;
    for (size_t i = 0; i < n; ++i) {
      const auto& s = data.samples[i].split;
      if (s == "train") train.push_back(i);
      else if (s == "test") test.push_back(i);
    }
    if (train.empty() || test.empty())
      throw_bad_input("{}: --cv split needs a \"split\" column with both train and test rows (got {} train, {} test)",
                      data.path, train.size(), test.size());
    train_sets.push_back(train);
    test_sets.push_back(test);
    out.final_train = train;
    out.cv = "split";
  } else {
    const std::string column = options.group_column;
    std::vector<std::string> keys = group_keys(data, column);
    std::unordered_map<std::string, size_t> unit_of;
    std::vector<std::string> units;
    for (const auto& k : keys)
      if (unit_of.emplace(k, units.size()).second) units.push_back(k);
    std::string what = column.empty() ? (data.kind == DataKind::Standalone ? "row" : "network") : column;
    size_t k;
    std::vector<size_t> fold_of_unit(units.size());
    if (options.mode == CvMode::LeaveOneGroupOut) {
      k = units.size();
      std::iota(fold_of_unit.begin(), fold_of_unit.end(), 0);
      out.cv = "leave-one-" + what + "-out";
    } else {
      k = static_cast<size_t>(std::max(2, options.folds));
      if (units.size() < k)
        throw_bad_input("{}: {}-fold cross-validation needs at least {} {}s, got {}", data.path, k, k, what, units.size());
      std::vector<size_t> order(units.size());
      std::iota(order.begin(), order.end(), 0);
      std::mt19937_64 rng(options.fit.seed);
      std::shuffle(order.begin(), order.end(), rng);
      for (size_t i = 0; i < order.size(); ++i) fold_of_unit[order[i]] = i % k;
      out.cv = fmt::format("{}-fold{}", k, what == "row" ? std::string() : " grouped by " + what);
    }
    if (k < 2) throw_bad_input("{}: cross-validation needs at least 2 groups, got {}", data.path, k);
    train_sets.resize(k);
    test_sets.resize(k);
    for (size_t i = 0; i < n; ++i) {
      size_t f = fold_of_unit[unit_of[keys[i]]];
      for (size_t g = 0; g < k; ++g) (g == f ? test_sets[g] : train_sets[g]).push_back(i);
    }
  }
  return out;
}

Evaluation evaluate(const Dataset& data, const Design& design, const EvalOptions& options) {
  const size_t n = data.samples.size();
  Evaluation e;
  e.feature_set = design.features.name;
  e.method = std::string(method_name(design.features.method));
  Folds folds = make_folds(data, options);
  const auto& train_sets = folds.train;
  const auto& test_sets = folds.test;
  const auto& final_train = folds.final_train;
  e.cv = folds.cv;
  e.folds = test_sets.size();

  const double nan = std::numeric_limits<double>::quiet_NaN();
  e.predicted.assign(n, nan);
  e.lower.assign(n, nan);
  e.upper.assign(n, nan);
  bool intervals = true;
  // The interval answers the question the evaluation asks: random folds test interpolation, so the
  // calibration folds are random too; leaving a group out tests transfer, so the calibration leaves one of
  // the training groups out in turn (FitOptions::calibration_group).
  FitOptions fit_options = options.fit;
  if (options.mode == CvMode::LeaveOneGroupOut && !options.group_column.empty())
    fit_options.calibration_group = options.group_column;
  else if (options.mode == CvMode::KFold)
    fit_options.calibration_group.clear();
  for (size_t f = 0; f < test_sets.size(); ++f) {
    Model m = fit_model(data, design, train_sets[f], fit_options);
    intervals = intervals && m.interval.has_value();
    for (size_t r : test_sets[f]) {
      double p = predict_design_row(m, design, r);
      e.predicted[r] = p;
      if (m.interval) {
        // Whole networks are checked against the fold's training domain, as `predict` does, and the
        // interval widened where they leave it.
        double widening = 1.0;
        if (data.kind == DataKind::Networks && m.domain) {
          NetworkFeatures net;
          for (const auto* l : data.samples[r].layers) net.layers.push_back(*l);
          widening = predict_network(m, net).interval_widening;
        }
        e.lower[r] = p * m.interval->lower_ratio / widening;
        e.upper[r] = p * m.interval->upper_ratio * widening;
      }
    }
  }

  std::vector<size_t> held;
  for (size_t i = 0; i < n; ++i)
    if (!std::isnan(e.predicted[i])) held.push_back(i);
  auto collect = [&](const std::vector<size_t>& idx) {
    std::vector<double> m, p, lo, hi;
    for (size_t i : idx) {
      m.push_back(data.samples[i].measured);
      p.push_back(e.predicted[i]);
      if (intervals) lo.push_back(e.lower[i]), hi.push_back(e.upper[i]);
    }
    return compute_metrics(m, p, lo, hi);
  };
  e.rows = collect(held);
  if (data.kind != DataKind::Networks) {
    const bool dw = design.features.depthwise_group();
    std::map<std::string, std::vector<size_t>> by;
    for (size_t i : held)
      if (auto g = layer_group(*data.samples[i].layers.front(), dw)) by[std::string(group_name(*g))].push_back(i);
    for (const auto& [g, idx] : by) e.by_group[g] = collect(idx);
  }
  if (data.kind == DataKind::Layers) {
    // Whole-network figures: sums of held-out layer predictions and measurements per network. Intervals are
    // calibrated per layer, so no network coverage is claimed.
    std::map<std::string, std::pair<double, double>> sums;
    for (size_t i : held) {
      auto& s = sums[data.samples[i].group];
      s.first += data.samples[i].measured;
      s.second += e.predicted[i];
    }
    std::vector<double> m, p;
    for (const auto& [name, s] : sums) m.push_back(s.first), p.push_back(s.second);
    e.networks = compute_metrics(m, p);
  }
  FitOptions final_opt = options.fit;
  final_opt.calibrate = false;
  Model final_model = fit_model(data, design, final_train, final_opt);
  e.complexity = final_model.complexity();
  for (const auto& s : final_model.subs) e.complexity_by_group[std::string(group_name(s.group))] = s.nonzero();
  return e;
}

nlohmann::json evaluation_to_json(const Evaluation& e) {
  using nlohmann::json;
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  auto metrics = [&](const Metrics& m) {
    json j = {{"n", m.n},           {"accuracy", num(m.accuracy)},     {"rmspe", num(m.rmspe)},
              {"mape", num(m.mape)}, {"median_ape", num(m.median_ape)}, {"within_10pct", num(m.within_10)},
              {"r2", num(m.r2)}};
    j["interval_coverage"] = m.coverage ? num(*m.coverage) : json(nullptr);
    return j;
  };
  json j = {{"feature_set", e.feature_set}, {"method", e.method}, {"cv", e.cv},
            {"folds", e.folds},             {"complexity", e.complexity}, {"rows", metrics(e.rows)}};
  j["complexity_by_group"] = e.complexity_by_group;
  json groups = json::object();
  for (const auto& [g, m] : e.by_group) groups[g] = metrics(m);
  j["by_group"] = groups;
  j["networks"] = e.networks ? metrics(*e.networks) : json(nullptr);
  return j;
}

}  // namespace convergy::model

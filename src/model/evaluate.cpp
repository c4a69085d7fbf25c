// Cross-validation and metrics for predictive models (see evaluate.h).
#include "model/evaluate.h"

#include "util/error.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <tuple>
#include <unordered_map>

namespace convergy::model {

namespace {

// The median of a non-empty list (the mean of the two middle values for an even count).
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t k = v.size();
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

}  // namespace

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
  m.median_ape = median(std::move(ape));
  m.within_10 = static_cast<double>(within) / n;
  m.r2 = ss > 0 ? 1.0 - se / ss : std::numeric_limits<double>::quiet_NaN();
  if (!lower.empty()) {
    m.coverage = static_cast<double>(covered) / n;
    std::vector<double> widths;
    for (size_t i = 0; i < m.n; ++i) {
      if (!std::isfinite(lower[i]) || !std::isfinite(upper[i]))
        ++m.unbounded;
      else if (lower[i] > 0)
        widths.push_back(upper[i] / lower[i]);
    }
    if (!widths.empty()) m.median_width = median(std::move(widths));
  }
  return m;
}

RowFilter parse_row_filter(const std::string& text, const std::string& option) {
  RowFilter f;
  f.text = text;
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || (eq == 1 && text[0] == '!'))
    throw_bad_input("{} \"{}\", expected COLUMN=VALUE or COLUMN!=VALUE", option, text);
  f.equal = text[eq - 1] != '!';
  f.column = text.substr(0, f.equal ? eq : eq - 1);
  f.value = text.substr(eq + 1);
  return f;
}

const std::vector<std::string>& derived_columns() {
  static const std::vector<std::string> names = {"net.grouped", "net.depthwise", "net.residual", "net.structure"};
  return names;
}

std::string column_list(const std::vector<std::string>& header, bool with_derived) {
  std::string cols;
  for (const auto& h : header) cols += (cols.empty() ? "" : ", ") + h;
  if (with_derived)
    for (const auto& d : derived_columns()) cols += ", " + d;
  return cols;
}

namespace {

struct NetworkStructure {
  bool grouped = false, depthwise = false, residual = false;
};

NetworkStructure structure_of(const NetworkFeatures& net) {
  NetworkStructure st;
  for (const auto& l : net.layers) {
    if (l.kind == LayerKind::Convolution && l.groups > 1) st.grouped = true;
    if (l.kind == LayerKind::Convolution && l.depthwise) st.depthwise = true;
    if (l.kind == LayerKind::Eltwise) st.residual = true;
  }
  return st;
}

std::string derived_value(const NetworkStructure& st, const std::string& column) {
  if (column == "net.grouped") return st.grouped ? "1" : "0";
  if (column == "net.depthwise") return st.depthwise ? "1" : "0";
  if (column == "net.residual") return st.residual ? "1" : "0";
  return st.grouped ? "grouped" : st.residual ? "residual" : "plain";
}

}  // namespace

std::vector<std::string> column_values(const Dataset& data, const std::string& column) {
  std::vector<std::string> out;
  out.reserve(data.samples.size());
  const auto& derived = derived_columns();
  if (std::find(derived.begin(), derived.end(), column) != derived.end()) {
    std::unordered_map<const NetworkFeatures*, std::string> cache;
    for (const auto& s : data.samples) {
      if (!s.network)
        throw_bad_input("{}:{}: column \"{}\" is a property of the row's network, but the row names no network",
                        data.path, s.line, column);
      auto [it, fresh] = cache.emplace(s.network, std::string());
      if (fresh) it->second = derived_value(structure_of(*s.network), column);
      out.push_back(it->second);
    }
    return out;
  }
  int col = -1;
  for (size_t i = 0; i < data.header.size(); ++i)
    if (data.header[i] == column) col = static_cast<int>(i);
  if (col < 0)
    throw_bad_input("{}: no column \"{}\" (columns: {})", data.path, column,
                    column_list(data.header, data.kind != DataKind::Standalone));
  for (const auto& s : data.samples) out.push_back(s.columns[static_cast<size_t>(col)]);
  return out;
}

namespace {

// Group key of each sample: the named column, else the network, else the row itself.
std::vector<std::string> group_keys(const Dataset& data, const std::string& column) {
  if (!column.empty()) return column_values(data, column);
  std::vector<std::string> keys;
  for (const auto& s : data.samples) keys.push_back(s.group);
  return keys;
}

// Samples matching every filter, as a mask.
std::vector<char> matching(const Dataset& data, const std::vector<RowFilter>& filters) {
  std::vector<char> keep(data.samples.size(), 1);
  for (const auto& f : filters) {
    std::vector<std::string> v = column_values(data, f.column);
    for (size_t i = 0; i < v.size(); ++i) keep[i] = keep[i] && ((v[i] == f.value) == f.equal);
  }
  return keep;
}

}  // namespace

void keep_rows(Dataset& data, const std::vector<RowFilter>& filters) {
  for (const auto& f : filters) {
    std::vector<char> keep = matching(data, {f});
    std::vector<Sample> kept;
    for (size_t i = 0; i < keep.size(); ++i)
      if (keep[i]) kept.push_back(std::move(data.samples[i]));
    if (kept.empty()) throw_bad_input("{}: no row has {}", data.path, f.text);
    data.samples = std::move(kept);
    data.digest = fnv1a_hex(data.digest + "|" + f.text);
  }
}

namespace {

std::string filter_text(const std::vector<RowFilter>& filters) {
  std::string t;
  for (const auto& f : filters) t += (t.empty() ? "" : " & ") + f.text;
  return t;
}

Folds subset_folds(const Dataset& data, const EvalOptions& options) {
  const size_t n = data.samples.size();
  bool second_file = false;
  for (const auto& s : data.samples) second_file = second_file || s.file == 1;
  std::vector<char> train_ok = matching(data, options.train_where);
  std::vector<char> test_ok = matching(data, options.test_where);
  std::vector<size_t> train, test;
  for (size_t i = 0; i < n; ++i) {
    if (data.samples[i].probe) {  // the operator probe trains every split, whatever the filters
      if (data.samples[i].file == 0) train.push_back(i);
      continue;
    }
    const bool in_test = second_file ? data.samples[i].file == 1 && test_ok[i]
                                     : (options.test_where.empty() ? !train_ok[i] : test_ok[i]);
    if (in_test) test.push_back(i);
    else if (train_ok[i] && data.samples[i].file == 0) train.push_back(i);
  }
  std::string train_what = filter_text(options.train_where), test_what = filter_text(options.test_where);
  const std::string test_file = data.test_path.empty() ? "the test file" : data.test_path;
  if (second_file) test_what = test_file + (test_what.empty() ? "" : " where " + test_what);
  if (train_what.empty()) train_what = second_file ? data.path : "the other rows";
  if (test_what.empty()) test_what = "the other rows";
  if (train.empty())
    throw_bad_input("{}: no training row (train: {}; test: {})", data.path, train_what, test_what);
  if (test.empty()) throw_bad_input("{}: no test row (train: {}; test: {})", data.path, train_what, test_what);
  Folds out;
  out.train.push_back(train);
  out.test.push_back(test);
  out.final_train = train;
  out.names.push_back(test_what);
  out.cv = "train on " + train_what + ", test on " + test_what;
  return out;
}

}  // namespace

Folds make_folds(const Dataset& data, const EvalOptions& options) {
  if (options.mode == CvMode::Subsets) return subset_folds(data, options);
  if (options.mode == CvMode::Given) {
    if (options.given_train.empty() || options.given_test.empty())
      throw_bad_input("{}: no {} row in the given split", data.path,
                      options.given_train.empty() ? "training" : "test");
    Folds out;
    out.train.push_back(options.given_train);
    out.test.push_back(options.given_test);
    out.final_train = options.given_train;
    out.names.push_back(options.given_name);
    out.cv = options.given_name;
    return out;
  }
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
      if (s == "train" || data.samples[i].probe)
        train.push_back(i);
      else if (s == "test") test.push_back(i);
    }
    if (train.empty() || test.empty())
      throw_bad_input("{}: --cv split needs a \"split\" column with both train and test rows (got {} train, {} test)",
                      data.path, train.size(), test.size());
    train_sets.push_back(train);
    test_sets.push_back(test);
    out.final_train = train;
    out.names.push_back("split=test");
    out.cv = "split";
  } else {
    const std::string column = options.group_column;
    std::vector<std::string> keys = group_keys(data, column);
    std::unordered_map<std::string, size_t> unit_of;
    std::vector<std::string> units;
    // The operator probe's rows are no unit: they train every fold and are never held out.
    for (size_t i = 0; i < n; ++i)
      if (!data.samples[i].probe && unit_of.emplace(keys[i], units.size()).second) units.push_back(keys[i]);
    std::string what = column.empty() ? (data.kind == DataKind::Standalone ? "row" : "network") : column;
    size_t k;
    std::vector<size_t> fold_of_unit(units.size());
    if (options.mode == CvMode::LeaveOneGroupOut) {
      k = units.size();
      std::iota(fold_of_unit.begin(), fold_of_unit.end(), 0);
      out.cv = "leave-one-" + what + "-out";
      for (const auto& u : units) out.names.push_back(column.empty() ? u : column + "=" + u);
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
      for (size_t f = 0; f < k; ++f) out.names.push_back(fmt::format("fold {}", f + 1));
    }
    if (k < 2) throw_bad_input("{}: cross-validation needs at least 2 groups, got {}", data.path, k);
    train_sets.resize(k);
    test_sets.resize(k);
    for (size_t i = 0; i < n; ++i) {
      const size_t f = data.samples[i].probe ? k : fold_of_unit[unit_of[keys[i]]];
      for (size_t g = 0; g < k; ++g) (g == f ? test_sets[g] : train_sets[g]).push_back(i);
    }
  }
  return out;
}

std::string network_key(const Sample& s) { return s.group + "\n" + std::to_string(s.file); }

std::vector<HeldOutItem> held_out_items(const Dataset& data, const Evaluation& e) {
  std::vector<HeldOutItem> items;
  const bool sum = data.kind == DataKind::Layers;
  std::unordered_map<std::string, size_t> at;  // network -> index in items
  for (size_t i = 0; i < data.samples.size() && i < e.predicted.size(); ++i) {
    if (std::isnan(e.predicted[i])) continue;
    const auto& s = data.samples[i];
    const size_t split = i < e.fold.size() && e.fold[i] >= 0 ? static_cast<size_t>(e.fold[i]) : 0;
    if (sum) {
      // A network's layers may fall in different folds only when a filter cuts through it; the item then
      // belongs to the fold of its first held-out layer, and its bounds are the sums of each fold's bounds
      // (Evaluation::network_bounds).
      const std::string key = network_key(s);
      auto [it, fresh] = at.emplace(key, items.size());
      if (fresh) {
        const auto b = e.network_bounds.find(key);
        const double nan = std::numeric_limits<double>::quiet_NaN();
        items.push_back({s.group, split, 0, 0, b == e.network_bounds.end() ? nan : b->second.first,
                         b == e.network_bounds.end() ? nan : b->second.second});
      }
      HeldOutItem& h = items[it->second];
      h.measured += s.measured;
      h.predicted += e.predicted[i];
    } else {
      items.push_back({s.label, split, s.measured, e.predicted[i], e.lower[i], e.upper[i]});
    }
  }
  return items;
}

std::optional<ProbeAnchor> probe_anchor(const Dataset& data) {
  struct PerFile {
    std::array<double, 2> total{};
    std::array<bool, 2> seen{};
  };
  std::map<std::string, PerFile> probes;  // probe network -> its rows' total in each file
  for (const Sample& s : data.samples) {
    if (!s.probe || s.file < 0 || s.file > 1) continue;
    PerFile& p = probes[s.group];
    p.total[static_cast<size_t>(s.file)] += s.measured;
    p.seen[static_cast<size_t>(s.file)] = true;
  }
  ProbeAnchor a;
  for (const auto& [net, p] : probes) {
    if (!p.seen[0] || !p.seen[1]) continue;
    a.train_total += p.total[0];
    a.test_total += p.total[1];
    ++a.networks;
  }
  if (a.networks == 0 || !(a.train_total > 0) || !(a.test_total > 0)) return std::nullopt;
  return a;
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
  e.fold.assign(n, -1);
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
      // Bounds are relative to the prediction (IntervalCalibration::bounds), so they scale with it.
      const double p =
          predict_design_row(m, design, r) * (data.samples[r].file == 1 ? options.test_scale : 1.0);
      e.predicted[r] = p;
      e.fold[r] = static_cast<int>(f);
      if (m.interval) {
        // Whole networks are checked against the fold's training domain, as `predict` does, and the
        // interval widened where they leave it.
        double widening = 1.0;
        if (data.kind == DataKind::Networks && m.domain) {
          NetworkFeatures net;
          for (const auto* l : data.samples[r].layers) net.layers.push_back(*l);
          widening = predict_network(m, net).interval_widening;
        }
        std::tie(e.lower[r], e.upper[r]) = m.interval->bounds(p, widening);
      }
    }
    if (data.kind == DataKind::Layers && (m.interval || m.network_interval)) {
      // Each held-out network's interval as predict_network() gives it (network_bounds), around the sum of
      // its held-out rows' predictions.
      std::map<std::string, std::pair<double, const NetworkFeatures*>> totals;
      for (size_t r : test_sets[f]) {
        auto& t = totals[network_key(data.samples[r])];
        t.first += e.predicted[r];
        t.second = data.samples[r].network;
      }
      for (const auto& [key, t] : totals) {
        // Without a domain to check against, the network counts as inside (an empty extrapolation).
        const NetworkPrediction np =
            t.second && m.domain ? predict_network(m, *t.second) : NetworkPrediction{};
        std::pair<double, double> b{nan, nan};
        if (auto nb = network_bounds(m, t.first, np)) b = {nb->lower, nb->upper};
        auto [it, fresh] = e.network_bounds.emplace(key, b);
        if (!fresh)
          it->second = {it->second.first + b.first, it->second.second + b.second};  // split by a filter
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
    // Whole-network figures: sums of held-out layer predictions and measurements per network, and the share
    // of networks inside the interval predict_network() gives them (a network without one, its predicted
    // total not positive, counts as outside).
    std::vector<double> m, p, lo, hi;
    for (const auto& it : held_out_items(data, e)) {
      m.push_back(it.measured), p.push_back(it.predicted);
      if (intervals) lo.push_back(it.lower), hi.push_back(it.upper);
    }
    e.networks = compute_metrics(m, p, lo, hi);
  }
  if (options.per_split) {
    std::vector<HeldOutItem> items = data.kind == DataKind::Layers ? held_out_items(data, e) : std::vector<HeldOutItem>{};
    for (size_t f = 0; f < test_sets.size(); ++f) {
      SplitResult sr;
      sr.held_out = f < folds.names.size() ? folds.names[f] : fmt::format("fold {}", f + 1);
      sr.train_rows = train_sets[f].size();
      sr.test_rows = test_sets[f].size();
      sr.rows = collect(test_sets[f]);
      if (data.kind == DataKind::Layers) {
        std::vector<double> m, p, lo, hi;
        for (const auto& it : items) {
          if (it.split != f) continue;
          m.push_back(it.measured);
          p.push_back(it.predicted);
          if (intervals) lo.push_back(it.lower), hi.push_back(it.upper);
        }
        sr.networks = compute_metrics(m, p, lo, hi);
      }
      e.splits.push_back(std::move(sr));
    }
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
    j["interval_unbounded"] = m.coverage ? json(m.unbounded) : json(nullptr);
    j["interval_median_width"] = m.median_width ? num(*m.median_width) : json(nullptr);
    return j;
  };
  json j = {{"feature_set", e.feature_set}, {"method", e.method}, {"cv", e.cv},
            {"folds", e.folds},             {"complexity", e.complexity}, {"rows", metrics(e.rows)}};
  j["complexity_by_group"] = e.complexity_by_group;
  json groups = json::object();
  for (const auto& [g, m] : e.by_group) groups[g] = metrics(m);
  j["by_group"] = groups;
  j["networks"] = e.networks ? metrics(*e.networks) : json(nullptr);
  if (!e.splits.empty()) {
    json splits = json::array();
    for (const auto& sr : e.splits) {
      json one = {{"held_out", sr.held_out}, {"train_rows", sr.train_rows}, {"test_rows", sr.test_rows},
                  {"rows", metrics(sr.rows)}};
      one["networks"] = sr.networks ? metrics(*sr.networks) : json(nullptr);
      splits.push_back(std::move(one));
    }
    j["splits"] = std::move(splits);
  }
  return j;
}

namespace {

// A learning curve's units in data order, each the samples it holds, and the operator probe's samples (no
// unit: they train every fit).
struct LearningUnits {
  std::vector<std::vector<size_t>> members;
  std::vector<size_t> probe;
};

LearningUnits learning_units(const Dataset& data) {
  const std::vector<std::string> keys = group_keys(data, "");
  std::unordered_map<std::string, size_t> unit_of;
  LearningUnits u;
  for (size_t i = 0; i < data.samples.size(); ++i) {
    if (data.samples[i].probe) {
      u.probe.push_back(i);
      continue;
    }
    auto [it, fresh] = unit_of.emplace(keys[i], u.members.size());
    if (fresh) u.members.emplace_back();
    u.members[it->second].push_back(i);
  }
  return u;
}

}  // namespace

size_t learning_curve_units(const Dataset& data) { return learning_units(data).members.size(); }

std::pair<double, double> LearningPoint::accuracy_range() const {
  if (accuracy.empty())
    return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  const auto [lo, hi] = std::minmax_element(accuracy.begin(), accuracy.end());
  return {*lo, *hi};
}

LearningCurve learning_curve(const Dataset& data, const Design& design, const LearningCurveOptions& options) {
  LearningCurve c;
  c.feature_set = design.features.name;
  c.method = std::string(method_name(design.features.method));
  c.unit = data.kind == DataKind::Standalone ? "row" : "network";
  c.draws = std::max(1, options.draws);
  const auto [members, probe] = learning_units(data);
  c.units = members.size();
  c.stratify = options.stratify;
  // Each unit's stratum (the column's value in its first row), when the draws are spread over one.
  std::vector<size_t> stratum_of(members.size(), 0);
  size_t strata = 1;
  if (!options.stratify.empty()) {
    const std::vector<std::string> values = column_values(data, options.stratify);
    std::map<std::string, size_t> index;
    for (size_t u = 0; u < members.size(); ++u)
      stratum_of[u] = index.emplace(values[members[u].front()], index.size()).first->second;
    strata = index.size();
  }
  for (size_t k : options.sizes)
    if (k < 1 || k >= c.units)
      throw_bad_input(
          "{}: a learning curve of {} training {}s: the data has {}, expected from 1 to {} so that "
          "every fit leaves some out",
          data.path, k, c.unit, c.units, c.units > 0 ? c.units - 1 : 0);
  std::vector<size_t> sizes = options.sizes;
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  c.points.resize(sizes.size());
  std::vector<std::array<std::vector<double>, 4>> pooled(sizes.size());  // measured, predicted, lower, upper
  std::vector<bool> intervals(sizes.size(), true);
  for (int d = 0; d < c.draws; ++d) {
    std::vector<size_t> order(members.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(options.eval.fit.seed + 101 + static_cast<uint64_t>(d));
    std::shuffle(order.begin(), order.end(), rng);
    if (strata > 1) {
      // Round robin over the strata, each in its shuffled order, the strata themselves in an order drawn too:
      // the first k units then hold every stratum once before any holds two.
      std::vector<std::vector<size_t>> by(strata);
      for (size_t u : order) by[stratum_of[u]].push_back(u);
      std::vector<size_t> turn(strata);
      std::iota(turn.begin(), turn.end(), 0);
      std::shuffle(turn.begin(), turn.end(), rng);
      order.clear();
      for (size_t round = 0; order.size() < members.size(); ++round)
        for (size_t t : turn)
          if (round < by[t].size()) order.push_back(by[t][round]);
    }
    for (size_t p = 0; p < sizes.size(); ++p) {
      const size_t k = sizes[p];
      EvalOptions eo = options.eval;
      eo.mode = CvMode::Given;
      eo.per_split = false;
      eo.given_train = probe;
      eo.given_test.clear();
      for (size_t u = 0; u < order.size(); ++u)
        for (size_t r : members[order[u]]) (u < k ? eo.given_train : eo.given_test).push_back(r);
      std::sort(eo.given_train.begin(), eo.given_train.end());
      std::sort(eo.given_test.begin(), eo.given_test.end());
      eo.given_name = fmt::format("{} {}s drawn at random (draw {})", k, c.unit, d + 1);
      const Evaluation e = evaluate(data, design, eo);
      LearningPoint& pt = c.points[p];
      std::vector<std::string>& names = pt.drawn.emplace_back();
      for (size_t u = 0; u < k; ++u) {
        const Sample& first = data.samples[members[order[u]].front()];
        names.push_back(data.kind == DataKind::Standalone ? first.label : first.group);
      }
      pt.train_units = k;
      pt.test_units = members.size() - k;
      pt.complexity = std::max(pt.complexity, e.complexity);
      auto& [m, pr, lo, hi] = pooled[p];
      if (data.kind == DataKind::Layers) {
        pt.accuracy.push_back(e.networks ? e.networks->accuracy : std::numeric_limits<double>::quiet_NaN());
        for (const auto& it : held_out_items(data, e)) {
          m.push_back(it.measured), pr.push_back(it.predicted), lo.push_back(it.lower),
              hi.push_back(it.upper);
          intervals[p] = intervals[p] && !std::isnan(it.lower);
        }
      } else {
        pt.accuracy.push_back(e.rows.accuracy);
        for (size_t r : eo.given_test) {
          m.push_back(data.samples[r].measured), pr.push_back(e.predicted[r]);
          lo.push_back(e.lower[r]), hi.push_back(e.upper[r]);
          intervals[p] = intervals[p] && !std::isnan(e.lower[r]);
        }
      }
    }
  }
  for (size_t p = 0; p < sizes.size(); ++p) {
    auto& [m, pr, lo, hi] = pooled[p];
    c.points[p].pooled = intervals[p] ? compute_metrics(m, pr, lo, hi) : compute_metrics(m, pr);
  }
  return c;
}

nlohmann::json learning_curve_to_json(const LearningCurve& c) {
  using nlohmann::json;
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json points = json::array();
  for (const auto& p : c.points) {
    json acc = json::array();
    for (double a : p.accuracy) acc.push_back(num(a));
    const auto [lo, hi] = p.accuracy_range();
    points.push_back(
        {{"train_units", p.train_units},
         {"test_units", p.test_units},
         {"accuracy_per_draw", acc},
         {"accuracy_min", num(lo)},
         {"accuracy_max", num(hi)},
         {"accuracy", num(p.pooled.accuracy)},
         {"mape", num(p.pooled.mape)},
         {"within_10pct", num(p.pooled.within_10)},
         {"interval_coverage", p.pooled.coverage ? num(*p.pooled.coverage) : json(nullptr)},
         {"interval_median_width", p.pooled.median_width ? num(*p.pooled.median_width) : json(nullptr)},
         {"complexity", p.complexity},
         // Which units each draw trained on, up to 100 a draw (more would swamp the output).
         {"drawn", p.train_units <= 100 ? json(p.drawn) : json(nullptr)}});
  }
  return {{"feature_set", c.feature_set},
          {"method", c.method},
          {"unit", c.unit},
          {"units", c.units},
          {"draws", c.draws},
          {"stratify", c.stratify.empty() ? json(nullptr) : json(c.stratify)},
          {"points", points}};
}

}  // namespace convergy::model

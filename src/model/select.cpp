// Forward stepwise selection of terms by cross-validated accuracy (see select.h).
#include "model/select.h"

#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace convergy::model {

std::string feature_set_spec(const FeatureSet& fs) {
  if (fs.neuralpower) return fs.name;
  std::string spec;
  for (int g = 0; g < kGroupCount; ++g) {
    const auto& terms = fs.terms[static_cast<size_t>(g)];
    if (terms.empty()) continue;
    spec += fmt::format("{}{}=", spec.empty() ? "" : ";", group_name(static_cast<Group>(g)));
    for (size_t t = 0; t < terms.size(); ++t) spec += (t ? "," : "") + terms[t].name();
  }
  return spec + fmt::format("{}method={}", spec.empty() ? "" : ";", method_name(fs.method));
}

namespace {

// The categorical hyper-parameters whose values select different kernels in runtimes.
const std::vector<std::string>& categorical_features(Group g) {
  static const std::vector<std::string> conv = {"kernel_h", "stride_h", "pad_h", "groups"};
  static const std::vector<std::string> pool = {"kernel_h", "stride_h", "pad_h"};
  static const std::vector<std::string> none;
  switch (g) {
    case Group::Conv:
    case Group::DwConv: return conv;
    case Group::Pool: return pool;
    default: return none;
  }
}

std::vector<std::string> base_terms(Group g, bool log_space) {
  std::vector<std::string> lin;
  switch (g) {
    case Group::Conv:
    case Group::DwConv:
      // Work and tensor sizes, the im2col buffer, channel and spatial sizes, and sizes times log2 of a size
      // (energy = time x power, and power grows with the layer's size).
      lin = {"macs", "in_elems", "out_elems", "weight_elems", "in_c*kernel_h*kernel_w*out_h*out_w", "in_h*in_w",
             "out_h*out_w", "in_c", "out_c", "in_c*out_c", "in_c*in_h", "out_c*out_h",
             "out_c*out_h*out_w*kernel_h*kernel_w", "macs*log2(macs)", "in_elems*log2(in_elems)",
             "out_elems*log2(out_elems)", "weight_elems*log2(weight_elems)", "macs*log2(in_c)", "macs*log2(out_c)",
             "macs*log2(out_h)", "in_elems*log2(out_c)", "in_elems*log2(macs)", "out_elems*log2(in_c)",
             "weight_elems*log2(out_h)", "log2(macs)", "log2(in_elems)", "log2(in_c)", "log2(out_c)", "log2(out_h)"};
      if (log_space) lin = {"macs", "in_elems", "out_elems", "weight_elems", "in_c", "out_c", "in_h", "out_h", "kernel_h"};
      break;
    case Group::FC: lin = {"macs", "in_elems", "out_elems", "weight_elems"}; break;
    case Group::Pool:
    case Group::Other: lin = {"ops", "in_elems", "out_elems"}; break;
    case Group::Network: break;
  }
  std::vector<std::string> out = {"1"};
  for (const auto& b : lin) out.push_back(log_space ? "log2(" + b + ")" : b);
  return out;
}

// Least squares on a subset of standardised, weighted columns from per-fold Gram matrices: the fast screen.
class Screen {
 public:
  Screen(const Dataset& data, const Design& design, const Folds& folds, bool log_target)
      : data_(data), folds_(folds), log_target_(log_target) {
    const Eigen::Index n = design.x.rows(), p = design.x.cols();
    VectorXd sw(n), t(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      double y = data.samples[static_cast<size_t>(i)].measured;
      t(i) = log_target ? std::log(y) : y;
      sw(i) = log_target ? 1.0 : 1.0 / y;  // sqrt of the relative weights 1/y^2
    }
    scale_ = VectorXd::Ones(p);
    for (Eigen::Index j = 0; j < p; ++j) {
      double rms = std::sqrt(design.x.col(j).cwiseProduct(sw).squaredNorm() / static_cast<double>(std::max<Eigen::Index>(n, 1)));
      if (rms > 0 && std::isfinite(rms)) scale_(j) = rms;
    }
    z_ = design.x * scale_.cwiseInverse().asDiagonal();
    for (size_t f = 0; f < folds.train.size(); ++f) {
      const auto& rows = folds.train[f];
      MatrixXd a(static_cast<Eigen::Index>(rows.size()), p);
      VectorXd b(static_cast<Eigen::Index>(rows.size()));
      for (size_t r = 0; r < rows.size(); ++r) {
        auto i = static_cast<Eigen::Index>(rows[r]);
        a.row(static_cast<Eigen::Index>(r)) = z_.row(i) * sw(i);
        b(static_cast<Eigen::Index>(r)) = t(i) * sw(i);
      }
      MatrixXd g = MatrixXd::Zero(p, p);
      g.selfadjointView<Eigen::Lower>().rankUpdate(a.transpose());
      gram_.push_back(g.selfadjointView<Eigen::Lower>());
      xty_.push_back(a.transpose() * b);
    }
  }

  // Cross-validated accuracy of least squares on the columns `cols`.
  double accuracy(const std::vector<Eigen::Index>& cols) const {
    const auto k = static_cast<Eigen::Index>(cols.size());
    double ape = 0;
    size_t count = 0;
    for (size_t f = 0; f < gram_.size(); ++f) {
      MatrixXd g(k, k);
      VectorXd c(k);
      double ridge = 0;
      for (Eigen::Index u = 0; u < k; ++u) {
        for (Eigen::Index v = 0; v < k; ++v) g(u, v) = gram_[f](cols[u], cols[v]);
        c(u) = xty_[f](cols[u]);
        ridge = std::max(ridge, g(u, u));
      }
      g.diagonal().array() += 1e-12 * std::max(ridge, 1e-300);  // repeated or empty columns stay solvable
      VectorXd beta = g.ldlt().solve(c);
      if (!beta.allFinite()) return -std::numeric_limits<double>::infinity();
      for (size_t r : folds_.test[f]) {
        double p = 0;
        for (Eigen::Index u = 0; u < k; ++u) p += z_(static_cast<Eigen::Index>(r), cols[u]) * beta(u);
        if (log_target_) p = std::exp(p);
        double m = data_.samples[r].measured;
        ape += std::abs(p - m) / m;
        ++count;
      }
    }
    return count ? 1.0 - ape / static_cast<double>(count) : -std::numeric_limits<double>::infinity();
  }

 private:
  const Dataset& data_;
  const Folds& folds_;
  bool log_target_;
  VectorXd scale_;
  MatrixXd z_;
  std::vector<MatrixXd> gram_;
  std::vector<VectorXd> xty_;
};

// The design of the pool's columns `cols`, in that order, with its own feature set.
Design subset_design(const Design& pool, const std::vector<Eigen::Index>& cols) {
  Design d;
  d.features.method = pool.features.method;
  d.x.resize(pool.x.rows(), static_cast<Eigen::Index>(cols.size()));
  for (size_t k = 0; k < cols.size(); ++k) {
    auto [g, t] = pool.cols[static_cast<size_t>(cols[k])];
    auto& terms = d.features.of(g);
    d.cols.emplace_back(g, static_cast<int>(terms.size()));
    terms.push_back(pool.features.of(g)[static_cast<size_t>(t)]);
    d.x.col(static_cast<Eigen::Index>(k)) = pool.x.col(cols[k]);
  }
  d.features.name = feature_set_spec(d.features);
  return d;
}

}  // namespace

FeatureSet candidate_pool(const Dataset& data, Method method, bool depthwise_group, int max_levels) {
  const bool log_space = method == Method::LogLinear;
  std::array<std::vector<const LayerFeatures*>, kGroupCount> layers;
  for (const auto& s : data.samples)
    for (const auto* l : s.layers)
      if (auto g = layer_group(*l, depthwise_group)) layers[static_cast<size_t>(*g)].push_back(l);
  FeatureSet fs;
  fs.method = method;
  fs.name = "candidates";
  const std::string where = "candidate pool";
  for (int gi = 0; gi < kGroupCount; ++gi) {
    const auto g = static_cast<Group>(gi);
    const auto& ls = layers[static_cast<size_t>(gi)];
    if (ls.empty()) continue;
    std::vector<std::string> indicators;
    for (const auto& feature : categorical_features(g)) {
      std::set<double> values;
      for (const auto* l : ls) values.insert(*l->get(feature));
      if (values.size() < 2 || values.size() > static_cast<size_t>(max_levels)) continue;
      for (double v : values) indicators.push_back(fmt::format("[{}={}]", feature, v));
    }
    for (const auto& base : base_terms(g, log_space)) {
      fs.of(g).push_back(parse_term(base, where));
      for (const auto& ind : indicators) fs.of(g).push_back(parse_term(base == "1" ? ind : base + "*" + ind, where));
    }
  }
  if (data.kind == DataKind::Networks) fs.of(Group::Network).push_back(parse_term("1", where));
  return fs;
}

Selection select_terms(const Dataset& data, const FeatureSet& pool, const SelectOptions& options) {
  if (pool.neuralpower) throw_bad_input("--candidates: neuralpower terms are chosen by Lasso, not by selection");
  if (options.max_terms < 1) throw_bad_input("--select-terms {}, expected at least 1", options.max_terms);
  Design full = build_design(data, pool);
  const Eigen::Index p = full.x.cols();
  Folds folds = make_folds(data, options.eval);
  EvalOptions judge = options.eval;
  judge.fit.calibrate = false;

  // Candidates that are zero in every row, or repeat an earlier candidate's values, can add nothing.
  std::vector<Eigen::Index> usable;
  for (Eigen::Index j = 0; j < p; ++j) {
    if (full.x.col(j).isZero(0.0)) continue;
    bool repeat = false;
    for (Eigen::Index u : usable) repeat = repeat || full.x.col(u) == full.x.col(j);
    if (!repeat) usable.push_back(j);
  }
  Screen screen(data, full, folds, pool.method == Method::LogLinear);

  Selection out;
  out.candidates = usable.size();
  out.cv = folds.cv;
  auto name_of = [&](Eigen::Index col) {
    auto [g, t] = full.cols[static_cast<size_t>(col)];
    return fmt::format("{}={}", group_name(g), pool.of(g)[static_cast<size_t>(t)].name());
  };
  // One search step: every usable candidate not chosen yet goes into `chosen` (appended when pos is kAppend, in
  // place of chosen[pos] otherwise), the screen ranks the sets, and the `shortlist` best are cross-validated
  // with the set's own method. A candidate wins if its accuracy beats the best so far, starting from `floor`,
  // by more than `margin`.
  struct Pick {
    Eigen::Index col = -1;
    double accuracy = 0, within_10 = 0;
    size_t judged = 0;
  };
  constexpr size_t kAppend = static_cast<size_t>(-1);
  auto search = [&](const std::vector<Eigen::Index>& chosen, size_t pos, double floor, double margin) {
    auto with = [&](Eigen::Index j) {
      std::vector<Eigen::Index> cols = chosen;
      if (pos == kAppend)
        cols.push_back(j);
      else
        cols[pos] = j;
      return cols;
    };
    std::vector<std::pair<double, Eigen::Index>> ranked;
    for (Eigen::Index j : usable)
      if (std::find(chosen.begin(), chosen.end(), j) == chosen.end()) ranked.emplace_back(screen.accuracy(with(j)), j);
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    Pick pick;
    pick.judged = options.shortlist > 0 ? std::min(ranked.size(), static_cast<size_t>(options.shortlist)) : ranked.size();
    pick.accuracy = floor;
    for (size_t r = 0; r < pick.judged; ++r) {
      Evaluation e = evaluate(data, subset_design(full, with(ranked[r].second)), judge);
      if (std::isfinite(e.rows.accuracy) && e.rows.accuracy > pick.accuracy + margin)
        pick.accuracy = e.rows.accuracy, pick.within_10 = e.rows.within_10, pick.col = ranked[r].second;
    }
    return pick;
  };

  std::vector<Eigen::Index> chosen;
  double best_so_far = -std::numeric_limits<double>::infinity();
  while (static_cast<int>(chosen.size()) < options.max_terms) {
    Pick add = search(chosen, kAppend, -std::numeric_limits<double>::infinity(), 0.0);
    if (add.col < 0 || add.accuracy < best_so_far + options.min_gain) break;
    chosen.push_back(add.col);
    best_so_far = add.accuracy;
    out.steps.push_back({name_of(add.col), "", add.accuracy, add.within_10, add.judged});
  }
  // Exchange passes: replace a selected term by a better candidate while that raises the accuracy.
  for (int pass = 0; pass < options.exchange_passes && chosen.size() > 1; ++pass) {
    bool improved = false;
    for (size_t pos = 0; pos < chosen.size(); ++pos) {
      Pick swap = search(chosen, pos, best_so_far, options.min_gain);
      if (swap.col < 0) continue;
      out.steps.push_back({name_of(swap.col), name_of(chosen[pos]), swap.accuracy, swap.within_10, swap.judged});
      chosen[pos] = swap.col;
      best_so_far = swap.accuracy;
      improved = true;
    }
    if (!improved) break;
  }
  out.spec = feature_set_spec(subset_design(full, chosen).features);
  return out;
}

NestedSelection select_terms_nested(const Dataset& data, const FeatureSet& pool, const SelectOptions& options,
                                    uint64_t outer_seed) {
  EvalOptions outer = options.eval;
  outer.fit.seed = outer_seed;
  Folds folds = make_folds(data, outer);
  NestedSelection out;
  out.cv = "nested " + folds.cv;
  std::vector<double> measured, predicted;
  for (size_t f = 0; f < folds.train.size(); ++f) {
    // The fold's training rows as a data set of their own (samples point into `data`'s storage, which owns
    // the standalone layers: a Dataset cannot be copied).
    Dataset part;
    part.kind = data.kind;
    part.path = data.path;
    part.digest = data.digest;
    part.target = data.target;
    part.header = data.header;
    part.networks = data.networks;
    for (size_t r : folds.train[f]) part.samples.push_back(data.samples[r]);
    Selection sel = select_terms(part, pool, options);
    out.specs.push_back(sel.spec);
    FitOptions fo = options.eval.fit;
    fo.calibrate = false;
    Design design = build_design(data, parse_feature_set(sel.spec));
    Model m = fit_model(data, design, folds.train[f], fo);
    for (size_t r : folds.test[f]) {
      measured.push_back(data.samples[r].measured);
      predicted.push_back(predict_design_row(m, design, r));
    }
  }
  out.rows = compute_metrics(measured, predicted);
  return out;
}

}  // namespace convergy::model

// The wls-network method: per-layer rows weighted by their network's measured total, so the fit minimises
// the layers' residuals as shares of their networks (what whole-network accuracy judges). Checked against
// the weighted normal equations solved by hand, and against plain wls on the same rows.
#include "model/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

using namespace convergy;
using namespace convergy::model;

namespace {

// Per-layer rows of two networks of very different size: (MACs, measured ms) per layer.
Dataset two_networks() {
  Dataset d;
  d.kind = DataKind::Layers;
  d.path = "layers.csv";
  d.target = "time_ms";
  const struct {
    const char* net;
    double macs, ms;
  } rows[] = {{"small", 1e6, 0.3},  {"small", 2e6, 0.4},   {"small", 4e6, 0.9},
              {"large", 1e9, 80.0}, {"large", 3e9, 260.0}, {"large", 2e8, 25.0}};
  for (const auto& r : rows) {
    auto f = std::make_unique<LayerFeatures>();
    f->name = "conv";
    f->kind = LayerKind::Convolution;
    f->cls = LayerClass::Conv;
    f->macs = static_cast<uint64_t>(r.macs);
    Sample s;
    s.layers = {f.get()};
    s.measured = r.ms;
    s.group = r.net;
    s.label = std::string(r.net) + "/conv";
    d.own_layers.push_back(std::move(f));
    d.samples.push_back(std::move(s));
  }
  return d;
}

// Solves the 2x2 weighted least squares [macs, 1] by its normal equations.
std::pair<double, double> weighted_fit(const Dataset& d, const std::vector<double>& w) {
  double sxx = 0, sx = 0, s1 = 0, sxy = 0, sy = 0;
  for (size_t i = 0; i < d.samples.size(); ++i) {
    const double x = static_cast<double>(d.samples[i].layers[0]->macs), y = d.samples[i].measured;
    sxx += w[i] * x * x, sx += w[i] * x, s1 += w[i], sxy += w[i] * x * y, sy += w[i] * y;
  }
  const double det = sxx * s1 - sx * sx;
  return {(sxy * s1 - sx * sy) / det, (sxx * sy - sx * sxy) / det};
}

TEST(WlsNetwork, WeighsEachLayerByItsNetworksMeasuredTotal) {
  const Dataset d = two_networks();
  FitOptions o;
  o.calibrate = false;
  std::vector<size_t> all(d.samples.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;

  const Design net = build_design(d, parse_feature_set("conv=macs,1;method=wls-network"));
  const Model m = fit_model(d, net, all, o);
  ASSERT_EQ(m.method, Method::WlsNetwork);
  const double small = 0.3 + 0.4 + 0.9, large = 80.0 + 260.0 + 25.0;
  std::vector<double> w;
  for (const auto& s : d.samples) w.push_back(1.0 / std::pow(s.group == "small" ? small : large, 2));
  const auto [slope, constant] = weighted_fit(d, w);
  ASSERT_NE(m.sub(Group::Conv), nullptr);
  EXPECT_NEAR(m.sub(Group::Conv)->coef[0], slope, 1e-6 * std::abs(slope));
  EXPECT_NEAR(m.sub(Group::Conv)->coef[1], constant, 1e-6 * std::abs(constant) + 1e-12);

  // Plain wls weighs each layer by its own value: another solution on these rows.
  const Design rel = build_design(d, parse_feature_set("conv=macs,1;method=wls"));
  const Model r = fit_model(d, rel, all, o);
  std::vector<double> wr;
  for (const auto& s : d.samples) wr.push_back(1.0 / (s.measured * s.measured));
  EXPECT_NEAR(r.sub(Group::Conv)->coef[0], weighted_fit(d, wr).first, 1e-6 * std::abs(slope));
  EXPECT_GT(std::abs(r.sub(Group::Conv)->coef[1] - m.sub(Group::Conv)->coef[1]), 1e-3);
}

TEST(WlsNetwork, OnlyTheTrainingRowsMakeANetworksTotal) {
  // Fitting on a subset: the totals are over the rows the fit sees, so holding out one layer of a network
  // changes that network's weight (and nothing is read from held-out rows).
  const Dataset d = two_networks();
  FitOptions o;
  o.calibrate = false;
  const Design net = build_design(d, parse_feature_set("conv=macs,1;method=wls-network"));
  const std::vector<size_t> rows = {0, 1, 3, 4, 5};
  const Model m = fit_model(d, net, rows, o);
  Dataset sub = two_networks();
  sub.samples.erase(sub.samples.begin() + 2);
  const double small = 0.3 + 0.4, large = 80.0 + 260.0 + 25.0;
  std::vector<double> w;
  for (const auto& s : sub.samples) w.push_back(1.0 / std::pow(s.group == "small" ? small : large, 2));
  const auto [slope, constant] = weighted_fit(sub, w);
  EXPECT_NEAR(m.sub(Group::Conv)->coef[0], slope, 1e-6 * std::abs(slope));
  EXPECT_NEAR(m.sub(Group::Conv)->coef[1], constant, 1e-6 * std::abs(constant) + 1e-12);
}

TEST(WlsNetwork, IsANamedMethodOfSpecsAndModelFiles) {
  EXPECT_EQ(method_name(Method::WlsNetwork), "wls-network");
  EXPECT_EQ(method_from_name("wls-network"), Method::WlsNetwork);
  EXPECT_EQ(parse_feature_set("conv=macs,1;method=wls-network").method, Method::WlsNetwork);
}

}  // namespace

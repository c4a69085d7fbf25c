// model::CompiledTerms, whose feature names are resolved once per model, against the uncompiled evaluation
// (feature_expr_value and term_value, which look each name up by string for every layer); and
// predict_network, which keeps compiled terms per thread from call to call, against a Predictor built for
// the model at hand. Equal means equal to the bit.
#include "model/model.h"
#include "model/terms.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace convergy::model {
namespace {

LayerFeatures random_layer(std::mt19937_64& rng, size_t i) {
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  LayerFeatures f;
  f.name = "a_layer_name_longer_than_sso_" + std::to_string(i);
  const LayerClass classes[] = {LayerClass::Conv, LayerClass::FC, LayerClass::Pool, LayerClass::Other,
                                LayerClass::None};
  f.cls = classes[pick(5)];
  f.kind = f.cls == LayerClass::Conv ? LayerKind::Convolution : LayerKind::ReLU;
  f.depthwise = f.cls == LayerClass::Conv && pick(3) == 0;
  f.macs = static_cast<uint64_t>(pick(1'000'000'000));
  f.ops = static_cast<uint64_t>(pick(1'000'000));
  f.params = static_cast<uint64_t>(pick(100'000));
  f.weight_elems = f.params + static_cast<uint64_t>(pick(100));
  f.in_elems = static_cast<uint64_t>(pick(1'000'000));
  f.out_elems = static_cast<uint64_t>(pick(1'000'000));
  f.in_bytes = 4 * f.in_elems;
  f.out_bytes = 4 * f.out_elems;
  f.weight_bytes = 4 * f.weight_elems;
  f.batch = 1 + pick(4);
  f.in_c = 1 + pick(512);
  f.in_h = f.in_w = pick(225);  // 0 sometimes: log2 of 0 is clamped
  f.out_c = 1 + pick(512);
  f.out_h = f.out_w = 1 + pick(112);
  f.kernel_h = f.kernel_w = pick(2) ? 3 : 1;
  f.stride_h = f.stride_w = 1 + pick(2);
  f.pad_h = f.pad_w = pick(3);
  f.groups = f.depthwise ? f.in_c : 1;
  return f;
}

// Every form a term can take: layer, derived and measured features, products, log2, roundup, indicators,
// powers, and (added below) a standardised factor and a factor built by hand.
const char* kSpec =
    "conv=macs,macs*[kernel_h=3],log2(in_c),out_h^2,in_c*kernel_h*kernel_w,roundup(out_c,32),"
    "log2(out_h*out_w)^2,roundup(out_h*out_w,64)*out_c,exec_macs,loop_ops,simd_instructions,macs*log2(kernel_"
    "h)^3,1;"
    "dwconv=macs,out_bytes*[depthwise=1],1;fc=weight_bytes,memory_accesses,1;pool=out_elems,log2(in_h)^2,1;"
    "other=ops,in_bytes,layers,1;net=1,layers,macs,in_bytes";

FeatureSet feature_set() {
  FeatureSet fs = parse_feature_set(kSpec);
  Factor z;  // standardised, as NeuralPower's terms are
  z.feature = "in_c";
  z.product = {"in_c"};
  z.log2 = true;
  z.center = 5.5;
  z.scale = 1.75;
  z.power = 2;
  Factor hand;  // no parsed product: feature_expr_value reads the name alone
  hand.feature = "out_bytes";
  fs.of(Group::Pool).push_back(Term{{z, hand}});
  fs.of(Group::Other).push_back(Term{{hand}});
  return fs;
}

// The arithmetic CompiledTerms::accumulate does, with every name looked up by string (feature_expr_value).
double uncompiled_term(const Term& t, const LayerFeatures& l, const ExtraValues* extra) {
  double v = 1.0;
  for (const Factor& f : t.factors) {
    const std::optional<double> x = feature_expr_value(f, l, extra);
    if (!x) throw_bad_input("{}", unavailable_feature_message(l.name, f.feature));
    const double b = f.log2 ? std::log2(std::max(*x, 1.0)) : *x;
    const double base = f.equals ? (*x == *f.equals ? 1.0 : 0.0) : (b - f.center) / f.scale;
    for (int i = 0; i < f.power; ++i) v *= base;
  }
  return v;
}

TEST(CompiledTerms, EqualTheUncompiledEvaluation) {
  const FeatureSet fs = feature_set();
  std::mt19937_64 rng(15);
  ExtraValues extra = {{"simd_instructions", 12345.0}, {"memory_accesses", 678.0}};
  for (int g = 0; g < kGroupCount; ++g) {
    const auto& terms = fs.terms[static_cast<size_t>(g)];
    const CompiledTerms compiled(terms);
    ASSERT_EQ(compiled.size(), terms.size());
    for (size_t i = 0; i < 300; ++i) {
      const LayerFeatures l = random_layer(rng, i);
      std::vector<double> got(terms.size(), 0.0);
      compiled.accumulate(l, &extra, got.data());
      for (size_t t = 0; t < terms.size(); ++t) {
        EXPECT_EQ(got[t], uncompiled_term(terms[t], l, &extra))
            << "group " << g << " term " << terms[t].name();
        // term_value raises each factor to its power before multiplying: the same bits when no factor has a
        // power and a partner.
        if (terms[t].factors.size() <= 1 || std::all_of(terms[t].factors.begin(), terms[t].factors.end(),
                                                        [](const Factor& f) { return f.power == 1; })) {
          EXPECT_EQ(got[t], term_value(terms[t], l, &extra)) << "group " << g << " term " << terms[t].name();
        }
      }
    }
  }
}

TEST(CompiledTerms, AMissingMeasuredColumnIsRefusedAsTermValueRefusesIt) {
  const std::vector<Term> terms = {parse_term("simd_instructions", "test", counter_columns())};
  std::mt19937_64 rng(3);
  const LayerFeatures l = random_layer(rng, 0);
  std::string want, got;
  try {
    term_value(terms[0], l, nullptr);
  } catch (const Error& e) {
    want = e.what();
  }
  try {
    double out = 0;
    CompiledTerms(terms).accumulate(l, nullptr, &out);
  } catch (const Error& e) {
    got = e.what();
  }
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(got, want);
}

Model model_of(const FeatureSet& fs, double first_coef) {
  Model m;
  m.feature_set = kSpec;
  m.target = "energy_mj";
  double c = first_coef;
  for (int g = 0; g < kGroupCount; ++g) {
    const auto& terms = fs.terms[static_cast<size_t>(g)];
    if (terms.empty()) continue;
    SubModel sub{static_cast<Group>(g), terms, {}};
    for (size_t t = 0; t < terms.size(); ++t) sub.coef.push_back(c *= 1.3);
    m.subs.push_back(sub);
  }
  return m;
}

void expect_same(const NetworkPrediction& want, const NetworkPrediction& got, const std::string& what) {
  EXPECT_EQ(want.predicted, got.predicted) << what;
  EXPECT_EQ(want.network_terms, got.network_terms) << what;
  ASSERT_EQ(want.layers.size(), got.layers.size()) << what;
  for (size_t i = 0; i < want.layers.size(); ++i) {
    EXPECT_EQ(want.layers[i].name, got.layers[i].name) << what;
    EXPECT_EQ(want.layers[i].group, got.layers[i].group) << what;
    EXPECT_EQ(want.layers[i].predicted, got.layers[i].predicted) << what << " " << want.layers[i].name;
  }
  EXPECT_EQ(want.unmodelled_groups, got.unmodelled_groups) << what;
}

// predict_network keeps the terms it compiled for the next call; a model whose terms or coefficients changed
// since, or another model, must not be predicted with them.
TEST(CompiledTerms, PredictNetworkCompilesAgainWhenTheModelChanges) {
  const FeatureSet fs = feature_set();
  std::mt19937_64 rng(7);
  ExtraValues extra = {{"simd_instructions", 1.0e6}, {"memory_accesses", 2.0e4}};
  NetworkFeatures net;
  for (size_t i = 0; i < 40; ++i) net.layers.push_back(random_layer(rng, i));
  Model a = model_of(fs, 1e-7), b = model_of(fs, 3e-7);
  b.subs.pop_back();  // no "net" terms
  for (int round = 0; round < 3; ++round) {
    for (Model* m : {&a, &b, &a}) {
      const NetworkPrediction want = Predictor(*m).predict(net, &extra);
      expect_same(want, predict_network(*m, net, &extra), "round " + std::to_string(round));
      NetworkFeatures given = net;
      expect_same(want, predict_network(*m, std::move(given), &extra),
                  "given away, round " + std::to_string(round));
    }
    a.subs[0].coef[1] *= 2.0;                             // a coefficient
    a.subs[1].terms[0].factors[0].feature = "out_bytes";  // a term (what it reads)
    a.subs[1].terms[0].factors[0].product = {"out_bytes"};
  }
}

}  // namespace
}  // namespace convergy::model

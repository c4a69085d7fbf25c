// Forward selection of terms: on synthetic standalone layers whose energy is a known sparse combination of
// pool terms, the search finds those terms, stops when nothing more helps, and writes a spec that reads back.
#include "model/select.h"

#include <gtest/gtest.h>

#include <random>

using namespace convergy;
using namespace convergy::model;

namespace {

// Convolutions on a grid of sizes; energy = 3e-9 mJ/MAC + 2e-6 mJ per input element of 1x1 layers + 0.4 mJ,
// times 1 +- 1% noise.
Dataset synthetic_layers(int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> ch(1, 64), hw(4, 64), kk(0, 2);
  std::uniform_real_distribution<double> noise(-0.01, 0.01);
  Dataset d;
  d.kind = DataKind::Standalone;
  d.path = "layers.csv";
  d.target = "energy_mj";
  for (int i = 0; i < count; ++i) {
    auto f = std::make_unique<LayerFeatures>();
    f->name = "row " + std::to_string(i + 2);
    f->kind = LayerKind::Convolution;
    f->cls = LayerClass::Conv;
    f->batch = 1, f->groups = 1, f->stride_h = f->stride_w = 1;
    f->in_c = 8 * ch(rng), f->out_c = 8 * ch(rng), f->in_h = f->in_w = hw(rng);
    f->kernel_h = f->kernel_w = 1 + 2 * kk(rng);
    f->out_h = f->out_w = f->in_h - f->kernel_h + 1;
    auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
    f->macs = u(f->out_c * f->out_h * f->out_w * f->in_c * f->kernel_h * f->kernel_w);
    f->in_elems = u(f->in_c * f->in_h * f->in_w), f->out_elems = u(f->out_c * f->out_h * f->out_w);
    f->weight_elems = u(f->out_c * f->in_c * f->kernel_h * f->kernel_w + f->out_c);
    double e = 3e-9 * static_cast<double>(f->macs) + (f->kernel_h == 1 ? 2e-6 * static_cast<double>(f->in_elems) : 0.0) + 0.4;
    Sample s;
    s.layers = {f.get()};
    s.measured = e * (1.0 + noise(rng));
    s.group = s.label = f->name;
    s.line = i + 2;
    d.own_layers.push_back(std::move(f));
    d.samples.push_back(std::move(s));
  }
  return d;
}

TEST(Select, FindsTheTermsOfAKnownModel) {
  Dataset d = synthetic_layers(400, 3);
  FeatureSet pool = candidate_pool(d, Method::Lad);
  EXPECT_EQ(pool.method, Method::Lad);
  EXPECT_GT(pool.of(Group::Conv).size(), 50u);
  SelectOptions o;
  o.max_terms = 6;
  o.eval.folds = 5;
  o.min_gain = 1e-3;
  Selection sel = select_terms(d, pool, o);
  ASSERT_FALSE(sel.steps.empty());
  EXPECT_EQ(sel.cv, "5-fold");
  EXPECT_GE(sel.steps.back().accuracy, 0.99);
  // The three true terms are enough: with min_gain 1e-3 the search stops well before 6 additions.
  size_t additions = 0;
  for (const auto& s : sel.steps) additions += s.replaced.empty();
  EXPECT_LE(additions, 4u) << sel.spec;
  EXPECT_NE(sel.spec.find("macs"), std::string::npos) << sel.spec;
  EXPECT_NE(sel.spec.find("in_elems*[kernel_h=1]"), std::string::npos) << sel.spec;
  EXPECT_NE(sel.spec.find(";method=lad"), std::string::npos) << sel.spec;
  // The spec reads back as a feature set that evaluates to the search's last figure on the same folds.
  EvalOptions eo = o.eval;
  Evaluation e = evaluate(d, build_design(d, parse_feature_set(sel.spec)), eo);
  EXPECT_NEAR(e.rows.accuracy, sel.steps.back().accuracy, 1e-9);
}

TEST(Select, NestedCrossValidationSelectsPerFold) {
  Dataset d = synthetic_layers(200, 4);
  SelectOptions o;
  o.max_terms = 4;
  o.eval.folds = 4;
  o.exchange_passes = 0;
  NestedSelection n = select_terms_nested(d, candidate_pool(d, Method::Lad), o, 7);
  EXPECT_EQ(n.specs.size(), 4u);
  EXPECT_EQ(n.rows.n, 200u);  // every row predicted once, by a set selected without it
  EXPECT_GE(n.rows.accuracy, 0.97);
  EXPECT_EQ(n.cv, "nested 4-fold");
}

TEST(Select, SpecOfAFeatureSetReadsBack) {
  FeatureSet fs = parse_feature_set("conv=macs,in_elems*[kernel_h=1],1;dwconv=macs;net=1;method=nnls");
  const std::string spec = feature_set_spec(fs);
  EXPECT_EQ(spec, "conv=macs,in_elems*[kernel_h=1],1;dwconv=macs;net=1;method=nnls");
  EXPECT_EQ(feature_set_spec(parse_feature_set(spec)), spec);
}

}  // namespace

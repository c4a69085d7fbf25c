// Feature sets, fitting from per-layer rows and from whole-network totals, prediction of networks, and the
// model file format. Networks are built as feature lists by hand, so these tests need no importer.
#include "model/evaluate.h"
#include "model/model.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

using namespace convergy;
using namespace convergy::model;
using ::testing::HasSubstr;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

LayerFeatures conv(const std::string& name, int64_t in_c, int64_t out_c, int64_t hw, int64_t k, int64_t groups = 1) {
  LayerFeatures f;
  f.name = name;
  f.kind = LayerKind::Convolution;
  f.cls = LayerClass::Conv;
  f.batch = 1;
  f.in_c = in_c, f.out_c = out_c, f.in_h = f.in_w = f.out_h = f.out_w = hw;
  f.kernel_h = f.kernel_w = k, f.stride_h = f.stride_w = 1, f.pad_h = f.pad_w = k - 1;
  f.groups = groups;
  f.depthwise = groups > 1 && groups == in_c;
  f.macs = static_cast<uint64_t>(out_c * (in_c / groups) * k * k * hw * hw);
  f.in_elems = static_cast<uint64_t>(in_c * hw * hw);
  f.out_elems = static_cast<uint64_t>(out_c * hw * hw);
  f.weight_elems = f.params = static_cast<uint64_t>(out_c * (in_c / groups) * k * k + out_c);
  f.in_bytes = 4 * f.in_elems, f.out_bytes = 4 * f.out_elems, f.weight_bytes = 4 * f.weight_elems;
  return f;
}

LayerFeatures fc(const std::string& name, int64_t in, int64_t out) {
  LayerFeatures f;
  f.name = name;
  f.kind = LayerKind::InnerProduct;
  f.cls = LayerClass::FC;
  f.batch = 1, f.in_c = in, f.out_c = out, f.in_h = f.in_w = f.out_h = f.out_w = 1;
  f.macs = static_cast<uint64_t>(in * out);
  f.in_elems = static_cast<uint64_t>(in), f.out_elems = static_cast<uint64_t>(out);
  f.weight_elems = f.params = static_cast<uint64_t>(in * out + out);
  f.in_bytes = 4 * f.in_elems, f.out_bytes = 4 * f.out_elems, f.weight_bytes = 4 * f.weight_elems;
  return f;
}

LayerFeatures flatten(const std::string& name) {
  LayerFeatures f;
  f.name = name;
  f.kind = LayerKind::Flatten;
  f.cls = LayerClass::None;
  return f;
}

// A data set of whole networks whose energy is exactly conv 2e-6 mJ/MAC + 0.5 mJ per conv layer +
// fc 1e-5 mJ/MAC + 3 mJ per network (the FC layer's constant).
Dataset synthetic_networks(int count, uint64_t seed, double noise = 0.0) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> layers(1, 6), ch(8, 256), hw(4, 64), k(0, 2);
  std::normal_distribution<double> e(0.0, 1.0);
  Dataset d;
  d.kind = DataKind::Networks;
  d.path = "synthetic.csv";
  d.digest = "0123456789abcdef";
  d.target = "energy_mj";
  d.header = {"network"};
  for (int n = 0; n < count; ++n) {
    auto net = std::make_shared<NetworkFeatures>();
    int c = 3, s = hw(rng);
    double energy = 3.0;
    int nl = layers(rng);
    for (int l = 0; l < nl; ++l) {
      int out = ch(rng), kk = 1 + 2 * k(rng);
      net->layers.push_back(conv("conv" + std::to_string(l), c, out, s, kk));
      energy += 2e-6 * static_cast<double>(net->layers.back().macs) + 0.5;
      c = out;
    }
    net->layers.push_back(flatten("flat"));
    net->layers.push_back(fc("fc", c * s * s, 10));
    energy += 1e-5 * static_cast<double>(net->layers.back().macs);
    Sample smp;
    smp.measured = energy * (1.0 + noise * e(rng));
    smp.group = smp.label = "net" + std::to_string(n);
    smp.line = n + 2;
    smp.columns = {smp.group};
    for (const auto& l : net->layers) smp.layers.push_back(&l);
    d.networks.push_back(net);
    d.samples.push_back(std::move(smp));
  }
  return d;
}

std::vector<size_t> all_rows(const Dataset& d) {
  std::vector<size_t> r(d.samples.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = i;
  return r;
}

TEST(Terms, ParseAndName) {
  EXPECT_EQ(parse_term("1", "t").name(), "1");
  EXPECT_TRUE(parse_term(" 1 ", "t").is_constant());
  EXPECT_EQ(parse_term("macs", "t").name(), "macs");
  EXPECT_EQ(parse_term("in_c*kernel_h^2", "t").name(), "in_c*kernel_h^2");
  EXPECT_EQ(parse_term("macs*log2(kernel_h)", "t").name(), "macs*log2(kernel_h)");
  EXPECT_THAT(message_of([] { parse_term("mac", "feature set \"x\""); }),
              HasSubstr("feature set \"x\": term \"mac\": unknown feature \"mac\", expected one of: macs,"));
  EXPECT_EQ(parse_term("macs*[kernel_h=3]", "t").name(), "macs*[kernel_h=3]");
  EXPECT_THAT(message_of([] { parse_term("macs*[kernel_h]", "t"); }), HasSubstr("expected [feature=number]"));
  EXPECT_THAT(message_of([] { parse_term("macs^9", "t"); }), HasSubstr("expected an integer 1 to 6"));
  LayerFeatures c = conv("c", 4, 8, 10, 3);
  EXPECT_DOUBLE_EQ(term_value(parse_term("in_c*kernel_h^2", "t"), c), 36.0);
  EXPECT_DOUBLE_EQ(term_value(parse_term("log2(out_c)", "t"), c), 3.0);
  EXPECT_DOUBLE_EQ(term_value(parse_term("macs*[kernel_h=3]", "t"), c), static_cast<double>(c.macs));
  EXPECT_DOUBLE_EQ(term_value(parse_term("macs*[kernel_h=1]", "t"), c), 0.0);
  EXPECT_THAT(message_of([&] { term_value(parse_term("simd_instructions", "t", counter_columns()), c); }),
              HasSubstr("feature \"simd_instructions\" is not available"));
  ExtraValues extra{{"simd_instructions", 42.0}};
  EXPECT_DOUBLE_EQ(term_value(parse_term("simd_instructions", "t", counter_columns()), c, &extra), 42.0);
}

// roundup(EXPR,M): the work of a GEMM that pads a dimension to its tile (cuDNN tiles out_c and out_h*out_w).
// Products are allowed inside log2() and roundup(); the factor's string is the canonical expression that
// model JSON stores, so it must parse back to the same values.
TEST(Terms, RoundupAndProductFactors) {
  LayerFeatures c = conv("c", 4, 8, 10, 3);  // output 8 x 10 x 10
  ASSERT_EQ(c.out_h * c.out_w, 100);
  EXPECT_EQ(parse_term(" roundup( out_c , 32 ) * in_c", "t").name(), "roundup(out_c,32)*in_c");
  EXPECT_DOUBLE_EQ(term_value(parse_term("roundup(out_c,32)", "t"), c), 32.0);
  EXPECT_DOUBLE_EQ(term_value(parse_term("roundup(out_c,8)", "t"), c), 8.0);   // already a multiple
  EXPECT_DOUBLE_EQ(term_value(parse_term("roundup(out_c,5)", "t"), c), 10.0);
  EXPECT_DOUBLE_EQ(term_value(parse_term("roundup(out_h*out_w,48)", "t"), c), 144.0);
  EXPECT_DOUBLE_EQ(term_value(parse_term("in_c*roundup(out_c,16)*roundup(out_h*out_w,32)", "t"), c), 4.0 * 16 * 128);
  EXPECT_DOUBLE_EQ(term_value(parse_term("log2(out_h*out_w)", "t"), c), std::log2(100.0));
  EXPECT_DOUBLE_EQ(term_value(parse_term("log2(roundup(out_c,32))^2", "t"), c), 25.0);
  EXPECT_DOUBLE_EQ(term_value(parse_term("roundup(out_c,32)*[kernel_h=3]", "t"), c), 32.0);
  // Commas inside roundup() do not end a term of a feature set.
  FeatureSet fs = parse_feature_set("conv=roundup(out_c,32)*macs,log2(in_h*in_w),1;method=lad");
  ASSERT_EQ(fs.of(Group::Conv).size(), 3u);
  EXPECT_EQ(fs.of(Group::Conv)[0].name(), "roundup(out_c,32)*macs");
  EXPECT_EQ(fs.of(Group::Conv)[1].name(), "log2(in_h*in_w)");
  for (const char* bad : {"roundup(out_c)", "roundup(out_c,0)", "roundup(out_c,2.5)", "roundup(out_c,x)",
                          "roundup(out_c,2000000)"})
    EXPECT_THAT(message_of([&] { parse_term(bad, "t"); }), HasSubstr("expected roundup(feature or product of features, "
                                                                    "multiple) with a whole multiple from 1 to 1048576"))
        << bad;
  EXPECT_THAT(message_of([] { parse_term("roundup(out_cc,32)", "t"); }), HasSubstr("unknown feature \"out_cc\""));
  EXPECT_THAT(message_of([] { parse_term("log2(in_h*)", "t"); }), HasSubstr("unknown feature \"\""));
  EXPECT_THAT(message_of([] { parse_term("[out_h*out_w=4]", "t"); }), HasSubstr("expected a single feature name"));
}

TEST(Terms, FeatureSets) {
  FeatureSet m = parse_feature_set("macs");
  ASSERT_EQ(m.of(Group::Conv).size(), 1u);
  EXPECT_EQ(m.method, Method::Wls);
  FeatureSet mm = parse_feature_set("macs+mem");
  EXPECT_EQ(mm.of(Group::Conv).size(), 5u);
  EXPECT_TRUE(parse_feature_set("neuralpower").neuralpower);
  FeatureSet custom = parse_feature_set("conv=macs,in_bytes,out_bytes,1;fc=macs,1;pool=out_elems,1");
  EXPECT_EQ(custom.of(Group::Conv).size(), 4u);
  EXPECT_EQ(custom.of(Group::Pool)[0].name(), "out_elems");
  EXPECT_FALSE(custom.depthwise_group());
  FeatureSet dw = parse_feature_set("conv=macs,1;dwconv=macs,1;net=1;method=nnls");
  EXPECT_TRUE(dw.depthwise_group());
  EXPECT_EQ(dw.method, Method::Nnls);
  EXPECT_THAT(message_of([] { parse_feature_set("mac"); }), HasSubstr("feature set \"mac\": unknown, expected one of macs"));
  EXPECT_THAT(message_of([] { parse_feature_set("cnv=macs"); }), HasSubstr("group \"cnv\""));
  EXPECT_THAT(message_of([] { parse_feature_set("conv=macs;method=magic"); }), HasSubstr("method \"magic\""));
}

TEST(Model, LayerTypeModelFittedFromNetworkTotalsRecoversPerLayerCoefficients) {
  Dataset d = synthetic_networks(60, 5);
  Design des = build_design(d, parse_feature_set("conv=macs,1;fc=macs,1;method=ols"));
  FitOptions o;
  o.calibrate = false;
  Model m = fit_model(d, des, all_rows(d), o);
  const SubModel* c = m.sub(Group::Conv);
  const SubModel* f = m.sub(Group::FC);
  ASSERT_TRUE(c && f);
  EXPECT_NEAR(c->coef[0] / 2e-6, 1.0, 1e-6);
  EXPECT_NEAR(c->coef[1] / 0.5, 1.0, 1e-6);
  EXPECT_NEAR(f->coef[0] / 1e-5, 1.0, 1e-6);
  EXPECT_NEAR(f->coef[1] / 3.0, 1.0, 1e-6);
  EXPECT_EQ(m.complexity(), 4);
  // Predicting a network sums its layers; Flatten costs nothing and is listed as "none".
  NetworkPrediction p = predict_network(m, *d.networks[0]);
  EXPECT_NEAR(p.predicted / d.samples[0].measured, 1.0, 1e-6);
  double sum = 0;
  for (const auto& l : p.layers)
    if (l.predicted) sum += *l.predicted;
  EXPECT_NEAR(sum, p.predicted, 1e-9);
  EXPECT_TRUE(p.unmodelled_groups.empty());
  EXPECT_EQ(p.layers[p.layers.size() - 2].group, "none");
}

TEST(Model, NetworkConstantIsCountedOncePerNetwork) {
  Dataset d = synthetic_networks(60, 6);
  Design des = build_design(d, parse_feature_set("conv=macs,1;fc=macs;net=1;method=ols"));
  FitOptions o;
  o.calibrate = false;
  Model m = fit_model(d, des, all_rows(d), o);
  ASSERT_NE(m.sub(Group::Network), nullptr);
  EXPECT_NEAR(m.sub(Group::Network)->coef[0], 3.0, 1e-6);
  NetworkPrediction p = predict_network(m, *d.networks[3]);
  EXPECT_NEAR(p.network_terms, 3.0, 1e-6);
  EXPECT_NEAR(p.predicted / d.samples[3].measured, 1.0, 1e-6);
}

TEST(Model, UnmodelledGroupsAreReportedNotGuessed) {
  Dataset d = synthetic_networks(30, 7);
  Design des = build_design(d, parse_feature_set("conv=macs,1;fc=macs,1"));
  Model m = fit_model(d, des, all_rows(d), {});
  NetworkFeatures pooled = *d.networks[0];
  LayerFeatures pool;
  pool.name = "pool1";
  pool.kind = LayerKind::Pooling;
  pool.cls = LayerClass::Pool;
  pooled.layers.push_back(pool);
  NetworkPrediction p = predict_network(m, pooled);
  EXPECT_EQ(p.unmodelled_groups, std::vector<std::string>{"pool"});
  EXPECT_FALSE(p.layers.back().predicted.has_value());
}

TEST(Model, IntervalsCoverHeldOutNetworks) {
  Dataset d = synthetic_networks(400, 8, 0.05);
  Design des = build_design(d, parse_feature_set("conv=macs,1;fc=macs,1"));
  EvalOptions eo;
  eo.folds = 5;
  Evaluation e = evaluate(d, des, eo);
  ASSERT_TRUE(e.rows.coverage.has_value());
  EXPECT_GT(*e.rows.coverage, 0.85);
  EXPECT_LT(*e.rows.coverage, 0.95);
  EXPECT_GT(e.rows.accuracy, 0.95);
  EXPECT_EQ(e.complexity, 4);
  EXPECT_EQ(e.cv, "5-fold grouped by network");
}

TEST(Model, JsonRoundTripAndVersionCheck) {
  Dataset d = synthetic_networks(40, 9, 0.02);
  Design des = build_design(d, parse_feature_set("conv=macs,log2(in_c)*roundup(out_c,16),log2(out_h*out_w),1;fc=macs,1"));
  Model m = fit_model(d, des, all_rows(d), {});
  m.provenance.device = "test-board";
  nlohmann::json j = model_to_json(m);
  EXPECT_EQ(j["format_version"], "1.0");
  EXPECT_EQ(j["unit"], "mJ");
  EXPECT_EQ(j["provenance"]["training_data_fnv1a64"], "0123456789abcdef");
  EXPECT_TRUE(j["provenance"]["backend"].is_null());  // not known is null, never ""
  EXPECT_FALSE(j["provenance"]["convergy_version"].get<std::string>().empty());
  Model back = model_from_json(j, "m.json");
  EXPECT_EQ(back.id(), m.id());
  EXPECT_EQ(back.complexity(), m.complexity());
  ASSERT_TRUE(back.interval.has_value());
  EXPECT_DOUBLE_EQ(back.interval->upper_ratio, m.interval->upper_ratio);
  EXPECT_DOUBLE_EQ(predict_network(back, *d.networks[1]).predicted, predict_network(m, *d.networks[1]).predicted);

  // A factor's feature expression is checked on load, with the place it was found.
  nlohmann::json bad = j;
  bad["submodels"][0]["terms"][1]["factors"][1]["feature"] = "roundup(out_c,0)";
  EXPECT_THAT(message_of([&] { model_from_json(bad, "m.json"); }),
              HasSubstr("m.json: malformed model file at submodels[0].terms[1].factors[1]: term \"roundup(out_c,0)\""));

  j["format_version"] = "2.0";
  EXPECT_THAT(message_of([&] { model_from_json(j, "m.json"); }),
              HasSubstr("m.json: format_version \"2.0\", expected 1.x"));
  j["format_version"] = "1.7";  // a newer minor version only adds fields
  EXPECT_NO_THROW(model_from_json(j, "m.json"));
  j.erase("submodels");
  EXPECT_THAT(message_of([&] { model_from_json(j, "m.json"); }), HasSubstr("m.json: malformed model file"));
  EXPECT_THAT(message_of([] { model_from_json(nlohmann::json::array(), "m.json"); }),
              HasSubstr("not a convergy model file"));

  const std::string path = (std::filesystem::temp_directory_path() / "convergy_model_test.json").string();
  save_model(m, path);
  EXPECT_EQ(load_model(path).id(), m.id());
  std::filesystem::remove(path);
}

TEST(Model, DepthwiseGroupRoutesDepthwiseConvolutions) {
  LayerFeatures dw = conv("dw", 32, 32, 10, 3, 32);
  LayerFeatures pw = conv("pw", 32, 64, 10, 1);
  EXPECT_EQ(layer_group(dw, true), Group::DwConv);
  EXPECT_EQ(layer_group(dw, false), Group::Conv);
  EXPECT_EQ(layer_group(pw, true), Group::Conv);
  EXPECT_FALSE(layer_group(flatten("f"), true).has_value());
}

TEST(Metrics, Definitions) {
  // Errors of +10%, -20%, 0 and +50%.
  Metrics m = compute_metrics({10, 10, 10, 10}, {11, 8, 10, 15}, {9, 9, 9, 9}, {12, 12, 12, 12});
  EXPECT_NEAR(m.mape, 0.2, 1e-12);
  EXPECT_NEAR(m.accuracy, 0.8, 1e-12);
  EXPECT_NEAR(m.rmspe, std::sqrt((0.01 + 0.04 + 0 + 0.25) / 4), 1e-12);
  EXPECT_NEAR(m.median_ape, 0.15, 1e-12);
  EXPECT_NEAR(m.within_10, 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(m.r2));  // constant measurements: R^2 undefined
  EXPECT_NEAR(*m.coverage, 1.0, 1e-12);
  Metrics r = compute_metrics({1, 2, 3}, {1, 2, 4});
  EXPECT_NEAR(r.r2, 1.0 - 1.0 / 2.0, 1e-12);
  EXPECT_FALSE(r.coverage.has_value());
}

}  // namespace

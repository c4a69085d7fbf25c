// Feature sets, fitting from per-layer rows and from whole-network totals, prediction of networks, and the
// model file format. Networks are built as feature lists by hand, so these tests need no importer.
#include "model/evaluate.h"
#include "model/model.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>

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

// A data set with no rows yet, of rows that name networks, as if read from `path`.
Dataset empty_dataset(DataKind kind, const std::string& path, const std::string& target) {
  Dataset d;
  d.kind = kind;
  d.path = path;
  d.digest = "0123456789abcdef";
  d.target = target;
  d.header = {"network"};
  return d;
}

// A data set of whole networks whose energy is exactly conv 2e-6 mJ/MAC + 0.5 mJ per conv layer +
// fc 1e-5 mJ/MAC + 3 mJ per network (the FC layer's constant).
Dataset synthetic_networks(int count, uint64_t seed, double noise = 0.0) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> layers(1, 6), ch(8, 256), hw(4, 64), k(0, 2);
  std::normal_distribution<double> e(0.0, 1.0);
  Dataset d = empty_dataset(DataKind::Networks, "synthetic.csv", "energy_mj");
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

// A model file as written before `feature` was in the training domain: its name and ranges removed.
void erase_domain_feature(nlohmann::json& j, const std::string& feature) {
  auto& names = j["domain"]["layer_features"];
  const auto at = std::find(names.begin(), names.end(), feature);
  ASSERT_NE(at, names.end()) << feature;
  const auto f = static_cast<size_t>(at - names.begin());
  for (auto& g : j["domain"]["groups"])
    if (!g["max"].empty()) {
      g["min"].erase(f);
      g["max"].erase(f);
    }
  names.erase(f);
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

// Terms of opposite signs can cancel on a network far from the training data (a least-squares fit of
// macs+mem on the Nano networks predicts -3 mJ for some NB201 cells): such a total is no energy, says so
// first, and has no interval, with or without a training domain in the model.
TEST(Model, APredictionThatIsNotPositiveSaysSoFirstAndHasNoInterval) {
  Dataset d = synthetic_networks(60, 9, 0.02);
  Model m =
      fit_model(d, build_design(d, parse_feature_set("conv=macs,1;fc=macs,1;method=ols")), all_rows(d), {});
  ASSERT_TRUE(m.interval.has_value());
  const NetworkFeatures& net = *d.networks[0];
  NetworkPrediction ok = predict_network(m, net);
  ASSERT_GT(ok.predicted, 0.0);
  EXPECT_TRUE(ok.lower.has_value());
  for (const auto& line : ok.extrapolation) EXPECT_THAT(line, ::testing::Not(HasSubstr("not positive")));
  EXPECT_TRUE(ok.extrapolation_checked);  // the fitted model has a domain: no line means "inside"
  Model no_domain = m;
  no_domain.domain.reset();  // a format 1.0 file: nothing is checked, so no line means "unknown"
  EXPECT_FALSE(predict_network(no_domain, net).extrapolation_checked);

  // The same model with its conv intercept pushed down until the total for this network is negative.
  Model cancel = m;
  for (auto& sub : cancel.subs)
    if (sub.group == Group::Conv)
      for (size_t t = 0; t < sub.terms.size(); ++t)
        if (sub.terms[t].is_constant()) sub.coef[t] -= 2.0 * ok.predicted;
  NetworkPrediction p = predict_network(cancel, net);
  ASSERT_LT(p.predicted, 0.0);
  ASSERT_FALSE(p.extrapolation.empty());
  EXPECT_THAT(p.extrapolation.front(), HasSubstr("not positive, so not a possible energy_mj"));
  EXPECT_FALSE(p.lower.has_value());
  EXPECT_FALSE(p.upper.has_value());
  cancel.domain.reset();
  NetworkPrediction unchecked = predict_network(cancel, net);
  EXPECT_THAT(unchecked.extrapolation, ::testing::ElementsAre(HasSubstr("not positive")));
  EXPECT_TRUE(unchecked.extrapolation_checked);  // the one finding a model without a domain still makes
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
  EXPECT_EQ(j["format_version"], "1.2");
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

LayerFeatures pool(const std::string& name, int64_t c, int64_t hw) {
  LayerFeatures f;
  f.name = name;
  f.kind = LayerKind::Pooling;
  f.cls = LayerClass::Pool;
  f.batch = 1, f.in_c = f.out_c = c, f.in_h = f.in_w = hw, f.out_h = f.out_w = hw / 2;
  f.kernel_h = f.kernel_w = 2, f.stride_h = f.stride_w = 2;
  f.in_elems = static_cast<uint64_t>(c * hw * hw), f.out_elems = f.in_elems / 4;
  f.ops = f.in_elems;
  f.in_bytes = 4 * f.in_elems, f.out_bytes = 4 * f.out_elems;
  return f;
}

TEST(Terms, DerivedFeatures) {
  LayerFeatures c3 = conv("c3", 16, 16, 8, 3), c1 = conv("c1", 16, 16, 8, 1), dw = conv("dw", 16, 16, 8, 3, 16);
  EXPECT_DOUBLE_EQ(term_value(parse_term("layers", "t"), c3), 1.0);
  // Winograd F(2x2,3x3) for dense 3x3 stride-1 convolutions only.
  EXPECT_DOUBLE_EQ(term_value(parse_term("exec_macs", "t"), c3), static_cast<double>(c3.macs) / 2.25);
  EXPECT_DOUBLE_EQ(term_value(parse_term("exec_macs", "t"), c1), static_cast<double>(c1.macs));
  EXPECT_DOUBLE_EQ(term_value(parse_term("exec_macs", "t"), dw), static_cast<double>(dw.macs));
  c3.stride_h = c3.stride_w = 2;
  EXPECT_DOUBLE_EQ(term_value(parse_term("exec_macs", "t"), c3), static_cast<double>(c3.macs));
  // loop_ops: every layer's ops, plus the MACs of a depthwise convolution (a loop, not a GEMM).
  c3.ops = 2048, dw.ops = 2048;
  EXPECT_DOUBLE_EQ(term_value(parse_term("loop_ops", "t"), c3), static_cast<double>(c3.ops));
  EXPECT_DOUBLE_EQ(term_value(parse_term("loop_ops", "t"), dw), static_cast<double>(dw.ops + dw.macs));
  const LayerFeatures p = pool("p", 8, 16);
  EXPECT_DOUBLE_EQ(term_value(parse_term("loop_ops", "t"), p), static_cast<double>(p.ops));
  // unfold_bytes: the im2col matrix of a GEMM convolution, in_c x kh x kw rows of out_h x out_w columns, the
  // same for any grouping of the same channels (each element then takes part in fewer MACs); 0 for a
  // depthwise convolution (a direct loop), a transposed one and every other layer class.
  const Term unfold = parse_term("unfold_bytes", "t");
  const LayerFeatures d3 = conv("d3", 16, 32, 8, 3), g3 = conv("g3", 16, 32, 8, 3, 4);
  EXPECT_DOUBLE_EQ(term_value(unfold, d3), 4.0 * 16 * 9 * 64);
  EXPECT_DOUBLE_EQ(term_value(unfold, d3),
                   4.0 * static_cast<double>(d3.macs) / 32);  // MACs / (out_c / groups)
  EXPECT_DOUBLE_EQ(term_value(unfold, g3), term_value(unfold, d3));
  EXPECT_DOUBLE_EQ(term_value(unfold, g3), 4.0 * static_cast<double>(g3.macs) / 8);
  EXPECT_DOUBLE_EQ(term_value(unfold, c1), static_cast<double>(c1.in_bytes));  // 1x1: the input itself
  EXPECT_DOUBLE_EQ(term_value(unfold, dw), 0.0);
  EXPECT_DOUBLE_EQ(term_value(unfold, p), 0.0);
  EXPECT_DOUBLE_EQ(term_value(unfold, fc("f", 64, 10)), 0.0);
  LayerFeatures deconv = d3;
  deconv.kind = LayerKind::Deconvolution;
  EXPECT_DOUBLE_EQ(term_value(unfold, deconv), 0.0);
  LayerFeatures batch2 = d3;
  batch2.batch = 2;
  EXPECT_DOUBLE_EQ(term_value(unfold, batch2), 2 * term_value(unfold, d3));
  // unfold_rows: the rows of out_w elements im2col writes, in_c x kh x kw x out_h per image, whatever the
  // grouping; 0 where the GEMM reads the input in place (1x1, stride 1, no padding), for a depthwise or
  // transposed convolution and every other layer class.
  const Term rows = parse_term("unfold_rows", "t");
  EXPECT_DOUBLE_EQ(term_value(rows, d3), 16.0 * 9 * 8);
  EXPECT_DOUBLE_EQ(term_value(rows, g3), term_value(rows, d3));
  EXPECT_DOUBLE_EQ(term_value(rows, batch2), 2 * term_value(rows, d3));
  EXPECT_DOUBLE_EQ(term_value(rows, c1), 0.0);
  LayerFeatures strided = c1;  // a 1x1 stride-2 convolution gathers its input: unfolded
  strided.stride_h = strided.stride_w = 2;
  strided.out_h = strided.out_w = 4;
  EXPECT_DOUBLE_EQ(term_value(rows, strided), 16.0 * 1 * 4);
  EXPECT_DOUBLE_EQ(term_value(rows, dw), 0.0);
  EXPECT_DOUBLE_EQ(term_value(rows, deconv), 0.0);
  EXPECT_DOUBLE_EQ(term_value(rows, p), 0.0);
  EXPECT_DOUBLE_EQ(term_value(rows, fc("f", 64, 10)), 0.0);
  FeatureSet t = parse_feature_set("transfer");
  EXPECT_EQ(t.method, Method::Nnls);
  EXPECT_TRUE(t.of(Group::Conv).empty());
  EXPECT_EQ(t.of(Group::Network).size(), 13u);
  EXPECT_EQ(t.of(Group::Network)[10].name(), "exp_elems");  // an exponential has a rate of its own
  EXPECT_EQ(t.of(Group::Network)[11].name(), "unfold_bytes");
  EXPECT_EQ(t.of(Group::Network).back().name(), "unfold_rows");
  // The outputs and weights of depthwise convolutions have rates of their own; pooling shares the others'.
  const Term dense_out = parse_term("out_bytes*[depthwise=0]", "t"), dw_out = parse_term("out_bytes*[depthwise=1]", "t");
  EXPECT_DOUBLE_EQ(term_value(dense_out, c1), static_cast<double>(c1.out_bytes));
  EXPECT_DOUBLE_EQ(term_value(dense_out, dw), 0.0);
  EXPECT_DOUBLE_EQ(term_value(dense_out, p), static_cast<double>(p.out_bytes));
  EXPECT_DOUBLE_EQ(term_value(dw_out, dw), static_cast<double>(dw.out_bytes));
  EXPECT_DOUBLE_EQ(term_value(dw_out, c1), 0.0);
}

TEST(Model, TransferDefaultIsNonNegativeAndCostsUnseenLayerClasses) {
  Dataset d = synthetic_networks(80, 21, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  for (const auto& s : m.subs)
    for (double c : s.coef) EXPECT_GE(c, 0.0);
  // A network with pooling, never in the training data: the pooling layer costs its memory traffic at the
  // shared rate instead of nothing, and no layer is negative.
  NetworkFeatures net = *d.networks[0];
  net.layers.insert(net.layers.begin() + 1, pool("pool1", net.layers[0].out_c, net.layers[0].out_h));
  NetworkPrediction p = predict_network(m, net);
  EXPECT_TRUE(p.unmodelled_groups.empty());
  ASSERT_TRUE(p.layers[1].predicted.has_value());
  EXPECT_EQ(p.layers[1].group, "pool");
  EXPECT_GT(*p.layers[1].predicted, 0.0);
  double sum = p.network_terms;
  for (const auto& l : p.layers) {
    if (!l.predicted) continue;
    EXPECT_GE(*l.predicted, 0.0) << l.name;
    sum += *l.predicted;
  }
  EXPECT_NEAR(sum, p.predicted, 1e-9 * p.predicted);
  EXPECT_THAT(p.extrapolation, ::testing::Contains(HasSubstr("1 pool layer: a layer class the training data never had")));
  // No depthwise convolution in the training data: its own rates are named as dropped, not silently 0.
  bool named = false;
  for (const auto& t : m.dropped)
    named = named || (t.term.find("[depthwise=1]") != std::string::npos && t.reason.find("0 in every one") != std::string::npos);
  EXPECT_TRUE(named);
}

// nnls on per-layer rows weights a layer 1 / (y * T), T its network's total: with one term the fit has the closed
// form b = sum(x / T) / sum(x^2 / (y T)), which differs from the relative-error weights 1 / y^2.
TEST(Model, NnlsWeightsPerLayerRowsByLayerAndNetworkTime) {
  Dataset d = empty_dataset(DataKind::Layers, "layers.csv", "time_ms");
  std::map<std::string, double> total;
  for (int n = 0; n < 2; ++n) {
    auto net = std::make_shared<NetworkFeatures>();
    // One large pooling layer at 1 ns per op and three small ones at 0.3 ns per op.
    net->layers.push_back(pool("big", 64 + 32 * n, 64));
    for (int l = 0; l < 3; ++l) net->layers.push_back(pool("small" + std::to_string(l), 8, 8 + 4 * l));
    for (size_t l = 0; l < net->layers.size(); ++l) {
      Sample smp;
      smp.measured = (l == 0 ? 1e-6 : 0.3e-6) * static_cast<double>(net->layers[l].ops);
      smp.group = smp.label = "net" + std::to_string(n);
      smp.line = static_cast<int>(d.samples.size()) + 2;
      smp.columns = {smp.group};
      smp.layers.push_back(&net->layers[l]);
      total[smp.group] += smp.measured;
      d.samples.push_back(std::move(smp));
    }
    d.networks.push_back(net);
  }
  double num = 0, den = 0, num_rel = 0, den_rel = 0;
  for (const auto& smp : d.samples) {
    const double x = static_cast<double>(smp.layers[0]->ops), y = smp.measured, t = total[smp.group];
    num += x / t, den += x * x / (y * t);
    num_rel += x / y, den_rel += x * x / (y * y);
  }
  Model m = fit_model(d, build_design(d, parse_feature_set("net=loop_ops;method=nnls")), all_rows(d), {});
  ASSERT_EQ(m.subs.size(), 1u);
  ASSERT_EQ(m.subs[0].coef.size(), 1u);
  EXPECT_NEAR(m.subs[0].coef[0], num / den, 1e-9 * num / den);
  EXPECT_GT(std::abs(num / den - num_rel / den_rel), 0.1 * num / den);  // not the relative-error fit
}

// Per-layer rows whose layers err independently: a network's sum errs less than its layers, so the interval
// calibrated on held-out networks' sums is narrower than the per-layer one. Predictions inside the training
// domain use it; outside, the layers outside the domain take the per-layer interval, widened.
Dataset per_layer_networks(int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> layers(4, 8), ch(8, 128), hw(8, 32);
  std::normal_distribution<double> e(0.0, 0.3);
  Dataset d = empty_dataset(DataKind::Layers, "layers.csv", "time_ms");
  for (int n = 0; n < count; ++n) {
    auto net = std::make_shared<NetworkFeatures>();
    int c = 3;
    const int s = hw(rng);
    for (int l = layers(rng); l > 0; --l) {
      const int out = ch(rng);
      net->layers.push_back(conv("conv" + std::to_string(l), c, out, s, 3));
      c = out;
    }
    for (const auto& layer : net->layers) {
      Sample smp;
      smp.measured = 1e-6 * static_cast<double>(layer.macs) * std::max(0.2, 1.0 + e(rng));
      smp.group = "net" + std::to_string(n);
      smp.label = smp.group + "/" + layer.name;
      smp.line = static_cast<int>(d.samples.size()) + 2;
      smp.columns = {smp.group};
      smp.layers.push_back(&layer);
      smp.network = net.get();
      d.samples.push_back(std::move(smp));
    }
    d.networks.push_back(net);
  }
  return d;
}

TEST(Model, PerLayerModelsCalibrateANetworkIntervalOnHeldOutNetworks) {
  Dataset d = per_layer_networks(30, 31);
  Model m = fit_model(d, build_design(d, parse_feature_set("conv=macs;method=wls")), all_rows(d), {});
  ASSERT_TRUE(m.interval.has_value());
  ASSERT_TRUE(m.network_interval.has_value());
  EXPECT_EQ(m.network_interval->calibration_rows, 30u);
  EXPECT_EQ(m.network_interval->folds, "5-fold grouped by network");
  EXPECT_LT(m.network_interval->upper_ratio / m.network_interval->lower_ratio,
            m.interval->upper_ratio / m.interval->lower_ratio);
  // Inside the domain: the network interval.
  NetworkPrediction inside = predict_network(m, *d.networks[0]);
  ASSERT_TRUE(inside.extrapolation.empty());
  EXPECT_NEAR(*inside.upper / inside.predicted, m.network_interval->upper_ratio, 1e-12);
  EXPECT_NEAR(*inside.lower / inside.predicted, m.network_interval->lower_ratio, 1e-12);
  EXPECT_EQ(inside.interval_basis, "networks");
  // Outside (a layer 100 times the largest training convolution): the layers inside keep the network
  // interval, the huge one takes the per-layer interval widened by 1 + (1 + its decades outside).
  NetworkFeatures big = *d.networks[0];
  big.layers.push_back(conv("huge", 512, 512, 64, 7));
  NetworkPrediction outside = predict_network(m, big);
  ASSERT_FALSE(outside.extrapolation.empty());
  const double p = outside.predicted, out = outside.outside_predicted, w = 1.0 + outside.outside_decades,
               dn = 1.0 + outside.network_decades;
  EXPECT_GT(out, 0.9 * p);  // the huge layer is most of the network
  EXPECT_GT(outside.outside_decades, 2.0);
  EXPECT_NEAR(*outside.upper,
              ((p - out) * m.network_interval->upper_ratio + out * m.interval->upper_ratio * w) * dn,
              1e-9 * p);
  EXPECT_NEAR(*outside.lower,
              ((p - out) * m.network_interval->lower_ratio + out * m.interval->lower_ratio / w) / dn,
              1e-9 * p);
  EXPECT_DOUBLE_EQ(outside.interval_widening, w * dn);
  EXPECT_EQ(outside.interval_basis, "networks+layers");
  // A layer outside that costs almost nothing (a 1x1 convolution with 2 output channels, below every training
  // layer) leaves the interval close to the network one, not the per-layer one: what a 10-class classifier is
  // to ResNet-50.
  NetworkFeatures tiny = *d.networks[0];
  tiny.layers.push_back(conv("tiny", 8, 2, 2, 1));
  NetworkPrediction small = predict_network(m, tiny);
  ASSERT_FALSE(small.extrapolation.empty());
  EXPECT_GT(small.outside_predicted, 0.0);
  EXPECT_LT(small.outside_predicted, 1e-3 * small.predicted);
  EXPECT_EQ(small.interval_basis, "networks+layers");
  EXPECT_LT(*small.upper / small.predicted, 1.01 * m.network_interval->upper_ratio);
  EXPECT_GT(*small.lower / small.predicted, 0.99 * m.network_interval->lower_ratio);
  // Without a network interval (a model file of format 1.1) the per-layer interval, widened by (1 + U)(1 +
  // D).
  nlohmann::json v11 = model_to_json(m);
  v11.erase("network_interval");
  v11["format_version"] = "1.1";
  const Model m11 = model_from_json(v11, "m.json");
  NetworkPrediction outside11 = predict_network(m11, big);
  EXPECT_EQ(outside11.interval_basis, "layers");
  EXPECT_NEAR(outside11.interval_widening, (1.0 + out / p * outside.outside_decades) * dn, 1e-12);
  EXPECT_NEAR(*outside11.upper / p, m.interval->upper_ratio * outside11.interval_widening, 1e-9);
  // The model file keeps it; a file without it (format 1.1) falls back to the per-layer interval.
  Model back = model_from_json(model_to_json(m), "m.json");
  ASSERT_TRUE(back.network_interval.has_value());
  EXPECT_DOUBLE_EQ(back.network_interval->upper_ratio, m.network_interval->upper_ratio);
  EXPECT_EQ(back.network_interval->calibration_rows, 30u);
  nlohmann::json old = model_to_json(m);
  old.erase("network_interval");
  old["format_version"] = "1.1";
  NetworkPrediction without = predict_network(model_from_json(old, "m.json"), *d.networks[0]);
  EXPECT_NEAR(*without.upper / without.predicted, m.interval->upper_ratio, 1e-12);
  // At 90%, 19 networks are needed for the conformal ranks to lie in the sample (floor(20 x 0.05) = 1); with
  // 18, [min, max] would be an 89.5% interval, less than asked, so from 4 to 18 networks the interval is the
  // log-normal one, and with 3 there is none.
  EXPECT_EQ(min_calibration_networks(0.9), 19u);
  EXPECT_EQ(min_calibration_networks(0.95), 39u);
  EXPECT_EQ(min_calibration_networks(0.5), kMinNetworkCalibration);
  const auto design_of = [](const Dataset& data) {
    return build_design(data, parse_feature_set("conv=macs;method=wls"));
  };
  Dataset three = per_layer_networks(3, 32);
  EXPECT_FALSE(fit_model(three, design_of(three), all_rows(three), {}).network_interval.has_value());
  Dataset few = per_layer_networks(18, 32);
  Model at18 = fit_model(few, design_of(few), all_rows(few), {});
  ASSERT_TRUE(at18.network_interval.has_value());
  EXPECT_TRUE(at18.network_interval->log_normal);
  EXPECT_DOUBLE_EQ(at18.network_interval->coverage, 0.9);
  EXPECT_EQ(at18.network_interval->calibration_rows, 18u);
  EXPECT_TRUE(model_from_json(model_to_json(at18), "m.json").network_interval->log_normal);
  Dataset enough = per_layer_networks(19, 32);
  Model at19 = fit_model(enough, design_of(enough), all_rows(enough), {});
  ASSERT_TRUE(at19.network_interval.has_value());
  EXPECT_FALSE(at19.network_interval->log_normal);
  EXPECT_FALSE(model_from_json(model_to_json(at19), "m.json").network_interval->log_normal);
  EXPECT_DOUBLE_EQ(at19.network_interval->coverage, 0.9);  // ranks 1 and 19 of 19: exactly 90%
  // Cross-validated, the held-out networks' coverage is now measured (their sums against network intervals).
  EvalOptions eo;
  eo.mode = CvMode::LeaveOneGroupOut;
  Evaluation ev = evaluate(d, build_design(d, parse_feature_set("conv=macs;method=wls")), eo);
  ASSERT_TRUE(ev.networks.has_value());
  ASSERT_TRUE(ev.networks->coverage.has_value());
  EXPECT_GE(*ev.networks->coverage, 0.7);
  EXPECT_EQ(ev.network_bounds.size(), 30u);
}

TEST(Model, ConstantAndCollinearTermsAreDroppedAndNamed) {
  Dataset d = synthetic_networks(60, 22, 0.01);
  // fc.out_bytes is 40 in every network (10 classes) and fc.1 is 1 (one FC per network): both constant, so
  // the intercept net.1 carries them; conv.flops is 2 x conv.macs.
  Design des = build_design(d, parse_feature_set("conv=macs,flops,1;fc=macs,out_bytes,1;pool=ops;net=1;method=wls"));
  FitOptions o;
  o.calibrate = false;
  Model m = fit_model(d, des, all_rows(d), o);
  std::map<std::string, std::string> why;
  for (const auto& t : m.dropped) why[t.term] = t.reason;
  ASSERT_EQ(why.size(), 4u);
  EXPECT_THAT(why["fc.out_bytes"], HasSubstr("constant (40) over the 60 training rows: the intercept net.1 carries it"));
  EXPECT_THAT(why["fc.1"], HasSubstr("constant (1)"));
  EXPECT_THAT(why["conv.flops"], HasSubstr("collinear with conv.macs over the 60 training rows"));
  EXPECT_THAT(why["pool.ops"], HasSubstr("0 in every one of the 60 training rows"));
  EXPECT_EQ(m.sub(Group::FC)->coef[1], 0.0);
  EXPECT_EQ(m.sub(Group::Conv)->coef[1], 0.0);
  EXPECT_NEAR(m.sub(Group::Network)->coef[0], 3.0, 0.3);  // the per-network constant of the data
  // Without screening, the same data fitted the constant into fc.out_bytes: a 1000-class network then gained
  // 100 times that weight. Now the prediction does not depend on the class count beyond fc.macs.
  NetworkFeatures wide = *d.networks[0];
  wide.layers.back() = fc("fc", static_cast<int64_t>(wide.layers.back().in_elems), 1000);
  const double fc_share = m.sub(Group::FC)->coef[0] * static_cast<double>(wide.layers.back().macs);
  EXPECT_LT(predict_network(m, wide).predicted, predict_network(m, *d.networks[0]).predicted + fc_share + 1.0);
}

TEST(Model, DomainIsStoredAndExtrapolationFlaggedWithAWiderInterval) {
  Dataset d = synthetic_networks(80, 23, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  ASSERT_TRUE(m.domain.has_value());
  ASSERT_TRUE(m.interval.has_value());
  EXPECT_GT(m.domain->layers_seen[static_cast<size_t>(Group::Conv)], 80u);
  EXPECT_EQ(m.domain->layers_seen[static_cast<size_t>(Group::Pool)], 0u);
  const size_t out_bytes = 2;  // TrainingDomain::layer_features(): macs, in_bytes, out_bytes, ...
  ASSERT_EQ(TrainingDomain::layer_features()[out_bytes], "out_bytes");
  EXPECT_EQ(m.domain->layer_range[static_cast<size_t>(Group::FC)][out_bytes].max, 40.0);

  // Inside: no finding, the calibrated interval as it is.
  NetworkPrediction in = predict_network(m, *d.networks[0]);
  EXPECT_TRUE(in.extrapolation.empty());
  EXPECT_EQ(in.interval_widening, 1.0);
  EXPECT_NEAR(*in.upper / in.predicted, m.interval->upper_ratio, 1e-12);

  // 1000 classes: flagged with the factor, and the interval widened by the classifier's share of the
  // prediction times 1 + its 2 decades outside (and more if a network total leaves its range too).
  NetworkFeatures wide = *d.networks[0];
  wide.layers.back() = fc("fc", static_cast<int64_t>(wide.layers.back().in_elems), 1000);
  NetworkPrediction out = predict_network(m, wide);
  EXPECT_THAT(out.extrapolation, ::testing::Contains(HasSubstr("fc out_bytes 4000 is 100x the training maximum (40)")));
  const double fc_share = *out.layers.back().predicted / out.predicted;
  EXPECT_GT(fc_share, 0.0);
  EXPECT_GE(out.interval_widening, 1.0 + fc_share * 3.0 - 1e-9);
  EXPECT_NEAR(*out.upper / out.predicted, m.interval->upper_ratio * out.interval_widening, 1e-9);
  EXPECT_NEAR(*out.lower / out.predicted, m.interval->lower_ratio / out.interval_widening, 1e-9);

  // A layer of nothing where every training layer had some (attention's MatMul has no weights): said as such,
  // not as a ratio.
  NetworkFeatures weightless = *d.networks[0];
  weightless.layers.back().weight_bytes = 0;
  const double trained_min = m.domain->layer_range[static_cast<size_t>(Group::FC)][3].min;
  ASSERT_EQ(TrainingDomain::layer_features()[3], "weight_bytes");
  ASSERT_GT(trained_min, 0.0);
  EXPECT_THAT(predict_network(m, weightless).extrapolation,
              ::testing::Contains(fmt::format(
                  "fc weight_bytes 0 where every training layer had at least {:.6g}", trained_min)));

  // The domain survives the file; a file without it (format 1.0) loads and checks nothing.
  nlohmann::json j = model_to_json(m);
  Model back = model_from_json(j, "m.json");
  ASSERT_TRUE(back.domain.has_value());
  EXPECT_EQ(predict_network(back, wide).extrapolation, out.extrapolation);
  j.erase("domain");
  j.erase("dropped_terms");
  j["format_version"] = "1.0";
  Model old = model_from_json(j, "m.json");
  EXPECT_FALSE(old.domain.has_value());
  EXPECT_TRUE(predict_network(old, wide).extrapolation.empty());
  nlohmann::json bad = model_to_json(m);
  bad["domain"]["groups"][0]["min"][0] = 1e30;
  EXPECT_THAT(message_of([&] { model_from_json(bad, "m.json"); }),
              HasSubstr("m.json: domain.groups[0]: macs min 1e+30 above max"));
}

TEST(Model, ALayerOutsideTheDomainWidensByItsShareOfThePrediction) {
  Dataset d = synthetic_networks(80, 23, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  ASSERT_TRUE(m.domain.has_value());
  // A network with fewer layers than the largest, so that one more layer keeps the network totals inside.
  const NetworkFeatures* base = nullptr;
  for (const auto& n : d.networks)
    if (!base || n->layers.size() < base->layers.size()) base = n.get();
  ASSERT_LT(base->layers.size(), 8u);
  ASSERT_TRUE(predict_network(m, *base).extrapolation.empty());
  // A 1x1x1 convolution, decades below the smallest training convolution in MACs and bytes, that costs
  // little: the interval barely widens (before, any layer outside stretched it by 1 + its decades).
  NetworkFeatures net = *base;
  net.layers.insert(net.layers.begin(), conv("tiny", 1, 1, 1, 1));
  NetworkPrediction p = predict_network(m, net);
  ASSERT_FALSE(p.extrapolation.empty());
  const auto& conv_range = m.domain->layer_range[static_cast<size_t>(Group::Conv)];
  double decades = 0;
  const LayerFeatures& tiny = net.layers.front();
  for (size_t f = 0; f < TrainingDomain::layer_features().size(); ++f) {
    const std::string& name = TrainingDomain::layer_features()[f];
    const double x = name == "dense_groups" ? static_cast<double>(tiny.groups) : *tiny.get(name);
    if (x < conv_range[f].min) decades = std::max(decades, std::log10(conv_range[f].min / x));
  }
  EXPECT_GT(decades, 1.0);
  const double share = *p.layers.front().predicted / p.predicted;
  EXPECT_LT(share, 0.2);
  EXPECT_NEAR(p.interval_widening, 1.0 + share * (1.0 + decades), 1e-9);
  EXPECT_LT(p.interval_widening, 1.0 + decades);
}

TEST(Model, ADepthwiseKindTheTrainingLackedIsSaidWithoutWidening) {
  Dataset d = synthetic_networks(80, 23, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  ASSERT_TRUE(m.domain.has_value());
  const auto& names = TrainingDomain::layer_features();
  const size_t dw = static_cast<size_t>(std::find(names.begin(), names.end(), "depthwise") - names.begin());
  ASSERT_LT(dw, names.size());
  EXPECT_EQ(m.domain->layer_range[static_cast<size_t>(Group::Conv)][dw].max, 0.0);  // no depthwise layer
  // The same sizes as a training convolution, but depthwise: every size is inside the domain, the kind is
  // not.
  NetworkFeatures net = *d.networks[0];
  size_t k = 0;
  while (net.layers[k].kind != LayerKind::Convolution) ++k;
  net.layers[k].depthwise = true;
  net.layers[k].groups = net.layers[k].in_c;
  NetworkPrediction p = predict_network(m, net);
  EXPECT_THAT(
      p.extrapolation,
      ::testing::ElementsAre("1 depthwise conv layer: the training data had no depthwise convolutions, so "
                             "it is costed at the rates of dense ones"));
  // Said, not widened: the calibration of a model fitted across families already holds that transfer.
  EXPECT_EQ(p.interval_widening, 1.0);
  EXPECT_NEAR(*p.upper / p.predicted, m.interval->upper_ratio, 1e-12);
  // A file written before the domain knew the kind checks the sizes only.
  nlohmann::json j = model_to_json(m);
  erase_domain_feature(j, "depthwise");
  EXPECT_TRUE(predict_network(model_from_json(j, "m.json"), net).extrapolation.empty());
}

// A network with exponential activations (Swish) predicted by a model whose training layers had none: said,
// and, unlike a depthwise kind, outside the domain (no rate prices it), by no decades: the interval widens
// for the part of the prediction those layers carry.
TEST(Model, AnExponentialActivationTheTrainingLackedIsOutsideTheDomain) {
  Dataset d = synthetic_networks(80, 23, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  ASSERT_TRUE(m.domain.has_value());
  const auto& names = TrainingDomain::layer_features();
  const size_t e = static_cast<size_t>(std::find(names.begin(), names.end(), "exp_elems") - names.begin());
  ASSERT_LT(e, names.size());
  EXPECT_EQ(m.domain->layer_range[static_cast<size_t>(Group::Conv)][e].max, 0.0);
  // fit says the rate is missing and how to get it.
  const auto exp_term = std::find_if(m.dropped.begin(), m.dropped.end(),
                                     [](const DroppedTerm& t) { return t.term == "net.exp_elems"; });
  ASSERT_NE(exp_term, m.dropped.end());
  EXPECT_THAT(exp_term->reason, ::testing::HasSubstr("measure the operator probe beside the networks"));
  NetworkFeatures net = *d.networks[0];
  size_t k = 0;
  while (net.layers[k].kind != LayerKind::Convolution) ++k;
  net.layers[k].exp_elems = net.layers[k].out_elems;  // a fused Swish
  const double before = predict_network(m, *d.networks[0]).predicted;
  NetworkPrediction p = predict_network(m, net);
  ASSERT_EQ(p.extrapolation.size(), 1u);
  EXPECT_THAT(p.extrapolation[0],
              ::testing::StartsWith("1 conv layer with an exponential (Sigmoid, Swish, TanH, GELU or "
                                    "Softmax; "));
  EXPECT_THAT(p.extrapolation[0], ::testing::HasSubstr("where the training conv layers had none"));
  EXPECT_EQ(p.predicted, before) << "the exp_elems rate is 0 where the training data had none";
  ASSERT_GT(p.outside_predicted, 0.0);
  EXPECT_DOUBLE_EQ(p.outside_decades, 1.0);  // 1 + no decades
  // A whole-network model: its one interval widened by 1 + the share of the prediction outside.
  EXPECT_NEAR(p.interval_widening, 1.0 + p.outside_predicted / p.predicted, 1e-12);
  EXPECT_NEAR(*p.upper / p.predicted, m.interval->upper_ratio * p.interval_widening, 1e-9);
  // Once the training data has exponential activations, more of them is a size like any other.
  for (auto& owned : d.networks) {
    auto copy = std::make_shared<NetworkFeatures>(*owned);
    for (auto& l : copy->layers)
      if (l.kind == LayerKind::Convolution) l.exp_elems = l.out_elems / 2;
    owned = copy;
  }
  for (size_t i = 0; i < d.samples.size(); ++i) {
    d.samples[i].network = d.networks[i].get();
    d.samples[i].layers.clear();
    for (const auto& l : d.networks[i]->layers) d.samples[i].layers.push_back(&l);
  }
  Model with = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  const double trained_max = with.domain->layer_range[static_cast<size_t>(Group::Conv)][e].max;
  ASSERT_GT(trained_max, 0.0);
  net.layers[k].exp_elems = static_cast<uint64_t>(100 * trained_max);
  NetworkPrediction q = predict_network(with, net);
  ASSERT_EQ(q.extrapolation.size(), 1u);
  EXPECT_THAT(q.extrapolation[0], ::testing::HasSubstr("conv exp_elems"));
  EXPECT_THAT(q.extrapolation[0], ::testing::HasSubstr("the training maximum"));
}

// A model fitted at batch 1 predicting the same network at batch 4: every layer is outside the domain by
// log10(4) decades (the paper's batch-1 measurements say nothing of what a batch shares), and the interval
// widens for all of it.
TEST(Model, ABatchTheTrainingNeverHadIsOutsideTheDomain) {
  Dataset d = synthetic_networks(80, 23, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  NetworkFeatures net = *d.networks[0];
  EXPECT_TRUE(predict_network(m, net).extrapolation.empty());
  for (auto& l : net.layers) l.batch = 4;
  const NetworkPrediction p = predict_network(m, net);
  ASSERT_FALSE(p.extrapolation.empty());
  EXPECT_THAT(p.extrapolation[0], ::testing::HasSubstr("conv batch 4 is 4x the training maximum (1)"));
  EXPECT_NEAR(p.outside_predicted, p.predicted - p.network_terms, 1e-9);  // every layer; not the constant
  EXPECT_NEAR(p.outside_decades, 1.0 + std::log10(4.0), 1e-12);
  EXPECT_GT(p.interval_widening, 2.0);
  // A model file from before batch was in the domain does not check it.
  nlohmann::json j = model_to_json(m);
  erase_domain_feature(j, "batch");
  EXPECT_TRUE(predict_network(model_from_json(j, "m.json"), net).extrapolation.empty());
}

// A convolution in more groups than any training convolution had (RegNet's 25 groups after AlexNet's 2): a
// CPU backend runs one GEMM per group, and no training layer showed what that costs. Depthwise convolutions
// are a kind of their own (no group count checked); a file from before the feature checks none.
TEST(Model, MoreGroupsThanTheTrainingConvolutionsHadAreOutsideTheDomain) {
  Dataset d = synthetic_networks(80, 23, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  const auto& names = TrainingDomain::layer_features();
  const size_t f = static_cast<size_t>(std::find(names.begin(), names.end(), "dense_groups") - names.begin());
  ASSERT_LT(f, names.size());
  const FeatureRange groups = m.domain->layer_range[static_cast<size_t>(Group::Conv)][f];
  EXPECT_EQ(groups.min, 1.0);  // the synthetic networks' convolutions are ungrouped
  EXPECT_EQ(groups.max, 1.0);
  NetworkFeatures net = *d.networks[0];
  size_t k = 0;
  while (net.layers[k].kind != LayerKind::Convolution || net.layers[k].out_c < 8) ++k;
  LayerFeatures& l = net.layers[k];
  EXPECT_TRUE(predict_network(m, net).extrapolation.empty());
  l.groups = 4;  // the same sizes in 4 groups
  const NetworkPrediction p = predict_network(m, net);
  EXPECT_THAT(p.extrapolation, ::testing::ElementsAre("conv dense_groups 4 is 4x the training maximum (1)"));
  ASSERT_TRUE(p.layers[k].predicted.has_value());
  EXPECT_NEAR(p.outside_predicted, *p.layers[k].predicted, 1e-12);
  EXPECT_NEAR(p.outside_decades, 1.0 + std::log10(4.0), 1e-12);
  // Depthwise: no group count to check (the depthwise kind is said instead).
  l.groups = l.in_c;
  l.depthwise = true;
  for (const auto& line : predict_network(m, net).extrapolation)
    EXPECT_THAT(line, ::testing::Not(::testing::HasSubstr("dense_groups")));
  // A model file from before the feature.
  l.depthwise = false;
  l.groups = 4;
  nlohmann::json j = model_to_json(m);
  EXPECT_EQ(predict_network(model_from_json(j, "m.json"), net).extrapolation, p.extrapolation);
  erase_domain_feature(j, "dense_groups");
  EXPECT_TRUE(predict_network(model_from_json(j, "m.json"), net).extrapolation.empty());
}

// A layer kind the training layers never had, of a class they had (a transposed convolution among
// convolutions): said, outside the domain by no decades, and not checked by a model file that predates kinds.
TEST(Model, ALayerKindTheTrainingNeverHadIsOutsideTheDomain) {
  Dataset d = synthetic_networks(80, 23, 0.03);
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  ASSERT_TRUE(m.domain.has_value());
  EXPECT_EQ(m.domain->kinds, (std::set<std::string>{"Convolution", "InnerProduct"}));
  NetworkFeatures net = *d.networks[0];
  size_t k = 0;
  while (net.layers[k].kind != LayerKind::Convolution) ++k;
  net.layers[k].kind = LayerKind::Deconvolution;  // same class, same sizes
  const NetworkPrediction p = predict_network(m, net);
  ASSERT_EQ(p.extrapolation.size(), 1u);
  EXPECT_EQ(
      p.extrapolation[0],
      "1 Deconvolution layer: a layer kind the training data never had, costed at the rates learned from "
      "the training layers of class conv");
  ASSERT_TRUE(p.layers[k].predicted.has_value());
  EXPECT_NEAR(p.outside_predicted, *p.layers[k].predicted, 1e-12);
  EXPECT_DOUBLE_EQ(p.outside_decades, 1.0);
  EXPECT_GT(p.interval_widening, 1.0);
  // Through a model file: the kinds are kept; a file without them checks none.
  nlohmann::json j = model_to_json(m);
  EXPECT_EQ(predict_network(model_from_json(j, "m.json"), net).extrapolation, p.extrapolation);
  j["domain"].erase("layer_kinds");
  EXPECT_TRUE(predict_network(model_from_json(j, "m.json"), net).extrapolation.empty());
  j["domain"]["layer_kinds"] = {1, 2};
  EXPECT_THAT(message_of([&] { model_from_json(j, "m.json"); }), ::testing::HasSubstr("domain.layer_kinds"));
}

TEST(Model, IntervalCalibratedLeavingOneFamilyOut) {
  Dataset d = synthetic_networks(90, 24, 0.03);
  d.header = {"network", "family"};
  for (size_t i = 0; i < d.samples.size(); ++i) d.samples[i].columns.push_back(i % 3 == 0 ? "a" : "b");
  Model m = fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), {});
  ASSERT_TRUE(m.interval.has_value());
  EXPECT_EQ(m.interval->folds, "leave-one-family-out");
  EXPECT_EQ(m.interval->calibration_rows, 90u);
  FitOptions random;
  random.calibration_group.clear();
  EXPECT_EQ(fit_model(d, build_design(d, parse_feature_set("transfer")), all_rows(d), random).interval->folds, "5-fold");
}

// Too few calibration rows for the conformal ranks at the coverage asked: the log-normal interval at that
// coverage; with enough rows the conformal one.
TEST(Model, ATooSmallCalibrationTakesTheLogNormalInterval) {
  Dataset d = synthetic_networks(12, 5, 0.05);
  FitOptions o;
  o.coverage = 0.9;
  Model m = fit_model(d, build_design(d, parse_feature_set("macs+1")), all_rows(d), o);
  ASSERT_TRUE(m.interval.has_value());
  EXPECT_EQ(m.interval->calibration_rows, 12u);
  EXPECT_TRUE(m.interval->log_normal);
  EXPECT_DOUBLE_EQ(m.interval->coverage, 0.9);
  EXPECT_LT(m.interval->lower_ratio, 1.0);
  EXPECT_GT(m.interval->upper_ratio, 1.0);
  Dataset more = synthetic_networks(40, 5, 0.05);
  Model m40 = fit_model(more, build_design(more, parse_feature_set("macs+1")), all_rows(more), o);
  EXPECT_FALSE(m40.interval->log_normal);
  EXPECT_DOUBLE_EQ(m40.interval->coverage, 0.9);
}

TEST(Model, CalibrateRatiosByRanksByLogNormalOrBySample) {
  // Five ratios: mean and sample spread of their logarithms, Student's t with 4 degrees of freedom (2.131847
  // at 0.95), and the new ratio's own variance beside the mean's: half-width t s sqrt(1 + 1/5).
  const std::vector<double> five = {1.0, 1.1, 0.9, 1.05, 0.95};
  double mean = 0, ss = 0;
  for (double r : five) mean += std::log(r) / 5;
  for (double r : five) ss += (std::log(r) - mean) * (std::log(r) - mean);
  const double half = 2.131847 * std::sqrt(ss / 4) * std::sqrt(1.2);
  const IntervalCalibration c = calibrate_ratios(five, 0.9);
  EXPECT_TRUE(c.log_normal);
  EXPECT_EQ(c.calibration_rows, 5u);
  EXPECT_DOUBLE_EQ(c.coverage, 0.9);
  EXPECT_NEAR(c.lower_ratio, std::exp(mean - half), 1e-6);
  EXPECT_NEAR(c.upper_ratio, std::exp(mean + half), 1e-6);
  // Wider than the sample's [min, max]: five ratios say little about the tails.
  EXPECT_LT(c.lower_ratio, 0.9);
  EXPECT_GT(c.upper_ratio, 1.1);
  // An unbounded ratio (a prediction <= 0) has no logarithm: [min, max] at the coverage five allow, 4/6.
  const IntervalCalibration inf =
      calibrate_ratios({1.0, 1.1, 0.9, std::numeric_limits<double>::infinity(), 0.95}, 0.9);
  EXPECT_FALSE(inf.log_normal);
  EXPECT_NEAR(inf.coverage, 4.0 / 6.0, 1e-12);
  // Three ratios: too few to estimate a spread worth the name; [min, max] at 2/4.
  const IntervalCalibration three = calibrate_ratios({1.0, 1.2, 0.9}, 0.9);
  EXPECT_FALSE(three.log_normal);
  EXPECT_NEAR(three.coverage, 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(three.lower_ratio, 0.9);
  EXPECT_DOUBLE_EQ(three.upper_ratio, 1.2);
  // Enough for the ranks (19 at 90%): the conformal interval, the sample's extremes at ranks 1 and 19.
  std::vector<double> nineteen;
  for (int i = 0; i < 19; ++i) nineteen.push_back(0.8 + 0.02 * i);
  const IntervalCalibration r = calibrate_ratios(nineteen, 0.9);
  EXPECT_FALSE(r.log_normal);
  EXPECT_DOUBLE_EQ(r.lower_ratio, 0.8);
  EXPECT_DOUBLE_EQ(r.upper_ratio, 0.8 + 0.02 * 18);
}

// The log-normal interval holds about the level asked when the networks' errors are log-normal: 8 calibration
// networks per model, 200 models, each judged on 20 new networks from the same distribution.
TEST(Model, LogNormalIntervalsFromFewNetworksHoldAboutTheLevelAsked) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> e(0.0, 0.15);
  size_t inside = 0, total = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<double> ratios;
    for (int i = 0; i < 8; ++i) ratios.push_back(std::exp(e(rng)));
    const IntervalCalibration c = calibrate_ratios(ratios, 0.9);
    ASSERT_TRUE(c.log_normal);
    for (int j = 0; j < 20; ++j) {
      const double r = std::exp(e(rng));
      inside += r >= c.lower_ratio && r <= c.upper_ratio;
      ++total;
    }
  }
  const double coverage = static_cast<double>(inside) / static_cast<double>(total);
  EXPECT_GT(coverage, 0.87);
  EXPECT_LT(coverage, 0.93);
  // [min, max] of 8 would hold 7/9 = 78% only.
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
  EXPECT_EQ(m.unbounded, 0u);
  EXPECT_NEAR(*m.median_width, 12.0 / 9.0, 1e-12);
  Metrics r = compute_metrics({1, 2, 3}, {1, 2, 4});
  EXPECT_NEAR(r.r2, 1.0 - 1.0 / 2.0, 1e-12);
  EXPECT_FALSE(r.coverage.has_value());
  EXPECT_FALSE(r.median_width.has_value());
}

// An interval with an infinite bound covers every value on that side: it counts in the coverage like any
// other, and is counted apart so that a report can say how many of the "inside" say nothing. The width is the
// median upper / lower over the finite intervals with a positive lower bound.
TEST(Metrics, UnboundedIntervalsAreCountedAndLeftOutOfTheWidth) {
  const double inf = std::numeric_limits<double>::infinity();
  Metrics m = compute_metrics({10, 10, 10, 10, 10}, {10, 10, 10, 10, 10}, {5, 8, -inf, 9, -1},
                              {20, 12, inf, inf, 30});
  EXPECT_NEAR(*m.coverage, 1.0, 1e-12);
  EXPECT_EQ(m.unbounded, 2u);
  EXPECT_NEAR(*m.median_width, (4.0 + 1.5) / 2, 1e-12);  // 20/5 and 12/8; [-1, 30] has no ratio
  Metrics none = compute_metrics({1}, {1}, {0.5}, {inf});
  EXPECT_EQ(none.unbounded, 1u);
  EXPECT_FALSE(none.median_width.has_value());
}

}  // namespace

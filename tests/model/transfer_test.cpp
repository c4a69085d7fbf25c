// Transfer splits of `convergy evaluate`: which rows train and which are held out for --train-where/--test-where,
// leave-one-group-out by any column, a second test file, the derived net.* columns, and the usage errors.
#include "model/evaluate.h"
#include "model_test_util.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>

using namespace convergy;
using namespace convergy::model;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

namespace {

using convergy::model::test_util::message_of;

LayerFeatures conv(const std::string& name, uint64_t macs, int64_t groups, bool depthwise) {
  LayerFeatures f;
  f.name = name;
  f.kind = LayerKind::Convolution;
  f.cls = LayerClass::Conv;
  f.batch = 1, f.in_c = 8, f.out_c = 8, f.in_h = f.in_w = f.out_h = f.out_w = 4;
  f.kernel_h = f.kernel_w = 3, f.stride_h = f.stride_w = 1;
  f.groups = groups;
  f.depthwise = depthwise;
  f.macs = macs;
  f.in_bytes = f.out_bytes = 512;
  return f;
}

// Networks by name: "plain*" two convolutions, "res*" with an Eltwise add, "dw*" with a depthwise
// convolution (and an add), "grp*" with a grouped (not depthwise) convolution. The digit scales the MACs.
NetworkResolver resolver() {
  return [](const std::string& ref) {
    auto net = std::make_shared<NetworkFeatures>();
    const uint64_t k = static_cast<uint64_t>(ref.back() - '0' + 1);
    net->layers = {conv("conv1", 1000 * k, 1, false), conv("conv2", 3000 * k, 1, false)};
    if (ref.starts_with("dw")) net->layers.push_back(conv("dw", 100 * k, 8, true));
    if (ref.starts_with("grp")) net->layers.push_back(conv("g", 400 * k, 2, false));
    if (ref.starts_with("res") || ref.starts_with("dw")) {
      LayerFeatures add;
      add.name = "add";
      add.kind = LayerKind::Eltwise;
      add.cls = LayerClass::Other;
      add.ops = 128 * k;
      net->layers.push_back(add);
    }
    return std::shared_ptr<const NetworkFeatures>(net);
  };
}

// Whole-network rows: name, family, energy.
Dataset networks(const std::string& path, const std::vector<std::array<std::string, 3>>& rows) {
  std::string text = "network,family,energy_mj\n";
  for (const auto& r : rows) text += r[0] + "," + r[1] + "," + r[2] + "\n";
  return load_dataset(CsvTable::parse(text, path), "energy_mj", resolver());
}

Dataset families() {
  return networks("nets.csv", {{"plain1", "conv", "10"}, {"plain2", "conv", "20"}, {"plain3", "conv", "31"},
                               {"res1", "res", "12"},    {"res2", "res", "23"},    {"dw1", "dws", "11"},
                               {"dw2", "dws", "22"},     {"grp4", "mixed", "52"}});
}

std::set<std::string> names(const Dataset& d, const std::vector<size_t>& rows) {
  std::set<std::string> out;
  for (size_t r : rows) out.insert(d.samples[r].group);
  return out;
}

TEST(RowFilter, ParsesEqualAndNotEqual) {
  RowFilter eq = parse_row_filter("family=conv", "--train-where");
  EXPECT_EQ(eq.column, "family");
  EXPECT_EQ(eq.value, "conv");
  EXPECT_TRUE(eq.equal);
  RowFilter ne = parse_row_filter("net.structure!=plain", "--test-where");
  EXPECT_EQ(ne.column, "net.structure");
  EXPECT_EQ(ne.value, "plain");
  EXPECT_FALSE(ne.equal);
  RowFilter empty_value = parse_row_filter("split=", "--test-where");
  EXPECT_EQ(empty_value.value, "");
  for (const char* bad : {"family", "=conv", "!=conv"})
    EXPECT_EQ(message_of([&] { parse_row_filter(bad, "--train-where"); }),
              fmt::format("--train-where \"{}\", expected COLUMN=VALUE or COLUMN!=VALUE", bad));
}

TEST(DerivedColumns, NetworkStructure) {
  Dataset d = families();
  std::vector<std::string> structure = column_values(d, "net.structure");
  std::vector<std::string> expected = {"plain", "plain", "plain", "residual", "residual", "grouped", "grouped", "grouped"};
  EXPECT_EQ(structure, expected);
  std::vector<std::string> depthwise = column_values(d, "net.depthwise");
  EXPECT_EQ(depthwise, (std::vector<std::string>{"0", "0", "0", "0", "0", "1", "1", "0"}));
  std::vector<std::string> grouped = column_values(d, "net.grouped");
  EXPECT_EQ(grouped, (std::vector<std::string>{"0", "0", "0", "0", "0", "1", "1", "1"}));
  std::vector<std::string> residual = column_values(d, "net.residual");
  EXPECT_EQ(residual, (std::vector<std::string>{"0", "0", "0", "1", "1", "1", "1", "0"}));
  EXPECT_EQ(column_values(d, "family")[3], "res");
  EXPECT_EQ(message_of([&] { column_values(d, "famly"); }),
            "nets.csv: no column \"famly\" (columns: network, family, energy_mj, net.grouped, net.depthwise, "
            "net.residual, net.structure)");
}

TEST(DerivedColumns, RefusedForStandaloneLayers) {
  CsvTable csv = CsvTable::parse("in_c,in_h,in_w,out_c,kernel_h,kernel_w,energy_mj\n3,8,8,4,3,3,1.5\n", "layers.csv");
  Dataset d = load_dataset(csv, "energy_mj", {});
  EXPECT_EQ(message_of([&] { column_values(d, "net.grouped"); }),
            "layers.csv:2: column \"net.grouped\" is a property of the row's network, but the row names no network");
}

TEST(KeepRows, ByDerivedAndCsvColumns) {
  Dataset d = families();
  const std::string whole = d.digest;
  keep_rows(d, {parse_row_filter("net.structure!=plain", "--where")});
  EXPECT_EQ(names(d, {0, 1, 2, 3, 4}), (std::set<std::string>{"res1", "res2", "dw1", "dw2", "grp4"}));
  ASSERT_EQ(d.samples.size(), 5u);
  EXPECT_NE(d.digest, whole);
  const std::string residual_or_grouped = d.digest;
  keep_rows(d, {parse_row_filter("family!=res", "--where"), parse_row_filter("net.depthwise=1", "--where")});
  ASSERT_EQ(d.samples.size(), 2u);
  EXPECT_EQ(names(d, {0, 1}), (std::set<std::string>{"dw1", "dw2"}));
  EXPECT_NE(d.digest, residual_or_grouped);
  EXPECT_EQ(message_of([&] { keep_rows(d, {parse_row_filter("net.residual=0", "--where")}); }),
            "nets.csv: no row has net.residual=0");
  EXPECT_EQ(d.samples.size(), 2u);  // a refused filter leaves the data as it was
}

TEST(TransferSplit, TrainWhereAndTestWhere) {
  Dataset d = families();
  EvalOptions o;
  o.mode = CvMode::Subsets;
  o.train_where = {parse_row_filter("family=conv", "--train-where")};
  o.test_where = {parse_row_filter("family=dws", "--test-where")};
  Folds f = make_folds(d, o);
  ASSERT_EQ(f.train.size(), 1u);
  EXPECT_EQ(names(d, f.train[0]), (std::set<std::string>{"plain1", "plain2", "plain3"}));
  EXPECT_EQ(names(d, f.test[0]), (std::set<std::string>{"dw1", "dw2"}));
  EXPECT_EQ(f.final_train, f.train[0]);
  EXPECT_EQ(f.cv, "train on family=conv, test on family=dws");
}

TEST(TransferSplit, OneSideGivenTheOtherIsTheRest) {
  Dataset d = families();
  EvalOptions o;
  o.mode = CvMode::Subsets;
  o.train_where = {parse_row_filter("net.structure=plain", "--train-where")};
  Folds f = make_folds(d, o);
  EXPECT_EQ(names(d, f.train[0]), (std::set<std::string>{"plain1", "plain2", "plain3"}));
  EXPECT_EQ(names(d, f.test[0]), (std::set<std::string>{"res1", "res2", "dw1", "dw2", "grp4"}));

  o.train_where.clear();
  o.test_where = {parse_row_filter("net.grouped=1", "--test-where")};
  f = make_folds(d, o);
  EXPECT_EQ(names(d, f.train[0]), (std::set<std::string>{"plain1", "plain2", "plain3", "res1", "res2"}));
  EXPECT_EQ(names(d, f.test[0]), (std::set<std::string>{"dw1", "dw2", "grp4"}));
}

TEST(TransferSplit, ATestRowIsNeverTrainedOn) {
  Dataset d = families();
  EvalOptions o;
  o.mode = CvMode::Subsets;
  // Both filters match the depthwise networks: they are held out, not trained on.
  o.train_where = {parse_row_filter("family!=mixed", "--train-where")};
  o.test_where = {parse_row_filter("net.depthwise=1", "--test-where")};
  Folds f = make_folds(d, o);
  EXPECT_EQ(names(d, f.train[0]), (std::set<std::string>{"plain1", "plain2", "plain3", "res1", "res2"}));
  EXPECT_EQ(names(d, f.test[0]), (std::set<std::string>{"dw1", "dw2"}));
}

TEST(TransferSplit, EmptySideIsAnError) {
  Dataset d = families();
  EvalOptions o;
  o.mode = CvMode::Subsets;
  o.train_where = {parse_row_filter("family=none", "--train-where")};
  EXPECT_EQ(message_of([&] { make_folds(d, o); }),
            "nets.csv: no training row (train: family=none; test: the other rows)");
  o.train_where = {parse_row_filter("family=conv", "--train-where")};
  o.test_where = {parse_row_filter("family=conv", "--test-where")};
  // Every conv row is a test row, so nothing is left to train on.
  EXPECT_EQ(message_of([&] { make_folds(d, o); }),
            "nets.csv: no training row (train: family=conv; test: family=conv)");
}

TEST(TransferSplit, LeaveOneValueOutOfADerivedColumn) {
  Dataset d = families();
  EvalOptions o;
  o.mode = CvMode::LeaveOneGroupOut;
  o.group_column = "net.structure";
  o.per_split = true;
  Folds f = make_folds(d, o);
  ASSERT_EQ(f.names, (std::vector<std::string>{"net.structure=plain", "net.structure=residual", "net.structure=grouped"}));
  const auto structure = column_values(d, "net.structure");
  for (size_t k = 0; k < f.test.size(); ++k) {
    const std::string held = f.names[k].substr(f.names[k].find('=') + 1);
    for (size_t r : f.test[k]) EXPECT_EQ(structure[r], held);
    for (size_t r : f.train[k]) EXPECT_NE(structure[r], held);
    EXPECT_EQ(f.test[k].size() + f.train[k].size(), d.samples.size());
  }
  // Every held-out row is predicted once, by the fold that held its group out; each split reports its own rows.
  Design design = build_design(d, parse_feature_set("conv=macs;other=ops;method=nnls"));
  o.fit.calibrate = false;
  Evaluation e = evaluate(d, design, o);
  ASSERT_EQ(e.splits.size(), 3u);
  size_t held = 0;
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(e.splits[k].held_out, f.names[k]);
    EXPECT_EQ(e.splits[k].test_rows, f.test[k].size());
    EXPECT_EQ(e.splits[k].train_rows, f.train[k].size());
    EXPECT_EQ(e.splits[k].rows.n, f.test[k].size());
    held += e.splits[k].rows.n;
    for (size_t r : f.test[k]) EXPECT_EQ(e.fold[r], static_cast<int>(k));
  }
  EXPECT_EQ(held, e.rows.n);
  EXPECT_EQ(e.rows.n, d.samples.size());
}

TEST(TransferSplit, SecondFileIsTheTestSet) {
  Dataset train = families();
  std::string text = "network,kind,energy_mj\ngrp7,real,80\ndw9,real,100\n";
  merge_test_data(train, load_dataset(CsvTable::parse(text, "real.csv"), "energy_mj", resolver()));
  ASSERT_EQ(train.samples.size(), 10u);
  EXPECT_EQ(train.header, (std::vector<std::string>{"network", "family", "energy_mj", "kind"}));
  EXPECT_EQ(train.samples[0].columns[3], "");      // the first file has no "kind"
  EXPECT_EQ(train.samples[8].columns[1], "");      // the second has no "family"
  EXPECT_EQ(train.samples[8].columns[3], "real");
  EXPECT_EQ(train.samples[9].network->layers.size(), 4u);  // dw9's own network, still valid after the move
  EvalOptions o;
  o.mode = CvMode::Subsets;
  Folds f = make_folds(train, o);
  EXPECT_EQ(f.train[0].size(), 8u);
  EXPECT_EQ(f.cv, "train on nets.csv, test on real.csv");
  EXPECT_EQ(names(train, f.test[0]), (std::set<std::string>{"grp7", "dw9"}));
  // Filters narrow both sides: train on the conv family only, test on the second file's depthwise network.
  o.train_where = {parse_row_filter("family=conv", "--train-where")};
  o.test_where = {parse_row_filter("net.depthwise=1", "--test-where")};
  f = make_folds(train, o);
  EXPECT_EQ(names(train, f.train[0]), (std::set<std::string>{"plain1", "plain2", "plain3"}));
  EXPECT_EQ(names(train, f.test[0]), (std::set<std::string>{"dw9"}));
  EXPECT_EQ(f.cv, "train on family=conv, test on real.csv where net.depthwise=1");
}

TEST(TransferSplit, SecondFileOfAnotherKindIsRefused) {
  Dataset train = families();
  CsvTable layers = CsvTable::parse("in_c,in_h,in_w,out_c,kernel_h,kernel_w,energy_mj\n3,8,8,4,3,3,1.5\n", "layers.csv");
  EXPECT_EQ(message_of([&] { merge_test_data(train, load_dataset(layers, "energy_mj", {})); }),
            "layers.csv: standalone-layer rows, expected whole-network rows like nets.csv (the model is fitted on one "
            "and tested on the other)");
}

// The operator probe's rows train every fold of every mode and are never held out, scored or calibrated on.
TEST(Probe, TrainsEveryFoldAndIsNeverHeldOut) {
  std::vector<std::array<std::string, 3>> rows;
  for (int i = 0; i < 10; ++i)
    rows.push_back({"plain" + std::to_string(i), "conv", std::to_string(10 + 10 * i)});
  for (int i = 0; i < 4; ++i) rows.push_back({"res" + std::to_string(i), "res", std::to_string(12 + 11 * i)});
  rows.push_back({"probe", "probe", "40"});
  const Dataset d = networks("nets.csv", rows);
  const size_t probe = d.samples.size() - 1;
  ASSERT_TRUE(d.samples[probe].probe);
  ASSERT_FALSE(d.samples[0].probe);
  auto check = [&](const EvalOptions& o, size_t folds) {
    const Folds f = make_folds(d, o);
    ASSERT_EQ(f.test.size(), folds) << f.cv;
    for (size_t k = 0; k < f.test.size(); ++k) {
      EXPECT_TRUE(std::count(f.train[k].begin(), f.train[k].end(), probe)) << f.cv << " fold " << k;
      EXPECT_FALSE(std::count(f.test[k].begin(), f.test[k].end(), probe)) << f.cv << " fold " << k;
    }
    EXPECT_TRUE(std::count(f.final_train.begin(), f.final_train.end(), probe)) << f.cv;
  };
  EvalOptions lono;
  lono.mode = CvMode::LeaveOneGroupOut;
  check(lono, 14);  // one fold per network but the probe
  EvalOptions by_family = lono;
  by_family.group_column = "family";
  check(by_family, 2);  // conv and res: the probe's own value is no family to leave out
  EvalOptions kfold;
  kfold.folds = 5;
  check(kfold, 5);
  EvalOptions subsets;
  subsets.mode = CvMode::Subsets;
  subsets.train_where = {parse_row_filter("family=conv", "--train-where")};
  check(subsets, 1);  // trained on, although the filter leaves it out; not in "the other rows" tested
  subsets.test_where = {parse_row_filter("family!=conv", "--test-where")};
  check(subsets, 1);  // not tested, although the test filter takes it
  // Evaluated: no prediction of the probe, and 14 networks scored.
  const Evaluation e = evaluate(d, build_design(d, parse_feature_set("macs+1")), lono);
  EXPECT_TRUE(std::isnan(e.predicted[probe]));
  EXPECT_EQ(e.rows.n, 14u);
  // Fitted: the interval is calibrated on the 14 networks only.
  const Model m = fit_model(d, build_design(d, parse_feature_set("macs+1")),
                            [&] {
                              std::vector<size_t> all(d.samples.size());
                              for (size_t i = 0; i < all.size(); ++i) all[i] = i;
                              return all;
                            }(),
                            {});
  ASSERT_TRUE(m.interval.has_value());
  EXPECT_EQ(m.interval->calibration_rows, 14u);
  EXPECT_EQ(m.provenance.training_rows, 15u);
}

// Networks whose energy is exactly 2 + 0.001 x MACs, the probe's too.
Dataset linear_networks(int count) {
  std::vector<std::array<std::string, 3>> rows;
  for (int i = 0; i < count; ++i) {
    const std::string name = "plain" + std::to_string(i);
    rows.push_back({name, "conv", std::to_string(2 + 4.0 * (i + 1))});  // 4000 (i + 1) MACs
  }
  rows.push_back({"probe", "probe", std::to_string(2 + 0.001 * 4000 * ('e' - '0' + 1))});
  return networks("nets.csv", rows);
}

// The operator probe measured in both files is the anchor of the machine's drift between their campaigns:
// --correct-drift scales the test file's predictions and bounds by its ratio, and nothing else.
TEST(Probe, AnchorScalesTheTestFilesPredictions) {
  // The same networks measured again 25% slower, the probe too; plain4 would be 2 + 4 x 5 = 22 as fitted.
  const std::string text = "network,family,energy_mj\nplain4,conv,27.5\nprobe,probe," +
                           std::to_string(1.25 * (2 + 0.001 * 4000 * ('e' - '0' + 1))) + "\n";
  Dataset merged = linear_networks(10);
  merge_test_data(merged, load_dataset(CsvTable::parse(text, "later.csv"), "energy_mj", resolver()));
  const std::optional<ProbeAnchor> a = probe_anchor(merged);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->networks, 1u);
  EXPECT_NEAR(a->ratio(), 1.25, 1e-9);
  EXPECT_FALSE(probe_anchor(linear_networks(10)).has_value()) << "one file: nothing to compare";

  const Design design = build_design(merged, parse_feature_set("macs+1"));
  EvalOptions o;
  o.mode = CvMode::Subsets;
  const Evaluation raw = evaluate(merged, design, o);
  o.test_scale = a->ratio();
  const Evaluation corrected = evaluate(merged, design, o);
  size_t tested = 0;
  for (size_t i = 0; i < merged.samples.size(); ++i) {
    if (std::isnan(raw.predicted[i])) continue;
    ++tested;
    EXPECT_EQ(merged.samples[i].file, 1);
    EXPECT_NEAR(raw.predicted[i], 22.0, 1e-6);
    EXPECT_NEAR(corrected.predicted[i], 27.5, 1e-6);
    EXPECT_NEAR(corrected.lower[i], 1.25 * raw.lower[i], 1e-9);
    EXPECT_NEAR(corrected.upper[i], 1.25 * raw.upper[i], 1e-9);
  }
  EXPECT_EQ(tested, 1u) << "the later file's probe is neither trained on nor tested";
  EXPECT_NEAR(raw.rows.accuracy, 0.8, 1e-6);
  EXPECT_NEAR(corrected.rows.accuracy, 1.0, 1e-6);
  // A probe measured in one file only, or at another input shape only, anchors nothing.
  Dataset other = linear_networks(10);
  merge_test_data(
      other,
      load_dataset(CsvTable::parse("network,family,energy_mj\nplain4,conv,27.5\nprobe@classes=3,probe,9\n",
                                   "later.csv"),
                   "energy_mj", resolver()));
  EXPECT_FALSE(probe_anchor(other).has_value());
}

TEST(LearningCurve, DrawsEachSizeAndPredictsEveryOtherNetwork) {
  const Dataset d = linear_networks(10);
  const Design design = build_design(d, parse_feature_set("macs+1"));
  LearningCurveOptions o;
  o.sizes = {4, 1, 4, 8};  // sorted, each size once
  o.draws = 3;
  const LearningCurve c = learning_curve(d, design, o);
  EXPECT_EQ(c.unit, "network");
  EXPECT_EQ(c.units, 10u);  // the probe is no unit
  ASSERT_EQ(c.points.size(), 3u);
  const std::array<size_t, 3> sizes = {1, 4, 8};
  for (size_t p = 0; p < 3; ++p) {
    const LearningPoint& pt = c.points[p];
    EXPECT_EQ(pt.train_units, sizes[p]);
    EXPECT_EQ(pt.test_units, 10 - sizes[p]);
    ASSERT_EQ(pt.accuracy.size(), 3u);
    EXPECT_EQ(pt.pooled.n, 3 * (10 - sizes[p]));
    // Two coefficients and exact data: one network and the probe are enough, so the probe trained every fit.
    EXPECT_NEAR(pt.pooled.accuracy, 1.0, 1e-9) << sizes[p];
  }
  // The same seed draws the same networks; another seed may not.
  const LearningCurve again = learning_curve(d, design, o);
  EXPECT_EQ(learning_curve_to_json(again).dump(), learning_curve_to_json(c).dump());
  // A size that leaves no network to predict, or none to fit, is refused.
  o.sizes = {10};
  EXPECT_THAT(
      message_of([&] { learning_curve(d, design, o); }),
      HasSubstr("nets.csv: a learning curve of 10 training networks: the data has 10, expected from 1 to 9"));
  o.sizes = {0};
  EXPECT_THAT(message_of([&] { learning_curve(d, design, o); }), HasSubstr("expected from 1 to 9"));
}

TEST(LearningCurve, StratifiedDrawsTakeEveryValueBeforeAnyTwice) {
  // 4 families: conv (3 networks), res (2), dws (2), mixed (1).
  const Dataset d = families();
  const Design design = build_design(d, parse_feature_set("macs+1"));
  std::map<std::string, std::string> family;
  for (const auto& s : d.samples) family[s.group] = s.columns[1];
  auto families_of = [&](const std::vector<std::string>& drawn) {
    std::set<std::string> f;
    for (const auto& n : drawn) f.insert(family.at(n));
    return f;
  };
  LearningCurveOptions o;
  o.sizes = {2, 4};
  o.draws = 20;
  o.stratify = "family";
  const LearningCurve c = learning_curve(d, design, o);
  EXPECT_EQ(c.stratify, "family");
  ASSERT_EQ(c.points.size(), 2u);
  ASSERT_EQ(c.points[1].drawn.size(), 20u);
  for (int k = 0; k < 20; ++k) {
    EXPECT_EQ(c.points[0].drawn[k].size(), 2u);
    EXPECT_EQ(families_of(c.points[0].drawn[k]).size(), 2u) << "draw " << k;  // two families, one each
    EXPECT_EQ(families_of(c.points[1].drawn[k]).size(), 4u) << "draw " << k;  // all four
    // Nested: a draw's 2 are the first 2 of its 4.
    EXPECT_TRUE(
        std::equal(c.points[0].drawn[k].begin(), c.points[0].drawn[k].end(), c.points[1].drawn[k].begin()));
  }
  // Without stratifying, some draw of 4 misses a family (3 of the 8 networks are conv).
  o.stratify.clear();
  const LearningCurve r = learning_curve(d, design, o);
  EXPECT_TRUE(r.stratify.empty());
  int all_four = 0;
  for (const auto& drawn : r.points[1].drawn) all_four += families_of(drawn).size() == 4;
  EXPECT_LT(all_four, 20);
  // A derived column works too, and an unknown one is refused by name.
  o.stratify = "net.structure";
  EXPECT_EQ(learning_curve(d, design, o).points[1].drawn.size(), 20u);
  o.stratify = "famly";
  EXPECT_THAT(message_of([&] { learning_curve(d, design, o); }), HasSubstr("famly"));
}

TEST(LearningCurve, NoisyNetworksImproveWithMoreTrainingNetworks) {
  // Energy 2 + 0.001 x MACs times a factor between 0.8 and 1.2 per network: with 2 networks the fit follows
  // their noise, with 30 it averages it out.
  std::vector<std::array<std::string, 3>> rows;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  for (int i = 0; i < 40; ++i)
    rows.push_back(
        {"plain" + std::to_string(i), "conv", std::to_string((2 + 4.0 * (i % 10 + 1)) * factor(rng))});
  const Dataset d = networks("nets.csv", rows);
  LearningCurveOptions o;
  o.sizes = {2, 30};
  o.draws = 20;
  const LearningCurve c = learning_curve(d, build_design(d, parse_feature_set("macs+1")), o);
  ASSERT_EQ(c.points.size(), 2u);
  EXPECT_LT(c.points[0].pooled.accuracy, c.points[1].pooled.accuracy);
  EXPECT_GT(c.points[1].pooled.accuracy, 0.85);
  // 30 networks calibrate an interval (2 do not: fewer than 10 rows), and it holds most of the others.
  EXPECT_FALSE(c.points[0].pooled.coverage.has_value());
  ASSERT_TRUE(c.points[1].pooled.coverage.has_value());
  EXPECT_GT(*c.points[1].pooled.coverage, 0.75);
}

// The CLI on a few Jetson Nano networks of two families, and a second file of others.
class CliTransfer : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(CONVERGY_CLI)) << "build target convergy_cli first";
    dir_ = fs::temp_directory_path() / ("convergy_cli_transfer_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const std::string nets = std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/nets/";
    CsvTable t = CsvTable::read_file(std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/networks.csv");
    const int c_name = t.require_column("name"), c_family = t.require_column("family"),
              c_energy = t.require_column("energy_mj");
    std::ofstream train(path("train.csv")), test(path("test.csv"));
    train << "network,family,energy_mj\n";
    test << "network,energy_mj\n";
    std::map<std::string, int> taken;
    for (size_t r = 0; r < t.rows(); r += 37) {
      const std::string family = t.text(r, c_family);
      const std::string row = nets + t.text(r, c_name) + ".prototxt";
      int& n = taken[family];
      if (family == "mixed" && n < 3) {
        test << row << "," << t.text(r, c_energy) << "\n";
        expected_test_.insert(row);
      } else if (family != "mixed" && n < 12) {
        train << row << "," << family << "," << t.text(r, c_energy) << "\n";
        (family == "conv" ? conv_ : dws_).insert(row);
      } else {
        continue;
      }
      ++n;
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  nlohmann::json json_of(const std::string& args) {
    auto r = test_util::run_cli("evaluate --measurements " + path("train.csv") + " --target energy_mj --features macs+1 " +
                                args + " --format json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code == 0 ? nlohmann::json::parse(r.output) : nlohmann::json();
  }
  static std::set<std::string> items(const nlohmann::json& result) {
    std::set<std::string> out;
    for (const auto& p : result["predictions"]) out.insert(p["item"].get<std::string>());
    return out;
  }

  fs::path dir_;
  std::set<std::string> conv_, dws_, expected_test_;
};

TEST_F(CliTransfer, LeaveOneFamilyOutReportsEachDirection) {
  ASSERT_EQ(conv_.size(), 12u);
  ASSERT_EQ(dws_.size(), 12u);
  nlohmann::json j = json_of("--split leave-one-family-out");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["split"], "leave-one-family-out");
  const auto& r = j["results"][0];
  EXPECT_EQ(r["cv"], "leave-one-family-out");
  EXPECT_EQ(r["rows"]["n"], 24);  // pooled over both directions
  ASSERT_EQ(r["splits"].size(), 2u);
  std::set<std::string> held;
  for (const auto& s : r["splits"]) {
    held.insert(s["held_out"].get<std::string>());
    EXPECT_EQ(s["test_rows"], 12);
    EXPECT_EQ(s["train_rows"], 12);
    EXPECT_EQ(s["rows"]["n"], 12);
    EXPECT_TRUE(s["rows"]["interval_coverage"].is_number());
  }
  EXPECT_EQ(held, (std::set<std::string>{"family=conv", "family=dws"}));

  auto table = test_util::run_cli("evaluate --measurements " + path("train.csv") +
                                  " --target energy_mj --features macs+1 --split by:family");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("per held-out group"));
  EXPECT_THAT(table.output, HasSubstr("family=conv"));
  EXPECT_THAT(table.output, HasSubstr("family=dws"));
}

TEST_F(CliTransfer, TrainOnOneFamilyPredictTheOther) {
  nlohmann::json j = json_of("--train-where family=conv --test-where family=dws");
  const auto& r = j["results"][0];
  EXPECT_EQ(r["cv"], "train on family=conv, test on family=dws");
  ASSERT_EQ(r["splits"].size(), 1u);
  EXPECT_EQ(r["splits"][0]["train_rows"], 12);
  EXPECT_EQ(items(r), dws_);
  for (const auto& p : r["predictions"]) {
    ASSERT_TRUE(p["lower"].is_number());
    EXPECT_LE(p["lower"].get<double>(), p["predicted"].get<double>());
    EXPECT_EQ(p["inside"].get<bool>(),
              p["measured"].get<double>() >= p["lower"].get<double>() && p["measured"].get<double>() <= p["upper"].get<double>());
  }
}

TEST_F(CliTransfer, SecondFileIsPredictedByAModelOfTheFirst) {
  nlohmann::json j = json_of("--test-measurements " + path("test.csv"));
  const auto& r = j["results"][0];
  EXPECT_EQ(j["test_measurements"], path("test.csv"));
  EXPECT_EQ(r["splits"][0]["train_rows"], 24);
  EXPECT_EQ(items(r), expected_test_);

  auto table = test_util::run_cli("evaluate --measurements " + path("train.csv") + " --target energy_mj --features macs+1 "
                                  "--test-measurements " + path("test.csv"));
  ASSERT_EQ(table.exit_code, 0) << table.output;
  for (const auto& n : expected_test_) EXPECT_THAT(table.output, HasSubstr(n));
  EXPECT_THAT(table.output, HasSubstr("inside"));
}

TEST_F(CliTransfer, CorrectDriftScalesByTheProbesRatio) {
  // The probe in both files, 20% slower in the test file's campaign.
  for (const auto& [name, row] :
       {std::pair<std::string, std::string>{"train.csv", "probe,probe,50\n"}, {"test.csv", "probe,60\n"}}) {
    std::ofstream(path(name), std::ios::app) << row;
  }
  const nlohmann::json raw = json_of("--test-measurements " + path("test.csv"));
  const nlohmann::json corrected = json_of("--test-measurements " + path("test.csv") + " --correct-drift");
  EXPECT_TRUE(raw["drift_correction"].is_null());
  ASSERT_TRUE(corrected["drift_correction"].is_object());
  EXPECT_EQ(corrected["drift_correction"]["anchor"], "operator probe");
  EXPECT_DOUBLE_EQ(corrected["drift_correction"]["train_total"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(corrected["drift_correction"]["test_total"].get<double>(), 60.0);
  EXPECT_NEAR(corrected["drift_correction"]["scale"].get<double>(), 1.2, 1e-12);
  const auto& a = raw["results"][0]["predictions"];
  const auto& b = corrected["results"][0]["predictions"];
  ASSERT_EQ(a.size(), expected_test_.size()) << "the probe is not among the predicted items";
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i]["item"], a[i]["item"]);
    EXPECT_NEAR(b[i]["predicted"].get<double>(), 1.2 * a[i]["predicted"].get<double>(), 1e-9);
    EXPECT_NEAR(b[i]["upper"].get<double>(), 1.2 * a[i]["upper"].get<double>(), 1e-9);
  }
  auto table = test_util::run_cli("evaluate --measurements " + path("train.csv") +
                                  " --target energy_mj --features "
                                  "macs+1 --test-measurements " +
                                  path("test.csv") + " --correct-drift");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("drift: the operator probe took 50 mJ in " + path("train.csv") +
                                      " and 60 in " + path("test.csv") +
                                      " (+20.0%); every prediction and bound of the test rows "
                                      "above is multiplied by 1.2000"));
}

TEST_F(CliTransfer, FitWhereTakesNotEqualAndDerivedColumns) {
  // The fixture's conv family is the plain networks, its dws family the grouped ones: two ways to name one
  // subset fit the same model, but their provenance names the filter that chose the rows.
  std::map<std::string, nlohmann::json> models;
  for (const std::string where : {"family=conv", "family!=dws", "net.structure=plain", "net.grouped!=1"}) {
    auto r = test_util::run_cli("fit --measurements " + path("train.csv") +
                                " --target energy_mj --features macs+1 "
                                "--where " +
                                where + " --out " + path("m.json"));
    ASSERT_EQ(r.exit_code, 0) << where << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("(12 rows, whole-network)")) << where;
    EXPECT_THAT(r.output,
                HasSubstr("  the interval: 12 calibration networks are too few for conformal ranks at "
                          "90%; its bounds assume log-normal errors (Student's t)\n"))
        << where;
    std::ifstream in(path("m.json"));
    models[where] = nlohmann::json::parse(in);
    EXPECT_EQ(models[where]["provenance"]["training_rows"], 12) << where;
    EXPECT_THAT(models[where]["provenance"]["training_data"].get<std::string>(),
                HasSubstr("[" + where + "]"));
  }
  std::set<std::string> digests;
  for (const auto& [where, m] : models) {
    EXPECT_EQ(m["submodels"], models["family=conv"]["submodels"]) << where;
    digests.insert(m["provenance"]["training_data_fnv1a64"].get<std::string>());
  }
  EXPECT_EQ(digests.size(), models.size());

  // evaluate's --where is the same filter.
  auto e = test_util::run_cli(
      "evaluate --measurements " + path("train.csv") +
      " --target energy_mj --features macs+1 --where net.structure!=plain --cv 3 --format json");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_EQ(nlohmann::json::parse(e.output)["results"][0]["rows"]["n"], 12);

  const std::string fit =
      "fit --measurements " + path("train.csv") + " --target energy_mj --out " + path("x.json");
  auto unknown = test_util::run_cli(fit + " --where famly!=dws");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.output, "convergy: error: " + path("train.csv") +
                                ": no column \"famly\" (columns: network, family, energy_mj, net.grouped, "
                                "net.depthwise, net.residual, net.structure)\n");
  auto none = test_util::run_cli(fit + " --where net.structure=residual");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.output, "convergy: error: " + path("train.csv") + ": no row has net.structure=residual\n");
  auto bad = test_util::run_cli(fit + " --where !=dws");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.output, "convergy: error: --where \"!=dws\", expected COLUMN=VALUE or COLUMN!=VALUE\n");
  EXPECT_FALSE(fs::exists(path("x.json")));
}

TEST_F(CliTransfer, LearningCurveTableAndJson) {
  nlohmann::json j = json_of("--learning-curve 2,12 --draws 3");
  ASSERT_TRUE(j.contains("learning_curves"));
  const auto& c = j["learning_curves"][0];
  EXPECT_EQ(c["feature_set"], "macs+1");
  EXPECT_EQ(c["unit"], "network");
  EXPECT_EQ(c["units"], 24);
  EXPECT_EQ(c["draws"], 3);
  ASSERT_EQ(c["points"].size(), 2u);
  EXPECT_EQ(c["points"][0]["train_units"], 2);
  EXPECT_EQ(c["points"][0]["test_units"], 22);
  EXPECT_EQ(c["points"][0]["accuracy_per_draw"].size(), 3u);
  ASSERT_EQ(c["points"][0]["drawn"].size(), 3u);  // per draw, the networks trained on
  EXPECT_EQ(c["points"][0]["drawn"][0].size(), 2u);
  EXPECT_TRUE(c["stratify"].is_null());
  nlohmann::json st = json_of("--learning-curve 2 --draws 4 --stratify family");
  EXPECT_EQ(st["learning_curves"][0]["stratify"], "family");
  for (const auto& drawn : st["learning_curves"][0]["points"][0]["drawn"]) {
    ASSERT_EQ(drawn.size(), 2u);
    EXPECT_NE(conv_.count(drawn[0].get<std::string>()),
              conv_.count(drawn[1].get<std::string>()));  // one of each
  }
  EXPECT_EQ(c["points"][1]["train_units"], 12);
  // 12 whole networks calibrate an interval (log-normal: too few for conformal ranks at 90%).
  EXPECT_TRUE(c["points"][1]["interval_coverage"].is_number());
  EXPECT_TRUE(c["points"][1]["interval_median_width"].is_number());
  const double lo = c["points"][1]["accuracy_min"], hi = c["points"][1]["accuracy_max"],
               mean = c["points"][1]["accuracy"];
  EXPECT_LE(lo, mean);
  EXPECT_LE(mean, hi);

  const std::string base =
      "evaluate --measurements " + path("train.csv") + " --target energy_mj --features macs+1 ";
  auto table = test_util::run_cli(base + "--learning-curve 2,12 --draws 3");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("24 networks besides the operator probe"));
  EXPECT_THAT(table.output, HasSubstr("train networks"));
  auto csv = test_util::run_cli(base + "--learning-curve 2 --draws 2 --format csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_THAT(csv.output, HasSubstr("features,train networks,test networks,draws,accuracy"));

  const std::vector<std::pair<std::string, std::string>> errors = {
      {"--learning-curve 24", path("train.csv") +
                                  ": a learning curve of 24 training networks: the data has 24, "
                                  "expected from 1 to 23 so that every fit leaves some out"},
      {"--learning-curve 2,x",
       "--learning-curve \"2,x\": \"x\" is not a count, expected whole numbers >= 1 "
       "separated by commas, e.g. 1,2,4,8"},
      {"--draws 3", "--draws 3: expected --learning-curve with it"},
      {"--stratify family", "--stratify family: expected --learning-curve with it"},
      {"--learning-curve 2 --cv 5",
       "--learning-curve draws its own training networks, expected no --cv, --group, --split, --train-where, "
       "--test-where, --test-measurements, --select-terms or --predictions with it"},
  };
  for (const auto& [args, message] : errors) {
    auto r = test_util::run_cli(base + args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(r.output, "convergy: error: " + message + "\n") << args;
  }
}

TEST_F(CliTransfer, PredictSaysWhenTheNetworkIntervalIsLogNormal) {
  const std::string fit =
      "fit --measurements " + path("train.csv") + " --target energy_mj --features macs+1 --out ";
  const std::string net = *dws_.begin();
  // 12 networks: too few for conformal ranks at 90%.
  ASSERT_EQ(test_util::run_cli(fit + path("few.json") + " --where family=conv").exit_code, 0);
  auto few = test_util::run_cli("predict --model " + path("few.json") + " " + net);
  ASSERT_EQ(few.exit_code, 0) << few.output;
  EXPECT_THAT(few.output,
              HasSubstr("\n90% interval of networks: log-normal (Student's t) from 12 held-out networks, "
                        "too few for conformal ranks\n"));
  // 24: conformal, nothing to say.
  ASSERT_EQ(test_util::run_cli(fit + path("all.json")).exit_code, 0);
  auto all = test_util::run_cli("predict --model " + path("all.json") + " " + net);
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_THAT(all.output, Not(HasSubstr("log-normal")));
}

TEST_F(CliTransfer, ContradictoryOptionsAreUsageErrors) {
  const std::string base = "evaluate --measurements " + path("train.csv") + " --target energy_mj --features macs+1 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--split by:family --cv 5", "--split and --cv both choose the held-out rows, expected one of them"},
      {"--split by:family --group family",
       "--split by:family with --group family, expected the group in --split by:COLUMN alone"},
      {"--split leave-one-family-out --train-where family=conv",
       "--split with --train-where/--test-where/--test-measurements, expected one way to hold rows out"},
      {"--train-where family=conv --cv lono",
       "--train-where/--test-where/--test-measurements make one train/test split, expected no --cv or "
       "--group"},
      {"--test-measurements " + path("test.csv") + " --group family",
       "--train-where/--test-where/--test-measurements make one train/test split, expected no --cv or "
       "--group"},
      {"--split by:family --select-terms 2",
       "--select-terms searches by k-fold cross-validation, expected no --split, --train-where, --test-where "
       "or "
       "--test-measurements with it"},
      {"--split family", "--split \"family\", expected leave-one-family-out or by:COLUMN"},
      {"--correct-drift",
       "--correct-drift compares the operator probe in two files, expected --test-measurements with it"},
      {"--test-measurements " + path("test.csv") + " --correct-drift",
       path("train.csv") + " and " + path("test.csv") +
           ": --correct-drift needs the operator probe's rows (network "
           "probe) in both files, expected `convergy profile probe` in each campaign"},
  };
  for (const auto& [args, message] : cases) {
    auto r = test_util::run_cli(base + args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(r.output, "convergy: error: " + message + "\n") << args;
  }
}

}  // namespace

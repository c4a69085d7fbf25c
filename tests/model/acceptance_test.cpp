// Acceptance on the real measurements in ../shared/data (issue 6). Thresholds sit a little below the
// figures measured when these tests were written (docs/models.md, "Results"), so a regression fails.
// The TX2 tables are evaluated in-process; the Jetson Nano networks go through the `convergy` CLI, which
// loads the prototxt files with the importers (this suite links the model module only).
#include "model/evaluate.h"
#include "model_test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

using namespace convergy::model;

namespace {

// The best model of at most 10 terms found for each TX2 rail. CPU: `convergy evaluate --select-terms 10`
// (forward selection with exchange passes over the automatic candidate pool). GPU: the same search over a
// pool that adds GEMM tile padding, roundup(out_c,M) and roundup(out_h*out_w,N) (docs/models.md).
const char* kTx2CpuBest =
    "conv=macs,in_elems,weight_elems,in_c*kernel_h*kernel_w*out_h*out_w,in_h*in_w,out_c*out_h,in_c*out_c,"
    "weight_elems*[kernel_h=1],macs*log2(out_c),macs*log2(macs);method=lad";
const char* kTx2GpuBest =
    "conv=in_c*kernel_h*kernel_w*roundup(out_c,32)*roundup(out_h*out_w,32),in_c*out_c*log2(weight_elems),"
    "in_c*kernel_h*kernel_w*roundup(out_c,32)*roundup(out_h*out_w,32)*log2(weight_elems),log2(in_h*in_w),"
    "in_elems*[kernel_h=1],1,in_c*kernel_h*kernel_w*roundup(out_c,64)*roundup(out_h*out_w,64)*log2(in_h*in_w),"
    "in_c*kernel_h*kernel_w*roundup(out_c,8)*out_h*out_w*[kernel_h=1],roundup(out_c,128)*out_h*out_w*log2(in_c),"
    "in_c*log2(in_h*in_w);method=lad";
const char* kNanoBest =
    "conv=macs,macs*[kernel_h=1],macs*[kernel_h=2],macs*[kernel_h=3],1;dwconv=macs,1;fc=macs,1;method=lad";

Evaluation tx2(const std::string& rail, const std::string& features) {
  Dataset d = test_util::tx2_rail(rail);
  EvalOptions o;
  o.folds = 10;
  return evaluate(d, build_design(d, parse_feature_set(features)), o);
}

void expect_coverage(const Metrics& m) {
  ASSERT_TRUE(m.coverage.has_value());
  EXPECT_GE(*m.coverage, 0.85);
  EXPECT_LE(*m.coverage, 0.95);
}

TEST(AcceptanceTx2, CpuRailBestCompactModel) {
  Evaluation e = tx2("cpu", kTx2CpuBest);
  EXPECT_LE(e.complexity, 10);
  EXPECT_GE(e.rows.accuracy, 0.890);  // measured 89.9%
  EXPECT_GE(e.rows.within_10, 0.700);  // measured 71.7%
  expect_coverage(e.rows);
}

TEST(AcceptanceTx2, CpuRailNamedSetsOrdered) {
  // Measured 65.5%, 69.0%, 82.0%: each richer set must stay ahead of the simpler one.
  Evaluation macs = tx2("cpu", "macs"), plus1 = tx2("cpu", "macs+1"), mem = tx2("cpu", "macs+mem");
  EXPECT_GE(macs.rows.accuracy, 0.645);
  EXPECT_GE(plus1.rows.accuracy, 0.680);
  EXPECT_GE(mem.rows.accuracy, 0.810);
  EXPECT_EQ(macs.complexity, 1);
  EXPECT_EQ(plus1.complexity, 2);
  EXPECT_EQ(mem.complexity, 5);
  expect_coverage(mem.rows);
}

TEST(AcceptanceTx2, GpuRailBestCompactModel) {
  // The issue asks for 80%. Without the tile-padding terms the best 10-term set reached 78.6%.
  Evaluation e = tx2("gpu", kTx2GpuBest);
  EXPECT_LE(e.complexity, 10);
  EXPECT_GE(e.rows.accuracy, 0.800);  // measured 80.4%
  EXPECT_GE(e.rows.within_10, 0.320);  // measured 33.3%
  expect_coverage(e.rows);
}

// NeuralPower (every monomial up to degree 3 of the hyper-parameters and their log2, chosen by Lasso): the
// issue asks for its accuracy, its complexity and the ratio to the best compact model. Measured 10-fold:
// CPU 51.2% with 71 terms, GPU 58.7% with 95 terms, ratios 7.1 and 9.5 (the paper reports 4 to 32).
TEST(AcceptanceTx2, NeuralPowerAccuracyAndComplexityRatio) {
  for (const char* rail : {"cpu", "gpu"}) {
    Evaluation np = tx2(rail, "neuralpower");
    Evaluation best = tx2(rail, std::string(rail) == "cpu" ? kTx2CpuBest : kTx2GpuBest);
    EXPECT_GE(np.rows.accuracy, std::string(rail) == "cpu" ? 0.500 : 0.575) << rail;
    EXPECT_GE(np.complexity, 4 * best.complexity) << rail;
    expect_coverage(np.rows);
  }
}

// Runs the CLI and parses its JSON output; fails the test if it exits non-zero.
nlohmann::json run_cli_json(const std::string& args) {
  if (!std::filesystem::exists(CONVERGY_CLI)) {
    ADD_FAILURE() << "the convergy CLI is not built at " << CONVERGY_CLI << " (build target convergy_cli)";
    return nullptr;
  }
  test_util::CliResult r = test_util::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
  try {
    return nlohmann::json::parse(r.output);
  } catch (const std::exception&) {
    ADD_FAILURE() << "not JSON: " << r.output;
    return nullptr;
  }
}

std::string nano_csv() { return std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/networks.csv"; }

TEST(AcceptanceNano, FiveFoldGroupedByNetwork) {
  nlohmann::json j = run_cli_json("evaluate --measurements " + nano_csv() +
                                  " --target energy_mj --cv 5 --format json --features macs+1 --features '" +
                                  kNanoBest + "'");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["samples"], 12534);
  EXPECT_EQ(j["data_kind"], "whole-network");
  const auto& best = j["results"][1];
  EXPECT_EQ(best["cv"], "5-fold grouped by network");
  EXPECT_EQ(best["complexity"], 9);
  EXPECT_GE(best["rows"]["accuracy"].get<double>(), 0.930);      // measured 93.9%
  EXPECT_GE(best["rows"]["within_10pct"].get<double>(), 0.800);  // measured 81.3%
  EXPECT_GE(best["rows"]["interval_coverage"].get<double>(), 0.85);
  EXPECT_LE(best["rows"]["interval_coverage"].get<double>(), 0.95);
  // The paper's complexity-1-per-type baseline stays well behind.
  EXPECT_LT(j["results"][0]["rows"]["accuracy"].get<double>(), best["rows"]["accuracy"].get<double>() - 0.03);
}

TEST(AcceptanceNano, LeaveOneFamilyOut) {
  nlohmann::json j = run_cli_json("evaluate --measurements " + nano_csv() +
                                  " --target energy_mj --cv lono --group family --format json --features '" +
                                  kNanoBest + "'");
  ASSERT_TRUE(j.is_object());
  const auto& r = j["results"][0];
  EXPECT_EQ(r["cv"], "leave-one-family-out");
  EXPECT_EQ(r["folds"], 3);
  EXPECT_GE(r["rows"]["accuracy"].get<double>(), 0.890);  // measured 90.0%
}

}  // namespace

// Issue 13: the default model (`transfer`) on the Nano networks. Figures measured at the commit that added
// these tests are in docs/models.md, "What extrapolates and why".
namespace {

TEST(AcceptanceNanoDefault, FiveFoldAndLeaveOneFamilyOut) {
  nlohmann::json k5 = run_cli_json("evaluate --measurements " + nano_csv() +
                                   " --target energy_mj --cv 5 --format json --features transfer");
  ASSERT_TRUE(k5.is_object());
  const auto& r = k5["results"][0];
  EXPECT_EQ(r["feature_set"], "transfer");
  EXPECT_GE(r["rows"]["accuracy"].get<double>(), 0.920);  // measured 93.4% (macs+mem, the old default: 89.1%)
  EXPECT_GE(r["rows"]["interval_coverage"].get<double>(), 0.85);
  EXPECT_LE(r["rows"]["interval_coverage"].get<double>(), 0.95);
  nlohmann::json lofo = run_cli_json("evaluate --measurements " + nano_csv() +
                                     " --target energy_mj --cv lono --group family --format json --features transfer");
  ASSERT_TRUE(lofo.is_object());
  const auto& l = lofo["results"][0];
  EXPECT_GE(l["rows"]["accuracy"].get<double>(), 0.900);  // measured 91.2% (89.4% before depthwise rates)
  // Calibrated by leaving one training family out, widened where a network leaves the domain by what the
  // layers outside cost. Measured 94.4% (96.1% when any layer outside stretched the interval fully).
  EXPECT_GE(l["rows"]["interval_coverage"].get<double>(), 0.85);
  EXPECT_LE(l["rows"]["interval_coverage"].get<double>(), 0.95);
}

// The default on the TX2's CPU rail (Caffe + OpenBLAS style convolutions), 10-fold and with each of two
// kernel sizes held out: the unfolded input a convolution's GEMM reads (`unfold_bytes`) is what prices a
// kernel size the fit never saw (docs/models.md, "Unfolded input"; measured without the term: 82.2%, 1x1 held
// out 30.3%, 11x11 held out 80.7%).
TEST(AcceptanceTx2Default, CpuRailTenFoldAndKernelSizesHeldOut) {
  const std::string tx2 = std::string(CONVERGY_SHARED_DATA) + "/tx2-conv-layers.csv";
  const std::string common = "evaluate --measurements " + tx2 +
                             " --where rail=cpu --target energy_mj --features transfer --format json";
  nlohmann::json k10 = run_cli_json(common);
  ASSERT_TRUE(k10.is_object());
  EXPECT_GE(k10["results"][0]["rows"]["accuracy"].get<double>(), 0.855);  // measured 86.6%
  EXPECT_GE(k10["results"][0]["rows"]["interval_coverage"].get<double>(), 0.85);
  EXPECT_LE(k10["results"][0]["rows"]["interval_median_width"].get<double>(), 2.5);  // measured x2.17 (x4.06)
  nlohmann::json k1 = run_cli_json(common + " --train-where kernel_h!=1");
  ASSERT_TRUE(k1.is_object());
  EXPECT_EQ(k1["results"][0]["rows"]["n"].get<int>(), 1000);            // the 1x1 layers
  EXPECT_GE(k1["results"][0]["rows"]["accuracy"].get<double>(), 0.70);  // measured 72.9%
  nlohmann::json k11 = run_cli_json(common + " --train-where kernel_h!=11");
  ASSERT_TRUE(k11.is_object());
  EXPECT_GE(k11["results"][0]["rows"]["accuracy"].get<double>(), 0.86);  // measured 87.6%
}

TEST(AcceptanceNanoDefault, SyntheticToRealNetworks) {
  const std::string out = (std::filesystem::temp_directory_path() / "convergy_acceptance_transfer.json").string();
  test_util::CliResult fit = test_util::run_cli("fit --measurements " + nano_csv() + " --target energy_mj --out " + out);
  ASSERT_EQ(fit.exit_code, 0) << fit.output;
  const std::string real = std::string(CONVERGY_SOURCE_DIR) + "/data/jetson-nano-real/";
  CsvTable csv = test_util::filtered_csv(real + "networks.csv");
  std::string nets;
  for (size_t i = 0; i < csv.rows(); ++i) nets += " " + real + csv.text(i, csv.require_column("network"));
  nlohmann::json p = run_cli_json("predict --model " + out + nets + " --format json");
  std::filesystem::remove(out);
  ASSERT_TRUE(p.is_array());
  ASSERT_EQ(p.size(), 7u);
  double ape = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = csv.number(i, csv.require_column("energy_mj")), q = p[i]["predicted"].get<double>();
    ape += std::abs(q - m) / m;
    // Every real network leaves the synthetic domain (1000 classes, pooling, 50-390 layers): flagged, and
    // its widened interval holds the measurement.
    EXPECT_FALSE(p[i]["extrapolation"].empty()) << p[i]["network"];
    EXPECT_LE(p[i]["lower"].get<double>(), m) << p[i]["network"];
    EXPECT_GE(p[i]["upper"].get<double>(), m) << p[i]["network"];
    for (const auto& l : p[i]["layers"]) EXPECT_GE(l["predicted"].get<double>(), 0.0) << l["name"];
  }
  // Measured 14.0% MAPE (the old default: about 1,300%; 16.1% before `loop_ops` joined the default, 20.9%
  // after, before depthwise layers had output and weight rates of their own). The real networks' energy
  // column holds 10-28 s of samples outside the inference window for five of the seven (docs/models.md, "What
  // extrapolates and why"), so this bound guards against a relapse, not a figure to tune to.
  EXPECT_LT(ape / 7, 0.15);
}

}  // namespace

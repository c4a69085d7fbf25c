// `convergy fit`, `predict` and `evaluate` end to end on a few Jetson Nano networks: output formats, the
// JSON fields external tools rely on, per-layer rows, and one-line errors with exit code 2.
#include "model/csv.h"
#include "model_test_util.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

using namespace convergy::model;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

class CliModel : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(CONVERGY_CLI)) << "build target convergy_cli first";
    dir_ = fs::temp_directory_path() / ("convergy_cli_model_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    nets_ = std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/nets/";
    // 40 networks of the conv family with their measured energy (every 100th row of the table).
    CsvTable t = CsvTable::read_file(std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/networks.csv");
    std::ofstream csv(path("nets.csv"));
    csv << "network,energy_mj,time_ms\n";
    for (size_t r = 0; r < t.rows() && r < 4000; r += 100)
      csv << nets_ << t.text(r, t.require_column("name")) << ".prototxt," << t.text(r, t.require_column("energy_mj"))
          << "," << t.text(r, t.require_column("time_ms")) << "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path(name)) << text; }

  fs::path dir_;
  std::string nets_;
};

TEST_F(CliModel, FitThenPredictJson) {
  auto fit = test_util::run_cli("fit --measurements " + path("nets.csv") + " --target energy_mj --features macs+1 --out " +
                                path("m.json") + " --device jetson-nano");
  ASSERT_EQ(fit.exit_code, 0) << fit.output;
  nlohmann::json model = nlohmann::json::parse(std::ifstream(path("m.json")));
  EXPECT_EQ(model["format_version"], "1.2");
  EXPECT_EQ(model["unit"], "mJ");
  // macs+1 has pool and other terms, and these networks have no such layers: fit names each one it dropped.
  EXPECT_THAT(fit.output, HasSubstr("  dropped pool.ops: 0 in every one of the 40 training rows (no such layers)"));
  EXPECT_EQ(model["dropped_terms"].size(), 4u);
  EXPECT_EQ(model["domain"]["groups"][0]["group"], "conv");
  EXPECT_EQ(model["interval"]["calibration_folds"], "5-fold");  // nets.csv has no family column
  EXPECT_EQ(model["provenance"]["device"], "jetson-nano");
  EXPECT_EQ(model["provenance"]["training_rows"], 40);
  EXPECT_EQ(model["provenance"]["training_data_kind"], "whole-network");

  const std::string net = nets_ + "convnet_L5_F128_K2x2_3_K3x3_2_W50.prototxt";
  auto pred = test_util::run_cli("predict --model " + path("m.json") + " " + net + " --format json");
  ASSERT_EQ(pred.exit_code, 0) << pred.output;
  nlohmann::json j = nlohmann::json::parse(pred.output);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["network"], net);
  // Checked against the training domain: a list (empty or not), and the widening it caused.
  EXPECT_TRUE(j[0]["extrapolation"].is_array());
  EXPECT_GE(j[0]["interval_widening"].get<double>(), 1.0);
  EXPECT_EQ(j[0]["target"], "energy_mj");
  double p = j[0]["predicted"].get<double>();
  EXPECT_GT(p, 0.0);
  EXPECT_LT(j[0]["lower"].get<double>(), p);
  EXPECT_GT(j[0]["upper"].get<double>(), p);
  EXPECT_THAT(j[0]["model"].get<std::string>(), HasSubstr("macs+1/wls@"));
  // Five convolutions (their ReLUs fused away by the graph passes) and the FC head, summing to the total.
  ASSERT_EQ(j[0]["layers"].size(), 6u);
  EXPECT_EQ(j[0]["layers"][0]["name"], "conv1");
  EXPECT_EQ(j[0]["layers"][0]["type"], "conv");
  EXPECT_EQ(j[0]["layers"][5]["type"], "fc");
  double sum = 0;
  for (const auto& l : j[0]["layers"]) sum += l["predicted"].get<double>();
  EXPECT_NEAR(sum, p, 1e-9 * p);
}

TEST_F(CliModel, PredictListAndCsv) {
  ASSERT_EQ(test_util::run_cli("fit --measurements " + path("nets.csv") + " --target time_ms --out " + path("t.json")).exit_code, 0);
  write("list.txt", "# two networks\n" + nets_ + "convnet_L2_F128_K4x4_W90.prototxt\n\n" + nets_ +
                        "convnet_L2_F128_K4x4_W100.prototxt\n");
  auto r = test_util::run_cli("predict --model " + path("t.json") + " @" + path("list.txt") + " --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("network,target,unit,predicted,lower,upper,model\n"));
  EXPECT_THAT(r.output, HasSubstr("convnet_L2_F128_K4x4_W90.prototxt,time_ms,ms,"));
  EXPECT_THAT(r.output, HasSubstr("convnet_L2_F128_K4x4_W100.prototxt,time_ms,ms,"));
  auto table = test_util::run_cli("predict --model " + path("t.json") + " @" + path("list.txt"));
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.output, HasSubstr("predicted_ms"));
}

TEST_F(CliModel, PerLayerRows) {
  // Per-layer energies that follow 2 nJ/MAC exactly (conv layers only: the fc rows are left out).
  std::string net = nets_ + "convnet_L2_F128_K4x4_W90.prototxt";
  std::string net2 = nets_ + "convnet_L3_F256_K3x3_W50.prototxt";
  ASSERT_TRUE(fs::exists(net2));
  write("layers.csv", "network,layer,energy_mj\n" + net + ",conv1,0.1\n" + net + ",conv2,3.0\n" + net2 +
                          ",conv1,0.2\n" + net2 + ",conv2,4.0\n" + net2 + ",conv3,4.1\n");
  auto r = test_util::run_cli("fit --measurements " + path("layers.csv") + " --target energy_mj --features macs+1 --out " +
                              path("l.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("5 rows, per-layer"));
  auto p = test_util::run_cli("predict --model " + path("l.json") + " " + net + " --format json");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  nlohmann::json j = nlohmann::json::parse(p.output);
  EXPECT_EQ(j[0]["unmodelled_groups"], nlohmann::json::array({"fc"}));
  EXPECT_TRUE(j[0]["layers"][2]["predicted"].is_null());

  write("fused.csv", "network,layer,energy_mj\n" + net + ",relu1,0.1\n");
  auto bad = test_util::run_cli("fit --measurements " + path("fused.csv") + " --target energy_mj --out " + path("x.json"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("fused.csv:2: network \"" + net + "\" has no layer \"relu1\" after graph passes"));
}

TEST_F(CliModel, EvaluateTableAndJson) {
  auto t = test_util::run_cli("evaluate --measurements " + path("nets.csv") + " --target energy_mj --cv 5 --features macs,macs+1");
  ASSERT_EQ(t.exit_code, 0) << t.output;
  EXPECT_THAT(t.output, HasSubstr("40 whole-network rows, target energy_mj (mJ), 5-fold grouped by network"));
  EXPECT_THAT(t.output, HasSubstr("accuracy"));
  EXPECT_THAT(t.output, HasSubstr("coverage"));
  auto j = test_util::run_cli("evaluate --measurements " + path("nets.csv") + " --target energy_mj --cv lono --format json --features macs");
  ASSERT_EQ(j.exit_code, 0) << j.output;
  nlohmann::json e = nlohmann::json::parse(j.output);
  EXPECT_EQ(e["results"][0]["cv"], "leave-one-network-out");
  EXPECT_EQ(e["results"][0]["folds"], 40);
  for (const char* k : {"accuracy", "rmspe", "mape", "median_ape", "within_10pct", "r2", "interval_coverage"})
    EXPECT_TRUE(e["results"][0]["rows"].contains(k)) << k;
}

// --predictions writes every held-out row: the same predictions the metrics were computed from.
TEST_F(CliModel, EvaluatePredictionsFileHoldsEveryHeldOutRow) {
  auto j = test_util::run_cli(
      "evaluate --measurements " + path("nets.csv") +
      " --target energy_mj --cv lono --format json --features macs,macs+1 --predictions " + path("pred.csv"));
  ASSERT_EQ(j.exit_code, 0) << j.output;
  nlohmann::json e = nlohmann::json::parse(j.output);
  CsvTable p = CsvTable::read_file(path("pred.csv"));
  ASSERT_EQ(p.rows(), 80u);  // 40 networks, each held out once, for each of the two sets
  const size_t set = p.require_column("feature_set"), fold = p.require_column("fold");
  const size_t m = p.require_column("measured_energy_mj"), pr = p.require_column("predicted_energy_mj");
  const size_t err = p.require_column("error");
  p.require_column("lower_energy_mj");
  p.require_column("upper_energy_mj");
  for (int k = 0; k < 2; ++k) {
    const std::string name = e["results"][k]["feature_set"];
    double ape = 0;
    size_t n = 0;
    std::set<std::string> folds;
    for (size_t r = 0; r < p.rows(); ++r) {
      if (p.text(r, set) != name) continue;
      const double measured = p.number(r, m), predicted = p.number(r, pr);
      EXPECT_NEAR(p.number(r, err), (predicted - measured) / measured, 1e-5);
      ape += std::abs(predicted - measured) / measured;
      folds.insert(p.text(r, fold));
      ++n;
    }
    ASSERT_EQ(n, 40u) << name;
    EXPECT_EQ(folds.size(), 40u) << "leave-one-network-out: one fold per network";
    EXPECT_NEAR(1 - ape / 40, e["results"][k]["rows"]["accuracy"].get<double>(), 1e-4) << name;
  }
  auto bad =
      test_util::run_cli("evaluate --measurements " + path("nets.csv") +
                         " --target energy_mj --features macs --predictions " + path("no/such/dir/p.csv"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output,
              HasSubstr("--predictions " + path("no/such/dir/p.csv") + ": cannot write the output file"));
}

// A per-layer file as `convergy export` writes it: one row per layer of allcnn_c and alexnet (names from
// `convergy info`), then the whole-network row with layer_index -1, in both profiling modes.
TEST_F(CliModel, ExportedPerLayerFileWithNetworkRows) {
  std::string csv = "campaign,network,layer_index,layer,type,mode,kind,rep,backend,threads,time_ms,energy_mj\n";
  for (const char* net : {"allcnn_c", "alexnet"}) {
    auto info = test_util::run_cli(std::string("info ") + net + " --format csv");
    ASSERT_EQ(info.exit_code, 0) << info.output;
    CsvTable layers = CsvTable::parse(info.output, "info.csv");
    double total = 0;
    for (const char* mode : {"markers", "isolated"}) {
      total = 0;
      for (size_t r = 0; r < layers.rows(); ++r) {
        double macs = layers.number(r, layers.require_column("macs")), ops = layers.number(r, layers.require_column("ops"));
        double ms = 0.05 + 2e-8 * macs + 1e-7 * ops;
        total += ms;
        csv += fmt::format("1,{},{},{},{},{},aggregate,,openblas,1,{},\n", net, r + 1, layers.text(r, 0), layers.text(r, 1),
                           mode, ms);
      }
      csv += fmt::format("1,{},-1,(network),Network,{},aggregate,,openblas,1,{},\n", net, mode, total);
    }
  }
  write("export.csv", csv);
  auto both = test_util::run_cli("fit --measurements " + path("export.csv") + " --target time_ms --out " + path("e.json"));
  EXPECT_EQ(both.exit_code, 2) << both.output;
  EXPECT_THAT(both.output, HasSubstr("is measured again"));
  EXPECT_THAT(both.output, HasSubstr("--where mode=markers"));
  auto fit = test_util::run_cli("fit --measurements " + path("export.csv") + " --where mode=markers --target time_ms "
                                "--features macs+1 --out " + path("e.json"));
  ASSERT_EQ(fit.exit_code, 0) << fit.output;
  EXPECT_THAT(fit.output, HasSubstr("skipped 2 whole-network rows"));
  nlohmann::json model = nlohmann::json::parse(std::ifstream(path("e.json")));
  EXPECT_EQ(model["provenance"]["training_data_kind"], "per-layer");
  auto eval = test_util::run_cli("evaluate --measurements " + path("export.csv") +
                                 " --where mode=isolated --target time_ms --features macs+1 --cv lono --format json");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  nlohmann::json j = nlohmann::json::parse(eval.output);
  EXPECT_EQ(j["skipped_network_rows"], 2);
  EXPECT_EQ(j["results"][0]["networks"]["n"], 2);  // two networks, each summed from its layers only
}

TEST_F(CliModel, ErrorsAreOneLineWithExitCode2) {
  write("bad.csv", "network,energy_mj\n" + nets_ + "convnet_L2_F128_K4x4_W90.prototxt,abc\n");
  auto r = test_util::run_cli("fit --measurements " + path("bad.csv") + " --target energy_mj --out " + path("x.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "convergy: error: " + path("bad.csv") + ":2: column \"energy_mj\": expected a number, got \"abc\"\n");

  auto spec = test_util::run_cli("evaluate --measurements " + path("nets.csv") + " --target energy_mj --features 'conv=mac'");
  EXPECT_EQ(spec.exit_code, 2);
  EXPECT_THAT(spec.output, HasSubstr("unknown feature \"mac\""));

  write("future.json", R"({"format": "convergy-model", "format_version": "2.0"})");
  auto v = test_util::run_cli("predict --model " + path("future.json") + " " + nets_ + "convnet_L2_F128_K4x4_W90.prototxt");
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_THAT(v.output, HasSubstr("future.json: format_version \"2.0\", expected 1.x"));

  auto target = test_util::run_cli("fit --measurements " + path("nets.csv") + " --target power_w --out " + path("x.json"));
  EXPECT_EQ(target.exit_code, 2);
}

}  // namespace

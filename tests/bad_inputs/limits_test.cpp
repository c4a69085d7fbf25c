// The CLI's resource limits: a network over a default limit fails with a message naming the option that
// raises it, and the same command with the option raised succeeds. Options are accepted by every subcommand
// that reads a network.
#include "bad_inputs/cli_run.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace convergy::bad_inputs {
namespace {

using Args = std::vector<std::string>;

CliRun run(const Args& args) { return run_cli(args, data_dir(), default_timeout_s()); }

std::string shown(const CliRun& r) { return "exit " + std::to_string(r.exit_code) + ", stderr: " + r.err; }

// A prototxt written into a scratch folder.
fs::path prototxt(const std::string& name, const std::string& text) {
  const fs::path p = scratch_dir("limits_" + name) / (name + ".prototxt");
  std::ofstream(p) << text;
  return p;
}

void expect_rejected_naming(const CliRun& r, const std::string& option) {
  EXPECT_EQ(r.exit_code, 2) << shown(r);
  EXPECT_NE(r.err.find("(raise with " + option + ")"), std::string::npos) << shown(r);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
}

TEST(Limits, LayersOverTheDefaultNameTheOptionAndRaisingItWorks) {
  const std::string net = generated("relu_chain_100001.prototxt").string();
  expect_rejected_naming(run({"info", net, "--format", "csv"}), "--max-layers");
  const CliRun ok = run({"info", net, "--format", "csv", "--max-layers", "100002"});
  EXPECT_EQ(ok.exit_code, 0) << shown(ok);
  EXPECT_GT(ok.out.size(), 100000u);  // a row per layer
}

TEST(Limits, OnnxNodesOverTheDefaultNameTheOptionAndRaisingItWorks) {
  const std::string net = generated("relu_chain_100001.onnx").string();
  expect_rejected_naming(run({"info", net, "--format", "csv"}), "--max-layers");
  const CliRun ok = run({"info", net, "--format", "csv", "--max-layers", "100002"});
  EXPECT_EQ(ok.exit_code, 0) << shown(ok);
}

TEST(Limits, DimensionOverTheDefault) {
  // 2^25 channels: over the default 2^24 of --max-dim, a valid network below a raised one.
  const fs::path net = prototxt("wide", "input: \"data\"\ninput_shape { dim: 1 dim: 33554432 dim: 1 dim: 1 }\n"
                                        "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n");
  expect_rejected_naming(run({"info", net.string()}), "--max-dim");
  const CliRun ok = run({"info", net.string(), "--max-dim", "33554432"});
  EXPECT_EQ(ok.exit_code, 0) << shown(ok);
  EXPECT_NE(ok.out.find("1x33554432x1x1"), std::string::npos) << ok.out;
}

TEST(Limits, TensorElementsOverTheDefault) {
  // 8 x 65536 x 65536 = 2^35 elements: over the default 2^34 of --max-tensor-elems. Nothing is allocated by
  // `info`, so the raised limit costs nothing here.
  const fs::path net = prototxt("big", "input: \"data\"\ninput_shape { dim: 1 dim: 8 dim: 65536 dim: 65536 }\n"
                                       "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n");
  expect_rejected_naming(run({"info", net.string()}), "--max-tensor-elems");
  const CliRun ok = run({"info", net.string(), "--max-tensor-elems", "68719476736"});
  EXPECT_EQ(ok.exit_code, 0) << shown(ok);
}

TEST(Limits, NestingLoweredBelowAValidNetworkAndBack) {
  // good.prototxt nests two levels (layer { convolution_param { } }).
  expect_rejected_naming(run({"info", "prototxt/good.prototxt", "--max-nesting", "1"}), "--max-nesting");
  const CliRun ok = run({"info", "prototxt/good.prototxt", "--max-nesting", "2"});
  EXPECT_EQ(ok.exit_code, 0) << shown(ok);
}

TEST(Limits, EverySubcommandThatReadsANetworkTakesTheOptions) {
  for (const char* sub : {"info", "run", "profile", "fit", "predict", "evaluate", "study"}) {
    const CliRun help = run({sub, "--help"});
    EXPECT_EQ(help.exit_code, 0) << sub;
    for (const char* option : {"--max-dim", "--max-tensor-elems", "--max-layers", "--max-nesting"})
      EXPECT_NE(help.out.find(option), std::string::npos) << sub << " --help does not show " << option;
  }
}

TEST(Limits, PredictAndFitApplyThem) {
  // predict: three layers of good.prototxt against --max-layers 2 (the input counts as a layer).
  const CliRun p = run({"predict", "--model", "model/good.json", "prototxt/good.prototxt", "--max-layers", "2"});
  expect_rejected_naming(p, "--max-layers");
  const CliRun p_ok = run({"predict", "--model", "model/good.json", "prototxt/good.prototxt"});
  EXPECT_EQ(p_ok.exit_code, 0) << shown(p_ok);
  // fit: the standalone-layer columns are sizes too.
  const fs::path csv = scratch_dir("limits_fit") / "wide.csv";
  std::ofstream(csv) << "in_c,in_h,in_w,out_c,kernel_h,kernel_w,energy_mj\n"
                        "3,10,10,33554432,3,3,1.5\n3,12,12,33554432,3,3,2.0\n3,14,14,33554432,3,3,2.5\n";
  const fs::path model = csv.parent_path() / "m.json";
  const CliRun f = run({"fit", "--measurements", csv.string(), "--target", "energy_mj", "--features", "macs+1",
                        "--out", model.string()});
  expect_rejected_naming(f, "--max-dim");
  EXPECT_FALSE(fs::exists(model));
  const CliRun f_ok = run({"fit", "--measurements", csv.string(), "--target", "energy_mj", "--features", "macs+1",
                           "--out", model.string(), "--max-dim", "33554432"});
  EXPECT_EQ(f_ok.exit_code, 0) << shown(f_ok);
  EXPECT_TRUE(fs::exists(model));
}

TEST(Limits, NonPositiveValuesAreUsageErrors) {
  for (const char* value : {"0", "-5", "many"}) {
    const CliRun r = run({"info", "prototxt/good.prototxt", "--max-layers", value});
    EXPECT_EQ(r.exit_code, 2) << value << ": " << shown(r);
    EXPECT_NE(r.err.find("--max-layers"), std::string::npos) << value << ": " << r.err;
  }
}

}  // namespace
}  // namespace convergy::bad_inputs

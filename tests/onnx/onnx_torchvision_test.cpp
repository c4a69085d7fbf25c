// Acceptance: torchvision models exported by PyTorch's own ONNX exporter (opset 13, eval mode) import, and
// their Conv+FC MACs (within 0.1%) and parameters (exactly) match PyTorch's module-by-module count, which
// tools/onnx/export_torchvision.py writes next to each file. The script runs here when a model is missing
// (weights are written to an external file and deleted: the importer must not need them).
#include "features/features.h"
#include "import/load.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace convergy {
namespace {

namespace fs = std::filesystem;

// Exports go to $CONVERGY_ONNX_MODELS, or to onnx-torchvision/ in the test's working directory (the build
// tree under ctest), so a second run reuses them.
fs::path models_dir() {
  if (const char* env = std::getenv("CONVERGY_ONNX_MODELS")) return env;
  return fs::current_path() / "onnx-torchvision";
}

// Returns the model's path, exporting it first if needed; fails the test with the script's output otherwise.
fs::path ensure_exported(const std::string& name) {
  const fs::path dir = models_dir();
  const fs::path onnx = dir / (name + ".onnx"), json = dir / (name + ".json");
  if (fs::exists(onnx) && fs::exists(json)) return onnx;
  fs::create_directories(dir);
  const fs::path log = dir / (name + ".log");
  const std::string cmd = "/usr/bin/python3 '" + std::string(CONVERGY_SOURCE_DIR) +
                          "/tools/onnx/export_torchvision.py' --out '" + dir.string() + "' " + name + " > '" +
                          log.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ADD_FAILURE() << "export failed (" << rc << "): " << cmd << "\n" << text;
  }
  return onnx;
}

nlohmann::json read_counts(const fs::path& onnx) {
  fs::path json = onnx;
  json.replace_extension(".json");
  std::ifstream in(json);
  return nlohmann::json::parse(in);
}

size_t count_kind(const Graph& g, LayerKind kind) {
  size_t n = 0;
  for (const auto& l : g.layers()) n += l.kind == kind;
  return n;
}

class TorchvisionExport : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionExport, MacsAndParamsMatchPyTorch) {
  const std::string name = GetParam();
  const fs::path path = ensure_exported(name);
  ASSERT_TRUE(fs::exists(path));
  const nlohmann::json expected = read_counts(path);
  // The export has a symbolic batch; without --input-shape it is 1, as in the PyTorch count.
  Graph g = load_network(path.string());
  const NetworkFeatures f = network_features(g);
  const auto macs = expected.at("macs").get<uint64_t>();
  // Swin's exporter folds each block's relative position bias (a table of (2w - 1)^2 rows per head, read at
  // every pair of a window's w^2 tokens) into an initializer of its own: the file stores the gathered values,
  // and the export script counts them as `folded_params`.
  const auto params = expected.at(name == "swin_t" ? "folded_params" : "params").get<uint64_t>();
  EXPECT_EQ(f.params, params) << name;
  EXPECT_NEAR(static_cast<double>(f.macs), static_cast<double>(macs), 0.001 * static_cast<double>(macs))
      << name;
  const Shape out = g.blob(g.outputs().at(0)).shape;
  EXPECT_EQ(out, (Shape{1, 1000})) << name;

  // Architecture-specific mappings that must have happened.
  if (name == "shufflenet_v2_x1_0") {
    EXPECT_EQ(count_kind(g, LayerKind::ChannelShuffle), 16u);
  }
  if (name == "efficientnet_b0") {
    EXPECT_GT(count_kind(g, LayerKind::Swish), 0u);
  }
  if (name == "mobilenet_v3_large") {
    EXPECT_GT(count_kind(g, LayerKind::HardSwish), 0u);
  }
  if (name == "resnet50") {
    EXPECT_EQ(count_kind(g, LayerKind::BatchNorm), 53u);
  }
  if (name.starts_with("convnext_tiny")) {
    // One per block (18), the stem's, the three downsampling layers' and the classifier's.
    EXPECT_EQ(count_kind(g, LayerKind::LayerNorm), 23u);
    EXPECT_EQ(count_kind(g, LayerKind::GELU), 18u);
    EXPECT_EQ(count_kind(g, LayerKind::Scale), 18u);  // the layer scale of each block
  }
  if (name == "vit_b_32") {
    // 12 encoder blocks of 12 heads: two matrix products of runtime tensors and one softmax each.
    EXPECT_EQ(count_kind(g, LayerKind::MatMul), 24u);
    EXPECT_EQ(count_kind(g, LayerKind::Softmax), 12u);
    EXPECT_EQ(count_kind(g, LayerKind::LayerNorm), 25u);
    EXPECT_EQ(count_kind(g, LayerKind::Constant), 2u);  // the class token and the position embedding
    uint64_t attention = 0;
    for (const auto& l : f.layers)
      if (l.kind == LayerKind::MatMul) attention += l.macs;
    EXPECT_EQ(attention, expected.at("matmul_macs").get<uint64_t>());
  }
  if (name == "swin_t") {
    // 12 blocks of windowed attention; the mask of every second block and each block's bias are constants.
    EXPECT_EQ(count_kind(g, LayerKind::MatMul), 24u);
    EXPECT_EQ(count_kind(g, LayerKind::Softmax), 12u);
    EXPECT_EQ(count_kind(g, LayerKind::Constant), 17u);  // 12 relative position biases, 5 attention masks
    size_t strided = 0;                                  // patch merging reads every second row and column
    for (const auto& l : g.layers())
      if (l.kind == LayerKind::Slice && l.p<SliceParams>().step == 2) ++strided;
    EXPECT_GT(strided, 0u);
    uint64_t attention = 0;
    for (const auto& l : f.layers)
      if (l.kind == LayerKind::MatMul) attention += l.macs;
    EXPECT_EQ(attention, expected.at("matmul_macs").get<uint64_t>());
    EXPECT_EQ(f.macs, macs);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionExport,
                         ::testing::Values("resnet50", "mobilenet_v2", "mobilenet_v3_large",
                                           "shufflenet_v2_x1_0", "efficientnet_b0", "squeezenet1_1",
                                           "densenet121", "googlenet", "inception_v3", "vgg16",
                                           "convnext_tiny", "convnext_tiny_opset17", "regnet_y_400mf",
                                           "vit_b_32", "swin_t"));

TEST(TorchvisionExportBatch, InputShapeOptionScalesTheWork) {
  const fs::path path = ensure_exported("resnet50");
  ASSERT_TRUE(fs::exists(path));
  const nlohmann::json expected = read_counts(path);
  LoadOptions options;
  options.input_shapes.push_back({"input", Shape{4, 3, 224, 224}});
  const NetworkFeatures f = network_features(load_network(path.string(), options));
  EXPECT_NEAR(static_cast<double>(f.macs), 4.0 * expected.at("macs").get<double>(),
              0.004 * expected.at("macs").get<double>());
  EXPECT_EQ(f.params, expected.at("params").get<uint64_t>());
}

}  // namespace
}  // namespace convergy

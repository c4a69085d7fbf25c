// The checked-in fixtures: one tiny network exported by torch.onnx at opsets 9, 11, 13, 14 and 17
// (tools/onnx/export_fixtures.py). Each must import to the same layers, and match PyTorch's own counts.
#include "features/features.h"
#include "import/load.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

namespace convergy {
namespace {

const std::string kData = std::string(CONVERGY_SOURCE_DIR) + "/tests/onnx/data/";

// PyTorch's counts written beside the fixtures: fixtures.json (TinyNet), tinyvit.json.
nlohmann::json counts(const std::string& file) {
  std::ifstream in(kData + file);
  return nlohmann::json::parse(in);
}
nlohmann::json fixtures() { return counts("fixtures.json"); }

class TinyNetFixture : public ::testing::TestWithParam<std::string> {};

// Imports `file` and checks PyTorch's parameter and MAC counts and the 10 class scores; returns its features.
NetworkFeatures expect_pytorch_counts(const Graph& g, const nlohmann::json& expected,
                                      const std::string& file) {
  EXPECT_TRUE(expected.at("files").contains(file));
  NetworkFeatures f = network_features(g);
  EXPECT_EQ(f.params, expected.at("params").get<uint64_t>());
  EXPECT_EQ(f.macs, expected.at("macs").get<uint64_t>());
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{1, 10}));
  return f;
}

TEST_P(TinyNetFixture, ImportsWithPyTorchCountsAndTheExpectedLayers) {
  const auto expected = fixtures();
  Graph g = load_network(kData + GetParam());
  expect_pytorch_counts(g, expected, GetParam());

  std::map<LayerKind, int> kinds;
  for (const auto& l : g.layers()) ++kinds[l.kind];
  EXPECT_EQ(kinds[LayerKind::Convolution], 6);
  EXPECT_EQ(kinds[LayerKind::BatchNorm], 2);
  EXPECT_EQ(kinds[LayerKind::Clip], 1);       // ReLU6
  EXPECT_EQ(kinds[LayerKind::HardSwish], 1);  // HardSwish op, or x * HardSigmoid(x) before opset 14
  EXPECT_EQ(kinds[LayerKind::Swish], 1);      // SiLU in the squeeze-and-excitation block
  EXPECT_EQ(kinds[LayerKind::Sigmoid], 1);    // its gate
  EXPECT_EQ(kinds[LayerKind::Eltwise], 1);    // the gate's scaling
  EXPECT_EQ(kinds[LayerKind::ChannelShuffle], 1);
  EXPECT_EQ(kinds[LayerKind::Pad], 0);      // folded into the branch convolution
  EXPECT_EQ(kinds[LayerKind::Pooling], 3);  // global average, max (ceil), average (no padding counted)
  EXPECT_EQ(kinds[LayerKind::PReLU], 1);
  EXPECT_EQ(kinds[LayerKind::LeakyReLU], 1);
  EXPECT_EQ(kinds[LayerKind::InnerProduct], 1);
  EXPECT_EQ(kinds[LayerKind::Softmax], 1);
  EXPECT_EQ(kinds[LayerKind::Concat], 1);
  EXPECT_GE(kinds[LayerKind::Slice], 1);  // chunk(): one Split, or two Slices

  for (const auto& l : g.layers()) {
    if (l.kind != LayerKind::Pooling) continue;
    const auto& p = l.p<PoolParams>();
    // Before opset 10 MaxPool has no ceil_mode; torch writes the extra row and column as padding instead.
    if (p.method == PoolMethod::Max && expected.at("files").at(GetParam()).get<int>() >= 10) {
      EXPECT_EQ(p.rounding, PoolRounding::Ceil) << l.name;
    }
    if (p.method == PoolMethod::Average && !p.global) {
      EXPECT_FALSE(p.count_include_pad) << l.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Opsets, TinyNetFixture,
                         ::testing::Values("tinynet_opset9.onnx", "tinynet_opset11.onnx",
                                           "tinynet_opset13.onnx", "tinynet_opset14.onnx",
                                           "tinynet_opset17.onnx"));

TEST(TinyNetFixture, EveryOpsetGivesTheSameShapes) {
  std::vector<std::vector<Shape>> per_file;
  const auto all = fixtures();
  for (const auto& item : all.at("files").items()) {
    Graph g = load_network(kData + item.key());
    std::vector<Shape> shapes;
    for (const auto& l : g.layers())
      if (l.kind == LayerKind::Convolution || l.kind == LayerKind::Pooling ||
          l.kind == LayerKind::InnerProduct)
        shapes.push_back(g.blob(l.outputs[0]).shape);
    per_file.push_back(shapes);
  }
  ASSERT_EQ(per_file.size(), 5u);
  for (size_t i = 1; i < per_file.size(); ++i) EXPECT_EQ(per_file[i], per_file[0]) << "file " << i;
}

// A tiny vision transformer (torchvision's VisionTransformer, 2 blocks of 2 heads on 32x32 images, hidden
// size 32), exported with layer normalisation as a subgraph (opset 13) and as one op (opset 17).
class TinyVitFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyVitFixture, ImportsWithPyTorchCountsAndTheExpectedLayers) {
  const auto expected = counts("tinyvit.json");
  Graph g = load_network(kData + GetParam());
  const NetworkFeatures f = expect_pytorch_counts(g, expected, GetParam());
  uint64_t matmul_macs = 0;
  for (const auto& l : f.layers)
    if (l.kind == LayerKind::MatMul) matmul_macs += l.macs;
  EXPECT_EQ(matmul_macs, expected.at("matmul_macs").get<uint64_t>()) << "attention's Q K^T and A V";

  std::map<LayerKind, int> kinds;
  for (const auto& l : g.layers()) ++kinds[l.kind];
  EXPECT_EQ(kinds[LayerKind::Convolution], 1);  // the patch embedding
  EXPECT_EQ(kinds[LayerKind::Constant], 2);     // the class token and the position embedding
  EXPECT_EQ(kinds[LayerKind::Concat], 1);       // the class token before the patches
  EXPECT_EQ(kinds[LayerKind::MatMul], 4);       // two per block
  EXPECT_EQ(kinds[LayerKind::Softmax], 2);
  EXPECT_EQ(kinds[LayerKind::LayerNorm], 5);  // two per block and the final one
  EXPECT_EQ(kinds[LayerKind::GELU], 2);
  EXPECT_EQ(kinds[LayerKind::Power], 2);  // the queries scaled by 1 / sqrt(head size)
  EXPECT_EQ(kinds[LayerKind::InnerProduct],
            9);                             // in and out projections and two MLP layers per block, the head
  EXPECT_EQ(kinds[LayerKind::Eltwise], 5);  // the position embedding, two residuals per block
  for (const auto& l : g.layers()) {
    if (l.kind == LayerKind::Softmax) {
      const Shape& s = g.blob(l.inputs[0]).shape;
      EXPECT_EQ(l.p<SoftmaxParams>().axis, s.rank() - 1) << "over the keys";
      EXPECT_EQ(s, (Shape{2, 17, 17})) << "heads x tokens x tokens (16 patches and the class token)";
    }
    if (l.kind == LayerKind::Power) {
      EXPECT_FLOAT_EQ(l.p<PowerParams>().scale, 0.25f) << "1 / sqrt(16)";
    }
  }
}

TEST_P(TinyVitFixture, ABatchScalesTheWorkNotTheParameters) {
  const auto expected = counts("tinyvit.json");
  LoadOptions options;
  options.input_shapes.push_back({"input", Shape{4, 3, 32, 32}});
  Graph g = load_network(kData + GetParam(), options);
  const NetworkFeatures f = network_features(g);
  EXPECT_EQ(f.macs, 4 * expected.at("macs").get<uint64_t>());
  EXPECT_EQ(f.params, expected.at("params").get<uint64_t>()) << "the class token is stored once";
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{4, 10}));
  // Every layer's batch is the network's, though the attention layers hold the 17 tokens on axis 0.
  for (const auto& l : f.layers) EXPECT_EQ(l.batch, 4) << l.name;
  for (const auto& l : network_features(load_network(kData + GetParam())).layers)
    EXPECT_EQ(l.batch, 1) << l.name;
}

INSTANTIATE_TEST_SUITE_P(Opsets, TinyVitFixture,
                         ::testing::Values("tinyvit_opset13.onnx", "tinyvit_opset17.onnx"));

// A tiny Swin transformer (torchvision's SwinTransformer: 4x4 patches of a 32x32 image, windows of 4x4
// tokens, two stages of two blocks of 1 and 2 heads), exported with constant folding (opset 13) and without
// (17). Its window mask and padding are computed from shapes (Mod, Range, ScatterND, Not: folded), patch
// merging reads every second row and column (strided Slices), and each block adds a relative position bias.
TEST(TinySwinFixture, ImportsWithPyTorchCountsAndTheExpectedLayers) {
  const auto expected = counts("tinyswin.json");
  for (const std::string file : {"tinyswin_opset13.onnx", "tinyswin_opset17.onnx"}) {
    SCOPED_TRACE(file);
    ASSERT_TRUE(expected.at("files").contains(file));
    Graph g = load_network(kData + file);
    const NetworkFeatures f = network_features(g);
    EXPECT_EQ(f.macs, expected.at("macs").get<uint64_t>());
    // Folded at export, each bias is an initializer of the gathered values (16 x 16 per head, the window's
    // pairs of tokens); unfolded, convergy gathers it from the 7 x 7 table and counts the table, as PyTorch.
    EXPECT_EQ(f.params,
              expected.at(file == "tinyswin_opset13.onnx" ? "folded_params" : "params").get<uint64_t>());
    EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{1, 10}));
    uint64_t matmul_macs = 0;
    for (const auto& l : f.layers)
      if (l.kind == LayerKind::MatMul) matmul_macs += l.macs;
    EXPECT_EQ(matmul_macs, expected.at("matmul_macs").get<uint64_t>()) << "Q K^T and A V in every window";
    std::map<LayerKind, int> kinds;
    int strided = 0, masks = 0;
    for (const auto& l : g.layers()) {
      ++kinds[l.kind];
      if (l.kind == LayerKind::Slice && l.p<SliceParams>().step == 2) ++strided;
      if (l.kind == LayerKind::Constant && l.p<ConstantParams>().learned == 0) ++masks;
      if (l.kind == LayerKind::Softmax) {
        EXPECT_EQ(g.blob(l.inputs[0]).shape.dims.back(), 16) << "over a window's 16 tokens";
      }
    }
    EXPECT_EQ(kinds[LayerKind::MatMul], 8);  // two per block
    EXPECT_EQ(kinds[LayerKind::Softmax], 4);
    EXPECT_EQ(kinds[LayerKind::Constant], 5);  // 4 biases and the shifted block's mask
    EXPECT_EQ(masks, 1) << "the second stage's 4x4 tokens fit one window: no shift, no mask";
    // Patch merging's four quarters: every second row from 0 and from 1 (two Slices), then every second
    // column of each (four).
    EXPECT_EQ(strided, 6);
  }
}

}  // namespace
}  // namespace convergy

// The reference kernels of the Caffe-fork layer types on values worked out by hand, and the layers the
// executor has no kernel for (skipped and reported, never run on garbage silently).
#include "runtime_util.h"

#include <gtest/gtest.h>

#include <cmath>

namespace convergy::test {
namespace {

std::vector<float> values(std::span<const float> s) { return {s.begin(), s.end()}; }

void fill(std::span<float> s, std::initializer_list<float> v) {
  ASSERT_EQ(s.size(), v.size());
  std::copy(v.begin(), v.end(), s.begin());
}

TEST(ForkKernels, DeconvolutionScattersEachInputThroughTheKernel) {
  // 2x2 input, 2x2 kernel, stride 2, no bias: each input value paints its own 2x2 tile of the 4x4 output.
  ConvParams p;
  p.num_output = 1;
  p.kernel_h = p.kernel_w = 2;
  p.stride_h = p.stride_w = 2;
  p.bias = false;
  Graph g = one_layer_graph(LayerKind::Deconvolution, p, {{1, 1, 2, 2}});
  Executor e(g, {"reference", 1, 1});
  fill(e.blob_data(g.inputs()[0]), {1, 2, 3, 4});
  e.run();
  const auto w = e.weight_data(g.find_layer("layer"), 0);
  const auto y = e.blob_data(g.outputs()[0]);
  ASSERT_EQ(y.size(), 16u);
  for (int oy = 0; oy < 4; ++oy)
    for (int ox = 0; ox < 4; ++ox) {
      const float x = static_cast<float>(1 + (oy / 2) * 2 + ox / 2);
      EXPECT_FLOAT_EQ(y[static_cast<size_t>(oy * 4 + ox)], x * w[static_cast<size_t>((oy % 2) * 2 + ox % 2)])
          << "output " << oy << "," << ox;
    }
}

TEST(ForkKernels, DeconvolutionOverlapsAddUp) {
  // 1x3 input, 1x3 kernel, stride 1, pad 1 (so the output is 1x3): y[i] = sum_k x[i + 1 - k] w[k].
  ConvParams p;
  p.num_output = 1;
  p.kernel_h = 1;
  p.kernel_w = 3;
  p.pad_left = p.pad_right = 1;
  p.bias = false;
  Graph g = one_layer_graph(LayerKind::Deconvolution, p, {{1, 1, 1, 3}});
  Executor e(g, {"reference", 1, 1});
  fill(e.blob_data(g.inputs()[0]), {1, 2, 3});
  e.run();
  const auto w = e.weight_data(g.find_layer("layer"), 0);
  const auto y = e.blob_data(g.outputs()[0]);
  ASSERT_EQ(y.size(), 3u);
  EXPECT_NEAR(y[0], 1 * w[1] + 2 * w[0], 1e-6);
  EXPECT_NEAR(y[1], 1 * w[2] + 2 * w[1] + 3 * w[0], 1e-6);
  EXPECT_NEAR(y[2], 2 * w[2] + 3 * w[1], 1e-6);
}

TEST(ForkKernels, CropTakesTheWindowAtTheOffset) {
  Graph g = one_layer_graph(LayerKind::Crop, CropParams{2, {1}}, {{1, 1, 3, 3}, {1, 1, 2, 2}});
  Executor e(g, {"reference", 1, 1});
  fill(e.blob_data(g.inputs()[0]), {0, 1, 2, 3, 4, 5, 6, 7, 8});
  e.run();
  EXPECT_EQ(values(e.blob_data(g.outputs()[0])), (std::vector<float>{4, 5, 7, 8}));
}

TEST(ForkKernels, ArgMaxAlongChannels) {
  ArgMaxParams p;
  p.axis = 1;
  Graph g = one_layer_graph(LayerKind::ArgMax, p, {{1, 3, 1, 2}});
  Executor e(g, {"reference", 1, 1});
  // Pixel 0: channels 5, 9, 1 -> 1; pixel 1: channels 7, 2, 8 -> 2.
  fill(e.blob_data(g.inputs()[0]), {5, 7, 9, 2, 1, 8});
  e.run();
  EXPECT_EQ(values(e.blob_data(g.outputs()[0])), (std::vector<float>{1, 2}));
}

TEST(ForkKernels, ResizeNearestAndBilinear) {
  Graph gn = one_layer_graph(LayerKind::Resize, ResizeParams{4, 4, ResizeMode::Nearest}, {{1, 1, 2, 2}});
  Executor en(gn, {"reference", 1, 1});
  fill(en.blob_data(gn.inputs()[0]), {1, 2, 3, 4});
  en.run();
  EXPECT_EQ(values(en.blob_data(gn.outputs()[0])),
            (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  // Corner-aligned bilinear 2x2 -> 3x3: corners kept, midpoints averaged.
  Graph gb = one_layer_graph(LayerKind::Resize, ResizeParams{3, 3, ResizeMode::Bilinear}, {{1, 1, 2, 2}});
  Executor eb(gb, {"reference", 1, 1});
  fill(eb.blob_data(gb.inputs()[0]), {1, 2, 3, 4});
  eb.run();
  EXPECT_EQ(values(eb.blob_data(gb.outputs()[0])), (std::vector<float>{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}));
}

TEST(ForkKernels, AxpyScalesEachChannelAndAdds) {
  Graph g = one_layer_graph(LayerKind::Axpy, NoParams{}, {{1, 2, 1, 1}, {1, 2, 1, 2}, {1, 2, 1, 2}});
  Executor e(g, {"reference", 1, 1});
  fill(e.blob_data(g.inputs()[0]), {2, 3});
  fill(e.blob_data(g.inputs()[1]), {1, 2, 3, 4});
  fill(e.blob_data(g.inputs()[2]), {10, 10, 10, 10});
  e.run();
  EXPECT_EQ(values(e.blob_data(g.outputs()[0])), (std::vector<float>{12, 14, 19, 22}));
}

TEST(ForkKernels, PowerScalesShiftsThenRaises) {
  // Caffe's Power: (shift + scale * x) ^ power; with power 1 only the affine part.
  Graph g = one_layer_graph(LayerKind::Power, PowerParams{2.0f, 0.5f, 1.0f}, {{1, 1, 1, 4}});
  Executor e(g, {"reference", 1, 1});
  fill(e.blob_data(g.inputs()[0]), {0, 2, 4, -6});
  e.run();
  EXPECT_EQ(values(e.blob_data(g.outputs()[0])), (std::vector<float>{1, 4, 9, 4}));
  Graph ga = one_layer_graph(LayerKind::Power, PowerParams{1.0f, 0.00390625f, 0.0f}, {{1, 1, 1, 2}});
  Executor ea(ga, {"reference", 1, 1});
  fill(ea.blob_data(ga.inputs()[0]), {256, 128});
  ea.run();
  EXPECT_EQ(values(ea.blob_data(ga.outputs()[0])), (std::vector<float>{1, 0.5}));
}

TEST(ForkKernels, NormalizeAcrossChannelsAtEachPixel) {
  NormalizeParams p;
  p.across_spatial = false;
  p.channel_shared = true;
  p.eps = 0.0f;
  Graph g = one_layer_graph(LayerKind::Normalize, p, {{1, 2, 1, 2}});
  Executor e(g, {"reference", 1, 1});
  fill(e.blob_data(g.inputs()[0]), {3, 0, 4, 2});  // pixel 0: (3, 4), pixel 1: (0, 2)
  e.run();
  const float s = e.weight_data(g.find_layer("layer"), 0)[0];
  const auto y = e.blob_data(g.outputs()[0]);
  EXPECT_NEAR(y[0], 0.6 * s, 1e-6);
  EXPECT_NEAR(y[1], 0.0, 1e-6);
  EXPECT_NEAR(y[2], 0.8 * s, 1e-6);
  EXPECT_NEAR(y[3], 1.0 * s, 1e-6);
}

TEST(ForkKernels, LayersWithoutAKernelAreSkippedAndNamed) {
  Graph g = one_layer_graph(LayerKind::PriorBox, PriorBoxParams{2}, {{1, 3, 4, 4}});
  Executor e(g, {"reference", 1, 1});
  ASSERT_EQ(e.skipped().size(), 1u);
  EXPECT_EQ(e.skipped()[0].layer, "layer");
  EXPECT_EQ(e.skipped()[0].reason, "no kernel for PriorBox layers");
  EXPECT_TRUE(e.fallbacks().empty());
  e.run();  // runs the rest; the skipped layer is not called
}

}  // namespace
}  // namespace convergy::test

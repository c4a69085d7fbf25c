// The cudnn backend's GPU-free planning: which layers it takes (and why not), 4-D views and broadcasting,
// cuDNN's pooling arithmetic, the Concat/Slice copy plans (executed here on host arrays against the
// reference kernels), and the choice among recorded cudnnFind results.
#include "runtime/device_plan.h"
#include "runtime/executor.h"
#include "runtime_util.h"

#include <gtest/gtest.h>

#include <numeric>

namespace convergy {
namespace {

using runtime::device::AlgoResult;
using runtime::device::Copy2D;
using test::one_layer_graph;

// The binding of the single layer of `g` (pointers unused by the planner).
struct Bound {
  Graph g;
  runtime::LayerBinding b;
  explicit Bound(Graph graph) : g(std::move(graph)) {
    const LayerId id = g.find_layer("layer");
    b.id = id;
    b.layer = &g.layer(id);
    for (BlobId in : b.layer->inputs) b.inputs.push_back({nullptr, g.blob(in).shape, g.blob(in).shape.elems()});
    for (BlobId out : b.layer->outputs)
      b.outputs.push_back({nullptr, g.blob(out).shape, g.blob(out).shape.elems()});
    for (const WeightSpec& w : b.layer->weights) b.weights.push_back({nullptr, w.shape, w.shape.elems()});
  }
  std::string reason() const { return runtime::device::unsupported_reason(b); }
  // With the backend's own CUDA kernels built.
  std::string reason_with_kernels() const { return runtime::device::unsupported_reason(b, true); }
};

ConvParams conv3(int64_t pad_top, int64_t pad_bottom) {
  ConvParams p;
  p.num_output = 4;
  p.kernel_h = p.kernel_w = 3;
  p.pad_top = pad_top;
  p.pad_bottom = pad_bottom;
  p.pad_left = p.pad_right = 1;
  return p;
}

TEST(DevicePlan, FourDimensionalViewsPadTrailingOnes) {
  EXPECT_EQ(runtime::device::nchw4(Shape{2, 10}), (std::array<int, 4>{2, 10, 1, 1}));
  EXPECT_EQ(runtime::device::nchw4(Shape{1, 3, 5, 7}), (std::array<int, 4>{1, 3, 5, 7}));
  EXPECT_FALSE(runtime::device::nchw4(Shape{1, 2, 3, 4, 5}));
  // Squeeze-and-excitation scales broadcast over the plane; numpy aligns from the right.
  EXPECT_EQ(runtime::device::broadcast4(Shape{1, 8, 1, 1}, Shape{1, 8, 6, 6}), (std::array<int, 4>{1, 8, 1, 1}));
  EXPECT_EQ(runtime::device::broadcast4(Shape{6}, Shape{1, 8, 6, 6}), (std::array<int, 4>{1, 1, 1, 6}));
  EXPECT_FALSE(runtime::device::broadcast4(Shape{1, 3, 1, 1}, Shape{1, 8, 6, 6}));
}

TEST(DevicePlan, TakesCommonLayersAndSaysWhyNotForTheRest) {
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::Convolution, conv3(1, 1), {{1, 3, 8, 8}})).reason(), "");
  const std::string asym = Bound(one_layer_graph(LayerKind::Convolution, conv3(0, 1), {{1, 3, 8, 8}})).reason();
  EXPECT_NE(asym.find("asymmetric"), std::string::npos) << asym;
  // Activations cuDNN has, fused or alone; and those it lacks.
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::Convolution, conv3(1, 1), {{1, 3, 8, 8}},
                                  test::fused(LayerKind::Clip, 0.0f, 6.0f)))
                .reason(),
            "");
  const std::string hs = Bound(one_layer_graph(LayerKind::Convolution, conv3(1, 1), {{1, 3, 8, 8}},
                                               test::fused(LayerKind::HardSwish)))
                             .reason();
  EXPECT_NE(hs.find("HardSwish"), std::string::npos) << hs;
  EXPECT_NE(Bound(one_layer_graph(LayerKind::Clip, ClipParams{-1.0f, 1.0f}, {{1, 4}})).reason(), "");
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::ReLU, NoParams{}, {{1, 4, 3, 3}})).reason(), "");
  EXPECT_NE(Bound(one_layer_graph(LayerKind::LeakyReLU, LeakyReLUParams{}, {{1, 4}})).reason().find("LeakyReLU"),
            std::string::npos);
  // LRN within a channel and windows beyond 16 are outside cuDNN.
  LRNParams within;
  within.across_channels = false;
  EXPECT_NE(Bound(one_layer_graph(LayerKind::LRN, within, {{1, 8, 5, 5}})).reason(), "");
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::LRN, LRNParams{}, {{1, 8, 5, 5}})).reason(), "");
  // Eltwise: the broadcast operand may be first or second of two, not a third.
  EltwiseParams prod;
  prod.op = EltwiseOp::Prod;
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::Eltwise, prod, {{1, 8, 1, 1}, {1, 8, 4, 4}})).reason(), "");
  EXPECT_NE(Bound(one_layer_graph(LayerKind::Eltwise, EltwiseParams{}, {{1, 8, 4, 4}})).reason(), "");
  EXPECT_NE(Bound(one_layer_graph(LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {{1, 8, 4, 4}})).reason(), "");
}

TEST(DevicePlan, OwnKernelsTakeTheActivationsAndPoolsCudnnLacks) {
  const Bound hs(one_layer_graph(LayerKind::Convolution, conv3(1, 1), {{1, 3, 8, 8}},
                                 test::fused(LayerKind::HardSwish)));
  EXPECT_NE(hs.reason(), "");
  EXPECT_EQ(hs.reason_with_kernels(), "");
  const Bound clip(one_layer_graph(LayerKind::Clip, ClipParams{-1.0f, 1.0f}, {{1, 4}}));
  EXPECT_EQ(clip.reason_with_kernels(), "");
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::LeakyReLU, LeakyReLUParams{}, {{1, 4, 2, 2}})).reason_with_kernels(), "");
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::HardSigmoid, HardSigmoidParams{}, {{1, 4}})).reason_with_kernels(), "");
  PoolParams ceil_pool;
  ceil_pool.kernel_h = ceil_pool.kernel_w = 3;
  ceil_pool.stride_h = ceil_pool.stride_w = 2;
  ceil_pool.rounding = PoolRounding::Ceil;
  const Bound pool(one_layer_graph(LayerKind::Pooling, ceil_pool, {{1, 4, 112, 112}}));
  EXPECT_NE(pool.reason().find("ceil"), std::string::npos) << pool.reason();
  EXPECT_EQ(pool.reason_with_kernels(), "");
  // What neither covers stays a fallback; cuDNN's own activations stay on cuDNN.
  const std::string prelu = Bound(one_layer_graph(LayerKind::PReLU, PReLUParams{}, {{1, 4, 2, 2}})).reason_with_kernels();
  EXPECT_NE(prelu.find("PReLU"), std::string::npos) << prelu;
  EXPECT_TRUE(runtime::device::cudnn_activation(test::fused(LayerKind::ReLU)));
  EXPECT_TRUE(runtime::device::cudnn_activation(test::fused(LayerKind::Clip, 0.0f, 6.0f)));
  EXPECT_FALSE(runtime::device::cudnn_activation(test::fused(LayerKind::Clip, -1.0f, 6.0f)));
  EXPECT_FALSE(runtime::device::cudnn_activation(test::fused(LayerKind::HardSwish)));
}

TEST(DevicePlan, PoolingMatchesCudnnArithmeticOrFallsBack) {
  PoolParams floor_pool;
  floor_pool.kernel_h = floor_pool.kernel_w = 3;
  floor_pool.stride_h = floor_pool.stride_w = 2;
  floor_pool.pad_top = floor_pool.pad_left = floor_pool.pad_bottom = floor_pool.pad_right = 1;
  floor_pool.rounding = PoolRounding::Floor;
  Bound f(one_layer_graph(LayerKind::Pooling, floor_pool, {{1, 4, 112, 112}}));
  std::string why;
  auto plan = runtime::device::plan_pool(runtime::pool_geometry(f.b), &why);
  ASSERT_TRUE(plan) << why;
  EXPECT_EQ(plan->kh, 3);
  EXPECT_EQ(plan->pad_h, 1);
  EXPECT_EQ(plan->sh, 2);
  // Caffe's ceil rounding gives one more output row than cuDNN computes: not expressible.
  PoolParams ceil_pool = floor_pool;
  ceil_pool.pad_top = ceil_pool.pad_left = ceil_pool.pad_bottom = ceil_pool.pad_right = 0;
  ceil_pool.rounding = PoolRounding::Ceil;
  Bound c(one_layer_graph(LayerKind::Pooling, ceil_pool, {{1, 4, 112, 112}}));
  EXPECT_FALSE(runtime::device::plan_pool(runtime::pool_geometry(c.b), &why));
  EXPECT_NE(why.find("ceil"), std::string::npos) << why;
  // Global pooling is a kernel over the whole plane.
  PoolParams global;
  global.global = true;
  global.method = PoolMethod::Average;
  Bound g(one_layer_graph(LayerKind::Pooling, global, {{1, 4, 7, 7}}));
  plan = runtime::device::plan_pool(runtime::pool_geometry(g.b), &why);
  ASSERT_TRUE(plan) << why;
  EXPECT_EQ(plan->kh, 7);
  EXPECT_EQ(plan->kw, 7);
}

// Applies copy plans to host arrays, as cudaMemcpy2D does on the device.
void apply(const std::vector<Copy2D>& plan, const std::vector<const float*>& src, const std::vector<float*>& dst,
           bool per_input) {
  for (const Copy2D& c : plan) {
    const float* s = (per_input ? src[static_cast<size_t>(c.input)] : src[0]) + c.src_offset;
    float* d = (per_input ? dst[0] : dst[static_cast<size_t>(c.input)]) + c.dst_offset;
    for (int64_t r = 0; r < c.rows; ++r)
      std::copy_n(s + r * c.src_pitch, c.width, d + r * c.dst_pitch);
  }
}

TEST(DevicePlan, ConcatAndSliceCopyPlansReproduceTheReference) {
  // Concat on axis 1 of two inputs, checked against the reference executor on the same data.
  Graph g = one_layer_graph(LayerKind::Concat, ConcatParams{1}, {{2, 3, 2, 2}, {2, 5, 2, 2}});
  Executor ref(g, {"reference", 1, 3});
  ref.run();
  auto a = ref.blob_data(g.inputs()[0]), b = ref.blob_data(g.inputs()[1]);
  std::vector<float> out(static_cast<size_t>(2 * 8 * 2 * 2), -1.0f);
  apply(runtime::device::plan_concat({{2, 3, 2, 2}, {2, 5, 2, 2}}, {2, 8, 2, 2}, 1), {a.data(), b.data()},
        {out.data()}, true);
  auto want = ref.blob_data(g.outputs()[0]);
  EXPECT_EQ(out, std::vector<float>(want.begin(), want.end()));

  // Slice axis 1 of a 2x6x3 tensor into [0,2) and [2,6).
  SliceParams sp;
  sp.axis = 1;
  sp.ranges = {{0, 2}, {2, 6}};
  Graph s = one_layer_graph(LayerKind::Slice, sp, {{2, 6, 3}}, std::nullopt, 2);
  Executor sref(s, {"reference", 1, 3});
  sref.run();
  auto in = sref.blob_data(s.inputs()[0]);
  std::vector<float> o0(2 * 2 * 3), o1(2 * 4 * 3);
  apply(runtime::device::plan_slice({2, 6, 3}, {{2, 2, 3}, {2, 4, 3}}, 1, sp.ranges), {in.data()},
        {o0.data(), o1.data()}, false);
  auto w0 = sref.blob_data(s.outputs()[0]), w1 = sref.blob_data(s.outputs()[1]);
  EXPECT_EQ(o0, std::vector<float>(w0.begin(), w0.end()));
  EXPECT_EQ(o1, std::vector<float>(w1.begin(), w1.end()));
}

TEST(DevicePlan, AlgorithmChoiceIsTheFastestThatFitsAndKeepsFp32) {
  // As recorded from cudnnFindConvolutionForwardAlgorithm: failed, too big, tensor-core and FMA entries.
  const std::vector<AlgoResult> found = {
      {6, false, 0.01f, 0, false},          // failed: never chosen however fast
      {7, true, 0.02f, size_t{4} << 30, false},  // 4 GiB workspace
      {1, true, 0.03f, 1 << 20, true},      // TF32 tensor cores
      {0, true, 0.05f, 0, false},
      {2, true, 0.04f, 1 << 22, false},
  };
  auto fp32 = runtime::device::choose_algorithm(found, size_t{1} << 30, false);
  ASSERT_TRUE(fp32);
  EXPECT_EQ(fp32->algo, 2);
  auto tf32 = runtime::device::choose_algorithm(found, size_t{1} << 30, true);
  ASSERT_TRUE(tf32);
  EXPECT_EQ(tf32->algo, 1);
  auto big = runtime::device::choose_algorithm(found, size_t{8} << 30, false);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->algo, 7);
  EXPECT_FALSE(runtime::device::choose_algorithm({{6, false, 0.01f, 0, false}}, size_t{1} << 30, true));
}

}  // namespace
}  // namespace convergy

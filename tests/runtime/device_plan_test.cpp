// The cudnn backend's GPU-free planning: which layers it takes (and why not), 4-D views and broadcasting,
// cuDNN's pooling arithmetic, the Concat/Slice copy plans and the gather plans of Permute, ChannelShuffle
// and Pad (executed here on host arrays, the gathers through the kernel's own index function, against the
// reference kernels), and the choice among recorded cudnnFind results.
#include "runtime/device_plan.h"
#include "runtime/executor.h"
#include "runtime_util.h"

#include <gtest/gtest.h>

#include <numeric>
#include <span>

namespace convergy {
namespace {

using runtime::device::AlgoResult;
using runtime::device::Copy2D;
using test::one_layer_graph;

// The binding of the single layer of `g` (pointers unused by the planner).
struct Bound {
  Graph g;
  runtime::LayerBinding b;
  explicit Bound(Graph graph) : g(std::move(graph)), b(test::shape_binding(g, g.find_layer("layer"))) {}
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
  // A strided Slice (Swin's patch merging) is no 2-D copy: it runs on the host.
  SliceParams every_second{1, {{0, 8}}, 2};
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::Slice, every_second, {{1, 8, 4}})).reason(),
            "Slice with a step above 1");
  EXPECT_EQ(Bound(one_layer_graph(LayerKind::Slice, SliceParams{1, {{0, 8}}}, {{1, 8, 4}})).reason(), "");
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
  // cuDNN's own activations stay on cuDNN.
  EXPECT_TRUE(runtime::device::cudnn_activation(test::fused(LayerKind::ReLU)));
  EXPECT_TRUE(runtime::device::cudnn_activation(test::fused(LayerKind::Clip, 0.0f, 6.0f)));
  EXPECT_FALSE(runtime::device::cudnn_activation(test::fused(LayerKind::Clip, -1.0f, 6.0f)));
  EXPECT_FALSE(runtime::device::cudnn_activation(test::fused(LayerKind::HardSwish)));
}

TEST(DevicePlan, OwnKernelsTakePreluPermuteShuffleAndPadAndOnlyThem) {
  PermuteParams perm;
  perm.order = {0, 2, 3, 1};
  PadParams pad;
  pad.begins = {0, 0, 1, 2};
  pad.ends = {0, 0, 2, 1};
  const std::vector<Bound> layers = [&] {
    std::vector<Bound> v;
    v.emplace_back(one_layer_graph(LayerKind::PReLU, PReLUParams{}, {{1, 4, 2, 2}}));
    v.emplace_back(one_layer_graph(LayerKind::Permute, perm, {{1, 4, 3, 5}}));
    v.emplace_back(one_layer_graph(LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {{1, 8, 4, 4}}));
    v.emplace_back(one_layer_graph(LayerKind::Pad, pad, {{1, 4, 3, 5}}));
    return v;
  }();
  for (const Bound& b : layers) {
    const std::string kind(layer_kind_name(b.b.layer->kind));
    EXPECT_EQ(b.reason_with_kernels(), "") << kind;
    // Without the kernels: a fallback that names the layer kind and says why.
    EXPECT_NE(b.reason().find(kind), std::string::npos) << b.reason();
    EXPECT_NE(b.reason().find("not built"), std::string::npos) << b.reason();
  }
  // A gather beyond the kernel's rank limit stays on the host.
  PermuteParams big;
  big.order = {8, 7, 6, 5, 4, 3, 2, 1, 0};
  const Bound nine(one_layer_graph(LayerKind::Permute, big, {{1, 2, 1, 2, 1, 2, 1, 2, 1}}));
  EXPECT_NE(nine.reason_with_kernels().find("rank 9"), std::string::npos) << nine.reason_with_kernels();
  // Layers nothing on the device computes stay fallbacks.
  EXPECT_NE(Bound(one_layer_graph(LayerKind::Power, PowerParams{}, {{1, 4}})).reason_with_kernels(), "");
}

// Runs a gather plan on host arrays through gather_source, the function the CUDA kernel runs.
std::vector<float> gather_on_host(const runtime::cuda::Gather& g, std::span<const float> x) {
  int64_t n = 1;
  for (int d = 0; d < g.rank; ++d) n *= g.out_dim[d];
  std::vector<float> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = runtime::cuda::gather_source(g, i);
    EXPECT_LT(s, static_cast<int64_t>(x.size())) << "element " << i;
    y[static_cast<size_t>(i)] = s < 0 ? g.value : x[static_cast<size_t>(s)];
  }
  return y;
}

// The gather plan of the single layer of `g` reproduces the reference exactly; returns the plan's rank.
int expect_gather_matches_reference(const Graph& g, const std::string& what) {
  Bound bound(g);
  std::string why;
  const auto plan = runtime::device::plan_gather(bound.b, &why);
  if (!plan) {
    ADD_FAILURE() << what << ": " << why;
    return 0;
  }
  Executor ref(g, {"reference", 1, 5});
  ref.run();
  const auto want = ref.blob_data(g.outputs()[0]);
  EXPECT_EQ(gather_on_host(*plan, ref.blob_data(g.inputs()[0])), std::vector<float>(want.begin(), want.end()))
      << what;
  return plan->rank;
}

TEST(DevicePlan, GatherPlansReproduceTheReferenceOnOddShapes) {
  auto permute = [](std::vector<int> order, Shape s) {
    PermuteParams p;
    p.order = std::move(order);
    return one_layer_graph(LayerKind::Permute, p, {s});
  };
  EXPECT_EQ(expect_gather_matches_reference(permute({0, 2, 3, 1}, {2, 3, 13, 7}), "NCHW to NHWC"), 3);
  expect_gather_matches_reference(permute({2, 0, 1}, {13, 1, 5}), "rank 3 with a unit axis");
  expect_gather_matches_reference(permute({4, 1, 3, 0, 2}, {3, 2, 5, 1, 7}), "rank 5");
  expect_gather_matches_reference(permute({1, 0}, {127, 3}), "matrix transpose");
  // An order that keeps the memory layout is a plain copy: one axis.
  EXPECT_EQ(expect_gather_matches_reference(permute({0, 1, 2}, {3, 5, 7}), "identity"), 1);
  EXPECT_EQ(expect_gather_matches_reference(permute({0, 2, 1, 3}, {1, 7, 1, 13}), "swap with a unit axis"),
            1);

  auto shuffle = [](int64_t groups, Shape s) {
    return one_layer_graph(LayerKind::ChannelShuffle, ChannelShuffleParams{groups}, {s});
  };
  EXPECT_EQ(expect_gather_matches_reference(shuffle(3, {1, 12, 5, 7}), "ShuffleNet-like, batch 1"), 3);
  expect_gather_matches_reference(shuffle(2, {2, 6, 3, 5}), "batch 2");
  expect_gather_matches_reference(shuffle(4, {3, 12}), "rank 2");
  EXPECT_EQ(expect_gather_matches_reference(shuffle(1, {2, 5, 3, 3}), "one group is a copy"), 1);

  auto pad = [](PadMode mode, std::vector<int64_t> begins, std::vector<int64_t> ends, Shape s) {
    PadParams p;
    p.mode = mode;
    p.begins = std::move(begins);
    p.ends = std::move(ends);
    p.value = 0.5f;
    return one_layer_graph(LayerKind::Pad, p, {s});
  };
  for (PadMode mode : {PadMode::Constant, PadMode::Reflect, PadMode::Edge}) {
    const std::string m = std::to_string(static_cast<int>(mode));
    expect_gather_matches_reference(pad(mode, {0, 0, 1, 2}, {0, 0, 2, 1}, {2, 3, 13, 7}),
                                    "asymmetric, mode " + m);
    expect_gather_matches_reference(pad(mode, {0, 2, 0}, {0, 1, 4}, {3, 5, 7}), "rank 3, mode " + m);
    expect_gather_matches_reference(pad(mode, {1, 0, 0, 1}, {2, 0, 0, 0}, {3, 4, 5, 2}),
                                    "outer axis, mode " + m);
    expect_gather_matches_reference(pad(mode, {3}, {4}, {127}), "rank 1, mode " + m);
  }
  // Padding only the plane keeps batch and channels as one axis: the plane's two axes and that one.
  EXPECT_EQ(expect_gather_matches_reference(pad(PadMode::Constant, {0, 0, 1, 1}, {0, 0, 1, 1}, {2, 3, 5, 5}),
                                            "plane only"),
            3);
}

TEST(DevicePlan, PreluPlanWalksChannelsAsTheReference) {
  for (const bool shared : {false, true}) {
    for (const Shape& s : {Shape{2, 5, 3, 7}, Shape{3, 13}, Shape{2, 4, 127}}) {
      PReLUParams p;
      p.channel_shared = shared;
      const Graph g = one_layer_graph(LayerKind::PReLU, p, {s});
      Executor ref(g, {"reference", 1, 9});
      ref.run();
      const LayerId id = g.find_layer("layer");
      const auto x = ref.blob_data(g.inputs()[0]);
      const auto slope = ref.weight_data(id, 0);
      const runtime::device::PreluPlan plan = runtime::device::plan_prelu(Bound(g).b);
      EXPECT_EQ(plan.shared, shared);
      EXPECT_EQ(plan.channels, s[1]);
      // As the kernel indexes: slope[(i / inner) % channels].
      std::vector<float> y(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        const auto c = static_cast<size_t>((static_cast<int64_t>(i) / plan.inner) % plan.channels);
        y[i] = x[i] > 0 ? x[i] : slope[plan.shared ? 0 : c] * x[i];
      }
      const auto want = ref.blob_data(g.outputs()[0]);
      EXPECT_EQ(y, std::vector<float>(want.begin(), want.end())) << s.str() << (shared ? " shared" : "");
    }
  }
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

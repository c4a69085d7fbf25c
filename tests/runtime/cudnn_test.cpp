// The cudnn backend on a real GPU: a network with every layer kind it takes (and one it leaves to the
// reference) agrees with the reference within fp32 tolerance, so do the backend's own CUDA kernels, isolated
// runs repeat, device timers give per-layer times, and TF32 is off unless asked for. Skipped, with the
// reason, where no GPU (or no CUDA build) is present; without a GPU the backend must refuse clearly.
#include "runtime/backend.h"
#include "runtime/device_plan.h"
#include "runtime/executor.h"
#include "runtime_util.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace convergy {
namespace {

// Skips the test unless the cudnn backend is built and a CUDA device answers.
#define REQUIRE_CUDA_DEVICE()                                                     \
  do {                                                                            \
    std::string why;                                                              \
    if (!cuda_device(&why)) GTEST_SKIP() << "no CUDA device: " << why;            \
  } while (0)

// Skips the test unless, in addition, the backend's own CUDA kernels are built.
#ifdef CONVERGY_HAVE_CUDA_KERNELS
#define REQUIRE_CUDA_KERNELS() REQUIRE_CUDA_DEVICE()
#else
#define REQUIRE_CUDA_KERNELS()                                                              \
  do {                                                                                      \
    REQUIRE_CUDA_DEVICE();                                                                  \
    GTEST_SKIP() << "the backend's CUDA kernels are not built (no nvcc at configure time)"; \
  } while (0)
#endif

bool cuda_device(std::string* why) {
#ifdef CONVERGY_HAVE_CUDNN
  return runtime::cudnn_device_count(why) > 0;
#else
  *why = "the cudnn backend is not built (configure found no CUDA toolkit or cuDNN)";
  return false;
#endif
}

using test::add_layer;
using test::conv;

// conv+ReLU, LRN, max pool, depthwise conv, BatchNorm, SE-style broadcast product, residual sum, concat,
// LeakyReLU (on the backend's own kernel; only where those are built), Power (a reference fallback in the
// middle of the device network; left out when !with_fallback), global pool, FC, softmax.
Graph mixed_net(bool with_fallback = true) {
  Graph g("mixed");
  BlobId x = g.add_input("data", {2, 3, 20, 20});
  const BlobId c1 = add_layer(g, "conv1", LayerKind::Convolution, conv(16, 3, 1), {x});
  g.mutable_layers()[static_cast<size_t>(g.find_layer("conv1"))].fused_activation = test::fused(LayerKind::ReLU);
  const BlobId n1 = add_layer(g, "lrn", LayerKind::LRN, LRNParams{}, {c1});
  PoolParams pool;
  pool.kernel_h = pool.kernel_w = 2;
  pool.stride_h = pool.stride_w = 2;
  pool.rounding = PoolRounding::Floor;
  const BlobId p1 = add_layer(g, "pool", LayerKind::Pooling, pool, {n1});
  const BlobId dw = add_layer(g, "dw", LayerKind::Convolution, conv(16, 3, 1, 16), {p1});
  BatchNormParams bnp;
  bnp.affine = true;
  const BlobId bn = add_layer(g, "bn", LayerKind::BatchNorm, bnp, {dw});
  PoolParams gap;
  gap.global = true;
  gap.method = PoolMethod::Average;
  const BlobId se = add_layer(g, "se_pool", LayerKind::Pooling, gap, {bn});
  const BlobId sig = add_layer(g, "se_sigmoid", LayerKind::Sigmoid, NoParams{}, {se});
  EltwiseParams prod;
  prod.op = EltwiseOp::Prod;
  const BlobId scaled = add_layer(g, "se_scale", LayerKind::Eltwise, prod, {sig, bn});
  const BlobId sum = add_layer(g, "residual", LayerKind::Eltwise, EltwiseParams{}, {scaled, p1});
  const BlobId cat = add_layer(g, "concat", LayerKind::Concat, ConcatParams{1}, {sum, p1});
#ifdef CONVERGY_HAVE_CUDA_KERNELS
  const BlobId leaky = add_layer(g, "leaky", LayerKind::LeakyReLU, LeakyReLUParams{0.1f}, {cat});
#else
  const BlobId leaky = cat;
#endif
  const BlobId power =
      with_fallback ? add_layer(g, "power", LayerKind::Power, PowerParams{1.0f, 0.5f, 0.1f}, {leaky}) : leaky;
  const BlobId pooled = add_layer(g, "gap", LayerKind::Pooling, gap, {power});
  InnerProductParams fc;
  fc.num_output = 10;
  const BlobId logits = add_layer(g, "fc", LayerKind::InnerProduct, fc, {pooled});
  add_layer(g, "prob", LayerKind::Softmax, SoftmaxParams{}, {logits});
  return g;
}

TEST(Cudnn, WithoutADeviceTheBackendRefusesClearly) {
  std::string why;
  if (cuda_device(&why)) GTEST_SKIP() << "a CUDA device is present";
#ifdef CONVERGY_HAVE_CUDNN
  for (const auto& b : Executor::available_backends()) EXPECT_NE(b, "cudnn") << "offered without a GPU";
  try {
    Executor e(mixed_net(), {"cudnn", 1, 1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
#else
  GTEST_SKIP() << why;
#endif
}

TEST(Cudnn, MixedNetworkMatchesReference) {
  REQUIRE_CUDA_DEVICE();
  const Graph g = mixed_net();
  const test::Comparison c = test::compare_with_reference(g, "cudnn");
  EXPECT_GT(c.max_abs_ref, 0.0);
  EXPECT_LE(c.max_abs_diff, 1e-3 * c.max_abs_ref) << c.worst;
  Executor e(g, {"cudnn", 1, 1});
  ASSERT_EQ(e.fallbacks().size(), 1u);
  EXPECT_EQ(e.fallbacks()[0].layer, "power");
  EXPECT_EQ(e.backend_of(g.find_layer("conv1")), "cudnn");
  EXPECT_EQ(e.math_mode(), "tf32=off");
  // Intermediate blobs are fetched from the device on request: the logits agree with the reference too.
  Executor ref(g, {"reference", 1, 1});
  ref.run();
  e.run();
  const BlobId logits = g.layer(g.find_layer("fc")).outputs[0];
  test::Comparison fc;
  test::compare(ref.blob_data(logits), e.blob_data(logits), 0, fc);
  EXPECT_GT(fc.max_abs_ref, 0.0);
  EXPECT_LE(fc.max_abs_diff, 1e-3 * fc.max_abs_ref) << fc.worst;
}

TEST(Cudnn, IsolatedRunsRepeatAndDeviceTimerTimesEveryLayer) {
  REQUIRE_CUDA_DEVICE();
  const Graph g = mixed_net();
  Executor e(g, {"cudnn", 1, 1});
  ASSERT_TRUE(e.has_device_timer());
  struct NoHook : LayerHook {
    void on_layer(LayerId, bool) override {}
  } hook;
  e.run(&hook);
  const std::vector<double> ms = e.take_device_layer_ms();
  ASSERT_EQ(ms.size(), static_cast<size_t>(g.num_layers()));
  for (LayerId l = 0; l < g.num_layers(); ++l) {
    if (g.layer(l).kind == LayerKind::Input) continue;
    EXPECT_GT(ms[static_cast<size_t>(l)], 0.0) << g.layer(l).name;
  }
  // Taken means reset.
  for (double v : e.take_device_layer_ms()) EXPECT_EQ(v, 0.0);
  auto out = e.blob_data(g.outputs()[0]);
  const std::vector<float> whole(out.begin(), out.end());
  for (int i = 0; i < 5; ++i) e.run_layer(g.num_layers() - 1);
  e.synchronize();
  auto again = e.blob_data(g.outputs()[0]);
  EXPECT_EQ(std::vector<float>(again.begin(), again.end()), whole);
}

TEST(Cudnn, GraphReplayIsRefusedOnHostBackends) {
  const Graph g = mixed_net();
  Executor e(g, {"reference", 1, 1});
  const std::string why = e.prepare_replay(g.find_layer("conv1"), 4);
  EXPECT_NE(why.find("runs on the host"), std::string::npos) << why;
  EXPECT_THROW(e.prepare_replay(g.num_layers(), 4), Error);
  EXPECT_THROW(e.prepare_replay(-1, 0), Error);
  EXPECT_THROW(e.replay(-1), Error);  // nothing captured
}

TEST(Cudnn, GraphReplayGivesTheStreamResultsAndRefusesHostFallbacks) {
  REQUIRE_CUDA_DEVICE();
  {
    // The Power fallback copies to the host and waits: neither it nor the network can be captured.
    const Graph g = mixed_net();
    Executor e(g, {"cudnn", 1, 1});
    const std::string layer_why = e.prepare_replay(g.find_layer("power"), 3);
    EXPECT_NE(layer_why.find("\"power\" runs on the host"), std::string::npos) << layer_why;
    const std::string net_why = e.prepare_replay(-1, 3);
    EXPECT_NE(net_why.find("\"power\""), std::string::npos) << net_why;
    EXPECT_EQ(e.prepare_replay(g.find_layer("conv1"), 3), "");  // its device layers still can
  }
  const Graph g = mixed_net(false);
  Executor e(g, {"cudnn", 1, 1});
  ASSERT_TRUE(e.fallbacks().empty());
  e.run();
  auto out = e.blob_data(g.outputs()[0]);
  const std::vector<float> stream(out.begin(), out.end());
  ASSERT_EQ(e.prepare_replay(-1, 3), "");
  for (LayerId l = 0; l < g.num_layers(); ++l) {
    if (g.layer(l).kind == LayerKind::Input) continue;
    ASSERT_EQ(e.prepare_replay(l, 50), "") << g.layer(l).name;
  }
  for (LayerId l = 0; l < g.num_layers(); ++l)
    if (g.layer(l).kind != LayerKind::Input) e.replay(l);
  e.replay(-1);  // the network's layers again, in order: the output is the stream run's
  e.synchronize();
  auto replayed = e.blob_data(g.outputs()[0]);
  ASSERT_EQ(replayed.size(), stream.size());
  for (size_t i = 0; i < stream.size(); ++i) EXPECT_NEAR(replayed[i], stream[i], 1e-5f * (1 + std::fabs(stream[i])));
}

// Every layer of `g` runs on the device, its outputs are within `relative` of the reference's, and the
// network can be captured for graph replay.
void expect_all_on_device_and_close(const Graph& g, double relative) {
  Executor e(g, {"cudnn", 1, 1});
  for (const auto& f : e.fallbacks()) ADD_FAILURE() << "fallback " << f.layer << ": " << f.reason;
  const test::Comparison c = test::compare_with_reference(g, "cudnn");
  EXPECT_GT(c.max_abs_ref, 0.0);
  EXPECT_LE(c.max_abs_diff, relative * c.max_abs_ref) << c.worst;
  EXPECT_EQ(e.prepare_replay(-1, 2), "");
}

// What cuDNN lacks, on the backend's own kernels: conv + fused HardSwish, Clip from -1, HardSigmoid,
// LeakyReLU, and ceil-rounded max and average pools (padding counted and not), against the reference.
TEST(Cudnn, OwnKernelsMatchReference) {
  REQUIRE_CUDA_KERNELS();
  Graph g("own");
  BlobId x = g.add_input("data", {2, 3, 18, 18});
  const BlobId c1 = add_layer(g, "conv", LayerKind::Convolution, conv(8, 3, 1), {x});
  g.mutable_layers()[static_cast<size_t>(g.find_layer("conv"))].fused_activation = test::fused(LayerKind::HardSwish);
  const BlobId clip = add_layer(g, "clip", LayerKind::Clip, ClipParams{-1.0f, 2.0f}, {c1});
  const BlobId hsig = add_layer(g, "hsig", LayerKind::HardSigmoid, HardSigmoidParams{}, {clip});
  const BlobId leaky = add_layer(g, "leaky", LayerKind::LeakyReLU, LeakyReLUParams{0.2f}, {c1});
  PoolParams max_ceil;
  max_ceil.kernel_h = max_ceil.kernel_w = 3;
  max_ceil.stride_h = max_ceil.stride_w = 2;
  max_ceil.rounding = PoolRounding::Ceil;  // 18 -> 9 (cuDNN's floor: 8)
  add_layer(g, "max_ceil", LayerKind::Pooling, max_ceil, {leaky});
  PoolParams avg_in = max_ceil;
  avg_in.method = PoolMethod::Average;
  avg_in.pad_top = avg_in.pad_left = avg_in.pad_bottom = avg_in.pad_right = 1;  // 18 -> 10 (floor: 9)
  add_layer(g, "avg_ceil_in", LayerKind::Pooling, avg_in, {hsig});
  PoolParams avg_ex = avg_in;
  avg_ex.count_include_pad = false;
  add_layer(g, "avg_ceil_ex", LayerKind::Pooling, avg_ex, {hsig});  // three network outputs, all compared
  expect_all_on_device_and_close(g, 1e-4);
}

// PReLU (per-channel and shared slope), Permute (odd shapes, rank 3 and 4), ChannelShuffle and Pad
// (constant, reflect and edge, asymmetric) on the backend's own kernels, against the reference.
Graph gather_net() {
  Graph g("gathers");
  BlobId x = g.add_input("data", {2, 6, 13, 7});
  const BlobId c1 = add_layer(g, "conv", LayerKind::Convolution, conv(12, 3, 1), {x});
  const BlobId prelu = add_layer(g, "prelu", LayerKind::PReLU, PReLUParams{}, {c1});
  const BlobId shuffle = add_layer(g, "shuffle", LayerKind::ChannelShuffle, ChannelShuffleParams{3}, {prelu});
  PermuteParams nhwc;
  nhwc.order = {0, 2, 3, 1};
  const BlobId perm = add_layer(g, "nhwc", LayerKind::Permute, nhwc, {shuffle});  // 2 x 13 x 7 x 12
  PadParams reflect;
  reflect.mode = PadMode::Reflect;
  reflect.begins = {0, 2, 1, 0};
  reflect.ends = {0, 1, 3, 0};
  add_layer(g, "pad_reflect", LayerKind::Pad, reflect, {perm});
  PadParams edge = reflect;
  edge.mode = PadMode::Edge;
  edge.begins = {1, 0, 4, 2};
  add_layer(g, "pad_edge", LayerKind::Pad, edge, {perm});
  PadParams constant = reflect;
  constant.mode = PadMode::Constant;
  constant.value = -0.75f;
  constant.begins = {0, 3, 0, 1};
  const BlobId padded = add_layer(g, "pad_constant", LayerKind::Pad, constant, {shuffle});
  PReLUParams shared;
  shared.channel_shared = true;
  const BlobId prelu1 = add_layer(g, "prelu_shared", LayerKind::PReLU, shared, {padded});
  const BlobId flat = add_layer(g, "flat", LayerKind::Reshape, ReshapeParams{{2, 0, -1}}, {prelu1});
  PermuteParams swap;
  swap.order = {2, 0, 1};
  add_layer(g, "swap", LayerKind::Permute, swap, {flat});
  return g;
}

TEST(Cudnn, GatherNetworkIsPlannedOnTheDeviceWithoutAGpu) {
  const Graph g = gather_net();
  Executor ref(g, {"reference", 1, 1});  // a valid network the reference runs
  ref.run();
  int planned = 0;
  for (LayerId l = 0; l < g.num_layers(); ++l) {
    const LayerKind k = g.layer(l).kind;
    if (k == LayerKind::Input || k == LayerKind::Reshape) continue;  // no kernel: an input, an alias
    EXPECT_EQ(runtime::device::unsupported_reason(test::shape_binding(g, l), true), "") << g.layer(l).name;
    ++planned;
  }
  EXPECT_EQ(planned, 9);
}

TEST(Cudnn, OwnKernelsTakePreluPermuteShuffleAndPad) {
  REQUIRE_CUDA_KERNELS();
  expect_all_on_device_and_close(gather_net(), 1e-3);
}

TEST(Cudnn, Tf32IsRecordedAndStaysClose) {
  REQUIRE_CUDA_DEVICE();
  const Graph g = mixed_net();
  ExecutorOptions o{"cudnn", 1, 1};
  o.tf32 = true;
  Executor e(g, o);
  EXPECT_EQ(e.math_mode(), "tf32=on");
  e.run();
  for (float v : e.blob_data(g.outputs()[0])) EXPECT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace convergy

// The cudnn backend on a real GPU: a network with every layer kind it takes (and one it leaves to the
// reference) agrees with the reference within fp32 tolerance, isolated runs repeat, device timers give
// per-layer times, and TF32 is off unless asked for. Skipped, with the reason, where no GPU (or no CUDA
// build) is present; without a GPU the backend must refuse clearly.
#include "runtime/backend.h"
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

bool cuda_device(std::string* why) {
#ifdef CONVERGY_HAVE_CUDNN
  return runtime::cudnn_device_count(why) > 0;
#else
  *why = "the cudnn backend is not built (configure found no CUDA toolkit or cuDNN)";
  return false;
#endif
}

ConvParams conv(int64_t oc, int64_t k, int64_t pad, int64_t groups = 1) {
  ConvParams p;
  p.num_output = oc;
  p.kernel_h = p.kernel_w = k;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.groups = groups;
  return p;
}

// conv+ReLU, LRN, max pool, depthwise conv, BatchNorm, SE-style broadcast product, residual sum, concat,
// LeakyReLU (on the backend's own kernel; only where those are built), PReLU (a reference fallback in the
// middle of the device network; left out when !with_fallback), global pool, FC, softmax.
Graph mixed_net(bool with_fallback = true) {
  Graph g("mixed");
  BlobId x = g.add_input("data", {2, 3, 20, 20});
  auto one = [&](const std::string& name, LayerKind kind, LayerParams p, std::vector<BlobId> in) {
    const LayerId id = g.add_layer(name, kind, std::move(p), std::move(in), {name});
    return g.layer(id).outputs[0];
  };
  const BlobId c1 = one("conv1", LayerKind::Convolution, conv(16, 3, 1), {x});
  g.mutable_layers()[static_cast<size_t>(g.find_layer("conv1"))].fused_activation = test::fused(LayerKind::ReLU);
  const BlobId n1 = one("lrn", LayerKind::LRN, LRNParams{}, {c1});
  PoolParams pool;
  pool.kernel_h = pool.kernel_w = 2;
  pool.stride_h = pool.stride_w = 2;
  pool.rounding = PoolRounding::Floor;
  const BlobId p1 = one("pool", LayerKind::Pooling, pool, {n1});
  const BlobId dw = one("dw", LayerKind::Convolution, conv(16, 3, 1, 16), {p1});
  BatchNormParams bnp;
  bnp.affine = true;
  const BlobId bn = one("bn", LayerKind::BatchNorm, bnp, {dw});
  PoolParams gap;
  gap.global = true;
  gap.method = PoolMethod::Average;
  const BlobId se = one("se_pool", LayerKind::Pooling, gap, {bn});
  const BlobId sig = one("se_sigmoid", LayerKind::Sigmoid, NoParams{}, {se});
  EltwiseParams prod;
  prod.op = EltwiseOp::Prod;
  const BlobId scaled = one("se_scale", LayerKind::Eltwise, prod, {sig, bn});
  const BlobId sum = one("residual", LayerKind::Eltwise, EltwiseParams{}, {scaled, p1});
  const BlobId cat = one("concat", LayerKind::Concat, ConcatParams{1}, {sum, p1});
#ifdef CONVERGY_HAVE_CUDA_KERNELS
  const BlobId leaky = one("leaky", LayerKind::LeakyReLU, LeakyReLUParams{0.1f}, {cat});
#else
  const BlobId leaky = cat;
#endif
  const BlobId prelu = with_fallback ? one("prelu", LayerKind::PReLU, PReLUParams{}, {leaky}) : leaky;
  const BlobId pooled = one("gap", LayerKind::Pooling, gap, {prelu});
  InnerProductParams fc;
  fc.num_output = 10;
  const BlobId logits = one("fc", LayerKind::InnerProduct, fc, {pooled});
  one("prob", LayerKind::Softmax, SoftmaxParams{}, {logits});
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
  EXPECT_EQ(e.fallbacks()[0].layer, "prelu");
  EXPECT_EQ(e.backend_of(g.find_layer("conv1")), "cudnn");
  EXPECT_EQ(e.math_mode(), "tf32=off");
  // Intermediate blobs are fetched from the device on request: the logits agree with the reference too.
  Executor ref(g, {"reference", 1, 1});
  ref.run();
  e.run();
  const BlobId logits = g.layer(g.find_layer("fc")).outputs[0];
  auto a = ref.blob_data(logits), b = e.blob_data(logits);
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(a[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  EXPECT_LE(max_diff, 1e-3 * max_ref);
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
    // The PReLU fallback copies to the host and waits: neither it nor the network can be captured.
    const Graph g = mixed_net();
    Executor e(g, {"cudnn", 1, 1});
    const std::string layer_why = e.prepare_replay(g.find_layer("prelu"), 3);
    EXPECT_NE(layer_why.find("\"prelu\" runs on the host"), std::string::npos) << layer_why;
    const std::string net_why = e.prepare_replay(-1, 3);
    EXPECT_NE(net_why.find("\"prelu\""), std::string::npos) << net_why;
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

// What cuDNN lacks, on the backend's own kernels: conv + fused HardSwish, Clip from -1, HardSigmoid,
// LeakyReLU, and ceil-rounded max and average pools (padding counted and not), against the reference.
TEST(Cudnn, OwnKernelsMatchReference) {
  REQUIRE_CUDA_DEVICE();
#ifndef CONVERGY_HAVE_CUDA_KERNELS
  GTEST_SKIP() << "the backend's CUDA kernels are not built (no nvcc at configure time)";
#else
  Graph g("own");
  BlobId x = g.add_input("data", {2, 3, 18, 18});
  auto one = [&](const std::string& name, LayerKind kind, LayerParams p, std::vector<BlobId> in) {
    const LayerId id = g.add_layer(name, kind, std::move(p), std::move(in), {name});
    return g.layer(id).outputs[0];
  };
  const BlobId c1 = one("conv", LayerKind::Convolution, conv(8, 3, 1), {x});
  g.mutable_layers()[static_cast<size_t>(g.find_layer("conv"))].fused_activation = test::fused(LayerKind::HardSwish);
  const BlobId clip = one("clip", LayerKind::Clip, ClipParams{-1.0f, 2.0f}, {c1});
  const BlobId hsig = one("hsig", LayerKind::HardSigmoid, HardSigmoidParams{}, {clip});
  const BlobId leaky = one("leaky", LayerKind::LeakyReLU, LeakyReLUParams{0.2f}, {c1});
  PoolParams max_ceil;
  max_ceil.kernel_h = max_ceil.kernel_w = 3;
  max_ceil.stride_h = max_ceil.stride_w = 2;
  max_ceil.rounding = PoolRounding::Ceil;  // 18 -> 9 (cuDNN's floor: 8)
  one("max_ceil", LayerKind::Pooling, max_ceil, {leaky});
  PoolParams avg_in = max_ceil;
  avg_in.method = PoolMethod::Average;
  avg_in.pad_top = avg_in.pad_left = avg_in.pad_bottom = avg_in.pad_right = 1;  // 18 -> 10 (floor: 9)
  one("avg_ceil_in", LayerKind::Pooling, avg_in, {hsig});
  PoolParams avg_ex = avg_in;
  avg_ex.count_include_pad = false;
  one("avg_ceil_ex", LayerKind::Pooling, avg_ex, {hsig});  // three network outputs, all compared
  Executor e(g, {"cudnn", 1, 1});
  EXPECT_TRUE(e.fallbacks().empty()) << e.fallbacks()[0].layer << ": " << e.fallbacks()[0].reason;
  const test::Comparison c = test::compare_with_reference(g, "cudnn");
  EXPECT_GT(c.max_abs_ref, 0.0);
  EXPECT_LE(c.max_abs_diff, 1e-4 * c.max_abs_ref) << c.worst;
  // And they can be captured for graph replay.
  EXPECT_EQ(e.prepare_replay(-1, 2), "");
#endif
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

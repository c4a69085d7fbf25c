// No heap allocation during a run: a replacement global operator new counts calls while a flag is set.
// Covered: every C++ allocation anywhere in the process (ours, the STL's, oneDNN's, which is C++).
// Not covered: malloc called directly by C code (OpenBLAS's buffers come from its own pool, allocated at
// its initialisation; Eigen's GEMM packing may use malloc for blocks above its stack limit).
// Known exception: oneDNN 2.6 builds a small argument map (std::unordered_map) inside every primitive
// execution, even through the C API we call with prebuilt arguments. For onednn the test therefore
// checks that those allocations are small (no tensor-sized buffer) and the same in every run. cuDNN 9 is
// C++ too, and its legacy entry points build host objects on every call (on an H200 with cuDNN 9.19 the
// largest was 39200 bytes, more than this network's largest tensor): for cudnn the test checks only that
// the count is the same in every run (no growth, no lazily allocated state).
#include "runtime_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

// The replacements below pair malloc with free by design; GCC sees free() behind operator delete after
// inlining and would flag it as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
std::atomic<std::size_t> g_largest{0};

void count(std::size_t n) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  std::size_t prev = g_largest.load(std::memory_order_relaxed);
  while (n > prev && !g_largest.compare_exchange_weak(prev, n)) {
  }
}
}  // namespace

void* operator new(std::size_t n) {
  count(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  count(n);
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace convergy::test {
namespace {

// Every kind of layer the backends take, plus fallbacks, in one network.
Graph mixed_net() {
  Graph g("mixed");
  const BlobId in = g.add_input("data", {1, 3, 17, 17});
  ConvParams c;
  c.num_output = 16;
  c.kernel_h = c.kernel_w = 3;
  c.pad_top = c.pad_left = c.pad_bottom = c.pad_right = 1;
  const BlobId c1 = add_layer(g, "conv", LayerKind::Convolution, c, {in});
  const BlobId bn = add_layer(g, "bn", LayerKind::BatchNorm, BatchNormParams{1e-5f, true}, {c1});
  const BlobId r = add_layer(g, "relu", LayerKind::ReLU, NoParams{}, {bn});
  ConvParams dw = c;
  dw.groups = 16;
  const BlobId d = add_layer(g, "dw", LayerKind::Convolution, dw, {r});
  const BlobId hs = add_layer(g, "hswish", LayerKind::HardSwish, NoParams{}, {d});
  const BlobId lrn = add_layer(g, "lrn", LayerKind::LRN, LRNParams{}, {hs});
  const BlobId sum = add_layer(g, "sum", LayerKind::Eltwise, EltwiseParams{}, {lrn, r});
  PoolParams gp;
  gp.method = PoolMethod::Average;
  gp.global = true;
  const BlobId se = add_layer(g, "se_pool", LayerKind::Pooling, gp, {sum});
  const BlobId se_sig = add_layer(g, "se_sig", LayerKind::Sigmoid, NoParams{}, {se});
  EltwiseParams prod;
  prod.op = EltwiseOp::Prod;
  const BlobId scaled = add_layer(g, "se_mul", LayerKind::Eltwise, prod, {sum, se_sig});
  const BlobId cat = add_layer(g, "cat", LayerKind::Concat, ConcatParams{1}, {scaled, sum});
  PoolParams mp;
  mp.kernel_h = mp.kernel_w = 3;
  mp.stride_h = mp.stride_w = 2;
  const BlobId pool = add_layer(g, "pool", LayerKind::Pooling, mp, {cat});
  const BlobId perm = add_layer(g, "shuffle", LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {pool});
  const BlobId fc = add_layer(g, "fc", LayerKind::InnerProduct, InnerProductParams{10, true, 1}, {perm});
  add_layer(g, "prob", LayerKind::Softmax, SoftmaxParams{1}, {fc});
  return g;
}

class NoAllocation : public ::testing::TestWithParam<std::string> {};

TEST_P(NoAllocation, RunAndRunLayerDoNotCallOperatorNew) {
  const Graph g = mixed_net();
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    Executor e(g, {GetParam(), threads, 1});
    e.run();  // libraries may set themselves up on first use
    long counts[2] = {0, 0};
    for (long& c : counts) {
      g_allocations = 0;
      g_largest = 0;
      g_counting = true;
      e.run();
      for (LayerId l = 0; l < g.num_layers(); ++l) e.run_layer(l);
      g_counting = false;
      c = g_allocations.load();
    }
    if (GetParam() == "cudnn") {
      EXPECT_EQ(counts[0], counts[1]) << "cuDNN's per-call allocations vary between runs";
    } else if (GetParam() == "onednn") {
      EXPECT_EQ(counts[0], counts[1]) << "oneDNN's per-execution allocations vary between runs";
      EXPECT_LT(g_largest.load(), 4096u) << "a tensor-sized allocation during a run";
    } else {
      EXPECT_EQ(counts[0], 0) << "operator new calls during run()/run_layer()";
      EXPECT_EQ(counts[1], 0) << "operator new calls during run()/run_layer()";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, NoAllocation,
                         ::testing::ValuesIn(convergy::Executor::available_backends()),
                         [](const auto& param_info) { return param_info.param; });

TEST(NoAllocationHarness, CountsAllocations) {
  // The counter works: a vector allocation is seen.
  g_allocations = 0;
  g_counting = true;
  auto* v = new std::vector<int>(100);
  g_counting = false;
  delete v;
  EXPECT_GE(g_allocations.load(), 2);
}

}  // namespace
}  // namespace convergy::test

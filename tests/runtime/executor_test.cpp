// The executor: buffer planning (shared and in-place buffers give the same results as private ones),
// both run modes, the layer hook, fallbacks, seeds, threads and argument errors.
#include "runtime_util.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace convergy::test {
namespace {

// Branches, a residual sum, an in-place ReLU, aliasing layers and a concat: everything the planner shares.
Graph branching_net() {
  Graph g("branching");
  const BlobId in = g.add_input("data", {1, 3, 13, 13});
  const BlobId c1 = add_layer(g, "conv1", LayerKind::Convolution, conv(8, 3, 1), {in});
  const BlobId r1 = add_layer(g, "relu1", LayerKind::ReLU, NoParams{}, {c1});
  const LayerId split = g.add_layer("split", LayerKind::Split, NoParams{}, {r1}, {"s0", "s1"});
  const BlobId s0 = g.layer(split).outputs[0], s1 = g.layer(split).outputs[1];
  const BlobId a = add_layer(g, "branch_a", LayerKind::Convolution, conv(8, 1, 0), {s0});
  const BlobId ar = add_layer(g, "branch_a_relu", LayerKind::ReLU, NoParams{}, {a});
  const BlobId b = add_layer(g, "branch_b", LayerKind::Convolution, conv(8, 3, 1, 8), {s1});
  const BlobId sum = add_layer(g, "sum", LayerKind::Eltwise, EltwiseParams{}, {ar, s1});
  const BlobId cat = add_layer(g, "cat", LayerKind::Concat, ConcatParams{1}, {sum, b});
  const BlobId sig = add_layer(g, "sig", LayerKind::Sigmoid, NoParams{}, {cat});
  PoolParams pp;
  pp.kernel_h = pp.kernel_w = 3;
  pp.stride_h = pp.stride_w = 2;
  const BlobId pool = add_layer(g, "pool", LayerKind::Pooling, pp, {sig});
  const BlobId drop = add_layer(g, "drop", LayerKind::Dropout, DropoutParams{}, {pool});
  const BlobId flat = add_layer(g, "flat", LayerKind::Flatten, FlattenParams{}, {drop});
  const BlobId fc = add_layer(g, "fc", LayerKind::InnerProduct, InnerProductParams{10, true, 1}, {flat});
  add_layer(g, "prob", LayerKind::Softmax, SoftmaxParams{1}, {fc});
  return g;
}

std::vector<float> output_of(Executor& e) {
  auto out = e.blob_data(e.graph().outputs().at(0));
  return {out.begin(), out.end()};
}

TEST(Executor, SharedBuffersGiveTheSameResultsAsPrivateOnes) {
  const Graph g = branching_net();
  for (const auto& backend : Executor::available_backends()) {
    SCOPED_TRACE(backend);
    ExecutorOptions shared{backend, 1, 3};
    ExecutorOptions separate = shared;
    separate.reuse_buffers = false;
    Executor a(g, shared), b(g, separate);
    a.run();
    b.run();
    EXPECT_EQ(output_of(a), output_of(b));
    // A second run reads inputs that the first must have left intact.
    a.run();
    EXPECT_EQ(output_of(a), output_of(b));
  }
}

TEST(Executor, WholeNetworkMatchesReferenceOnEveryBackend) {
  const Graph g = branching_net();
  for (const auto& backend : optimised_backends()) {
    SCOPED_TRACE(backend);
    const Comparison c = compare_with_reference(g, backend);
    EXPECT_LE(c.max_abs_diff, 1e-4 * std::max(1.0, c.max_abs_ref)) << c.worst;
  }
}

class Recorder : public LayerHook {
 public:
  void on_layer(LayerId layer, bool start) override { events.emplace_back(layer, start); }
  std::vector<std::pair<LayerId, bool>> events;
};

TEST(Executor, HookSeesEveryLayerStartAndEndInOrder) {
  const Graph g = branching_net();
  Executor e(g, {"reference", 1, 1});
  Recorder r;
  e.run(&r);
  ASSERT_EQ(r.events.size(), static_cast<size_t>(2 * g.num_layers()));
  for (int i = 0; i < g.num_layers(); ++i) {
    EXPECT_EQ(r.events[static_cast<size_t>(2 * i)], std::make_pair(i, true));
    EXPECT_EQ(r.events[static_cast<size_t>(2 * i + 1)], std::make_pair(i, false));
  }
}

TEST(Executor, HostBackendsHaveNoDeviceTimesToTake) {
  // Without a device timer the hook's clock times the layers: no per-layer vector (zeros would read as
  // measured times of 0 ms, which `convergy run` printed for every layer until this was fixed).
  const Graph g = branching_net();
  for (const char* backend : {"reference", "openblas"}) {
    Executor e(g, {backend, 1, 1});
    EXPECT_FALSE(e.has_device_timer()) << backend;
    Recorder r;
    e.run(&r);
    EXPECT_TRUE(e.take_device_layer_ms().empty()) << backend;
  }
}

TEST(Executor, RunLayerRepeatsALayerOnItsPreparedInputs) {
  const Graph g = branching_net();
  for (const auto& backend : Executor::available_backends()) {
    SCOPED_TRACE(backend);
    Executor e(g, {backend, 1, 1});
    // Before any run the inputs hold random numbers: the result must still be finite.
    e.run_layer(g.find_layer("fc"));
    for (float v : e.blob_data(g.layer(g.find_layer("fc")).outputs[0])) EXPECT_TRUE(std::isfinite(v));
    e.run();
    const std::vector<float> whole = output_of(e);
    const LayerId last = g.num_layers() - 1;
    for (int i = 0; i < 3; ++i) e.run_layer(last);
    EXPECT_EQ(output_of(e), whole);
  }
  Executor e(g, {"reference", 1, 1});
  EXPECT_THROW(e.run_layer(g.num_layers()), Error);
}

TEST(Executor, FallbacksAreListedWithTheirReason) {
  // No GEMM backend has a ChannelShuffle kernel: the layer runs on the reference and says why.
  Graph g("shuffle");
  const BlobId in = g.add_input("data", {1, 8, 5, 5});
  const LayerId conv_id = g.add_layer("conv", LayerKind::Convolution, conv(8, 3, 1), {in}, {"conv"});
  g.add_layer("norm", LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {g.layer(conv_id).outputs[0]},
              {"norm"});
  for (const std::string backend : {"openblas", "eigen"}) {
    Executor e(g, {backend, 1, 1});
    ASSERT_EQ(e.fallbacks().size(), 1u);
    EXPECT_EQ(e.fallbacks()[0].layer, "norm");
    EXPECT_NE(e.fallbacks()[0].reason.find("ChannelShuffle"), std::string::npos) << e.fallbacks()[0].reason;
    EXPECT_EQ(e.backend_of(g.find_layer("norm")), "reference");
    EXPECT_EQ(e.backend_of(g.find_layer("conv")), backend);
  }
  Executor ref(g, {"reference", 1, 1});
  EXPECT_TRUE(ref.fallbacks().empty());
}

TEST(Executor, SeedsDecideWeightsAndInputs) {
  const Graph g = branching_net();
  Executor a(g, {"reference", 1, 5}), b(g, {"reference", 1, 5}), c(g, {"reference", 1, 6});
  a.run();
  b.run();
  c.run();
  EXPECT_EQ(output_of(a), output_of(b));
  EXPECT_NE(output_of(a), output_of(c));
  const LayerId conv1 = g.find_layer("conv1");
  auto wa = a.weight_data(conv1, 0), wc = c.weight_data(conv1, 0);
  EXPECT_NE(std::vector<float>(wa.begin(), wa.end()), std::vector<float>(wc.begin(), wc.end()));
}

// A backend that copies weights into its own layout (oneDNN's blocked formats) must not keep the originals
// too, and weight_data() still gives the generated values.
TEST(Executor, EachWeightIsHeldOnceAndStaysReadable) {
  Graph g("held_once");
  const BlobId in = g.add_input("data", {1, 16, 14, 14});
  const BlobId c = add_layer(g, "conv", LayerKind::Convolution, conv(32, 3, 1), {in});
  const BlobId flat = add_layer(g, "flat", LayerKind::Flatten, FlattenParams{}, {c});
  add_layer(g, "fc", LayerKind::InnerProduct, InnerProductParams{64, true, 1}, {flat});
  int64_t weight_bytes = 0;
  for (const Layer& l : g.layers())
    for (const WeightSpec& w : l.weights)
      weight_bytes += w.shape.elems() * static_cast<int64_t>(sizeof(float));
  Executor ref(g, {"reference", 1, 7});
  EXPECT_EQ(ref.memory().weights, weight_bytes);
  EXPECT_EQ(ref.memory().backend_copies, 0);
  EXPECT_GT(ref.memory().activations, 0);
  for (const auto& backend : Executor::available_backends()) {
    SCOPED_TRACE(backend);
    Executor e(g, {backend, 1, 7});
    const Executor::Memory m = e.memory();
    EXPECT_GE(m.weights + m.backend_copies, weight_bytes);
    EXPECT_LT(m.weights + m.backend_copies, weight_bytes * 3 / 2);
    EXPECT_EQ(m.total(), m.activations + m.weights + m.backend_copies + m.workspace);
    for (LayerId l = 0; l < g.num_layers(); ++l)
      for (size_t w = 0; w < g.layer(l).weights.size(); ++w) {
        auto a = ref.weight_data(l, w), b = e.weight_data(l, w);
        EXPECT_EQ(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end()))
            << g.layer(l).name << " weight " << w;
      }
    e.run();
    ref.run();
    EXPECT_NEAR(output_of(e)[5], output_of(ref)[5], 1e-3f);
  }
}

TEST(Executor, TwoThreadsComputeWhatOneDoes) {
  const Graph g = branching_net();
  for (const auto& backend : Executor::available_backends()) {
    SCOPED_TRACE(backend);
    Executor one(g, {backend, 1, 2});
    one.run();
    const std::vector<float> single = output_of(one);
    Executor two(g, {backend, 2, 2});
    two.run();
    const std::vector<float> dual = output_of(two);
    ASSERT_EQ(single.size(), dual.size());
    for (size_t i = 0; i < single.size(); ++i) EXPECT_NEAR(single[i], dual[i], 1e-5f) << i;
  }
}

TEST(Executor, RejectsUnknownBackendAndBadThreadCount) {
  const Graph g = branching_net();
  try {
    Executor e(g, {"tpu", 1, 1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("tpu"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("openblas"), std::string::npos);
  }
  EXPECT_THROW(Executor(g, {"reference", 0, 1}), Error);
}

}  // namespace
}  // namespace convergy::test

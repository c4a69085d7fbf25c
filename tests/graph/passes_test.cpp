// Graph passes: each pass on its own and together, what they report, and that outputs survive rewiring.
#include "graph/passes.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace convergy {
namespace {

ConvParams conv(int64_t out, int64_t k, bool bias = true) {
  ConvParams p;
  p.num_output = out;
  p.kernel_h = p.kernel_w = k;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = k / 2;
  p.bias = bias;
  return p;
}

// Adds a single-output layer reading `in`; returns its output blob.
BlobId add(Graph& g, const std::string& name, LayerKind kind, LayerParams params, std::vector<BlobId> in,
           const std::string& top = {}) {
  LayerId id = g.add_layer(name, kind, std::move(params), std::move(in), {top.empty() ? name : top});
  return g.layer(id).outputs[0];
}

std::vector<std::string> layer_names(const Graph& g) {
  std::vector<std::string> n;
  for (const auto& l : g.layers()) n.push_back(l.name);
  return n;
}

std::vector<std::string> change_strings(const std::vector<PassChange>& c) {
  std::vector<std::string> s;
  for (const auto& x : c) s.push_back(x.pass + " " + x.layer + ": " + x.detail);
  return s;
}

const Layer& by_name(const Graph& g, const std::string& name) {
  LayerId id = g.find_layer(name);
  EXPECT_GE(id, 0) << name;
  return g.layer(id);
}

// Caffe's conv -> BatchNorm -> Scale -> ReLU, all in place, then pooling, FC, dropout, FC, softmax.
Graph caffe_style() {
  Graph g("caffe_style");
  g.set_source("caffe_style.prototxt");
  BlobId x = g.add_input("data", {1, 3, 9, 9});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(8, 3, false), {x});
  c = add(g, "bn1", LayerKind::BatchNorm, BatchNormParams{}, {c}, "conv1");
  c = add(g, "scale1", LayerKind::Scale, ScaleParams{1, true}, {c}, "conv1");
  c = add(g, "relu1", LayerKind::ReLU, NoParams{}, {c}, "conv1");
  PoolParams pp;
  pp.kernel_h = pp.kernel_w = 3;
  pp.stride_h = pp.stride_w = 2;
  BlobId p = add(g, "pool1", LayerKind::Pooling, pp, {c});
  BlobId f = add(g, "fc1", LayerKind::InnerProduct, InnerProductParams{16, true, 1}, {p});
  f = add(g, "relu2", LayerKind::ReLU, NoParams{}, {f}, "fc1");
  f = add(g, "drop1", LayerKind::Dropout, DropoutParams{0.5f}, {f}, "fc1");
  f = add(g, "fc2", LayerKind::InnerProduct, InnerProductParams{10, true, 1}, {f});
  add(g, "prob", LayerKind::Softmax, SoftmaxParams{1}, {f});
  return g;
}

TEST(Passes, NoneLeavesTheGraphAlone) {
  Graph g = caffe_style();
  PassResult r = run_passes(g, PassOptions::none());
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(layer_names(r.graph), layer_names(g));
  EXPECT_EQ(r.graph.name(), "caffe_style");
  EXPECT_EQ(r.graph.source(), "caffe_style.prototxt");
}

TEST(Passes, AllPassesOnCaffeStyleNetwork) {
  Graph g = caffe_style();
  PassResult r = run_passes(g);
  EXPECT_EQ(layer_names(r.graph), (std::vector<std::string>{"data", "conv1", "pool1", "fc1", "fc2", "prob"}));
  EXPECT_EQ(change_strings(r.changes),
            (std::vector<std::string>{
                "dropout drop1: removed (identity at inference); consumers read \"fc1\"",
                "fold-bn bn1: folded into conv1",
                "fold-bn conv1: gains a bias to absorb bn1",
                "fold-bn scale1: folded into conv1",
                "fuse-act relu1: fused into conv1",
                "fuse-act relu2: fused into fc1",
            }));
  const Layer& c1 = by_name(r.graph, "conv1");
  EXPECT_TRUE(c1.p<ConvParams>().bias);
  ASSERT_EQ(c1.weights.size(), 2u) << "shapes re-inferred: the bias weight exists";
  EXPECT_EQ(c1.weights[1].shape, (Shape{8}));
  ASSERT_TRUE(c1.fused_activation.has_value());
  EXPECT_EQ(c1.fused_activation->kind, LayerKind::ReLU);
  EXPECT_EQ(c1.fused_activation->layer_name, "relu1");
  ASSERT_TRUE(by_name(r.graph, "fc1").fused_activation.has_value());
  EXPECT_EQ(by_name(r.graph, "fc1").fused_activation->layer_name, "relu2");
  // fc2 now reads fc1's output directly.
  const Layer& fc2 = by_name(r.graph, "fc2");
  EXPECT_EQ(fc2.inputs, by_name(r.graph, "fc1").outputs);
  // The output is still the softmax.
  ASSERT_EQ(r.graph.outputs().size(), 1u);
  EXPECT_EQ(r.graph.blob(r.graph.outputs()[0]).producer, r.graph.find_layer("prob"));
  // The original graph is untouched.
  EXPECT_EQ(g.num_layers(), 11);
  EXPECT_FALSE(by_name(g, "conv1").p<ConvParams>().bias);
}

TEST(Passes, EachPassSwitchesSeparately) {
  Graph g = caffe_style();
  PassOptions only_dropout = PassOptions::none();
  only_dropout.remove_dropout = true;
  PassResult d = run_passes(g, only_dropout);
  EXPECT_EQ(d.graph.num_layers(), g.num_layers() - 1);
  EXPECT_EQ(d.graph.find_layer("drop1"), -1);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(d.changes[0].pass, "dropout");

  PassOptions only_fold = PassOptions::none();
  only_fold.fold_batchnorm = true;
  PassResult f = run_passes(g, only_fold);
  EXPECT_EQ(f.graph.find_layer("bn1"), -1);
  EXPECT_EQ(f.graph.find_layer("scale1"), -1);
  EXPECT_GE(f.graph.find_layer("relu1"), 0);
  EXPECT_GE(f.graph.find_layer("drop1"), 0);

  PassOptions only_fuse = PassOptions::none();
  only_fuse.fuse_activations = true;
  PassResult a = run_passes(g, only_fuse);
  // relu1 follows scale1 (not a Conv/FC) when BN is not folded, so only relu2 fuses.
  EXPECT_EQ(change_strings(a.changes), (std::vector<std::string>{"fuse-act relu2: fused into fc1"}));
  EXPECT_GE(a.graph.find_layer("relu1"), 0);
}

TEST(Passes, NoFoldWhenConvOutputHasAnotherConsumer) {
  Graph g("branch");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 1), {x});
  BlobId b = add(g, "bn1", LayerKind::BatchNorm, BatchNormParams{}, {c});
  BlobId r = add(g, "relu_side", LayerKind::ReLU, NoParams{}, {c});
  add(g, "sum", LayerKind::Eltwise, EltwiseParams{}, {b, r});
  PassResult res = run_passes(g);
  EXPECT_TRUE(res.changes.empty()) << ::testing::PrintToString(change_strings(res.changes));
  EXPECT_EQ(res.graph.num_layers(), g.num_layers());
}

TEST(Passes, NoFoldOrFuseIntoNonConvProducers) {
  Graph g("pool_bn");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  PoolParams pp;
  pp.kernel_h = pp.kernel_w = 3;
  BlobId p = add(g, "pool", LayerKind::Pooling, pp, {x});
  BlobId b = add(g, "bn", LayerKind::BatchNorm, BatchNormParams{}, {p});
  add(g, "relu", LayerKind::ReLU, NoParams{}, {b});
  EXPECT_TRUE(run_passes(g).changes.empty());
}

TEST(Passes, TwoInputScaleIsNotFolded) {
  Graph g("se");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId s = g.add_input("factors", {4});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  add(g, "scale", LayerKind::Scale, ScaleParams{1, false}, {c, s});
  EXPECT_TRUE(run_passes(g).changes.empty());
}

TEST(Passes, FoldIntoInnerProductWithBias) {
  Graph g("fc_bn");
  BlobId x = g.add_input("data", {2, 32});
  BlobId f = add(g, "fc", LayerKind::InnerProduct, InnerProductParams{8, true, 1}, {x});
  add(g, "bn", LayerKind::BatchNorm, BatchNormParams{1e-5f, true}, {f});
  PassResult r = run_passes(g);
  // The FC already has a bias: one change, no "gains a bias".
  EXPECT_EQ(change_strings(r.changes), (std::vector<std::string>{"fold-bn bn: folded into fc"}));
  EXPECT_EQ(r.graph.num_layers(), 2);
}

TEST(Passes, NoFoldWhenConvOutputIsMarkedOutput) {
  Graph g("marked");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  BlobId b = add(g, "bn1", LayerKind::BatchNorm, BatchNormParams{}, {c});
  BlobId r = add(g, "relu1", LayerKind::ReLU, NoParams{}, {b});
  g.mark_output(c);  // the raw convolution result is wanted as well
  g.mark_output(r);
  PassResult res = run_passes(g);
  EXPECT_GE(res.graph.find_layer("bn1"), 0);
  EXPECT_FALSE(res.graph.layer(res.graph.find_layer("conv1")).fused_activation.has_value());
  EXPECT_EQ(res.graph.outputs().size(), 2u);
}

TEST(Passes, ActivationParametersCarriedIntoFusion) {
  Graph g("clip");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  add(g, "relu6", LayerKind::Clip, ClipParams{0.0f, 6.0f}, {c});
  PassResult r = run_passes(g);
  const auto& fa = r.graph.layer(r.graph.find_layer("conv1")).fused_activation;
  ASSERT_TRUE(fa.has_value());
  EXPECT_EQ(fa->kind, LayerKind::Clip);
  EXPECT_EQ(fa->alpha, 0.0f);
  EXPECT_EQ(fa->beta, 6.0f);
}

TEST(Passes, PReLUIsNotFusedBecauseItHasWeights) {
  Graph g("prelu");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  add(g, "prelu", LayerKind::PReLU, PReLUParams{}, {c});
  EXPECT_TRUE(run_passes(g).changes.empty());
}

TEST(Passes, OnlyOneActivationFusesPerProducer) {
  Graph g("two_acts");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  BlobId r = add(g, "relu", LayerKind::ReLU, NoParams{}, {c});
  add(g, "sig", LayerKind::Sigmoid, NoParams{}, {r});
  PassResult res = run_passes(g);
  EXPECT_EQ(change_strings(res.changes), (std::vector<std::string>{"fuse-act relu: fused into conv1"}));
  EXPECT_GE(res.graph.find_layer("sig"), 0);
}

TEST(Passes, DeadLayersRemovedAndOutputsRemapped) {
  Graph g("dead");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  BlobId side = add(g, "side_conv", LayerKind::Convolution, conv(2, 1), {c});
  add(g, "side_relu", LayerKind::ReLU, NoParams{}, {side});
  BlobId d = add(g, "drop", LayerKind::Dropout, DropoutParams{}, {c});
  g.mark_output(d);
  PassResult r = run_passes(g);
  EXPECT_EQ(
      change_strings(r.changes),
      (std::vector<std::string>{"dead side_conv: its results reach no network output",
                                "dead side_relu: its results reach no network output",
                                "dropout drop: removed (identity at inference); consumers read \"conv1\""}));
  EXPECT_EQ(layer_names(r.graph), (std::vector<std::string>{"data", "conv1"}));
  // The marked output was the dropout's; it now is conv1's.
  ASSERT_EQ(r.graph.outputs().size(), 1u);
  EXPECT_EQ(r.graph.blob(r.graph.outputs()[0]).producer, r.graph.find_layer("conv1"));
}

TEST(Passes, DeadPassOffKeepsDeadLayers) {
  Graph g("dead");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  add(g, "side", LayerKind::ReLU, NoParams{}, {x});
  g.mark_output(c);
  PassOptions o;
  o.remove_dead = false;
  EXPECT_GE(run_passes(g, o).graph.find_layer("side"), 0);
  EXPECT_EQ(run_passes(g).graph.find_layer("side"), -1);
}

TEST(Passes, UnusedInputIsKept) {
  Graph g("two_inputs");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  g.add_input("unused", {1, 2});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  g.mark_output(c);
  PassResult r = run_passes(g);
  EXPECT_EQ(r.graph.inputs().size(), 2u);
  EXPECT_TRUE(r.changes.empty());
}

TEST(Passes, SplitOutputsRewiredByBlobNotName) {
  // Caffe in-place chains reuse blob names; the rebuilt graph must follow ids, not names.
  Graph g("split");
  BlobId x = g.add_input("data", {1, 4, 7, 7});
  BlobId c = add(g, "conv1", LayerKind::Convolution, conv(4, 3), {x});
  c = add(g, "relu1", LayerKind::ReLU, NoParams{}, {c}, "conv1");
  LayerId s = g.add_layer("split", LayerKind::Split, NoParams{}, {c}, {"a", "b"});
  BlobId a = add(g, "drop_a", LayerKind::Dropout, DropoutParams{}, {g.layer(s).outputs[0]}, "conv1");
  BlobId b = add(g, "conv2", LayerKind::Convolution, conv(4, 1), {g.layer(s).outputs[1]});
  add(g, "sum", LayerKind::Eltwise, EltwiseParams{}, {a, b});
  PassResult r = run_passes(g);
  EXPECT_EQ(layer_names(r.graph), (std::vector<std::string>{"data", "conv1", "split", "conv2", "sum"}));
  const Layer& sum = by_name(r.graph, "sum");
  const Layer& split = by_name(r.graph, "split");
  EXPECT_EQ(sum.inputs, (std::vector<BlobId>{split.outputs[0], by_name(r.graph, "conv2").outputs[0]}));
}

}  // namespace
}  // namespace convergy

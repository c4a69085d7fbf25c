// Per-layer features against hand-computed values (docs/features.md formulas) on odd shapes, plus the
// network totals and the overflow checks.
#include "features/features.h"
#include "graph/passes.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace convergy {
namespace {

using ::testing::HasSubstr;

ConvParams conv(int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0, int64_t groups = 1,
                bool bias = true) {
  ConvParams p;
  p.num_output = out;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
  p.groups = groups;
  p.bias = bias;
  return p;
}

// Features of one layer applied to fresh inputs of the given shapes.
LayerFeatures features_of(LayerKind kind, LayerParams params, const std::vector<Shape>& inputs) {
  Graph g("t");
  std::vector<BlobId> in;
  for (size_t i = 0; i < inputs.size(); ++i) in.push_back(g.add_input("in" + std::to_string(i), inputs[i]));
  LayerId id = g.add_layer("probe", kind, std::move(params), in, {"out"});
  return layer_features(g, id);
}

TEST(Features, ConvolutionOddShape) {
  // 1x3x13x11 -> 7 filters 3x3, stride 2, pad 1 -> 1x7x7x6
  LayerFeatures f = features_of(LayerKind::Convolution, conv(7, 3, 2, 1), {{1, 3, 13, 11}});
  EXPECT_EQ(f.name, "probe");
  EXPECT_EQ(f.cls, LayerClass::Conv);
  EXPECT_EQ(f.macs, 1u * 7 * 7 * 6 * 3 * 3 * 3);  // N*out_c*out_h*out_w*(in_c/groups)*kh*kw = 7938
  EXPECT_EQ(f.flops(), 2 * f.macs);
  EXPECT_EQ(f.params, 7u * 3 * 3 * 3 + 7);
  EXPECT_EQ(f.weight_elems, f.params);
  EXPECT_EQ(f.weight_bytes, 4 * f.weight_elems);
  EXPECT_EQ(f.in_elems, 3u * 13 * 11);
  EXPECT_EQ(f.in_bytes, 4u * 3 * 13 * 11);
  EXPECT_EQ(f.out_elems, 7u * 7 * 6);
  EXPECT_EQ(f.out_bytes, 4u * 7 * 7 * 6);
  EXPECT_EQ(f.ops, f.out_elems) << "one bias add per output";
  EXPECT_EQ(f.batch, 1);
  EXPECT_EQ(f.in_c, 3);
  EXPECT_EQ(f.in_h, 13);
  EXPECT_EQ(f.in_w, 11);
  EXPECT_EQ(f.out_c, 7);
  EXPECT_EQ(f.out_h, 7);
  EXPECT_EQ(f.out_w, 6);
  EXPECT_EQ(f.kernel_h, 3);
  EXPECT_EQ(f.kernel_w, 3);
  EXPECT_EQ(f.stride_h, 2);
  EXPECT_EQ(f.stride_w, 2);
  EXPECT_EQ(f.pad_h, 2);
  EXPECT_EQ(f.pad_w, 2);
  EXPECT_EQ(f.groups, 1);
  EXPECT_FALSE(f.depthwise);
}

TEST(Features, ConvolutionBatchAndNoBias) {
  LayerFeatures f = features_of(LayerKind::Convolution, conv(5, 1, 1, 0, 1, false), {{3, 4, 9, 7}});
  EXPECT_EQ(f.macs, 3u * 5 * 9 * 7 * 4);
  EXPECT_EQ(f.ops, 0u);
  EXPECT_EQ(f.params, 20u);
  EXPECT_EQ(f.batch, 3);
}

TEST(Features, AsymmetricPaddingSumsBothSides) {
  ConvParams p = conv(2, 3);
  p.pad_top = 1;
  p.pad_right = 2;
  LayerFeatures f = features_of(LayerKind::Convolution, p, {{1, 1, 9, 9}});
  EXPECT_EQ(f.pad_h, 1);
  EXPECT_EQ(f.pad_w, 2);
  EXPECT_EQ(f.out_h, 8);  // 9 + 1 - 3 + 1
  EXPECT_EQ(f.out_w, 9);  // 9 + 2 - 3 + 1
  EXPECT_EQ(f.macs, 2u * 8 * 9 * 9);
}

TEST(Features, GroupedAndDepthwise) {
  LayerFeatures grouped = features_of(LayerKind::Convolution, conv(9, 3, 1, 1, 3), {{1, 6, 7, 7}});
  EXPECT_EQ(grouped.macs, 9u * 7 * 7 * 2 * 9);
  EXPECT_EQ(grouped.params, 9u * 2 * 9 + 9);
  EXPECT_EQ(grouped.groups, 3);
  EXPECT_FALSE(grouped.depthwise);

  LayerFeatures dw = features_of(LayerKind::Convolution, conv(32, 3, 2, 1, 32), {{1, 32, 113, 113}});
  EXPECT_TRUE(dw.depthwise);
  EXPECT_EQ(dw.macs, 32u * 57 * 57 * 9);
  EXPECT_EQ(dw.params, 32u * 9 + 32);

  // Depth multiplier 2 is still depthwise: groups == in_c.
  LayerFeatures dw2 = features_of(LayerKind::Convolution, conv(64, 3, 1, 1, 32), {{1, 32, 5, 5}});
  EXPECT_TRUE(dw2.depthwise);
  EXPECT_EQ(dw2.macs, 64u * 25 * 9);

  // A single-channel convolution is not depthwise (groups must be > 1).
  EXPECT_FALSE(features_of(LayerKind::Convolution, conv(4, 3), {{1, 1, 5, 5}}).depthwise);
}

TEST(Features, InnerProduct) {
  LayerFeatures f = features_of(LayerKind::InnerProduct, InnerProductParams{10, true, 1}, {{2, 256, 3, 3}});
  EXPECT_EQ(f.cls, LayerClass::FC);
  EXPECT_EQ(f.macs, 2u * 2304 * 10);  // N * in * out, no bias MACs
  EXPECT_EQ(f.params, 2304u * 10 + 10);
  EXPECT_EQ(f.ops, 20u);  // bias adds
  EXPECT_EQ(f.out_c, 10);
  EXPECT_EQ(f.out_h, 1);
  EXPECT_EQ(f.kernel_h, 0) << "kernel/stride/padding only for Convolution and Pooling";
  EXPECT_EQ(f.groups, 0);

  LayerFeatures a2 = features_of(LayerKind::InnerProduct, InnerProductParams{7, false, 2}, {{2, 3, 4, 5}});
  EXPECT_EQ(a2.macs, 6u * 20 * 7);
  EXPECT_EQ(a2.ops, 0u);
}

TEST(Features, Pooling) {
  PoolParams p;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 2;
  p.pad_top = p.pad_bottom = 1;
  LayerFeatures f = features_of(LayerKind::Pooling, p, {{1, 4, 13, 13}});  // ceil: 7x6
  EXPECT_EQ(f.cls, LayerClass::Pool);
  EXPECT_EQ(f.macs, 0u);
  EXPECT_EQ(f.out_h, 7);
  EXPECT_EQ(f.out_w, 6);
  EXPECT_EQ(f.ops, 4u * 7 * 6 * 9);  // kernel_h * kernel_w per output
  EXPECT_EQ(f.kernel_h, 3);
  EXPECT_EQ(f.stride_w, 2);
  EXPECT_EQ(f.pad_h, 2);
  EXPECT_EQ(f.pad_w, 0);
  EXPECT_EQ(f.params, 0u);

  PoolParams gp;
  gp.global = true;
  LayerFeatures g = features_of(LayerKind::Pooling, gp, {{2, 5, 7, 3}});
  EXPECT_EQ(g.ops, 2u * 5 * 7 * 3);  // every input element once
  EXPECT_EQ(g.kernel_h, 7);
  EXPECT_EQ(g.kernel_w, 3);
  EXPECT_EQ(g.stride_h, 1);
}

TEST(Features, ElementwiseOps) {
  const Shape x{1, 5, 7, 9};
  const uint64_t n = 315;
  for (LayerKind k :
       {LayerKind::ReLU, LayerKind::Sigmoid, LayerKind::TanH, LayerKind::Swish, LayerKind::HardSwish}) {
    LayerFeatures f = features_of(k, NoParams{}, {x});
    EXPECT_EQ(f.ops, n) << layer_kind_name(k);
    EXPECT_EQ(f.macs, 0u);
    EXPECT_EQ(f.cls, LayerClass::Other);
  }
  EXPECT_EQ(features_of(LayerKind::Clip, ClipParams{}, {x}).ops, n);
  LayerFeatures prelu = features_of(LayerKind::PReLU, PReLUParams{}, {x});
  EXPECT_EQ(prelu.ops, n);
  EXPECT_EQ(prelu.params, 5u);
  EXPECT_EQ(features_of(LayerKind::Scale, ScaleParams{1, true}, {x}).params, 10u);
  EXPECT_EQ(features_of(LayerKind::Scale, ScaleParams{1, true}, {x}).ops, n);
  EXPECT_EQ(features_of(LayerKind::Softmax, SoftmaxParams{1}, {x}).ops, 3 * n);
  EXPECT_EQ(features_of(LayerKind::LRN, LRNParams{}, {x}).ops, n * (5 + 3));
  LRNParams within;
  within.across_channels = false;
  within.local_size = 3;
  EXPECT_EQ(features_of(LayerKind::LRN, within, {x}).ops, n * (9 + 3));
}

TEST(Features, BatchNormParamsExcludeStatistics) {
  LayerFeatures caffe = features_of(LayerKind::BatchNorm, BatchNormParams{1e-5f, false}, {{1, 13, 3, 3}});
  EXPECT_EQ(caffe.params, 0u);
  EXPECT_EQ(caffe.weight_elems, 26u);
  EXPECT_EQ(caffe.weight_bytes, 104u);
  EXPECT_EQ(caffe.ops, 117u);
  LayerFeatures affine = features_of(LayerKind::BatchNorm, BatchNormParams{1e-5f, true}, {{1, 13, 3, 3}});
  EXPECT_EQ(affine.params, 26u);
  EXPECT_EQ(affine.weight_elems, 52u);
}

TEST(Features, EltwiseCountsEveryInput) {
  LayerFeatures sum =
      features_of(LayerKind::Eltwise, EltwiseParams{}, {{1, 3, 5, 5}, {1, 3, 5, 5}, {1, 3, 5, 5}});
  EXPECT_EQ(sum.ops, 3u * 75);
  EXPECT_EQ(sum.in_elems, 3u * 75);
  EXPECT_EQ(sum.in_bytes, 4u * 3 * 75);
  // Squeeze-and-excitation scaling broadcasts 1x16x1x1 over 1x16x7x9.
  LayerFeatures se =
      features_of(LayerKind::Eltwise, EltwiseParams{EltwiseOp::Prod, {}}, {{1, 16, 7, 9}, {1, 16, 1, 1}});
  EXPECT_EQ(se.ops, 2u * 1008);
  EXPECT_EQ(se.in_elems, 1008u + 16);
  EXPECT_EQ(se.out_elems, 1008u);
}

TEST(Features, DataMovementHasNoOps) {
  const Shape x{1, 6, 5, 5};
  EXPECT_EQ(features_of(LayerKind::Concat, ConcatParams{1}, {x, x}).ops, 0u);
  EXPECT_EQ(features_of(LayerKind::Concat, ConcatParams{1}, {x, x}).out_bytes, 4u * 300);
  EXPECT_EQ(features_of(LayerKind::Flatten, FlattenParams{}, {x}).ops, 0u);
  EXPECT_EQ(features_of(LayerKind::Reshape, ReshapeParams{{0, -1}}, {x}).ops, 0u);
  EXPECT_EQ(features_of(LayerKind::Dropout, DropoutParams{}, {x}).ops, 0u);
  EXPECT_EQ(features_of(LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {x}).ops, 0u);
  EXPECT_EQ(features_of(LayerKind::Permute, PermuteParams{{0, 2, 3, 1}}, {x}).ops, 0u);
  LayerFeatures pad =
      features_of(LayerKind::Pad, PadParams{{0, 0, 1, 1}, {0, 0, 1, 1}, PadMode::Constant, 0}, {x});
  EXPECT_EQ(pad.ops, 0u);
  EXPECT_EQ(pad.out_elems, 6u * 49);
}

TEST(Features, SeveralOutputsAreSummed) {
  Graph g;
  BlobId x = g.add_input("data", {1, 6, 5, 5});
  LayerId s = g.add_layer("slice", LayerKind::Slice, SliceParams{1, {{0, 2}, {2, 6}}}, {x}, {"a", "b"});
  LayerFeatures f = layer_features(g, s);
  EXPECT_EQ(f.out_elems, 150u);
  EXPECT_EQ(f.out_c, 2) << "hyper-parameters describe the first output";
}

TEST(Features, InputLayerAndHalfPrecisionBytes) {
  Graph g;
  BlobId x = g.add_input("data", {2, 3, 5, 5}, DataType::F16);
  LayerFeatures in = layer_features(g, g.blob(x).producer);
  EXPECT_EQ(in.cls, LayerClass::None);
  EXPECT_EQ(in.out_elems, 150u);
  EXPECT_EQ(in.out_bytes, 300u);
  EXPECT_EQ(in.in_elems, 0u);
  EXPECT_EQ(in.batch, 2);
  EXPECT_EQ(in.out_c, 3);
}

TEST(Features, FusedActivationOpsGoToTheProducer) {
  Graph g;
  BlobId x = g.add_input("data", {1, 3, 7, 7});
  LayerId c = g.add_layer("conv", LayerKind::Convolution, conv(4, 3, 1, 1, 1, false), {x}, {"conv"});
  g.add_layer("relu", LayerKind::ReLU, NoParams{}, {g.layer(c).outputs[0]}, {"conv"});
  NetworkFeatures before = network_features(g);
  PassResult r = run_passes(g);
  ASSERT_EQ(r.graph.num_layers(), 2);
  NetworkFeatures after = network_features(r.graph);
  ASSERT_EQ(after.layers.size(), 1u);
  EXPECT_EQ(after.layers[0].ops, 196u);  // no bias, one op per output for the fused ReLU
  EXPECT_EQ(after.ops, before.ops);
  EXPECT_EQ(after.macs, before.macs);
}

// exp_elems: elements through an exponential activation or a Softmax, standalone or fused into its producer;
// the piecewise-linear activations have none.
TEST(Features, ExponentialActivationElements) {
  const Shape x{1, 5, 7, 9};
  const uint64_t n = 315;
  for (LayerKind k : {LayerKind::Sigmoid, LayerKind::TanH, LayerKind::Swish, LayerKind::GELU})
    EXPECT_EQ(features_of(k, NoParams{}, {x}).exp_elems, n) << layer_kind_name(k);
  for (LayerKind k : {LayerKind::ReLU, LayerKind::HardSwish, LayerKind::HardSigmoid})
    EXPECT_EQ(features_of(k, NoParams{}, {x}).exp_elems, 0u) << layer_kind_name(k);
  EXPECT_EQ(features_of(LayerKind::Softmax, SoftmaxParams{1}, {x}).exp_elems, n)
      << "one exponential per element";
  EXPECT_EQ(features_of(LayerKind::Clip, ClipParams{}, {x}).exp_elems, 0u);

  for (LayerKind act : {LayerKind::Swish, LayerKind::ReLU}) {
    Graph g;
    BlobId in = g.add_input("data", {1, 3, 7, 7});
    LayerId c = g.add_layer("conv", LayerKind::Convolution, conv(4, 3, 1, 1, 1, false), {in}, {"conv"});
    g.add_layer("act", act, NoParams{}, {g.layer(c).outputs[0]}, {"conv"});
    PassResult r = run_passes(g);
    ASSERT_EQ(r.graph.num_layers(), 2) << "the activation is fused into the convolution";
    const NetworkFeatures f = network_features(r.graph);
    EXPECT_EQ(f.layers[0].exp_elems, act == LayerKind::Swish ? 196u : 0u) << layer_kind_name(act);
    EXPECT_EQ(*f.layers[0].get("exp_elems"), act == LayerKind::Swish ? 196.0 : 0.0);
  }
}

// LayerNorm: 4 ops per element with its scale and shift (mean, variance, normalise, scale-and-shift), 3
// without; its scale and shift are parameters of the normalised shape.
TEST(Features, LayerNormOpsAndParams) {
  const Shape x{1, 7, 7, 96};
  const LayerFeatures affine = features_of(LayerKind::LayerNorm, LayerNormParams{-1, 1e-6f, true}, {x});
  EXPECT_EQ(affine.ops, 4u * 4704u);
  EXPECT_EQ(affine.params, 192u);
  EXPECT_EQ(affine.macs, 0u);
  const LayerFeatures plain = features_of(LayerKind::LayerNorm, LayerNormParams{1, 1e-6f, false}, {x});
  EXPECT_EQ(plain.ops, 3u * 4704u);
  EXPECT_EQ(plain.params, 0u);
}

// MatMul of two activations: a MAC per output element and step of the shared axis, both operands read as
// inputs, no weights; the FC class (a matrix product). Constant: its stored value is a parameter, not work.
TEST(Features, MatMulAndConstant) {
  const LayerFeatures m = features_of(LayerKind::MatMul, NoParams{}, {{12, 50, 64}, {12, 64, 50}});
  EXPECT_EQ(m.macs, 12u * 50u * 50u * 64u);
  EXPECT_EQ(m.in_bytes, 4u * 2u * 12u * 50u * 64u);
  EXPECT_EQ(m.out_elems, 12u * 50u * 50u);
  EXPECT_EQ(m.weight_bytes, 0u);
  EXPECT_EQ(m.params, 0u);
  EXPECT_EQ(m.ops, 0u);
  EXPECT_EQ(m.cls, LayerClass::FC);
  const LayerFeatures broadcast = features_of(LayerKind::MatMul, NoParams{}, {{7, 3}, {6, 3, 4}});
  EXPECT_EQ(broadcast.macs, 6u * 7u * 4u * 3u) << "A is reused by each of B's 6 matrices";

  Graph g;
  g.add_layer("token", LayerKind::Constant, ConstantParams{Shape{8, 1, 768}, Shape{1, 1, 768}}, {},
              {"token"});
  const LayerFeatures c = network_features(g).layers.at(0);
  EXPECT_EQ(c.params, 768u) << "a token expanded to a batch of 8 is one parameter tensor";
  EXPECT_EQ(c.weight_bytes, 4u * 768u);
  EXPECT_EQ(c.macs, 0u);
  EXPECT_EQ(c.ops, 0u);
  EXPECT_EQ(c.cls, LayerClass::None);
}

TEST(Features, NetworkTotals) {
  Graph g;
  BlobId x = g.add_input("data", {1, 3, 9, 9});
  LayerId c = g.add_layer("conv", LayerKind::Convolution, conv(4, 3), {x}, {"conv"});
  LayerId b = g.add_layer("bn", LayerKind::BatchNorm, BatchNormParams{}, {g.layer(c).outputs[0]}, {"conv"});
  LayerId f = g.add_layer("fc", LayerKind::InnerProduct, InnerProductParams{10, true, 1},
                          {g.layer(b).outputs[0]}, {"fc"});
  g.add_layer("prob", LayerKind::Softmax, SoftmaxParams{1}, {g.layer(f).outputs[0]}, {"prob"});
  NetworkFeatures n = network_features(g);
  ASSERT_EQ(n.layers.size(), 4u) << "Input is not a layer of the network features";
  EXPECT_EQ(n.layers[0].name, "conv");
  const uint64_t conv_macs = 4u * 49 * 27, fc_macs = 196u * 10;
  EXPECT_EQ(n.macs, conv_macs + fc_macs);
  EXPECT_EQ(n.params, (4u * 27 + 4) + (1960u + 10));
  EXPECT_EQ(n.ops, 196u + 196 + 10 + 30);
  EXPECT_EQ(n.weight_bytes, 4u * ((4 * 27 + 4) + 8 + 1970));
}

TEST(Features, GetByName) {
  LayerFeatures f = features_of(LayerKind::Convolution, conv(7, 3, 2, 1, 1), {{1, 3, 13, 11}});
  std::set<std::string> unique;
  for (const auto& name : feature_names()) {
    EXPECT_TRUE(f.get(name).has_value()) << name;
    EXPECT_TRUE(unique.insert(name).second) << "duplicate " << name;
  }
  EXPECT_EQ(f.get("1"), 1.0);
  EXPECT_EQ(f.get("macs"), static_cast<double>(f.macs));
  EXPECT_EQ(f.get("flops"), 2.0 * static_cast<double>(f.macs));
  EXPECT_EQ(f.get("in_bytes"), static_cast<double>(f.in_bytes));
  EXPECT_EQ(f.get("out_elems"), static_cast<double>(f.out_elems));
  EXPECT_EQ(f.get("kernel_w"), 3.0);
  EXPECT_EQ(f.get("pad_h"), 2.0);
  EXPECT_EQ(f.get("depthwise"), 0.0);
  EXPECT_EQ(f.get("no_such_feature"), std::nullopt);
  EXPECT_EQ(f.get("MACS"), std::nullopt) << "names are exact";
}

// get(index) reads feature_names()[index]: every field set to a value of its own, so a switch case out of
// step with the names reads the wrong one.
TEST(Features, GetByIndexReadsTheNamedField) {
  LayerFeatures f;
  f.depthwise = true;
  f.macs = 2;
  f.ops = 3;
  f.params = 26;
  f.weight_elems = 5;
  f.in_elems = 6;
  f.out_elems = 7;
  f.in_bytes = 8;
  f.out_bytes = 9;
  f.weight_bytes = 10;
  f.batch = 11;
  f.in_c = 12;
  f.in_h = 13;
  f.in_w = 14;
  f.out_c = 15;
  f.out_h = 16;
  f.out_w = 17;
  f.kernel_h = 18;
  f.kernel_w = 19;
  f.stride_h = 20;
  f.stride_w = 21;
  f.pad_h = 22;
  f.pad_w = 23;
  f.groups = 24;
  f.exp_elems = 27;
  const std::vector<double> want = {1,  2,  4,  3,  26, 5,  6,  7,  8,  9,  10, 11, 12, 13,
                                    14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 1,  27};
  ASSERT_EQ(feature_names().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(f.get(i), want[i]) << feature_names()[i];
    EXPECT_EQ(feature_index(feature_names()[i]), i) << feature_names()[i];
    EXPECT_EQ(f.get(feature_names()[i]), want[i]) << feature_names()[i];
  }
  EXPECT_EQ(feature_index("no_such_feature"), std::nullopt);
}

// A 1x1x65536x65536 input convolved with one 65536x65536 kernel and nearly as much padding: every shape is
// within the limits, but the MAC count is about 2^66.
TEST(Features, LayerMacOverflowNamesTheLayer) {
  Graph g("huge");
  BlobId x = g.add_input("data", {1, 1, 65536, 65536});
  ConvParams p = conv(1, 65536, 1, 65535, 1, false);
  LayerId id = g.add_layer("big", LayerKind::Convolution, p, {x}, {"big"}, "huge.prototxt:12:3");
  try {
    layer_features(g, id);
    ADD_FAILURE() << "overflow not detected";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_STREQ(
        e.what(),
        "huge.prototxt:12:3: layer \"big\" (Convolution): MAC count overflows 64 bits, expected a network "
        "of realistic size");
  }
}

// Eleven layers of about 1.8e18 MACs each fit one by one, but not summed.
TEST(Features, NetworkTotalOverflow) {
  Graph g("sum_of_big");
  g.set_source("big.prototxt");
  BlobId x = g.add_input("data", {1, 1, 65536, 65536});
  for (int i = 0; i < 11; ++i)
    g.add_layer("c" + std::to_string(i), LayerKind::Convolution, conv(1, 16384, 1, 16383, 1, false), {x},
                {"c" + std::to_string(i)});
  EXPECT_NO_THROW(layer_features(g, 1));
  try {
    network_features(g);
    ADD_FAILURE() << "overflow not detected";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_THAT(e.what(),
                HasSubstr("big.prototxt: network \"sum_of_big\": total MAC count overflows 64 bits"));
  }
}

}  // namespace
}  // namespace convergy

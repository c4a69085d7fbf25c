// Shape inference of every LayerKind, checked by hand-computed shapes on odd sizes (ceil/floor rounding,
// asymmetric padding, groups, dilation, broadcasting) and by rejections whose messages name the layer.
#include "graph/graph.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace convergy {
namespace {

using ::testing::HasSubstr;

// Builds a graph with one input and one layer under test; returns the shapes the layer produced.
struct OneLayer {
  Graph g{"t"};
  LayerId id = -1;

  std::vector<Shape> run(LayerKind kind, LayerParams params, const std::vector<Shape>& inputs,
                         int n_outputs = 1) {
    std::vector<BlobId> in;
    for (size_t i = 0; i < inputs.size(); ++i) in.push_back(g.add_input("in" + std::to_string(i), inputs[i]));
    std::vector<std::string> names;
    for (int i = 0; i < n_outputs; ++i) names.push_back("out" + std::to_string(i));
    id = g.add_layer("probe", kind, std::move(params), in, names, "net.prototxt:7:3");
    std::vector<Shape> out;
    for (BlobId b : g.layer(id).outputs) out.push_back(g.blob(b).shape);
    return out;
  }
  const std::vector<WeightSpec>& weights() const { return g.layer(id).weights; }
};

Shape out1(LayerKind kind, LayerParams params, const std::vector<Shape>& inputs) {
  OneLayer t;
  auto out = t.run(kind, std::move(params), inputs);
  EXPECT_EQ(out.size(), 1u);
  return out.at(0);
}

// Runs the layer and expects a BadInput whose message starts with the origin and the layer, and says `what`.
void expect_rejected(LayerKind kind, LayerParams params, const std::vector<Shape>& inputs,
                     const std::string& what, int n_outputs = 1) {
  OneLayer t;
  try {
    t.run(kind, std::move(params), inputs, n_outputs);
    ADD_FAILURE() << "layer " << layer_kind_name(kind) << " was accepted, expected: " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    const std::string prefix =
        "net.prototxt:7:3: layer \"probe\" (" + std::string(layer_kind_name(kind)) + "): ";
    EXPECT_THAT(e.what(), ::testing::StartsWith(prefix));
    EXPECT_THAT(e.what(), HasSubstr(what));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "messages are one line";
  }
}

ConvParams conv(int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0) {
  ConvParams p;
  p.num_output = out;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
  return p;
}

PoolParams pool(int64_t k, int64_t stride, int64_t pad, PoolRounding rounding) {
  PoolParams p;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
  p.rounding = rounding;
  return p;
}

// ---- One accepted case per kind, data-driven; a new LayerKind without a row fails AllKindsCovered. ----

struct KindCase {
  LayerKind kind;
  LayerParams params;
  std::vector<Shape> inputs;
  std::vector<Shape> expected;
};

std::vector<KindCase> kind_cases() {
  const Shape x{1, 5, 13, 11};
  std::vector<KindCase> c;
  c.push_back({LayerKind::Convolution, conv(7, 3, 2, 1), {x}, {{1, 7, 7, 6}}});
  c.push_back({LayerKind::InnerProduct, InnerProductParams{10, true, 1}, {x}, {{1, 10}}});
  c.push_back({LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Ceil), {x}, {{1, 5, 6, 5}}});
  c.push_back({LayerKind::ReLU, NoParams{}, {x}, {x}});
  c.push_back({LayerKind::LeakyReLU, LeakyReLUParams{0.1f}, {x}, {x}});
  c.push_back({LayerKind::Clip, ClipParams{0.0f, 6.0f}, {x}, {x}});
  c.push_back({LayerKind::PReLU, PReLUParams{false}, {x}, {x}});
  c.push_back({LayerKind::Sigmoid, NoParams{}, {x}, {x}});
  c.push_back({LayerKind::TanH, NoParams{}, {x}, {x}});
  c.push_back({LayerKind::Swish, NoParams{}, {x}, {x}});
  c.push_back({LayerKind::HardSwish, NoParams{}, {x}, {x}});
  c.push_back({LayerKind::HardSigmoid, HardSigmoidParams{}, {x}, {x}});
  c.push_back({LayerKind::Power, PowerParams{2.0f, 0.5f, 1.0f}, {x}, {x}});
  c.push_back({LayerKind::GELU, NoParams{}, {x}, {x}});
  c.push_back({LayerKind::LayerNorm, LayerNormParams{-1, 1e-6f, true}, {x}, {x}});
  c.push_back({LayerKind::BatchNorm, BatchNormParams{}, {x}, {x}});
  c.push_back({LayerKind::Scale, ScaleParams{1, true}, {x}, {x}});
  c.push_back({LayerKind::LRN, LRNParams{}, {x}, {x}});
  c.push_back({LayerKind::Concat, ConcatParams{1}, {x, {1, 2, 13, 11}}, {{1, 7, 13, 11}}});
  c.push_back({LayerKind::Eltwise, EltwiseParams{}, {x, x}, {x}});
  c.push_back({LayerKind::Softmax, SoftmaxParams{1}, {x}, {x}});
  c.push_back({LayerKind::Dropout, DropoutParams{0.5f}, {x}, {x}});
  c.push_back({LayerKind::Flatten, FlattenParams{1, -1}, {x}, {{1, 715}}});
  c.push_back({LayerKind::Reshape, ReshapeParams{{0, -1}}, {x}, {{1, 715}}});
  c.push_back({LayerKind::Split, NoParams{}, {x}, {x}});
  c.push_back({LayerKind::Slice, SliceParams{1, {{1, 4}}}, {x}, {{1, 3, 13, 11}}});
  c.push_back({LayerKind::ChannelShuffle, ChannelShuffleParams{5}, {x}, {x}});
  c.push_back({LayerKind::Permute, PermuteParams{{0, 2, 3, 1}}, {x}, {{1, 13, 11, 5}}});
  c.push_back({LayerKind::Pad,
               PadParams{{0, 0, 1, 2}, {0, 0, 3, 0}, PadMode::Constant, 0.0f},
               {x},
               {{1, 5, 17, 13}}});
  c.push_back({LayerKind::Deconvolution, conv(7, 3, 2, 1), {x}, {{1, 7, 25, 21}}});  // (13-1)*2+3-2
  c.push_back({LayerKind::Crop, CropParams{2, {1}}, {x, {1, 5, 10, 9}}, {{1, 5, 10, 9}}});
  c.push_back({LayerKind::ArgMax, ArgMaxParams{1, false, 1}, {x}, {{1, 1, 13, 11}}});
  c.push_back({LayerKind::Resize, ResizeParams{26, 22, ResizeMode::Nearest}, {x}, {{1, 5, 26, 22}}});
  c.push_back({LayerKind::Axpy, NoParams{}, {{1, 5, 1, 1}, x, x}, {x}});
  c.push_back({LayerKind::Normalize, NormalizeParams{}, {x}, {x}});
  c.push_back({LayerKind::PriorBox, PriorBoxParams{2}, {x}, {{1, 2, 13 * 11 * 2 * 4}}});
  c.push_back({LayerKind::DetectionOutput, DetectionOutputParams{3, 10, 0}, {{1, 40}, {1, 30}, {1, 2, 40}},
               {{1, 1, 10, 7}}});
  c.push_back({LayerKind::ROIPooling, ROIPoolingParams{2, 2, 0, 1.0f}, {x, {4, 5}}, {{4, 5, 2, 2}}});
  c.push_back({LayerKind::Opaque, OpaqueParams{"test"}, {x}, {x}});
  c.push_back({LayerKind::MatMul, NoParams{}, {{2, 1, 7, 3}, {5, 3, 4}}, {{2, 5, 7, 4}}});
  c.push_back({LayerKind::Constant, ConstantParams{Shape{3, 1, 8}, Shape{1, 8}}, {}, {{3, 1, 8}}});
  return c;
}

TEST(ShapeInference, EveryKindOnOddSizes) {
  for (const auto& c : kind_cases()) {
    SCOPED_TRACE(std::string(layer_kind_name(c.kind)));
    OneLayer t;
    EXPECT_EQ(t.run(c.kind, c.params, c.inputs, static_cast<int>(c.expected.size())), c.expected);
  }
}

TEST(ShapeInference, AllKindsCovered) {
  std::set<LayerKind> seen{LayerKind::Input};  // Input is covered by its own tests below
  for (const auto& c : kind_cases()) seen.insert(c.kind);
  for (int k = 0; k < kLayerKindCount; ++k)
    EXPECT_TRUE(seen.count(static_cast<LayerKind>(k)))
        << "no shape case for " << layer_kind_name(static_cast<LayerKind>(k));
}

TEST(ShapeInference, LayerNormWeightsHaveTheNormalisedShape) {
  OneLayer t;
  t.run(LayerKind::LayerNorm, LayerNormParams{2, 1e-5f, true}, {{1, 5, 13, 11}});
  ASSERT_EQ(t.weights().size(), 2u);
  EXPECT_EQ(t.weights()[0].role, "scale");
  EXPECT_EQ(t.weights()[0].shape, (Shape{13, 11}));
  EXPECT_EQ(t.weights()[1].shape, (Shape{13, 11}));
  OneLayer plain;
  plain.run(LayerKind::LayerNorm, LayerNormParams{-1, 1e-5f, false}, {{2, 7}});
  EXPECT_TRUE(plain.weights().empty());
  expect_rejected(LayerKind::LayerNorm, LayerNormParams{4, 1e-5f, true}, {{1, 5, 13, 11}}, "axis");
  expect_rejected(LayerKind::LayerNorm, LayerNormParams{-1, -1.0f, true}, {{1, 5}}, "epsilon");
}

TEST(ShapeInference, MatMulBroadcastsBatchAxesAndChecksTheInnerSize) {
  // Attention's scores: heads x tokens x head size times heads x head size x tokens.
  EXPECT_EQ(out1(LayerKind::MatMul, NoParams{}, {{12, 50, 64}, {12, 64, 50}}), (Shape{12, 50, 50}));
  EXPECT_EQ(out1(LayerKind::MatMul, NoParams{}, {{7, 3}, {3, 4}}), (Shape{7, 4}));
  EXPECT_EQ(out1(LayerKind::MatMul, NoParams{}, {{7, 3}, {6, 3, 4}}), (Shape{6, 7, 4}));  // A broadcast
  OneLayer t;
  t.run(LayerKind::MatMul, NoParams{}, {{2, 7, 3}, {2, 3, 4}});
  EXPECT_TRUE(t.weights().empty()) << "both operands are activations";
  expect_rejected(LayerKind::MatMul, NoParams{}, {{2, 7, 3}, {2, 4, 4}}, "3 columns against 4 rows");
  expect_rejected(LayerKind::MatMul, NoParams{}, {{2, 7, 3}, {5, 3, 4}},
                  "batch axes 2 and 5 do not broadcast");
  expect_rejected(LayerKind::MatMul, NoParams{}, {{3}, {3, 4}}, "expected rank 2 or more");
  expect_rejected(LayerKind::MatMul, NoParams{}, {{2, 3}}, "got 1 inputs, expected 2");
}

TEST(ShapeInference, ConstantStoresItsValueShape) {
  OneLayer t;
  EXPECT_EQ(t.run(LayerKind::Constant, ConstantParams{Shape{4, 1, 768}, Shape{1, 1, 768}}, {}),
            (std::vector<Shape>{{4, 1, 768}}));
  ASSERT_EQ(t.weights().size(), 1u);
  EXPECT_EQ(t.weights()[0].role, "value");
  EXPECT_EQ(t.weights()[0].shape, (Shape{1, 1, 768})) << "a class token expanded to the batch is stored once";
  EXPECT_TRUE(t.weights()[0].learnable);
  OneLayer same;
  same.run(LayerKind::Constant, ConstantParams{Shape{1, 50, 768}, Shape{}}, {});
  EXPECT_EQ(same.weights().at(0).shape, (Shape{1, 50, 768})) << "no value shape: the output's";
  expect_rejected(LayerKind::Constant, ConstantParams{Shape{4, 2}, Shape{3}}, {},
                  "does not broadcast to 4x2");
  expect_rejected(LayerKind::Constant, ConstantParams{Shape{4, 2}, Shape{4, 2}}, {{1}},
                  "got 1 inputs, expected 0");
}

TEST(ShapeInference, DeclarationTableIsConsistent) {
  for (int k = 0; k < kLayerKindCount; ++k) {
    auto kind = static_cast<LayerKind>(k);
    EXPECT_EQ(layer_type(kind).kind, kind);
    EXPECT_EQ(layer_kind_from_name(layer_kind_name(kind)), kind);
  }
  EXPECT_EQ(layer_kind_from_name("NoSuchLayer"), std::nullopt);
  EXPECT_EQ(layer_class_name(LayerClass::Conv), "conv");
  EXPECT_EQ(layer_class_name(LayerClass::Pool), "pool");
}

// ---- Input ----

TEST(ShapeInference, InputKeepsShapeAndType) {
  Graph g;
  BlobId b = g.add_input("data", {2, 3, 227, 227}, DataType::F16);
  EXPECT_EQ(g.blob(b).shape, (Shape{2, 3, 227, 227}));
  EXPECT_EQ(g.blob(b).dtype, DataType::F16);
  EXPECT_EQ(g.inputs(), std::vector<BlobId>{b});
}

TEST(ShapeInference, InputRejectsZeroDimension) {
  Graph g;
  try {
    g.add_input("data", {1, 0, 5, 5}, DataType::F32, "x.prototxt:2:1");
    ADD_FAILURE() << "accepted a zero dimension";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("x.prototxt:2:1: layer \"data\" (Input)"));
    EXPECT_THAT(e.what(), HasSubstr("input dimension 0, expected >= 1"));
  }
}

// ---- Convolution ----

TEST(ShapeInference, ConvolutionOddSizeStridePad) {
  // (13 + 2 - 3) / 2 + 1 = 7 ; (11 + 2 - 3) / 2 + 1 = 6
  EXPECT_EQ(out1(LayerKind::Convolution, conv(8, 3, 2, 1), {{1, 3, 13, 11}}), (Shape{1, 8, 7, 6}));
  // AlexNet conv1: (227 - 11) / 4 + 1 = 55
  EXPECT_EQ(out1(LayerKind::Convolution, conv(96, 11, 4, 0), {{1, 3, 227, 227}}), (Shape{1, 96, 55, 55}));
  // Floor of a non-integer quotient: (14 - 3) / 2 + 1 = 6
  EXPECT_EQ(out1(LayerKind::Convolution, conv(4, 3, 2, 0), {{2, 3, 14, 14}}), (Shape{2, 4, 6, 6}));
}

TEST(ShapeInference, ConvolutionAsymmetricPadding) {
  ConvParams p = conv(4, 3, 2, 0);
  p.pad_top = 0;
  p.pad_bottom = 1;  // (13 + 1 - 3) / 2 + 1 = 6
  p.pad_left = 2;
  p.pad_right = 0;  // (13 + 2 - 3) / 2 + 1 = 7
  EXPECT_EQ(out1(LayerKind::Convolution, p, {{1, 3, 13, 13}}), (Shape{1, 4, 6, 7}));
}

TEST(ShapeInference, ConvolutionSeparateKernelAndStride) {
  ConvParams p = conv(16, 1);
  p.kernel_h = 1;
  p.kernel_w = 7;
  p.pad_left = p.pad_right = 3;
  p.stride_h = 1;
  p.stride_w = 2;  // h: 17 ; w: (17 + 6 - 7) / 2 + 1 = 9
  OneLayer t;
  EXPECT_EQ(t.run(LayerKind::Convolution, p, {{1, 8, 17, 17}}).at(0), (Shape{1, 16, 17, 9}));
  ASSERT_EQ(t.weights().size(), 2u);
  EXPECT_EQ(t.weights()[0].shape, (Shape{16, 8, 1, 7}));
}

TEST(ShapeInference, ConvolutionDilation) {
  ConvParams p = conv(4, 3);
  p.dilation_h = 2;  // extent 5: 13 - 5 + 1 = 9
  p.dilation_w = 3;  // extent 7: 13 - 7 + 1 = 7
  EXPECT_EQ(out1(LayerKind::Convolution, p, {{1, 3, 13, 13}}), (Shape{1, 4, 9, 7}));
  p.stride_h = p.stride_w = 2;  // (13 - 5) / 2 + 1 = 5 ; (13 - 7) / 2 + 1 = 4
  EXPECT_EQ(out1(LayerKind::Convolution, p, {{1, 3, 13, 13}}), (Shape{1, 4, 5, 4}));
}

TEST(ShapeInference, ConvolutionGroupsWeightShape) {
  ConvParams p = conv(9, 3, 1, 1);
  p.groups = 3;
  p.bias = false;
  OneLayer t;
  EXPECT_EQ(t.run(LayerKind::Convolution, p, {{1, 6, 7, 7}}).at(0), (Shape{1, 9, 7, 7}));
  ASSERT_EQ(t.weights().size(), 1u) << "bias off: weight only";
  EXPECT_EQ(t.weights()[0].role, "weight");
  EXPECT_EQ(t.weights()[0].shape, (Shape{9, 2, 3, 3}));
  EXPECT_TRUE(t.weights()[0].learnable);
}

TEST(ShapeInference, ConvolutionDepthwise) {
  ConvParams p = conv(32, 3, 2, 1);
  p.groups = 32;
  OneLayer t;
  EXPECT_EQ(t.run(LayerKind::Convolution, p, {{1, 32, 113, 113}}).at(0), (Shape{1, 32, 57, 57}));
  ASSERT_EQ(t.weights().size(), 2u);
  EXPECT_EQ(t.weights()[0].shape, (Shape{32, 1, 3, 3}));
  EXPECT_EQ(t.weights()[1].shape, (Shape{32}));
}

TEST(ShapeInference, ConvolutionRejections) {
  ConvParams g3 = conv(6, 3);
  g3.groups = 3;
  expect_rejected(LayerKind::Convolution, g3, {{1, 64, 9, 9}},
                  "input has 64 channels, not divisible by group 3");
  ConvParams out_g = conv(7, 3);
  out_g.groups = 3;
  expect_rejected(LayerKind::Convolution, out_g, {{1, 6, 9, 9}}, "num_output 7 is not divisible by group 3");
  expect_rejected(LayerKind::Convolution, conv(4, 0), {{1, 3, 9, 9}}, "kernel_h 0, expected >= 1");
  expect_rejected(LayerKind::Convolution, conv(4, 3, 0), {{1, 3, 9, 9}}, "stride_h 0, expected >= 1");
  expect_rejected(LayerKind::Convolution, conv(0, 3), {{1, 3, 9, 9}}, "num_output 0, expected >= 1");
  expect_rejected(LayerKind::Convolution, conv(4, 11), {{1, 3, 9, 9}},
                  "kernel extent 11 is larger than the padded input 9 along height");
  expect_rejected(LayerKind::Convolution, conv(4, 3, 1, -1), {{1, 3, 9, 9}}, "pad_top -1, expected >= 0");
  expect_rejected(LayerKind::Convolution, conv(4, 3), {{1, 3, 9}}, "rank 3, expected NCHW (rank 4)");
  expect_rejected(LayerKind::Convolution, conv(4, 3), {{1, 3, 9, 9}, {1, 3, 9, 9}},
                  "got 2 inputs, expected 1");
}

TEST(ShapeInference, ExactMessageForGroupMismatch) {
  Graph g;
  BlobId x = g.add_input("data", {1, 64, 56, 56});
  ConvParams p = conv(64, 3, 1, 1);
  p.groups = 3;
  try {
    g.add_layer("conv2", LayerKind::Convolution, p, {x}, {"conv2"}, "resnet.prototxt:41:7");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "resnet.prototxt:41:7: layer \"conv2\" (Convolution): input has 64 channels, not "
                 "divisible by group 3");
  }
}

// ---- InnerProduct ----

TEST(ShapeInference, InnerProductFlattensFromAxis) {
  OneLayer t;
  EXPECT_EQ(t.run(LayerKind::InnerProduct, InnerProductParams{4096, true, 1}, {{1, 256, 6, 6}}).at(0),
            (Shape{1, 4096}));
  ASSERT_EQ(t.weights().size(), 2u);
  EXPECT_EQ(t.weights()[0].shape, (Shape{4096, 9216}));
  EXPECT_EQ(t.weights()[1].shape, (Shape{4096}));

  OneLayer a2;
  EXPECT_EQ(a2.run(LayerKind::InnerProduct, InnerProductParams{7, false, 2}, {{2, 3, 4, 5}}).at(0),
            (Shape{2, 3, 7}));
  ASSERT_EQ(a2.weights().size(), 1u);
  EXPECT_EQ(a2.weights()[0].shape, (Shape{7, 20}));
  EXPECT_EQ(out1(LayerKind::InnerProduct, InnerProductParams{3, true, -1}, {{2, 9}}), (Shape{2, 3}));
}

TEST(ShapeInference, InnerProductRejections) {
  expect_rejected(LayerKind::InnerProduct, InnerProductParams{10, true, 4}, {{1, 3, 5, 5}},
                  "axis 4 is out of range for a rank-4 input");
  expect_rejected(LayerKind::InnerProduct, InnerProductParams{0, true, 1}, {{1, 3}},
                  "num_output 0, expected >= 1");
}

// ---- Pooling ----

TEST(ShapeInference, PoolingCeilAndFloorRounding) {
  // 14, kernel 3, stride 2: ceil((14 - 3) / 2) + 1 = 7 ; floor: 6
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Ceil), {{1, 4, 14, 14}}),
            (Shape{1, 4, 7, 7}));
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Floor), {{1, 4, 14, 14}}),
            (Shape{1, 4, 6, 6}));
  // Exact division agrees: 13 -> 6 both ways ; AlexNet pool1 55 -> 27
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Ceil), {{1, 4, 13, 13}}),
            (Shape{1, 4, 6, 6}));
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Floor), {{1, 4, 13, 13}}),
            (Shape{1, 4, 6, 6}));
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Ceil), {{1, 96, 55, 55}}),
            (Shape{1, 96, 27, 27}));
  // GoogLeNet pool after 112: ceil((112 - 3) / 2) + 1 = 56
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Ceil), {{1, 64, 112, 112}}),
            (Shape{1, 64, 56, 56}));
}

TEST(ShapeInference, PoolingCeilDropsWindowStartingInPadding) {
  // 5 + 2 pads, kernel 2, stride 2: ceil(5 / 2) + 1 = 4 windows, but the 4th starts at 6 >= 5 + 1 (in the
  // trailing padding), so Caffe and PyTorch keep 3.
  EXPECT_EQ(out1(LayerKind::Pooling, pool(2, 2, 1, PoolRounding::Ceil), {{1, 1, 5, 5}}), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(out1(LayerKind::Pooling, pool(2, 2, 1, PoolRounding::Floor), {{1, 1, 5, 5}}),
            (Shape{1, 1, 3, 3}));
  // 112 + 2 pads, kernel 3, stride 2: ceil gives 57 (the last window starts at 112 < 113, kept), while
  // PyTorch's floor gives 56; Caffe's ResNet-50 pool1 has no padding: ceil(109 / 2) + 1 = 56.
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 1, PoolRounding::Ceil), {{1, 64, 112, 112}}),
            (Shape{1, 64, 57, 57}));
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 1, PoolRounding::Floor), {{1, 64, 112, 112}}),
            (Shape{1, 64, 56, 56}));
  EXPECT_EQ(out1(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Ceil), {{1, 64, 112, 112}}),
            (Shape{1, 64, 56, 56}));
}

TEST(ShapeInference, PoolingAsymmetricPadding) {
  PoolParams p = pool(3, 2, 0, PoolRounding::Floor);
  p.pad_top = 1;    // (13 + 1 - 3) / 2 + 1 = 6
  p.pad_right = 2;  // (11 + 2 - 3) / 2 + 1 = 6
  EXPECT_EQ(out1(LayerKind::Pooling, p, {{1, 2, 13, 11}}), (Shape{1, 2, 6, 6}));
  p.rounding = PoolRounding::Ceil;  // ceil(11 / 2) + 1 = 7 ; ceil(10 / 2) + 1 = 6
  EXPECT_EQ(out1(LayerKind::Pooling, p, {{1, 2, 13, 11}}), (Shape{1, 2, 7, 6}));
}

TEST(ShapeInference, GlobalPooling) {
  PoolParams p;
  p.global = true;
  p.method = PoolMethod::Average;
  OneLayer t;
  EXPECT_EQ(t.run(LayerKind::Pooling, p, {{3, 1024, 7, 5}}).at(0), (Shape{3, 1024, 1, 1}));
  EXPECT_TRUE(t.weights().empty());
}

TEST(ShapeInference, CaffePoolingClipsAWindowLargerThanTheInput) {
  // Caffe (clip_window): ceil((padded - kernel) / stride) + 1 windows, so one window when the kernel exceeds
  // the padded input by less than the stride; ONNX-style pooling refuses the same kernel.
  PoolParams p = pool(3, 2, 0, PoolRounding::Ceil);
  p.clip_window = true;
  EXPECT_EQ(OneLayer().run(LayerKind::Pooling, p, {{1, 4, 2, 2}}).at(0), (Shape{1, 4, 1, 1}));
  PoolParams padded = pool(7, 2, 1, PoolRounding::Ceil);
  padded.clip_window = true;
  EXPECT_EQ(OneLayer().run(LayerKind::Pooling, padded, {{1, 4, 4, 4}}).at(0), (Shape{1, 4, 1, 1}));
  PoolParams too_far = pool(4, 2, 0, PoolRounding::Ceil);
  too_far.clip_window = true;
  expect_rejected(LayerKind::Pooling, too_far, {{1, 1, 2, 2}},
                  "kernel 4 is larger than the padded input 2 along height");
  expect_rejected(LayerKind::Pooling, pool(3, 2, 0, PoolRounding::Ceil), {{1, 1, 2, 2}},
                  "kernel 3 is larger than the padded input 2 along height");
}

TEST(ShapeInference, PoolingRejections) {
  expect_rejected(LayerKind::Pooling, pool(3, 2, 3, PoolRounding::Ceil), {{1, 1, 9, 9}},
                  "padding must be smaller than the kernel 3x3");
  expect_rejected(LayerKind::Pooling, pool(7, 1, 0, PoolRounding::Floor), {{1, 1, 5, 5}},
                  "kernel 7 is larger than the padded input 5 along height");
  expect_rejected(LayerKind::Pooling, pool(0, 1, 0, PoolRounding::Floor), {{1, 1, 5, 5}},
                  "kernel_h 0, expected >= 1");
  expect_rejected(LayerKind::Pooling, pool(2, 2, 0, PoolRounding::Floor), {{1, 5}}, "expected NCHW (rank 4)");
}

// ---- Element-wise activations and normalisation ----

TEST(ShapeInference, ActivationsKeepShapeAndHaveNoWeights) {
  const Shape x{2, 3, 7, 9};
  for (LayerKind k :
       {LayerKind::ReLU, LayerKind::Sigmoid, LayerKind::TanH, LayerKind::Swish, LayerKind::HardSwish}) {
    OneLayer t;
    EXPECT_EQ(t.run(k, NoParams{}, {x}).at(0), x) << layer_kind_name(k);
    EXPECT_TRUE(t.weights().empty());
  }
  EXPECT_EQ(out1(LayerKind::LeakyReLU, LeakyReLUParams{0.2f}, {x}), x);
  EXPECT_EQ(out1(LayerKind::Clip, ClipParams{-1.0f, 1.0f}, {x}), x);
  EXPECT_EQ(out1(LayerKind::HardSigmoid, HardSigmoidParams{}, {x}), x);
  // Rank 2 (after an FC) is fine for activations.
  EXPECT_EQ(out1(LayerKind::ReLU, NoParams{}, {{1, 1000}}), (Shape{1, 1000}));
}

TEST(ShapeInference, ClipRejectsMinAboveMax) {
  expect_rejected(LayerKind::Clip, ClipParams{6.0f, 0.0f}, {{1, 3, 5, 5}}, "min 6 is greater than max 0");
}

TEST(ShapeInference, PReLUSlopes) {
  OneLayer per_channel;
  per_channel.run(LayerKind::PReLU, PReLUParams{false}, {{1, 17, 5, 5}});
  ASSERT_EQ(per_channel.weights().size(), 1u);
  EXPECT_EQ(per_channel.weights()[0].shape, (Shape{17}));
  EXPECT_TRUE(per_channel.weights()[0].learnable);
  OneLayer shared;
  shared.run(LayerKind::PReLU, PReLUParams{true}, {{1, 17, 5, 5}});
  EXPECT_EQ(shared.weights().at(0).shape, (Shape{1}));
}

TEST(ShapeInference, BatchNormStatisticsAreNotLearnable) {
  OneLayer caffe;
  caffe.run(LayerKind::BatchNorm, BatchNormParams{1e-5f, false}, {{1, 13, 3, 3}});
  ASSERT_EQ(caffe.weights().size(), 2u);
  for (const auto& w : caffe.weights()) {
    EXPECT_FALSE(w.learnable) << w.role;
    EXPECT_EQ(w.shape, (Shape{13}));
  }
  OneLayer affine;
  affine.run(LayerKind::BatchNorm, BatchNormParams{1e-5f, true}, {{1, 13, 3, 3}});
  ASSERT_EQ(affine.weights().size(), 4u);
  int learnable = 0;
  for (const auto& w : affine.weights()) learnable += w.learnable ? 1 : 0;
  EXPECT_EQ(learnable, 2);
}

TEST(ShapeInference, ScaleOneAndTwoInputs) {
  OneLayer one;
  one.run(LayerKind::Scale, ScaleParams{1, true}, {{1, 13, 3, 3}});
  ASSERT_EQ(one.weights().size(), 2u);
  EXPECT_EQ(one.weights()[0].shape, (Shape{13}));
  EXPECT_EQ(one.weights()[1].shape, (Shape{13}));

  // Caffe: the second input's dims match the first's from `axis` on. SENet's Caffe files scale NxCxHxW by
  // an NxC blob with axis 0; a per-channel C blob uses axis 1. No learned weight either way.
  OneLayer se;
  EXPECT_EQ(se.run(LayerKind::Scale, ScaleParams{0, false}, {{1, 13, 3, 3}, {1, 13}}).at(0),
            (Shape{1, 13, 3, 3}));
  EXPECT_TRUE(se.weights().empty());
  EXPECT_EQ(out1(LayerKind::Scale, ScaleParams{1, false}, {{1, 13, 3, 3}, {13}}), (Shape{1, 13, 3, 3}));
  EXPECT_EQ(out1(LayerKind::Scale, ScaleParams{1, false}, {{1, 13, 3, 3}, {13, 1, 1}}), (Shape{1, 13, 3, 3}));
  expect_rejected(LayerKind::Scale, ScaleParams{1, false}, {{1, 13, 3, 3}, {12}},
                  "scale input 12 does not match input 1x13x3x3 at axis 1");
  expect_rejected(LayerKind::Scale, ScaleParams{1, false}, {{1, 13, 3, 3}, {1, 13}},
                  "scale input 1x13 does not match input 1x13x3x3 at axis 1");
  expect_rejected(LayerKind::Scale, ScaleParams{1, false}, {{1, 13, 3, 3}, {13}, {13}},
                  "got 3 inputs, expected 1 to 2");
}

TEST(ShapeInference, LRN) {
  EXPECT_EQ(out1(LayerKind::LRN, LRNParams{}, {{1, 96, 55, 55}}), (Shape{1, 96, 55, 55}));
  LRNParams even;
  even.local_size = 4;
  expect_rejected(LayerKind::LRN, even, {{1, 96, 5, 5}}, "local_size 4, expected an odd number");
}

// ---- Multi-input and data-movement layers ----

TEST(ShapeInference, Concat) {
  EXPECT_EQ(out1(LayerKind::Concat, ConcatParams{1}, {{1, 64, 7, 9}, {1, 3, 7, 9}, {1, 1, 7, 9}}),
            (Shape{1, 68, 7, 9}));
  EXPECT_EQ(out1(LayerKind::Concat, ConcatParams{-1}, {{2, 3, 5}, {2, 3, 4}}), (Shape{2, 3, 9}));
  EXPECT_EQ(out1(LayerKind::Concat, ConcatParams{1}, {{1, 5, 3, 3}}), (Shape{1, 5, 3, 3}));
  expect_rejected(LayerKind::Concat, ConcatParams{1}, {{1, 4, 7, 7}, {1, 4, 7, 6}},
                  "input 1 has shape 1x4x7x6, which does not match 1x4x7x7 outside axis 1");
  expect_rejected(LayerKind::Concat, ConcatParams{4}, {{1, 4, 7, 7}},
                  "axis 4 is out of range for a rank-4 input");
}

TEST(ShapeInference, EltwiseBroadcasting) {
  EXPECT_EQ(out1(LayerKind::Eltwise, EltwiseParams{}, {{1, 16, 7, 9}, {1, 16, 7, 9}, {1, 16, 7, 9}}),
            (Shape{1, 16, 7, 9}));
  EltwiseParams prod{EltwiseOp::Prod, {}};
  EXPECT_EQ(out1(LayerKind::Eltwise, prod, {{1, 16, 7, 9}, {1, 16, 1, 1}}), (Shape{1, 16, 7, 9}));
  EXPECT_EQ(out1(LayerKind::Eltwise, prod, {{1, 16, 1, 1}, {1, 16, 7, 9}}), (Shape{1, 16, 7, 9}));
  EXPECT_EQ(out1(LayerKind::Eltwise, prod, {{16, 1, 1}, {2, 1, 7, 9}}), (Shape{2, 16, 7, 9}));
  expect_rejected(LayerKind::Eltwise, EltwiseParams{}, {{1, 16, 7, 9}, {1, 15, 7, 9}},
                  "input 1 has shape 1x15x7x9, which does not broadcast with 1x16x7x9");
  expect_rejected(LayerKind::Eltwise, EltwiseParams{EltwiseOp::Sum, {1.0f}}, {{1, 2}, {1, 2}},
                  "1 coefficients for 2 inputs, expected one per input");
  expect_rejected(LayerKind::Eltwise, EltwiseParams{EltwiseOp::Max, {1.0f, 1.0f}}, {{1, 2}, {1, 2}},
                  "coefficients are only allowed with SUM");
}

TEST(ShapeInference, SoftmaxAndDropout) {
  EXPECT_EQ(out1(LayerKind::Softmax, SoftmaxParams{1}, {{1, 1000}}), (Shape{1, 1000}));
  expect_rejected(LayerKind::Softmax, SoftmaxParams{2}, {{1, 1000}},
                  "axis 2 is out of range for a rank-2 input");
  EXPECT_EQ(out1(LayerKind::Dropout, DropoutParams{0.0f}, {{1, 4096}}), (Shape{1, 4096}));
  expect_rejected(LayerKind::Dropout, DropoutParams{1.0f}, {{1, 4096}},
                  "dropout_ratio 1, expected in [0, 1)");
}

TEST(ShapeInference, Flatten) {
  EXPECT_EQ(out1(LayerKind::Flatten, FlattenParams{1, -1}, {{2, 3, 5, 7}}), (Shape{2, 105}));
  EXPECT_EQ(out1(LayerKind::Flatten, FlattenParams{1, 2}, {{2, 3, 5, 7}}), (Shape{2, 15, 7}));
  EXPECT_EQ(out1(LayerKind::Flatten, FlattenParams{0, -1}, {{2, 3, 5, 7}}), (Shape{210}));
  EXPECT_EQ(out1(LayerKind::Flatten, FlattenParams{2, 2}, {{2, 3, 5, 7}}), (Shape{2, 3, 5, 7}));
  expect_rejected(LayerKind::Flatten, FlattenParams{3, 1}, {{2, 3, 5, 7}}, "axis 3 is after end_axis 1");
}

TEST(ShapeInference, ReshapeZeroAndMinusOne) {
  const Shape x{2, 3, 5, 7};
  EXPECT_EQ(out1(LayerKind::Reshape, ReshapeParams{{0, -1}}, {x}), (Shape{2, 105}));
  EXPECT_EQ(out1(LayerKind::Reshape, ReshapeParams{{-1, 35}}, {x}), (Shape{6, 35}));
  EXPECT_EQ(out1(LayerKind::Reshape, ReshapeParams{{0, 0, -1}}, {x}), (Shape{2, 3, 35}));
  EXPECT_EQ(out1(LayerKind::Reshape, ReshapeParams{{0, 3, 5, 7, 1}}, {x}), (Shape{2, 3, 5, 7, 1}));
  // ShuffleNet's channel split: 1x116x28x28 -> 1x2x58x28x28
  EXPECT_EQ(out1(LayerKind::Reshape, ReshapeParams{{0, 2, 58, 28, 28}}, {{1, 116, 28, 28}}),
            (Shape{1, 2, 58, 28, 28}));
  expect_rejected(LayerKind::Reshape, ReshapeParams{{4, -1}}, {x},
                  "cannot reshape 2x3x5x7 (210 elements) to 4x-1");
  expect_rejected(LayerKind::Reshape, ReshapeParams{{2, 3, 5, 8}}, {x},
                  "cannot reshape 2x3x5x7 (210 elements) to 2x3x5x8 (240 elements)");
  expect_rejected(LayerKind::Reshape, ReshapeParams{{-1, -1}}, {x}, "more than one -1 in the target shape");
  expect_rejected(LayerKind::Reshape, ReshapeParams{{0, 0, 0, 0, 0}}, {x},
                  "dimension 4 copies an input axis that does not exist");
  expect_rejected(LayerKind::Reshape, ReshapeParams{{-2, 105}}, {x},
                  "target dimension -2, expected > 0, 0 or -1");
  expect_rejected(LayerKind::Reshape, ReshapeParams{}, {x}, "empty target shape");
}

TEST(ShapeInference, SplitCopiesShape) {
  OneLayer t;
  auto out = t.run(LayerKind::Split, NoParams{}, {{1, 3, 5, 5}}, 3);
  EXPECT_EQ(out, (std::vector<Shape>(3, Shape{1, 3, 5, 5})));
}

TEST(ShapeInference, Slice) {
  OneLayer ranges;
  EXPECT_EQ(ranges.run(LayerKind::Slice, SliceParams{1, {{0, 2}, {2, 7}}}, {{1, 7, 3, 3}}, 2),
            (std::vector<Shape>{{1, 2, 3, 3}, {1, 5, 3, 3}}));
  OneLayer even;
  EXPECT_EQ(even.run(LayerKind::Slice, SliceParams{-1, {}}, {{1, 2, 9}}, 3),
            (std::vector<Shape>(3, Shape{1, 2, 3})));
  expect_rejected(LayerKind::Slice, SliceParams{1, {}}, {{1, 7, 3, 3}},
                  "axis 1 of size 7 cannot be split evenly into 2 outputs", 2);
  expect_rejected(LayerKind::Slice, SliceParams{1, {{3, 9}}}, {{1, 7, 3, 3}},
                  "range [3, 9) is outside axis 1 of size 7");
  expect_rejected(LayerKind::Slice, SliceParams{1, {{3, 3}}}, {{1, 7, 3, 3}},
                  "range [3, 3) is outside axis 1 of size 7");
  expect_rejected(LayerKind::Slice, SliceParams{1, {{0, 1}}}, {{1, 7, 3, 3}}, "1 ranges for 2 outputs", 2);
}

TEST(ShapeInference, OnlySplitAndSliceHaveSeveralOutputs) {
  expect_rejected(LayerKind::ReLU, NoParams{}, {{1, 3}}, "got 2 outputs, expected 1", 2);
}

TEST(ShapeInference, ChannelShuffle) {
  EXPECT_EQ(out1(LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {{1, 116, 27, 27}}),
            (Shape{1, 116, 27, 27}));
  expect_rejected(LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {{1, 7, 3, 3}},
                  "input has 7 channels, not divisible by group 2");
  expect_rejected(LayerKind::ChannelShuffle, ChannelShuffleParams{0}, {{1, 8, 3, 3}},
                  "group 0, expected >= 1");
}

TEST(ShapeInference, Permute) {
  EXPECT_EQ(out1(LayerKind::Permute, PermuteParams{{0, 2, 3, 1}}, {{1, 3, 5, 7}}), (Shape{1, 5, 7, 3}));
  EXPECT_EQ(out1(LayerKind::Permute, PermuteParams{{0, 2, 1, 3, 4}}, {{1, 2, 58, 28, 28}}),
            (Shape{1, 58, 2, 28, 28}));
  expect_rejected(LayerKind::Permute, PermuteParams{{0, 1, 1, 2}}, {{1, 3, 5, 7}},
                  "order is not a permutation of the input axes");
  expect_rejected(LayerKind::Permute, PermuteParams{{0, 1, 2}}, {{1, 3, 5, 7}},
                  "order has 3 axes, input has rank 4");
}

TEST(ShapeInference, Pad) {
  EXPECT_EQ(
      out1(LayerKind::Pad, PadParams{{0, 0, 1, 2}, {0, 0, 3, 0}, PadMode::Constant, 0.0f}, {{1, 3, 5, 7}}),
      (Shape{1, 3, 9, 9}));
  EXPECT_EQ(out1(LayerKind::Pad, PadParams{{0, 1, 0, 0}, {0, 2, 0, 0}, PadMode::Edge, 0.0f}, {{1, 3, 5, 7}}),
            (Shape{1, 6, 5, 7}));
  EXPECT_EQ(
      out1(LayerKind::Pad, PadParams{{0, 0, 4, 4}, {0, 0, 4, 6}, PadMode::Reflect, 0.0f}, {{1, 3, 5, 7}}),
      (Shape{1, 3, 13, 17}));
  expect_rejected(LayerKind::Pad, PadParams{{0, 0, 5, 0}, {0, 0, 0, 0}, PadMode::Reflect, 0.0f},
                  {{1, 3, 5, 7}}, "reflect padding must be smaller than the input");
  expect_rejected(LayerKind::Pad, PadParams{{0, 0}, {0, 0}, PadMode::Constant, 0.0f}, {{1, 3, 5, 7}},
                  "2+2 pads for a rank-4 input, expected one begin and end per axis");
  expect_rejected(LayerKind::Pad, PadParams{{0, 0, -1, 0}, {0, 0, 0, 0}, PadMode::Constant, 0.0f},
                  {{1, 3, 5, 7}}, "pad -1, expected >= 0");
}

// ---- Whole-graph behaviour ----

TEST(ShapeInference, DuplicateLayerNameRejected) {
  Graph g;
  BlobId x = g.add_input("data", {1, 3, 5, 5});
  g.add_layer("relu", LayerKind::ReLU, NoParams{}, {x}, {"a"});
  try {
    g.add_layer("relu", LayerKind::ReLU, NoParams{}, {x}, {"b"}, "n.prototxt:9:1");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "n.prototxt:9:1: layer \"relu\": duplicate layer name");
  }
}

TEST(ShapeInference, InPlaceLayersGetDistinctBlobIds) {
  Graph g;
  BlobId x = g.add_input("data", {1, 3, 5, 5});
  LayerId c = g.add_layer("conv1", LayerKind::Convolution, conv(4, 3), {x}, {"conv1"});
  BlobId y = g.layer(c).outputs[0];
  LayerId r = g.add_layer("relu1", LayerKind::ReLU, NoParams{}, {y}, {"conv1"});  // Caffe in-place
  BlobId z = g.layer(r).outputs[0];
  EXPECT_NE(y, z);
  EXPECT_EQ(g.blob(z).name, "conv1");
  EXPECT_EQ(g.blob(z).shape, (Shape{1, 4, 3, 3}));
  EXPECT_EQ(g.outputs(), std::vector<BlobId>{z});
  EXPECT_EQ(g.consumers(y), std::vector<LayerId>{r});
}

TEST(ShapeInference, AbsurdSizesRejectedBeforeAllocation) {
  // 2^20 x 2^20 output channels x kernel elements would be a 2^40-element weight: over the limit.
  ConvParams p = conv(int64_t{1} << 20, 1);
  expect_rejected(LayerKind::Convolution, p, {{1, int64_t{1} << 20, 1, 1}}, "weight shape");
  expect_rejected(LayerKind::Convolution, conv(int64_t{1} << 40, 1), {{1, 3, 1, 1}}, "num_output");
}

}  // namespace
}  // namespace convergy

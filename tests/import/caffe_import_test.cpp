// Caffe prototxt -> Graph: input forms, Caffe defaults, in-place layers, and the mapping of each layer type.
#include "import/load.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace convergy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Graph import(const std::string& text, const LoadOptions& options = {}) {
  return import_caffe_prototxt(text, "net.prototxt", options);
}

std::string import_error(const std::string& text, const LoadOptions& options = {}) {
  try {
    import(text, options);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  return "";
}

// A 1x8x13x13 input named "data" followed by `layers`.
std::string net(const std::string& layers) {
  return "name: \"t\"\ninput: \"data\"\ninput_shape { dim: 1 dim: 8 dim: 13 dim: 13 }\n" + layers;
}

std::string layer(const std::string& name, const std::string& type, const std::string& bottom,
                  const std::string& body = "", const std::string& top = "") {
  return "layer { name: \"" + name + "\" type: \"" + type + "\" bottom: \"" + bottom + "\" top: \"" +
         (top.empty() ? name : top) + "\" " + body + " }\n";
}

const Layer& find(const Graph& g, const std::string& name) {
  const LayerId id = g.find_layer(name);
  if (id < 0) throw std::runtime_error("no layer " + name);
  return g.layer(id);
}
Shape out_shape(const Graph& g, const std::string& name, size_t i = 0) {
  return g.blob(find(g, name).outputs.at(i)).shape;
}

TEST(CaffeInputs, InputWithInputShape) {
  const Graph g = import(net(layer("r", "ReLU", "data")));
  EXPECT_EQ(g.name(), "t");
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.blob(g.inputs()[0]).name, "data");
  EXPECT_EQ(g.blob(g.inputs()[0]).shape, (Shape{1, 8, 13, 13}));
  EXPECT_EQ(g.layer(0).kind, LayerKind::Input);
  EXPECT_EQ(g.layer(0).origin, "net.prototxt:2:1");
}

TEST(CaffeInputs, InputWithFourInputDims) {
  const Graph g = import("input: \"a\"\ninput_dim: 2\ninput_dim: 3\ninput_dim: 5\ninput_dim: 7\n" +
                         layer("r", "ReLU", "a"));
  EXPECT_EQ(g.blob(g.inputs()[0]).shape, (Shape{2, 3, 5, 7}));
}

TEST(CaffeInputs, TwoInputsWithInputDims) {
  const Graph g = import("input: \"a\" input: \"b\" input_dim: [1, 2, 3, 3, 1, 2, 3, 3]\n" +
                         layer("sum", "Eltwise", "a\" bottom: \"b"));
  ASSERT_EQ(g.inputs().size(), 2u);
  EXPECT_EQ(g.blob(g.inputs()[1]).name, "b");
  EXPECT_EQ(out_shape(g, "sum"), (Shape{1, 2, 3, 3}));
}

TEST(CaffeInputs, InputLayer) {
  const Graph g = import(R"(
layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 32 dim: 30 } } }
layer { name: "r" type: "ReLU" bottom: "data" top: "r" })");
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.layer(0).name, "in");
  EXPECT_EQ(g.blob(g.inputs()[0]).name, "data");
  EXPECT_EQ(out_shape(g, "r"), (Shape{1, 3, 32, 30}));
}

TEST(CaffeInputs, InputLayerWithTwoTopsAndOneShapeEach) {
  const Graph g = import(R"(
layer { name: "in" type: "Input" top: "a" top: "b"
        input_param { shape { dim: 1 dim: 4 } shape { dim: 1 dim: 6 } } }
layer { name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" })");
  EXPECT_EQ(out_shape(g, "c"), (Shape{1, 10}));
}

TEST(CaffeInputs, InputShapeOptionOverridesAndFills) {
  LoadOptions o;
  o.input_shapes.push_back(parse_input_shape_option("data=2x8x20x20"));
  EXPECT_EQ(import(net(layer("r", "ReLU", "data")), o).blob(0).shape, (Shape{2, 8, 20, 20}));
  // A bare shape applies to the first input; it also fills a missing shape.
  LoadOptions bare;
  bare.input_shapes.push_back(parse_input_shape_option("1x3x9x9"));
  EXPECT_EQ(import("input: \"x\"\n" + layer("r", "ReLU", "x"), bare).blob(0).shape, (Shape{1, 3, 9, 9}));
  LoadOptions wrong;
  wrong.input_shapes.push_back({"nope", Shape{1, 2}});
  EXPECT_EQ(
      import_error(net(layer("r", "ReLU", "data")), wrong),
      "net.prototxt: the input shape given names \"nope\", which is not an input, expected one of: data");
}

TEST(CaffeInputs, PlaceholderInputSizeIsRefusedWithTheWayForwardAndImportsWithTheRealSize) {
  // OpenPose-style deploy files declare 1x1 inputs and resize the net at run time.
  const std::string text = R"(layer { name: "in" type: "Input" top: "image"
    input_param { shape { dim: 1 dim: 3 dim: 1 dim: 1 } } }
    layer { name: "c" type: "Convolution" bottom: "image" top: "c"
            convolution_param { num_output: 4 kernel_size: 3 } })";
  EXPECT_EQ(import_error(text),
            "net.prototxt:3:5: layer \"c\" (Convolution): kernel extent 3 is larger than the padded input 1 along "
            "height; the file declares input \"image\" as 1x3x1x1: if that is a placeholder, give the real size "
            "with --input-shape image=NxCxHxW");
  LoadOptions o;
  o.input_shapes.push_back(parse_input_shape_option("image=1x3x368x368"));
  EXPECT_EQ(out_shape(import(text, o), "c"), (Shape{1, 4, 366, 366}));
  // Not every shape error gets the hint: a channel mismatch has nothing to do with the input's size.
  EXPECT_EQ(import_error(R"(input: "x" input_dim: 1 input_dim: 3 input_dim: 1 input_dim: 1
    layer { name: "c" type: "Convolution" bottom: "x" top: "c"
            convolution_param { num_output: 4 kernel_size: 1 group: 2 } })")
                .find("placeholder"),
            std::string::npos);
}

TEST(CaffeInputs, InputLayerShapeOverride) {
  LoadOptions o;
  o.input_shapes.push_back({"data", Shape{1, 3, 64, 64}});
  const Graph g = import(R"(layer { name: "in" type: "Input" top: "data"
    input_param { shape { dim: 1 dim: 3 dim: 32 dim: 32 } } }
    layer { name: "r" type: "ReLU" bottom: "data" top: "r" })",
                         o);
  EXPECT_EQ(out_shape(g, "r"), (Shape{1, 3, 64, 64}));
}

TEST(CaffeGraph, InPlaceLayersMakeNewBlobsAndLaterBottomsSeeTheNewest) {
  const Graph g =
      import(net(layer("conv", "Convolution", "data", "convolution_param { num_output: 4 kernel_size: 3 }") +
                 layer("relu", "ReLU", "conv", "", "conv") + layer("bn", "BatchNorm", "conv", "", "conv") +
                 layer("pool", "Pooling", "conv", "pooling_param { kernel_size: 2 stride: 2 }")));
  const Layer& conv = find(g, "conv");
  const Layer& relu = find(g, "relu");
  const Layer& bn = find(g, "bn");
  const Layer& pool = find(g, "pool");
  EXPECT_EQ(relu.inputs.at(0), conv.outputs.at(0));
  EXPECT_NE(relu.outputs.at(0), conv.outputs.at(0));
  EXPECT_EQ(g.blob(relu.outputs.at(0)).name, "conv");
  EXPECT_EQ(bn.inputs.at(0), relu.outputs.at(0));
  EXPECT_EQ(pool.inputs.at(0), bn.outputs.at(0));
  EXPECT_EQ(g.blob(pool.outputs.at(0)).shape, (Shape{1, 4, 6, 6}));  // 11x11 pooled 2/2, rounded up
  EXPECT_THAT(g.outputs(), ElementsAre(pool.outputs.at(0)));
}

TEST(CaffeLayers, ConvolutionDefaults) {
  const Graph g =
      import(net(layer("c", "Convolution", "data", "convolution_param { num_output: 16 kernel_size: 3 }")));
  const auto& p = find(g, "c").p<ConvParams>();
  EXPECT_EQ(p.kernel_h, 3);
  EXPECT_EQ(p.kernel_w, 3);
  EXPECT_EQ(p.stride_h, 1);
  EXPECT_EQ(p.pad_top, 0);
  EXPECT_EQ(p.pad_left, 0);
  EXPECT_EQ(p.dilation_h, 1);
  EXPECT_EQ(p.groups, 1);
  EXPECT_TRUE(p.bias);
  EXPECT_EQ(out_shape(g, "c"), (Shape{1, 16, 11, 11}));
  ASSERT_EQ(find(g, "c").weights.size(), 2u);
  EXPECT_EQ(find(g, "c").weights[0].shape, (Shape{16, 8, 3, 3}));
}

TEST(CaffeLayers, ConvolutionSeparateHeightAndWidth) {
  const Graph g =
      import(net(layer("c", "Convolution", "data",
                       "convolution_param { num_output: 4 kernel_h: 3 kernel_w: 1 pad_h: 2 pad_w: 0 "
                       "stride_h: 2 stride_w: 3 bias_term: false group: 2 }")));
  const auto& p = find(g, "c").p<ConvParams>();
  EXPECT_EQ(p.kernel_h, 3);
  EXPECT_EQ(p.kernel_w, 1);
  EXPECT_EQ(p.pad_top, 2);
  EXPECT_EQ(p.pad_bottom, 2);
  EXPECT_EQ(p.pad_left, 0);
  EXPECT_FALSE(p.bias);
  EXPECT_EQ(p.groups, 2);
  EXPECT_EQ(out_shape(g, "c"), (Shape{1, 4, 8, 5}));  // (13+4-3)/2+1, (13-1)/3+1
  EXPECT_EQ(find(g, "c").weights.size(), 1u);
}

TEST(CaffeLayers, ConvolutionPadHeightAloneDefaultsWidthToZero) {
  // caffe.proto gives pad_h and pad_w a default of 0 each, unlike stride_h/_w and kernel_h/_w.
  const Graph g = import(
      net(layer("c", "Convolution", "data", "convolution_param { num_output: 4 kernel_size: 3 pad_h: 1 }")));
  EXPECT_EQ(find(g, "c").p<ConvParams>().pad_top, 1);
  EXPECT_EQ(find(g, "c").p<ConvParams>().pad_left, 0);
  EXPECT_EQ(import_error(net(layer("c", "Convolution", "data",
                                   "convolution_param { num_output: 4 kernel_size: 3 stride_w: 2 }"))),
            "net.prototxt:4:112: layer \"c\": stride_w without stride_h, expected both");
}

TEST(CaffeLayers, ConvolutionRepeatedValuesAndDilation) {
  const Graph g =
      import(net(layer("c", "Convolution", "data",
                       "convolution_param { num_output: 8 kernel_size: 3 kernel_size: 5 pad: [1, 2] "
                       "stride: 1 stride: 2 dilation: 2 group: 8 }")));
  const auto& p = find(g, "c").p<ConvParams>();
  EXPECT_EQ(p.kernel_h, 3);
  EXPECT_EQ(p.kernel_w, 5);
  EXPECT_EQ(p.pad_left, 2);
  EXPECT_EQ(p.stride_w, 2);
  EXPECT_EQ(p.dilation_w, 2);
  // height: 13+2-5+1 = 11; width: (13+4-9)/2+1 = 5
  EXPECT_EQ(out_shape(g, "c"), (Shape{1, 8, 11, 5}));
  EXPECT_EQ(find(g, "c").weights[0].shape, (Shape{8, 1, 3, 5}));
}

TEST(CaffeLayers, InnerProductFlattensFromAxisOne) {
  const Graph g = import(net(layer("fc", "InnerProduct", "data", "inner_product_param { num_output: 10 }")));
  EXPECT_EQ(out_shape(g, "fc"), (Shape{1, 10}));
  EXPECT_EQ(find(g, "fc").weights[0].shape, (Shape{10, 8 * 13 * 13}));
  EXPECT_EQ(find(g, "fc").weights[1].shape, (Shape{10}));
}

TEST(CaffeLayers, PoolingRoundsUpByDefault) {
  const Graph g =
      import(net(layer("p", "Pooling", "data", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }") +
                 layer("q", "Pooling", "data",
                       "pooling_param { pool: AVE kernel_size: 2 stride: 2 round_mode: FLOOR }") +
                 layer("r", "Pooling", "data", "pooling_param { pool: AVE global_pooling: true }") +
                 layer("s", "Pooling", "data", "pooling_param { kernel_size: 2 stride: 2 }")));
  EXPECT_EQ(find(g, "p").p<PoolParams>().rounding, PoolRounding::Ceil);
  EXPECT_EQ(out_shape(g, "p"), (Shape{1, 8, 6, 6}));
  EXPECT_EQ(find(g, "q").p<PoolParams>().method, PoolMethod::Average);
  EXPECT_EQ(out_shape(g, "q"), (Shape{1, 8, 6, 6}));
  EXPECT_TRUE(find(g, "r").p<PoolParams>().global);
  EXPECT_EQ(out_shape(g, "r"), (Shape{1, 8, 1, 1}));
  EXPECT_EQ(out_shape(g, "s"), (Shape{1, 8, 7, 7}));  // ceil(11/2)+1
}

TEST(CaffeLayers, Activations) {
  const Graph g = import(net(
      layer("relu", "ReLU", "data") + layer("leaky", "ReLU", "data", "relu_param { negative_slope: 0.1 }") +
      layer("relu6", "ReLU6", "data") + layer("clip", "Clip", "data", "clip_param { min: -1 max: 2.5 }") +
      layer("prelu", "PReLU", "data") +
      layer("prelu1", "PReLU", "data", "prelu_param { channel_shared: true }") +
      layer("sig", "Sigmoid", "data") + layer("tanh", "TanH", "data") + layer("swish", "Swish", "data") +
      layer("hswish", "HardSwish", "data") +
      layer("hsig", "HardSigmoid", "data", "hard_sigmoid_param { alpha: 0.1666667 beta: 0.5 }")));
  EXPECT_EQ(find(g, "relu").kind, LayerKind::ReLU);
  EXPECT_EQ(find(g, "leaky").kind, LayerKind::LeakyReLU);
  EXPECT_FLOAT_EQ(find(g, "leaky").p<LeakyReLUParams>().slope, 0.1f);
  EXPECT_EQ(find(g, "relu6").kind, LayerKind::Clip);
  EXPECT_FLOAT_EQ(find(g, "relu6").p<ClipParams>().max, 6.0f);
  EXPECT_FLOAT_EQ(find(g, "clip").p<ClipParams>().min, -1.0f);
  EXPECT_FLOAT_EQ(find(g, "clip").p<ClipParams>().max, 2.5f);
  EXPECT_EQ(find(g, "prelu").weights.at(0).shape, (Shape{8}));
  EXPECT_EQ(find(g, "prelu1").weights.at(0).shape, (Shape{1}));
  EXPECT_EQ(find(g, "sig").kind, LayerKind::Sigmoid);
  EXPECT_EQ(find(g, "tanh").kind, LayerKind::TanH);
  EXPECT_EQ(find(g, "swish").kind, LayerKind::Swish);
  EXPECT_EQ(find(g, "hswish").kind, LayerKind::HardSwish);
  EXPECT_FLOAT_EQ(find(g, "hsig").p<HardSigmoidParams>().alpha, 0.1666667f);
  EXPECT_EQ(out_shape(g, "hsig"), (Shape{1, 8, 13, 13}));
}

// convergy's own types for ConvNeXt's channels-last block: Permute, LayerNorm, InnerProduct over the last
// axis with a GELU, and back.
TEST(CaffeLayers, LayerNormAndGelu) {
  const Graph g =
      import(net(layer("nhwc", "Permute", "data", "permute_param { order: 0 order: 2 order: 3 order: 1 }") +
                 layer("ln", "LayerNorm", "nhwc", "layer_norm_param { eps: 1e-6 }") +
                 layer("ln2", "LayerNorm", "data", "layer_norm_param { axis: 1 affine: false }") +
                 layer("pw", "InnerProduct", "ln", "inner_product_param { num_output: 32 axis: 3 }") +
                 layer("gelu", "GELU", "pw")));
  const Layer& ln = find(g, "ln");
  EXPECT_EQ(ln.kind, LayerKind::LayerNorm);
  EXPECT_EQ(ln.p<LayerNormParams>().axis, -1);
  EXPECT_FLOAT_EQ(ln.p<LayerNormParams>().eps, 1e-6f);
  EXPECT_EQ(ln.weights.size(), 2u);
  EXPECT_EQ(ln.weights.at(0).shape, (Shape{8}));
  EXPECT_EQ(find(g, "ln2").p<LayerNormParams>().axis, 1);
  EXPECT_TRUE(find(g, "ln2").weights.empty());
  EXPECT_EQ(find(g, "gelu").kind, LayerKind::GELU);
  EXPECT_EQ(out_shape(g, "gelu"), (Shape{1, 13, 13, 32}));
}

TEST(CaffeLayers, BatchNormScaleAndLrn) {
  const Graph g =
      import(net(layer("bn", "BatchNorm", "data", "batch_norm_param { use_global_stats: true eps: 0.001 }") +
                 layer("sc", "Scale", "bn", "scale_param { bias_term: true }") +
                 layer("pool", "Pooling", "data", "pooling_param { pool: AVE global_pooling: true }") +
                 layer("fc", "InnerProduct", "pool", "inner_product_param { num_output: 8 }") +
                 layer("sc2", "Scale", "data\" bottom: \"fc", "scale_param { axis: 0 }") +
                 layer("lrn", "LRN", "data",
                       "lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 norm_region: WITHIN_CHANNEL }") +
                 layer("lrn2", "LRN", "data")));
  const Layer& bn = find(g, "bn");
  EXPECT_FLOAT_EQ(bn.p<BatchNormParams>().eps, 0.001f);
  EXPECT_FALSE(bn.p<BatchNormParams>().affine);
  ASSERT_EQ(bn.weights.size(), 2u);
  EXPECT_FALSE(bn.weights[0].learnable);
  const Layer& sc = find(g, "sc");
  EXPECT_TRUE(sc.p<ScaleParams>().bias);
  ASSERT_EQ(sc.weights.size(), 2u);
  EXPECT_EQ(sc.weights[0].shape, (Shape{8}));
  EXPECT_TRUE(find(g, "sc2").weights.empty());  // scaled by the second bottom
  EXPECT_EQ(out_shape(g, "sc2"), (Shape{1, 8, 13, 13}));
  EXPECT_FALSE(find(g, "lrn").p<LRNParams>().across_channels);
  EXPECT_EQ(find(g, "lrn").p<LRNParams>().local_size, 3);
  // caffe.proto's defaults: local_size 5, alpha 1, beta 0.75, k 1, across channels.
  const auto& d = find(g, "lrn2").p<LRNParams>();
  EXPECT_EQ(d.local_size, 5);
  EXPECT_FLOAT_EQ(d.alpha, 1.0f);
  EXPECT_FLOAT_EQ(d.beta, 0.75f);
  EXPECT_TRUE(d.across_channels);
}

TEST(CaffeLayers, ConcatAndEltwise) {
  const Graph g = import(net(
      layer("c1", "Convolution", "data", "convolution_param { num_output: 4 kernel_size: 1 }") +
      layer("cat", "Concat", "data\" bottom: \"c1") +
      layer("cat2", "Concat", "data\" bottom: \"data", "concat_param { concat_dim: 2 }") +
      layer("cat3", "Concat", "data\" bottom: \"data", "concat_param { axis: -1 }") +
      layer("sum", "Eltwise", "data\" bottom: \"data",
            "eltwise_param { operation: SUM coeff: 1 coeff: -1 }") +
      layer("prod", "Eltwise", "data\" bottom: \"data", "eltwise_param { operation: PROD }") +
      layer("max", "Eltwise", "data\" bottom: \"data\" bottom: \"data", "eltwise_param { operation: MAX }")));
  EXPECT_EQ(out_shape(g, "cat"), (Shape{1, 12, 13, 13}));
  EXPECT_EQ(out_shape(g, "cat2"), (Shape{1, 8, 26, 13}));
  EXPECT_EQ(find(g, "cat3").p<ConcatParams>().axis, 3);
  EXPECT_EQ(out_shape(g, "cat3"), (Shape{1, 8, 13, 26}));
  EXPECT_EQ(find(g, "sum").p<EltwiseParams>().op, EltwiseOp::Sum);
  EXPECT_THAT(find(g, "sum").p<EltwiseParams>().coeffs, ElementsAre(1.0f, -1.0f));
  EXPECT_EQ(find(g, "prod").p<EltwiseParams>().op, EltwiseOp::Prod);
  EXPECT_EQ(find(g, "max").p<EltwiseParams>().op, EltwiseOp::Max);
  EXPECT_EQ(find(g, "max").inputs.size(), 3u);
}

TEST(CaffeLayers, SoftmaxDropoutFlattenReshape) {
  const Graph g = import(
      net(layer("sm", "Softmax", "data", "softmax_param { axis: 1 }") +
          layer("drop", "Dropout", "data", "dropout_param { dropout_ratio: 0.3 }") +
          layer("flat", "Flatten", "data") +
          layer("flat2", "Flatten", "data", "flatten_param { axis: 2 end_axis: 3 }") +
          layer("rs", "Reshape", "data", "reshape_param { shape { dim: 0 dim: -1 dim: 13 } }") +
          layer("rs2", "Reshape", "data", "reshape_param { shape { dim: 2 dim: 4 } axis: 1 num_axes: 1 }")));
  EXPECT_EQ(find(g, "sm").kind, LayerKind::Softmax);
  EXPECT_FLOAT_EQ(find(g, "drop").p<DropoutParams>().ratio, 0.3f);
  EXPECT_EQ(out_shape(g, "flat"), (Shape{1, 8 * 13 * 13}));
  EXPECT_EQ(out_shape(g, "flat2"), (Shape{1, 8, 169}));
  EXPECT_EQ(out_shape(g, "rs"), (Shape{1, 104, 13}));
  EXPECT_EQ(out_shape(g, "rs2"), (Shape{1, 2, 4, 13, 13}));
}

TEST(CaffeLayers, SplitSliceShufflePermute) {
  const Graph g =
      import(net("layer { name: \"split\" type: \"Split\" bottom: \"data\" top: \"s1\" top: \"s2\" }\n"
                 "layer { name: \"slice\" type: \"Slice\" bottom: \"data\" top: \"a\" top: \"b\" top: \"c\"\n"
                 "  slice_param { axis: 1 slice_point: 2 slice_point: 5 } }\n"
                 "layer { name: \"even\" type: \"Slice\" bottom: \"data\" top: \"e1\" top: \"e2\" }\n" +
                 layer("shuf", "ShuffleChannel", "data", "shuffle_channel_param { group: 2 }") +
                 layer("perm", "Permute", "data", "permute_param { order: 0 order: 2 order: 3 order: 1 }") +
                 layer("perm2", "Permute", "data", "permute_param { order: 0 order: 3 }")));
  EXPECT_EQ(find(g, "split").outputs.size(), 2u);
  EXPECT_EQ(out_shape(g, "split", 1), (Shape{1, 8, 13, 13}));
  EXPECT_EQ(out_shape(g, "slice", 0), (Shape{1, 2, 13, 13}));
  EXPECT_EQ(out_shape(g, "slice", 1), (Shape{1, 3, 13, 13}));
  EXPECT_EQ(out_shape(g, "slice", 2), (Shape{1, 3, 13, 13}));
  EXPECT_EQ(out_shape(g, "even", 1), (Shape{1, 4, 13, 13}));
  EXPECT_EQ(find(g, "shuf").kind, LayerKind::ChannelShuffle);
  EXPECT_EQ(find(g, "shuf").p<ChannelShuffleParams>().groups, 2);
  EXPECT_EQ(out_shape(g, "perm"), (Shape{1, 13, 13, 8}));
  EXPECT_THAT(find(g, "perm2").p<PermuteParams>().order, ElementsAre(0, 3, 1, 2));
}

TEST(CaffeNet, PhaseRulesSkipTrainingLayers) {
  const Graph g = import(net(R"(
layer { name: "data" type: "Data" top: "data" include { phase: TRAIN } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv" top: "loss" exclude { phase: TEST } }
layer { name: "acc" type: "Accuracy" bottom: "conv" top: "acc" include { phase: TRAIN } include { stage: "x" } }
layer { name: "prob" type: "Softmax" bottom: "conv" top: "prob" include { phase: TEST } })"));
  EXPECT_EQ(g.num_layers(), 3);  // data input, conv, prob
  EXPECT_EQ(g.find_layer("loss"), -1);
  EXPECT_NE(g.find_layer("prob"), -1);
}

TEST(CaffeNet, LayerLevelTrainingFieldsAreIgnored) {
  const Graph g = import(net(R"(layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 } blobs_lr: 1 blobs_lr: 2 phase: TEST
  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "xavier" } bias_filler { type: "constant" } }
  pooling_param { kernel_size: 99 } })"));
  EXPECT_EQ(out_shape(g, "conv"), (Shape{1, 2, 13, 13}));
}

TEST(CaffeNet, UnknownLayerTypesAreAllListedInOneError) {
  const std::string err = import_error(net(layer("a", "Foo", "data") + layer("b", "ReLU", "data") +
                                           layer("c", "Bar", "data") + layer("d", "Foo", "data")));
  EXPECT_THAT(err,
              StartsWith("net.prototxt:4:25: unknown layer types: \"Foo\" (layer \"a\", line 4, and 1 more), "
                         "\"Bar\" (layer \"c\", line 6), expected one of Input, Convolution,"));
}

TEST(CaffeNet, UnknownParamFieldIsAnError) {
  EXPECT_THAT(
      import_error(
          net(layer("c", "Convolution", "data", "convolution_param { num_output: 2 kernal_size: 3 }"))),
      StartsWith(
          "net.prototxt:4:97: layer \"c\": unknown field \"kernal_size\" in convolution_param, expected "
          "one of num_output, bias_term,"));
}

TEST(CaffeNet, SingularFieldGivenTwice) {
  EXPECT_EQ(import_error(net(layer("c", "Convolution", "data",
                                   "convolution_param { num_output: 2 num_output: 3 "
                                   "kernel_size: 1 }"))),
            "net.prototxt:4:97: layer \"c\": num_output is given twice (first at line 4), expected it once");
}

TEST(CaffeNet, LegacyLayersAreUpgradedThenChecked) {
  EXPECT_EQ(import_error("layers { name: \"x\" type: CONVOLUTION }"),
            "net.prototxt:1:1: layer \"x\": a Convolution layer has no top, expected at least one");
}

TEST(CaffeNet, GraphErrorsCarryTheLayerPosition) {
  EXPECT_EQ(import_error(net(layer("c", "Convolution", "data",
                                   "convolution_param { num_output: 4 kernel_size: 1 "
                                   "group: 3 }"))),
            "net.prototxt:4:1: layer \"c\" (Convolution): input has 8 channels, not divisible by group 3");
}

TEST(CaffeNet, ZooAndFileLoading) {
  EXPECT_THAT([] { load_network("certainly_not_a_zoo_network"); },
              ::testing::ThrowsMessage<Error>(
                  StartsWith("unknown network \"certainly_not_a_zoo_network\", expected a "
                             "zoo name")));
  EXPECT_THAT([] { load_network("/nonexistent/dir/x.prototxt"); },
              ::testing::ThrowsMessage<Error>(
                  ::testing::Eq("cannot open /nonexistent/dir/x.prototxt: No such file or directory")));
  EXPECT_THAT([] { load_network("some/dir/"); },
              ::testing::ThrowsMessage<Error>(::testing::Eq(
                  "some/dir/: the path has no file extension, expected a .prototxt, .pt, .txt or .onnx file")));
  EXPECT_THAT([] { load_network("model.caffemodel"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("unknown file type \".caffemodel\"")));
}

TEST(CaffeNet, LoadFileSetsSourceAndName) {
  const std::string path =
      std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/nets/convnet_L5_F128_K2x2_3_K3x3_2_W50.prototxt";
  const Graph g = load_network(path);
  EXPECT_EQ(g.source(), path);
  EXPECT_EQ(g.name(), "convnet_L5_F128_K2x2_3_K3x3_2_W50");
  EXPECT_EQ(out_shape(g, "conv5"), (Shape{1, 128, 55, 55}));  // the README's worked example
}

TEST(CaffeNet, ParseInputShapeOption) {
  auto [name, shape] = parse_input_shape_option("data=1x3x224x224");
  EXPECT_EQ(name, "data");
  EXPECT_EQ(shape, (Shape{1, 3, 224, 224}));
  auto [bare, s2] = parse_input_shape_option("2x3");
  EXPECT_EQ(bare, "");
  EXPECT_EQ(s2, (Shape{2, 3}));
  EXPECT_THROW(parse_input_shape_option("=1x3"), Error);
  EXPECT_THROW(parse_input_shape_option("data=1x0"), Error);
  EXPECT_THROW(parse_input_shape_option("data="), Error);
}

// NAME@SHAPE names a network at another input shape everywhere a network is named, so that a measurement
// CSV's network column loads again at the size it was measured at.
TEST(CaffeNet, NameAtShapeLoadsTheNetworkAtThatInputShape) {
  const Graph g = load_network("resnet18@1x3x160x160");
  EXPECT_EQ(g.source(), "resnet18@1x3x160x160");
  EXPECT_EQ(g.blob(g.inputs().front()).shape, (Shape{1, 3, 160, 160}));
  EXPECT_EQ(load_network("resnet18@data=2x3x96x96").blob(g.inputs().front()).shape, (Shape{2, 3, 96, 96}));
  EXPECT_EQ(network_name("resnet18", {"1x3x160x160", "data=1x3x2x2"}), "resnet18@1x3x160x160@data=1x3x2x2");
  EXPECT_EQ(network_name("resnet18", {}), "resnet18");
  // The shape changes the layers after it: the first convolution has (160/2)^2 outputs per channel.
  EXPECT_EQ(out_shape(g, "conv1"), (Shape{1, 64, 80, 80}));

  // A shape given twice, in the name and by the option, or for an input that is not there, is an error.
  LoadOptions option;
  option.input_shapes.push_back(parse_input_shape_option("1x3x64x64"));
  EXPECT_THAT([&] { load_network("resnet18@1x3x160x160", option); },
              ::testing::ThrowsMessage<Error>(::testing::Eq(
                  "\"resnet18@1x3x160x160\": the first input is set both in the name and by --input-shape, "
                  "expected one of them")));
  EXPECT_THAT([] { load_network("resnet18@1x3x64x64@1x3x5x5"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("the first input has two shapes, expected one")));
  EXPECT_THAT([] { load_network("resnet18@nope=1x3x64x64"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("the input shape given names \"nope\"")));
  EXPECT_THAT(
      [] { load_network("resnet18@1x3x0x4"); },
      ::testing::ThrowsMessage<Error>(StartsWith("\"resnet18@1x3x0x4\" input shape: shape \"1x3x0x4\"")));
  EXPECT_THAT([] { load_network("@1x3x4x4"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("no network before '@'")));
}

// A file whose name has an '@' is that file, not a name with a shape.
TEST(CaffeNet, AnExistingFileWithAnAtInItsNameIsThatFile) {
  const std::string dir = ::testing::TempDir() + "convergy_at_name";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/net@2x.prototxt";
  const std::string src =
      std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/nets/convnet_L5_F128_K2x2_3_K3x3_2_W50.prototxt";
  std::filesystem::copy_file(src, path, std::filesystem::copy_options::overwrite_existing);
  const Graph g = load_network(path);
  EXPECT_EQ(g.source(), path);
  EXPECT_EQ(out_shape(g, "conv5"), (Shape{1, 128, 55, 55}));
  // ... and can itself be given a shape after its name.
  EXPECT_EQ(load_network(path + "@1x3x64x64").blob(g.inputs().front()).shape, (Shape{1, 3, 64, 64}));
}

}  // namespace
}  // namespace convergy

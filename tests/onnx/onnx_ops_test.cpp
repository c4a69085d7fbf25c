// One small ONNX model per supported op (and per op form), built through the ONNX protobuf API; each test
// checks the layer the importer made, its parameters and the resulting shape.
#include "features/features.h"
#include "onnx/model_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace convergy {
namespace {

using testing::ModelBuilder;
using testing::only_layer;
using testing::set_attr;
using testing::total_params;

Shape out_shape(const Graph& g) { return g.blob(g.outputs().at(0)).shape; }

TEST(OnnxConv, GroupsDilationsAndAsymmetricPads) {
  ModelBuilder b;
  b.input("x", {1, 8, 13, 17}).weight("w", {16, 4, 3, 3}).weight("bias", {16}).output("y");
  auto& n = b.node("Conv", {"x", "w", "bias"}, {"y"});
  set_attr(n, "group", int64_t{2});
  set_attr(n, "dilations", std::vector<int64_t>{2, 1});
  set_attr(n, "pads", std::vector<int64_t>{1, 0, 2, 3});  // top, left, bottom, right
  set_attr(n, "strides", std::vector<int64_t>{2, 2});
  Graph g = b.import();
  const auto& p = only_layer(g, LayerKind::Convolution).p<ConvParams>();
  EXPECT_EQ(p.groups, 2);
  EXPECT_EQ(p.dilation_h, 2);
  EXPECT_EQ(p.dilation_w, 1);
  EXPECT_EQ(p.pad_top, 1);
  EXPECT_EQ(p.pad_left, 0);
  EXPECT_EQ(p.pad_bottom, 2);
  EXPECT_EQ(p.pad_right, 3);
  EXPECT_TRUE(p.bias);
  // H: (13 + 3 - (2*2+1)) / 2 + 1 = 6; W: (17 + 3 - 3) / 2 + 1 = 9.
  EXPECT_EQ(out_shape(g), (Shape{1, 16, 6, 9}));
  EXPECT_EQ(total_params(g), 16u * 4 * 3 * 3 + 16);
}

struct AutoPadCase {
  const char* mode;
  int64_t top, left, bottom, right;
  int64_t out_h, out_w;
};

class OnnxConvAutoPad : public ::testing::TestWithParam<AutoPadCase> {};

TEST_P(OnnxConvAutoPad, MatchesTheOnnxDefinition) {
  const auto& c = GetParam();
  // 3x4 kernel, stride 2, input 7x10: SAME gives ceil(7/2)=4, ceil(10/2)=5 outputs.
  // Total padding H: (4-1)*2+3-7 = 2 -> 1/1; W: (5-1)*2+4-10 = 2 -> 1/1. With a 2x2 kernel H needs
  // (4-1)*2+2-7 = 1: odd, so UPPER puts it at the bottom and LOWER at the top.
  ModelBuilder b;
  b.input("x", {1, 3, 7, 10}).weight("w", {4, 3, 2, 4}).output("y");
  auto& n = b.node("Conv", {"x", "w"}, {"y"});
  set_attr(n, "auto_pad", std::string(c.mode));
  set_attr(n, "strides", std::vector<int64_t>{2, 2});
  Graph g = b.import();
  const auto& p = only_layer(g, LayerKind::Convolution).p<ConvParams>();
  EXPECT_EQ(p.pad_top, c.top);
  EXPECT_EQ(p.pad_left, c.left);
  EXPECT_EQ(p.pad_bottom, c.bottom);
  EXPECT_EQ(p.pad_right, c.right);
  EXPECT_FALSE(p.bias);
  EXPECT_EQ(out_shape(g), (Shape{1, 4, c.out_h, c.out_w}));
}

INSTANTIATE_TEST_SUITE_P(Modes, OnnxConvAutoPad,
                         ::testing::Values(AutoPadCase{"SAME_UPPER", 0, 1, 1, 1, 4, 5},
                                           AutoPadCase{"SAME_LOWER", 1, 1, 0, 1, 4, 5},
                                           AutoPadCase{"VALID", 0, 0, 0, 0, 3, 4}));

TEST(OnnxGemm, TransBPicksTheOutputAxis) {
  for (int64_t trans : {0, 1}) {
    ModelBuilder b;
    b.input("x", {2, 20}).output("y");
    if (trans)
      b.weight("w", {30, 20});
    else
      b.weight("w", {20, 30});
    b.weight("c", {30});
    auto& n = b.node("Gemm", {"x", "w", "c"}, {"y"});
    set_attr(n, "transB", trans);
    Graph g = b.import();
    const auto& p = only_layer(g, LayerKind::InnerProduct).p<InnerProductParams>();
    EXPECT_EQ(p.num_output, 30) << "transB=" << trans;
    EXPECT_TRUE(p.bias);
    EXPECT_EQ(out_shape(g), (Shape{2, 30}));
    EXPECT_EQ(network_features(g).macs, 2u * 20 * 30);
    EXPECT_EQ(total_params(g), 20u * 30 + 30);
  }
}

TEST(OnnxGemm, WrongInnerDimensionIsBadInput) {
  ModelBuilder b;
  b.input("x", {1, 20}).weight("w", {30, 21}).output("y");
  set_attr(b.node("Gemm", {"x", "w"}, {"y"}, "fc"), "transB", int64_t{1});
  std::string msg = testing::bad_input_message([&] { b.import(); });
  EXPECT_THAT(msg, ::testing::HasSubstr("\"fc\" (Gemm)"));
  EXPECT_THAT(msg, ::testing::HasSubstr("20 features"));
}

TEST(OnnxMatMul, ConstantWeightAndFollowingBiasAddBecomeOneInnerProduct) {
  ModelBuilder b;
  b.input("x", {1, 5, 12}).weight("w", {12, 7}).weight("bias", {7}).output("y");
  b.node("MatMul", {"x", "w"}, {"t"});
  b.node("Add", {"t", "bias"}, {"y"});
  Graph g = b.import();
  ASSERT_EQ(g.num_layers(), 2);  // Input + InnerProduct
  const auto& p = only_layer(g, LayerKind::InnerProduct).p<InnerProductParams>();
  EXPECT_TRUE(p.bias);
  EXPECT_EQ(p.num_output, 7);
  EXPECT_EQ(out_shape(g), (Shape{1, 5, 7}));
  EXPECT_EQ(network_features(g).macs, 5u * 12 * 7);
  EXPECT_EQ(total_params(g), 12u * 7 + 7);
}

TEST(OnnxMatMul, TwoRuntimeOperandsBecomeAMatMulLayer) {
  ModelBuilder b;
  b.input("a", {2, 4, 8}).input("c", {1, 8, 5}).output("y");
  b.node("MatMul", {"a", "c"}, {"y"}, "attention");
  Graph g = b.import();
  const Layer& m = only_layer(g, LayerKind::MatMul);
  EXPECT_EQ(m.name, "attention");
  EXPECT_EQ(out_shape(g), (Shape{2, 4, 5}));
  EXPECT_EQ(network_features(g).macs, 2u * 4 * 5 * 8);
  EXPECT_EQ(total_params(g), 0u);
}

TEST(OnnxMatMul, ARankOneRuntimeOperandIsReportedUnsupported) {
  ModelBuilder b;
  b.input("a", {1, 4, 8}).input("v", {8}).output("y");
  b.node("MatMul", {"a", "v"}, {"y"}, "dot");
  std::string msg = testing::bad_input_message([&] { b.import(); });
  EXPECT_THAT(msg, ::testing::HasSubstr("\"dot\" (MatMul)"));
  EXPECT_THAT(msg, ::testing::HasSubstr("rank-1 operand"));
}

// ViT's front: a class token expanded to the batch through Equal/Where on a shape, concatenated before the
// patch tokens, then a position embedding added; the queries divided by a constant.
TEST(OnnxConstants, ClassTokenAndPositionEmbeddingBecomeConstantLayers) {
  ModelBuilder b;
  b.input("x", {-1, 4, 6}).weight("token", {1, 1, 6}).weight("pos", {1, 5, 6}).output("y");
  // torch writes expand(n, -1, -1) as Expand to Where(Equal([n, -1, -1], -1), 1, [n, -1, -1]) = [n, 1, 1].
  b.node("Shape", {"x"}, {"x_shape"});
  b.ints("zero", {0}, true);
  b.node("Gather", {"x_shape", "zero"}, {"batch"});
  b.ints("axes", {0});
  b.node("Unsqueeze", {"batch", "axes"}, {"batch1"});
  b.ints("rest", {-1, -1});
  auto& cat = b.node("Concat", {"batch1", "rest"}, {"requested"});
  set_attr(cat, "axis", int64_t{0});
  b.ints("minus", {-1, -1, -1}).ints("ones", {1, 1, 1});
  b.node("Equal", {"requested", "minus"}, {"is_any"});
  b.node("Where", {"is_any", "ones", "requested"}, {"target"});
  b.node("Expand", {"token", "target"}, {"tokens"}, "expand");
  auto& join = b.node("Concat", {"tokens", "x"}, {"joined"}, "join");
  set_attr(join, "axis", int64_t{1});
  b.node("Add", {"joined", "pos"}, {"embedded"}, "add_pos");
  b.floats("scale", {4.0f}, true);
  b.node("Div", {"embedded", "scale"}, {"y"}, "scale_q");
  LoadOptions batch3;
  batch3.input_shapes.push_back({"x", Shape{3, 4, 6}});
  for (const LoadOptions& options : {LoadOptions{}, batch3}) {
    const int64_t n = options.input_shapes.empty() ? 1 : 3;
    Graph g = b.import(options);
    SCOPED_TRACE(n);
    EXPECT_EQ(out_shape(g), (Shape{n, 5, 6}));
    int constants = 0;
    for (const Layer& l : g.layers()) {
      if (l.kind != LayerKind::Constant) continue;
      ++constants;
      const auto& p = l.p<ConstantParams>();
      if (l.name == "tokens") {
        EXPECT_EQ(p.shape, (Shape{n, 1, 6}));
        EXPECT_EQ(p.value_shape, (Shape{1, 1, 6})) << "the token is stored once";
      } else {
        EXPECT_EQ(l.name, "pos");
        EXPECT_EQ(p.shape, (Shape{1, 5, 6}));
      }
    }
    EXPECT_EQ(constants, 2);
    EXPECT_EQ(total_params(g), 6u + 30u) << "the token and the embedding, as PyTorch counts them";
    EXPECT_EQ(only_layer(g, LayerKind::Concat).inputs.size(), 2u);
    EXPECT_EQ(only_layer(g, LayerKind::Eltwise).p<EltwiseParams>().op, EltwiseOp::Sum);
    EXPECT_FLOAT_EQ(only_layer(g, LayerKind::Power).p<PowerParams>().scale, 0.25f);
  }
}

// Swin's shifted windows compute their padding, window indices and attention mask from shapes with Mod,
// Range, ScatterND and Not; all fold. Here they build a reshape target, and a mask read as data.
TEST(OnnxConstants, ModRangeScatterAndNotFold) {
  ModelBuilder b;
  b.input("x", {1, 24}).input("v", {1, 24, 1}).output("y").output("z");
  b.ints("minus3", {-3}, true).ints("four", {4}, true).ints("seven", {7}, true).ints("one", {1}, true);
  b.node("Mod", {"minus3", "four"}, {"m1"});  // 1: the sign of the divisor, as Python's %
  b.node("Add", {"m1", "one"}, {"d0"});       // 2
  b.node("Mod", {"seven", "four"}, {"d1"});   // 3
  b.ints("two", {2}, true).ints("eight", {8}, true);
  b.node("Range", {"two", "eight", "two"}, {"r"});  // [2, 4, 6]
  b.ints("at1", {1}, true);
  b.node("Gather", {"r", "at1"}, {"d2"});  // 4
  b.ints("axes", {0});
  b.node("Unsqueeze", {"d0", "axes"}, {"u0"});
  b.node("Unsqueeze", {"d1", "axes"}, {"u1"});
  b.node("Unsqueeze", {"d2", "axes"}, {"u2"});
  auto& cat = b.node("Concat", {"u0", "u1", "u2"}, {"target"});
  set_attr(cat, "axis", int64_t{0});
  b.node("Reshape", {"x", "target"}, {"y"}, "to_2x3x4");
  // [1, 1, 1] with 24 written at index 1, then every value but the 24 replaced by -1 through Not(Equal).
  b.ints("ones", {1, 1, 1}).ints("at", {1}).ints("what", {24});
  b.node("ScatterND", {"ones", "at", "what"}, {"scattered"});  // [1, 24, 1]
  b.ints("n24", {24}, true).ints("minus1", {-1}, true);
  b.node("Equal", {"scattered", "n24"}, {"is24"});
  b.node("Not", {"is24"}, {"not24"});
  b.node("Where", {"not24", "minus1", "scattered"}, {"shape2"});  // [-1, 24, -1]: invalid if Not were wrong
  b.ints("from", {0}).ints("to", {2}).ints("one1", {1});
  b.node("Slice", {"shape2", "from", "to"}, {"shape2b"});  // [-1, 24]
  auto& cat2 = b.node("Concat", {"shape2b", "one1"}, {"shape3"});
  set_attr(cat2, "axis", int64_t{0});
  b.node("Reshape", {"v", "shape3"}, {"z"}, "to_1x24x1");
  Graph g = b.import();
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{2, 3, 4}));
  EXPECT_EQ(g.blob(g.outputs().at(1)).shape, (Shape{1, 24, 1}));
}

// A constant read as data counts the learned values behind it: a bias gathered from a learned table counts
// the table (PyTorch's count), a mask built from shapes counts nothing.
TEST(OnnxConstants, ParametersOfGatheredAndComputedConstants) {
  ModelBuilder b;
  b.input("x", {1, 4, 4}).weight("table", {9, 2}).output("y");
  b.ints("index", {0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6});
  b.node("Gather", {"table", "index"}, {"gathered"});  // 16 x 2 from 9 x 2
  b.ints("shape", {4, 4, 2});
  b.node("Reshape", {"gathered", "shape"}, {"g3"});
  auto& tr = b.node("Transpose", {"g3"}, {"bias"});
  set_attr(tr, "perm", std::vector<int64_t>{2, 0, 1});  // 2 x 4 x 4
  b.ints("mask_shape", {1, 4, 4});
  b.node("ConstantOfShape", {"mask_shape"}, {"mask"});  // zeros, from a shape
  b.node("Add", {"x", "bias"}, {"biased"}, "add_bias");
  b.node("Add", {"biased", "mask"}, {"y"}, "add_mask");
  Graph g = b.import();
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{2, 4, 4}));
  int constants = 0;
  for (const Layer& l : g.layers()) {
    if (l.kind != LayerKind::Constant) continue;
    ++constants;
    EXPECT_EQ(l.p<ConstantParams>().learned, l.name == "bias" ? 18 : 0) << l.name;
  }
  EXPECT_EQ(constants, 2);
  EXPECT_EQ(total_params(g), 18u) << "the 9 x 2 table, not the 2 x 4 x 4 values read from it";
}

TEST(OnnxConstants, StridedSliceOfARuntimeTensor) {
  ModelBuilder b;
  b.input("x", {1, 8, 6}).output("y");
  b.ints("starts", {1}).ints("ends", {8}).ints("axes", {1}).ints("steps", {2});
  b.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"}, "odd_rows");
  Graph g = b.import();
  const auto& p = only_layer(g, LayerKind::Slice).p<SliceParams>();
  EXPECT_EQ(p.axis, 1);
  EXPECT_EQ(p.step, 2);
  EXPECT_EQ(p.ranges, (std::vector<std::pair<int64_t, int64_t>>{{1, 8}}));
  EXPECT_EQ(out_shape(g), (Shape{1, 4, 6}));  // rows 1, 3, 5, 7
}

TEST(OnnxConstants, FoldingRulesRefuseWhatTheyCannotFold) {
  {
    ModelBuilder b;
    b.input("x", {1, 3}).output("y");
    b.ints("four", {4}, true);
    b.node("Mod", {"x", "four"}, {"y"}, "mod_rt");
    EXPECT_THAT(testing::bad_input_message([&] { b.import(); }),
                ::testing::HasSubstr("\"mod_rt\" (Mod): Mod of runtime tensors"));
  }
  {
    ModelBuilder b;
    b.input("x", {1, 3}).output("y");
    b.ints("zero", {0}, true).ints("five", {5}, true);
    b.node("Range", {"zero", "five", "zero"}, {"r"}, "no_step");
    b.node("Reshape", {"x", "r"}, {"y"});
    EXPECT_THAT(testing::bad_input_message([&] { b.import(); }),
                ::testing::HasSubstr("delta is 0, expected a non-zero step"));
  }
  {
    ModelBuilder b;
    b.input("x", {1, 3}).output("y");
    b.ints("where", {0}).floats("what", {1.0f});
    b.node("ScatterND", {"x", "where", "what"}, {"y"}, "scatter_rt");
    EXPECT_THAT(testing::bad_input_message([&] { b.import(); }),
                ::testing::HasSubstr("\"scatter_rt\" (ScatterND): ScatterND with a runtime tensor"));
  }
}

TEST(OnnxConstants, AnIntegerConstantIsNoRuntimeTensor) {
  ModelBuilder b;
  b.input("x", {1, 3}).output("y");
  b.ints("k", {1, 2, 3});
  b.node("Add", {"x", "k"}, {"y"}, "add_ints");
  std::string msg = testing::bad_input_message([&] { b.import(); });
  EXPECT_THAT(msg, ::testing::HasSubstr("\"add_ints\" (Add)"));
  EXPECT_THAT(msg, ::testing::HasSubstr("integer constant"));
}

TEST(OnnxGather, OneIndexOfARuntimeTensorIsASliceThenAReshape) {
  ModelBuilder b;
  b.input("x", {1, 5, 8}).output("y").output("z");
  b.ints("first", {0}, true);
  auto& g1 = b.node("Gather", {"x", "first"}, {"y"}, "class_token");
  set_attr(g1, "axis", int64_t{1});
  b.ints("last", {-1});
  auto& g2 = b.node("Gather", {"x", "last"}, {"z"}, "last_token");
  set_attr(g2, "axis", int64_t{1});
  Graph g = b.import();
  const auto outs = g.outputs();
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(g.blob(outs[0]).shape, (Shape{1, 8})) << "a scalar index drops the axis";
  EXPECT_EQ(g.blob(outs[1]).shape, (Shape{1, 1, 8})) << "a 1-element index keeps it";
  int slices = 0;
  for (const Layer& l : g.layers())
    if (l.kind == LayerKind::Slice) {
      ++slices;
      const auto& p = l.p<SliceParams>();
      EXPECT_EQ(p.axis, 1);
      ASSERT_EQ(p.ranges.size(), 1u);
      EXPECT_TRUE(p.ranges[0] == std::make_pair(int64_t{0}, int64_t{1}) ||
                  p.ranges[0] == std::make_pair(int64_t{4}, int64_t{5}));
    }
  EXPECT_EQ(slices, 2);

  ModelBuilder two;
  two.input("x", {1, 5, 8}).output("y");
  two.ints("idx", {0, 2});
  auto& n = two.node("Gather", {"x", "idx"}, {"y"}, "pick");
  set_attr(n, "axis", int64_t{1});
  std::string msg = testing::bad_input_message([&] { two.import(); });
  EXPECT_THAT(msg, ::testing::HasSubstr("\"pick\" (Gather)"));
  EXPECT_THAT(msg, ::testing::HasSubstr("more than one index"));
}

TEST(OnnxPool, MaxPoolCeilModeAndAveragePoolCountIncludePad) {
  ModelBuilder b(12);
  b.input("x", {1, 4, 10, 10}).output("m").output("a");
  auto& m = b.node("MaxPool", {"x"}, {"m"});
  set_attr(m, "kernel_shape", std::vector<int64_t>{3, 3});
  set_attr(m, "strides", std::vector<int64_t>{2, 2});
  set_attr(m, "ceil_mode", int64_t{1});
  auto& a = b.node("AveragePool", {"x"}, {"a"});
  set_attr(a, "kernel_shape", std::vector<int64_t>{3, 3});
  set_attr(a, "strides", std::vector<int64_t>{2, 2});
  set_attr(a, "pads", std::vector<int64_t>{1, 1, 1, 1});
  set_attr(a, "count_include_pad", int64_t{1});
  Graph g = b.import();
  const Layer& max = g.layer(g.find_layer("MaxPool_0"));
  const Layer& avg = g.layer(g.find_layer("AveragePool_1"));
  EXPECT_EQ(max.p<PoolParams>().rounding, PoolRounding::Ceil);
  EXPECT_EQ(max.p<PoolParams>().method, PoolMethod::Max);
  // ceil((10 - 3) / 2) + 1 = 5 with ceil_mode; floor would give 4.
  EXPECT_EQ(g.blob(max.outputs[0]).shape, (Shape{1, 4, 5, 5}));
  EXPECT_EQ(avg.p<PoolParams>().rounding, PoolRounding::Floor);
  EXPECT_TRUE(avg.p<PoolParams>().count_include_pad);
  EXPECT_EQ(avg.p<PoolParams>().method, PoolMethod::Average);
  EXPECT_EQ(g.blob(avg.outputs[0]).shape, (Shape{1, 4, 5, 5}));  // (10 + 2 - 3) / 2 + 1
}

TEST(OnnxPool, AveragePoolExcludesPaddingByDefault) {
  ModelBuilder b;
  b.input("x", {1, 2, 8, 8}).output("y");
  auto& a = b.node("AveragePool", {"x"}, {"y"});
  set_attr(a, "kernel_shape", std::vector<int64_t>{2, 2});
  Graph g = b.import();
  EXPECT_FALSE(only_layer(g, LayerKind::Pooling).p<PoolParams>().count_include_pad);
  EXPECT_EQ(out_shape(g), (Shape{1, 2, 7, 7}));
}

TEST(OnnxPool, GlobalPoolsAndReduceMean) {
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    ModelBuilder b;
    b.input("x", {1, 6, 7, 9}).output("y");
    b.node(op, {"x"}, {"y"});
    Graph g = b.import();
    const auto& p = only_layer(g, LayerKind::Pooling).p<PoolParams>();
    EXPECT_TRUE(p.global) << op;
    EXPECT_EQ(p.method, std::string(op) == "GlobalMaxPool" ? PoolMethod::Max : PoolMethod::Average);
    EXPECT_EQ(out_shape(g), (Shape{1, 6, 1, 1}));
  }
  for (int64_t keep : {0, 1}) {
    ModelBuilder b;
    b.input("x", {1, 6, 7, 9}).output("y");
    auto& r = b.node("ReduceMean", {"x"}, {"y"});
    set_attr(r, "axes", std::vector<int64_t>{-2, -1});
    set_attr(r, "keepdims", keep);
    Graph g = b.import();
    EXPECT_TRUE(only_layer(g, LayerKind::Pooling).p<PoolParams>().global);
    EXPECT_EQ(out_shape(g), keep ? (Shape{1, 6, 1, 1}) : (Shape{1, 6}));
  }
}

TEST(OnnxPool, ReduceMeanOverChannelsIsUnsupported) {
  ModelBuilder b;
  b.input("x", {1, 6, 7, 9}).output("y");
  set_attr(b.node("ReduceMean", {"x"}, {"y"}, "rm"), "axes", std::vector<int64_t>{1});
  EXPECT_THAT(testing::bad_input_message([&] { b.import(); }), ::testing::HasSubstr("\"rm\" (ReduceMean)"));
}

TEST(OnnxBatchNorm, ScaleAndBiasAreLearnableStatisticsAreNot) {
  ModelBuilder b;
  b.input("x", {1, 5, 4, 4})
      .weight("s", {5})
      .weight("bb", {5})
      .weight("mean", {5})
      .weight("var", {5})
      .output("y");
  set_attr(b.node("BatchNormalization", {"x", "s", "bb", "mean", "var"}, {"y"}), "epsilon", 1e-3f);
  Graph g = b.import();
  const Layer& bn = only_layer(g, LayerKind::BatchNorm);
  EXPECT_TRUE(bn.p<BatchNormParams>().affine);
  EXPECT_FLOAT_EQ(bn.p<BatchNormParams>().eps, 1e-3f);
  auto f = network_features(g);
  EXPECT_EQ(f.params, 10u);
  uint64_t stored = 0;
  for (const auto& l : f.layers) stored += l.weight_elems;
  EXPECT_EQ(stored, 20u);
}

TEST(OnnxActivation, EachOpMapsToItsLayer) {
  struct Case {
    const char* op;
    int opset;
    LayerKind kind;
  };
  for (const Case& c :
       {Case{"Relu", 13, LayerKind::ReLU}, Case{"Sigmoid", 13, LayerKind::Sigmoid},
        Case{"Tanh", 13, LayerKind::TanH}, Case{"HardSwish", 14, LayerKind::HardSwish},
        Case{"HardSigmoid", 13, LayerKind::HardSigmoid}, Case{"LeakyRelu", 13, LayerKind::LeakyReLU},
        Case{"Softmax", 13, LayerKind::Softmax}, Case{"Identity", 13, LayerKind::Input}}) {
    ModelBuilder b(c.opset);
    b.input("x", {1, 3, 4, 4}).output("y");
    b.node(c.op, {"x"}, {"y"});
    // Identity makes no layer: the output is the input blob itself.
    if (c.kind == LayerKind::Input) {
      Graph g = b.import();
      EXPECT_EQ(g.num_layers(), 1) << c.op;
      continue;
    }
    Graph g = b.import();
    EXPECT_EQ(only_layer(g, c.kind).kind, c.kind) << c.op;
    EXPECT_EQ(out_shape(g), (Shape{1, 3, 4, 4})) << c.op;
  }
}

TEST(OnnxActivation, LeakyReluAndHardSigmoidAttributes) {
  ModelBuilder b;
  b.input("x", {1, 3}).output("y");
  set_attr(b.node("LeakyRelu", {"x"}, {"t"}), "alpha", 0.2f);
  auto& h = b.node("HardSigmoid", {"t"}, {"y"});
  set_attr(h, "alpha", 0.25f);
  Graph g = b.import();
  EXPECT_FLOAT_EQ(only_layer(g, LayerKind::LeakyReLU).p<LeakyReLUParams>().slope, 0.2f);
  EXPECT_FLOAT_EQ(only_layer(g, LayerKind::HardSigmoid).p<HardSigmoidParams>().alpha, 0.25f);
  EXPECT_FLOAT_EQ(only_layer(g, LayerKind::HardSigmoid).p<HardSigmoidParams>().beta, 0.5f);
}

TEST(OnnxActivation, ClipReadsAttributesBeforeOpset11AndInputsAfter) {
  {
    ModelBuilder b(10);
    b.input("x", {1, 3}).output("y");
    auto& n = b.node("Clip", {"x"}, {"y"});
    set_attr(n, "min", 0.0f);
    set_attr(n, "max", 6.0f);
    const Graph g = b.import();  // kept: p refers into it
    const auto& p = only_layer(g, LayerKind::Clip).p<ClipParams>();
    EXPECT_FLOAT_EQ(p.min, 0.0f);
    EXPECT_FLOAT_EQ(p.max, 6.0f);
  }
  {
    ModelBuilder b(13);
    b.input("x", {1, 3}).floats("lo", {-1.0f}, true).floats("hi", {4.0f}, true).output("y");
    b.node("Clip", {"x", "lo", "hi"}, {"y"});
    const Graph g = b.import();  // kept: p refers into it
    const auto& p = only_layer(g, LayerKind::Clip).p<ClipParams>();
    EXPECT_FLOAT_EQ(p.min, -1.0f);
    EXPECT_FLOAT_EQ(p.max, 4.0f);
  }
}

TEST(OnnxActivation, PReluPerChannelAndShared) {
  for (int64_t slopes : {1, 6}) {
    ModelBuilder b;
    b.input("x", {1, 6, 2, 2}).weight("slope", {slopes, 1, 1}).output("y");
    b.node("PRelu", {"x", "slope"}, {"y"});
    Graph g = b.import();
    EXPECT_EQ(only_layer(g, LayerKind::PReLU).p<PReLUParams>().channel_shared, slopes == 1);
    EXPECT_EQ(total_params(g), static_cast<uint64_t>(slopes));
  }
}

TEST(OnnxActivation, SoftmaxDefaultAxisChangedInOpset13) {
  for (int opset : {11, 13}) {
    ModelBuilder b(opset);
    b.input("x", {2, 3, 4}).output("y");
    b.node("Softmax", {"x"}, {"y"});
    EXPECT_EQ(only_layer(b.import(), LayerKind::Softmax).p<SoftmaxParams>().axis, opset < 13 ? 1 : 2);
  }
}

TEST(OnnxPattern, SigmoidTimesInputIsSwish) {
  ModelBuilder b;
  b.input("x", {1, 8, 4, 4}).output("y");
  b.node("Sigmoid", {"x"}, {"s"});
  b.node("Mul", {"s", "x"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);
  only_layer(g, LayerKind::Swish);
  EXPECT_EQ(g.blob(g.outputs().at(0)).name, "y");
}

TEST(OnnxPattern, SigmoidUsedTwiceStaysSigmoid) {
  ModelBuilder b;
  b.input("x", {1, 8}).output("y").output("s");
  b.node("Sigmoid", {"x"}, {"s"});
  b.node("Mul", {"x", "s"}, {"y"});
  Graph g = b.import();
  only_layer(g, LayerKind::Sigmoid);
  EXPECT_EQ(only_layer(g, LayerKind::Eltwise).p<EltwiseParams>().op, EltwiseOp::Prod);
}

TEST(OnnxPattern, InputTimesHardSigmoidIsHardSwish) {
  ModelBuilder b;
  b.input("x", {1, 8, 4, 4}).output("y");
  set_attr(b.node("HardSigmoid", {"x"}, {"h"}), "alpha", 1.0f / 6.0f);
  b.node("Mul", {"x", "h"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);
  only_layer(g, LayerKind::HardSwish);
}

TEST(OnnxEltwise, SqueezeExcitationScalingBroadcasts) {
  ModelBuilder b;
  b.input("x", {1, 16, 7, 7}).weight("w1", {4, 16, 1, 1}).weight("w2", {16, 4, 1, 1}).output("y");
  b.node("GlobalAveragePool", {"x"}, {"p"});
  b.node("Conv", {"p", "w1"}, {"r"});
  b.node("Relu", {"r"}, {"r2"});
  b.node("Conv", {"r2", "w2"}, {"e"});
  b.node("Sigmoid", {"e"}, {"gate"});
  b.node("Mul", {"x", "gate"}, {"y"});
  Graph g = b.import();
  const auto& mul = only_layer(g, LayerKind::Eltwise);
  EXPECT_EQ(mul.p<EltwiseParams>().op, EltwiseOp::Prod);
  EXPECT_EQ(out_shape(g), (Shape{1, 16, 7, 7}));
  only_layer(g, LayerKind::Sigmoid);  // the gate is not x * sigmoid(x)
}

TEST(OnnxEltwise, TheBroadcastOperandGoesSecond) {
  // Mul(gate, x) as torch writes RegNet's squeeze-and-excitation: the layer takes x first, the gate second.
  ModelBuilder b;
  b.input("x", {1, 16, 7, 7}).input("gate", {1, 16, 1, 1}).output("y");
  b.node("Mul", {"gate", "x"}, {"y"});
  Graph g = b.import();
  const auto& mul = only_layer(g, LayerKind::Eltwise);
  EXPECT_EQ(g.blob(mul.inputs[0]).name, "x");
  EXPECT_EQ(g.blob(mul.inputs[1]).name, "gate");
  EXPECT_EQ(out_shape(g), (Shape{1, 16, 7, 7}));
}

TEST(OnnxEltwise, AddSumMax) {
  ModelBuilder b;
  b.input("a", {1, 4, 3, 3}).input("c", {1, 4, 1, 1}).output("y");
  b.node("Add", {"a", "c"}, {"s"});
  b.node("Max", {"s", "a"}, {"m"});
  b.node("Sum", {"m", "a", "s"}, {"y"});
  Graph g = b.import();
  std::vector<EltwiseOp> ops;
  for (const auto& l : g.layers())
    if (l.kind == LayerKind::Eltwise) ops.push_back(l.p<EltwiseParams>().op);
  EXPECT_EQ(ops, (std::vector<EltwiseOp>{EltwiseOp::Sum, EltwiseOp::Max, EltwiseOp::Sum}));
  EXPECT_EQ(out_shape(g), (Shape{1, 4, 3, 3}));
}

TEST(OnnxEltwise, AddOfAConstantTensorReadsAConstantLayerNotDropped) {
  ModelBuilder b;
  b.input("x", {1, 4}).weight("k", {4}).output("y");
  b.node("Add", {"x", "k"}, {"y"}, "add_const");
  Graph g = b.import();
  const Layer& add = only_layer(g, LayerKind::Eltwise);
  EXPECT_EQ(add.name, "add_const");
  ASSERT_EQ(add.inputs.size(), 2u);
  EXPECT_EQ(g.layer(g.blob(add.inputs[1]).producer).kind, LayerKind::Constant);
  EXPECT_EQ(total_params(g), 4u);
}

TEST(OnnxTensor, ConcatFlattenReshapeTranspose) {
  ModelBuilder b;
  b.input("a", {1, 2, 3, 4}).input("c", {1, 5, 3, 4}).ints("shape", {0, -1, 4}).output("f").output("t");
  set_attr(b.node("Concat", {"a", "c"}, {"cat"}), "axis", int64_t{1});
  b.node("Flatten", {"cat"}, {"f"});
  b.node("Reshape", {"cat", "shape"}, {"r"});
  set_attr(b.node("Transpose", {"r"}, {"t"}), "perm", std::vector<int64_t>{0, 2, 1});
  Graph g = b.import();
  EXPECT_EQ(only_layer(g, LayerKind::Concat).p<ConcatParams>().axis, 1);
  EXPECT_EQ(g.blob(g.outputs()[0]).shape, (Shape{1, 84}));
  EXPECT_EQ(g.blob(g.layer(g.find_layer("Reshape_2")).outputs[0]).shape, (Shape{1, 21, 4}));
  EXPECT_EQ(only_layer(g, LayerKind::Permute).p<PermuteParams>().order, (std::vector<int>{0, 2, 1}));
  EXPECT_EQ(g.blob(g.outputs()[1]).shape, (Shape{1, 4, 21}));
}

TEST(OnnxTensor, FlattenAtAxisTwoGivesTwoDimensions) {
  ModelBuilder b;
  b.input("x", {2, 3, 4, 5}).output("y");
  set_attr(b.node("Flatten", {"x"}, {"y"}), "axis", int64_t{2});
  EXPECT_EQ(out_shape(b.import()), (Shape{6, 20}));
}

TEST(OnnxTensor, SplitByAttributeBeforeOpset13AndByInputAfter) {
  for (int opset : {11, 13}) {
    ModelBuilder b(opset);
    b.input("x", {1, 10, 2, 2}).output("p").output("q");
    auto& n =
        b.node("Split", opset < 13 ? std::vector<std::string>{"x"} : std::vector<std::string>{"x", "sizes"},
               {"p", "q"});
    set_attr(n, "axis", int64_t{1});
    if (opset < 13)
      set_attr(n, "split", std::vector<int64_t>{3, 7});
    else
      b.ints("sizes", {3, 7});
    Graph g = b.import();
    const auto& p = only_layer(g, LayerKind::Slice).p<SliceParams>();
    EXPECT_EQ(p.axis, 1);
    EXPECT_EQ(p.ranges, (std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 10}})) << "opset " << opset;
    EXPECT_EQ(g.blob(g.outputs()[1]).shape, (Shape{1, 7, 2, 2}));
  }
}

TEST(OnnxTensor, SliceOneAxisWithClampedEnd) {
  ModelBuilder b;
  b.input("x", {1, 10, 4, 4}).ints("starts", {-4}).ints("ends", {INT64_MAX}).ints("axes", {1}).output("y");
  b.node("Slice", {"x", "starts", "ends", "axes"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(only_layer(g, LayerKind::Slice).p<SliceParams>().ranges,
            (std::vector<std::pair<int64_t, int64_t>>{{6, 10}}));
  EXPECT_EQ(out_shape(g), (Shape{1, 4, 4, 4}));
}

TEST(OnnxTensor, SqueezeAndUnsqueezeBecomeReshapes) {
  ModelBuilder b;
  b.input("x", {1, 6, 1, 1}).ints("axes", {2, 3}).ints("front", {0}).output("y");
  b.node("Squeeze", {"x", "axes"}, {"s"});
  b.node("Unsqueeze", {"s", "front"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(g.blob(g.layer(g.find_layer("Squeeze_0")).outputs[0]).shape, (Shape{1, 6}));
  EXPECT_EQ(out_shape(g), (Shape{1, 1, 6}));
}

TEST(OnnxTensor, ChannelShufflePattern) {
  ModelBuilder b;
  b.input("x", {1, 12, 5, 5}).ints("grouped", {1, 3, 4, 5, 5}).ints("back", {1, -1, 5, 5}).output("y");
  b.node("Reshape", {"x", "grouped"}, {"r"});
  set_attr(b.node("Transpose", {"r"}, {"t"}), "perm", std::vector<int64_t>{0, 2, 1, 3, 4});
  b.node("Reshape", {"t", "back"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);
  EXPECT_EQ(only_layer(g, LayerKind::ChannelShuffle).p<ChannelShuffleParams>().groups, 3);
  EXPECT_EQ(out_shape(g), (Shape{1, 12, 5, 5}));
}

TEST(OnnxTensor, ShapeArithmeticFeedingReshapeFolds) {
  // x.view(x.size(0), -1) written the way torch exports it with a dynamic batch.
  ModelBuilder b;
  b.input("x", {-1, 4, 3, 3}).ints("zero", {0}, true).ints("axes", {0}).ints("minus1", {-1}).output("y");
  b.node("Shape", {"x"}, {"shape"});
  set_attr(b.node("Gather", {"shape", "zero"}, {"batch"}), "axis", int64_t{0});
  b.node("Unsqueeze", {"batch", "axes"}, {"batch1"});
  set_attr(b.node("Concat", {"batch1", "minus1"}, {"target"}), "axis", int64_t{0});
  set_attr(b.node("Cast", {"target"}, {"target64"}), "to", int64_t{onnx::TensorProto::INT64});
  b.node("Reshape", {"x", "target64"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);  // Input + Reshape: the shape arithmetic left no layers
  EXPECT_EQ(out_shape(g), (Shape{1, 36}));
}

TEST(OnnxConstant, ConstantAndConstantOfShapeFold) {
  // target = Concat(Shape(ConstantOfShape([2])), Constant([3])) = [2, 3].
  ModelBuilder b;
  b.input("x", {1, 2, 3}).output("y");
  auto add_int_constant = [&](const std::string& out, int64_t v) {
    auto* a = b.node("Constant", {}, {out}).add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    a->mutable_t()->add_dims(1);
    a->mutable_t()->add_int64_data(v);
  };
  add_int_constant("two", 2);
  add_int_constant("three", 3);
  b.node("ConstantOfShape", {"two"}, {"zeros"});
  b.node("Shape", {"zeros"}, {"shape_of_zeros"});
  set_attr(b.node("Concat", {"shape_of_zeros", "three"}, {"target"}), "axis", int64_t{0});
  b.node("Reshape", {"x", "target"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);
  EXPECT_EQ(out_shape(g), (Shape{2, 3}));
}

TEST(OnnxMisc, DropoutLrnAndPad) {
  ModelBuilder b;
  b.input("x", {1, 4, 6, 6}).ints("pads", {0, 0, 1, 2, 0, 0, 1, 2}).output("y");
  b.node("Dropout", {"x"}, {"d"});
  auto& lrn = b.node("LRN", {"d"}, {"l"});
  set_attr(lrn, "size", int64_t{3});
  set_attr(lrn, "alpha", 2e-4f);
  b.node("Pad", {"l", "pads"}, {"p"});
  auto& mp = b.node("MaxPool", {"p"}, {"y"});
  set_attr(mp, "kernel_shape", std::vector<int64_t>{2, 2});
  Graph g = b.import();
  only_layer(g, LayerKind::Dropout);
  EXPECT_EQ(only_layer(g, LayerKind::LRN).p<LRNParams>().local_size, 3);
  EXPECT_FLOAT_EQ(only_layer(g, LayerKind::LRN).p<LRNParams>().alpha, 2e-4f);
  // Zero padding is not -inf padding, so it stays a Pad layer in front of MaxPool.
  const auto& pad = only_layer(g, LayerKind::Pad).p<PadParams>();
  EXPECT_EQ(pad.begins, (std::vector<int64_t>{0, 0, 1, 2}));
  EXPECT_EQ(out_shape(g), (Shape{1, 4, 7, 9}));
}

TEST(OnnxMisc, ZeroPadBeforeConvFoldsIntoItsPadding) {
  ModelBuilder b;
  b.input("x", {1, 3, 8, 8}).ints("pads", {0, 0, 1, 0, 0, 0, 2, 1}).weight("w", {4, 3, 3, 3}).output("y");
  b.node("Pad", {"x", "pads"}, {"p"});
  auto& conv = b.node("Conv", {"p", "w"}, {"y"});
  set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);
  const auto& p = only_layer(g, LayerKind::Convolution).p<ConvParams>();
  EXPECT_EQ(p.pad_top, 2);
  EXPECT_EQ(p.pad_left, 1);
  EXPECT_EQ(p.pad_bottom, 3);
  EXPECT_EQ(p.pad_right, 2);
  EXPECT_EQ(out_shape(g), (Shape{1, 4, 11, 9}));
}

TEST(OnnxMisc, ReflectPadStaysALayer) {
  ModelBuilder b;
  b.input("x", {1, 3, 8, 8}).ints("pads", {0, 0, 1, 1, 0, 0, 1, 1}).weight("w", {4, 3, 3, 3}).output("y");
  set_attr(b.node("Pad", {"x", "pads"}, {"p"}), "mode", std::string("reflect"));
  b.node("Conv", {"p", "w"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(only_layer(g, LayerKind::Pad).p<PadParams>().mode, PadMode::Reflect);
  EXPECT_EQ(out_shape(g), (Shape{1, 4, 8, 8}));
}

// Swin pads every block's channels-last input to a multiple of its window; at 224x224 by nothing.
TEST(OnnxMisc, PaddingByNothingIsNoLayer) {
  ModelBuilder b;
  b.input("x", {1, 8, 8, 3}).ints("pads", {0, 0, 0, 0, 0, 0, 0, 0}).output("y");
  b.node("Pad", {"x", "pads"}, {"p"});
  b.node("Relu", {"p"}, {"y"});
  Graph g = b.import();
  for (const Layer& l : g.layers()) EXPECT_NE(l.kind, LayerKind::Pad);
  EXPECT_EQ(only_layer(g, LayerKind::ReLU).inputs.at(0), g.inputs().at(0));
  EXPECT_EQ(out_shape(g), (Shape{1, 8, 8, 3}));
}

}  // namespace
}  // namespace convergy

namespace convergy {
namespace {

using testing::ModelBuilder;
using testing::only_layer;
using testing::set_attr;

TEST(OnnxSimplify, FlattenIntoGemmLeavesTheFlatteningToTheInnerProduct) {
  ModelBuilder b;
  b.input("x", {1, 8, 2, 2}).weight("w", {5, 32}).output("y");
  b.node("Flatten", {"x"}, {"f"});
  set_attr(b.node("Gemm", {"f", "w"}, {"y"}), "transB", int64_t{1});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);
  EXPECT_EQ(g.blob(g.outputs()[0]).shape, (Shape{1, 5}));
  EXPECT_EQ(network_features(g).macs, 32u * 5);
}

TEST(OnnxSimplify, TwoSlicesThatTileAnAxisBecomeOneSliceWithTwoOutputs) {
  // torch's chunk(2, dim=1) from opset 11: two Slice nodes on the same input.
  ModelBuilder b;
  b.input("x", {1, 6, 3, 3}).ints("s0", {0}).ints("e0", {3}).ints("s1", {3}).ints("e1", {6}).ints("ax", {1});
  b.output("p").output("q");
  b.node("Slice", {"x", "s1", "e1", "ax"}, {"q"});
  b.node("Slice", {"x", "s0", "e0", "ax"}, {"p"});
  Graph g = b.import();
  const Layer& s = only_layer(g, LayerKind::Slice);
  EXPECT_EQ(s.p<SliceParams>().ranges, (std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 6}}));
  EXPECT_EQ(g.blob(s.outputs[0]).name, "p");
  EXPECT_EQ(g.blob(s.outputs[1]).name, "q");
  EXPECT_EQ(g.outputs().size(), 2u);
}

TEST(OnnxSimplify, SlicesThatDoNotTileStaySeparate) {
  ModelBuilder b;
  b.input("x", {1, 6, 3, 3}).ints("s0", {0}).ints("e0", {2}).ints("s1", {3}).ints("e1", {6}).ints("ax", {1});
  b.output("p").output("q");
  b.node("Slice", {"x", "s0", "e0", "ax"}, {"p"});
  b.node("Slice", {"x", "s1", "e1", "ax"}, {"q"});
  Graph g = b.import();
  int slices = 0;
  for (const auto& l : g.layers()) slices += l.kind == LayerKind::Slice;
  EXPECT_EQ(slices, 2);
}

TEST(OnnxSimplify, IdentityPoolingAndSingleInputConcatMakeNoLayers) {
  ModelBuilder b;
  b.input("x", {1, 4, 7, 7}).output("y");
  set_attr(b.node("AveragePool", {"x"}, {"p"}), "kernel_shape", std::vector<int64_t>{1, 1});
  set_attr(b.node("Concat", {"p"}, {"c"}), "axis", int64_t{1});
  b.node("Relu", {"c"}, {"y"});
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);  // Input + ReLU
}

TEST(OnnxSimplify, PadBeforeAveragePoolFoldsAsCountedPadding) {
  // torch writes avg_pool2d(padding=1, count_include_pad=True) as Pad + AveragePool.
  ModelBuilder b;
  b.input("x", {1, 4, 8, 8}).ints("pads", {0, 0, 1, 1, 0, 0, 1, 1}).output("y");
  b.node("Pad", {"x", "pads"}, {"p"});
  auto& a = b.node("AveragePool", {"p"}, {"y"});
  set_attr(a, "kernel_shape", std::vector<int64_t>{3, 3});
  set_attr(a, "pads", std::vector<int64_t>{0, 0, 0, 0});
  Graph g = b.import();
  const auto& p = only_layer(g, LayerKind::Pooling).p<PoolParams>();
  EXPECT_TRUE(p.count_include_pad);
  EXPECT_EQ(p.pad_top + p.pad_bottom + p.pad_left + p.pad_right, 4);
  EXPECT_EQ(g.blob(g.outputs()[0]).shape, (Shape{1, 4, 8, 8}));
}

TEST(OnnxOpset, OldestSupportedOpsetImports) {
  ModelBuilder b(7);
  b.input("x", {1, 3, 8, 8})
      .weight("w", {4, 3, 3, 3})
      .weight("fc", {10, 4 * 3 * 3})
      .weight("c", {10})
      .output("y");
  b.node("Conv", {"x", "w"}, {"c1"});
  b.node("Relu", {"c1"}, {"r"});
  auto& mp = b.node("MaxPool", {"r"}, {"m"});
  set_attr(mp, "kernel_shape", std::vector<int64_t>{2, 2});
  set_attr(mp, "strides", std::vector<int64_t>{2, 2});
  b.node("Flatten", {"m"}, {"f"});
  set_attr(b.node("Gemm", {"f", "fc", "c"}, {"y"}), "transB", int64_t{1});
  Graph g = b.import();
  EXPECT_EQ(g.blob(g.outputs()[0]).shape, (Shape{1, 10}));
}

}  // namespace
}  // namespace convergy

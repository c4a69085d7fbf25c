// Layer normalisation and GELU: the LayerNormalization op (opset 17), and the subgraphs torch writes for
// nn.LayerNorm and nn.GELU at lower opsets (ConvNeXt's blocks), each one layer; Pow, Sqrt and Erf anywhere
// else are refused by name. Also a runtime tensor times a per-channel or scalar constant (ConvNeXt's layer
// scale) -> Scale or Power.
#include "onnx/model_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace convergy {
namespace {

using testing::ModelBuilder;
using testing::only_layer;
using testing::set_attr;
using testing::total_params;

// torch's nn.LayerNorm(C) over the last axis of x, as opset-13 exports write it; `affine` adds the Mul by
// gamma and the Add of beta. Constants come from Constant nodes placed where torch places them: after the
// first ReduceMean that the importer matches from.
void layer_norm_subgraph(ModelBuilder& b, const std::string& x, const std::string& y, int64_t c,
                         bool affine) {
  set_attr(b.node("ReduceMean", {x}, {"mean"}), "axes", std::vector<int64_t>{-1});
  b.node("Sub", {x, "mean"}, {"d"});
  onnx::NodeProto& two = b.node("Constant", {}, {"two"});
  two.add_attribute()->set_name("value_float");
  two.mutable_attribute(0)->set_type(onnx::AttributeProto::FLOAT);
  two.mutable_attribute(0)->set_f(2.0f);
  b.node("Pow", {"d", "two"}, {"sq"});
  set_attr(b.node("ReduceMean", {"sq"}, {"var"}), "axes", std::vector<int64_t>{-1});
  b.floats("eps", {1e-6f}, true);
  b.node("Add", {"var", "eps"}, {"var_eps"});
  b.node("Sqrt", {"var_eps"}, {"std"});
  if (!affine) {
    b.node("Div", {"d", "std"}, {y});
    return;
  }
  b.node("Div", {"d", "std"}, {"normed"});
  b.weight("gamma", {c}).weight("beta", {c});
  b.node("Mul", {"normed", "gamma"}, {"scaled"});
  b.node("Add", {"scaled", "beta"}, {y});
}

TEST(OnnxLayerNorm, TorchSubgraphIsOneLayerWithItsScaleAndShift) {
  ModelBuilder b;
  b.input("x", {1, 7, 7, 96}).output("y");
  layer_norm_subgraph(b, "x", "y", 96, true);
  Graph g = b.import();
  EXPECT_EQ(g.num_layers(), 2);  // the input and the LayerNorm
  const Layer& ln = only_layer(g, LayerKind::LayerNorm);
  const auto& p = ln.p<LayerNormParams>();
  EXPECT_EQ(p.axis, 3);
  EXPECT_FLOAT_EQ(p.eps, 1e-6f);
  EXPECT_TRUE(p.affine);
  EXPECT_EQ(total_params(g), 192u);
  EXPECT_EQ(g.blob(g.outputs().at(0)).name, "y");
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{1, 7, 7, 96}));
}

TEST(OnnxLayerNorm, WithoutScaleAndShiftHasNoWeights) {
  ModelBuilder b;
  b.input("x", {2, 16}).output("y");
  layer_norm_subgraph(b, "x", "y", 16, false);
  Graph g = b.import();
  const Layer& ln = only_layer(g, LayerKind::LayerNorm);
  EXPECT_FALSE(ln.p<LayerNormParams>().affine);
  EXPECT_EQ(total_params(g), 0u);
}

TEST(OnnxLayerNorm, AMeanThatIsReadTwiceIsNotALayerNorm) {
  // The mean is also a graph output: the subgraph is not self-contained, so it must not become one layer,
  // and the mean over the last axis alone is reported.
  ModelBuilder b;
  b.input("x", {1, 4, 8}).output("y").output("mean");
  layer_norm_subgraph(b, "x", "y", 8, false);
  EXPECT_THAT(
      testing::bad_input_message([&] { b.import(); }),
      ::testing::AllOf(::testing::HasSubstr("(ReduceMean)"), ::testing::HasSubstr("layer normalisation")));
}

TEST(OnnxLayerNorm, LayerNormalizationOpAtOpset17) {
  ModelBuilder b(17);
  b.input("x", {1, 196, 384}).weight("s", {384}).output("y");
  onnx::NodeProto& n = b.node("LayerNormalization", {"x", "s"}, {"y"});
  set_attr(n, "epsilon", 1e-6f);
  Graph g = b.import();
  const Layer& ln = only_layer(g, LayerKind::LayerNorm);
  EXPECT_EQ(ln.p<LayerNormParams>().axis, 2);
  EXPECT_FLOAT_EQ(ln.p<LayerNormParams>().eps, 1e-6f);
  EXPECT_TRUE(ln.p<LayerNormParams>().affine);  // without B the shift is 0
  EXPECT_EQ(total_params(g), 768u);
}

TEST(OnnxLayerNorm, LayerNormalizationOverTwoAxes) {
  ModelBuilder b(17);
  b.input("x", {2, 3, 4, 5}).weight("s", {4, 5}).weight("bias", {4, 5}).output("y");
  set_attr(b.node("LayerNormalization", {"x", "s", "bias"}, {"y"}), "axis", int64_t{-2});
  Graph g = b.import();
  EXPECT_EQ(only_layer(g, LayerKind::LayerNorm).p<LayerNormParams>().axis, 2);
  EXPECT_EQ(total_params(g), 40u);
}

TEST(OnnxLayerNorm, ScaleOfTheWrongShapeIsReported) {
  ModelBuilder b(17);
  b.input("x", {1, 10, 32}).weight("s", {16}).output("y");
  b.node("LayerNormalization", {"x", "s"}, {"y"}, "ln");
  EXPECT_THAT(
      testing::bad_input_message([&] { b.import(); }),
      ::testing::AllOf(::testing::HasSubstr("\"ln\" (LayerNormalization)"), ::testing::HasSubstr("32")));
}

// nn.GELU() at opset 13: x * (1 + erf(x / sqrt 2)) * 0.5, or with the half first.
TEST(OnnxGelu, ErfSubgraphIsOneLayerInEitherOrder) {
  for (bool half_first : {false, true}) {
    ModelBuilder b;
    b.input("x", {1, 8, 4, 4}).output("y");
    b.floats("sqrt2", {1.4142135f}, true).floats("one", {1.0f}, true).floats("half", {0.5f}, true);
    b.node("Div", {"x", "sqrt2"}, {"z"});
    b.node("Erf", {"z"}, {"e"});
    b.node("Add", {"e", "one"}, {"phi2"});
    if (half_first) {
      b.node("Mul", {"phi2", "half"}, {"phi"});
      b.node("Mul", {"x", "phi"}, {"y"});
    } else {
      b.node("Mul", {"x", "phi2"}, {"xphi2"});
      b.node("Mul", {"xphi2", "half"}, {"y"});
    }
    Graph g = b.import();
    EXPECT_EQ(g.num_layers(), 2) << half_first;
    only_layer(g, LayerKind::GELU);
    EXPECT_EQ(g.blob(g.outputs().at(0)).name, "y");
  }
}

TEST(OnnxGelu, ErfOfSomethingElseIsReported) {
  ModelBuilder b;
  b.input("x", {1, 8}).output("y");
  b.node("Erf", {"x"}, {"y"}, "lonely_erf");
  EXPECT_THAT(testing::bad_input_message([&] { b.import(); }),
              ::testing::AllOf(::testing::HasSubstr("\"lonely_erf\" (Erf)"), ::testing::HasSubstr("GELU")));
}

TEST(OnnxNormOps, PowAndSqrtOfConstantsFold) {
  // sqrt(4)^3 = 8 scales x: the folded constant reaches the Mul as a scalar (a Power layer).
  ModelBuilder b;
  b.input("x", {1, 3}).output("y");
  b.floats("four", {4.0f}, true).floats("three", {3.0f}, true);
  b.node("Sqrt", {"four"}, {"two"});
  b.node("Pow", {"two", "three"}, {"eight"});
  b.node("Mul", {"x", "eight"}, {"y"});
  Graph g = b.import();
  EXPECT_FLOAT_EQ(only_layer(g, LayerKind::Power).p<PowerParams>().scale, 8.0f);
}

TEST(OnnxNormOps, PowOfARuntimeTensorIsReported) {
  ModelBuilder b;
  b.input("x", {1, 3}).output("y");
  b.floats("two", {2.0f}, true);
  b.node("Pow", {"x", "two"}, {"y"}, "square");
  EXPECT_THAT(testing::bad_input_message([&] { b.import(); }), ::testing::HasSubstr("\"square\" (Pow)"));
}

TEST(OnnxScaleByConstant, PerChannelConstantIsAScaleLayer) {
  ModelBuilder b;
  b.input("x", {1, 96, 7, 7}).weight("gamma", {96, 1, 1}).output("y");
  b.node("Mul", {"gamma", "x"}, {"y"});
  Graph g = b.import();
  const Layer& s = only_layer(g, LayerKind::Scale);
  EXPECT_EQ(s.p<ScaleParams>().axis, 1);
  EXPECT_FALSE(s.p<ScaleParams>().bias);
  EXPECT_EQ(total_params(g), 96u);
}

TEST(OnnxScaleByConstant, ConstantAlongAnotherAxisIsAProductWithAConstantLayer) {
  // Not one value per channel, so no Scale: a numpy-broadcast product with the constant, read from a
  // Constant.
  ModelBuilder b;
  b.input("x", {1, 96, 7, 7}).weight("k", {7, 1}).output("y");
  b.node("Mul", {"x", "k"}, {"y"}, "row_scale");
  Graph g = b.import();
  const Layer& prod = only_layer(g, LayerKind::Eltwise);
  EXPECT_EQ(prod.name, "row_scale");
  EXPECT_EQ(prod.p<EltwiseParams>().op, EltwiseOp::Prod);
  EXPECT_EQ(only_layer(g, LayerKind::Constant).p<ConstantParams>().shape, (Shape{7, 1}));
  EXPECT_EQ(total_params(g), 7u);
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{1, 96, 7, 7}));
}

}  // namespace
}  // namespace convergy

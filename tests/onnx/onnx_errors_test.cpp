// Inputs, weights and error cases of the ONNX importer: symbolic batch, --input-shape, external weight data
// that is absent, unsupported ops listed together, malformed files, missing shapes, wrong ranks, opsets.
#include "features/features.h"
#include "import/onnx/onnx_import.h"
#include "onnx/model_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace convergy {
namespace {

using testing::bad_input_message;
using ::testing::HasSubstr;
using testing::ModelBuilder;
using testing::set_attr;

ModelBuilder conv_net(const std::vector<int64_t>& input_dims) {
  ModelBuilder b;
  b.input("image", input_dims).weight("w", {8, 3, 3, 3}).output("y");
  b.node("Conv", {"image", "w"}, {"y"}, "conv1");
  return b;
}

TEST(OnnxInputs, SymbolicBatchDefaultsToOne) {
  Graph g = conv_net({-1, 3, 16, 16}).import();
  EXPECT_EQ(g.blob(g.inputs().at(0)).shape, (Shape{1, 3, 16, 16}));
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{1, 8, 14, 14}));
}

TEST(OnnxInputs, InputShapeOptionFillsAndOverrides) {
  LoadOptions named;
  named.input_shapes.push_back({"image", Shape{4, 3, 32, 32}});
  Graph g = conv_net({-1, 3, 16, 16}).import(named);
  EXPECT_EQ(g.blob(g.outputs().at(0)).shape, (Shape{4, 8, 30, 30}));

  LoadOptions bare;  // a bare shape applies to the first input
  bare.input_shapes.push_back({"", Shape{2, 3, 8, 8}});
  Graph h = conv_net({1, 3, -1, -1}).import(bare);
  EXPECT_EQ(h.blob(h.outputs().at(0)).shape, (Shape{2, 8, 6, 6}));
}

TEST(OnnxInputs, UnknownNonBatchDimensionNamesTheInput) {
  std::string msg = bad_input_message([] { conv_net({1, 3, -1, 16}).import(); });
  EXPECT_THAT(msg, HasSubstr("input \"image\""));
  EXPECT_THAT(msg, HasSubstr("dimension 2"));
  EXPECT_THAT(msg, HasSubstr("--input-shape"));
}

TEST(OnnxInputs, MissingShapeIsBadInput) {
  ModelBuilder b;
  b.input_without_shape("image").weight("w", {8, 3, 3, 3}).output("y");
  b.node("Conv", {"image", "w"}, {"y"});
  EXPECT_THAT(bad_input_message([&] { b.import(); }), HasSubstr("input \"image\" has no shape"));
}

TEST(OnnxInputs, WrongRankOfTheOptionIsBadInput) {
  LoadOptions o;
  o.input_shapes.push_back({"image", Shape{3, 16, 16}});
  std::string msg = bad_input_message([&] { conv_net({-1, 3, 16, 16}).import(o); });
  EXPECT_THAT(msg, HasSubstr("rank 3"));
  EXPECT_THAT(msg, HasSubstr("rank 4"));
}

TEST(OnnxInputs, WrongRankForTheOpIsBadInputNamingTheNode) {
  // A rank-3 input to Gemm: the shape rule has to reject it with the node's name.
  ModelBuilder b;
  b.input("x", {1, 3, 16}).weight("w", {16, 4}).output("y");
  b.node("Gemm", {"x", "w"}, {"y"}, "classifier");
  std::string msg = bad_input_message([&] { b.import(); });
  EXPECT_THAT(msg, HasSubstr("classifier"));
  EXPECT_THAT(msg, HasSubstr("rank"));
}

TEST(OnnxInputs, OptionForAnInputThatDoesNotExist) {
  LoadOptions o;
  o.input_shapes.push_back({"data", Shape{1, 3, 16, 16}});
  EXPECT_THAT(bad_input_message([&] { conv_net({1, 3, 16, 16}).import(o); }), HasSubstr("\"data\""));
}

TEST(OnnxWeights, GraphInputWithAnInitializerIsAWeight) {
  ModelBuilder b = conv_net({1, 3, 16, 16});
  // Older exporters list every weight as a graph input as well.
  b.input("w", {8, 3, 3, 3});
  Graph g = b.import();
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.blob(g.inputs()[0]).name, "image");
  EXPECT_EQ(network_features(g).params, 8u * 3 * 3 * 3);
}

TEST(OnnxWeights, ExternalDataThatIsAbsentIsNotNeeded) {
  ModelBuilder b;
  b.input("x", {1, 3, 16, 16})
      .external_weight("w", {8, 3, 3, 3})
      .external_weight("fc", {10, 8 * 14 * 14})
      .output("y");
  b.node("Conv", {"x", "w"}, {"c"});
  b.node("Flatten", {"c"}, {"f"});
  set_attr(b.node("Gemm", {"f", "fc"}, {"y"}), "transB", int64_t{1});
  Graph g = b.import();
  EXPECT_EQ(network_features(g).params, 8u * 3 * 3 * 3 + 10u * 8 * 14 * 14);
}

TEST(OnnxWeights, LargeInlineWeightsAreSkippedByTheReader) {
  // 256x256x3x3 floats = 2.25 MiB of raw_data that the reader never decodes.
  ModelBuilder b;
  b.input("x", {1, 256, 8, 8}).weight("w", {256, 256, 3, 3}).output("y");
  b.node("Conv", {"x", "w"}, {"y"});
  std::string bytes = b.bytes();
  auto light = onnx_import::read_light_model(bytes, "mem.onnx");
  EXPECT_EQ(light.stripped.count("w"), 1u);
  EXPECT_FALSE(light.model.graph().initializer(0).has_raw_data());
  EXPECT_LT(light.model.ByteSizeLong(), 4096u);
  Graph g = onnx_import::import_model(light, "mem.onnx");
  EXPECT_EQ(network_features(g).params, 256u * 256 * 9);
}

TEST(OnnxWeights, WeightShapeThatDoesNotMatchTheLayerIsBadInput) {
  ModelBuilder b;
  b.input("x", {1, 3, 16, 16}).weight("w", {8, 3, 3, 3}).weight("bias", {7}).output("y");
  b.node("Conv", {"x", "w", "bias"}, {"y"}, "conv1");
  std::string msg = bad_input_message([&] { b.import(); });
  EXPECT_THAT(msg, HasSubstr("conv1"));
  EXPECT_THAT(msg, HasSubstr("elements"));
}

TEST(OnnxErrors, EveryUnsupportedOpIsListedInOneError) {
  ModelBuilder b;
  b.input("x", {1, 3, 8, 8}).output("y");
  b.node("Relu", {"x"}, {"r"});
  b.node("NonZero", {"r"}, {"nz"}, "find_nonzero");
  b.node("Relu", {"r"}, {"r2"});
  b.node("Sin", {"r2"}, {"e"}, "first_sin");
  b.node("Sin", {"e"}, {"e2"}, "second_sin");
  b.node("Relu", {"e2"}, {"y"});
  std::string msg = bad_input_message([&] { b.import(); });
  // By op type, in the order of first appearance, each with its count and first node.
  EXPECT_THAT(msg,
              HasSubstr("3 node(s) of 2 op types convergy does not read: NonZero (node \"find_nonzero\"), "
                        "Sin (2 nodes, the first \"first_sin\")"));
}

TEST(OnnxErrors, UnsupportedFormsAreCollectedToo) {
  ModelBuilder b;
  b.input("a", {1, 4}).input("c", {1, 4}).output("y").output("z");
  b.node("Sub", {"a", "c"}, {"d"}, "subtract");
  b.node("Relu", {"d"}, {"y"});  // depends on the failed node: skipped, not reported again
  b.node("Div", {"a", "c"}, {"z"}, "divide");
  std::string msg = bad_input_message([&] { b.import(); });
  EXPECT_THAT(msg, HasSubstr("2 node(s)"));
  EXPECT_THAT(msg, HasSubstr("\"subtract\" (Sub)"));
  EXPECT_THAT(msg, HasSubstr("\"divide\" (Div)"));
}

TEST(OnnxErrors, CustomDomainOpIsUnsupported) {
  ModelBuilder b;
  b.input("x", {1, 4}).output("y");
  b.node("FastGelu", {"x"}, {"y"}, "fast_gelu").set_domain("com.microsoft");
  EXPECT_THAT(bad_input_message([&] { b.import(); }),
              HasSubstr("com.microsoft.FastGelu (node \"fast_gelu\")"));
}

TEST(OnnxErrors, OnnxRuntimeGeluIsAGeluLayer) {
  // ONNX Runtime's contrib Gelu (the erf form) in graphs its optimiser wrote.
  ModelBuilder b;
  b.input("x", {1, 4}).output("y");
  b.node("Gelu", {"x"}, {"y"}, "gelu").set_domain("com.microsoft");
  auto* contrib = b.proto().add_opset_import();
  contrib->set_domain("com.microsoft");
  contrib->set_version(1);
  EXPECT_EQ(b.import().layer(1).kind, LayerKind::GELU);
}

TEST(OnnxErrors, MalformedProtobufIsOneLineBadInput) {
  auto path = std::filesystem::temp_directory_path() / "convergy-malformed.onnx";
  {
    std::ofstream out(path, std::ios::binary);
    out << "\x0a\xff\xff\xff\xff\x0f garbage that is not an ONNX model";
  }
  std::string msg = bad_input_message([&] { import_onnx_file(path.string()); });
  EXPECT_THAT(msg, HasSubstr("convergy-malformed.onnx"));
  EXPECT_THAT(msg, HasSubstr("not a valid ONNX model"));
}

TEST(OnnxErrors, TruncatedFileIsBadInput) {
  std::string bytes = conv_net({1, 3, 16, 16}).bytes();
  bytes.resize(bytes.size() / 2);
  EXPECT_THAT(bad_input_message([&] { onnx_import::read_light_model(bytes, "cut.onnx"); }),
              HasSubstr("cut.onnx: not a valid ONNX model"));
}

TEST(OnnxErrors, EmptyAndMissingFiles) {
  auto path = std::filesystem::temp_directory_path() / "convergy-empty.onnx";
  { std::ofstream out(path); }
  EXPECT_THAT(bad_input_message([&] { import_onnx_file(path.string()); }), HasSubstr("empty"));
  EXPECT_THAT(bad_input_message([&] { import_onnx_file("/nonexistent/model.onnx"); }),
              HasSubstr("cannot open"));
}

TEST(OnnxErrors, OpsetOutsideSevenToSeventeen) {
  for (int opset : {6, 18}) {
    ModelBuilder b(opset);
    b.input("x", {1, 4}).output("y");
    b.node("Relu", {"x"}, {"y"});
    EXPECT_THAT(bad_input_message([&] { b.import(); }), HasSubstr("opset " + std::to_string(opset)));
  }
}

TEST(OnnxErrors, CheckerRejectsAnOpNotInTheModelsOpset) {
  ModelBuilder b(13);  // HardSwish arrived in opset 14
  b.input("x", {1, 4}).output("y");
  b.node("HardSwish", {"x"}, {"y"}, "hs");
  std::string msg = bad_input_message([&] { b.import(); });
  EXPECT_THAT(msg, HasSubstr("\"hs\""));
}

TEST(OnnxErrors, UndefinedTensorIsBadInput) {
  ModelBuilder b;
  b.input("x", {1, 4}).output("y");
  b.node("Add", {"x", "nowhere"}, {"y"});
  EXPECT_THAT(bad_input_message([&] { b.import(); }), HasSubstr("nowhere"));
}

}  // namespace
}  // namespace convergy

// Caffe files as people have them: the legacy V0/V1 formats, train/test files with data and loss layers,
// and the layer types of the common forks (FCN, SegNet, PSPNet, SENet, SSD, R-FCN, MobileNet).
#include "features/features.h"
#include "import/caffe/upgrade.h"
#include "import/load.h"
#include "import/text_format.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace convergy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kFormats = fs::path(CONVERGY_SOURCE_DIR) / "tests/import/caffe_formats";

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
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

Shape out(const Graph& g, const std::string& layer, size_t i = 0) {
  const LayerId id = g.find_layer(layer);
  if (id < 0) throw std::runtime_error("no layer " + layer);
  return g.blob(g.layer(id).outputs.at(i)).shape;
}

uint64_t params_of(const Graph& g, const std::string& layer) {
  return layer_features(g, g.find_layer(layer)).params;
}

bool has_note(const Graph& g, const std::string& part, bool warning = false) {
  for (const auto& n : g.notes())
    if (n.warning == warning && n.text.find(part) != std::string::npos) return true;
  return false;
}

// Everything of a graph that an importer decides: layers, kinds, wiring, shapes and weights.
std::string describe(const Graph& g) {
  std::ostringstream s;
  for (const auto& l : g.layers()) {
    s << l.name << " " << layer_kind_name(l.kind) << " (";
    for (BlobId b : l.inputs) s << g.blob(b).name << " ";
    s << ") ->";
    for (BlobId b : l.outputs) s << " " << g.blob(b).name << g.blob(b).shape.str();
    for (const auto& w : l.weights) s << " " << w.role << w.shape.str();
    s << "\n";
  }
  return s.str();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- V0 / V1 / V2 -----------------------------------------------------------------------------------

TEST(CaffeFormats, DetectsTheFormat) {
  using textproto::Document;
  EXPECT_EQ(caffe_format(Document::parse(slurp(kFormats / "lenet_v0.prototxt"), "a")), CaffeFormat::V0);
  EXPECT_EQ(caffe_format(Document::parse(slurp(kFormats / "lenet_v1.prototxt"), "a")), CaffeFormat::V1);
  EXPECT_EQ(caffe_format(Document::parse(slurp(kFormats / "lenet_v2.prototxt"), "a")), CaffeFormat::V2);
  EXPECT_EQ(upgrade_caffe_net(Document::parse(slurp(kFormats / "lenet_v2.prototxt"), "a")), std::nullopt);
}

TEST(CaffeFormats, SameNetInV0V1V2GivesIdenticalGraphs) {
  const Graph v0 = import_caffe_prototxt_file((kFormats / "lenet_v0.prototxt").string());
  const Graph v1 = import_caffe_prototxt_file((kFormats / "lenet_v1.prototxt").string());
  const Graph v2 = import_caffe_prototxt_file((kFormats / "lenet_v2.prototxt").string());
  EXPECT_EQ(describe(v0), describe(v2));
  EXPECT_EQ(describe(v1), describe(v2));
  // The V0 padding layer is gone, its pad moved into conv2: 12 + 2 - 5 + 1 = 10.
  EXPECT_EQ(v0.find_layer("pad2"), -1);
  EXPECT_EQ(out(v0, "conv2"), (Shape{1, 50, 10, 10}));
  EXPECT_EQ(out(v2, "ip2"), (Shape{1, 10}));
  // conv1 3*20*25+20, conv2 50*10*25+50, ip1 5000*500 (no bias), ip2 500*10+10.
  EXPECT_EQ(network_features(v0).params, 1520u + 12550u + 2500000u + 5010u);
  EXPECT_TRUE(has_note(v0, "legacy V0 format was upgraded"));
  EXPECT_TRUE(has_note(v1, "legacy V1 format was upgraded"));
  EXPECT_TRUE(has_note(
      v2, "1 training layer (loss, accuracy, silence, or reading only labels) left out: loss (SoftmaxWithLoss"));
}

TEST(CaffeFormats, UpgradeKeepsLinesSoMessagesPointAtTheFile) {
  const std::string v1 =
      "name: \"old\"\n"
      "input: \"data\"\n"
      "input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n"
      "layers {\n"
      "  name: \"conv1\"\n"
      "  type: CONVOLUTION\n"
      "  bottom: \"data\"\n"
      "  top: \"conv1\"\n"
      "  convolution_param { num_output: 4 kernel_size: 0 }\n"
      "}\n";
  EXPECT_THAT(import_error(v1), HasSubstr("net.prototxt:9:"));
  EXPECT_THAT(import_error(v1), HasSubstr("kernel_size 0, expected >= 1"));
}

TEST(CaffeFormats, UpgradeRefusesFieldsWithNoPlace) {
  EXPECT_THAT(import_error("input: \"data\" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n"
                           "layers {\n layer { name: \"c\" type: \"conv\" num_output: 4 kernelsize: 3 "
                           "dropout_ratio: 0.5 }\n bottom: \"data\" top: \"c\" }\n"),
              HasSubstr("net.prototxt:3:61: field \"dropout_ratio\" does not apply to a V0 \"conv\" layer"));
  EXPECT_THAT(import_error("input: \"data\"\nlayers { name: \"c\" type: CONVOLUTON bottom: \"data\" top: \"c\" }\n"),
              HasSubstr("unknown layer types: \"CONVOLUTON\" (layer \"c\", line 2)"));
  EXPECT_THAT(import_error("layer { name: \"a\" type: \"ReLU\" }\nlayers { name: \"b\" type: RELU }\n"),
              HasSubstr("net.prototxt:1:1: both \"layer\" and the legacy \"layers\" are used"));
  EXPECT_THAT(import_error("layers {\n layer { name: \"x\" type: \"bogus\" }\n}\n"),
              HasSubstr("net.prototxt:2:26: type \"bogus\", expected a V0 layer type"));
}

TEST(CaffeFormats, V1StringsAndEscapesSurviveTheUpgrade) {
  const Graph g = import("name: \"a\\\"b\" input: \"da\\tta\" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3\n"
                         "layers { name: \"r\" type: RELU bottom: \"da\\tta\" top: \"r\" }\n");
  EXPECT_EQ(g.name(), "a\"b");
  EXPECT_EQ(g.blob(g.inputs()[0]).name, "da\tta");
}

// ---- train/test files ---------------------------------------------------------------------------------

TEST(CaffeTrainTest, DataLayersBecomeInputsWithShapesFromTheirParameters) {
  const std::string net =
      "layer { name: \"d\" type: \"ImageData\" top: \"data\" top: \"label\"\n"
      "  image_data_param { source: \"x\" batch_size: 2 new_height: 32 new_width: 40 } }\n"
      "layer { name: \"g\" type: \"ImageData\" top: \"gray\" top: \"l2\"\n"
      "  image_data_param { is_color: false new_height: 8 new_width: 8 } }\n"
      "layer { name: \"m\" type: \"MemoryData\" top: \"mem\" top: \"l3\"\n"
      "  memory_data_param { batch_size: 1 channels: 3 height: 28 width: 28 } transform_param { crop_size: 24 } }\n"
      "layer { name: \"z\" type: \"DummyData\" top: \"dummy\" dummy_data_param { shape { dim: 1 dim: 2 dim: 5 dim: 5 } } }\n"
      "layer { name: \"a\" type: \"AnnotatedData\" top: \"ann\" top: \"l4\"\n"
      "  transform_param { resize_param { height: 30 width: 30 } } data_param { batch_size: 4 } }\n"
      "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n"
      "layer { name: \"r2\" type: \"ReLU\" bottom: \"gray\" top: \"r2\" }\n"
      "layer { name: \"r3\" type: \"ReLU\" bottom: \"mem\" top: \"r3\" }\n"
      "layer { name: \"r4\" type: \"ReLU\" bottom: \"dummy\" top: \"r4\" }\n"
      "layer { name: \"r5\" type: \"ReLU\" bottom: \"ann\" top: \"r5\" }\n"
      "layer { name: \"acc\" type: \"Accuracy\" bottom: \"r\" bottom: \"label\" top: \"acc\" }\n"
      "layer { name: \"s\" type: \"Silence\" bottom: \"l2\" }\n"
      "layer { name: \"ml\" type: \"MultiBoxLoss\" bottom: \"r5\" bottom: \"l4\" top: \"ml\" }\n";
  const Graph g = import(net);
  EXPECT_EQ(out(g, "r"), (Shape{2, 3, 32, 40}));
  EXPECT_EQ(out(g, "r2"), (Shape{1, 1, 8, 8}));
  EXPECT_EQ(out(g, "r3"), (Shape{1, 3, 24, 24}));
  EXPECT_EQ(out(g, "r4"), (Shape{1, 2, 5, 5}));
  EXPECT_EQ(out(g, "r5"), (Shape{4, 3, 30, 30}));
  EXPECT_EQ(g.find_layer("acc"), -1);
  EXPECT_EQ(g.find_layer("s"), -1);
  EXPECT_EQ(g.find_layer("ml"), -1);
  EXPECT_TRUE(has_note(g, "3 training layers (loss, accuracy, silence, or reading only labels) left out: acc (Accuracy, line 15), s "
                          "(Silence, line 16), ml (MultiBoxLoss, line 17)"));
  EXPECT_TRUE(has_note(g, "net.prototxt:1:1: data layer \"d\" (ImageData) is read as network input \"data\" "
                          "2x3x32x40 (its 1 other top left out)"));
}

TEST(CaffeTrainTest, DataLayerWithoutShapeNeedsInputShape) {
  const std::string net = "layer { name: \"h\" type: \"HDF5Data\" top: \"data\" hdf5_data_param { source: \"x\" } }\n"
                          "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n";
  EXPECT_THAT(import_error(net), HasSubstr("net.prototxt:1:1: layer \"h\" (HDF5Data): its parameters give no input "
                                           "shape, expected --input-shape data=NxCxHxW"));
  LoadOptions o;
  o.input_shapes.push_back({"data", Shape{1, 4, 6, 6}});
  EXPECT_EQ(out(import(net, o), "r"), (Shape{1, 4, 6, 6}));
}

TEST(CaffeTrainTest, TrainOnlyLayersAreLeftOutWithANote) {
  const Graph g = import(
      "layer { name: \"d\" type: \"Data\" top: \"data\" include { phase: TRAIN } data_param { batch_size: 9 } "
      "transform_param { crop_size: 9 } }\n"
      "layer { name: \"d\" type: \"Data\" top: \"data\" include { phase: TEST } data_param { batch_size: 1 } "
      "transform_param { crop_size: 7 } }\n"
      "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n");
  EXPECT_EQ(out(g, "r"), (Shape{1, 3, 7, 7}));
  EXPECT_TRUE(has_note(g, "1 layer excluded in the TEST phase left out: d"));
}

TEST(CaffeTrainTest, ALabelReadByAKeptLayerIsNamed) {
  EXPECT_THAT(import_error("layer { name: \"d\" type: \"Data\" top: \"data\" top: \"label\" transform_param { "
                           "crop_size: 4 } }\nlayer { name: \"e\" type: \"Eltwise\" bottom: \"data\" bottom: "
                           "\"label\" top: \"e\" }\n"),
              HasSubstr("net.prototxt:2:58: layer \"e\": bottom \"label\" is a label of data layer \"d\""));
}

TEST(CaffeTrainTest, DuplicateNamesAreMadeUniqueWithANote) {
  const Graph g = import(
      "input: \"data\" input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }\n"
      "layer { name: \"x\" type: \"ReLU\" bottom: \"data\" top: \"a\" }\n"
      "layer { name: \"x\" type: \"Sigmoid\" bottom: \"a\" top: \"b\" }\n"
      "layer { name: \"x_2\" type: \"TanH\" bottom: \"b\" top: \"c\" }\n");
  EXPECT_EQ(g.layer(g.find_layer("x_3")).kind, LayerKind::Sigmoid);
  EXPECT_EQ(g.layer(g.find_layer("x_2")).kind, LayerKind::TanH);
  EXPECT_TRUE(has_note(g, "net.prototxt:3:1: layer name \"x\" repeats the layer at line 2; renamed \"x_3\""));
}

TEST(CaffeTrainTest, PythonLayersAreRefusedOrLetThroughWithAWarning) {
  const std::string net =
      "input: \"data\" input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }\n"
      "layer { name: \"p\" type: \"Python\" bottom: \"data\" top: \"rois\"\n"
      "  python_param { module: \"rpn.proposal_layer\" layer: \"ProposalLayer\" } }\n"
      "layer { name: \"r\" type: \"ReLU\" bottom: \"rois\" top: \"r\" }\n";
  EXPECT_THAT(import_error(net), HasSubstr("net.prototxt:2:25: layer \"p\": Python layer "
                                           "rpn.proposal_layer.ProposalLayer runs user code that convergy cannot read"));
  EXPECT_THAT(import_error(net), HasSubstr("--allow-python-layers"));
  LoadOptions o;
  o.allow_python_layers = true;
  const Graph g = import(net, o);
  EXPECT_EQ(g.layer(g.find_layer("p")).kind, LayerKind::Opaque);
  EXPECT_EQ(out(g, "r"), (Shape{1, 2, 3, 3}));
  EXPECT_EQ(layer_features(g, g.find_layer("p")).ops, 0u);
  EXPECT_TRUE(has_note(g, "Python layer \"p\" (rpn.proposal_layer.ProposalLayer) is counted as a zero-cost layer",
                       true));
}

TEST(CaffeTrainTest, LayersReadingOnlyLabelsAreLeftOut) {
  // A siamese train/val file: a Python layer (and a layer of a type convergy does not know) turn the two
  // labels into a similarity target for the loss. Caffe's TEST net runs them; inference never needs them.
  const fs::path file = kFormats / "siamese_label_layer.prototxt";
  LoadOptions o;
  o.input_shapes.push_back({"data", Shape{1, 3, 35, 35}});
  o.input_shapes.push_back({"data_p", Shape{1, 3, 35, 35}});
  const Graph g = import_caffe_prototxt_file(file.string(), o);
  EXPECT_EQ(g.find_layer("sim"), -1);
  EXPECT_EQ(g.find_layer("weight"), -1);
  EXPECT_EQ(out(g, "ip"), (Shape{1, 20}));
  EXPECT_EQ(out(g, "ip_p"), (Shape{1, 20}));
  EXPECT_TRUE(has_note(g, "3 training layers (loss, accuracy, silence, or reading only labels) left out: sim "
                          "(Python, line 9), weight (LabelWeights, line 12), loss (ContrastiveLoss, line 20)"));
  // A kept layer may not read what such a layer computes: the message says where the blob came from.
  EXPECT_THAT(import_error(slurp(file) + "layer { name: \"e\" type: \"Eltwise\" bottom: \"ip\" bottom: \"w\" "
                                         "top: \"e\" }\n",
                           o),
              HasSubstr("layer \"e\": bottom \"w\" is the output of training layer \"weight\" (LabelWeights)"));
}

TEST(CaffeTrainTest, PythonDataLayerIsAnInput) {
  LoadOptions o;
  o.input_shapes.push_back({"", Shape{1, 3, 5, 5}});
  const Graph g = import("layer { name: \"d\" type: \"Python\" top: \"data\" top: \"label\" python_param { module: "
                         "\"m\" layer: \"L\" } }\nlayer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n",
                         o);
  EXPECT_EQ(out(g, "r"), (Shape{1, 3, 5, 5}));
}

// ---- fork layer types ---------------------------------------------------------------------------------

std::string with_input(const std::string& shape, const std::string& layers) {
  return "input: \"data\" input_shape { " + shape + " }\n" + layers;
}

TEST(CaffeForkLayers, FcnDeconvolutionCropArgMax) {
  const Graph g = import(with_input(
      "dim: 1 dim: 3 dim: 20 dim: 20",
      "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\" convolution_param { num_output: "
      "4 kernel_size: 3 pad: 1 } }\n"
      "layer { name: \"pool\" type: \"Pooling\" bottom: \"conv\" top: \"pool\" pooling_param { pool: MAX kernel_size: "
      "2 stride: 2 } }\n"
      "layer { name: \"up\" type: \"Deconvolution\" bottom: \"pool\" top: \"up\" convolution_param { num_output: 4 "
      "kernel_size: 4 stride: 2 bias_term: false } }\n"
      "layer { name: \"crop\" type: \"Crop\" bottom: \"up\" bottom: \"data\" top: \"crop\" crop_param { axis: 2 "
      "offset: 1 } }\n"
      "layer { name: \"arg\" type: \"ArgMax\" bottom: \"crop\" top: \"arg\" argmax_param { axis: 1 } }\n"));
  EXPECT_EQ(out(g, "up"), (Shape{1, 4, 22, 22}));  // (10 - 1) * 2 + 4
  EXPECT_EQ(params_of(g, "up"), 4u * 4 * 4 * 4);
  EXPECT_EQ(layer_features(g, g.find_layer("up")).macs, 400u * 4 * 16);  // every input through a 4x4x4 kernel
  EXPECT_EQ(out(g, "crop"), (Shape{1, 4, 20, 20}));
  EXPECT_EQ(out(g, "arg"), (Shape{1, 1, 20, 20}));
  EXPECT_THAT(import_error(with_input("dim: 1 dim: 3 dim: 4 dim: 4",
                                      "layer { name: \"c\" type: \"Crop\" bottom: \"data\" bottom: \"data\" top: \"c\" "
                                      "crop_param { offset: 1 } }\n")),
              HasSubstr("layer \"c\" (Crop): offset 1 + size 4 is past the input's 4 along axis 2"));
}

TEST(CaffeForkLayers, SegNetBnPoolingMaskUpsample) {
  const Graph g = import(with_input(
      "dim: 1 dim: 3 dim: 16 dim: 16",
      "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\" convolution_param { num_output: "
      "8 kernel_size: 3 pad: 1 } }\n"
      "layer { name: \"bn\" type: \"BN\" bottom: \"conv\" top: \"conv\" bn_param { scale_filler { type: \"constant\" "
      "value: 1 } shift_filler { type: \"constant\" value: 0.001 } bn_mode: INFERENCE } }\n"
      "layer { name: \"pool\" type: \"Pooling\" bottom: \"conv\" top: \"pool\" top: \"mask\" pooling_param { pool: MAX "
      "kernel_size: 2 stride: 2 } }\n"
      "layer { name: \"up\" type: \"Upsample\" bottom: \"pool\" bottom: \"mask\" top: \"up\" upsample_param { scale: "
      "2 } }\n"
      "layer { name: \"up2\" type: \"Upsample\" bottom: \"pool\" bottom: \"mask\" top: \"up2\" upsample_param { "
      "upsample_h: 15 upsample_w: 15 } }\n"));
  EXPECT_EQ(params_of(g, "bn"), 16u);  // scale and shift per channel; running statistics are not parameters
  EXPECT_EQ(out(g, "pool", 1), (Shape{1, 8, 8, 8}));
  EXPECT_EQ(out(g, "up"), (Shape{1, 8, 16, 16}));
  EXPECT_EQ(out(g, "up2"), (Shape{1, 8, 15, 15}));
}

TEST(CaffeForkLayers, DeconvnetUnpoolingRestoresThePooledSize) {
  // The deconvnet forks (e.g. a deconv_deploy.prototxt of CaffeNet): Unpooling with the mirrored pooling's
  // pooling_param and its mask; 13 -> 6 by a 3x3 stride-2 pooling, and back to (6 - 1) x 2 + 3 = 13.
  const Graph g = import(with_input(
      "dim: 1 dim: 4 dim: 13 dim: 13",
      "layer { name: \"pool\" type: \"Pooling\" bottom: \"data\" top: \"pool\" top: \"mask\" pooling_param { pool: "
      "MAX kernel_size: 3 stride: 2 } }\n"
      "layer { name: \"unpool\" type: \"Unpooling\" bottom: \"pool\" bottom: \"mask\" top: \"unpool\" pooling_param "
      "{ pool: MAX kernel_size: 3 stride: 2 } }\n"
      "layer { name: \"unpool_pad\" type: \"Unpooling\" bottom: \"pool\" bottom: \"mask\" top: \"unpool_pad\" "
      "pooling_param { kernel_h: 3 kernel_w: 2 stride: 2 pad: 1 } }\n"));
  EXPECT_EQ(out(g, "pool"), (Shape{1, 4, 6, 6}));
  EXPECT_EQ(out(g, "unpool"), (Shape{1, 4, 13, 13}));
  EXPECT_EQ(out(g, "unpool_pad"), (Shape{1, 4, 11, 10}));
  EXPECT_EQ(params_of(g, "unpool"), 0u);
  EXPECT_THAT(import_error(with_input("dim: 1 dim: 4 dim: 6 dim: 6",
                                      "layer { name: \"u\" type: \"Unpooling\" bottom: \"data\" top: \"u\" "
                                      "pooling_param { pool: MAX stride: 2 } }\n")),
              HasSubstr("layer \"u\": pooling_param has no kernel size, expected kernel_size or kernel_h and "
                        "kernel_w"));
}

TEST(CaffeLayers, PowerIsElementwiseWithoutParameters) {
  // BVLC Caffe's Power layer, as LeNet-style deploy files use it to scale pixels to [0, 1].
  const Graph g = import(with_input(
      "dim: 1 dim: 3 dim: 8 dim: 8",
      "layer { name: \"scale\" type: \"Power\" bottom: \"data\" top: \"scale\" power_param { power: 1 scale: "
      "0.00390625 shift: 0 } propagate_down: false }\n"
      "layer { name: \"sq\" type: \"Power\" bottom: \"scale\" top: \"sq\" power_param { power: 2 } }\n"));
  EXPECT_EQ(out(g, "sq"), (Shape{1, 3, 8, 8}));
  EXPECT_EQ(params_of(g, "scale"), 0u);
  EXPECT_EQ(layer_features(g, g.find_layer("scale")).ops, 2u * 3 * 8 * 8);
  EXPECT_EQ(layer_features(g, g.find_layer("sq")).ops, 3u * 3 * 8 * 8);
  const Layer& sq = g.layer(g.find_layer("sq"));
  EXPECT_FLOAT_EQ(sq.p<PowerParams>().power, 2.0f);
  EXPECT_FLOAT_EQ(sq.p<PowerParams>().scale, 1.0f);
  EXPECT_FLOAT_EQ(sq.p<PowerParams>().shift, 0.0f);
}

TEST(CaffeLayers, PoolingWindowLargerThanTheInputIsClippedAsCaffeDoes) {
  // Caffe: ceil((2 - 3) / 2) + 1 = 1 window, clipped to the input; a deconvolution after it still has a size.
  const Graph g = import_caffe_prototxt_file((kFormats / "pool_window_clipped.prototxt").string());
  EXPECT_EQ(out(g, "pool5"), (Shape{1, 4, 1, 1}));
  EXPECT_EQ(out(g, "up"), (Shape{1, 2, 5, 5}));
  // One window of 3x3 over a 2x2 input: the op count of a 3x3 window (features count the kernel, not the
  // clipped part).
  EXPECT_EQ(layer_features(g, g.find_layer("pool5")).ops, 4u * 9);
  // When even the first window would start past the input (kernel - padded input >= stride), Caffe's formula
  // gives no window: refused.
  EXPECT_THAT(import_error(with_input("dim: 1 dim: 4 dim: 2 dim: 2",
                                      "layer { name: \"p\" type: \"Pooling\" bottom: \"data\" top: \"p\" "
                                      "pooling_param { pool: MAX kernel_size: 4 stride: 2 } }\n")),
              HasSubstr("layer \"p\" (Pooling): kernel 4 is larger than the padded input 2 along height"));
  // FLOOR rounding gives no window either.
  EXPECT_THAT(import_error(with_input("dim: 1 dim: 4 dim: 2 dim: 2",
                                      "layer { name: \"p\" type: \"Pooling\" bottom: \"data\" top: \"p\" "
                                      "pooling_param { pool: AVE kernel_size: 3 stride: 2 round_mode: FLOOR } }\n")),
              HasSubstr("kernel 3 is larger than the padded input 2 along height"));
}

TEST(CaffeLayers, SppIsAZeroCostLayerWithCaffesOutputShape) {
  // BVLC Caffe's spatial pyramid pooling: levels of 1x1 and 2x2 bins, flattened and concatenated.
  const Graph g = import(with_input("dim: 2 dim: 8 dim: 13 dim: 13",
                                    "layer { name: \"spp\" type: \"SPP\" bottom: \"data\" top: \"spp\" "
                                    "spp_param { pyramid_height: 2 } }\n"
                                    "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"spp\" top: \"fc\" "
                                    "inner_product_param { num_output: 3 } }\n"));
  EXPECT_EQ(out(g, "spp"), (Shape{2, 8 * 5}));
  EXPECT_EQ(params_of(g, "fc"), 40u * 3 + 3);
  EXPECT_EQ(g.layer(g.find_layer("spp")).kind, LayerKind::Opaque);
  EXPECT_TRUE(has_note(g, "layer \"spp\" (SPP) has no kernel in convergy: it is counted as a zero-cost layer", true));
}

TEST(CaffeLayers, BatchNormFoldedIntoTheConvolutionBiasCountsOneParameterPerChannelFewer) {
  // Released "merged" files (Pelee's deploy_merged.prototxt) fold BatchNorm + Scale into the convolution: the
  // layer keeps its bias (one value per channel) where the trained net had gamma and beta (two per channel).
  // Both nets below: a 3x3 convolution from 8 to 16 channels on 1x8x13x13, then a 1x1 convolution to 4.
  const std::string conv3 = "convolution_param { num_output: 16 kernel_size: 3 pad: 1 ";
  const std::string conv1 =
      "layer { name: \"c2\" type: \"Convolution\" bottom: \"c1\" top: \"c2\" "
      "convolution_param { num_output: 4 kernel_size: 1 } }\n";
  const Graph merged = import(
      with_input("dim: 1 dim: 8 dim: 13 dim: 13",
                 "layer { name: \"c1\" type: \"Convolution\" bottom: \"data\" top: \"c1\" " + conv3 +
                     "bias_term: true } }\n" +
                     "layer { name: \"c1/relu\" type: \"ReLU\" bottom: \"c1\" top: \"c1\" }\n" + conv1));
  const Graph trained =
      import(with_input("dim: 1 dim: 8 dim: 13 dim: 13",
                        "layer { name: \"c1\" type: \"Convolution\" bottom: \"data\" top: \"c1\" " + conv3 +
                            "bias_term: false } }\n" +
                            "layer { name: \"c1/bn\" type: \"BatchNorm\" bottom: \"c1\" top: \"c1\" }\n"
                            "layer { name: \"c1/scale\" type: \"Scale\" bottom: \"c1\" top: \"c1\" "
                            "scale_param { bias_term: true } }\n"
                            "layer { name: \"c1/relu\" type: \"ReLU\" bottom: \"c1\" top: \"c1\" }\n" +
                            conv1));
  // merged:  c1 16*8*3*3 + 16 = 1,168; c2 4*16 + 4 = 68; total 1,236.
  // trained: c1 16*8*3*3 = 1,152; BatchNorm 0 (running mean and variance are statistics); Scale 2*16 = 32;
  //          c2 68; total 1,252 = 1,236 + 16, one more per channel of the normalised convolution.
  EXPECT_EQ(params_of(merged, "c1"), 1168u);
  EXPECT_EQ(params_of(trained, "c1"), 1152u);
  EXPECT_EQ(params_of(trained, "c1/bn"), 0u);
  EXPECT_EQ(params_of(trained, "c1/scale"), 32u);
  EXPECT_EQ(network_features(merged).params, 1236u);
  EXPECT_EQ(network_features(trained).params, 1252u);
  EXPECT_EQ(network_features(trained).params - network_features(merged).params, 16u);
  // The work of the convolutions is the same: 16*8*9*13*13 + 4*16*13*13 MACs in both.
  EXPECT_EQ(network_features(merged).macs, 16u * 8 * 9 * 13 * 13 + 4u * 16 * 13 * 13);
  EXPECT_EQ(network_features(trained).macs, network_features(merged).macs);
}

TEST(CaffeForkLayers, PspNetInterp) {
  const Graph g = import(with_input(
      "dim: 1 dim: 3 dim: 9 dim: 9",
      "layer { name: \"zoom\" type: \"Interp\" bottom: \"data\" top: \"zoom\" interp_param { zoom_factor: 2 } }\n"
      "layer { name: \"shrink\" type: \"Interp\" bottom: \"data\" top: \"shrink\" interp_param { shrink_factor: 2 } }\n"
      "layer { name: \"size\" type: \"Interp\" bottom: \"data\" top: \"size\" interp_param { height: 4 width: 6 } }\n"
      "layer { name: \"ref\" type: \"Interp\" bottom: \"size\" bottom: \"zoom\" top: \"ref\" }\n"));
  EXPECT_EQ(out(g, "zoom"), (Shape{1, 3, 17, 17}));
  EXPECT_EQ(out(g, "shrink"), (Shape{1, 3, 5, 5}));
  EXPECT_EQ(out(g, "size"), (Shape{1, 3, 4, 6}));
  EXPECT_EQ(out(g, "ref"), (Shape{1, 3, 17, 17}));
  EXPECT_EQ(layer_features(g, g.find_layer("size")).ops, 4u * 6 * 3 * 7);
}

TEST(CaffeForkLayers, SeNetAxpy) {
  const Graph g = import(with_input(
      "dim: 1 dim: 8 dim: 6 dim: 6",
      "layer { name: \"gap\" type: \"Pooling\" bottom: \"data\" top: \"gap\" pooling_param { pool: AVE "
      "global_pooling: true } }\n"
      "layer { name: \"fc\" type: \"Convolution\" bottom: \"gap\" top: \"fc\" convolution_param { num_output: 8 "
      "kernel_size: 1 } }\n"
      "layer { name: \"sig\" type: \"Sigmoid\" bottom: \"fc\" top: \"fc\" }\n"
      "layer { name: \"axpy\" type: \"Axpy\" bottom: \"fc\" bottom: \"data\" bottom: \"data\" top: \"axpy\" }\n"));
  EXPECT_EQ(out(g, "axpy"), (Shape{1, 8, 6, 6}));
  EXPECT_EQ(layer_features(g, g.find_layer("axpy")).ops, 2u * 8 * 36);
}

TEST(CaffeForkLayers, SsdNormalizePriorBoxDetectionOutput) {
  const Graph g = import(with_input(
      "dim: 1 dim: 3 dim: 32 dim: 32",
      "layer { name: \"c4\" type: \"Convolution\" bottom: \"data\" top: \"c4\" convolution_param { num_output: 8 "
      "kernel_size: 3 stride: 2 pad: 1 } }\n"
      "layer { name: \"norm\" type: \"Normalize\" bottom: \"c4\" top: \"norm\" norm_param { across_spatial: false "
      "channel_shared: false scale_filler { type: \"constant\" value: 20 } } }\n"
      "layer { name: \"prior\" type: \"PriorBox\" bottom: \"norm\" bottom: \"data\" top: \"prior\" prior_box_param { "
      "min_size: 8 max_size: 16 aspect_ratio: 2 flip: true variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } "
      "}\n"
      "layer { name: \"loc\" type: \"Convolution\" bottom: \"norm\" top: \"loc\" convolution_param { num_output: 16 "
      "kernel_size: 3 pad: 1 } }\n"
      "layer { name: \"locp\" type: \"Permute\" bottom: \"loc\" top: \"locp\" permute_param { order: 0 order: 2 "
      "order: 3 order: 1 } }\n"
      "layer { name: \"locf\" type: \"Flatten\" bottom: \"locp\" top: \"locf\" }\n"
      "layer { name: \"conf\" type: \"Convolution\" bottom: \"norm\" top: \"conf\" convolution_param { num_output: 12 "
      "kernel_size: 3 pad: 1 } }\n"
      "layer { name: \"confp\" type: \"Permute\" bottom: \"conf\" top: \"confp\" permute_param { order: 0 order: 2 "
      "order: 3 order: 1 } }\n"
      "layer { name: \"conff\" type: \"Flatten\" bottom: \"confp\" top: \"conff\" }\n"
      "layer { name: \"det\" type: \"DetectionOutput\" bottom: \"locf\" bottom: \"conff\" bottom: \"prior\" top: "
      "\"det\" detection_output_param { num_classes: 3 share_location: true background_label_id: 0 nms_param { "
      "nms_threshold: 0.45 top_k: 400 } code_type: CENTER_SIZE keep_top_k: 100 confidence_threshold: 0.01 } }\n"));
  EXPECT_EQ(params_of(g, "norm"), 8u);
  EXPECT_EQ(out(g, "prior"), (Shape{1, 2, 16 * 16 * 4 * 4}));  // ratios 1, 2, 1/2 and one max size: 4 per cell
  EXPECT_EQ(out(g, "det"), (Shape{1, 1, 100, 7}));
  EXPECT_EQ(g.layer(g.find_layer("det")).kind, LayerKind::DetectionOutput);
  EXPECT_THAT(import_error(with_input("dim: 1 dim: 3 dim: 8 dim: 8",
                                      "layer { name: \"p\" type: \"PriorBox\" bottom: \"data\" top: \"p\" "
                                      "prior_box_param { max_size: 3 } }\n")),
              HasSubstr("layer \"p\": prior_box_param has no min_size, expected at least one"));
}

TEST(CaffeForkLayers, RfcnPsRoiPoolingAndRoiPooling) {
  const Graph g = import(
      "input: \"data\" input_shape { dim: 1 dim: 3 dim: 32 dim: 32 }\n"
      "input: \"rois\" input_shape { dim: 300 dim: 5 }\n"
      "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 18 "
      "kernel_size: 1 } }\n"
      "layer { name: \"ps\" type: \"PSROIPooling\" bottom: \"c\" bottom: \"rois\" top: \"ps\" psroi_pooling_param { "
      "spatial_scale: 0.0625 output_dim: 2 group_size: 3 } }\n"
      "layer { name: \"roi\" type: \"ROIPooling\" bottom: \"c\" bottom: \"rois\" top: \"roi\" roi_pooling_param { "
      "pooled_w: 7 pooled_h: 7 spatial_scale: 0.0625 } }\n");
  EXPECT_EQ(out(g, "ps"), (Shape{300, 2, 3, 3}));
  EXPECT_EQ(out(g, "roi"), (Shape{300, 18, 7, 7}));
}

TEST(CaffeForkLayers, PsRoiPoolingWithHugeFactorsIsAnErrorNotAnOverflow) {
  // output_dim x group_size^2 = 2^72 does not fit in 64 bits; found by reading the shape rule.
  EXPECT_THAT(import_error("input: \"data\" input_shape { dim: 1 dim: 18 dim: 8 dim: 8 }\n"
                           "input: \"rois\" input_shape { dim: 3 dim: 5 }\n"
                           "layer { name: \"ps\" type: \"PSROIPooling\" bottom: \"data\" bottom: \"rois\" top: \"ps\" "
                           "psroi_pooling_param { output_dim: 16777216 group_size: 16777216 } }\n"),
              HasSubstr("layer \"ps\" (ROIPooling): input has 18 channels, expected output_dim 16777216 x group_size "
                        "16777216 x group_size 16777216"));
}

TEST(CaffeForkLayers, ConvolutionDepthwiseIsOneGroupPerChannel) {
  const Graph g = import(with_input("dim: 1 dim: 8 dim: 10 dim: 10",
                                    "layer { name: \"dw\" type: \"ConvolutionDepthwise\" bottom: \"data\" top: \"dw\" "
                                    "convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }\n"));
  EXPECT_EQ(params_of(g, "dw"), 8u * 9 + 8);
  EXPECT_TRUE(layer_features(g, g.find_layer("dw")).depthwise);
}

TEST(CaffeForkLayers, UnknownTypesAreListedWithAWayForward) {
  const std::string e = import_error(with_input(
      "dim: 1 dim: 3 dim: 4 dim: 4",
      "layer { name: \"u\" type: \"SpatialTransformer\" bottom: \"data\" top: \"u\" }\n"));
  EXPECT_THAT(e, HasSubstr("unknown layer types: \"SpatialTransformer\" (layer \"u\", line 2), expected one of"));
  EXPECT_THAT(e, HasSubstr("(replace or remove these layers in a copy of the file, or export the model to ONNX)"));
}

}  // namespace
}  // namespace convergy

// A network trained for another number of classes (NAME@classes=N, --classes): the classifier found, its new
// count carried to every later shape, and the parameter counts PyTorch gives the same networks
// (torchvision.models.resnet18(num_classes=10) has 11,181,642 parameters, squeezenet1_1(num_classes=10)
// 727,626).
#include "features/features.h"
#include "graph/classifier.h"
#include "import/load.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace convergy {
namespace {

using ::testing::HasSubstr;

Shape out_shape(const Graph& g, const std::string& layer) {
  const LayerId id = g.find_layer(layer);
  if (id < 0) throw std::runtime_error("no layer " + layer);
  return g.blob(g.layer(id).outputs.at(0)).shape;
}

// Writes `text` to `path` and returns the path.
std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

const LayerFeatures& features_of(const NetworkFeatures& f, const std::string& layer) {
  for (const auto& l : f.layers)
    if (l.name == layer) return l;
  throw std::runtime_error("no layer " + layer);
}

TEST(Classes, TheClassifierOfZooNetworksIsTheirLastInnerProductOrConvolution) {
  struct Want {
    const char* net;
    const char* layer;
    int64_t classes;
  };
  for (const Want& w : {Want{"resnet18", "fc", 1000}, Want{"resnet50", "fc1000", 1000},
                        Want{"squeezenet1_1", "conv10", 1000}, Want{"vgg16_places365", "fc8", 365},
                        Want{"googlenet", "loss3/classifier", 1000}, Want{"allcnn_c", "conv9", 10}}) {
    SCOPED_TRACE(w.net);
    const Graph g = load_network(w.net);
    const auto found = find_classifiers(g);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(g.layer(found[0].layer).name, w.layer);
    EXPECT_EQ(found[0].classes, w.classes);
  }
}

TEST(Classes, TenClassesChangeTheClassifierAndNothingBeforeIt) {
  const Graph base = load_network("resnet18");
  const Graph g = load_network("resnet18@classes=10");
  EXPECT_EQ(g.source(), "resnet18@classes=10");
  EXPECT_EQ(out_shape(g, "fc"), (Shape{1, 10}));
  EXPECT_EQ(g.blob(g.outputs().front()).shape, (Shape{1, 10}));  // the softmax after it
  const NetworkFeatures f = network_features(g), f0 = network_features(base);
  EXPECT_EQ(f.params, 11181642u);  // torchvision resnet18(num_classes=10)
  EXPECT_EQ(f0.params, 11689512u);
  EXPECT_EQ(f0.macs - f.macs, 512u * 990u);
  ASSERT_EQ(f.layers.size(), f0.layers.size());
  for (size_t i = 0; i < f.layers.size(); ++i) {
    if (f.layers[i].name == "fc" || f.layers[i].name == "prob") continue;
    EXPECT_EQ(f.layers[i].macs, f0.layers[i].macs) << f.layers[i].name;
    EXPECT_EQ(f.layers[i].out_bytes, f0.layers[i].out_bytes) << f.layers[i].name;
  }
  EXPECT_EQ(features_of(f, "fc").weight_bytes, (512u * 10u + 10u) * 4u);

  // SqueezeNet classifies with a 1x1 convolution and a global average pooling after it.
  const Graph s = load_network("squeezenet1_1@classes=10");
  EXPECT_EQ(out_shape(s, "conv10"), (Shape{1, 10, 14, 14}));  // 227x227 input, ceil-rounded pooling
  EXPECT_EQ(out_shape(s, "pool10"), (Shape{1, 10, 1, 1}));
  EXPECT_EQ(network_features(s).params, 727626u);  // torchvision squeezenet1_1(num_classes=10)

  // With an input shape, either order in the name, or by the option.
  const Graph both = load_network("resnet18@1x3x160x160@classes=21841");
  EXPECT_EQ(out_shape(both, "conv1"), (Shape{1, 64, 80, 80}));
  EXPECT_EQ(out_shape(both, "fc"), (Shape{1, 21841}));
  EXPECT_EQ(out_shape(load_network("resnet18@classes=5@1x3x96x96"), "fc"), (Shape{1, 5}));
  LoadOptions option;
  option.classes = 7;
  EXPECT_EQ(out_shape(load_network("resnet18", option), "fc"), (Shape{1, 7}));
  EXPECT_EQ(network_name("resnet18", {"1x3x160x160"}, 10), "resnet18@1x3x160x160@classes=10");
  EXPECT_EQ(network_name("resnet18", {}, 0), "resnet18");
}

TEST(Classes, BadCountsAndNetworksWithoutAClassifierAreRefused) {
  auto message = [](const std::string& spec, const LoadOptions& o = {}) -> std::string {
    try {
      load_network(spec, o);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message("resnet18@classes=0"),
            "\"resnet18@classes=0\": classes \"0\", expected a whole number from 1 to 16777216 (raise with "
            "--max-dim)");
  EXPECT_EQ(message("resnet18@classes=ten"),
            "\"resnet18@classes=ten\": classes \"ten\", expected a whole number from 1 to 16777216 (raise "
            "with --max-dim)");
  EXPECT_EQ(message("resnet18@classes=10@classes=20"),
            "\"resnet18@classes=10@classes=20\": classes given twice, expected once");
  LoadOptions option;
  option.classes = 7;
  EXPECT_EQ(
      message("resnet18@classes=10", option),
      "\"resnet18@classes=10\": classes are set both in the name and by --classes, expected one of them");

  // The output of a network that ends in an element-wise sum comes from no classifier.
  const std::string dir = ::testing::TempDir();
  const std::string sum =
      write_file(dir + "/convergy_classes_sum.prototxt",
                 "input: \"data\"\ninput_shape { dim: 1 dim: 4 dim: 5 dim: 5 }\n"
                 "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" "
                 "convolution_param { num_output: 4 kernel_size: 1 } }\n"
                 "layer { name: \"s\" type: \"Eltwise\" bottom: \"c\" bottom: \"data\" top: \"s\" }\n");
  EXPECT_THAT(message(sum + "@classes=3"), HasSubstr("no classifier to give 3 classes"));

  // A Reshape to a fixed 1000 after the classifier cannot take 10 classes: the message names it.
  const std::string fixed =
      write_file(dir + "/convergy_classes_reshape.prototxt",
                 "input: \"data\"\ninput_shape { dim: 1 dim: 8 }\n"
                 "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"data\" top: \"fc\" "
                 "inner_product_param { num_output: 1000 } }\n"
                 "layer { name: \"r\" type: \"Reshape\" bottom: \"fc\" top: \"r\" "
                 "reshape_param { shape { dim: 1 dim: 1000 } } }\n");
  EXPECT_EQ(out_shape(load_network(fixed), "r"), (Shape{1, 1000}));
  const std::string m = message(fixed + "@classes=10");
  EXPECT_THAT(m, HasSubstr("with 10 classes: "));
  EXPECT_THAT(m, HasSubstr("layer \"r\" (Reshape)"));
}

}  // namespace
}  // namespace convergy

// The importers agree: a zoo network (Caffe prototxt written from the torchvision definition) and the same
// torchvision model exported by torch.onnx give the same layer list, shapes and features after the graph
// passes. Layer names differ by design (each format has its own); everything else must match.
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace convergy {
namespace {

namespace fs = std::filesystem;

fs::path models_dir() {
  if (const char* env = std::getenv("CONVERGY_ONNX_MODELS")) return env;
  return fs::current_path() / "onnx-torchvision";
}

// torchvision model + Softmax (the zoo ends in "prob"), exported at test time unless already there.
fs::path export_with_softmax(const std::string& torchvision_name) {
  const fs::path dir = models_dir();
  const fs::path onnx = dir / (torchvision_name + "-softmax.onnx");
  if (fs::exists(onnx)) return onnx;
  fs::create_directories(dir);
  const fs::path log = dir / (torchvision_name + "-softmax.log");
  const std::string cmd = "/usr/bin/python3 '" + std::string(CONVERGY_SOURCE_DIR) +
                          "/tools/onnx/export_torchvision.py' --softmax --out '" + dir.string() + "' " +
                          torchvision_name + " > '" + log.string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream in(log);
    ADD_FAILURE() << "export failed: " << cmd << "\n" << std::string(std::istreambuf_iterator<char>(in), {});
  }
  return onnx;
}

// One comparable line per layer: kind, fused activation, output shapes and the features that do not depend
// on names.
std::vector<std::string> describe(const Graph& g) {
  std::vector<std::string> rows;
  for (LayerId id = 0; id < g.num_layers(); ++id) {
    const Layer& l = g.layer(id);
    if (l.kind == LayerKind::Input) continue;
    const LayerFeatures f = layer_features(g, id);
    std::string outs;
    for (BlobId b : l.outputs) outs += g.blob(b).shape.str() + " ";
    std::string act = l.fused_activation ? std::string(layer_kind_name(l.fused_activation->kind)) : "-";
    rows.push_back(fmt::format(
        "{} +{} -> {}| macs {} ops {} params {} weights {} in {} out {} k {}x{} s {}x{} p {}x{} g {}",
        layer_kind_name(l.kind), act, outs, f.macs, f.ops, f.params, f.weight_elems, f.in_elems, f.out_elems,
        f.kernel_h, f.kernel_w, f.stride_h, f.stride_w, f.pad_h, f.pad_w, f.groups));
  }
  return rows;
}

struct Pair {
  const char* zoo;
  const char* torchvision;
  // Known differences of representation (zero-cost layers, or one layer written as two); 0 means identical.
  size_t only_in_prototxt = 0, only_in_onnx = 0;
  const char* why = "";
};

class ImportersAgree : public ::testing::TestWithParam<Pair> {};

TEST_P(ImportersAgree, SameLayersShapesAndFeaturesAfterPasses) {
  const Pair p = GetParam();
  const fs::path onnx = export_with_softmax(p.torchvision);
  ASSERT_TRUE(fs::exists(onnx));
  const PassResult from_caffe = run_passes(load_network(p.zoo));
  // The zoo fixes the input size (SqueezeNet 1.1 is defined at 227x227); the ONNX export has a symbolic
  // batch.
  LoadOptions options;
  options.input_shapes.push_back({"input", from_caffe.graph.blob(from_caffe.graph.inputs().at(0)).shape});
  const PassResult from_onnx = run_passes(load_network(onnx.string(), options));
  // Branches may be listed in a different order (a ResNet shortcut before or after its 3x3 convolution), so
  // the layer lists are compared as sorted lists.
  auto a = describe(from_caffe.graph), b = describe(from_onnx.graph);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  // Print what each side has that the other lacks (multiset differences), a few lines of each.
  std::vector<std::string> only_a, only_b;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
  std::string report;
  for (size_t i = 0; i < std::min<size_t>(only_a.size(), 8); ++i)
    report += "\n  only in prototxt: " + only_a[i];
  for (size_t i = 0; i < std::min<size_t>(only_b.size(), 8); ++i)
    report += "\n  only in onnx:     " + only_b[i];
  EXPECT_TRUE(only_a.size() == p.only_in_prototxt && only_b.size() == p.only_in_onnx)
      << p.zoo << ": " << a.size() << " vs " << b.size() << " layers; " << only_a.size() << " and "
      << only_b.size() << " unmatched, expected " << p.only_in_prototxt << " and " << p.only_in_onnx << " ("
      << p.why << ")" << report;
  const NetworkFeatures fa = network_features(from_caffe.graph), fb = network_features(from_onnx.graph);
  EXPECT_EQ(fa.macs, fb.macs) << p.zoo;
  EXPECT_EQ(fa.params, fb.params) << p.zoo;
  if (p.only_in_prototxt == 0 && p.only_in_onnx == 0) {
    EXPECT_EQ(fa.ops, fb.ops) << p.zoo;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, ImportersAgree,
    ::testing::Values(Pair{"resnet18", "resnet18"}, Pair{"mobilenet_v2", "mobilenet_v2"},
                      Pair{"vgg16", "vgg16"}, Pair{"shufflenet_v2_1_0", "shufflenet_v2_x1_0"},
                      Pair{"mobilenet_v3_large", "mobilenet_v3_large"},
                      Pair{"efficientnet_b0", "efficientnet_b0"},
                      Pair{
                          "squeezenet1_1", "squeezenet1_1", 1, 2,
                          "the DeepScale prototxt applies Softmax to Nx1000x1x1; torchvision flattens first"},
                      Pair{"inception_v3", "inception_v3", 4, 0,
                           "torch.onnx merges InceptionE's nested torch.cat into one Concat; the prototxt "
                           "keeps the inner ones"},
                      Pair{"densenet121", "densenet121", 124, 62,
                           "Caffe writes each BatchNorm that follows a Concat as BatchNorm + Scale, ONNX as "
                           "one affine BatchNorm"}),
    [](const auto& param_info) { return std::string(param_info.param.zoo); });

}  // namespace
}  // namespace convergy

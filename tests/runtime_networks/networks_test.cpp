// Whole zoo networks, imported and passed through the graph passes as `convergy run` does, agree across
// every backend. Slow-ish (a few GMAC on the reference loops); the suite's label is runtime_networks.
#include "graph/passes.h"
#include "import/load.h"
#include "runtime/executor.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace convergy {
namespace {

struct Result {
  std::vector<std::vector<float>> blobs;  // network outputs, then the input of any final Softmax
};

// Blobs to compare: the network outputs and, for a Softmax output, its input too (random weights make the
// probabilities nearly uniform, which would hide differences in the logits).
std::vector<BlobId> compared_blobs(const Graph& g) {
  std::vector<BlobId> ids = g.outputs();
  for (BlobId b : g.outputs()) {
    const Layer& producer = g.layer(g.blob(b).producer);
    if (producer.kind == LayerKind::Softmax) ids.push_back(producer.inputs[0]);
  }
  return ids;
}

Result run(const Graph& g, const std::string& backend) {
  Executor e(g, {backend, 1, 11});
  e.run();
  Result r;
  for (BlobId b : compared_blobs(g)) {
    auto d = e.blob_data(b);
    r.blobs.emplace_back(d.begin(), d.end());
  }
  return r;
}

class NetworksTest : public ::testing::TestWithParam<std::string> {};

void expect_agreement(const std::string& network) {
  const Graph g = run_passes(load_network(network)).graph;
  const Result ref = run(g, "reference");
  for (const auto& backend : Executor::available_backends()) {
    if (backend == "reference") continue;
    SCOPED_TRACE(fmt::format("network {} backend {}", network, backend));
    const Result got = run(g, backend);
    ASSERT_EQ(got.blobs.size(), ref.blobs.size());
    for (size_t k = 0; k < ref.blobs.size(); ++k) {
      double max_ref = 0.0, max_diff = 0.0;
      size_t worst = 0;
      for (size_t i = 0; i < ref.blobs[k].size(); ++i) {
        max_ref = std::max(max_ref, static_cast<double>(std::fabs(ref.blobs[k][i])));
        const double d = std::fabs(static_cast<double>(ref.blobs[k][i]) - got.blobs[k][i]);
        if (!(d <= max_diff)) {
          max_diff = std::isnan(d) ? INFINITY : d;
          worst = i;
        }
      }
      EXPECT_GT(max_ref, 0.0) << "blob " << k << " is all zeros: the comparison would prove nothing";
      // Deep float32 networks summed in different orders: agree to 1e-3 of the largest magnitude.
      EXPECT_LE(max_diff, 1e-3 * max_ref) << "blob " << k << " element " << worst << ": reference "
                                          << ref.blobs[k][worst] << " vs " << got.blobs[k][worst];
    }
  }
}

TEST_P(NetworksTest, OutputsAgreeAcrossBackends) { expect_agreement(GetParam()); }

// A vision transformer: class token and position embedding (Constant layers), attention's matrix products and
// softmax over tokens, layer normalisation, GELU, and rank-3 tensors throughout; at batch 1 and batch 3.
TEST(NetworksTest, TinyVisionTransformerAgreesAcrossBackends) {
  const std::string path = std::string(CONVERGY_SOURCE_DIR) + "/tests/onnx/data/tinyvit_opset13.onnx";
  expect_agreement(path);
  expect_agreement(path + "@3x3x32x32");
}

// A Swin transformer: windows of tokens (reshapes and permutes of rank 6), a cyclic shift (slices and
// concats), an attention mask and a relative position bias (Constant layers), zero padding, patch merging
// (strided slices) and rank-4 channels-last layer normalisation.
TEST(NetworksTest, TinySwinTransformerAgreesAcrossBackends) {
  expect_agreement(std::string(CONVERGY_SOURCE_DIR) + "/tests/onnx/data/tinyswin_opset17.onnx");
}

INSTANTIATE_TEST_SUITE_P(Zoo, NetworksTest,
                         ::testing::Values("alexnet", "squeezenet1_1", "mobilenet_v2", "resnet18",
                                           "googlenet", "shufflenet_v2_1_0", "mobilenet_v3_large"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace convergy

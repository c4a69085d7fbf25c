// The operator probe: a network `load_network` knows by name, plain in structure (no grouped convolution, no
// element-wise combination), with every activation it is for both fused into a convolution and on its own.
#include "zoo/probe.h"
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace convergy {
namespace {

TEST(Probe, NamedByItselfOrWithASuffix) {
  EXPECT_TRUE(is_probe("probe"));
  EXPECT_TRUE(is_probe("probe@1x16x56x56"));
  EXPECT_TRUE(is_probe("probe@classes=3"));
  EXPECT_FALSE(is_probe("probes"));
  EXPECT_FALSE(is_probe("my/probe.prototxt"));
  EXPECT_FALSE(is_probe("resnet18"));
}

TEST(Probe, EveryActivationFusedAndOnItsOwnAtFourSizes) {
  const Graph g = load_network("probe");
  EXPECT_EQ(g.source(), "probe");
  const Graph passed = run_passes(g).graph;
  std::map<std::string, int> fused, standalone;  // activation -> layers
  for (const Layer& l : passed.layers()) {
    EXPECT_NE(l.kind, LayerKind::Eltwise) << l.name;
    if (l.kind == LayerKind::Convolution) {
      EXPECT_EQ(l.p<ConvParams>().groups, 1) << l.name;
      ASSERT_TRUE(l.fused_activation.has_value()) << l.name << ": every probe convolution carries one";
      ++fused[std::string(layer_kind_name(l.fused_activation->kind))];
    } else if (layer_class(l) == LayerClass::Other) {
      ++standalone[std::string(layer_kind_name(l.kind))];
    }
  }
  std::set<uint64_t> exp_sizes;
  for (const LayerFeatures& l : network_features(passed).layers)
    if (l.exp_elems > 0) exp_sizes.insert(l.exp_elems);
  for (const char* act : {"ReLU", "Swish", "Sigmoid", "HardSwish"}) {
    EXPECT_EQ(fused[act], 4) << act;
    EXPECT_EQ(standalone[act], 4) << act;
  }
  // The exponentials at four sizes (32x112x112 down to 256x14x14), each fused and standalone.
  EXPECT_EQ(exp_sizes, (std::set<uint64_t>{32 * 112 * 112, 64 * 56 * 56, 128 * 28 * 28, 256 * 14 * 14}));
}

}  // namespace
}  // namespace convergy

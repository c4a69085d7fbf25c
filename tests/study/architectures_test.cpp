// The study's transfer to other architectures: which networks it measures by default, and that each imports
// with PyTorch's own MAC and parameter counts (the .json written beside each export).
#include "study/study.h"

#include "features/features.h"
#include "graph/graph.h"
#include "import/load.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace convergy::study {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> stems(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(fs::path(p).stem().string());
  return out;
}

TEST(Architectures, TheFiveOfDataArchitecturesAndOneWhenQuick) {
#ifndef CONVERGY_HAVE_ONNX
  GTEST_SKIP() << "built without the ONNX importer: no default architectures";
#endif
  const std::vector<std::string> all = default_architectures(false);
  EXPECT_THAT(stems(all), ::testing::ElementsAre("convnext_tiny", "regnet_x_400mf", "regnet_y_400mf",
                                                 "resnext50_32x4d", "vit_b_32"));
  EXPECT_THAT(stems(default_architectures(true)), ::testing::ElementsAre("regnet_x_400mf"));
  for (const auto& path : all) {
    SCOPED_TRACE(path);
    fs::path json = path;
    json.replace_extension(".json");
    std::ifstream in(json);
    ASSERT_TRUE(in) << json;
    const nlohmann::json counts = nlohmann::json::parse(in);
    const NetworkFeatures f = network_features(load_network(path));
    EXPECT_EQ(f.macs, counts.at("macs").get<uint64_t>());
    EXPECT_EQ(f.params, counts.at("params").get<uint64_t>());
  }
}

}  // namespace
}  // namespace convergy::study

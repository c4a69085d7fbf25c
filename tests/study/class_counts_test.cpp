// The study's transfer across class counts: which networks it measures again, and with which counts.
#include "study/study.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace convergy::study {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every third network from the second (not the input-size transfer's), with each count other than its own.
TEST(ClassCounts, EveryThirdNetworkFromTheSecondWithEachOtherCount) {
  const std::vector<std::string> nets = {"resnet18", "squeezenet1_1", "vgg16", "resnet50", "allcnn_c"};
  std::vector<std::string> notes;
  EXPECT_THAT(classed_networks(nets, {10, 1000}, 4e9, &notes),
              ElementsAre("squeezenet1_1@classes=10", "allcnn_c@classes=1000"));  // allcnn_c has 10
  EXPECT_TRUE(notes.empty());
  EXPECT_TRUE(classed_networks(nets, {}, 4e9, nullptr).empty());
}

// The cap applies to the network with the new count: SqueezeNet 1.1's 1x1 classifier on a 14x14 map costs
// 512 x 14 x 14 MACs per class, 2.19 G of the 2.48 G it has with 21841 classes.
TEST(ClassCounts, NetworksAboveTheMacsCapOrWithoutAClassifierAreLeftOut) {
  const std::string path = ::testing::TempDir() + "/convergy_no_classifier.prototxt";
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(
      "input: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n"
      "layer { name: \"r\" type: \"ReLU\" bottom: \"data\" top: \"r\" }\n",
      f);
  std::fclose(f);
  std::vector<std::string> notes;
  EXPECT_THAT(
      classed_networks({"resnet18", "squeezenet1_1", "alexnet", "vgg16", path}, {10, 21841}, 1e9, &notes),
      ElementsAre("squeezenet1_1@classes=10"));
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_THAT(notes[0],
              HasSubstr("squeezenet1_1@classes=21841 left out: 2.48 G MACs, above the 1 G of this transfer"));
  EXPECT_EQ(notes[1], path + " left out: no classifier feeds its output");
}

}  // namespace
}  // namespace convergy::study

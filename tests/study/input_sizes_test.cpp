// The study's transfer across input sizes: which networks it measures again, and at which sizes.
#include "study/study.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace convergy::study {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every third network from the first, at each scale of its input's height and width; a scale that gives the
// native size adds nothing, and a size the network cannot take is left out with the importer's reason.
TEST(InputSizes, EveryThirdNetworkAtEachScaleLeavingOutSizesItCannotTake) {
  std::vector<std::string> notes;
  const std::vector<std::string> nets = {"resnet18", "alexnet", "vgg16", "resnet50", "googlenet"};
  EXPECT_THAT(scaled_networks(nets, {0.5, 1.0, 1.5}, 4e9, &notes),
              ElementsAre("resnet18@1x3x112x112", "resnet18@1x3x336x336", "resnet50@1x3x336x336"));
  // The original Caffe ResNet-50 ends in a 7x7 average pooling, larger than the 4x4 map a 112x112 input
  // gives.
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0], HasSubstr("resnet50@1x3x112x112 left out: "));
  EXPECT_THAT(notes[0], HasSubstr("kernel 7 is larger than the padded input 4"));
  // Sizes round to the nearest pixel: 227 x 5/7 = 162.1.
  EXPECT_THAT(scaled_networks({"alexnet"}, {5.0 / 7.0}, 4e9, nullptr), ElementsAre("alexnet@1x3x162x162"));
  EXPECT_TRUE(scaled_networks(nets, {}, 4e9, nullptr).empty());
}

// Measuring time grows with the square of the scale: networks above the MACs cap are left out, and said.
TEST(InputSizes, NetworksAboveTheMacsCapAreLeftOut) {
  std::vector<std::string> notes;
  // ResNet-18 has 1.81 G MACs, ResNet-50 3.86 G.
  EXPECT_THAT(scaled_networks({"resnet18", "alexnet", "vgg16", "resnet50"}, {1.5}, 2e9, &notes),
              ElementsAre("resnet18@1x3x336x336"));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0],
              HasSubstr("resnet50 left out: 3.86 G MACs at its own size, above the 2 G of this transfer"));
}

}  // namespace
}  // namespace convergy::study

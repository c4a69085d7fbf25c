// Robustness: thousands of deterministic mutations of valid prototxt files (bytes replaced, ranges deleted
// or repeated, truncation) must either import or fail with convergy::Error; never another exception or a
// crash.
#include "import/load.h"
#include "util/error.h"
#include "zoo/zoo.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace convergy {
namespace {

// Small nets that between them use every supported layer type and input form.
const char* const kSeeds[] = {
    R"(name: "a"
input: "data"
input_shape { dim: 1 dim: 4 dim: 9 dim: 9 }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 1 group: 2 dilation: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "c1" top: "c1" batch_norm_param { eps: 1e-5 } }
layer { name: "sc" type: "Scale" bottom: "c1" top: "c1" scale_param { bias_term: true } }
layer { name: "r" type: "ReLU" bottom: "c1" top: "c1" relu_param { negative_slope: 0.1 } }
layer { name: "p" type: "Pooling" bottom: "c1" top: "p" pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
layer { name: "sp" type: "Split" bottom: "p" top: "s1" top: "s2" }
layer { name: "cat" type: "Concat" bottom: "s1" bottom: "s2" top: "cat" concat_param { axis: 1 } }
layer { name: "e" type: "Eltwise" bottom: "cat" bottom: "cat" top: "e" eltwise_param { operation: SUM coeff: [1, -1] } }
layer { name: "sl" type: "Slice" bottom: "e" top: "x" top: "y" slice_param { axis: 1 slice_point: 3 } }
layer { name: "sh" type: "ShuffleChannel" bottom: "y" top: "sh" shuffle_channel_param { group: 5 } }
layer { name: "pe" type: "Permute" bottom: "sh" top: "pe" permute_param { order: [0, 2, 3, 1] } }
layer { name: "fl" type: "Flatten" bottom: "pe" top: "fl" }
layer { name: "rs" type: "Reshape" bottom: "fl" top: "rs" reshape_param { shape { dim: 0 dim: -1 } } }
layer { name: "fc" type: "InnerProduct" bottom: "rs" top: "fc" inner_product_param { num_output: 10 } }
layer { name: "d" type: "Dropout" bottom: "fc" top: "fc" dropout_param { dropout_ratio: 0.5 } }
layer { name: "sm" type: "Softmax" bottom: "fc" top: "prob" }
)",
    R"(layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "lrn" type: "LRN" bottom: "data" top: "lrn" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "r6" type: "ReLU6" bottom: "lrn" top: "r6" }
layer { name: "cl" type: "Clip" bottom: "r6" top: "cl" clip_param { min: 0 max: 4 } }
layer { name: "pr" type: "PReLU" bottom: "cl" top: "pr" }
layer { name: "sg" type: "Sigmoid" bottom: "pr" top: "sg" }
layer { name: "th" type: "TanH" bottom: "sg" top: "th" }
layer { name: "sw" type: "Swish" bottom: "th" top: "sw" }
layer { name: "hs" type: "HardSwish" bottom: "sw" top: "hs" }
layer { name: "hg" type: "HardSigmoid" bottom: "hs" top: "hg" hard_sigmoid_param { alpha: 0.2 beta: 0.5 } }
layer { name: "gp" type: "Pooling" bottom: "hg" top: "gp" pooling_param { pool: MAX global_pooling: true } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "gp" top: "loss" include { phase: TRAIN } }
)",
    "input: \"data\"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 5\ninput_dim: 5\n"
    "layer { name: 'c' type: \"Convolution\" bottom: \"data\" top: \"c\" "
    "convolution_param { num_output: 2 kernel_h: 3 kernel_w: 1 pad_h: 1 stride_h: 1 stride_w: 2 bias_term: "
    "false } }\n",
};

TEST(ImportRobustness, MutatedFilesFailCleanly) {
  std::mt19937 rng(20240611);  // fixed seed: a failure reproduces
  const std::string interesting = "{}<>[]:,;-\"'\\# \n0123456789.exfXabc_";
  int imported = 0, rejected = 0;
  for (const char* seed_text : kSeeds) {
    const std::string seed = seed_text;
    ASSERT_NO_THROW(import_caffe_prototxt(seed, "seed.prototxt")) << seed;
    for (int iter = 0; iter < 1500; ++iter) {
      std::string text = seed;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        const size_t at = rng() % text.size();
        switch (rng() % 5) {
          case 0:
            text[at] = interesting[rng() % interesting.size()];
            break;
          case 1:
            text[at] = static_cast<char>(rng() % 256);
            break;
          case 2:
            text.erase(at, 1 + rng() % 12);
            break;
          case 3:
            text.insert(at, text.substr(at, 1 + rng() % 40));
            break;
          case 4:
            text.resize(at);
            break;
        }
      }
      try {
        import_caffe_prototxt(text, "mutated.prototxt");
        ++imported;
      } catch (const Error& err) {
        ++rejected;
        const std::string msg = err.what();
        EXPECT_EQ(err.kind(), ErrorKind::BadInput) << msg << "\n--- input ---\n" << text;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
        EXPECT_EQ(msg.rfind("mutated.prototxt", 0), 0u) << "does not name the file: " << msg;
      } catch (const std::exception& other) {
        ADD_FAILURE() << "non-convergy exception: " << other.what() << "\n--- input ---\n" << text;
      }
    }
  }
  // Both outcomes must occur, or the mutations are not exercising anything.
  EXPECT_GT(imported, 0);
  EXPECT_GT(rejected, 0);
}

TEST(ImportRobustness, EveryZooNetworkLoadsByName) {
  for (const auto& entry : zoo_entries()) {
    SCOPED_TRACE(entry.name);
    const Graph g = load_network(entry.name);
    EXPECT_EQ(g.source(), entry.name);
    EXPECT_GT(g.num_layers(), 1);
    EXPECT_FALSE(g.outputs().empty());
  }
}

}  // namespace
}  // namespace convergy

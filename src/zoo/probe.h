// The operator probe: a small generated network, measured beside the networks a model is fitted on, whose
// layers teach the per-element rates (an exponential, a ReLU, a hard activation; fused into a convolution
// and on their own) that a training set of a few networks may lack. A model that never saw a Swish costs
// it as a ReLU; the probe's rows train every fold and are never held out or scored (docs/models.md,
// "The operator probe").
#pragma once
#include <string>
#include <string_view>

namespace convergy {

// The name `load_network` and the data loaders know the probe by.
inline constexpr std::string_view kProbeName = "probe";

// Whether a network reference names the probe: "probe", or "probe@..." with an input shape or class count.
inline bool is_probe(std::string_view network) { return network.substr(0, network.find('@')) == kProbeName; }

// The probe as Caffe prototxt text: four stages (32, 64, 128, 256 channels at 112, 56, 28 and 14 pixels on
// a 1x16x112x112 input), each with 1x1 convolutions carrying a fused ReLU, Swish, Sigmoid and HardSwish,
// and the same four activations on their own after 3x3 stride-1 poolings; global pooling and a 10-way
// classifier at the end.
const std::string& probe_prototxt();

}  // namespace convergy

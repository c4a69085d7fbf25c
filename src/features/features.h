// Per-layer features: MACs, operation counts, parameters, tensor sizes and the NeuralPower-style
// hyper-parameter vector. Every feature is defined, with its formula, in docs/features.md.
#pragma once
#include "graph/graph.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convergy {

struct LayerFeatures {
  std::string name;
  LayerKind kind = LayerKind::Input;
  LayerClass cls = LayerClass::None;
  bool depthwise = false;  // convolution with groups == in_c == out_c / multiplier and groups > 1

  // Work. One multiply-accumulate = 1 MAC; FLOPs = 2 x MACs. MACs are counted for Convolution and
  // InnerProduct only; `ops` counts the elementary operations of every other layer (comparisons and adds
  // of pooling, one op per element of activations, etc.; see docs/features.md).
  uint64_t macs = 0;
  uint64_t ops = 0;
  uint64_t flops() const { return 2 * macs; }
  // Elements passed through an exponential activation (Sigmoid, Swish, TanH; fused ones included, Softmax
  // not): on a CPU each costs tens of times a ReLU's op, which `ops` counts alike.
  uint64_t exp_elems = 0;

  // Sizes. `params` counts learnable weights as PyTorch does (BatchNorm running statistics excluded);
  // `weight_elems` counts every stored weight element, statistics included.
  uint64_t params = 0;
  uint64_t weight_elems = 0;
  uint64_t in_elems = 0, out_elems = 0;
  uint64_t in_bytes = 0, out_bytes = 0, weight_bytes = 0;

  // Hyper-parameters (NeuralPower): first input and first output, NCHW; kernel/stride/padding for
  // Convolution and Pooling, 0 elsewhere. pad_h/pad_w are the sums of both sides.
  int64_t batch = 0;
  int64_t in_c = 0, in_h = 0, in_w = 0;
  int64_t out_c = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 0, stride_w = 0;
  int64_t pad_h = 0, pad_w = 0;
  int64_t groups = 0;

  // Value of a feature by its documented name ("macs", "in_bytes", "1", ...); nullopt if unknown.
  std::optional<double> get(std::string_view feature) const;
  // Value of feature_names()[index] (index < feature_names().size()): for a caller that looks a name up once
  // (feature_index) and reads it for many layers.
  double get(size_t index) const;
};

// Names accepted by LayerFeatures::get, in documentation order.
const std::vector<std::string>& feature_names();
// The position of `feature` in feature_names(); nullopt if unknown.
std::optional<size_t> feature_index(std::string_view feature);

// Features of one layer of `graph`. Throws BadInput if a total overflows 64 bits.
LayerFeatures layer_features(const Graph& graph, LayerId id);

struct NetworkFeatures {
  std::vector<LayerFeatures> layers;  // every layer except Input, in execution order
  uint64_t macs = 0;                  // Conv + FC MACs
  uint64_t ops = 0;
  uint64_t params = 0;
  uint64_t weight_bytes = 0;
};
NetworkFeatures network_features(const Graph& graph);
// The same, for a graph the caller no longer needs: the layer names are moved into the features, not copied.
NetworkFeatures network_features(Graph&& graph);

}  // namespace convergy

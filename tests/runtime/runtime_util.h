// Helpers for the runtime tests: one-layer graphs and output comparison between two executors.
#pragma once
#include "runtime/backend.h"
#include "runtime/executor.h"

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace convergy::test {

// A graph with one Input per entry of `inputs` ("in0", "in1", ...) feeding one layer "layer".
Graph one_layer_graph(LayerKind kind, LayerParams params, const std::vector<Shape>& inputs,
                      std::optional<FusedActivation> act = std::nullopt, int outputs = 1);

FusedActivation fused(LayerKind kind, float alpha = 0.0f, float beta = 0.0f);

// Adds layer `name` with one output blob, also called `name`, to `g`; returns that blob.
BlobId add_layer(Graph& g, const std::string& name, LayerKind kind, LayerParams params,
                 std::vector<BlobId> inputs);

// The binding of layer `id` of `g` with shapes and no data: what the backends' planners decide on.
runtime::LayerBinding shape_binding(const Graph& g, LayerId id);

// A square convolution with the same padding on every side.
ConvParams conv(int64_t out_channels, int64_t kernel, int64_t pad, int64_t groups = 1);

struct Comparison {
  double max_abs_diff = 0.0;
  double max_abs_ref = 0.0;
  std::string worst;  // "output 0 element 17: 0.5 vs 0.51"
};

// Runs `graph` on the reference and on `backend` with the same seed and the same inputs, and compares every
// network output.
Comparison compare_with_reference(const Graph& graph, const std::string& backend, int threads = 1);

// Adds the comparison of one array (output number `index`) to `c`.
void compare(std::span<const float> reference, std::span<const float> other, size_t index, Comparison& c);

// Backends other than the reference compiled into this build.
std::vector<std::string> optimised_backends();

}  // namespace convergy::test

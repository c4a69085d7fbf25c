// Helpers for the runtime tests: one-layer graphs and output comparison between two executors.
#pragma once
#include "runtime/executor.h"

#include <optional>
#include <string>
#include <vector>

namespace convergy::test {

// A graph with one Input per entry of `inputs` ("in0", "in1", ...) feeding one layer "layer".
Graph one_layer_graph(LayerKind kind, LayerParams params, const std::vector<Shape>& inputs,
                      std::optional<FusedActivation> act = std::nullopt, int outputs = 1);

FusedActivation fused(LayerKind kind, float alpha = 0.0f, float beta = 0.0f);

struct Comparison {
  double max_abs_diff = 0.0;
  double max_abs_ref = 0.0;
  std::string worst;  // "output 0 element 17: 0.5 vs 0.51"
};

// Runs `graph` on the reference and on `backend` with the same seed and the same inputs, and compares every
// network output. `relative` is the allowed difference relative to the largest reference magnitude.
Comparison compare_with_reference(const Graph& graph, const std::string& backend, int threads = 1);

// Backends other than the reference compiled into this build.
std::vector<std::string> optimised_backends();

}  // namespace convergy::test

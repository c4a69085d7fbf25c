// One definition of "the same graph" for the tests that hold a fast path against a general one.
#pragma once
#include "graph/graph.h"

#include <string>

namespace convergy::testing {

// Expects `got` to equal `want` field by field: graph name, source, inputs and outputs; every blob's name,
// shape, dtype and producer; every layer's name, kind, parameters, inputs, outputs, origin, weights, fused
// activation and its place in the name index. `what` starts every failure message.
void expect_same_graph(const Graph& want, const Graph& got, const std::string& what);

}  // namespace convergy::testing

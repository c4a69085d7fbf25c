// Helpers for the runtime tests: one-layer graphs and output comparison between two executors.
#include "runtime_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace convergy::test {

Graph one_layer_graph(LayerKind kind, LayerParams params, const std::vector<Shape>& inputs,
                      std::optional<FusedActivation> act, int outputs) {
  Graph g("test");
  std::vector<BlobId> ids;
  for (size_t i = 0; i < inputs.size(); ++i) ids.push_back(g.add_input(fmt::format("in{}", i), inputs[i]));
  std::vector<std::string> names;
  for (int i = 0; i < outputs; ++i) names.push_back(fmt::format("out{}", i));
  const LayerId id = g.add_layer("layer", kind, std::move(params), ids, names);
  g.mutable_layers()[static_cast<size_t>(id)].fused_activation = std::move(act);
  return g;
}

FusedActivation fused(LayerKind kind, float alpha, float beta) {
  FusedActivation a;
  a.kind = kind;
  a.alpha = alpha;
  a.beta = beta;
  a.layer_name = "act";
  return a;
}

Comparison compare_with_reference(const Graph& graph, const std::string& backend, int threads) {
  Executor ref(graph, {"reference", 1, 7});
  Executor opt(graph, {backend, threads, 7});
  for (BlobId in : graph.inputs()) {
    auto a = ref.blob_data(in);
    auto b = opt.blob_data(in);
    std::copy(a.begin(), a.end(), b.begin());
  }
  ref.run();
  opt.run();
  Comparison c;
  const auto outs = graph.outputs();
  for (size_t o = 0; o < outs.size(); ++o) {
    auto a = ref.blob_data(outs[o]);
    auto b = opt.blob_data(outs[o]);
    for (size_t i = 0; i < a.size(); ++i) {
      c.max_abs_ref = std::max(c.max_abs_ref, static_cast<double>(std::fabs(a[i])));
      const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
      if (!(d <= c.max_abs_diff)) {  // also catches NaN
        c.max_abs_diff = std::isnan(d) ? INFINITY : d;
        c.worst = fmt::format("output {} element {}: reference {} vs {}", o, i, a[i], b[i]);
      }
    }
  }
  return c;
}

std::vector<std::string> optimised_backends() {
  std::vector<std::string> r;
  for (const auto& b : Executor::available_backends())
    if (b != "reference") r.push_back(b);
  return r;
}

}  // namespace convergy::test

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

BlobId add_layer(Graph& g, const std::string& name, LayerKind kind, LayerParams params,
                 std::vector<BlobId> inputs) {
  const LayerId id = g.add_layer(name, kind, std::move(params), std::move(inputs), {name});
  return g.layer(id).outputs[0];
}

runtime::LayerBinding shape_binding(const Graph& g, LayerId id) {
  runtime::LayerBinding b;
  b.id = id;
  b.layer = &g.layer(id);
  for (BlobId in : b.layer->inputs) b.inputs.push_back({nullptr, g.blob(in).shape, g.blob(in).shape.elems()});
  for (BlobId out : b.layer->outputs)
    b.outputs.push_back({nullptr, g.blob(out).shape, g.blob(out).shape.elems()});
  for (const WeightSpec& w : b.layer->weights) b.weights.push_back({nullptr, w.shape, w.shape.elems()});
  return b;
}

ConvParams conv(int64_t out_channels, int64_t kernel, int64_t pad, int64_t groups) {
  ConvParams p;
  p.num_output = out_channels;
  p.kernel_h = p.kernel_w = kernel;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.groups = groups;
  return p;
}

void compare(std::span<const float> a, std::span<const float> b, size_t index, Comparison& c) {
  for (size_t i = 0; i < a.size(); ++i) {
    c.max_abs_ref = std::max(c.max_abs_ref, static_cast<double>(std::fabs(a[i])));
    const double d = i < b.size() ? std::fabs(static_cast<double>(a[i]) - b[i]) : INFINITY;
    if (!(d <= c.max_abs_diff)) {  // also catches NaN
      c.max_abs_diff = std::isnan(d) ? INFINITY : d;
      c.worst =
          fmt::format("output {} element {}: reference {} vs {}", index, i, a[i], i < b.size() ? b[i] : NAN);
    }
  }
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
  for (size_t o = 0; o < outs.size(); ++o) compare(ref.blob_data(outs[o]), opt.blob_data(outs[o]), o, c);
  return c;
}

std::vector<std::string> optimised_backends() {
  std::vector<std::string> r;
  for (const auto& b : Executor::available_backends())
    if (b != "reference") r.push_back(b);
  return r;
}

}  // namespace convergy::test

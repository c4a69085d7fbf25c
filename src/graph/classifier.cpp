#include "graph/classifier.h"

#include "util/error.h"

#include <algorithm>

namespace convergy {

namespace {

// Layers between a classifier and the network output that carry its scores through, channel for channel.
bool keeps_scores(const Layer& l) {
  switch (l.kind) {
    case LayerKind::Softmax:
    case LayerKind::Flatten:
    case LayerKind::Reshape:
    case LayerKind::Dropout:
    case LayerKind::Pooling:
    case LayerKind::ArgMax:
    case LayerKind::Split:
      return l.inputs.size() == 1;
    default:
      return is_fusable_activation(l.kind) && l.inputs.size() == 1;
  }
}

}  // namespace

std::vector<Classifier> find_classifiers(const Graph& g) {
  std::vector<Classifier> out;
  for (BlobId o : g.outputs()) {
    BlobId b = o;
    // Each step moves to an earlier layer, so the walk ends.
    while (true) {
      const LayerId id = g.blob(b).producer;
      if (id < 0) break;
      const Layer& l = g.layer(id);
      if (l.kind == LayerKind::InnerProduct) {
        out.push_back({id, o, l.p<InnerProductParams>().num_output});
        break;
      }
      if (l.kind == LayerKind::Convolution) {
        const auto& p = l.p<ConvParams>();
        if (p.groups == 1) out.push_back({id, o, p.num_output});
        break;
      }
      if (!keeps_scores(l)) break;
      b = l.inputs[0];
    }
  }
  return out;
}

Graph with_classes(Graph g, int64_t classes) {
  const std::vector<Classifier> found = find_classifiers(g);
  if (found.empty())
    throw_bad_input(
        "\"{}\": no classifier to give {} classes: no network output comes from an InnerProduct or a "
        "Convolution through Softmax/Flatten/Reshape/Dropout/pooling/activations only",
        g.source(), classes);
  LayerId first = g.num_layers();
  for (const Classifier& c : found) {
    Layer& l = g.mutable_layers()[static_cast<size_t>(c.layer)];
    if (l.kind == LayerKind::InnerProduct)
      l.p<InnerProductParams>().num_output = classes;
    else
      l.p<ConvParams>().num_output = classes;
    first = std::min(first, c.layer);
  }
  // Layers are in execution order: inferring every layer from the first classifier on, from the blobs'
  // current shapes, updates everything downstream of it (layers before it keep their shapes).
  std::vector<Shape> ins;
  for (LayerId id = first; id < g.num_layers(); ++id) {
    Layer& l = g.mutable_layers()[static_cast<size_t>(id)];
    ins.clear();
    for (BlobId b : l.inputs) ins.push_back(g.blob(b).shape);
    InferredShapes r;
    try {
      r = infer_shapes(l, ins);
    } catch (const Error& e) {
      throw_bad_input("\"{}\" with {} classes: {}", g.source(), classes, e.what());
    }
    l.weights = std::move(r.weights);
    for (size_t i = 0; i < l.outputs.size() && i < r.outputs.size(); ++i)
      g.mutable_blobs()[static_cast<size_t>(l.outputs[i])].shape = std::move(r.outputs[i]);
  }
  return g;
}

}  // namespace convergy

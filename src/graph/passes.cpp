// Graph passes (dead-layer removal, Dropout removal, BatchNorm/Scale folding, activation fusion). Each pass
// decides per layer what to do, then rebuilds the graph once (shapes are kept; see rebuild()).
#include "graph/passes.h"

#include <algorithm>
#include <optional>
#include <set>

namespace convergy {

namespace {

// What a pass does with one layer of its input graph.
struct LayerPlan {
  enum class Action { Keep, Alias, Drop };
  // Alias: the layer disappears and its consumers read its first input instead (identity at inference,
  // or folded/fused into its producer). Drop: the layer and its outputs disappear (dead).
  Action action = Action::Keep;
  std::optional<LayerParams> params;  // replacement attributes (e.g. a convolution that gains a bias)
  std::optional<FusedActivation> fused;
};

// The changes a pass makes: counted always (a pass that changed nothing needs no rebuild), written out only
// when the caller wants them (each is a few strings per layer, and a prediction needs only the graph).
class ChangeLog {
 public:
  explicit ChangeLog(std::vector<PassChange>* list) : list_(list) {}
  // `detail` builds the explanation; it runs only when the changes are kept.
  template <typename Detail>
  void add(const char* pass, const std::string& layer, Detail&& detail) {
    ++count_;
    if (list_) list_->push_back({pass, layer, detail()});
  }
  size_t count() const { return count_; }

 private:
  std::vector<PassChange>* list_;
  size_t count_ = 0;
};

// Builds the graph the plan describes. Shapes are not re-inferred: dropping a layer, or making consumers read
// the input of a shape-preserving layer (Dropout, a folded BatchNorm/Scale, a fused activation), leaves every
// kept blob's shape as it was. Only a layer whose attributes change (a convolution gaining a bias) runs its
// shape rule again, for its weights. With `movable` (`g` itself, which the caller no longer needs) the kept
// layers and their output blobs are moved rather than copied.
Graph rebuild(const Graph& g, const std::vector<LayerPlan>& plan, Graph* movable) {
  Graph out(g.name());
  out.set_source(g.source());
  out.reserve(static_cast<size_t>(g.num_layers()), static_cast<size_t>(g.num_blobs()));
  std::vector<BlobId> map(static_cast<size_t>(g.num_blobs()), -1);
  const std::vector<BlobId> g_outputs = g.outputs();  // before any layer of g is moved from
  std::vector<Blob> outputs;
  std::vector<Shape> in_shapes;
  std::vector<BlobId> old_outputs;
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    const Layer& l = g.layer(i);
    const LayerPlan& p = plan[static_cast<size_t>(i)];
    if (p.action == LayerPlan::Action::Drop) continue;
    if (p.action == LayerPlan::Action::Alias) {
      map[static_cast<size_t>(l.outputs.at(0))] = map[static_cast<size_t>(l.inputs.at(0))];
      continue;
    }
    outputs.clear();
    for (BlobId b : l.outputs)
      outputs.push_back(movable ? std::move(movable->mutable_blobs()[static_cast<size_t>(b)]) : g.blob(b));
    Layer nl = movable ? std::move(movable->mutable_layers()[static_cast<size_t>(i)]) : l;
    for (BlobId& b : nl.inputs) b = map[static_cast<size_t>(b)];
    if (p.fused) nl.fused_activation = p.fused;
    if (p.params) {
      nl.params = *p.params;
      in_shapes.clear();
      for (BlobId b : nl.inputs) in_shapes.push_back(out.blob(b).shape);
      InferredShapes inferred = infer_shapes(nl, in_shapes);
      nl.weights = std::move(inferred.weights);
      for (size_t k = 0; k < outputs.size(); ++k) outputs[k].shape = std::move(inferred.outputs.at(k));
    }
    // Read the old output ids before nl.outputs is rewritten (nl may have been moved out of g); nl keeps its
    // buffer for the new ids.
    old_outputs.assign(nl.outputs.begin(), nl.outputs.end());
    const LayerId id = out.add_inferred_layer(std::move(nl), outputs);
    outputs.clear();
    const Layer& added = out.layer(id);
    for (size_t k = 0; k < old_outputs.size(); ++k)
      map[static_cast<size_t>(old_outputs[k])] = added.outputs.at(k);
  }
  // Mark the original outputs explicitly: after a removal the "unconsumed blobs" rule could pick others.
  std::set<BlobId> marked;
  for (BlobId o : g_outputs) {
    BlobId n = map[static_cast<size_t>(o)];
    if (n >= 0 && marked.insert(n).second) out.mark_output(n);
  }
  return out;
}

std::vector<LayerPlan> keep_all(const Graph& g) {
  return std::vector<LayerPlan>(static_cast<size_t>(g.num_layers()));
}

// Per blob: true when exactly one layer reads it and it is not a network output, so its producer may absorb
// the reader. Computed once per pass (asking the graph per layer made the passes quadratic).
std::vector<char> single_consumer_blobs(const Graph& g) {
  std::vector<int> readers(static_cast<size_t>(g.num_blobs()), 0);
  for (const auto& l : g.layers())
    for (auto it = l.inputs.begin(); it != l.inputs.end(); ++it)
      // A layer reading the same blob twice (x + x) is one reader, as in Graph::consumers.
      if (std::find(l.inputs.begin(), it, *it) == it) ++readers[static_cast<size_t>(*it)];
  std::vector<char> single(readers.size(), 0);
  for (size_t b = 0; b < readers.size(); ++b) single[b] = readers[b] == 1;
  for (BlobId o : g.outputs()) single[static_cast<size_t>(o)] = 0;
  return single;
}

bool is_conv_or_fc(LayerKind k) { return k == LayerKind::Convolution || k == LayerKind::InnerProduct; }

std::vector<LayerPlan> plan_dead(const Graph& g, ChangeLog& changes) {
  auto plan = keep_all(g);
  std::vector<bool> live(static_cast<size_t>(g.num_blobs()), false);
  for (BlobId o : g.outputs()) live[static_cast<size_t>(o)] = true;
  // Walk backwards so a layer's liveness is known before its inputs are visited.
  for (LayerId i = g.num_layers() - 1; i >= 0; --i) {
    const Layer& l = g.layer(i);
    bool used = std::any_of(l.outputs.begin(), l.outputs.end(),
                            [&](BlobId b) { return live[static_cast<size_t>(b)]; });
    // Inputs stay: they are the network's interface even when an input feeds nothing.
    if (!used && l.kind != LayerKind::Input) {
      plan[static_cast<size_t>(i)].action = LayerPlan::Action::Drop;
      continue;
    }
    for (BlobId b : l.inputs) live[static_cast<size_t>(b)] = true;
  }
  for (LayerId i = 0; i < g.num_layers(); ++i)
    if (plan[static_cast<size_t>(i)].action == LayerPlan::Action::Drop)
      changes.add("dead", g.layer(i).name, [] { return std::string("its results reach no network output"); });
  return plan;
}

std::vector<LayerPlan> plan_dropout(const Graph& g, ChangeLog& changes) {
  auto plan = keep_all(g);
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    const Layer& l = g.layer(i);
    if (l.kind != LayerKind::Dropout || l.inputs.size() != 1 || l.outputs.size() != 1) continue;
    plan[static_cast<size_t>(i)].action = LayerPlan::Action::Alias;
    changes.add("dropout", l.name, [&] {
      return "removed (identity at inference); consumers read \"" + g.blob(l.inputs[0]).name + "\"";
    });
  }
  return plan;
}

// BatchNorm and single-input Scale on the only consumer of a Conv/FC output (possibly through layers folded
// before them, as in Caffe's Convolution -> BatchNorm -> Scale) fold into that Conv/FC, which gains a bias.
std::vector<LayerPlan> plan_fold(const Graph& g, ChangeLog& changes) {
  auto plan = keep_all(g);
  // Blob -> the Conv/FC whose value it still is, up to folded per-channel affine transforms.
  std::vector<LayerId> target(static_cast<size_t>(g.num_blobs()), -1);
  const std::vector<char> single = single_consumer_blobs(g);
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    const Layer& l = g.layer(i);
    if (is_conv_or_fc(l.kind) && !l.fused_activation && l.outputs.size() == 1)
      target[static_cast<size_t>(l.outputs[0])] = i;
    bool foldable = l.kind == LayerKind::BatchNorm ||
                    (l.kind == LayerKind::Scale && l.inputs.size() == 1 && l.p<ScaleParams>().axis == 1);
    if (!foldable || l.inputs.size() != 1 || l.outputs.size() != 1) continue;
    BlobId in = l.inputs[0];
    LayerId conv = target[static_cast<size_t>(in)];
    if (conv < 0 || !single[static_cast<size_t>(in)]) continue;
    plan[static_cast<size_t>(i)].action = LayerPlan::Action::Alias;
    target[static_cast<size_t>(l.outputs[0])] = conv;
    const Layer& c = g.layer(conv);
    changes.add("fold-bn", l.name, [&] { return "folded into " + c.name; });
    auto& cp = plan[static_cast<size_t>(conv)];
    if (!cp.params) cp.params = c.params;
    bool& bias = c.kind == LayerKind::Convolution ? std::get<ConvParams>(*cp.params).bias
                                                  : std::get<InnerProductParams>(*cp.params).bias;
    if (!bias) {
      bias = true;
      changes.add("fold-bn", c.name, [&] { return "gains a bias to absorb " + l.name; });
    }
  }
  return plan;
}

FusedActivation describe_activation(const Layer& l) {
  FusedActivation f;
  f.kind = l.kind;
  f.layer_name = l.name;
  switch (l.kind) {
    case LayerKind::LeakyReLU:
      f.alpha = l.p<LeakyReLUParams>().slope;
      break;
    case LayerKind::Clip:
      f.alpha = l.p<ClipParams>().min;
      f.beta = l.p<ClipParams>().max;
      break;
    case LayerKind::HardSigmoid:
      f.alpha = l.p<HardSigmoidParams>().alpha;
      f.beta = l.p<HardSigmoidParams>().beta;
      break;
    default:
      break;
  }
  return f;
}

std::vector<LayerPlan> plan_fuse(const Graph& g, ChangeLog& changes) {
  auto plan = keep_all(g);
  const std::vector<char> single = single_consumer_blobs(g);
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    const Layer& l = g.layer(i);
    // A layer with weights (PReLU) cannot be fused: FusedActivation has nowhere to keep them.
    if (!is_fusable_activation(l.kind) || !l.weights.empty() || l.inputs.size() != 1 || l.outputs.size() != 1)
      continue;
    BlobId in = l.inputs[0];
    LayerId prod = g.blob(in).producer;
    if (prod < 0) continue;
    const Layer& p = g.layer(prod);
    auto& pp = plan[static_cast<size_t>(prod)];
    if (!is_conv_or_fc(p.kind) || p.fused_activation || pp.fused || p.outputs.size() != 1 ||
        !single[static_cast<size_t>(in)])
      continue;
    plan[static_cast<size_t>(i)].action = LayerPlan::Action::Alias;
    pp.fused = describe_activation(l);
    changes.add("fuse-act", l.name, [&] { return "fused into " + p.name; });
  }
  return plan;
}


// With `owned` (the caller gave the graph away), even the first rebuild moves layers out of `graph`.
PassResult passes(const Graph& graph, bool owned, const PassOptions& options) {
  PassResult r;
  // The input is copied only if no pass changes it; otherwise the first rebuild reads it directly.
  bool rebuilt = false;
  using Planner = std::vector<LayerPlan> (*)(const Graph&, ChangeLog&);
  ChangeLog log(options.record_changes ? &r.changes : nullptr);
  // Dead layers go first: a dead branch reading a convolution output would otherwise block folding.
  const std::pair<bool, Planner> planners[] = {{options.remove_dead, plan_dead},
                                               {options.remove_dropout, plan_dropout},
                                               {options.fold_batchnorm, plan_fold},
                                               {options.fuse_activations, plan_fuse}};
  for (const auto& [enabled, planner] : planners) {
    if (!enabled) continue;
    size_t before = log.count();
    const Graph& current = rebuilt ? r.graph : graph;
    auto plan = planner(current, log);
    if (log.count() != before) {
      // A graph this function rebuilt, or was given, is its own to take apart; the caller's is copied from.
      Graph* movable = rebuilt ? &r.graph : owned ? &const_cast<Graph&>(graph) : nullptr;
      r.graph = rebuild(current, plan, movable);
      rebuilt = true;
    }
  }
  if (!rebuilt) r.graph = owned ? std::move(const_cast<Graph&>(graph)) : graph;
  return r;
}

}  // namespace

PassResult run_passes(const Graph& graph, const PassOptions& options) { return passes(graph, false, options); }

PassResult run_passes(Graph&& graph, const PassOptions& options) { return passes(graph, true, options); }

}  // namespace convergy

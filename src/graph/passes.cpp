// Graph passes (dead-layer removal, Dropout removal, BatchNorm/Scale folding, activation fusion). Each pass
// decides what to do on a view of the graph as the passes before it left it; the graph is then rebuilt in
// place once, whatever the number of passes that changed it (shapes are kept; see rebuild()).
#include "graph/passes.h"

#include "util/error.h"

#include <algorithm>

namespace convergy {

namespace {

// What the passes do with one layer. Alias: the layer disappears and its consumers read its first input
// instead (identity at inference, or folded/fused into its producer). Drop: the layer and its outputs
// disappear (dead).
enum class Action : uint8_t { Keep, Alias, Drop };

// The changes a pass makes: counted always (passes that changed nothing need no rebuild), written out only
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

// The graph as the passes so far have left it, without building it: per layer what becomes of it, per blob
// the blob its readers read now. A pass reads the view as the passes before it left it (`source` changes
// only between passes) and records its own decisions in `action`, `gains_bias` and `fused`. The buffers
// are kept from call to call on a thread, so a network costs no allocations here.
struct View {
  const Graph* g = nullptr;
  std::vector<Action> action;    // per layer
  std::vector<char> gains_bias;  // per layer: a Conv/FC that gains a bias (a BatchNorm/Scale folded in)
  std::vector<LayerId> fused;    // per layer: the activation fused into it, or -1
  std::vector<BlobId> source;  // per blob: the blob read in its place (itself unless its producer is aliased)
  std::vector<BlobId> outputs;        // the network outputs, through `source`, first occurrence each
  std::vector<BlobId> first_outputs;  // the input graph's outputs
  std::vector<char> flags;            // scratch per blob: live / single consumer / output
  std::vector<int> readers;           // scratch per blob
  std::vector<LayerId> target;        // scratch per blob
  std::vector<BlobId> new_id;         // the rebuild's blob ids

  void reset(const Graph& graph) {
    g = &graph;
    const auto layers = static_cast<size_t>(graph.num_layers()),
               blobs = static_cast<size_t>(graph.num_blobs());
    action.assign(layers, Action::Keep);
    gains_bias.assign(layers, 0);
    fused.assign(layers, -1);
    source.resize(blobs);
    for (size_t b = 0; b < blobs; ++b) source[b] = static_cast<BlobId>(b);
    first_outputs = graph.outputs();
    outputs = first_outputs;
  }
  bool kept(LayerId i) const { return action[static_cast<size_t>(i)] == Action::Keep; }
  BlobId read(BlobId b) const { return source[static_cast<size_t>(b)]; }
  // After a pass: aliases point at what their first input reads (in layer order, so chains resolve), and the
  // outputs follow them, each kept once in its first position (as Graph::mark_output keeps them).
  void settle() {
    for (LayerId i = 0; i < g->num_layers(); ++i)
      if (action[static_cast<size_t>(i)] == Action::Alias) {
        const Layer& l = g->layer(i);
        source[static_cast<size_t>(l.outputs[0])] = read(l.inputs[0]);
      }
    outputs.clear();
    for (BlobId o : first_outputs) {
      const BlobId n = read(o);
      if (std::find(outputs.begin(), outputs.end(), n) == outputs.end()) outputs.push_back(n);
    }
  }
};

// Per blob of the view: true when exactly one kept layer reads it and it is not a network output, so its
// producer may absorb the reader. Computed once per pass (asking per layer made the passes quadratic).
const std::vector<char>& single_consumer_blobs(View& v) {
  const Graph& g = *v.g;
  v.readers.assign(static_cast<size_t>(g.num_blobs()), 0);
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    if (!v.kept(i)) continue;
    const auto& in = g.layer(i).inputs;
    for (size_t k = 0; k < in.size(); ++k) {
      // A layer reading the same blob twice (x + x) is one reader, as in Graph::consumers.
      const BlobId b = v.read(in[k]);
      bool seen = false;
      for (size_t j = 0; j < k && !seen; ++j) seen = v.read(in[j]) == b;
      if (!seen) ++v.readers[static_cast<size_t>(b)];
    }
  }
  v.flags.resize(v.readers.size());
  for (size_t b = 0; b < v.readers.size(); ++b) v.flags[b] = v.readers[b] == 1;
  for (BlobId o : v.outputs) v.flags[static_cast<size_t>(o)] = 0;
  return v.flags;
}

bool is_conv_or_fc(LayerKind k) { return k == LayerKind::Convolution || k == LayerKind::InnerProduct; }

void plan_dead(View& v, ChangeLog& changes) {
  const Graph& g = *v.g;
  std::vector<char>& live = v.flags;
  live.assign(static_cast<size_t>(g.num_blobs()), 0);
  for (BlobId o : v.outputs) live[static_cast<size_t>(o)] = 1;
  // Walk backwards so a layer's liveness is known before its inputs are visited.
  bool any = false;
  for (LayerId i = g.num_layers() - 1; i >= 0; --i) {
    if (!v.kept(i)) continue;
    const Layer& l = g.layer(i);
    bool used = std::any_of(l.outputs.begin(), l.outputs.end(),
                            [&](BlobId b) { return live[static_cast<size_t>(b)]; });
    // Inputs stay: they are the network's interface even when an input feeds nothing.
    if (!used && l.kind != LayerKind::Input) {
      v.action[static_cast<size_t>(i)] = Action::Drop;
      any = true;
      continue;
    }
    for (BlobId b : l.inputs) live[static_cast<size_t>(v.read(b))] = 1;
  }
  // Logged in layer order. This is the only pass that drops layers, and it runs first: every Drop is its own.
  if (any)
    for (LayerId i = 0; i < g.num_layers(); ++i)
      if (v.action[static_cast<size_t>(i)] == Action::Drop)
        changes.add("dead", g.layer(i).name,
                    [] { return std::string("its results reach no network output"); });
}

void plan_dropout(View& v, ChangeLog& changes) {
  const Graph& g = *v.g;
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    if (!v.kept(i)) continue;
    const Layer& l = g.layer(i);
    if (l.kind != LayerKind::Dropout || l.inputs.size() != 1 || l.outputs.size() != 1) continue;
    v.action[static_cast<size_t>(i)] = Action::Alias;
    changes.add("dropout", l.name, [&] {
      return "removed (identity at inference); consumers read \"" + g.blob(v.read(l.inputs[0])).name + "\"";
    });
  }
}

bool has_bias(const View& v, LayerId i) {
  const Layer& c = v.g->layer(i);
  if (v.gains_bias[static_cast<size_t>(i)]) return true;
  return c.kind == LayerKind::Convolution ? c.p<ConvParams>().bias : c.p<InnerProductParams>().bias;
}

bool has_fused(const View& v, LayerId i) {
  return v.g->layer(i).fused_activation || v.fused[static_cast<size_t>(i)] >= 0;
}

// BatchNorm and single-input Scale on the only consumer of a Conv/FC output (possibly through layers folded
// before them, as in Caffe's Convolution -> BatchNorm -> Scale) fold into that Conv/FC, which gains a bias.
void plan_fold(View& v, ChangeLog& changes) {
  const Graph& g = *v.g;
  const std::vector<char>& single = single_consumer_blobs(v);
  // Blob -> the Conv/FC whose value it still is, up to folded per-channel affine transforms.
  std::vector<LayerId>& target = v.target;
  target.assign(static_cast<size_t>(g.num_blobs()), -1);
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    if (!v.kept(i)) continue;
    const Layer& l = g.layer(i);
    if (is_conv_or_fc(l.kind) && !has_fused(v, i) && l.outputs.size() == 1)
      target[static_cast<size_t>(l.outputs[0])] = i;
    bool foldable = l.kind == LayerKind::BatchNorm ||
                    (l.kind == LayerKind::Scale && l.inputs.size() == 1 && l.p<ScaleParams>().axis == 1);
    if (!foldable || l.inputs.size() != 1 || l.outputs.size() != 1) continue;
    BlobId in = v.read(l.inputs[0]);
    LayerId conv = target[static_cast<size_t>(in)];
    if (conv < 0 || !single[static_cast<size_t>(in)]) continue;
    v.action[static_cast<size_t>(i)] = Action::Alias;
    target[static_cast<size_t>(l.outputs[0])] = conv;
    const Layer& c = g.layer(conv);
    changes.add("fold-bn", l.name, [&] { return "folded into " + c.name; });
    if (!has_bias(v, conv)) {
      v.gains_bias[static_cast<size_t>(conv)] = 1;
      changes.add("fold-bn", c.name, [&] { return "gains a bias to absorb " + l.name; });
    }
  }
}

// The activation `l` as its producer keeps it; the name is moved from `l`, which the rebuild then discards.
FusedActivation take_activation(Layer& l) {
  FusedActivation f;
  f.kind = l.kind;
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
  f.layer_name = std::move(l.name);
  return f;
}

void plan_fuse(View& v, ChangeLog& changes) {
  const Graph& g = *v.g;
  const std::vector<char>& single = single_consumer_blobs(v);
  for (LayerId i = 0; i < g.num_layers(); ++i) {
    if (!v.kept(i)) continue;
    const Layer& l = g.layer(i);
    // A layer with weights (PReLU) cannot be fused: FusedActivation has nowhere to keep them.
    if (!is_fusable_activation(l.kind) || !l.weights.empty() || l.inputs.size() != 1 || l.outputs.size() != 1)
      continue;
    BlobId in = v.read(l.inputs[0]);
    LayerId prod = g.blob(in).producer;
    if (prod < 0) continue;
    const Layer& p = g.layer(prod);
    if (!is_conv_or_fc(p.kind) || has_fused(v, prod) || p.outputs.size() != 1 ||
        !single[static_cast<size_t>(in)])
      continue;
    v.action[static_cast<size_t>(i)] = Action::Alias;
    v.fused[static_cast<size_t>(prod)] = i;
    changes.add("fuse-act", l.name, [&] { return "fused into " + p.name; });
  }
}

// Rebuilds `g` as the view describes it, in place: kept layers and their output blobs move down over the
// removed ones, in order, so ids stay dense and in execution order. Shapes are not re-inferred: dropping a
// layer, or making consumers read the input of a shape-preserving layer (Dropout, a folded BatchNorm/Scale, a
// fused activation), leaves every kept blob's shape as it was; a Conv/FC that gains a bias gains the weight
// its shape rule gives it (layer_types.cpp: {"bias", {num_output}}), and its output shape does not change.
void rebuild(Graph& g, View& v) {
  std::vector<Layer>& layers = g.mutable_layers();
  std::vector<Blob>& blobs = g.mutable_blobs();
  v.new_id.assign(blobs.size(), -1);
  size_t kept_layers = 0, kept_blobs = 0, old_blob = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    Layer& l = layers[i];
    // Blobs are created by their producers in layer order (Graph builds them only in add_layer and
    // add_inferred_layer), which is what lets them move down in step with the layers.
    for (BlobId b : l.outputs)
      if (static_cast<size_t>(b) != old_blob++)
        throw_failure("internal: graph \"{}\": blob {} of layer \"{}\" is out of layer order", g.name(), b,
                      l.name);
    if (v.action[i] != Action::Keep) continue;
    for (BlobId& b : l.inputs) b = v.new_id[static_cast<size_t>(v.read(b))];
    if (v.gains_bias[i]) {
      int64_t n = 0;
      if (l.kind == LayerKind::Convolution) {
        auto& p = l.p<ConvParams>();
        p.bias = true;
        n = p.num_output;
      } else {
        auto& p = l.p<InnerProductParams>();
        p.bias = true;
        n = p.num_output;
      }
      l.weights.push_back({"bias", Shape{n}, true});
    }
    if (v.fused[i] >= 0) l.fused_activation = take_activation(layers[static_cast<size_t>(v.fused[i])]);
    for (BlobId& b : l.outputs) {
      const auto to = kept_blobs++;
      v.new_id[static_cast<size_t>(b)] = static_cast<BlobId>(to);
      if (to != static_cast<size_t>(b)) blobs[to] = std::move(blobs[static_cast<size_t>(b)]);
      blobs[to].producer = static_cast<LayerId>(kept_layers);
      b = static_cast<BlobId>(to);
    }
    if (kept_layers != i) layers[kept_layers] = std::move(l);
    ++kept_layers;
  }
  layers.erase(layers.begin() + static_cast<std::ptrdiff_t>(kept_layers), layers.end());
  blobs.erase(blobs.begin() + static_cast<std::ptrdiff_t>(kept_blobs), blobs.end());
  // The outputs are marked explicitly: after a removal the "unconsumed blobs" rule could pick others.
  std::vector<BlobId> outputs;
  outputs.reserve(v.outputs.size());
  for (BlobId o : v.outputs) outputs.push_back(v.new_id[static_cast<size_t>(o)]);
  g.reindex(std::move(outputs));
}

// Runs the enabled passes on `graph`, which the caller gave away, and rebuilds it once if any changed it.
PassResult passes(Graph&& graph, const PassOptions& options) {
  PassResult r;
  ChangeLog log(options.record_changes ? &r.changes : nullptr);
  thread_local View view;
  view.reset(graph);
  using Planner = void (*)(View&, ChangeLog&);
  // Dead layers go first: a dead branch reading a convolution output would otherwise block folding.
  const std::pair<bool, Planner> planners[] = {{options.remove_dead, plan_dead},
                                               {options.remove_dropout, plan_dropout},
                                               {options.fold_batchnorm, plan_fold},
                                               {options.fuse_activations, plan_fuse}};
  for (const auto& [enabled, planner] : planners) {
    if (!enabled) continue;
    const size_t before = log.count();
    planner(view, log);
    if (log.count() != before) view.settle();
  }
  if (log.count() > 0) rebuild(graph, view);
  view.g = nullptr;
  r.graph = std::move(graph);
  return r;
}

}  // namespace

PassResult run_passes(const Graph& graph, const PassOptions& options) {
  return passes(Graph(graph), options);
}

PassResult run_passes(Graph&& graph, const PassOptions& options) { return passes(std::move(graph), options); }

}  // namespace convergy

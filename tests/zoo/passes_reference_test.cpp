// The graph passes against a plain copy of their earlier implementation (one rebuild into a new graph per
// pass that changed something, every layer copied or moved through Graph::add_inferred_layer), kept here as
// the reference: the same layers, kinds, attributes, shapes, weights, names, ids, outputs and change lists,
// for every combination of PassOptions, over the zoo, generated NB201 networks and random graphs. The one
// intended difference: the passes now keep the graph's notes (the reference dropped them when it rebuilt).
#include "graph/passes.h"
#include "import/load.h"
#include "zoo/nb201.h"
#include "zoo/zoo.h"

#include "graph_compare.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace convergy {
namespace {

using testing::expect_same_graph;

namespace reference {

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

}  // namespace reference

void expect_same_changes(const std::vector<PassChange>& want, const std::vector<PassChange>& got,
                         const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].pass, got[i].pass) << what << " change " << i;
    EXPECT_EQ(want[i].layer, got[i].layer) << what << " change " << i;
    EXPECT_EQ(want[i].detail, got[i].detail) << what << " change " << i;
  }
}

std::vector<PassOptions> all_options() {
  std::vector<PassOptions> all;
  for (int bits = 0; bits < 32; ++bits) {
    PassOptions o;
    o.remove_dead = bits & 1;
    o.remove_dropout = bits & 2;
    o.fold_batchnorm = bits & 4;
    o.fuse_activations = bits & 8;
    o.record_changes = bits & 16;
    all.push_back(o);
  }
  return all;
}

std::string options_text(const PassOptions& o) {
  return "dead=" + std::to_string(o.remove_dead) + " dropout=" + std::to_string(o.remove_dropout) +
         " fold=" + std::to_string(o.fold_batchnorm) + " fuse=" + std::to_string(o.fuse_activations) +
         " record=" + std::to_string(o.record_changes);
}

// Every option combination, on the graph given by reference and given away.
void check_graph(const Graph& g, const std::string& what) {
  for (const PassOptions& o : all_options()) {
    const std::string at = what + " (" + options_text(o) + ")";
    const PassResult want = reference::passes(g, false, o);
    const PassResult copied = run_passes(g, o);
    const PassResult moved = run_passes(Graph(g), o);
    expect_same_graph(want.graph, copied.graph, at + " copied");
    expect_same_graph(want.graph, moved.graph, at + " moved");
    expect_same_changes(want.changes, copied.changes, at + " copied");
    expect_same_changes(want.changes, moved.changes, at + " moved");
    // No layer the passes removed can still be found by name.
    for (const Layer& l : g.layers())
      if (want.graph.find_layer(l.name) < 0) {
        EXPECT_LT(copied.graph.find_layer(l.name), 0) << at << " " << l.name;
        EXPECT_LT(moved.graph.find_layer(l.name), 0) << at << " " << l.name;
      }
    // The import's notes stay with the graph (the reference kept them only when no pass changed it).
    for (const Graph* r : {&copied.graph, &moved.graph}) {
      ASSERT_EQ(r->notes().size(), g.notes().size()) << at;
      for (size_t i = 0; i < g.notes().size(); ++i) {
        EXPECT_EQ(r->notes()[i].text, g.notes()[i].text) << at;
        EXPECT_EQ(r->notes()[i].warning, g.notes()[i].warning) << at;
      }
    }
    if (::testing::Test::HasFailure()) return;  // one failing case is enough to read
  }
}

TEST(PassesReference, ZooNetworks) {
  for (const auto& e : zoo_entries())
    check_graph(import_caffe_prototxt(std::string(e.text), e.name + ".prototxt"), e.name);
}

TEST(PassesReference, Nb201Networks) {
  for (uint64_t i = 0; i < 40; ++i)
    check_graph(import_caffe_prototxt(nb201_prototxt(i), "nb201.prototxt"), "nb201_" + std::to_string(i));
}

// A random graph of shape-preserving layers on 1x4x6x6 blobs (convolutions, BatchNorm, Scale, activations,
// Dropout, Eltwise, Split, pooling) with a fully connected tail, in-place (Caffe) and fresh blob names, reads
// of one blob by several layers or twice by one, and sometimes marked outputs (which leaves dead branches).
Graph random_graph(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto coin = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  Graph g("random_" + std::to_string(seed));
  g.set_source("random.prototxt");
  if (coin(30)) g.add_note("a note from the import", coin(50));
  std::vector<BlobId> spatial = {g.add_input("data", Shape{1, 4, 6, 6})};
  if (coin(20)) g.add_input("unused", Shape{1, 4, 6, 6});
  std::vector<BlobId> flat;
  const int layers = 3 + static_cast<int>(pick(30));
  for (int i = 0; i < layers; ++i) {
    const std::string name = "l" + std::to_string(i);
    const bool on_flat = !flat.empty() && coin(25);
    std::vector<BlobId>& pool = on_flat ? flat : spatial;
    // Recent blobs more often, so chains (conv -> bn -> scale -> relu) form.
    const BlobId in =
        pool[pool.size() - 1 - std::min(pool.size() - 1, pick(3) == 0 ? pick(pool.size()) : pick(2))];
    const std::string in_name = g.blob(in).name;
    auto out_name = [&] { return coin(50) ? in_name : name; };
    LayerKind kind;
    LayerParams params = NoParams{};
    std::vector<BlobId> inputs = {in};
    size_t outputs = 1;
    switch (pick(on_flat ? 6 : 14)) {
      case 0:
        kind = LayerKind::BatchNorm;
        params = BatchNormParams{};
        break;
      case 1:
        kind = LayerKind::Scale;
        params = ScaleParams{1, coin(50)};
        break;
      case 2:
        kind = LayerKind::ReLU;
        break;
      case 3:
        kind = LayerKind::Dropout;
        params = DropoutParams{};
        break;
      case 4: {
        const LayerKind acts[] = {LayerKind::LeakyReLU,   LayerKind::Clip, LayerKind::Sigmoid,
                                  LayerKind::HardSigmoid, LayerKind::TanH, LayerKind::PReLU};
        kind = acts[pick(6)];
        if (kind == LayerKind::LeakyReLU) params = LeakyReLUParams{0.1f};
        if (kind == LayerKind::Clip) params = ClipParams{0.0f, 6.0f};
        if (kind == LayerKind::HardSigmoid) params = HardSigmoidParams{0.25f, 0.5f};
        if (kind == LayerKind::PReLU) params = PReLUParams{};
        break;
      }
      case 5:
        kind = LayerKind::InnerProduct;
        params = InnerProductParams{3 + static_cast<int64_t>(pick(5)), coin(50), 1};
        break;
      case 6:
      case 7:
      case 8: {
        kind = LayerKind::Convolution;
        ConvParams p;
        p.num_output = 4;
        p.kernel_h = p.kernel_w = coin(50) ? 1 : 3;
        p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = p.kernel_h / 2;
        p.bias = coin(40);
        params = p;
        break;
      }
      case 9:
      case 10:
        kind = LayerKind::Eltwise;
        params = EltwiseParams{};
        inputs.push_back(coin(15) ? in : spatial[pick(spatial.size())]);
        break;
      case 11:
        kind = LayerKind::Split;
        outputs = 2;
        break;
      case 12: {
        kind = LayerKind::Pooling;
        PoolParams p;
        p.kernel_h = p.kernel_w = 3;
        p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
        params = p;
        break;
      }
      default:
        kind = LayerKind::Dropout;
        params = DropoutParams{};
        break;
    }
    std::vector<std::string> names;
    for (size_t k = 0; k < outputs; ++k)
      names.push_back(k == 0 ? out_name() : name + "_" + std::to_string(k));
    const LayerId id =
        g.add_layer(name, kind, params, inputs, names, "random.prototxt:" + std::to_string(i + 1));
    std::vector<BlobId>& dest = kind == LayerKind::InnerProduct ? flat : pool;
    for (BlobId b : g.layer(id).outputs) dest.push_back(b);
  }
  if (coin(40)) {
    std::vector<BlobId> all = spatial;
    all.insert(all.end(), flat.begin(), flat.end());
    for (int k = 0, n = 1 + static_cast<int>(pick(2)); k < n; ++k) g.mark_output(all[pick(all.size())]);
  }
  return g;
}

TEST(PassesReference, RandomGraphs) {
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    Graph g = random_graph(seed);
    check_graph(g, g.name());
    if (HasFailure()) return;
  }
}

// The random graphs must exercise what the passes do, or the comparison above proves little.
TEST(PassesReference, RandomGraphsExerciseEveryPass) {
  std::set<std::string> seen;
  for (uint64_t seed = 1; seed <= 400; ++seed)
    for (const PassChange& c : run_passes(random_graph(seed)).changes)
      seen.insert(c.pass + ":" + c.detail.substr(0, 5));
  for (const char* want : {"dead:its r", "dropout:remov", "fold-bn:folde", "fold-bn:gains", "fuse-act:fused"})
    EXPECT_TRUE(seen.count(want)) << want;
}

}  // namespace
}  // namespace convergy

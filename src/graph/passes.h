// Graph passes that mirror what deployment runtimes do before running a network. The passes report every
// change they made, so the executed graph is always explainable; the result keeps the graph's name, source
// and notes.
#pragma once
#include "graph/graph.h"

#include <string>
#include <vector>

namespace convergy {

struct PassOptions {
  bool remove_dead = true;        // layers whose results reach no output
  bool remove_dropout = true;     // Dropout is the identity at inference
  bool fold_batchnorm = true;     // BatchNorm/Scale folded into the preceding Conv/FC
  bool fuse_activations = true;   // element-wise activations fused into the preceding Conv/FC
  // false: PassResult::changes stays empty (the graph is the same); for callers that need only the graph.
  bool record_changes = true;
  static PassOptions none() { return {false, false, false, false}; }
  static PassOptions graph_only() {
    PassOptions o;
    o.record_changes = false;
    return o;
  }
};

struct PassChange {
  std::string pass;    // "dead", "dropout", "fold-bn", "fuse-act"
  std::string layer;   // the layer removed or changed
  std::string detail;  // e.g. "folded into conv1"
};

struct PassResult {
  Graph graph;
  std::vector<PassChange> changes;
};

PassResult run_passes(const Graph& graph, const PassOptions& options = {});
// The same, for a graph the caller no longer needs: it is rebuilt in place (once, whatever the number of
// passes that changed it) and moved into the result; nothing is copied.
PassResult run_passes(Graph&& graph, const PassOptions& options = {});

}  // namespace convergy

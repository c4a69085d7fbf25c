// The predict path's shortcuts against the general code they stand in for, on the zoo and on generated
// NB201 networks: run_passes on a graph given away (layers moved) against one copied from; the passes'
// rebuild, which keeps inferred shapes, against re-inferring every layer through Graph::add_layer;
// model::Predictor (terms compiled once) against predict_network; predict_networks on two threads against a
// loop; the passes without their change list against the passes with it. Equal means equal: shapes, names
// and ids alike, predictions to the bit.
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"
#include "model/model.h"
#include "zoo/nb201.h"
#include "zoo/zoo.h"

#include "graph_compare.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace convergy {
namespace {

using testing::expect_same_graph;

struct Net {
  std::string name, text;
};

std::vector<Net> networks() {
  std::vector<Net> nets;
  for (const auto& e : zoo_entries()) nets.push_back({e.name + ".prototxt", std::string(e.text)});
  for (uint64_t i = 0; i < 12; ++i)
    nets.push_back({"nb201_" + std::to_string(i) + ".prototxt", nb201_prototxt(i)});
  return nets;
}

// The general path: every layer of `g` added again through add_layer, which re-infers shapes and weights.
Graph reinferred(const Graph& g) {
  Graph out(g.name());
  out.set_source(g.source());
  for (const Layer& l : g.layers()) {
    std::vector<std::string> names;
    for (BlobId b : l.outputs) names.push_back(g.blob(b).name);
    const LayerId id = out.add_layer(l.name, l.kind, l.params, l.inputs, names, l.origin);
    out.mutable_layers()[static_cast<size_t>(id)].fused_activation = l.fused_activation;
  }
  for (BlobId o : g.outputs()) out.mark_output(o);
  return out;
}

// The importer builds each layer with reused buffers (input shapes read in place, outputs in a vector kept
// from layer to layer, names as views of the text): every blob shape and weight of the imported graph must
// equal what shape inference gives for that layer alone, from copies of its input shapes. Imported a second
// time, after every other network has gone through the same buffers, a network must come out the same.
TEST(FastPath, ImportedShapesAndWeightsEqualFreshInference) {
  const std::vector<Net> nets = networks();
  std::vector<Graph> first;
  for (const Net& n : nets) first.push_back(import_caffe_prototxt(n.text, n.name));
  for (size_t k = 0; k < nets.size(); ++k) {
    const Net& n = nets[k];
    const Graph& g = first[k];
    for (const Layer& l : g.layers()) {
      std::vector<Shape> in;
      for (BlobId b : l.inputs) in.push_back(g.blob(b).shape);
      const InferredShapes fresh = infer_shapes(l, in);
      const std::string at = n.name + " layer " + l.name;
      ASSERT_EQ(fresh.outputs.size(), l.outputs.size()) << at;
      for (size_t i = 0; i < l.outputs.size(); ++i) {
        const Blob& out = g.blob(l.outputs[i]);
        EXPECT_EQ(out.shape, fresh.outputs[i])
            << at << ": " << out.shape.str() << " vs " << fresh.outputs[i].str();
        EXPECT_EQ(out.producer, g.find_layer(l.name)) << at;
      }
      ASSERT_EQ(l.weights.size(), fresh.weights.size()) << at;
      for (size_t w = 0; w < l.weights.size(); ++w) {
        EXPECT_EQ(l.weights[w].role, fresh.weights[w].role) << at;
        EXPECT_EQ(l.weights[w].shape, fresh.weights[w].shape) << at << " weight " << l.weights[w].role;
        EXPECT_EQ(l.weights[w].learnable, fresh.weights[w].learnable) << at;
      }
    }
    expect_same_graph(import_caffe_prototxt(n.text, n.name), g, n.name + " (imported again)");
  }
}

TEST(FastPath, PassesOnAGivenGraphEqualPassesOnACopyAndReinferredShapes) {
  for (const Net& n : networks()) {
    const Graph imported = import_caffe_prototxt(n.text, n.name);
    const PassResult copied = run_passes(imported);
    const PassResult moved = run_passes(Graph(imported));
    expect_same_graph(copied.graph, moved.graph, n.name + " (moved)");
    ASSERT_EQ(copied.changes.size(), moved.changes.size()) << n.name;
    for (size_t i = 0; i < copied.changes.size(); ++i) {
      EXPECT_EQ(copied.changes[i].pass, moved.changes[i].pass) << n.name;
      EXPECT_EQ(copied.changes[i].layer, moved.changes[i].layer) << n.name;
      EXPECT_EQ(copied.changes[i].detail, moved.changes[i].detail) << n.name;
    }
    expect_same_graph(reinferred(copied.graph), copied.graph, n.name + " (re-inferred)");
  }
}

// The predict path asks the passes for the graph only (PassOptions::graph_only): the same graph, no changes.
TEST(FastPath, PassesWithoutTheChangeListGiveTheSameGraph) {
  for (const Net& n : networks()) {
    const Graph imported = import_caffe_prototxt(n.text, n.name);
    const PassResult full = run_passes(imported);
    const PassResult graph_only = run_passes(Graph(imported), PassOptions::graph_only());
    // Every zoo and NB201 network has something to fold or fuse.
    EXPECT_FALSE(full.changes.empty()) << n.name;
    EXPECT_TRUE(graph_only.changes.empty()) << n.name;
    expect_same_graph(full.graph, graph_only.graph, n.name + " (graph only)");
  }
}

TEST(FastPath, PredictorAndPredictNetworksEqualPredictNetwork) {
  model::Model m;
  m.feature_set =
      "conv=macs,macs*[kernel_h=3],in_bytes,1;pool=out_elems,1;fc=macs,1;other=out_elems,1;net=layers,1";
  m.method = model::Method::Wls;
  m.target = "energy_mj";
  const model::FeatureSet fs = model::parse_feature_set(m.feature_set);
  double c = 1e-7;
  for (int g = 0; g < model::kGroupCount; ++g) {
    const auto& terms = fs.terms[static_cast<size_t>(g)];
    if (terms.empty()) continue;
    model::SubModel sub{static_cast<model::Group>(g), terms, {}};
    for (size_t t = 0; t < terms.size(); ++t) sub.coef.push_back(c *= 1.7);
    m.subs.push_back(sub);
  }
  m.interval = model::IntervalCalibration{0.9, 0.8, 1.3, 50};

  const std::vector<Net> nets = networks();
  std::vector<NetworkFeatures> features;
  for (const Net& n : nets)
    features.push_back(network_features(run_passes(import_caffe_prototxt(n.text, n.name)).graph));
  model::Predictor predictor(m);
  const auto threaded = model::predict_networks(
      m, features.size(), [&](size_t i) { return features[i]; }, 2);
  // Totals only: the same numbers and findings, no per-layer breakdown, and marked as such.
  const auto totals = model::predict_networks(
      m, features.size(), [&](size_t i) { return features[i]; }, 2, /*keep_layers=*/false);
  ASSERT_EQ(threaded.size(), nets.size());
  ASSERT_EQ(totals.size(), nets.size());
  for (size_t i = 0; i < nets.size(); ++i) {
    const model::NetworkPrediction general = model::predict_network(m, features[i]);
    EXPECT_TRUE(general.layers_kept);
    EXPECT_FALSE(totals[i].layers_kept) << nets[i].name;
    EXPECT_TRUE(totals[i].layers.empty()) << nets[i].name;
    EXPECT_EQ(totals[i].predicted, general.predicted) << nets[i].name;
    EXPECT_EQ(totals[i].lower, general.lower) << nets[i].name;
    EXPECT_EQ(totals[i].upper, general.upper) << nets[i].name;
    EXPECT_EQ(totals[i].extrapolation, general.extrapolation) << nets[i].name;
    EXPECT_EQ(totals[i].interval_widening, general.interval_widening) << nets[i].name;
    EXPECT_EQ(totals[i].unmodelled_groups, general.unmodelled_groups) << nets[i].name;
    for (const model::NetworkPrediction& p : {predictor.predict(features[i]), threaded[i]}) {
      EXPECT_EQ(p.predicted, general.predicted) << nets[i].name;
      EXPECT_EQ(p.lower, general.lower) << nets[i].name;
      EXPECT_EQ(p.upper, general.upper) << nets[i].name;
      ASSERT_EQ(p.layers.size(), general.layers.size()) << nets[i].name;
      for (size_t l = 0; l < p.layers.size(); ++l) {
        EXPECT_EQ(p.layers[l].name, general.layers[l].name) << nets[i].name;
        EXPECT_EQ(p.layers[l].predicted, general.layers[l].predicted)
            << nets[i].name << " " << p.layers[l].name;
      }
    }
  }
}

// Without a lock per network, a failure must still be the one a loop would stop at: the lowest index.
TEST(FastPath, PredictNetworksReportsTheFirstFailureInListOrder) {
  model::Model m;
  m.feature_set = "conv=macs";
  m.target = "energy_mj";
  m.subs.push_back({model::Group::Conv, model::parse_feature_set("conv=macs").terms[0], {1e-6}});
  std::vector<Net> nets;
  for (uint64_t i = 0; i < 40; ++i)
    nets.push_back({"nb201_" + std::to_string(i) + ".prototxt", nb201_prototxt(i)});
  nets[13].text += "layer { name: \"broken\" type: \"ReLU\" bottom: \"missing\" top: \"x\" }\n";
  nets[29].text += "layer { name: \"broken\" }\n";
  try {
    model::predict_networks(
        m, nets.size(),
        [&](size_t i) {
          return network_features(run_passes(import_caffe_prototxt(nets[i].text, nets[i].name)).graph);
        },
        2);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nb201_13.prototxt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace convergy

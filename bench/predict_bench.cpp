// Speed of `convergy predict`'s work: every Jetson Nano network read from its prototxt file, imported,
// passed, turned into features and predicted with one model. Reported as networks per second, parsing
// included (goal: >= 2,000/s on 2 cores).
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"
#include "model/csv.h"
#include "model/model.h"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

using namespace convergy;

struct NanoSet {
  std::vector<std::string> paths;
  model::Model model;
};

// The networks of networks.csv, and the Nano model of docs/models.md fitted on every 25th network.
const NanoSet& nano() {
  static const NanoSet set = [] {
    NanoSet s;
    const std::string dir = std::string(CONVERGY_SHARED_DATA) + "/jetson-nano/";
    model::CsvTable csv = model::CsvTable::read_file(dir + "networks.csv");
    const int col = csv.require_column("network");
    for (size_t r = 0; r < csv.rows(); ++r) s.paths.push_back(dir + csv.text(r, col));
    std::string subset = "network,energy_mj\n";
    const int energy = csv.require_column("energy_mj");
    for (size_t r = 0; r < csv.rows(); r += 25) subset += csv.text(r, col) + "," + csv.text(r, energy) + "\n";
    model::Dataset d = model::load_dataset(model::CsvTable::parse(subset, dir + "subset.csv"), "energy_mj",
                                           [](const std::string& ref) {
                                             return std::make_shared<const NetworkFeatures>(
                                                 network_features(run_passes(load_network(ref)).graph));
                                           });
    model::Design design = model::build_design(
        d, model::parse_feature_set("conv=macs,macs*[kernel_h=1],macs*[kernel_h=2],macs*[kernel_h=3],1;"
                                    "dwconv=macs,1;fc=macs,1;method=lad"));
    std::vector<size_t> rows(d.samples.size());
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    s.model = model::fit_model(d, design, rows, {});
    return s;
  }();
  return set;
}

// One iteration = one network, cycling through all 12,534 files.
void BM_PredictNanoNetworkFromPrototxt(benchmark::State& state) {
  const NanoSet& s = nano();
  size_t i = 0;
  double total = 0;
  for (auto _ : state) {
    Graph g = load_network(s.paths[i]);
    NetworkFeatures f = network_features(run_passes(g).graph);
    total += model::predict_network(s.model, f).predicted;
    i = (i + 1) % s.paths.size();
  }
  benchmark::DoNotOptimize(total);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["networks"] = static_cast<double>(s.paths.size());
}
BENCHMARK(BM_PredictNanoNetworkFromPrototxt)->MinTime(3.0)->Unit(benchmark::kMicrosecond);

// The model alone, on features computed beforehand.
void BM_PredictNanoNetworkFromFeatures(benchmark::State& state) {
  const NanoSet& s = nano();
  std::vector<NetworkFeatures> feats;
  for (size_t i = 0; i < s.paths.size(); i += 10) feats.push_back(network_features(run_passes(load_network(s.paths[i])).graph));
  size_t i = 0;
  double total = 0;
  for (auto _ : state) {
    total += model::predict_network(s.model, feats[i]).predicted;
    i = (i + 1) % feats.size();
  }
  benchmark::DoNotOptimize(total);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_PredictNanoNetworkFromFeatures)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

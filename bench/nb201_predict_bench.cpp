// Prediction at search speed: prototxt text in memory -> graph -> passes -> features -> prediction, over a
// fixed set of generated NAS-Bench-201-style networks and over the zoo. Reports networks/s and us/layer
// (layers of the imported graph, before passes). Goals (issue 15): >= 5,000 NB201 networks/s on one core,
// >= 10,000 on two; ResNet-50 import to prediction under 2 ms.
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"
#include "import/text_format.h"
#include "model/model.h"
#include "util/heap.h"
#include "zoo/nb201.h"
#include "zoo/zoo.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace convergy;

// A positive count from the environment variable `name`, else `fallback`.
size_t env_count(const char* name, size_t fallback) {
  const char* env = std::getenv(name);
  const long n = env ? std::atol(env) : 0;
  return n > 0 ? static_cast<size_t>(n) : fallback;
}

// 1,000 networks; NB201_BENCH_NETWORKS=50 makes a short run for callgrind.
size_t nb201_networks() { return env_count("NB201_BENCH_NETWORKS", 1000); }

struct Set {
  std::vector<std::string> names, texts;
  size_t layers = 0;  // imported layers over the whole set
};

const Set& nb201_set() {
  static const Set set = [] {
    Set s;
    for (uint64_t i = 0; i < nb201_networks(); ++i) {
      s.names.push_back("nb201_" + std::to_string(i) + ".prototxt");
      s.texts.push_back(nb201_prototxt(i));
      s.layers += static_cast<size_t>(import_caffe_prototxt(s.texts.back(), s.names.back()).num_layers());
    }
    return s;
  }();
  return set;
}

// A model shaped like the fitted Nano models (per-group MACs and kernel-size terms, constants, an interval),
// with made-up coefficients: the benchmark times the path, not the fit. NB201_BENCH_MODEL=model.json times a
// fitted model instead (with its training-domain checks), e.g. the one bench/python_predict_bench.py uses,
// so the Python and C++ figures are for the same model.
const model::Model& bench_model() {
  static const model::Model m = [] {
    if (const char* path = std::getenv("NB201_BENCH_MODEL"); path && *path) return model::load_model(path);
    model::Model r;
    r.feature_set =
        "conv=macs,macs*[kernel_h=1],macs*[kernel_h=3],1;pool=out_elems,1;fc=macs,1;other=out_elems,1";
    r.method = model::Method::Lad;
    r.target = "energy_mj";
    r.unit = "mJ";
    model::FeatureSet fs = model::parse_feature_set(r.feature_set);
    double c = 1e-6;
    for (int g = 0; g < model::kGroupCount; ++g) {
      const auto& terms = fs.terms[static_cast<size_t>(g)];
      if (terms.empty()) continue;
      model::SubModel sub;
      sub.group = static_cast<model::Group>(g);
      sub.terms = terms;
      for (size_t t = 0; t < terms.size(); ++t) sub.coef.push_back(c *= 1.5);
      r.subs.push_back(std::move(sub));
    }
    r.interval = model::IntervalCalibration{0.9, 0.8, 1.25, 100};
    return r;
  }();
  return m;
}

// The predict path up to the model: text -> graph -> passes (graph only) -> features.
NetworkFeatures text_features(const std::string& text, const std::string& name) {
  return network_features(run_passes(import_caffe_prototxt(text, name), PassOptions::graph_only()).graph);
}

double predict_text(const std::string& text, const std::string& name) {
  const NetworkFeatures f = text_features(text, name);  // an lvalue, as this case has always timed
  return model::predict_network(bench_model(), f).predicted;
}

void report(benchmark::State& state, size_t networks, size_t layers) {
  const auto it = static_cast<double>(state.iterations());
  state.counters["networks/s"] =
      benchmark::Counter(it * static_cast<double>(networks), benchmark::Counter::kIsRate);
  // Seconds per imported layer, printed with an SI prefix: 1.2u = 1.2 us/layer.
  state.counters["s/layer"] = benchmark::Counter(it * static_cast<double>(layers),
                                                 benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["layers/net"] = static_cast<double>(layers) / static_cast<double>(networks);
}

// One iteration = the whole NB201 set, one network after another on one thread.
void BM_Nb201TextToPrediction(benchmark::State& state) {
  const Set& s = nb201_set();
  double total = 0;
  for (auto _ : state)
    for (size_t i = 0; i < s.texts.size(); ++i) total += predict_text(s.texts[i], s.names[i]);
  benchmark::DoNotOptimize(total);
  report(state, s.texts.size(), s.layers);
}
BENCHMARK(BM_Nb201TextToPrediction)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same set through predict_networks, which spreads the list over the given number of threads.
void BM_Nb201TextToPredictionThreads(benchmark::State& state) {
  const Set& s = nb201_set();
  const int threads = static_cast<int>(state.range(0));
  double total = 0;
  for (auto _ : state) {
    auto preds = model::predict_networks(
        bench_model(), s.texts.size(), [&](size_t i) { return text_features(s.texts[i], s.names[i]); },
        threads);
    total += preds.back().predicted;
  }
  benchmark::DoNotOptimize(total);
  report(state, s.texts.size(), s.layers);
}
BENCHMARK(BM_Nb201TextToPredictionThreads)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The case bench/python_predict_bench.py times from Python, in C++: a list of 10,000 texts (the set ten times
// over) predicted in one call, its 10,000 results (with their per-layer breakdowns) held until the next call
// has finished, as `preds = model.predict(texts)` in a Python loop holds them. Compare like with like: run
// both with NB201_BENCH_MODEL set to the model the Python benchmark loads. NB201_LIST=N sets another length.
// Second argument 0: totals only, no per-layer breakdown kept (Python's predict(..., layers=False)).
void BM_Nb201List(benchmark::State& state) {
  const Set& s = nb201_set();
  const int threads = static_cast<int>(state.range(0));
  const bool keep_layers = state.range(1) != 0;
  static const size_t kCount = env_count("NB201_LIST", 10'000);
  std::vector<model::NetworkPrediction> preds;
  for (auto _ : state) {
    preds = model::predict_networks(
        bench_model(), kCount,
        [&](size_t i) {
          const size_t k = i % s.texts.size();
          return text_features(s.texts[k], s.names[k]);
        },
        threads, keep_layers);
    benchmark::DoNotOptimize(preds.back().predicted);
  }
  report(state, kCount, s.layers * kCount / s.texts.size());
}
BENCHMARK(BM_Nb201List)
    ->ArgNames({"threads", "layers"})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Where the time goes: each stage alone over the NB201 set (the earlier stages' results are prepared once).
// 0: text-format parse; 1: import (parse + Caffe rules + graph with shapes); 2: passes; 3: features;
// 4: prediction from features; 5: passes + features + prediction (everything after the import). Stages 2
// and 5 run the passes as the predict path does, on a graph given away with PassOptions::graph_only(); the
// imported graphs they take are copied before each pass over the set, with the timer paused.
void BM_Nb201Stage(benchmark::State& state) {
  const Set& s = nb201_set();
  const int stage = static_cast<int>(state.range(0));
  std::vector<Graph> imported, passed, given;
  std::vector<NetworkFeatures> features;
  if (stage >= 2)
    for (size_t i = 0; i < s.texts.size(); ++i)
      imported.push_back(import_caffe_prototxt(s.texts[i], s.names[i]));
  if (stage == 3 || stage == 4)
    for (const auto& g : imported) passed.push_back(run_passes(g, PassOptions::graph_only()).graph);
  if (stage == 4)
    for (const auto& g : passed) features.push_back(network_features(g));
  double total = 0;
  for (auto _ : state) {
    if (stage == 2 || stage == 5) {
      state.PauseTiming();
      given = imported;
      state.ResumeTiming();
    }
    for (size_t i = 0; i < s.texts.size(); ++i) {
      switch (stage) {
        case 0:
          total += static_cast<double>(
              textproto::Document::parse(s.texts[i], s.names[i], "layer").message_count());
          break;
        case 1:
          total += import_caffe_prototxt(s.texts[i], s.names[i]).num_layers();
          break;
        case 2:
          total += run_passes(std::move(given[i]), PassOptions::graph_only()).graph.num_layers();
          break;
        case 3:
          total += static_cast<double>(network_features(passed[i]).macs);
          break;
        case 4:
          total += model::predict_network(bench_model(), features[i]).predicted;
          break;
        default:
          total += model::predict_network(
                       bench_model(),
                       network_features(run_passes(std::move(given[i]), PassOptions::graph_only()).graph))
                       .predicted;
      }
    }
  }
  benchmark::DoNotOptimize(total);
  report(state, s.texts.size(), s.layers);
}
BENCHMARK(BM_Nb201Stage)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);

// Each zoo network, from its embedded text to its prediction.
void BM_ZooTextToPrediction(benchmark::State& state, const std::string& name) {
  const ZooEntry* e = find_zoo_entry(name);
  if (!e) {
    state.SkipWithError("not in the zoo");
    return;
  }
  const std::string text(e->text), file = name + ".prototxt";
  const size_t layers = static_cast<size_t>(import_caffe_prototxt(text, file).num_layers());
  double total = 0;
  for (auto _ : state) total += predict_text(text, file);
  benchmark::DoNotOptimize(total);
  report(state, 1, layers);
}

const bool registered = [] {
  for (const auto& e : zoo_entries())
    benchmark::RegisterBenchmark(("BM_ZooTextToPrediction/" + e.name).c_str(), BM_ZooTextToPrediction, e.name)
        ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

// The heap set up as the CLI and the Python module set it (util/heap.h); CONVERGY_MALLOC_DEFAULTS=1 times
// glibc's defaults instead.
int main(int argc, char** argv) {
  benchmark::AddCustomContext("heap", convergy::retain_freed_memory().detail);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// Speed of the Caffe prototxt importer on the 12,534 Jetson Nano networks: text-format parsing alone, and
// parsing plus graph construction with shape inference. Files are read into memory first, so disk is
// excluded.
#include "import/load.h"
#include "import/text_format.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct NanoFiles {
  std::vector<std::string> names, texts;
  size_t bytes = 0;
};

const NanoFiles& nano_files() {
  static const NanoFiles files = [] {
    NanoFiles f;
    const std::filesystem::path dir = std::filesystem::path(CONVERGY_SHARED_DATA) / "jetson-nano/nets";
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() != ".prototxt") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      f.names.push_back(e.path().filename().string());
      f.texts.push_back(s.str());
      f.bytes += f.texts.back().size();
    }
    return f;
  }();
  return files;
}

void report(benchmark::State& state, const NanoFiles& f) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(f.texts.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(f.bytes));
  state.counters["files"] = static_cast<double>(f.texts.size());
  // Seconds of CPU per file (printed with an SI prefix, e.g. 13u = 13 us), the figure held to < 100 us.
  state.counters["cpu_s_per_file"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(f.texts.size()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_ParseTextFormat(benchmark::State& state) {
  const NanoFiles& f = nano_files();
  if (f.texts.empty()) state.SkipWithError("no Nano prototxt files found");
  for (auto _ : state) {
    for (size_t i = 0; i < f.texts.size(); ++i) {
      auto doc = convergy::textproto::Document::parse(f.texts[i], f.names[i]);
      benchmark::DoNotOptimize(doc.message_count());
    }
  }
  report(state, f);
}
BENCHMARK(BM_ParseTextFormat)->Unit(benchmark::kMillisecond);

void BM_ImportCaffeGraph(benchmark::State& state) {
  const NanoFiles& f = nano_files();
  if (f.texts.empty()) state.SkipWithError("no Nano prototxt files found");
  for (auto _ : state) {
    for (size_t i = 0; i < f.texts.size(); ++i) {
      convergy::Graph g = convergy::import_caffe_prototxt(f.texts[i], f.names[i]);
      benchmark::DoNotOptimize(g.num_layers());
    }
  }
  report(state, f);
}
BENCHMARK(BM_ImportCaffeGraph)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// ONNX import cost on a 550 MB VGG-16 (weights inline) against reading the graph alone (same model, weights
// in an absent external file) and against a plain protobuf parse of the whole file. Time per import comes
// from Google Benchmark; peak RSS from one run in a forked child (ru_maxrss), minus an idle child's.
//
// The models come from tools/onnx/export_torchvision.py; set CONVERGY_VGG16_INLINE and CONVERGY_VGG16_GRAPH
// to reuse existing files, otherwise they are exported into ./onnx-bench/ on the first run.
#include "import/load.h"

#include <benchmark/benchmark.h>
#include <onnx/onnx_pb.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

namespace {

namespace fs = std::filesystem;

std::string model_path(const char* env, const char* folder, const char* flags) {
  if (const char* p = std::getenv(env)) return p;
  const fs::path dir = fs::current_path() / folder;
  const fs::path path = dir / "vgg16.onnx";
  if (!fs::exists(path)) {
    const std::string cmd = std::string("/usr/bin/python3 '") + CONVERGY_SOURCE_DIR +
                            "/tools/onnx/export_torchvision.py' " + flags + " --out '" + dir.string() +
                            "' vgg16 > /dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "onnx_bench: export failed: %s\n", cmd.c_str());
  }
  return path.string();
}

const std::string& inline_model() {
  static const std::string p =
      model_path("CONVERGY_VGG16_INLINE", "onnx-bench", "--keep-weights --static-batch");
  return p;
}
const std::string& graph_only_model() {
  static const std::string p = model_path("CONVERGY_VGG16_GRAPH", "onnx-bench-graph", "--static-batch");
  return p;
}

// Peak resident set of a child that runs `work` once, in MiB; -1 if the child failed.
double child_peak_rss_mib(const std::function<void()>& work) {
  const pid_t pid = fork();
  if (pid == 0) {
    try {
      work();
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  rusage usage{};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return -1;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void report_rss(benchmark::State& state, const std::string& path, const std::function<void()>& work) {
  const double idle = child_peak_rss_mib([] {});
  const double peak = child_peak_rss_mib(work);
  state.counters["peak_rss_mib"] = peak;
  state.counters["rss_over_idle_mib"] = peak - idle;
  std::error_code ec;
  state.counters["file_mib"] = static_cast<double>(fs::file_size(path, ec)) / (1024.0 * 1024.0);
}

void BM_ImportInlineWeights(benchmark::State& state) {
  const std::string& path = inline_model();
  auto work = [&] { benchmark::DoNotOptimize(convergy::import_onnx_file(path)); };
  for (auto _ : state) work();
  report_rss(state, path, work);
}

void BM_ImportGraphOnly(benchmark::State& state) {
  const std::string& path = graph_only_model();
  auto work = [&] { benchmark::DoNotOptimize(convergy::import_onnx_file(path)); };
  for (auto _ : state) work();
  report_rss(state, path, work);
}

// What an importer that lets protobuf parse everything pays (every weight byte copied into the message).
void BM_ProtobufParseWholeFile(benchmark::State& state) {
  const std::string& path = inline_model();
  auto work = [&] {
    std::ifstream in(path, std::ios::binary);
    onnx::ModelProto model;
    if (!model.ParseFromIstream(&in)) throw std::runtime_error("parse failed");
    benchmark::DoNotOptimize(model.graph().node_size());
  };
  for (auto _ : state) work();
  report_rss(state, path, work);
}

BENCHMARK(BM_ImportInlineWeights)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ImportGraphOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProtobufParseWholeFile)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

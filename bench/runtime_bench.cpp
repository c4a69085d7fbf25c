// Runtime benchmark. Default: Google Benchmark timings of whole-network runs on every backend.
// With --compare: ResNet-50, MobileNetV2 and VGG-16 at 1 and 2 threads on each backend, OpenCV DNN and
// PyTorch eager, runs alternating round by round so machine noise hits every runtime alike; prints each
// median and the ratios of the best convergy backend to each peer. bench/peers/compare.sh sets it up.
#include "graph/passes.h"
#include "import/load.h"
#include "runtime/backend.h"
#include "runtime/executor.h"

#include <benchmark/benchmark.h>
#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace convergy;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kNets = {"resnet50", "mobilenet_v2", "vgg16"};

Graph executed_graph(const std::string& net) { return run_passes(load_network(net)).graph; }

void BM_network(benchmark::State& state, std::string net, std::string backend, int threads) {
  const Graph g = executed_graph(net);
  Executor e(g, {backend, threads, 1});
  e.run();
  for (auto _ : state) e.run();
  state.counters["fallbacks"] = static_cast<double>(e.fallbacks().size());
}

// One MatMul layer of two runtime tensors on `backend`, 1 thread: ViT-B/32's attention products, 12 heads of
// 50 tokens and head size 64 (scores Q K^T: 12x50x64 by 12x64x50; context A V: 12x50x50 by 12x50x64).
void BM_matmul(benchmark::State& state, std::string backend, Shape a, Shape b) {
  Graph g("matmul");
  const BlobId x = g.add_input("a", a);
  const BlobId y = g.add_input("b", b);
  g.add_layer("layer", LayerKind::MatMul, NoParams{}, {x, y}, {"out"});
  Executor e(g, {backend, 1, 1});
  const LayerId id = g.find_layer("layer");
  e.run();
  for (auto _ : state) e.run_layer(id);
  const Shape& out = g.blob(g.layer(id).outputs[0]).shape;
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(out.elems() * a[a.rank() - 1]),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// A fused activation over one MobileNet-sized output (32 x 112 x 112), refilled with random signs before each
// pass as a convolution would leave it; `kind` -1 times the refill alone, the floor to subtract.
void BM_activation(benchmark::State& state, int kind) {
  std::vector<float> fresh(32 * 112 * 112), x(fresh.size());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : fresh) v = dist(rng);
  FusedActivation act;
  if (kind >= 0) act.kind = static_cast<LayerKind>(kind);
  act.alpha = act.kind == LayerKind::Clip ? 0.0f : 0.1f;
  act.beta = 6.0f;
  for (auto _ : state) {
    std::copy(fresh.begin(), fresh.end(), x.begin());
    if (kind >= 0) runtime::apply_activation(act, x.data(), static_cast<int64_t>(x.size()));
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(x.size()));
}

// One pooling layer of a zoo network on one thread (runtime::pool_nchw_planes, the loop of the reference and
// GEMM backends): VGG-16's pool1 (2x2 stride 2), ResNet's stem pool (3x3 stride 2, pad 1), an inception
// branch pool (3x3 stride 1, pad 1), SqueezeNet's 3x3 stride 2 and a 7x7 global average.
struct PoolCase {
  const char* name;
  int64_t c, h, w, k, s, pad;
  bool max;
};
constexpr PoolCase kPools[] = {{"vgg16_pool1_2x2s2_max", 64, 224, 224, 2, 2, 0, true},
                               {"resnet_stem_3x3s2p1_max", 64, 112, 112, 3, 2, 1, true},
                               {"inception_3x3s1p1_max", 192, 28, 28, 3, 1, 1, true},
                               {"squeezenet_3x3s2_max", 96, 111, 111, 3, 2, 0, true},
                               {"global_7x7_avg", 2048, 7, 7, 7, 1, 0, false}};

void BM_pool(benchmark::State& state, PoolCase pc) {
  runtime::PoolGeometry g{};
  g.n = 1, g.c = pc.c, g.in_h = pc.h, g.in_w = pc.w, g.kh = g.kw = pc.k, g.sh = g.sw = pc.s;
  g.pt = g.pl = g.pb = g.pr = pc.pad;
  g.out_h = (pc.h + 2 * pc.pad - pc.k) / pc.s + 1, g.out_w = (pc.w + 2 * pc.pad - pc.k) / pc.s + 1;
  g.max = pc.max;
  g.count_include_pad = true;
  std::vector<float> x(static_cast<size_t>(g.c * g.in_h * g.in_w)),
      y(static_cast<size_t>(g.c * g.out_h * g.out_w));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  for (auto _ : state) {
    runtime::pool_nchw_planes(x.data(), y.data(), g, 0, g.c);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(y.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>((x.size() + y.size()) * sizeof(float)));
}

// One LRN layer on one thread (runtime::lrn_nchw_planes, the loop of the reference and GEMM backends):
// AlexNet's norm1 and GoogLeNet's conv2/norm2 (across 5 channels, beta 0.75), and the same shape with beta
// 0.5, which takes std::pow.
struct LrnCase {
  const char* name;
  int64_t c, h, w;
  float beta;
};
constexpr LrnCase kLrns[] = {{"alexnet_norm1_96x55x55", 96, 55, 55, 0.75f},
                             {"googlenet_norm2_192x56x56", 192, 56, 56, 0.75f},
                             {"alexnet_norm1_beta0.5", 96, 55, 55, 0.5f}};

void BM_lrn(benchmark::State& state, LrnCase lc) {
  const runtime::LrnGeometry g{1, lc.c, lc.h, lc.w, 5, 1e-4f, lc.beta, 1.0f, true};
  std::vector<float> x(static_cast<size_t>(g.c * g.h * g.w)), y(x.size());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(0.0f, 50.0f);  // post-ReLU activations
  for (float& v : x) v = dist(rng);
  for (auto _ : state) {
    runtime::lrn_nchw_planes(x.data(), y.data(), g, 0, g.c);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(y.size()));
}

// A peer runtime in a child process answering "run" with one forward pass time in ms.
class Peer {
 public:
  Peer(std::string name, std::vector<std::string> argv) : name_(std::move(name)) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      close(to_child[1]);
      close(from_child[0]);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
    ok_ = read_line() == "ready";
    if (!ok_) fmt::print(stderr, "runtime_bench: peer {} did not start\n", name_);
  }
  ~Peer() {
    if (in_) {
      std::fputs("quit\n", in_);
      std::fclose(in_);
    }
    if (out_) std::fclose(out_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  std::optional<double> run() {
    if (!ok_) return std::nullopt;
    std::fputs("run\n", in_);
    std::fflush(in_);
    const std::string line = read_line();
    if (line.empty()) {
      ok_ = false;
      return std::nullopt;
    }
    return std::stod(line);
  }

 private:
  std::string read_line() {
    char buf[256];
    if (!out_ || !std::fgets(buf, sizeof buf, out_)) return {};
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }
  std::string name_;
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
  bool ok_ = false;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct CompareOptions {
  std::string peers_dir;  // holds opencv_peer and <net>.onnx
  std::string python = "/usr/bin/python3";
  int rounds = 10;
  std::vector<int> threads = {1, 2};
  std::vector<std::string> nets = kNets;
  std::vector<std::string> backends;
};

int compare(const CompareOptions& o) {
  // The ratio is this runtime's median over the best convergy backend's: above 1, convergy is faster.
  fmt::print("| network | threads | runtime | median ms | ratio to best convergy |\n");
  fmt::print("|---|---|---|---|---|\n");
  for (const auto& net : o.nets) {
    const Graph g = executed_graph(net);
    for (int threads : o.threads) {
      std::vector<std::unique_ptr<Executor>> execs;
      for (const auto& b : o.backends) {
        execs.push_back(std::make_unique<Executor>(g, ExecutorOptions{b, threads, 1}));
        execs.back()->run();
        for (const auto& f : execs.back()->fallbacks())
          fmt::print(stderr, "runtime_bench: {} on {}: layer {} fell back: {}\n", net, b, f.layer, f.reason);
      }
      std::vector<std::unique_ptr<Peer>> peers;
      const std::string t = std::to_string(threads);
      peers.push_back(std::make_unique<Peer>(
          "opencv-dnn",
          std::vector<std::string>{o.peers_dir + "/opencv_peer", o.peers_dir + "/" + net + ".onnx", t}));
      peers.push_back(std::make_unique<Peer>(
          "pytorch", std::vector<std::string>{
                         o.python, std::string(CONVERGY_SOURCE_DIR) + "/bench/peers/torch_peer.py", net, t}));
      std::map<std::string, std::vector<double>> times;
      for (int r = 0; r < o.rounds; ++r) {
        for (size_t i = 0; i < execs.size(); ++i) {
          // Each runtime's thread settings are its own; re-applied by run() for ours.
          const auto t0 = Clock::now();
          execs[i]->run();
          times[o.backends[i]].push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        for (auto& p : peers)
          if (auto ms = p->run()) times[p->name()].push_back(*ms);
      }
      std::string best;
      double best_ms = 0.0;
      for (const auto& b : o.backends) {
        const double m = median(times[b]);
        if (best.empty() || m < best_ms) {
          best = b;
          best_ms = m;
        }
      }
      for (const auto& b : o.backends)
        fmt::print("| {} | {} | convergy {} | {:.2f} | {} |\n", net, threads, b, median(times[b]),
                   b == best ? "1.00 (best)" : fmt::format("{:.2f}", median(times[b]) / best_ms));
      for (auto& p : peers) {
        if (times[p->name()].empty()) {
          fmt::print("| {} | {} | {} | not measured | |\n", net, threads, p->name());
          continue;
        }
        const double m = median(times[p->name()]);
        fmt::print("| {} | {} | {} | {:.2f} | {:.2f} |\n", net, threads, p->name(), m, m / best_ms);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> r;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    r.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bool do_compare = false;
  CompareOptions o;
  for (const auto& b : Executor::available_backends())
    if (b != "reference") o.backends.push_back(b);
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      const std::string f = std::string(flag) + "=";
      if (a.rfind(f, 0) == 0) return a.substr(f.size());
      return std::nullopt;
    };
    if (a == "--compare")
      do_compare = true;
    else if (auto v = value("--peers-dir"))
      o.peers_dir = *v;
    else if (auto v2 = value("--rounds"))
      o.rounds = std::stoi(*v2);
    else if (auto v3 = value("--nets"))
      o.nets = split(*v3);
    else if (auto v4 = value("--backends"))
      o.backends = split(*v4);
    else if (auto v5 = value("--threads")) {
      o.threads.clear();
      for (const auto& t : split(*v5)) o.threads.push_back(std::stoi(t));
    } else
      rest.push_back(argv[i]);
  }
  try {
    if (do_compare) return compare(o);
    for (const auto& net : kNets)
      for (const auto& b : o.backends)
        for (int t : {1, 2})
          benchmark::RegisterBenchmark(fmt::format("run/{}/{}/threads:{}", net, b, t).c_str(), BM_network,
                                       net, b, t)
              ->Unit(benchmark::kMillisecond)
              ->MeasureProcessCPUTime()
              ->UseRealTime();
    benchmark::RegisterBenchmark("activation/refill_only", BM_activation, -1)->Unit(benchmark::kMicrosecond);
    for (LayerKind k : {LayerKind::ReLU, LayerKind::LeakyReLU, LayerKind::Clip, LayerKind::Sigmoid,
                        LayerKind::Swish, LayerKind::HardSwish, LayerKind::GELU})
      benchmark::RegisterBenchmark(fmt::format("activation/{}", layer_kind_name(k)).c_str(), BM_activation,
                                   static_cast<int>(k))
          ->Unit(benchmark::kMicrosecond);
    for (const auto& b : o.backends) {
      benchmark::RegisterBenchmark(fmt::format("matmul/{}/scores", b).c_str(), BM_matmul, b,
                                   Shape{12, 50, 64}, Shape{12, 64, 50})
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(fmt::format("matmul/{}/context", b).c_str(), BM_matmul, b,
                                   Shape{12, 50, 50}, Shape{12, 50, 64})
          ->Unit(benchmark::kMicrosecond);
    }
    for (const PoolCase& pc : kPools)
      benchmark::RegisterBenchmark(fmt::format("pool/{}", pc.name).c_str(), BM_pool, pc)
          ->Unit(benchmark::kMicrosecond);
    for (const LrnCase& lc : kLrns)
      benchmark::RegisterBenchmark(fmt::format("lrn/{}", lc.name).c_str(), BM_lrn, lc)
          ->Unit(benchmark::kMicrosecond);
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  } catch (const std::exception& e) {
    fmt::print(stderr, "runtime_bench: {}\n", e.what());
    return 1;
  }
  return 0;
}

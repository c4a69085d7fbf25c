// `convergy run NET`: runs a network on one backend and prints the total time and each layer's time
// (median over --repeat runs after one warm-up run), warning on stderr about reference fallbacks.
#include "cli/command.h"
#include "cli/format.h"
#include "cli/limits.h"
#include "graph/passes.h"
#include "import/load.h"
#include "runtime/executor.h"
#include "util/error.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace convergy::cli {

namespace {

struct RunOptions {
  std::string net;
  std::string backend = "reference";
  int threads = 1;
  int repeat = 10;
  uint64_t seed = 1;
  bool no_passes = false;
  bool tf32 = false;
  OutputFormat format = OutputFormat::Table;
  std::vector<std::string> input_shapes;
  int64_t classes = 0;
  bool allow_python_layers = false;
};

using Clock = std::chrono::steady_clock;

// Records each layer's start and end of one run into preallocated slots.
class Timer final : public LayerHook {
 public:
  explicit Timer(int layers) : start_(static_cast<size_t>(layers)), ms_(static_cast<size_t>(layers)) {}
  void on_layer(LayerId layer, bool start) override {
    const auto now = Clock::now();
    if (start) {
      start_[static_cast<size_t>(layer)] = now;
    } else {
      ms_[static_cast<size_t>(layer)] =
          std::chrono::duration<double, std::milli>(now - start_[static_cast<size_t>(layer)]).count();
    }
  }
  const std::vector<double>& ms() const { return ms_; }

 private:
  std::vector<Clock::time_point> start_;
  std::vector<double> ms_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string ms_text(double ms) { return fmt::format("{:.3f}", ms); }

int run_network(const RunOptions& o) {
  if (o.repeat < 1) throw_bad_input("--repeat {}, expected >= 1", o.repeat);
  if (o.threads < 1) throw_bad_input("--threads {}, expected >= 1", o.threads);
  LoadOptions load;
  for (const auto& s : o.input_shapes) load.input_shapes.push_back(parse_input_shape_option(s));
  load.allow_python_layers = o.allow_python_layers;
  load.classes = o.classes;
  const Graph defined = load_network(o.net, load);
  print_graph_notes(defined);
  const Graph g = run_passes(defined, o.no_passes ? PassOptions::none() : PassOptions{}).graph;

  Executor exec(g, {o.backend, o.threads, o.seed, true, o.tf32});
  for (const auto& f : exec.fallbacks())
    fmt::print(stderr, "convergy: warning: layer \"{}\" ran on the reference backend: {}\n", f.layer,
               f.reason);
  for (const auto& f : exec.skipped())
    fmt::print(stderr, "convergy: warning: layer \"{}\" was not run ({}); its time is not measured\n", f.layer,
               f.reason);

  const auto nl = static_cast<size_t>(g.num_layers());
  Timer timer(g.num_layers());
  exec.run(&timer);  // warm-up: first-touch of buffers, library initialisation
  exec.take_device_layer_ms();
  std::vector<std::vector<double>> layer_ms(nl);
  std::vector<double> total_ms;
  for (int r = 0; r < o.repeat; ++r) {
    const auto t0 = Clock::now();
    exec.run(&timer);
    total_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    // A GPU runs layers asynchronously: its layer times come from device events, not host clocks.
    const std::vector<double> device_ms = exec.take_device_layer_ms();
    for (size_t i = 0; i < nl; ++i) layer_ms[i].push_back(device_ms.empty() ? timer.ms()[i] : device_ms[i]);
  }

  const std::string network = g.name().empty() ? o.net : g.name();
  const double total = median(total_ms);
  if (o.format == OutputFormat::Json) {
    Json layers = Json::array();
    for (size_t i = 0; i < nl; ++i) {
      const Layer& l = g.layer(static_cast<LayerId>(i));
      if (l.kind == LayerKind::Input) continue;
      layers.push_back({{"name", l.name},
                        {"type", layer_kind_name(l.kind)},
                        {"backend", exec.backend_of(static_cast<LayerId>(i))},
                        {"time_ms", median(layer_ms[i])}});
    }
    Json fallbacks = Json::array();
    for (const auto& f : exec.fallbacks()) fallbacks.push_back({{"layer", f.layer}, {"reason", f.reason}});
    Json out = {{"network", network},    {"backend", o.backend},   {"threads", o.threads},
                {"math_mode", exec.math_mode().empty() ? Json() : Json(exec.math_mode())},
                {"repeat", o.repeat},    {"total_time_ms", total}, {"layers", layers},
                {"fallbacks", fallbacks}};
    fmt::print("{}", json_text(out));
    return 0;
  }
  Table t({{"layer"}, {"type"}, {"backend"}, {"time_ms", Align::Right}});
  for (size_t i = 0; i < nl; ++i) {
    const Layer& l = g.layer(static_cast<LayerId>(i));
    if (l.kind == LayerKind::Input) continue;
    t.add_row({l.name, std::string(layer_kind_name(l.kind)), exec.backend_of(static_cast<LayerId>(i)),
               ms_text(median(layer_ms[i]))});
  }
  if (o.format == OutputFormat::Csv) {
    fmt::print("{}", t.csv());
    return 0;
  }
  fmt::print("network {} ({}), backend {}{}, threads {}, median of {} run{}\n\n", network, g.source(), o.backend,
             exec.math_mode().empty() ? "" : " (" + exec.math_mode() + ")", o.threads, o.repeat,
             o.repeat == 1 ? "" : "s");
  fmt::print("{}", t.text());
  fmt::print("\ntotal_ms {}\n", ms_text(total));
  if (!exec.fallbacks().empty())
    fmt::print("{} layer{} fell back to the reference backend (see stderr)\n", exec.fallbacks().size(),
               exec.fallbacks().size() == 1 ? "" : "s");
  return 0;
}

const Command kRun{
    {"run", "Run a network on a backend and time it, in total and layer by layer", 30, [](CLI::App& sub) {
       add_limit_options(sub);
       auto o = std::make_shared<RunOptions>();
       sub.add_option("net", o->net, "Zoo name or model file")->required();
       std::string backends;
       for (const auto& b : Executor::available_backends()) backends += (backends.empty() ? "" : ", ") + b;
       sub.add_option("--backend,-b", o->backend, "Math backend: " + backends)->capture_default_str();
       sub.add_option("--threads,-t", o->threads, "Threads for every library (default 1)")
           ->capture_default_str();
       sub.add_option("--repeat,-r", o->repeat, "Timed runs after one warm-up; medians are printed")
           ->capture_default_str();
       sub.add_option("--seed", o->seed, "Seed of the generated weights and inputs")->capture_default_str();
       sub.add_option("--input-shape", o->input_shapes,
                      "Input shape, name=1x3x224x224 or 1x3x224x224 for the first input");
       add_classes_option(sub, o->classes, false);
       sub.add_flag("--no-passes", o->no_passes, "Run the graph as defined (no fusion or folding)");
       sub.add_flag("--allow-python-layers", o->allow_python_layers,
                    "Count Caffe Python layers as zero-cost layers (with a warning) instead of refusing the file");
       sub.add_flag("--tf32", o->tf32, "cudnn: allow TF32 tensor-core math (off: full fp32)");
       add_format_option(sub, o->format);
       return [o] { return run_network(*o); };
     }}};

}  // namespace

}  // namespace convergy::cli

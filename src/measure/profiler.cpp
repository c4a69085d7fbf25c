// The per-layer profiler (see profiler.h).
#include "measure/profiler.h"

#include "util/error.h"

#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

namespace convergy {

double monotonic_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double process_cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  // all threads of the process, backend workers included
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<LayerId> ExecutorWorkload::layers() const {
  std::vector<LayerId> v;
  const Graph& g = ex_.graph();
  for (LayerId i = 0; i < g.num_layers(); ++i)
    if (g.layer(i).kind != LayerKind::Input) v.push_back(i);
  return v;
}

std::string Workload::layer_name(LayerId layer) const {
  return layer == kWholeNetwork ? std::string("whole network") : fmt::format("layer {}", layer);
}

std::string ExecutorWorkload::layer_name(LayerId layer) const {
  if (layer == kWholeNetwork || layer < 0 || layer >= ex_.graph().num_layers()) return Workload::layer_name(layer);
  return ex_.graph().layer(layer).name;
}

int64_t graph_runs_for(double run_ms, double chunk_ms, int64_t max_runs) {
  max_runs = std::max<int64_t>(max_runs, 1);
  if (!(run_ms > 0)) return max_runs;
  const double n = std::ceil(chunk_ms / run_ms);
  return n >= static_cast<double>(max_runs) ? max_runs : std::max<int64_t>(1, static_cast<int64_t>(n));
}

int64_t graph_launches_for(double graph_ms, double window_ms, int64_t max_launches) {
  max_launches = std::max<int64_t>(max_launches, 1);
  if (!(graph_ms > 0)) return max_launches;
  const double n = std::ceil(window_ms / graph_ms);
  return n >= static_cast<double>(max_launches) ? max_launches : std::max<int64_t>(1, static_cast<int64_t>(n));
}

// --- sensor recording ---

SensorRecorder::SensorRecorder(Sensor& sensor) : sensor_(sensor) {
  // Poll several times per update period so edges are resolved, but not below 0.1 ms (each read is a
  // syscall or an NVML call, and the poller shares the CPU with the measured work).
  double p = sensor.info().update_period_ms;
  poll_ms_ = p > 0 ? std::clamp(p / 4, 0.1, 50.0) : 1.0;
}

Trace SensorRecorder::record(const std::function<void()>& work, double* t0, double* t1) {
  Trace tr;
  tr.counter = sensor_.info().kind == SensorKind::EnergyCounter;
  // Sensor reads are serialised: counter sensors keep wraparound state that two threads must not share.
  std::mutex mu;
  auto sample = [&] {
    std::lock_guard<std::mutex> lock(mu);
    auto v = sensor_.read();
    double t = monotonic_s();
    if (v && (tr.t_s.empty() || t > tr.t_s.back())) tr.add(t, *v);
    return t;
  };
  std::atomic<bool> stop{false};
  auto poll = std::chrono::duration<double, std::milli>(poll_ms_);
  sample();
  std::thread sampler([&] {
    while (!stop.load()) {
      std::this_thread::sleep_for(poll);
      sample();
    }
  });
  // Synchronous reads at both edges, so the window is covered even when the machine is loaded and the
  // sampler thread is not scheduled for a while; the sampler fills in the power curve between them.
  *t0 = sample();
  work();
  *t1 = monotonic_s();
  sample();
  stop.store(true);
  sampler.join();
  return tr;
}

// --- profiler ---

Profiler::Profiler(Workload& work, Sensor* sensor, const ProfileOptions& options)
    : work_(work), sensor_(sensor && sensor->available() ? sensor : nullptr), opt_(options), layers_(work.layers()) {
  if (opt_.reps < 1) throw_bad_input("--reps {}: expected at least 1", opt_.reps);
  if (!opt_.perf_events.empty()) counters_ = PerfCounters::open(opt_.perf_events);
}

std::optional<double> Profiler::sensor_period_ms() const {
  if (!sensor_) return std::nullopt;
  double p = sensor_->info().update_period_ms;
  return p > 0 ? std::optional<double>(p) : std::nullopt;
}

double Profiler::min_energy_window_ms() const {
  if (opt_.energy_window_ms > 0) return opt_.energy_window_ms;
  auto p = sensor_period_ms();
  return p ? opt_.min_sensor_periods * *p : opt_.min_window_ms;
}

int64_t Profiler::iterations_for(double one_run_ms, bool energy) const {
  double window = opt_.min_window_ms;
  if (energy && sensor_) window = std::max(window, min_energy_window_ms());
  if (one_run_ms <= 0) return opt_.max_iterations;
  auto n = static_cast<int64_t>(std::ceil(window / one_run_ms));
  return std::clamp<int64_t>(n, 1, opt_.max_iterations);
}

namespace {

// Time of one run of `fn` for calibration: the shortest of 3 tries, each the smaller of wall and process CPU
// time, so a preemption on a loaded machine does not shrink the iteration count (and the window) it sets.
// With several backend threads CPU time exceeds wall time and wall time is used.
double calibration_ms(const std::function<void()>& fn, int batch, Workload& work) {
  double best = 1e300;
  for (int k = 0; k < 3; ++k) {
    double w0 = monotonic_s(), c0 = process_cpu_s();
    for (int b = 0; b < batch; ++b) fn();
    work.sync();
    double wall = (monotonic_s() - w0) * 1e3 / batch, cpu = (process_cpu_s() - c0) * 1e3 / batch;
    best = std::min(best, cpu > 0 ? std::min(wall, cpu) : wall);
  }
  return best;
}

}  // namespace

void Profiler::warm_up() {
  for (int i = 0; i < opt_.warmup_runs; ++i) work_.run(nullptr);
  double net_ms = calibration_ms([this] { work_.run(nullptr); }, 1, work_);
  // With a sensor the whole-network window must be long enough for it too: its energy is compared with
  // the sum of the layers'.
  layer_iters_.assign(layers_.size(), 1);
  layer_ms_.assign(layers_.size(), 0);
  for (size_t i = 0; i < layers_.size() && opt_.calibrate_layers; ++i) {
    LayerId l = layers_[i];
    work_.run_layer(l);  // warm this layer's caches and lazily built state
    double ms = calibration_ms([this, l] { work_.run_layer(l); }, 1, work_);
    // A very short layer: time batches of runs, because one run is below the clock's useful resolution.
    if (ms < 0.05) ms = calibration_ms([this, l] { work_.run_layer(l); }, 100, work_);
    layer_ms_[i] = ms;
    layer_iters_[i] = iterations_for(ms, true);
  }
  layer_replay_.assign(layers_.size(), ReplayPlan{});
  net_replay_ = ReplayPlan{};
  if (opt_.graph_replay) {
    net_replay_ = plan_replay(kWholeNetwork, net_ms);
    for (size_t i = 0; i < layers_.size() && opt_.calibrate_layers; ++i)
      layer_replay_[i] = plan_replay(layers_[i], layer_ms_[i]);
  }
  // With a sensor the whole-network window must be long enough for it too (its energy is compared with the
  // sum of the layers'), unless that energy comes from the network's own replay window.
  net_iters_ = iterations_for(net_ms, sensor_ != nullptr && net_replay_.runs == 0);
}

ReplayPlan Profiler::plan_replay(LayerId layer, double run_ms) {
  ReplayPlan p;
  const int64_t runs = graph_runs_for(run_ms, opt_.graph_chunk_ms, opt_.max_graph_runs);
  const std::string why = work_.prepare_replay(layer, runs);
  if (!why.empty()) {
    // Said once per reason among the layers (a CPU backend gives every layer the same one).
    if (layer == kWholeNetwork || replay_refusals_.insert(why).second)
      note(fmt::format("{}: no graph replay ({}); its windows use stream launches", work_.layer_name(layer), why));
    return p;
  }
  work_.replay(layer);  // the first launch uploads the graph
  work_.sync();
  // Wall time: the host only waits for the device here, and its CPU time says nothing about the graph.
  double graph_ms = 1e300;
  for (int k = 0; k < 3; ++k) {
    const double t0 = monotonic_s();
    work_.replay(layer);
    work_.sync();
    graph_ms = std::min(graph_ms, (monotonic_s() - t0) * 1e3);
  }
  double window = opt_.min_window_ms;
  if (sensor_) window = std::max(window, min_energy_window_ms());
  p.runs = runs;
  p.launches = graph_launches_for(graph_ms, window, opt_.max_iterations);
  return p;
}

ReplayPlan Profiler::replay_plan(LayerId layer) const {
  if (layer == kWholeNetwork) return net_replay_;
  auto pos = std::find(layers_.begin(), layers_.end(), layer);
  if (pos == layers_.end() || layer_replay_.empty()) return {};
  return layer_replay_[static_cast<size_t>(pos - layers_.begin())];
}

std::optional<double> Profiler::measure_idle_w(double seconds) {
  if (!sensor_) return std::nullopt;
  SensorRecorder rec(*sensor_);
  double t0 = 0, t1 = 0;
  Trace tr = rec.record([seconds] { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }, &t0, &t1);
  return mean_power_w(tr, t0, t1);
}

namespace {

// Collects layer start/end times (and CPU times) during whole-network runs; preallocated, no allocation
// in the hook.
class MarkerLog : public LayerHook {
 public:
  MarkerLog(int num_graph_layers, int64_t iterations)
      : iters_(iterations),
        start_(static_cast<size_t>(num_graph_layers) * static_cast<size_t>(iterations), 0),
        end_(start_.size(), 0),
        cpu_(static_cast<size_t>(num_graph_layers), 0),
        cpu_start_(static_cast<size_t>(num_graph_layers), 0),
        layers_(num_graph_layers) {}
  void set_iteration(int64_t i) { it_ = i; }
  void on_layer(LayerId layer, bool start) override {
    double t = monotonic_s();
    double c = process_cpu_s();
    size_t k = static_cast<size_t>(it_) * static_cast<size_t>(layers_) + static_cast<size_t>(layer);
    if (start) {
      start_[k] = t;
      cpu_start_[static_cast<size_t>(layer)] = c;
    } else {
      end_[k] = t;
      cpu_[static_cast<size_t>(layer)] += c - cpu_start_[static_cast<size_t>(layer)];
    }
  }
  double start(LayerId l, int64_t it) const { return start_[idx(l, it)]; }
  double end(LayerId l, int64_t it) const { return end_[idx(l, it)]; }
  double cpu_s(LayerId l) const { return cpu_[static_cast<size_t>(l)]; }
  int64_t iterations() const { return iters_; }

 private:
  size_t idx(LayerId l, int64_t it) const {
    return static_cast<size_t>(it) * static_cast<size_t>(layers_) + static_cast<size_t>(l);
  }
  int64_t iters_ = 0, it_ = 0;
  std::vector<double> start_, end_, cpu_, cpu_start_;
  int layers_;
};

}  // namespace

// Runs `body` once as one timing window: counters around it, and the sensor sampled during it when there is
// one. Markers and isolated repetitions both measure through here.
std::vector<uint64_t> Profiler::timed_window(const std::function<void()>& body, double* t0, double* t1,
                                             std::optional<Trace>* trace) {
  if (sensor_) {
    double pause_ms = opt_.cooldown_ms;
    if (opt_.random_phase) {
      std::mt19937_64 rng(opt_.seed * 7919u + ++phase_draws_);
      pause_ms += std::uniform_real_distribution<double>(0.0, sensor_period_ms().value_or(0.0))(rng);
    }
    if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(pause_ms));
  }
  counters_.start();
  if (sensor_) {
    SensorRecorder rec(*sensor_);
    *trace = rec.record(body, t0, t1);
  } else {
    *t0 = monotonic_s();
    body();
    *t1 = monotonic_s();
  }
  return counters_.stop();
}

std::optional<EnergyResult> Profiler::energy_of(const Trace& trace, double t0, double t1) {
  auto r = attribute(trace, t0, t1, idle_w_);
  if (!r && !counter_moved(trace, t0, t1) && !stuck_noted_) {
    stuck_noted_ = true;
    if (opt_.on_note)
      opt_.on_note(fmt::format("energy counter {} did not move during a {:.0f} ms window: energy left empty "
                               "(the counter is stuck or not supported here)",
                               sensor_ ? sensor_->info().name : "?", (t1 - t0) * 1e3));
  }
  return r;
}

std::vector<LayerMeasurement> Profiler::markers_rep(int rep) {
  if (layer_iters_.empty()) warm_up();
  LayerId max_layer = 0;
  for (LayerId l : layers_) max_layer = std::max(max_layer, l);
  MarkerLog log(max_layer + 1, net_iters_);
  double t0 = 0, t1 = 0, c0 = 0, c1 = 0;
  work_.take_device_layer_ms();  // start the device timer's sums from zero
  auto body = [&] {
    c0 = process_cpu_s();
    for (int64_t i = 0; i < net_iters_; ++i) {
      log.set_iteration(i);
      work_.run(&log);
    }
    work_.sync();
    c1 = process_cpu_s();
  };
  std::optional<Trace> trace;
  const std::vector<uint64_t> counts = timed_window(body, &t0, &t1, &trace);
  // A GPU's layers run asynchronously: their times come from device events, not the host clock.
  const std::vector<double> device_ms = work_.take_device_layer_ms();
  if (opt_.on_marker) {
    opt_.on_marker("window_start", t0, 0, kWholeNetwork, rep, -1);
    for (int64_t i = 0; i < net_iters_; ++i)
      for (LayerId l : layers_) opt_.on_marker("layer", log.start(l, i), log.end(l, i), l, rep, i);
    opt_.on_marker("window_end", t1, 0, kWholeNetwork, rep, -1);
  }

  std::vector<LayerMeasurement> out;
  const double n = static_cast<double>(net_iters_);
  LayerMeasurement whole;
  whole.layer = kWholeNetwork;
  whole.mode = "markers";
  whole.rep = rep;
  whole.iterations = net_iters_;
  whole.time_ms = (t1 - t0) * 1e3 / n;
  whole.cpu_time_ms = (c1 - c0) * 1e3 / n;
  for (size_t i = 0; i < counts.size(); ++i)
    whole.counters.push_back({counters_.events()[i], static_cast<double>(counts[i]) / n});
  if (trace && net_replay_.runs > 0) {
    // Like the layers: the network's device layers replayed back to back, no host copies or waits between.
    LayerMeasurement w = replay_window(kWholeNetwork, net_replay_);
    whole.energy_mj = w.energy_mj;
    whole.dynamic_energy_mj = w.dynamic_energy_mj;
    whole.power_w = w.power_w;
    whole.repeated_for_sensor = true;
    whole.graph_replay = true;
  } else if (trace) {
    if (auto r = energy_of(*trace, t0, t1)) {
      whole.energy_mj = r->gross_j * 1e3 / n;
      if (r->dynamic_j) whole.dynamic_energy_mj = *r->dynamic_j * 1e3 / n;
      whole.power_w = r->mean_power_w;
    }
  }
  const double min_energy_ms = min_energy_window_ms();
  for (size_t li = 0; li < layers_.size(); ++li) {
    LayerId l = layers_[li];
    LayerMeasurement m;
    m.layer = l;
    m.mode = "markers";
    m.rep = rep;
    m.iterations = net_iters_;
    double total = 0;
    for (int64_t i = 0; i < net_iters_; ++i) total += log.end(l, i) - log.start(l, i);
    if (static_cast<size_t>(l) < device_ms.size()) total = device_ms[static_cast<size_t>(l)] * 1e-3;
    m.time_ms = total * 1e3 / n;
    m.cpu_time_ms = log.cpu_s(l) * 1e3 / n;
    if (trace) {
      // Host timestamps of asynchronous (GPU) layers do not say when the device ran them: with a device
      // timer every layer's energy comes from a window of it alone.
      if (m.time_ms >= min_energy_ms && device_ms.empty()) {
        double e = 0, dyn = 0;
        bool ok = true;
        for (int64_t i = 0; i < net_iters_ && ok; ++i) {
          auto r = attribute(*trace, log.start(l, i), log.end(l, i), idle_w_);
          ok = r.has_value();
          if (ok) {
            e += r->gross_j;
            if (r->dynamic_j) dyn += *r->dynamic_j;
          }
        }
        if (ok) {
          m.energy_mj = e * 1e3 / n;
          if (idle_w_) m.dynamic_energy_mj = dyn * 1e3 / n;
          m.power_w = m.time_ms > 0 ? e / total : 0;
        }
      } else {
        // Too short for the sensor inside a network run: repeat it alone until the window is long enough.
        LayerMeasurement iso = isolated(l, rep);
        m.energy_mj = iso.energy_mj;
        m.dynamic_energy_mj = iso.dynamic_energy_mj;
        m.power_w = iso.power_w;
        m.repeated_for_sensor = true;
        m.graph_replay = iso.graph_replay;
      }
    }
    out.push_back(std::move(m));
  }
  out.push_back(std::move(whole));
  return out;
}

template <class Launch>
LayerMeasurement Profiler::run_window(LayerId layer, int64_t launches, int64_t runs, const Launch& launch) {
  LayerMeasurement m;
  m.layer = layer;
  m.iterations = runs;
  double t0 = 0, t1 = 0, c0 = 0, c1 = 0;
  auto body = [&] {
    c0 = process_cpu_s();
    for (int64_t i = 0; i < launches; ++i) launch();
    work_.sync();
    c1 = process_cpu_s();
  };
  std::optional<Trace> trace;
  const std::vector<uint64_t> counts = timed_window(body, &t0, &t1, &trace);
  const double n = static_cast<double>(runs);
  m.time_ms = (t1 - t0) * 1e3 / n;
  m.cpu_time_ms = (c1 - c0) * 1e3 / n;
  for (size_t i = 0; i < counts.size(); ++i)
    m.counters.push_back({counters_.events()[i], static_cast<double>(counts[i]) / n});
  if (trace) {
    if (auto r = energy_of(*trace, t0, t1)) {
      m.energy_mj = r->gross_j * 1e3 / n;
      if (r->dynamic_j) m.dynamic_energy_mj = *r->dynamic_j * 1e3 / n;
      m.power_w = r->mean_power_w;
    }
  }
  return m;
}

LayerMeasurement Profiler::isolated(LayerId layer, int rep) {
  if (layer_iters_.empty()) warm_up();
  auto pos = std::find(layers_.begin(), layers_.end(), layer);
  if (pos == layers_.end()) throw_bad_input("layer id {} is not a profiled layer", layer);
  const size_t at = static_cast<size_t>(pos - layers_.begin());
  LayerMeasurement m;
  if (at < layer_replay_.size() && layer_replay_[at].runs > 0) {
    m = replay_window(layer, layer_replay_[at]);
  } else {
    const int64_t iters = layer_iters_[at];
    m = run_window(layer, iters, iters, [&] { work_.run_layer(layer); });
  }
  m.mode = "isolated";
  m.rep = rep;
  return m;
}

LayerMeasurement Profiler::replay_window(LayerId layer, const ReplayPlan& plan) {
  LayerMeasurement m = run_window(layer, plan.launches, plan.iterations(), [&] { work_.replay(layer); });
  m.graph_replay = true;
  return m;
}

std::vector<LayerId> Profiler::isolated_order(int rep) const {
  std::vector<LayerId> order = layers_;
  if (opt_.interleave) {
    std::mt19937_64 rng(opt_.seed * 1000003u + static_cast<uint64_t>(rep));
    std::shuffle(order.begin(), order.end(), rng);
  }
  return order;
}

LayerMeasurement aggregate(const std::vector<LayerMeasurement>& raw, Summary* time_summary,
                           std::optional<Summary>* energy_summary) {
  if (raw.empty()) throw_failure("aggregate of no measurements");
  LayerMeasurement a = raw.front();
  a.rep = -1;
  std::vector<double> t, cpu, e, dyn, p;
  bool repeated = false, graph = true;
  for (const auto& r : raw) {
    graph = graph && r.graph_replay;
    t.push_back(r.time_ms);
    if (r.cpu_time_ms) cpu.push_back(*r.cpu_time_ms);
    if (r.energy_mj) e.push_back(*r.energy_mj);
    if (r.dynamic_energy_mj) dyn.push_back(*r.dynamic_energy_mj);
    if (r.power_w) p.push_back(*r.power_w);
    repeated = repeated || r.repeated_for_sensor;
  }
  Summary ts = *summarize(t);
  if (time_summary) *time_summary = ts;
  a.time_ms = ts.median;
  a.cpu_time_ms = cpu.empty() ? std::nullopt : std::optional<double>(summarize(cpu)->median);
  auto es = summarize(e);
  if (energy_summary) *energy_summary = es;
  // Energy is only reported when every repetition measured it; a partial set would bias the median.
  a.energy_mj = es && e.size() == raw.size() ? std::optional<double>(es->median) : std::nullopt;
  a.dynamic_energy_mj = dyn.size() == raw.size() ? std::optional<double>(summarize(dyn)->median) : std::nullopt;
  a.power_w = p.size() == raw.size() ? std::optional<double>(summarize(p)->median) : std::nullopt;
  a.repeated_for_sensor = repeated;
  a.graph_replay = graph;  // only when every repetition replayed a graph
  return a;
}

}  // namespace convergy

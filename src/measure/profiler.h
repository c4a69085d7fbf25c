// The per-layer profiler (SyNERGY's measurement method): warm-up, an iteration count that makes each timing
// window long enough, repetitions, wall and CPU time, energy from a sensor, and perf counters, in both modes:
// markers inside whole-network runs, and each layer repeated in isolation (optionally in random order).
// It produces rows; the caller stores them (measure knows nothing of SQLite).
#pragma once
#include "measure/attribution.h"
#include "measure/perf_counters.h"
#include "measure/sensor.h"
#include "measure/stats.h"
#include "runtime/executor.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace convergy {

struct ProfileOptions {
  int warmup_runs = 2;
  int reps = 5;
  double min_window_ms = 20;      // each timing window lasts at least this (google/benchmark's min time)
  int64_t max_iterations = 1000000;
  bool interleave = false;        // random layer order in each isolated repetition
  bool calibrate_layers = true;   // warm_up() times each layer on its own; only isolated mode needs it
  uint64_t seed = 1;
  double min_sensor_periods = 10;  // energy windows last at least this many sensor update periods
  std::vector<std::string> perf_events;  // empty: no counters
  // Energy windows on a counter that updates every P ms (NVML: about 100 ms): last at least this long
  // (0: min_sensor_periods x P), start after a random part of P (so the counter's update phase is not
  // locked to the window) and after a cool-down pause, so one trial's heat does not carry into the next.
  double energy_window_ms = 0;
  bool random_phase = false;
  double cooldown_ms = 0;
  // Replay CUDA graphs (device workloads) in the energy windows and in isolated mode's timing windows: each
  // layer's repetition, and the whole network's device layers, are captured once as a graph of
  // back-to-back runs (about graph_chunk_ms long, at most max_graph_runs runs) and the graph is launched
  // until the window is long enough, so no host launch gap or synchronisation lies between runs. A layer
  // that cannot be captured (a host fallback, a CPU backend) keeps stream launches, with a note. With it the
  // whole network's energy comes from a replay window of its own, like the layers' (comparable sums).
  bool graph_replay = false;
  double graph_chunk_ms = 2;
  int64_t max_graph_runs = 1000;
  // Receives one line when an energy value is left empty for a reason the user should know (a counter
  // that did not move during a window).
  std::function<void(const std::string& note)> on_note;
  // Receives every window and layer interval of markers mode (host monotonic seconds), for a marker log.
  std::function<void(const std::string& event, double t_s, double end_s, LayerId layer, int rep, int64_t iteration)>
      on_marker;
};

// What the profiler runs: the Executor in production, a fake with known timings in tests.
class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::vector<LayerId> layers() const = 0;  // profiled layers, execution order
  virtual void run(LayerHook* hook) = 0;
  virtual void run_layer(LayerId layer) = 0;
  // Waits for queued work (a GPU runs layers asynchronously); clocks are read only after it.
  virtual void sync() {}
  // Device-side per-layer times of the whole-network runs since the last call (ms by layer id), or empty
  // when the workload has no device timer (then host clocks around each layer are used).
  virtual std::vector<double> take_device_layer_ms() { return {}; }
  // CUDA-graph replay (see ProfileOptions::graph_replay): capture `runs` runs of a layer (kWholeNetwork: the
  // network) as one graph; empty when done, else why not. replay() queues one launch of it.
  virtual std::string prepare_replay(LayerId layer, int64_t runs) {
    (void)layer, (void)runs;
    return "the workload has no graph replay";
  }
  virtual void replay(LayerId layer) { (void)layer; }
  virtual std::string layer_name(LayerId layer) const;
};

class ExecutorWorkload : public Workload {
 public:
  explicit ExecutorWorkload(Executor& ex) : ex_(ex) {}
  std::vector<LayerId> layers() const override;  // every layer except Input
  void run(LayerHook* hook) override { ex_.run(hook); }
  void run_layer(LayerId layer) override { ex_.run_layer(layer); }
  void sync() override { ex_.synchronize(); }
  std::vector<double> take_device_layer_ms() override {
    return ex_.has_device_timer() ? ex_.take_device_layer_ms() : std::vector<double>{};
  }
  std::string prepare_replay(LayerId layer, int64_t runs) override { return ex_.prepare_replay(layer, runs); }
  void replay(LayerId layer) override { ex_.replay(layer); }
  std::string layer_name(LayerId layer) const override;

 private:
  Executor& ex_;
};

constexpr LayerId kWholeNetwork = -1;  // the row of a whole-network run in markers mode

struct LayerMeasurement {
  LayerId layer = 0;
  std::string mode;  // "markers" | "isolated"
  int rep = 0;
  int64_t iterations = 1;
  double time_ms = 0;  // wall time per run
  std::optional<double> cpu_time_ms;
  std::optional<double> energy_mj, dynamic_energy_mj, power_w;
  bool repeated_for_sensor = false;
  bool graph_replay = false;  // the row's window (energy, or isolated timing) replayed a CUDA graph
  std::vector<std::pair<std::string, double>> counters;  // per run
};

// How a window replays a captured graph: `runs` runs per graph, `launches` launches of it.
struct ReplayPlan {
  int64_t runs = 0;      // 0: no graph (stream launches)
  int64_t launches = 0;
  int64_t iterations() const { return runs * launches; }
};
// Runs per graph so that one launch lasts about chunk_ms (one run lasting run_ms), within [1, max_runs].
int64_t graph_runs_for(double run_ms, double chunk_ms, int64_t max_runs);
// Launches of a graph lasting graph_ms so that the window reaches window_ms, within [1, max_launches].
int64_t graph_launches_for(double graph_ms, double window_ms, int64_t max_launches);

// Samples one sensor on a background thread while work runs.
class SensorRecorder {
 public:
  explicit SensorRecorder(Sensor& sensor);
  // Runs `work` while sampling; returns the trace (covering the whole work) and its start/end times.
  Trace record(const std::function<void()>& work, double* t0, double* t1);
  double poll_ms() const { return poll_ms_; }

 private:
  Sensor& sensor_;
  double poll_ms_;
};

// Seconds on the monotonic clock that all markers and traces share.
double monotonic_s();
double process_cpu_s();

class Profiler {
 public:
  // `sensor` may be null: the target is then time only and every energy field stays empty.
  Profiler(Workload& work, Sensor* sensor, const ProfileOptions& options);

  // Warm-up runs, then the iteration counts of the network and of every layer.
  void warm_up();
  // Mean power while idle for `seconds`; nullopt without a sensor.
  std::optional<double> measure_idle_w(double seconds);
  void set_idle_power(std::optional<double> w) { idle_w_ = w; }

  // One repetition of whole-network runs: one row per layer, plus the kWholeNetwork row.
  std::vector<LayerMeasurement> markers_rep(int rep);
  // One repetition of one layer on its own.
  LayerMeasurement isolated(LayerId layer, int rep);
  // Layer order for isolated repetition `rep` (shuffled with the seed when interleaving).
  std::vector<LayerId> isolated_order(int rep) const;

  const std::vector<CounterFailure>& counter_failures() const { return counters_.failures(); }
  int64_t network_iterations() const { return net_iters_; }
  // The replay plan of a layer (kWholeNetwork: the network); runs == 0 without a graph.
  ReplayPlan replay_plan(LayerId layer) const;

 private:
  int64_t iterations_for(double one_run_ms, bool energy) const;
  std::vector<uint64_t> timed_window(const std::function<void()>& body, double* t0, double* t1,
                                     std::optional<Trace>* trace);
  std::optional<double> sensor_period_ms() const;
  // attribute() with the idle power, noting (once) a counter that did not move.
  std::optional<EnergyResult> energy_of(const Trace& trace, double t0, double t1);
  double min_energy_window_ms() const;
  // Captures and calibrates the graph of a layer (kWholeNetwork: the network) that runs once in run_ms.
  ReplayPlan plan_replay(LayerId layer, double run_ms);
  // One window of graph launches: time and CPU time per run, counters, and energy when there is a sensor.
  LayerMeasurement replay_window(LayerId layer, const ReplayPlan& plan);
  // One window of `launches` calls of `launch`, which together run the layer `runs` times (then one sync):
  // time and CPU time per run, counters, and energy when there is a sensor. A template, so the timed loop
  // calls `launch` directly (defined and used in profiler.cpp only).
  template <class Launch>
  LayerMeasurement run_window(LayerId layer, int64_t launches, int64_t runs, const Launch& launch);
  void note(const std::string& line) const {
    if (opt_.on_note) opt_.on_note(line);
  }

  Workload& work_;
  Sensor* sensor_;
  ProfileOptions opt_;
  std::vector<LayerId> layers_;
  std::vector<int64_t> layer_iters_;  // by position in layers_
  std::vector<double> layer_ms_;      // calibration time per layer
  int64_t net_iters_ = 1;
  std::vector<ReplayPlan> layer_replay_;  // by position in layers_
  ReplayPlan net_replay_;
  std::set<std::string> replay_refusals_;  // reasons already noted
  std::optional<double> idle_w_;
  PerfCounters counters_;
  uint64_t phase_draws_ = 0;  // random start phases drawn so far
  bool stuck_noted_ = false;
};

// Aggregate of the raw rows of one layer and mode (median time, Welford stddev, CV, 95% CI; energy likewise).
LayerMeasurement aggregate(const std::vector<LayerMeasurement>& raw, Summary* time_summary,
                           std::optional<Summary>* energy_summary);

// Machine state recorded with every campaign: CPU model, governor and frequencies, load, temperatures,
// ASLR, nvpmodel, kernel, compiler and build flags, BLAS configuration; for the cudnn backend also the
// math mode (TF32 on or off), the GPU, its driver and clocks, and the CUDA library versions. JSON text.
std::string machine_state_json(const SysFs& fs, const std::string& backend, int threads,
                               const std::string& math_mode = {});

}  // namespace convergy

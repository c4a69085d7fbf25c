// GPU energy without a GPU: energy attribution from a recorded NVML-like counter trace (mJ counter that
// steps every 100 ms, read every 25 ms), a counter that does not move (NULL energy with a note, never 0),
// and markers-mode times taken from a workload's device timer rather than host clocks.
#include "measure/attribution.h"
#include "measure/profiler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

namespace convergy {
namespace {

// A trace as SensorRecorder records NVML: reads every 25 ms of a counter the driver refreshes every
// 100 ms, while the GPU draws `watts` from t = 0 to t = `busy_s`, and `idle_w` otherwise.
Trace nvml_like_trace(double watts, double idle_w, double busy_s, double end_s) {
  Trace tr;
  tr.counter = true;
  double counter_j = 0, last_update = 0;
  for (double t = 0; t <= end_s + 1e-9; t += 0.025) {
    // The driver's update: energy since the last update, at 100 ms steps.
    const double update = std::floor(t / 0.1 + 1e-9) * 0.1;
    if (update > last_update) {
      for (double u = last_update; u < update - 1e-9; u += 0.001)
        counter_j += (u < busy_s ? watts : idle_w) * 0.001;
      last_update = update;
    }
    tr.add(t, counter_j);
  }
  return tr;
}

TEST(GpuEnergy, FiveSecondWindowOfAStepCounterIsWithinOneUpdate) {
  // 300 W for 5 s over 60 W idle: 1500 J gross; 300 J idle; 1200 J dynamic. A 100 ms step holds at most
  // 30 J, so a 5 s window is within 2% of the truth: the reason for windows of seconds, not milliseconds.
  const Trace tr = nvml_like_trace(300.0, 60.0, 5.0, 6.0);
  auto r = attribute(tr, 0.0, 5.0, 60.0);
  ASSERT_TRUE(r);
  EXPECT_NEAR(r->gross_j, 1500.0, 30.0);
  ASSERT_TRUE(r->dynamic_j);
  EXPECT_NEAR(*r->dynamic_j, 1200.0, 30.0);
  EXPECT_NEAR(r->mean_power_w, 300.0, 6.0);
  // Per repetition: a layer run 100000 times in the window.
  EXPECT_NEAR(r->gross_j / 100000 * 1e3, 15.0, 0.3);  // mJ per run
  // A 50 ms window inside one counter step cannot be read: the counter did not move across it.
  EXPECT_FALSE(counter_moved(tr, 0.21, 0.26));
  EXPECT_FALSE(attribute(tr, 0.21, 0.26, 60.0));
}

TEST(GpuEnergy, ACounterThatNeverMovesGivesNoEnergy) {
  Trace tr;
  tr.counter = true;
  for (int i = 0; i <= 40; ++i) tr.add(i * 0.025, 12.5);  // stuck at 12.5 J for a second
  EXPECT_FALSE(counter_moved(tr, 0.1, 0.9));
  EXPECT_FALSE(attribute(tr, 0.1, 0.9, std::nullopt));
  // Power traces are not counters: a constant power is a real energy.
  tr.counter = false;
  auto r = attribute(tr, 0.1, 0.9, std::nullopt);
  ASSERT_TRUE(r);
  EXPECT_NEAR(r->gross_j, 12.5 * 0.8, 1e-9);
}

// An energy counter that is readable but never changes (what a GPU with a broken counter reports).
class StuckCounter : public Sensor {
 public:
  StuckCounter() : Sensor({"fake:stuck", "GPU 0", "test", "mJ", SensorKind::EnergyCounter, 1.0, false, "", ""}, {}) {}
  std::optional<double> read() override { return 7.0; }
};

// A GPU-like workload of two layers whose device times (kMs) are known exactly: run_layer() queues work,
// sync() waits for it (at most 20 ms), and the device timer reports every whole-network run's layer times.
class TwoLayerDevice : public Workload {
 public:
  static constexpr double kMs[2] = {0.4, 0.1};
  std::vector<LayerId> layers() const override { return {0, 1}; }
  void run(LayerHook* hook) override {
    for (LayerId l : layers()) {
      if (hook) hook->on_layer(l, true);
      run_layer(l);
      if (hook) hook->on_layer(l, false);
      device_ms_[static_cast<size_t>(l)] += kMs[l];
    }
    after_network_run();
    sync();
  }
  void run_layer(LayerId l) override { queue(l, 1); }
  void sync() override {
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(std::min(queued_ms_, 20.0)));
    queued_ms_ = 0;
    after_sync();
  }
  std::vector<double> take_device_layer_ms() override {
    auto out = device_ms_;
    device_ms_ = {0, 0};
    return out;
  }

 protected:
  // `runs` runs of layer l join the queue.
  virtual void queue(LayerId l, int64_t runs) { queued_ms_ += kMs[l] * static_cast<double>(runs); }
  virtual void after_network_run() {}
  virtual void after_sync() {}

 private:
  double queued_ms_ = 0;
  std::vector<double> device_ms_ = {0, 0};
};

TEST(GpuEnergy, MarkersUseDeviceTimesAndAStuckCounterLeavesEnergyEmptyWithANote) {
  TwoLayerDevice work;
  StuckCounter sensor;
  ProfileOptions o;
  o.warmup_runs = 1;
  o.min_window_ms = 5;
  o.min_sensor_periods = 5;  // 5 ms energy windows on the 1 ms fake counter
  o.random_phase = true;
  std::vector<std::string> notes;
  o.on_note = [&](const std::string& n) { notes.push_back(n); };
  Profiler p(work, &sensor, o);
  p.warm_up();
  const auto rows = p.markers_rep(0);
  ASSERT_EQ(rows.size(), 3u);
  // Host clocks around an asynchronous layer see only the enqueue: the rows carry the device times.
  EXPECT_NEAR(rows[0].time_ms, TwoLayerDevice::kMs[0], 1e-9);  // a mean over repetitions: not exact
  EXPECT_NEAR(rows[1].time_ms, TwoLayerDevice::kMs[1], 1e-9);
  for (const auto& r : rows) {
    EXPECT_FALSE(r.energy_mj) << "layer " << r.layer;
    EXPECT_FALSE(r.dynamic_energy_mj);
  }
  EXPECT_TRUE(rows[0].repeated_for_sensor);  // energy is always sought in a window of the layer alone
  ASSERT_EQ(notes.size(), 1u);  // said once, not per row
  EXPECT_NE(notes[0].find("did not move"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("fake:stuck"), std::string::npos) << notes[0];
}

// NVML as an H200 with driver 580 would answer, or a pre-Volta GPU without the energy counter.
NvmlApi gpu_api(int energy_rc) {
  NvmlApi api;
  api.init = [] { return 0; };
  api.device_count = [](unsigned* n) {
    *n = 1;
    return 0;
  };
  api.handle_by_index = [](unsigned, NvmlApi::Device* d) {
    static int dev;
    *d = &dev;
    return 0;
  };
  api.name = [](NvmlApi::Device, std::string* s) {
    *s = "NVIDIA H200";
    return 0;
  };
  api.total_energy_mj = [energy_rc](NvmlApi::Device, unsigned long long* mj) {
    *mj = 5;
    return energy_rc;
  };
  api.power_mw = [](NvmlApi::Device, unsigned* mw) {
    *mw = 75000;
    return 0;
  };
  api.error_string = [](int rc) { return rc == 3 ? std::string("Not Supported") : std::string("err"); };
  api.driver_version = [](std::string* v) {
    *v = "580.65.06";
    return 0;
  };
  api.clock_mhz = [](NvmlApi::Device, int type, bool max, unsigned* mhz) {
    if (type == 2) return 3;  // memory clock: NOT_SUPPORTED on this fake
    *mhz = max ? 1980 : 345;
    return 0;
  };
  return api;
}

TEST(GpuEnergy, GpuListShowsDriverClocksAndWhetherTheCounterWorks) {
  std::string why;
  auto gpus = nvml_gpus(gpu_api(0), &why);
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].name, "NVIDIA H200");
  EXPECT_EQ(gpus[0].driver, "580.65.06");
  EXPECT_EQ(gpus[0].sm_mhz, 345u);
  EXPECT_EQ(gpus[0].max_sm_mhz, 1980u);
  EXPECT_FALSE(gpus[0].mem_mhz);  // not answered: unknown, not 0
  EXPECT_EQ(gpus[0].energy.availability, Availability::Available);
  gpus = nvml_gpus(gpu_api(3), &why);
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].energy.availability, Availability::NotSupported);
  EXPECT_NE(gpus[0].energy.reason.find("NOT_SUPPORTED"), std::string::npos) << gpus[0].energy.reason;
  NvmlApi none = gpu_api(0);
  none.device_count = [](unsigned* n) {
    *n = 0;
    return 0;
  };
  EXPECT_TRUE(nvml_gpus(none, &why).empty());
  EXPECT_NE(why.find("no GPU"), std::string::npos) << why;
}

TEST(GpuEnergy, ReplayPlansFillTheWindowWithWholeGraphs) {
  EXPECT_EQ(graph_runs_for(0.004, 2.0, 1000), 500);  // a 4 us layer: 500 runs per 2 ms graph
  EXPECT_EQ(graph_runs_for(0.001, 2.0, 1000), 1000);  // capped
  EXPECT_EQ(graph_runs_for(5.0, 2.0, 1000), 1);       // a run longer than the chunk: one per graph
  EXPECT_EQ(graph_runs_for(0.0, 2.0, 64), 64);        // unmeasurably short: the cap
  EXPECT_EQ(graph_launches_for(2.0, 5000.0, 1000000), 2500);
  EXPECT_EQ(graph_launches_for(2.0, 5001.0, 1000000), 2501);  // the window reaches at least its length
  EXPECT_EQ(graph_launches_for(9000.0, 5000.0, 1000000), 1);
  EXPECT_EQ(graph_launches_for(1e-9, 5000.0, 77), 77);
  const ReplayPlan p{500, 2500};
  EXPECT_EQ(p.iterations(), 1250000);
}

// A simulated GPU with CUDA graphs and an energy counter that counts the device's work exactly: every run
// of layer l costs kBusyW x kMs[l] (W x ms = mJ); a whole-network run from the host (run()) also leaves
// the GPU idle for kGapMs while the host copies and waits, at kIdleW. So a window's energy is known
// exactly whatever the host clock does, and the test asserts arithmetic, not timing.
class GraphDevice : public TwoLayerDevice {
 public:
  static constexpr double kBusyW = 300, kIdleW = 100, kGapMs = 0.25;
  explicit GraphDevice(bool layer1_capturable) : capturable_(layer1_capturable) {}

  std::string prepare_replay(LayerId layer, int64_t runs) override {
    if (!capturable_ && layer != 0) return "layer \"b\" runs on the host (fallback)";
    graph_runs_[layer] = runs;
    return {};
  }
  void replay(LayerId layer) override {
    const int64_t runs = graph_runs_.at(layer);
    if (layer == kWholeNetwork) {
      queue(0, runs);
      queue(1, runs);
    } else {
      queue(layer, runs);
    }
  }
  std::string layer_name(LayerId layer) const override { return layer == 1 ? "b" : Workload::layer_name(layer); }
  // The counter as the sensor reads it.
  double read_energy_mj() {
    const uint64_t d = deposits_.load();
    const double mj = static_cast<double>(energy_uj_.load()) * 1e-3;
    read_after_.store(d);
    last_read_ns_.store(now_ns());
    return mj;
  }

 protected:
  void queue(LayerId l, int64_t runs) override {
    TwoLayerDevice::queue(l, runs);
    add_uj(kBusyW * kMs[l] * static_cast<double>(runs) * 1e3);
  }
  void after_network_run() override { add_uj(kIdleW * kGapMs * 1e3); }
  // While a recorder samples the counter, waits until it has read the counter since the last deposit, so
  // that the window's last sample before its end holds all of its energy (exact sums, not interpolated).
  void after_sync() override {
    for (int i = 0;
         i < 10000 && read_after_.load() < deposits_.load() && now_ns() - last_read_ns_.load() < 200000000;
         ++i)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void add_uj(double uj) {
    energy_uj_ += static_cast<int64_t>(std::llround(uj));
    ++deposits_;
  }
  bool capturable_;
  std::map<LayerId, int64_t> graph_runs_;
  std::atomic<int64_t> energy_uj_{0};
  std::atomic<uint64_t> deposits_{0}, read_after_{0};
  std::atomic<int64_t> last_read_ns_{0};
};

// The simulated GPU's counter, in joules as SensorRecorder keeps it.
class GraphDeviceCounter : public Sensor {
 public:
  explicit GraphDeviceCounter(GraphDevice& d)
      : Sensor({"fake:gpu", "GPU 0", "test", "mJ", SensorKind::EnergyCounter, 1.0, false, "", ""}, {}), d_(d) {}
  std::optional<double> read() override { return d_.read_energy_mj() * 1e-3; }

 private:
  GraphDevice& d_;
};

ProfileOptions graph_options(bool replay, std::vector<std::string>* notes) {
  ProfileOptions o;
  o.warmup_runs = 1;
  o.min_window_ms = 2;
  o.min_sensor_periods = 4;  // 4 ms energy windows on the 1 ms fake counter
  o.graph_chunk_ms = 1;
  o.random_phase = true;
  o.graph_replay = replay;
  o.on_note = [notes](const std::string& n) { notes->push_back(n); };
  return o;
}

TEST(GpuEnergy, GraphReplayMakesTheSumOfLayersTheWholeNetwork) {
  const double layer0_mj = GraphDevice::kBusyW * GraphDevice::kMs[0];
  const double layer1_mj = GraphDevice::kBusyW * GraphDevice::kMs[1];
  const double gap_mj = GraphDevice::kIdleW * GraphDevice::kGapMs;
  {
    // Stream launches: the whole-network window includes the host gaps the isolated layers never see.
    GraphDevice gpu(true);
    GraphDeviceCounter counter(gpu);
    std::vector<std::string> notes;
    Profiler p(gpu, &counter, graph_options(false, &notes));
    p.warm_up();
    EXPECT_EQ(p.replay_plan(0).runs, 0);
    const auto rows = p.markers_rep(0);
    ASSERT_EQ(rows.size(), 3u);
    ASSERT_TRUE(rows[0].energy_mj && rows[1].energy_mj && rows[2].energy_mj);
    EXPECT_NEAR(*rows[0].energy_mj, layer0_mj, 1e-6);
    EXPECT_NEAR(*rows[1].energy_mj, layer1_mj, 1e-6);
    EXPECT_NEAR(*rows[2].energy_mj, layer0_mj + layer1_mj + gap_mj, 1e-6);
    EXPECT_FALSE(rows[2].graph_replay);
    EXPECT_TRUE(notes.empty());
  }
  {
    // Graph replay: the whole network is replayed like the layers, and the sum is the whole.
    GraphDevice gpu(true);
    GraphDeviceCounter counter(gpu);
    std::vector<std::string> notes;
    Profiler p(gpu, &counter, graph_options(true, &notes));
    p.warm_up();
    for (LayerId l : {LayerId{0}, LayerId{1}, kWholeNetwork}) {
      const ReplayPlan plan = p.replay_plan(l);
      EXPECT_GE(plan.runs, 1) << l;
      EXPECT_GE(plan.launches, 1) << l;
    }
    const auto rows = p.markers_rep(0);
    ASSERT_EQ(rows.size(), 3u);
    ASSERT_TRUE(rows[0].energy_mj && rows[1].energy_mj && rows[2].energy_mj);
    EXPECT_NEAR(*rows[0].energy_mj, layer0_mj, 1e-6);
    EXPECT_NEAR(*rows[1].energy_mj, layer1_mj, 1e-6);
    EXPECT_NEAR(*rows[2].energy_mj, *rows[0].energy_mj + *rows[1].energy_mj, 1e-6);
    for (const auto& r : rows) EXPECT_TRUE(r.graph_replay && r.repeated_for_sensor) << r.layer;
    // Isolated mode replays too: the window's runs are whole graphs.
    const LayerMeasurement iso = p.isolated(0, 0);
    EXPECT_TRUE(iso.graph_replay);
    EXPECT_EQ(iso.iterations, p.replay_plan(0).iterations());
    ASSERT_TRUE(iso.energy_mj);
    EXPECT_NEAR(*iso.energy_mj, layer0_mj, 1e-6);
    EXPECT_TRUE(notes.empty()) << notes[0];
  }
}

TEST(GpuEnergy, ALayerThatCannotBeCapturedKeepsStreamLaunchesWithANote) {
  GraphDevice gpu(false);  // layer 1 (and so the network) falls back to the host
  GraphDeviceCounter counter(gpu);
  std::vector<std::string> notes;
  Profiler p(gpu, &counter, graph_options(true, &notes));
  p.warm_up();
  EXPECT_GE(p.replay_plan(0).runs, 1);
  EXPECT_EQ(p.replay_plan(1).runs, 0);
  EXPECT_EQ(p.replay_plan(kWholeNetwork).runs, 0);
  ASSERT_EQ(notes.size(), 2u);  // the network and layer b, once each
  EXPECT_NE(notes[0].find("whole network: no graph replay"), std::string::npos) << notes[0];
  EXPECT_NE(notes[1].find("b: no graph replay (layer \"b\" runs on the host"), std::string::npos) << notes[1];
  EXPECT_NE(notes[1].find("stream launches"), std::string::npos) << notes[1];
  const auto rows = p.markers_rep(0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].graph_replay);
  EXPECT_FALSE(rows[1].graph_replay);
  EXPECT_FALSE(rows[2].graph_replay);  // from the markers window, as without replay
  ASSERT_TRUE(rows[1].energy_mj && rows[2].energy_mj);
  EXPECT_NEAR(*rows[1].energy_mj, GraphDevice::kBusyW * GraphDevice::kMs[1], 1e-6);
  EXPECT_EQ(notes.size(), 2u);  // nothing new while measuring
}

}  // namespace
}  // namespace convergy

// GPU energy without a GPU: energy attribution from a recorded NVML-like counter trace (mJ counter that
// steps every 100 ms, read every 25 ms), a counter that does not move (NULL energy with a note, never 0),
// and markers-mode times taken from a workload's device timer rather than host clocks.
#include "measure/attribution.h"
#include "measure/profiler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
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

// A GPU-like workload: work is queued, sync() waits for it; per-layer device times are known exactly.
class DeviceWorkload : public Workload {
 public:
  std::vector<LayerId> layers() const override { return {0, 1}; }
  void run(LayerHook* hook) override {
    for (LayerId l : layers()) {
      if (hook) hook->on_layer(l, true);
      run_layer(l);
      if (hook) hook->on_layer(l, false);
      device_ms_[static_cast<size_t>(l)] += kMs[l];
    }
    sync();
  }
  void run_layer(LayerId l) override { queued_ms_ += kMs[l]; }
  void sync() override {
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(queued_ms_));
    queued_ms_ = 0;
  }
  std::vector<double> take_device_layer_ms() override {
    auto out = device_ms_;
    device_ms_ = {0, 0};
    return out;
  }
  static constexpr double kMs[2] = {0.4, 0.1};

 private:
  double queued_ms_ = 0;
  std::vector<double> device_ms_ = {0, 0};
};

TEST(GpuEnergy, MarkersUseDeviceTimesAndAStuckCounterLeavesEnergyEmptyWithANote) {
  DeviceWorkload work;
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
  EXPECT_NEAR(rows[0].time_ms, DeviceWorkload::kMs[0], 1e-9);  // a mean over repetitions: not exact
  EXPECT_NEAR(rows[1].time_ms, DeviceWorkload::kMs[1], 1e-9);
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

}  // namespace
}  // namespace convergy

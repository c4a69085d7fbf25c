// The profiler over a fake workload whose layers spin for known times while a fake sensor reports a known
// power per layer: rows in both modes, energy null without a sensor, mean power per layer, the
// repeat-in-isolation rule for layers shorter than 10 sensor periods, interleaving and aggregation.
#include "measure/profiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <tuple>

namespace convergy {
namespace {

// Idle draws nothing, so a window's energy is exactly the layer's power x the time the layer really ran,
// whatever the scheduler did around it on a loaded machine.
constexpr double kIdleW = 0.0;
double layer_power_w(int l) { return 5.0 + 2.0 * l; }

// An energy counter that integrates the true power exactly (like a perfect RAPL). The workload appends
// its power transitions to a log without locks (a lock here would let a preempted sampler thread stall
// the workload on a loaded machine), and each read integrates the log up to now.
class LayerEnergySensor : public Sensor {
 public:
  LayerEnergySensor()
      : Sensor({"fake:board", "board", "test", "J", SensorKind::EnergyCounter, 1.0, true, "", ""}, {}),
        t_(kMax), p_(kMax) {
    t_[0] = monotonic_s();
    p_[0] = kIdleW;
    n_.store(1);
  }
  std::optional<double> read() override {
    double now = monotonic_s();
    size_t n = n_.load(std::memory_order_acquire);
    double e = 0;
    for (size_t i = 0; i < n; ++i) {
      double end = i + 1 < n ? t_[i + 1] : now;
      e += p_[i] * (std::min(end, now) - t_[i]);
    }
    return e;
  }
  // Called by the workload (one thread) whenever its power changes.
  void set_power(double w) {
    size_t n = n_.load(std::memory_order_relaxed);
    if (n >= kMax) return;
    double now = monotonic_s();
    active_j_ += p_[n - 1] * (now - t_[n - 1]);
    t_[n] = now;
    p_[n] = w;
    n_.store(n + 1, std::memory_order_release);
  }

 private:
  static constexpr size_t kMax = 1 << 20;
  std::vector<double> t_, p_;
  std::atomic<size_t> n_{0};

 public:
  double active_j_ = 0;  // energy of every finished layer run, as the workload saw it
};
LayerEnergySensor* g_sensor = nullptr;

class SpinWorkload : public Workload {
 public:
  explicit SpinWorkload(std::vector<double> ms) : ms_(std::move(ms)) {}
  std::vector<LayerId> layers() const override {
    std::vector<LayerId> v;
    for (size_t i = 0; i < ms_.size(); ++i) v.push_back(static_cast<LayerId>(i));
    return v;
  }
  void run(LayerHook* hook) override {
    for (size_t i = 0; i < ms_.size(); ++i) {
      if (hook) hook->on_layer(static_cast<LayerId>(i), true);
      run_layer(static_cast<LayerId>(i));
      if (hook) hook->on_layer(static_cast<LayerId>(i), false);
    }
  }
  void run_layer(LayerId l) override {
    if (g_sensor) g_sensor->set_power(layer_power_w(l));
    double end = monotonic_s() + ms_[static_cast<size_t>(l)] * 1e-3;
    while (monotonic_s() < end) {
    }
    if (g_sensor) g_sensor->set_power(kIdleW);
  }

 private:
  std::vector<double> ms_;
};

ProfileOptions quick() {
  ProfileOptions o;
  o.warmup_runs = 1;
  o.reps = 2;
  o.min_window_ms = 5;
  return o;
}

TEST(Profiler, WithoutSensorEnergyIsMissingNotZero) {
  SpinWorkload w({0.3, 0.6, 0.2});
  Profiler p(w, nullptr, quick());
  p.warm_up();
  auto rows = p.markers_rep(0);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.back().layer, kWholeNetwork);
  double sum = 0;
  for (const auto& r : rows) {
    EXPECT_EQ(r.mode, "markers");
    EXPECT_FALSE(r.energy_mj.has_value());
    EXPECT_FALSE(r.power_w.has_value());
    EXPECT_TRUE(r.cpu_time_ms.has_value());
    EXPECT_GT(r.time_ms, 0);
    if (r.layer != kWholeNetwork) sum += r.time_ms;
  }
  // Layer intervals are disjoint parts of each network run.
  EXPECT_LE(sum, rows.back().time_ms);
  auto iso = p.isolated(1, 0);
  EXPECT_EQ(iso.mode, "isolated");
  EXPECT_GE(iso.iterations, 1);
  EXPECT_FALSE(iso.energy_mj.has_value());
}

TEST(Profiler, IsolatedEnergyMatchesTheLayerPower) {
  SpinWorkload w({2.0, 3.0});
  LayerEnergySensor s;
  g_sensor = &s;
  Profiler p(w, &s, quick());
  p.warm_up();
  p.set_idle_power(kIdleW);
  for (LayerId l : {0, 1}) {
    s.active_j_ = 0;
    auto m = p.isolated(l, 0);
    ASSERT_TRUE(m.power_w.has_value());
    ASSERT_TRUE(m.energy_mj.has_value());
    ASSERT_TRUE(m.dynamic_energy_mj.has_value());
    double truth_mj = s.active_j_ * 1e3 / static_cast<double>(m.iterations);
    EXPECT_NEAR(*m.energy_mj, truth_mj, 1e-3 * truth_mj) << "layer " << l;
    EXPECT_LE(*m.power_w, layer_power_w(l) * (1 + 1e-6));
    EXPECT_NEAR(*m.energy_mj, *m.power_w * m.time_ms, 1e-6 * *m.energy_mj);
    EXPECT_NEAR(*m.dynamic_energy_mj, *m.energy_mj - kIdleW * m.time_ms, 1e-6 * *m.energy_mj);
  }
  g_sensor = nullptr;
}

TEST(Profiler, LayerShorterThanTenSensorPeriodsIsRepeatedInIsolation) {
  // 0.02 ms is far below 10 x 1 ms; 15 ms is above it even without preemption.
  SpinWorkload w({0.02, 15.0});
  LayerEnergySensor s;
  g_sensor = &s;
  Profiler p(w, &s, quick());
  p.warm_up();
  auto rows = p.markers_rep(0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].repeated_for_sensor);
  EXPECT_FALSE(rows[1].repeated_for_sensor);
  ASSERT_TRUE(rows[0].power_w && rows[1].power_w);
  // Interpolated between asynchronous samples, a layer's mean power is a mix of nearby powers.
  for (int l : {0, 1}) {
    EXPECT_GE(*rows[static_cast<size_t>(l)].power_w, kIdleW);
    EXPECT_LE(*rows[static_cast<size_t>(l)].power_w, layer_power_w(1) * (1 + 1e-6));
  }
  g_sensor = nullptr;
}

TEST(Profiler, InterleavedOrderIsAPermutationThatChangesPerRep) {
  SpinWorkload w(std::vector<double>(12, 0.01));
  ProfileOptions o = quick();
  Profiler plain(w, nullptr, o);
  EXPECT_EQ(plain.isolated_order(0), w.layers());
  o.interleave = true;
  Profiler mixed(w, nullptr, o);
  auto a = mixed.isolated_order(0), b = mixed.isolated_order(1);
  EXPECT_NE(a, b);
  EXPECT_NE(a, w.layers());
  std::sort(a.begin(), a.end());
  EXPECT_EQ(a, w.layers());
  EXPECT_EQ(mixed.isolated_order(1), b);  // seeded: reproducible
}

TEST(Profiler, AggregateMedianAndMissingEnergy) {
  std::vector<LayerMeasurement> raw(3);
  double t[] = {2.0, 1.0, 3.0};
  for (int i = 0; i < 3; ++i) {
    raw[static_cast<size_t>(i)].time_ms = t[i];
    raw[static_cast<size_t>(i)].rep = i;
    raw[static_cast<size_t>(i)].energy_mj = 10.0 * t[i];
  }
  Summary ts;
  std::optional<Summary> es;
  auto a = aggregate(raw, &ts, &es);
  EXPECT_EQ(a.rep, -1);
  EXPECT_DOUBLE_EQ(a.time_ms, 2.0);
  EXPECT_DOUBLE_EQ(*a.energy_mj, 20.0);
  EXPECT_EQ(ts.n, 3u);
  raw[1].energy_mj.reset();
  a = aggregate(raw, &ts, &es);
  EXPECT_FALSE(a.energy_mj.has_value());  // not every rep measured it: missing, not a biased median
}

TEST(MachineState, RecordsWhatItCanRead) {
  SysFs fs;
  auto j = machine_state_json(fs, "reference", 1);
  EXPECT_THAT(j, ::testing::HasSubstr("\"governor\""));
  EXPECT_THAT(j, ::testing::HasSubstr("\"loadavg\""));
  EXPECT_THAT(j, ::testing::HasSubstr("\"threads\":1"));
}

}  // namespace
}  // namespace convergy

namespace convergy {
namespace {

TEST(Profiler, MarkersModeLogsEveryWindowAndLayerInterval) {
  SpinWorkload w({0.2, 0.1, 0.3});
  ProfileOptions o = quick();
  std::vector<std::tuple<std::string, double, double, LayerId, int64_t>> events;
  o.on_marker = [&](const std::string& e, double t, double end, LayerId l, int, int64_t it) {
    events.emplace_back(e, t, end, l, it);
  };
  Profiler p(w, nullptr, o);
  p.warm_up();
  p.markers_rep(0);
  const int64_t n = p.network_iterations();
  ASSERT_EQ(static_cast<int64_t>(events.size()), 3 * n + 2);
  EXPECT_EQ(std::get<0>(events.front()), "window_start");
  EXPECT_EQ(std::get<0>(events.back()), "window_end");
  double window_start = std::get<1>(events.front()), window_end = std::get<1>(events.back());
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    const auto& [e, t, end, l, it] = events[i];
    EXPECT_EQ(e, "layer");
    EXPECT_LE(window_start, t);
    EXPECT_LE(t, end);
    EXPECT_LE(end, window_end);
  }
}

}  // namespace
}  // namespace convergy

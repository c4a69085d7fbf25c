// Energy attribution on synthetic traces with known integrals: smooth sampled power, a 1 ms energy counter,
// and an external meter trace on its own clock that must be aligned with the layer markers first.
#include "measure/attribution.h"
#include "measure/external_trace.h"
#include "measure/marker_log.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <sstream>

namespace convergy {
namespace {

constexpr double kTolerance = 1e-3;  // 0.1% of the true energy, as the issue requires

TEST(Attribution, TrapezoidOnSmoothPowerWithInterpolatedEdges) {
  // P(t) = 5 + 2 sin(2 pi t / T): its integral is known in closed form.
  const double T = 0.37;
  auto p = [&](double t) { return 5 + 2 * std::sin(2 * std::numbers::pi * t / T); };
  auto integral = [&](double a, double b) {
    auto F = [&](double t) { return 5 * t - 2 * T / (2 * std::numbers::pi) * std::cos(2 * std::numbers::pi * t / T); };
    return F(b) - F(a);
  };
  Trace tr;
  for (double t = 0; t <= 3.0; t += 0.0005) tr.add(t, p(t));
  // Interval edges deliberately fall between samples.
  for (auto [a, b] : {std::pair{0.12345, 0.56789}, {1.00011, 1.00391}, {0.5, 2.9}}) {
    auto e = energy_j(tr, a, b);
    ASSERT_TRUE(e.has_value());
    EXPECT_NEAR(*e, integral(a, b), kTolerance * integral(a, b)) << a << ".." << b;
  }
  EXPECT_FALSE(energy_j(tr, -1, 0.5).has_value());  // outside the trace: unknown, not 0
  EXPECT_FALSE(energy_j(tr, 2.5, 3.5).has_value());
}

struct Layer {
  double start, end, power_w;
};

std::vector<Layer> synthetic_layers(double t0) {
  const double durations[] = {0.55, 0.73, 0.61, 0.95, 0.5};
  const double powers[] = {6.0, 8.5, 5.2, 7.7, 9.1};
  std::vector<Layer> v;
  double t = t0;
  for (int i = 0; i < 5; ++i) {
    v.push_back({t, t + durations[i], powers[i]});
    t += durations[i];
  }
  return v;
}

// True power at host time t: idle outside the layers (and the sync pulse), each layer's own level inside.
double true_power(const std::vector<Layer>& layers, double idle, double t) {
  for (const auto& l : layers)
    if (t >= l.start && t < l.end) return l.power_w;
  return idle;
}

TEST(Attribution, EnergyCounterDeltasWithinATenthOfAPercent) {
  const double idle = 2.0;
  auto layers = synthetic_layers(0.2003);
  // RAPL-like counter: cumulative energy, updated every 1 ms (exact at each tick).
  Trace tr;
  tr.counter = true;
  double e = 0;
  const double h = 0.001, sub = h / 200;
  for (double t = 0; t < 4.5; t += h) {
    tr.add(t, e);
    for (double s = t; s < t + h - sub / 2; s += sub) e += true_power(layers, idle, s + sub / 2) * sub;
  }
  for (const auto& l : layers) {
    auto r = attribute(tr, l.start, l.end, idle);
    ASSERT_TRUE(r.has_value());
    double truth = l.power_w * (l.end - l.start);
    EXPECT_NEAR(r->gross_j, truth, kTolerance * truth);
    ASSERT_TRUE(r->dynamic_j.has_value());
    double dyn = (l.power_w - idle) * (l.end - l.start);
    EXPECT_NEAR(*r->dynamic_j, dyn, kTolerance * truth);
    EXPECT_NEAR(r->mean_power_w, l.power_w, kTolerance * l.power_w);
  }
}

TEST(Attribution, IdlePowerBeforeAndAfter) {
  EXPECT_DOUBLE_EQ(*idle_power_w(2.0, 3.0), 2.5);
  EXPECT_DOUBLE_EQ(*idle_power_w(std::nullopt, 3.0), 3.0);
  EXPECT_FALSE(idle_power_w(std::nullopt, std::nullopt).has_value());
  Trace tr;
  tr.add(0, 4);
  tr.add(1, 4);
  auto r = attribute(tr, 0.25, 0.75, std::nullopt);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->dynamic_j.has_value());  // no idle measurement: dynamic energy is unknown, not gross
}

TEST(Attribution, ExternalTraceAlignedBySyncPulseAndBusyEdges) {
  const double idle = 2.0, offset = 3.217, sample = 0.0002;
  // Host clock: a 0.2 s sync pulse at 1.0 s, idle, then the network's layers from 1.7 s.
  std::vector<Layer> busy = {{1.0, 1.2, 7.0}};
  auto layers = synthetic_layers(1.7);
  busy.insert(busy.end(), layers.begin(), layers.end());
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 0.003);
  // The meter starts at its own zero, 0.07 ms out of phase with any host event, with 0.3% noise.
  std::string csv = "Time(ms),Main(mA),Main Voltage(V)\n";
  for (double tm = 0.00007; tm < 9.0; tm += sample) {
    double host_t = tm - offset;
    double pw = true_power(busy, idle, host_t) * (1 + noise(rng));
    double volts = 4.2, ma = pw / volts * 1000;
    csv += fmt::format("{:.5f},{:.6f},{}\n", tm * 1000, ma, volts);
  }
  ExternalTrace ext = read_external_trace(csv, "monsoon.csv");
  EXPECT_EQ(ext.columns, "time[ms] current[mA] voltage[V]");
  double est = estimate_clock_offset(ext.power, {busy[0].start, layers[0].start});
  EXPECT_NEAR(est, offset, sample);
  Trace host = to_host_clock(ext.power, est);
  for (const auto& l : layers) {
    auto e = energy_j(host, l.start, l.end);
    ASSERT_TRUE(e.has_value());
    double truth = l.power_w * (l.end - l.start);
    EXPECT_NEAR(*e, truth, kTolerance * truth) << "layer at " << l.start;
  }
  // Without the alignment the same intervals land on the wrong part of the trace.
  auto wrong = energy_j(ext.power, layers[1].start, layers[1].end);
  ASSERT_TRUE(wrong.has_value());
  EXPECT_GT(std::abs(*wrong - layers[1].power_w * 0.73), 0.1);
}

TEST(ExternalTrace, HeadersOfCommonMeters) {
  auto j = read_external_trace("#time,current,voltage,power\n0,0.1,5,0.5\n0.001,0.2,5,1.0\n", "js.csv");
  EXPECT_EQ(j.columns, "time[s] power[W]");
  EXPECT_DOUBLE_EQ(j.power.value[1], 1.0);
  auto a = read_external_trace("# ARM energy probe\nTime (s),Power (mW)\n0,500\n0.01,700\n", "arm.csv");
  EXPECT_DOUBLE_EQ(a.power.value[1], 0.7);
  auto u = read_external_trace("timestamp_us,current_ma,voltage_mv\n0,100,5000\n1000,200,5000\n", "u.csv");
  EXPECT_DOUBLE_EQ(u.power.t_s[1], 1e-3);
  EXPECT_DOUBLE_EQ(u.power.value[1], 1.0);
}

TEST(ExternalTrace, BadInputNamesFileLineAndColumn) {
  using ::testing::HasSubstr;
  auto msg = [](std::string_view text) {
    try {
      read_external_trace(text, "t.csv");
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(msg("time,power\n0,1\n0.1,abc\n"), HasSubstr("t.csv:3:2: \"abc\" is not a number"));
  EXPECT_THAT(msg("time,power\n0,1\n-1,2\n"), HasSubstr("t.csv:3: time -1 goes backwards"));
  EXPECT_THAT(msg("time,temperature\n0,1\n"), HasSubstr("t.csv:1: header"));
  EXPECT_THAT(msg("time,power\n0,1\n0.1\n"), HasSubstr("t.csv:3: 1 fields, expected 2"));
  EXPECT_THAT(msg(""), HasSubstr("t.csv: empty trace"));
  EXPECT_THAT(msg("time,power\n0,nan\n1,2\n"), HasSubstr("not a number"));
}

TEST(ExternalTrace, NoEdgeIsAFailureNotAGuess) {
  Trace flat;
  for (int i = 0; i < 100; ++i) flat.add(i * 0.01, 3.0);
  EXPECT_THROW(estimate_clock_offset(flat, {0.5}), Error);
}

}  // namespace
}  // namespace convergy

namespace convergy {
namespace {

// End to end for an external meter: convergy's marker log (two sync pulses, then layer intervals) written and
// read back, a Joulescope-style trace on the meter's own clock, alignment, and per-layer energy within 0.1%.
TEST(MarkerLog, ExternalMeterAttributedPerLayerThroughTheLog) {
  const double idle = 1.5, offset = -12.25, sample = 0.0001;
  std::vector<Layer> busy = {{10.5, 10.75, 6.0}, {11.1, 11.35, 6.0}};  // the sync pulses
  auto layers = synthetic_layers(12.0);
  std::ostringstream log;
  write_marker_header(log);
  write_marker_event(log, {"sync_start", busy[0].start, 0, "", "", -1, -1, -1});
  write_marker_event(log, {"sync_start", busy[1].start, 0, "", "", -1, -1, -1});
  write_marker_event(log, {"window_start", layers[0].start, 0, "net,1", "", -1, 0, -1});
  for (size_t i = 0; i < layers.size(); ++i)
    write_marker_event(log, {"layer", layers[i].start, layers[i].end, "net,1", fmt::format("conv{}", i),
                             static_cast<int>(i), 0, 0});
  busy.insert(busy.end(), layers.begin(), layers.end());
  std::string csv = "#time,current,voltage,power\n";
  for (double tm = 10.0 + offset; tm < 16.0 + offset; tm += sample)
    csv += fmt::format("{:.6f},0,0,{:.6f}\n", tm, true_power(busy, idle, tm - offset));
  auto events = read_marker_log(log.str(), "markers.csv");
  ASSERT_EQ(events.size(), 3 + layers.size());
  EXPECT_EQ(events[3].network, "net_1");  // a comma in a name cannot break the columns
  double est = 0;
  auto result = attribute_with_markers(read_external_trace(csv, "js.csv").power, events, &est);
  EXPECT_NEAR(est, offset, sample);
  ASSERT_EQ(result.size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    double truth_mj = layers[i].power_w * (layers[i].end - layers[i].start) * 1e3;
    EXPECT_NEAR(result[i].energy_mj, truth_mj, kTolerance * truth_mj) << result[i].layer;
    EXPECT_EQ(result[i].runs, 1);
  }
}

TEST(MarkerLog, MalformedLogNamesLineAndColumn) {
  const std::string head = "event,t_s,end_s,network,layer_index,layer,rep,iteration\n";
  auto msg = [](const std::string& text) {
    try {
      read_marker_log(text, "m.csv");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(msg(head + "layer,1.0,0.5,n,0,c,0,0\n"), ::testing::HasSubstr("m.csv:2:3"));
  EXPECT_THAT(msg(head + "boom,1.0,,n,0,c,0,0\n"), ::testing::HasSubstr("m.csv:2:1: unknown event"));
  EXPECT_THAT(msg("a,b\n"), ::testing::HasSubstr("m.csv:1: expected the marker log header"));
  EXPECT_THAT(msg(head + "layer,1.0,2.0,n,x,c,0,0\n"), ::testing::HasSubstr("m.csv:2:5"));
  EXPECT_THAT(msg(""), ::testing::HasSubstr("empty marker log"));
  EXPECT_THROW(attribute_with_markers(Trace{}, read_marker_log(head, "m.csv"), nullptr), Error);
}

}  // namespace
}  // namespace convergy

// Energy attribution: energy of a time interval from an energy-counter trace (deltas) or from sampled power
// (trapezoid rule, interpolated at the interval edges), gross and idle-subtracted (dynamic).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace convergy {

// Samples in time order. For a counter, `value` is cumulative joules (wraparound already undone); for power
// samples it is watts. Times are seconds on one clock.
struct Trace {
  bool counter = false;
  std::vector<double> t_s;
  std::vector<double> value;
  void add(double t, double v) {
    t_s.push_back(t);
    value.push_back(v);
  }
  size_t size() const { return t_s.size(); }
};

// Energy in joules over [t0, t1]; nullopt if the trace does not cover the interval.
std::optional<double> energy_j(const Trace& trace, double t0, double t1);

// Mean power over [t0, t1] (energy / duration).
std::optional<double> mean_power_w(const Trace& trace, double t0, double t1);

struct EnergyResult {
  double gross_j = 0;
  std::optional<double> dynamic_j;  // gross minus idle power x duration, when idle power is known
  double mean_power_w = 0;
};
// nullopt when the trace does not cover [t0, t1], and for a counter that did not move across it (the last
// sample at or before t0 equals the first at or after t1): a stuck or unsupported counter, never 0 J.
std::optional<EnergyResult> attribute(const Trace& trace, double t0, double t1, std::optional<double> idle_power_w);

// For a counter trace: whether its value changed between the last sample at or before t0 and the first at
// or after t1. True for power traces and for traces that do not cover the interval.
bool counter_moved(const Trace& trace, double t0, double t1);

// Idle power from the idle windows measured before and after a campaign (mean of those available).
std::optional<double> idle_power_w(std::optional<double> before_w, std::optional<double> after_w);

}  // namespace convergy

// Energy of an interval from a counter or a power trace. Both are treated as piecewise-linear functions of
// time (cumulative energy, or power), so an interval edge between two samples is interpolated, not rounded.
#include "measure/attribution.h"

#include <algorithm>

namespace convergy {
namespace {

// Linear interpolation of the trace at t (t within [front, back]).
double value_at(const Trace& tr, double t) {
  auto it = std::upper_bound(tr.t_s.begin(), tr.t_s.end(), t);
  if (it == tr.t_s.begin()) return tr.value.front();
  if (it == tr.t_s.end()) return tr.value.back();
  size_t i = static_cast<size_t>(it - tr.t_s.begin());
  double ta = tr.t_s[i - 1], tb = tr.t_s[i];
  double w = tb > ta ? (t - ta) / (tb - ta) : 0.0;
  return tr.value[i - 1] + w * (tr.value[i] - tr.value[i - 1]);
}

}  // namespace

std::optional<double> energy_j(const Trace& tr, double t0, double t1) {
  if (tr.size() < 2 || t1 < t0 || t0 < tr.t_s.front() || t1 > tr.t_s.back()) return std::nullopt;
  if (tr.counter) return value_at(tr, t1) - value_at(tr, t0);
  // Trapezoid over the samples strictly inside, plus the two partial pieces at the interpolated edges.
  auto lo = std::upper_bound(tr.t_s.begin(), tr.t_s.end(), t0);
  auto hi = std::lower_bound(tr.t_s.begin(), tr.t_s.end(), t1);
  double prev_t = t0, prev_p = value_at(tr, t0), e = 0;
  for (auto it = lo; it < hi; ++it) {
    size_t i = static_cast<size_t>(it - tr.t_s.begin());
    e += 0.5 * (prev_p + tr.value[i]) * (tr.t_s[i] - prev_t);
    prev_t = tr.t_s[i];
    prev_p = tr.value[i];
  }
  e += 0.5 * (prev_p + value_at(tr, t1)) * (t1 - prev_t);
  return e;
}

std::optional<double> mean_power_w(const Trace& tr, double t0, double t1) {
  if (!(t1 > t0)) return std::nullopt;
  auto e = energy_j(tr, t0, t1);
  if (!e) return std::nullopt;
  return *e / (t1 - t0);
}

bool counter_moved(const Trace& tr, double t0, double t1) {
  if (!tr.counter || tr.size() < 2 || t0 < tr.t_s.front() || t1 > tr.t_s.back()) return true;
  auto before = std::upper_bound(tr.t_s.begin(), tr.t_s.end(), t0) - 1;
  auto after = std::lower_bound(tr.t_s.begin(), tr.t_s.end(), t1);
  return tr.value[static_cast<size_t>(after - tr.t_s.begin())] != tr.value[static_cast<size_t>(before - tr.t_s.begin())];
}

std::optional<EnergyResult> attribute(const Trace& tr, double t0, double t1, std::optional<double> idle_w) {
  if (!counter_moved(tr, t0, t1)) return std::nullopt;
  auto e = energy_j(tr, t0, t1);
  if (!e) return std::nullopt;
  EnergyResult r;
  r.gross_j = *e;
  r.mean_power_w = t1 > t0 ? *e / (t1 - t0) : 0;
  if (idle_w) r.dynamic_j = *e - *idle_w * (t1 - t0);
  return r;
}

std::optional<double> idle_power_w(std::optional<double> before_w, std::optional<double> after_w) {
  if (before_w && after_w) return 0.5 * (*before_w + *after_w);
  if (before_w) return before_w;
  return after_w;
}

}  // namespace convergy

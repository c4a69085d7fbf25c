// Statistics of repeated measurements (see stats.h).
#include "measure/stats.h"

#include <algorithm>
#include <cmath>

namespace convergy {

void Welford::add(double x) {
  ++n_;
  double d = x - mean_;
  mean_ += d / static_cast<double>(n_);
  m2_ += d * (x - mean_);
}

double Welford::stddev() const { return std::sqrt(variance()); }

double student_t95(size_t dof) {
  static const double table[] = {0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201, 2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                                 2.074, 2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof == 0) return 0;
  if (dof <= 30) return table[dof];
  if (dof <= 60) return 2.000 + (2.042 - 2.000) * static_cast<double>(60 - dof) / 30.0;
  if (dof <= 120) return 1.980 + (2.000 - 1.980) * static_cast<double>(120 - dof) / 60.0;
  return 1.960;
}

size_t median_ci_rank(size_t n, double* level) {
  if (n == 0) {
    if (level) *level = 0;
    return 1;
  }
  // Binomial(n, 1/2) probabilities, in logs so that large n does not overflow.
  auto pmf = [n](size_t i) {
    double lg = std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                std::lgamma(static_cast<double>(n - i) + 1);
    return std::exp(lg - static_cast<double>(n) * std::log(2.0));
  };
  // [x(k), x(n+1-k)] misses the median with probability 2 P(X < k), X ~ Binomial(n, 1/2).
  size_t k = 1;
  double below = pmf(0);  // P(X < k)
  while (2 * (k + 1) <= n + 1) {
    double next = below + pmf(k);  // P(X < k + 1)
    if (next > 0.025) break;
    below = next;
    ++k;
  }
  if (level) *level = 1 - 2 * below;
  return k;
}

std::optional<Summary> summarize(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  Summary s;
  s.n = v.size();
  Welford w;
  for (double x : v) w.add(x);
  s.mean = w.mean();
  s.stddev = w.stddev();
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  s.cv = s.mean != 0 ? s.stddev / s.mean : 0;
  s.ci95_half = s.n > 1 ? student_t95(s.n - 1) * s.stddev / std::sqrt(static_cast<double>(s.n)) : 0;
  const size_t k = median_ci_rank(s.n, &s.median_ci_level);
  s.median_ci_lo = v[k - 1];
  s.median_ci_hi = v[s.n - k];
  return s;
}

}  // namespace convergy

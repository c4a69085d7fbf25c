// Summary statistics of repeated measurements: Welford mean/variance, median, coefficient of variation,
// the 95% confidence half-width of the mean (Student t) and the distribution-free 95% confidence interval of
// the median (order statistics).
#pragma once
#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

namespace convergy {

// Numerically stable running mean and variance (Welford), no mean-of-squares cancellation.
class Welford {
 public:
  void add(double x);
  size_t count() const { return n_; }
  double mean() const { return mean_; }
  double variance() const { return n_ > 1 ? m2_ / static_cast<double>(n_ - 1) : 0.0; }  // sample variance
  double stddev() const;

 private:
  size_t n_ = 0;
  double mean_ = 0, m2_ = 0;
};

struct Summary {
  size_t n = 0;
  double median = 0, mean = 0, stddev = 0, min = 0, max = 0;
  double cv = 0;           // stddev / mean
  double ci95_half = 0;    // half-width of the 95% confidence interval of the mean
  // 95% confidence interval of the median from order statistics [x(k), x(n+1-k)], which assumes nothing about
  // the distribution (timings on a shared machine are skewed and often bimodal). With n <= 5 no pair of order
  // statistics reaches 95%; the interval is then [min, max] and `median_ci_level` says what it covers
  // (1 - 2^(1-n): 93.75% for n = 5).
  double median_ci_lo = 0, median_ci_hi = 0, median_ci_level = 0;
  // The larger distance from the median to an end of its interval.
  double median_ci95_half() const { return std::max(median - median_ci_lo, median_ci_hi - median); }
  double ci95_rel() const { return median != 0 ? ci95_half / median : 0; }
  double median_ci95_rel() const { return median != 0 ? median_ci95_half() / median : 0; }
};

// 1-based rank k of the lower end of the distribution-free 95% interval of the median of n samples: the
// largest k with P(Binomial(n, 1/2) < k) <= 0.025 (so [x(k), x(n+1-k)] covers the median with >= 95%),
// and 1 when even [min, max] covers less. `level` receives the interval's exact coverage.
size_t median_ci_rank(size_t n, double* level = nullptr);

// nullopt for an empty sample.
std::optional<Summary> summarize(std::vector<double> values);

// Two-sided 95% Student t quantile for `dof` degrees of freedom (1.96 for large dof).
double student_t95(size_t dof);

}  // namespace convergy

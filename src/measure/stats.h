// Summary statistics of repeated measurements: Welford mean/variance, median, coefficient of variation
// and the 95% confidence half-width of the mean (Student t).
#pragma once
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
  double ci95_rel() const { return median != 0 ? ci95_half / median : 0; }
};

// nullopt for an empty sample.
std::optional<Summary> summarize(std::vector<double> values);

// Two-sided 95% Student t quantile for `dof` degrees of freedom (1.96 for large dof).
double student_t95(size_t dof);

}  // namespace convergy

// Statistics of repeated measurements: Welford against a two-pass reference on values with a huge offset
// (where mean-of-squares cancels), median, CV and the Student-t confidence interval.
#include "measure/stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace convergy {
namespace {

TEST(Stats, WelfordIsStableWithALargeOffset) {
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i) v.push_back(1e9 + (i % 7) * 0.1);
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  double ref = std::sqrt(ss / static_cast<double>(v.size() - 1));
  Welford w;
  for (double x : v) w.add(x);
  EXPECT_NEAR(w.stddev(), ref, 1e-6 * ref);
}

TEST(Stats, SummaryOfAKnownSample) {
  auto s = summarize({4, 1, 3, 2, 5});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->n, 5u);
  EXPECT_DOUBLE_EQ(s->median, 3);
  EXPECT_DOUBLE_EQ(s->mean, 3);
  EXPECT_NEAR(s->stddev, std::sqrt(2.5), 1e-12);
  EXPECT_NEAR(s->cv, std::sqrt(2.5) / 3, 1e-12);
  EXPECT_NEAR(s->ci95_half, 2.776 * std::sqrt(2.5) / std::sqrt(5.0), 1e-9);
  EXPECT_DOUBLE_EQ(summarize({1, 2, 3, 10})->median, 2.5);
  EXPECT_FALSE(summarize({}).has_value());
  EXPECT_DOUBLE_EQ(summarize({7})->ci95_half, 0);
}

TEST(Stats, StudentTApproachesNormal) {
  EXPECT_DOUBLE_EQ(student_t95(1), 12.706);
  EXPECT_GT(student_t95(40), student_t95(100));
  EXPECT_DOUBLE_EQ(student_t95(1000), 1.96);
}

}  // namespace
}  // namespace convergy

namespace convergy {
namespace {

// Ranks of the distribution-free 95% interval of the median, as in the standard binomial tables: n = 6..8 use
// [min, max], n = 10 uses [x(2), x(9)], n = 20 uses [x(6), x(15)], n = 30 uses [x(10), x(21)].
TEST(Stats, MedianIntervalRanksMatchTheBinomialTable) {
  double level = 0;
  EXPECT_EQ(median_ci_rank(5, &level), 1u);
  EXPECT_NEAR(level, 1 - 2.0 / 32, 1e-12);  // [min, max] of 5 covers only 93.75%
  EXPECT_EQ(median_ci_rank(6, &level), 1u);
  EXPECT_NEAR(level, 1 - 2.0 / 64, 1e-12);
  EXPECT_EQ(median_ci_rank(10, &level), 2u);
  EXPECT_NEAR(level, 1 - 2 * 11.0 / 1024, 1e-12);
  EXPECT_EQ(median_ci_rank(20), 6u);
  EXPECT_EQ(median_ci_rank(30), 10u);
  for (size_t n = 6; n <= 200; ++n) {
    median_ci_rank(n, &level);
    EXPECT_GE(level, 0.95) << n;
  }
}

// One slow outlier in ten widens the mean's interval but not the median's: the profiler stops on the latter.
TEST(Stats, MedianIntervalIgnoresOneOutlier) {
  std::vector<double> t = {10.0, 10.1, 9.9, 10.05, 9.95, 10.02, 9.98, 10.01, 9.99, 30.0};
  auto s = *summarize(t);
  EXPECT_DOUBLE_EQ(s.median_ci_lo, 9.95);
  EXPECT_DOUBLE_EQ(s.median_ci_hi, 10.1);  // x(9) of 10
  EXPECT_LT(s.median_ci95_rel(), 0.01);
  EXPECT_GT(s.ci95_rel(), 0.3);
}

}  // namespace
}  // namespace convergy

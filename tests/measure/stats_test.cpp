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

// The regression core: each solver on synthetic data whose answer is known, with fixed seeds.
#include "model/regression.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <random>

using namespace convergy::model;

namespace {

// Columns of very different magnitude (as MACs next to an intercept), exact y = X b.
void synthetic(int n, const VectorXd& b, MatrixXd& x, VectorXd& y, uint64_t seed, double noise = 0.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(1.0, 10.0);
  std::normal_distribution<double> e(0.0, 1.0);
  x.resize(n, b.size());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < b.size(); ++j) x(i, j) = j == 0 ? 1.0 : u(rng) * std::pow(1e3, j);
  y = x * b;
  for (int i = 0; i < n; ++i) y(i) *= 1.0 + noise * e(rng);
}

TEST(Regression, LeastSquaresRecoversExactCoefficients) {
  VectorXd b(3);
  b << 5.0, 2e-3, 7e-7;
  MatrixXd x;
  VectorXd y;
  synthetic(50, b, x, y, 1);
  VectorXd ols = fit_least_squares(x, y);
  VectorXd rel = fit_relative(x, y);
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(ols(j) / b(j), 1.0, 1e-8) << j;
    EXPECT_NEAR(rel(j) / b(j), 1.0, 1e-8) << j;
  }
}

TEST(Regression, RedundantColumnGetsZero) {
  MatrixXd x(4, 3);
  x << 1, 2, 2, 1, 3, 3, 1, 5, 5, 1, 7, 7;
  VectorXd y(4);
  y << 3, 4, 6, 8;
  VectorXd b = fit_least_squares(x, y);
  EXPECT_EQ((b.array() == 0).count(), 1);
  EXPECT_NEAR((x * b - y).norm(), 0.0, 1e-9);
}

TEST(Regression, RelativeFitWeighsSmallTargets) {
  // One intercept column, targets 1 and 100: OLS gives the mean, the relative fit favours the small one.
  MatrixXd x = MatrixXd::Ones(2, 1);
  VectorXd y(2);
  y << 1.0, 100.0;
  EXPECT_NEAR(fit_least_squares(x, y)(0), 50.5, 1e-9);
  // argmin (c-1)^2 + ((c-100)/100)^2 = (1 + 1/100) / (1 + 1/10000)
  EXPECT_NEAR(fit_relative(x, y)(0), 1.01 / 1.0001, 1e-9);
}

TEST(Regression, NnlsMatchesKnownActiveSet) {
  // y depends negatively on column 1: NNLS must set it to 0 and refit the rest.
  MatrixXd x(5, 2);
  x << 1, 1, 1, 2, 1, 3, 1, 4, 1, 5;
  VectorXd y(5);
  y << 5, 4, 3, 2, 1;
  VectorXd b = fit_nnls(x, y);
  EXPECT_NEAR(b(0), 3.0, 1e-9);
  EXPECT_EQ(b(1), 0.0);
  VectorXd pos(2);
  pos << 1.0, 2.0;
  VectorXd yp = x * pos;
  VectorXd bp = fit_nnls(x, yp);
  EXPECT_NEAR(bp(0), 1.0, 1e-9);
  EXPECT_NEAR(bp(1), 2.0, 1e-9);
}

TEST(Regression, RidgeShrinksAndTendsToLeastSquares) {
  VectorXd b(3);
  b << 5.0, 2e-3, 7e-7;
  MatrixXd x;
  VectorXd y;
  synthetic(40, b, x, y, 2, 0.05);
  VectorXd ls = fit_least_squares(x, y);
  VectorXd r0 = fit_ridge(x, y, 1e-12);
  EXPECT_NEAR((r0 - ls).norm() / ls.norm(), 0.0, 1e-6);
  std::vector<bool> free_col = {true, false, false};
  VectorXd big = fit_ridge(x, y, 1e6, nullptr, &free_col);
  EXPECT_LT(std::abs(big(1) / b(1)), 1e-3);
  EXPECT_LT(std::abs(big(2) / b(2)), 1e-3);
}

TEST(Regression, LassoPathEnds) {
  VectorXd b(3);
  b << 5.0, 2e-3, 7e-7;
  MatrixXd x;
  VectorXd y;
  synthetic(60, b, x, y, 3);
  std::vector<bool> free_col = {true, false, false};
  VectorXd zero = fit_lasso(x, y, 1e6, nullptr, &free_col);
  EXPECT_EQ(zero(1), 0.0);
  EXPECT_EQ(zero(2), 0.0);
  EXPECT_NE(zero(0), 0.0);  // the unpenalised intercept stays
  LassoOptions tight;
  tight.tolerance = 1e-12;
  tight.max_sweeps = 100000;
  VectorXd nearly_ls = fit_lasso(x, y, 1e-12, nullptr, &free_col, tight);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(nearly_ls(j) / b(j), 1.0, 1e-4) << j;
}

TEST(Regression, LassoCvSelectsTheInformativeColumns) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g(0.0, 1.0);
  const int n = 300, p = 12;
  MatrixXd x(n, p);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < p; ++j) x(i, j) = g(rng);
  VectorXd y = 3.0 * x.col(2) - 2.0 * x.col(7);
  for (int i = 0; i < n; ++i) y(i) += 0.1 * g(rng);
  LassoFit f = fit_lasso_cv(x, y);
  EXPECT_NEAR(f.coef(2), 3.0, 0.1);
  EXPECT_NEAR(f.coef(7), -2.0, 0.1);
  double rest = 0;
  for (int j = 0; j < p; ++j)
    if (j != 2 && j != 7) rest += std::abs(f.coef(j));
  EXPECT_LT(rest, 0.3);
  EXPECT_EQ(f.out_of_fold.size(), n);
  LassoOptions one;
  one.max_nonzero = 1;
  LassoFit sparse = fit_lasso_cv(x, y, nullptr, nullptr, one);
  EXPECT_LE((sparse.coef.array() != 0).count(), 1);
  EXPECT_NE(sparse.coef(2), 0.0);  // the strongest column enters first
}

TEST(Regression, LadIgnoresAnOutlier) {
  MatrixXd x(7, 2);
  VectorXd y(7);
  for (int i = 0; i < 7; ++i) x(i, 0) = 1, x(i, 1) = i, y(i) = 1 + 2 * i;
  y(3) = 100;
  VectorXd b = fit_lad(x, y);
  // Least squares would move the intercept by about 13; LAD stays on the six clean points.
  EXPECT_NEAR(b(0), 1.0, 1e-2);
  EXPECT_NEAR(b(1), 2.0, 1e-2);
}

TEST(Regression, PolynomialExpansion) {
  MatrixXd x(2, 3);
  x << 1, 2, 3, 4, 5, 6;
  std::vector<std::vector<int>> e;
  MatrixXd p = polynomial_expand(x, 3, &e);
  EXPECT_EQ(p.cols(), 3 + 6 + 10);  // monomials of degree 1, 2 and 3 in three variables
  ASSERT_EQ(e.size(), 19u);
  // x0*x1*x2 is among them, with value 6 and 120.
  for (size_t t = 0; t < e.size(); ++t)
    if (e[t] == std::vector<int>{1, 1, 1}) {
      EXPECT_DOUBLE_EQ(p(0, static_cast<Eigen::Index>(t)), 6.0);
      EXPECT_DOUBLE_EQ(p(1, static_cast<Eigen::Index>(t)), 120.0);
    }
  EXPECT_THROW(polynomial_expand(x, 4), convergy::Error);
  Standardizer s = Standardizer::fit(x);
  MatrixXd z = s.apply(x);
  EXPECT_NEAR(z.col(0).mean(), 0.0, 1e-12);
  EXPECT_NEAR(z(0, 0), -1.0, 1e-12);
}

}  // namespace

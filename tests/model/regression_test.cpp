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

// Published quantiles of Student's t (e.g. any statistics table): t(0.95; 1) = 6.313752, t(0.95; 2)
// = 2.919986, t(0.95; 9) = 1.833113, t(0.975; 4) = 2.776445, t(0.995; 30) = 2.749996; and the symmetry t(p) =
// -t(1 - p).
TEST(Regression, StudentTQuantileMatchesTables) {
  EXPECT_NEAR(student_t_quantile(0.95, 1), 6.313752, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.95, 2), 2.919986, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.95, 9), 1.833113, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.995, 30), 2.749996, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.05, 9), -1.833113, 1e-5);
  EXPECT_DOUBLE_EQ(student_t_quantile(0.5, 3), 0.0);
  // Many degrees of freedom: the normal quantile, 1.644854 at 0.95.
  EXPECT_NEAR(student_t_quantile(0.95, 1e6), 1.644854, 1e-4);
  EXPECT_TRUE(std::isnan(student_t_quantile(1.0, 3)));
  EXPECT_TRUE(std::isnan(student_t_quantile(0.9, 0)));
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

// Issue 6 follow-up: OLS on macs+mem once predicted -2e13% accuracy. Two ways a design of raw feature
// columns goes wrong, each checked below for every method.
//
// 1. A MACs-sized column whose spread is tiny next to its mean is nearly a multiple of the intercept: scaled
//    by its RMS alone (the old behaviour) the slope came out with a relative error of ~1e-6; centred on the
//    intercept first it is exact.
TEST(Regression, HugeColumnBesideInterceptIsCentred) {
  const int n = 40;
  MatrixXd x(n, 2);
  VectorXd y(n);
  for (int i = 0; i < n; ++i) {
    x(i, 0) = 1.0;
    x(i, 1) = 1e14 + 1e3 * i;  // MACs of similar layers
    y(i) = 7.0 + 0.5 * i;      // 7 + 0.5e-3 * (macs - 1e14)
  }
  VectorXd relative_w = y.array().square().inverse();
  VectorXd lad_w = y.cwiseInverse();
  std::vector<bool> free_col = {true, false};
  LassoOptions tight;
  tight.gap_tolerance = 1e-14;
  tight.ridge = 0;  // the default 1e-9 ridge would shrink the slope by 1e-9
  const std::vector<std::pair<std::string, VectorXd>> fits = {
      {"ols", fit_least_squares(x, y)},
      {"wls", fit_least_squares(x, y, &relative_w)},
      {"lad", fit_lad(x, y, 50, &lad_w)},
      {"ridge", fit_ridge(x, y, 1e-14, &relative_w, &free_col)},
      {"lasso", fit_lasso(x, y, 1e-14, &relative_w, &free_col, tight)}};
  for (const auto& [name, b] : fits) {
    EXPECT_NEAR(b(1) / 0.5e-3, 1.0, 1e-10) << name;
    VectorXd p = x * b;  // the raw intercept is -5e10: predictions cancel to ~1e-6 of y
    for (int i = 0; i < n; ++i) EXPECT_NEAR(p(i) / y(i), 1.0, 1e-4) << name << " row " << i;
  }
  ColumnScaling sc = ColumnScaling::fit(x, nullptr, true);
  EXPECT_EQ(sc.intercept, 0);
  EXPECT_NEAR(sc.center(1), 1e14 + 1e3 * (n - 1) / 2.0, 1.0);
  VectorXd z(2);
  z << 2.0, 3.0;  // coefficients of the standardised columns map back onto the raw ones
  VectorXd raw = sc.unscale(z);
  EXPECT_NEAR(((x * raw) - (sc.apply(x) * z)).cwiseAbs().maxCoeff(), 0.0, 1e-3);
}

// 2. Nearly proportional columns (ops, in_bytes and out_bytes of element-wise layers; weight_bytes and MACs of
//    large FC layers) made Eigen's solve() keep a pivot of relative size 1e-13, which it only drops at machine
//    precision: coefficients of +-4e9 that cancel on the training rows and explode on any other row. The
//    1e-10 rank threshold now applies, the redundant column gets exactly 0, and a new row stays sane.
TEST(Regression, NearlyProportionalColumnsDoNotBlowUp) {
  MatrixXd x(6, 3);
  VectorXd y(6);
  for (int i = 0; i < 6; ++i) {
    double a = 1 + i * i;
    x.row(i) << 1.0, a, a * (1 + 1e-13 * ((i * 7) % 5));
    y(i) = 2 + 3 * a + 0.01 * ((i * 3) % 4);
  }
  VectorXd w = y.array().square().inverse();
  Eigen::RowVectorXd fresh(3);
  fresh << 1.0, 50.0, 50.0 * (1 + 1e-6);  // a layer whose two columns differ a little more
  for (const VectorXd& b : {fit_least_squares(x, y), fit_least_squares(x, y, &w), fit_nnls(x, y, &w)}) {
    EXPECT_EQ((b.array() == 0).count(), 1) << b.transpose();
    EXPECT_NEAR(fresh.dot(b) / (2 + 3 * 50.0), 1.0, 0.01) << b.transpose();
  }
}

// Exactly proportional columns after scaling (rounding leaves ~1e-16 of the second) likewise.
TEST(Regression, ProportionalColumnsGetABasicSolution) {
  MatrixXd x(5, 3);
  VectorXd y(5);
  for (int i = 0; i < 5; ++i) {
    double e = 1000.0 * (i + 1) * (i + 3);
    x.row(i) << 1.0, e, 4 * e;  // ops and in_bytes of a ReLU
    y(i) = 0.5 + 1e-6 * e;
  }
  VectorXd b = fit_least_squares(x, y);
  EXPECT_EQ((b.array() == 0).count(), 1) << b.transpose();
  EXPECT_NEAR((x * b - y).cwiseAbs().maxCoeff(), 0.0, 1e-9);
}

TEST(Regression, LadMinimisesWeightedAbsoluteErrors) {
  // One intercept, targets 1, 2 and 100 with the relative weights 1/y: the weighted median is 1 (weight 1 of 1.51).
  MatrixXd x = MatrixXd::Ones(3, 1);
  VectorXd y(3);
  y << 1.0, 2.0, 100.0;
  VectorXd w = y.cwiseInverse();
  EXPECT_NEAR(fit_lad(x, y, 200, &w)(0), 1.0, 1e-3);
  EXPECT_NEAR(fit_lad(x, y, 200)(0), 2.0, 1e-3);  // unweighted: the median
}

// Strongly correlated polynomial columns (x, x^2, x^3 of x in [1, 3]) with an intercept: plain coordinate
// descent needs thousands of sweeps near the least-squares end of the path. Every solve of the path must
// reach the duality-gap tolerance, and the smallest lambda must match least squares.
TEST(Regression, LassoConvergesOnCorrelatedPolynomialTerms) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(1.0, 3.0);
  std::normal_distribution<double> e(0.0, 1.0);
  const int n = 400;
  MatrixXd x(n, 4);
  VectorXd y(n);
  for (int i = 0; i < n; ++i) {
    double v = u(rng);
    x.row(i) << 1.0, v, v * v, v * v * v;
    y(i) = (2.0 + 1.5 * v - 0.8 * v * v + 0.3 * v * v * v) * (1.0 + 0.01 * e(rng));
  }
  VectorXd w = y.array().square().inverse();
  std::vector<bool> free_col = {true, false, false, false};
  LassoFit f = fit_lasso_cv(x, y, &w, &free_col);
  EXPECT_EQ(f.unconverged, 0) << "largest relative gap " << f.max_relative_gap << " after " << f.sweeps << " sweeps";
  EXPECT_LE(f.max_relative_gap, 1e-6);
  LassoOptions o;
  o.gap_tolerance = 1e-12;
  VectorXd small = fit_lasso(x, y, 1e-12, &w, &free_col, o);
  VectorXd ls = fit_least_squares(x, y, &w);
  EXPECT_NEAR((x * small - x * ls).cwiseAbs().maxCoeff() / y.minCoeff(), 0.0, 1e-6);
}

// A NeuralPower-like design: every monomial up to degree 3 of four hyper-parameters, two of which take only
// 3 and 5 values (so some monomials are exact combinations of others). Coordinate descent alone stopped at
// its sweep limit with large gaps on such designs; the active-set method must certify every solve.
TEST(Regression, LassoConvergesOnDependentMonomials) {
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int> kernel(0, 4), stride(1, 3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int n = 600;
  MatrixXd base(n, 4);
  VectorXd y(n);
  const double kernels[] = {1, 3, 5, 7, 11};
  for (int i = 0; i < n; ++i) {
    double k = kernels[kernel(rng)], s = stride(rng), c = 16 + 496 * u(rng), hw = 7 + 93 * u(rng);
    base.row(i) << k, s, c, hw;
  }
  Standardizer st = Standardizer::fit(base);
  const MatrixXd z = st.apply(base);
  for (int i = 0; i < n; ++i)
    y(i) = (30 + 2 * z(i, 2) + z(i, 3) * z(i, 0) + 0.5 * z(i, 2) * z(i, 2) * z(i, 3)) * (1.0 + 0.01 * (u(rng) - 0.5));
  MatrixXd poly = polynomial_expand(z, 3);
  MatrixXd x(n, poly.cols() + 1);
  x << VectorXd::Ones(n), poly;
  std::vector<bool> free_col(static_cast<size_t>(x.cols()), false);
  free_col[0] = true;
  VectorXd w = y.array().square().inverse();
  LassoFit f = fit_lasso_cv(x, y, &w, &free_col);
  EXPECT_EQ(f.unconverged, 0) << "largest relative gap " << f.max_relative_gap << " after " << f.sweeps << " steps";
  EXPECT_LE(f.max_relative_gap, 1e-6);
  // y is one of the design's polynomials: held-out predictions at the chosen lambda are within the noise.
  double ape = 0;
  for (int i = 0; i < n; ++i) ape += std::abs(f.out_of_fold(i) - y(i)) / y(i);
  EXPECT_LT(ape / n, 0.01);
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

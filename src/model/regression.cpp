// Regression solvers for the predictive models (see regression.h).
#include "model/regression.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace convergy::model {

std::string_view method_name(Method m) {
  switch (m) {
    case Method::Ols: return "ols";
    case Method::Wls: return "wls";
    case Method::Nnls: return "nnls";
    case Method::Ridge: return "ridge";
    case Method::Lasso: return "lasso";
    case Method::LogLinear: return "loglinear";
    case Method::Lad: return "lad";
  }
  return "?";
}

std::optional<Method> method_from_name(std::string_view name) {
  for (Method m : {Method::Ols, Method::Wls, Method::Nnls, Method::Ridge, Method::Lasso, Method::Lad, Method::LogLinear})
    if (method_name(m) == name) return m;
  return std::nullopt;
}

namespace {

// Rows multiplied by sqrt(w), so every solver below works on an unweighted problem.
void weigh_rows(const MatrixXd& x, const VectorXd& y, const VectorXd* w, MatrixXd& xw, VectorXd& yw) {
  xw = x;
  yw = y;
  if (!w) return;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    double s = std::sqrt((*w)(i));
    xw.row(i) *= s;
    yw(i) *= s;
  }
}

// Root-mean-square of each column; columns that are all zero keep scale 1 so they stay inert.
VectorXd column_rms(const MatrixXd& x) {
  VectorXd s(x.cols());
  double n = std::max<double>(1.0, static_cast<double>(x.rows()));
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    double v = std::sqrt(x.col(j).squaredNorm() / n);
    s(j) = v > 0 && std::isfinite(v) ? v : 1.0;
  }
  return s;
}

double soft_threshold(double z, double g) {
  if (z > g) return z - g;
  if (z < -g) return z + g;
  return 0.0;
}

// Coordinate descent on the Gram form: minimise (1/2n) b'Gb - (1/n) c'b + lambda sum_{penalised} |b_j|,
// with G = A'A and c = A'y of already scaled columns. `b` is the warm start and the result.
void lasso_gram(const MatrixXd& gram, const VectorXd& xty, double n, double lambda, const std::vector<bool>& free_col,
                const LassoOptions& opt, VectorXd& b) {
  const Eigen::Index p = gram.rows();
  VectorXd gb = gram * b;
  auto update = [&](Eigen::Index j) {
    double gjj = gram(j, j);
    if (gjj <= 1e-12 * n) return 0.0;  // a column with no weight in these rows: leave it out
    double rho = xty(j) - gb(j) + gjj * b(j);
    double nb = free_col[static_cast<size_t>(j)] ? rho / gjj : soft_threshold(rho, n * lambda) / gjj;
    double d = nb - b(j);
    if (d != 0) {
      gb += gram.col(j) * d;
      b(j) = nb;
    }
    return std::abs(d);
  };
  // glmnet's strategy: sweep every coordinate, then iterate on the non-zero ones until they settle, and
  // stop when a full sweep changes nothing.
  for (int sweep = 0; sweep < opt.max_sweeps; ++sweep) {
    double max_change = 0;
    for (Eigen::Index j = 0; j < p; ++j) max_change = std::max(max_change, update(j));
    if (max_change < opt.tolerance) break;
    std::vector<Eigen::Index> active;
    for (Eigen::Index j = 0; j < p; ++j)
      if (b(j) != 0) active.push_back(j);
    // Bounded: on strongly correlated polynomial terms the active set can crawl for a long time.
    for (int inner = 0; inner < std::min(opt.max_sweeps, 50); ++inner) {
      double change = 0;
      for (Eigen::Index j : active) change = std::max(change, update(j));
      if (change < opt.tolerance) break;
    }
  }
}

std::vector<double> lambda_path(double lambda_max, const LassoOptions& opt) {
  std::vector<double> path;
  int m = std::max(2, opt.path_length);
  for (int i = 0; i < m; ++i)
    path.push_back(lambda_max * std::pow(opt.min_ratio, static_cast<double>(i) / (m - 1)));
  return path;
}

}  // namespace

VectorXd fit_least_squares(const MatrixXd& x, const VectorXd& y, const VectorXd* weights) {
  MatrixXd a;
  VectorXd b;
  weigh_rows(x, y, weights, a, b);
  VectorXd s = column_rms(a);
  a = a * s.cwiseInverse().asDiagonal();
  Eigen::ColPivHouseholderQR<MatrixXd> qr(a);
  qr.setThreshold(1e-10);
  VectorXd coef = qr.solve(b);
  return coef.cwiseQuotient(s);
}

VectorXd fit_relative(const MatrixXd& x, const VectorXd& y) {
  VectorXd w = y.array().square().inverse();
  return fit_least_squares(x, y, &w);
}

VectorXd fit_nnls(const MatrixXd& x, const VectorXd& y, const VectorXd* weights) {
  MatrixXd a;
  VectorXd b;
  weigh_rows(x, y, weights, a, b);
  VectorXd s = column_rms(a);
  a = a * s.cwiseInverse().asDiagonal();
  const Eigen::Index p = a.cols();
  // Lawson and Hanson (1974): grow the passive set by the most promising coordinate, and step back
  // towards feasibility whenever the unconstrained solution on the passive set turns negative.
  VectorXd coef = VectorXd::Zero(p);
  std::vector<bool> passive(static_cast<size_t>(p), false);
  const double tol = 1e-10 * std::max(1.0, a.norm() * b.norm());
  for (int outer = 0; outer < 3 * p + 10; ++outer) {
    VectorXd grad = a.transpose() * (b - a * coef);
    Eigen::Index best = -1;
    double best_g = tol;
    for (Eigen::Index j = 0; j < p; ++j)
      if (!passive[static_cast<size_t>(j)] && grad(j) > best_g) best_g = grad(j), best = j;
    if (best < 0) break;
    passive[static_cast<size_t>(best)] = true;
    for (int inner = 0; inner < 3 * p + 10; ++inner) {
      std::vector<Eigen::Index> cols;
      for (Eigen::Index j = 0; j < p; ++j)
        if (passive[static_cast<size_t>(j)]) cols.push_back(j);
      MatrixXd ap(a.rows(), static_cast<Eigen::Index>(cols.size()));
      for (size_t k = 0; k < cols.size(); ++k) ap.col(static_cast<Eigen::Index>(k)) = a.col(cols[k]);
      VectorXd zp = ap.colPivHouseholderQr().solve(b);
      VectorXd z = VectorXd::Zero(p);
      for (size_t k = 0; k < cols.size(); ++k) z(cols[k]) = zp(static_cast<Eigen::Index>(k));
      bool feasible = true;
      for (Eigen::Index j : cols)
        if (z(j) <= 0) feasible = false;
      if (feasible) {
        coef = z;
        break;
      }
      double alpha = 1.0;
      for (Eigen::Index j : cols)
        if (z(j) <= 0) alpha = std::min(alpha, coef(j) / (coef(j) - z(j)));
      coef += alpha * (z - coef);
      for (Eigen::Index j : cols)
        if (coef(j) <= 1e-15) coef(j) = 0, passive[static_cast<size_t>(j)] = false;
    }
  }
  return coef.cwiseQuotient(s);
}

VectorXd fit_ridge(const MatrixXd& x, const VectorXd& y, double lambda, const VectorXd* weights,
                   const std::vector<bool>* unpenalised) {
  MatrixXd a;
  VectorXd b;
  weigh_rows(x, y, weights, a, b);
  VectorXd s = column_rms(a);
  a = a * s.cwiseInverse().asDiagonal();
  MatrixXd g = a.transpose() * a;
  const double n = static_cast<double>(a.rows());
  for (Eigen::Index j = 0; j < g.rows(); ++j)
    if (!unpenalised || !(*unpenalised)[static_cast<size_t>(j)]) g(j, j) += n * lambda;
  VectorXd coef = g.ldlt().solve(a.transpose() * b);
  return coef.cwiseQuotient(s);
}

VectorXd fit_lasso(const MatrixXd& x, const VectorXd& y, double lambda, const VectorXd* weights,
                   const std::vector<bool>* unpenalised, const LassoOptions& options) {
  MatrixXd a;
  VectorXd b;
  weigh_rows(x, y, weights, a, b);
  VectorXd s = column_rms(a);
  a = a * s.cwiseInverse().asDiagonal();
  std::vector<bool> free_col = unpenalised ? *unpenalised : std::vector<bool>(static_cast<size_t>(a.cols()), false);
  VectorXd coef = VectorXd::Zero(a.cols());
  lasso_gram(a.transpose() * a, a.transpose() * b, static_cast<double>(a.rows()), lambda, free_col, options, coef);
  return coef.cwiseQuotient(s);
}

LassoFit fit_lasso_cv(const MatrixXd& x, const VectorXd& y, const VectorXd* weights,
                      const std::vector<bool>* unpenalised, const LassoOptions& options) {
  MatrixXd a;
  VectorXd b;
  weigh_rows(x, y, weights, a, b);
  const Eigen::Index n = a.rows(), p = a.cols();
  if (n < 2) throw_bad_input("lasso: {} rows, expected at least 2", n);
  VectorXd s = column_rms(a);
  a = a * s.cwiseInverse().asDiagonal();
  std::vector<bool> free_col = unpenalised ? *unpenalised : std::vector<bool>(static_cast<size_t>(p), false);

  // lambda_max: the smallest lambda at which every penalised coefficient is 0, given the free columns.
  MatrixXd full_gram = a.transpose() * a;
  VectorXd full_xty = a.transpose() * b;
  VectorXd start = VectorXd::Zero(p);
  lasso_gram(full_gram, full_xty, static_cast<double>(n), 1e300, free_col, options, start);
  VectorXd corr = a.transpose() * (b - a * start);
  double lambda_max = 0;
  for (Eigen::Index j = 0; j < p; ++j)
    if (!free_col[static_cast<size_t>(j)]) lambda_max = std::max(lambda_max, std::abs(corr(j)) / static_cast<double>(n));
  if (lambda_max <= 0) lambda_max = 1e-12;
  const std::vector<double> path = lambda_path(lambda_max, options);

  const int k = std::clamp<int>(options.folds, 2, static_cast<int>(n));
  std::vector<int> fold(static_cast<size_t>(n));
  std::vector<Eigen::Index> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i = 0; i < order.size(); ++i) fold[static_cast<size_t>(order[i])] = static_cast<int>(i % static_cast<size_t>(k));

  std::vector<double> err(path.size(), 0.0);
  MatrixXd oof(n, static_cast<Eigen::Index>(path.size()));  // weighted-space predictions per lambda
  std::vector<int> max_nz(path.size(), 0);
  for (int f = 0; f < k; ++f) {
    // The fold's Gram matrix from its own rows: downdating the full one cancels catastrophically when a
    // column's weight sits in a few rows (relative weights make small targets heavy).
    std::vector<Eigen::Index> train_rows;
    for (Eigen::Index i = 0; i < n; ++i)
      if (fold[static_cast<size_t>(i)] != f) train_rows.push_back(i);
    MatrixXd at(static_cast<Eigen::Index>(train_rows.size()), p);
    VectorXd bt(static_cast<Eigen::Index>(train_rows.size()));
    for (size_t r = 0; r < train_rows.size(); ++r) {
      at.row(static_cast<Eigen::Index>(r)) = a.row(train_rows[r]);
      bt(static_cast<Eigen::Index>(r)) = b(train_rows[r]);
    }
    MatrixXd g = at.transpose() * at;
    VectorXd c = at.transpose() * bt;
    const double ntrain = static_cast<double>(train_rows.size());
    VectorXd coef = VectorXd::Zero(p);
    for (size_t li = 0; li < path.size(); ++li) {
      lasso_gram(g, c, ntrain, path[li], free_col, options, coef);  // warm start down the path
      int nz = 0;
      for (Eigen::Index j = 0; j < p; ++j) nz += coef(j) != 0;
      max_nz[li] = std::max(max_nz[li], nz);
      for (Eigen::Index i = 0; i < n; ++i)
        if (fold[static_cast<size_t>(i)] == f) {
          double pred = a.row(i).dot(coef);
          oof(i, static_cast<Eigen::Index>(li)) = pred;
          err[li] += (b(i) - pred) * (b(i) - pred);
        }
    }
  }
  size_t best = 0;
  bool found = false;
  for (size_t li = 0; li < path.size(); ++li) {
    if (options.max_nonzero > 0 && max_nz[li] > options.max_nonzero) continue;
    if (!found || err[li] < err[best]) best = li, found = true;
  }
  LassoFit out;
  out.lambda = path[best];
  out.cv_error = err[best] / static_cast<double>(n);
  VectorXd coef = VectorXd::Zero(p);
  for (size_t li = 0; li <= best; ++li) lasso_gram(full_gram, full_xty, static_cast<double>(n), path[li], free_col, options, coef);
  out.coef = coef.cwiseQuotient(s);
  out.out_of_fold = oof.col(static_cast<Eigen::Index>(best));
  if (weights)
    for (Eigen::Index i = 0; i < n; ++i) out.out_of_fold(i) /= std::sqrt((*weights)(i));
  return out;
}

VectorXd fit_lad(const MatrixXd& x, const VectorXd& y, int iterations) {
  VectorXd coef = fit_least_squares(x, y);
  VectorXd w(x.rows());
  for (int it = 0; it < iterations; ++it) {
    VectorXd r = (y - x * coef).cwiseAbs();
    // The floor keeps exactly fitted rows from taking all the weight.
    double floor = std::max(1e-12, 1e-5 * (r.size() ? r.mean() : 0.0));
    for (Eigen::Index i = 0; i < r.size(); ++i) w(i) = 1.0 / std::max(r(i), floor);
    VectorXd next = fit_least_squares(x, y, &w);
    double change = (next - coef).norm() / std::max(1e-300, coef.norm());
    coef = next;
    if (change < 1e-9) break;
  }
  return coef;
}

Standardizer Standardizer::fit(const MatrixXd& x) {
  Standardizer s;
  const double n = std::max<double>(1.0, static_cast<double>(x.rows()));
  s.mean = x.colwise().sum().transpose() / n;
  s.scale.resize(x.cols());
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    double v = std::sqrt((x.col(j).array() - s.mean(j)).square().sum() / n);
    s.scale(j) = v > 0 && std::isfinite(v) ? v : 1.0;
  }
  return s;
}

MatrixXd Standardizer::apply(const MatrixXd& x) const {
  return (x.rowwise() - mean.transpose()).array().rowwise() / scale.transpose().array();
}

MatrixXd polynomial_expand(const MatrixXd& x, int degree, std::vector<std::vector<int>>* exponents) {
  if (degree < 1 || degree > 3) throw_bad_input("polynomial degree {}, expected 1, 2 or 3", degree);
  const int m = static_cast<int>(x.cols());
  std::vector<std::vector<int>> exps;
  // Combinations with replacement of column indices i1 <= i2 <= ... for each degree.
  std::vector<int> idx;
  auto rec = [&](auto&& self, int start, int left) -> void {
    if (left == 0) {
      std::vector<int> e(static_cast<size_t>(m), 0);
      for (int i : idx) ++e[static_cast<size_t>(i)];
      exps.push_back(std::move(e));
      return;
    }
    for (int i = start; i < m; ++i) {
      idx.push_back(i);
      self(self, i, left - 1);
      idx.pop_back();
    }
  };
  for (int d = 1; d <= degree; ++d) rec(rec, 0, d);
  MatrixXd out(x.rows(), static_cast<Eigen::Index>(exps.size()));
  for (size_t t = 0; t < exps.size(); ++t) {
    auto col = out.col(static_cast<Eigen::Index>(t));
    col.setOnes();
    for (int j = 0; j < m; ++j)
      for (int p = 0; p < exps[t][static_cast<size_t>(j)]; ++p) col.array() *= x.col(j).array();
  }
  if (exponents) *exponents = std::move(exps);
  return out;
}

}  // namespace convergy::model

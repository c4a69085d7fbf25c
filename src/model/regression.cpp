// Regression solvers for the predictive models (see regression.h).
#include "model/regression.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
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
    case Method::WlsNetwork: return "wls-network";
  }
  return "?";
}

std::optional<Method> method_from_name(std::string_view name) {
  for (Method m : {Method::Ols, Method::Wls, Method::Nnls, Method::Ridge, Method::Lasso, Method::Lad, Method::LogLinear,
                   Method::WlsNetwork})
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

// Standardises `x` (see ColumnScaling), then weighs the rows: the problem every solver works on.
ColumnScaling standardised_problem(const MatrixXd& x, const VectorXd& y, const VectorXd* w, bool allow_centering,
                                   MatrixXd& a, VectorXd& b) {
  ColumnScaling sc = ColumnScaling::fit(x, w, allow_centering);
  weigh_rows(sc.apply(x), y, w, a, b);
  return sc;
}

double soft_threshold(double z, double g) {
  if (z > g) return z - g;
  if (z < -g) return z + g;
  return 0.0;
}

struct CdStats {
  int sweeps = 0;
  bool converged = false;
  double relative_gap = 0;
};

// The Lasso objective (1/2n)||y - Ab||^2 + lambda ||b||_1 and its duality gap, from the Gram form
// (G = A'A, c = A'y, yty = y'y) and gb = G b. The dual point is the residual scaled into the feasible set
// |A_j' theta| <= n lambda (the certificate glmnet-style solvers use).
std::pair<double, double> lasso_objective_and_gap(const VectorXd& xty, double yty, double n, double lambda,
                                                   const VectorXd& b, const VectorXd& gb) {
  const double btc = b.dot(xty);
  const double rr = std::max(0.0, yty - 2 * btc + b.dot(gb));  // ||r||^2
  const double ry = yty - btc;                                   // r'y
  const double max_corr = b.size() ? (xty - gb).cwiseAbs().maxCoeff() : 0.0;
  const double primal = rr / (2 * n) + lambda * b.lpNorm<1>();
  const double s = max_corr > n * lambda ? n * lambda / max_corr : 1.0;
  const double dual = (s * ry - 0.5 * s * s * rr) / n;
  return {primal, std::max(0.0, primal - dual)};
}

// A diagonal entry at or below this is a column with no weight in these rows: the solvers leave it at 0.
double negligible_diagonal(const MatrixXd& gram) {
  return 1e-12 * std::max(1.0, gram.diagonal().size() ? gram.diagonal().maxCoeff() : 1.0);
}

// The duality-gap certificate at b (gb = G b): records the relative gap in `st`, true when it is within
// opt.gap_tolerance.
bool gap_certified(const VectorXd& xty, double yty, double n, double lambda, const VectorXd& b, const VectorXd& gb,
                   const LassoOptions& opt, CdStats& st) {
  auto [primal, gap] = lasso_objective_and_gap(xty, yty, n, lambda, b, gb);
  st.relative_gap = primal > 0 ? gap / primal : 0.0;
  return gap <= opt.gap_tolerance * primal || primal <= 1e-300;
}

// Coordinate descent on the Gram form, every coefficient penalised: minimise (1/2n) b'Gb - (1/n) c'b +
// lambda ||b||_1 (glmnet's strategy: a full sweep, then cycles over the non-zero coordinates until they
// settle). `b` is the warm start and the result; stops on the duality gap. The fallback of the active-set
// solver below.
CdStats lasso_cd(const MatrixXd& gram, const VectorXd& xty, double yty, double n, double lambda,
                 const LassoOptions& opt, VectorXd& b) {
  const Eigen::Index p = gram.rows();
  CdStats st;
  VectorXd gb = gram * b;
  const double tiny = negligible_diagonal(gram);
  auto update = [&](Eigen::Index j) {
    double gjj = gram(j, j);
    if (gjj <= tiny) {  // a column with no weight in these rows (or nothing beside the free ones): left out
      if (b(j) != 0) gb -= gram.col(j) * b(j), b(j) = 0;
      return 0.0;
    }
    double nb = soft_threshold(xty(j) - gb(j) + gjj * b(j), n * lambda) / gjj;
    double d = nb - b(j);
    if (d != 0) {
      gb += gram.col(j) * d;
      b(j) = nb;
    }
    return std::abs(d);
  };
  auto converged = [&]() {
    gb = gram * b;  // refresh: incremental updates drift over many sweeps
    return gap_certified(xty, yty, n, lambda, b, gb, opt, st);
  };
  for (; st.sweeps < opt.max_sweeps; ++st.sweeps) {
    if (converged()) {
      st.converged = true;
      return st;
    }
    for (Eigen::Index j = 0; j < p; ++j) update(j);
    std::vector<Eigen::Index> active;
    for (Eigen::Index j = 0; j < p; ++j)
      if (b(j) != 0) active.push_back(j);
    for (int inner = 0; inner < 100; ++inner) {
      double change = 0;
      for (Eigen::Index j : active) change = std::max(change, update(j));
      if (change < opt.tolerance) break;
    }
  }
  st.converged = converged();
  return st;
}

// The feature-sign active-set method (Lee, Battle, Raina and Ng, 2007) for the same problem. With the signs
// of the active set fixed, the minimiser on that face solves G_AA x = c_A - n lambda sign_A exactly; a line
// search from the current point towards it, stopping at the best point where a coefficient crosses zero,
// lowers the objective at every step, and a zero coordinate whose gradient exceeds n lambda joins the set;
// it ends in finitely many steps. Polynomial NeuralPower terms are so strongly correlated that coordinate
// descent alone ran into 1000 sweeps per lambda with duality gaps up to 28% on the TX2 table (217 s for one
// cross-validated path); this method certifies gaps below 1e-9 on the same path in under 3 s.
CdStats lasso_feature_sign(const MatrixXd& gram, const VectorXd& xty, double yty, double n, double lambda,
                           const LassoOptions& opt, VectorXd& b) {
  const Eigen::Index p = gram.rows();
  const double mu = n * lambda;
  CdStats st;
  const double tiny = negligible_diagonal(gram);
  std::vector<Eigen::Index> active;
  VectorXd sign = VectorXd::Zero(p);
  for (Eigen::Index j = 0; j < p; ++j)
    if (b(j) != 0) active.push_back(j), sign(j) = b(j) > 0 ? 1.0 : -1.0;
  const int max_steps = 20 * static_cast<int>(p) + 100;
  Eigen::Index last_entered = -1;
  for (int step = 0; step < max_steps; ++step) {
    ++st.sweeps;
    bool moved = false;
    // Optimise on the current face.
    for (int inner = 0; inner < max_steps && !active.empty(); ++inner) {
      const auto na = static_cast<Eigen::Index>(active.size());
      MatrixXd gaa(na, na);
      VectorXd ca(na), sa(na), xa(na);
      for (Eigen::Index u = 0; u < na; ++u) {
        for (Eigen::Index v = 0; v < na; ++v) gaa(u, v) = gram(active[u], active[v]);
        ca(u) = xty(active[u]);
        sa(u) = sign(active[u]);
        xa(u) = b(active[u]);
      }
      const VectorXd rhs = ca - mu * sa;
      const VectorXd target = gaa.ldlt().solve(rhs);
      // The small ridge of lasso_gram keeps G_AA positive definite; a solve that still fails to satisfy the
      // system hands over to coordinate descent.
      if (!target.allFinite() || (gaa * target - rhs).norm() > 1e-6 * (rhs.norm() + gaa.norm() * target.norm())) break;
      const VectorXd d = target - xa;
      // Exact line search on [0, 1]: the objective is a convex quadratic plus a piecewise linear term whose
      // breakpoints are where coefficients cross zero.
      const VectorXd gd = gaa * d;
      const double curv = d.dot(gd), lin = xa.dot(gd) - ca.dot(d);
      std::vector<double> knots = {0.0, 1.0};
      for (Eigen::Index u = 0; u < na; ++u)
        if (xa(u) != 0 && d(u) != 0) {
          double t = -xa(u) / d(u);
          if (t > 0 && t < 1) knots.push_back(t);
        }
      std::sort(knots.begin(), knots.end());
      auto along = [&](double t) {
        const VectorXd x = xa + t * d;
        return 0.5 * x.dot(gaa * x) - ca.dot(x) + mu * x.lpNorm<1>();
      };
      double best_t = 0, best_obj = along(0.0);
      for (size_t k = 0; k + 1 < knots.size(); ++k) {
        const double lo = knots[k], hi = knots[k + 1];
        if (!(hi > lo)) continue;
        const double mid = 0.5 * (lo + hi);
        double l1_slope = 0;
        for (Eigen::Index u = 0; u < na; ++u) {
          double v = xa(u) + mid * d(u);
          if (v != 0) l1_slope += (v > 0 ? 1.0 : -1.0) * d(u);
          else l1_slope += sa(u) * d(u);  // a coordinate that is 0 along the whole piece: its chosen sign
        }
        const double slope0 = lin + mu * l1_slope;  // derivative at t = 0 of this piece's expression
        double t = curv > 0 ? std::clamp(-slope0 / curv, lo, hi) : (slope0 < 0 ? hi : lo);
        for (double cand : {t, hi}) {
          double o = along(cand);
          if (o < best_obj) best_obj = o, best_t = cand;
        }
      }
      if (best_t == 0) break;  // no progress on this face
      moved = true;
      xa += best_t * d;
      std::vector<Eigen::Index> kept;
      bool zeroed = false;
      for (Eigen::Index u = 0; u < na; ++u) {
        const Eigen::Index j = active[static_cast<size_t>(u)];
        if (std::abs(xa(u)) <= 1e-14 * std::max(1.0, xa.cwiseAbs().maxCoeff()) || gram(j, j) <= tiny) {
          b(j) = 0, sign(j) = 0, zeroed = true;
        } else {
          b(j) = xa(u), sign(j) = xa(u) > 0 ? 1.0 : -1.0;
          zeroed = zeroed || sign(j) != sa(u);  // crossed zero: another face
          kept.push_back(j);
        }
      }
      active = std::move(kept);
      if (best_t == 1.0 && !zeroed) break;  // the face's minimiser, signs kept: optimal on the active set
    }
    // When rounding spoils the face's solve (nearly collinear active columns), the coordinate that entered
    // last still lowers the objective on its own: a coordinate-descent step on it keeps the method moving.
    if (!moved && last_entered >= 0 && b(last_entered) == 0) {
      const Eigen::Index j = last_entered;
      const double rho = xty(j) - gram.row(j).dot(b);
      b(j) = soft_threshold(rho, mu) / gram(j, j);
      sign(j) = b(j) > 0 ? 1.0 : b(j) < 0 ? -1.0 : 0.0;
      if (b(j) == 0) {
        active.erase(std::remove(active.begin(), active.end(), j), active.end());
      } else {
        last_entered = -1;
        continue;  // optimise the face with it first
      }
    }
    // A zero coordinate whose gradient exceeds n lambda joins, signed to lower the objective.
    const VectorXd grad = xty - gram * b;
    Eigen::Index enter = -1;
    double worst = mu * (1 + 1e-9);
    for (Eigen::Index j = 0; j < p; ++j)
      if (b(j) == 0 && gram(j, j) > tiny && std::abs(grad(j)) > worst) worst = std::abs(grad(j)), enter = j;
    if (enter < 0) break;
    if (!moved && step > 0 && enter == last_entered) break;  // stalled: coordinate descent takes over
    last_entered = enter;
    active.push_back(enter);
    sign(enter) = grad(enter) > 0 ? 1.0 : -1.0;
  }
  st.converged = gap_certified(xty, yty, n, lambda, b, gram * b, opt, st);
  return st;
}

// Feature-sign first; coordinate descent from its result in the rare case it stops short of the gap.
CdStats lasso_penalised(const MatrixXd& gram, const VectorXd& xty, double yty, double n, double lambda,
                        const LassoOptions& opt, VectorXd& b) {
  CdStats st = lasso_feature_sign(gram, xty, yty, n, lambda, opt, b);
  if (st.converged) return st;
  CdStats cd = lasso_cd(gram, xty, yty, n, lambda, opt, b);
  cd.sweeps += st.sweeps;
  return cd;
}

// The Lasso with unpenalised (free) columns, e.g. the intercept: they are partialled out first (the
// penalised columns and y are replaced by their residuals on the free ones, all in Gram form), the penalised
// problem is solved, and the free coefficients follow by least squares. This keeps the duality gap a valid
// certificate and spares coordinate descent the zig-zag between an intercept and correlated columns.
CdStats lasso_gram(const MatrixXd& gram, const VectorXd& xty, double yty, double n, double lambda,
                   const std::vector<bool>& free_col, const LassoOptions& opt, VectorXd& b) {
  std::vector<Eigen::Index> fr, pe;
  for (Eigen::Index j = 0; j < gram.rows(); ++j) (free_col[static_cast<size_t>(j)] ? fr : pe).push_back(j);
  const auto nf = static_cast<Eigen::Index>(fr.size()), np = static_cast<Eigen::Index>(pe.size());
  MatrixXd gff(nf, nf), gfp(nf, np), gpp(np, np);
  VectorXd cf(nf), cp(np), bp(np);
  for (Eigen::Index u = 0; u < nf; ++u) {
    cf(u) = xty(fr[u]);
    for (Eigen::Index v = 0; v < nf; ++v) gff(u, v) = gram(fr[u], fr[v]);
    for (Eigen::Index v = 0; v < np; ++v) gfp(u, v) = gram(fr[u], pe[v]);
  }
  for (Eigen::Index u = 0; u < np; ++u) {
    cp(u) = xty(pe[u]);
    bp(u) = b(pe[u]);
    for (Eigen::Index v = 0; v < np; ++v) gpp(u, v) = gram(pe[u], pe[v]);
  }
  Eigen::CompleteOrthogonalDecomposition<MatrixXd> cod;
  if (nf > 0) {
    cod.setThreshold(1e-12);
    cod.compute(gff);
    MatrixXd m = cod.solve(gfp);  // G_ff^+ G_fp
    VectorXd mf = cod.solve(cf);  // G_ff^+ c_f
    gpp -= gfp.transpose() * m;
    cp -= gfp.transpose() * mf;
    yty -= cf.dot(mf);
    for (Eigen::Index j = 0; j < np; ++j)  // the residual of a column the free ones span is rounding noise
      if (gpp(j, j) <= 1e-10 * gram(pe[j], pe[j])) gpp.row(j).setZero(), gpp.col(j).setZero(), cp(j) = 0;
  }
  // A ridge of opt.ridge times the mean diagonal: monomials of a hyper-parameter with few values are exactly
  // dependent, and without it the active set's system can be singular. It changes the fit negligibly
  // (an elastic net with that tiny L2 weight) and bounds the condition number.
  if (np > 0 && opt.ridge > 0) gpp.diagonal().array() += opt.ridge * std::max(1e-300, gpp.diagonal().mean());
  CdStats st = lasso_penalised(gpp, cp, std::max(0.0, yty), n, lambda, opt, bp);
  for (Eigen::Index u = 0; u < np; ++u) b(pe[u]) = bp(u);
  if (nf > 0) {
    VectorXd bf = cod.solve(cf - gfp * bp);
    for (Eigen::Index u = 0; u < nf; ++u) b(fr[u]) = std::isfinite(bf(u)) ? bf(u) : 0.0;
  }
  return st;
}

std::vector<double> lambda_path(double lambda_max, const LassoOptions& opt) {
  std::vector<double> path;
  int m = std::max(2, opt.path_length);
  for (int i = 0; i < m; ++i)
    path.push_back(lambda_max * std::pow(opt.min_ratio, static_cast<double>(i) / (m - 1)));
  return path;
}

// Centring is only a change of variables when the intercept is free: a penalised or sign-constrained
// intercept would change the problem.
bool intercept_is_free(const ColumnScaling& probe, const std::vector<bool>& free_col) {
  return probe.intercept >= 0 && free_col[static_cast<size_t>(probe.intercept)];
}

MatrixXd gram_of(const MatrixXd& a) {
  MatrixXd g = MatrixXd::Zero(a.cols(), a.cols());
  g.selfadjointView<Eigen::Lower>().rankUpdate(a.transpose());
  return g.selfadjointView<Eigen::Lower>();
}

}  // namespace

ColumnScaling ColumnScaling::fit(const MatrixXd& x, const VectorXd* weights, bool allow_centering) {
  ColumnScaling sc;
  const Eigen::Index n = x.rows(), p = x.cols();
  sc.center = VectorXd::Zero(p);
  sc.scale = VectorXd::Ones(p);
  sc.inert.assign(static_cast<size_t>(p), false);
  VectorXd w = weights ? *weights : VectorXd::Ones(n);
  const double wsum = w.sum();
  if (n == 0 || !(wsum > 0)) return sc;
  for (Eigen::Index j = 0; j < p && allow_centering && sc.intercept < 0; ++j) {
    double v = x(0, j);
    if (v == 0 || !std::isfinite(v)) continue;
    bool constant = true;
    for (Eigen::Index i = 1; i < n && constant; ++i) constant = std::abs(x(i, j) - v) <= 1e-12 * std::abs(v);
    if (constant) sc.intercept = j, sc.intercept_value = v;
  }
  for (Eigen::Index j = 0; j < p; ++j) {
    if (j == sc.intercept) {
      sc.scale(j) = sc.intercept_value;
      continue;
    }
    double mean = sc.intercept >= 0 ? w.dot(x.col(j)) / wsum : 0.0;
    double ss = 0;
    for (Eigen::Index i = 0; i < n; ++i) ss += w(i) * (x(i, j) - mean) * (x(i, j) - mean);
    double spread = std::sqrt(ss / wsum);
    // No spread, or a spread lost in rounding (a column equal to the intercept up to its last digits): the
    // column carries nothing the intercept does not, and stays out of the fit.
    if (!(spread > 1e-12 * std::abs(mean)) || !std::isfinite(spread)) {
      sc.inert[static_cast<size_t>(j)] = true;
      continue;
    }
    sc.center(j) = mean;
    sc.scale(j) = spread;
  }
  return sc;
}

MatrixXd ColumnScaling::apply(const MatrixXd& x) const {
  MatrixXd z = (x.rowwise() - center.transpose()).array().rowwise() / scale.transpose().array();
  for (Eigen::Index j = 0; j < x.cols(); ++j)
    if (inert[static_cast<size_t>(j)]) z.col(j).setZero();
  return z;
}

VectorXd ColumnScaling::unscale(const VectorXd& coef) const {
  VectorXd out = coef.cwiseQuotient(scale);
  for (Eigen::Index j = 0; j < out.size(); ++j)
    if (inert[static_cast<size_t>(j)]) out(j) = 0;
  if (intercept >= 0) {
    double shift = 0;
    for (Eigen::Index j = 0; j < coef.size(); ++j)
      if (j != intercept) shift += out(j) * center(j);
    out(intercept) -= shift / intercept_value;
  }
  return out;
}

VectorXd fit_least_squares(const MatrixXd& x, const VectorXd& y, const VectorXd* weights) {
  MatrixXd a;
  VectorXd b;
  ColumnScaling sc = standardised_problem(x, y, weights, true, a, b);
  Eigen::ColPivHouseholderQR<MatrixXd> qr(a);
  qr.setThreshold(1e-10);
  // A basic solution: Eigen's solve() only drops pivots at machine precision, so a column that repeats
  // another up to rounding would share the coefficient; solve on the rank()'s leading pivots instead.
  const Eigen::Index r = qr.rank();
  VectorXd qtb = qr.householderQ().transpose() * b;
  VectorXd z = VectorXd::Zero(a.cols());
  z.head(r) = qr.matrixR().topLeftCorner(r, r).triangularView<Eigen::Upper>().solve(qtb.head(r));
  return sc.unscale(qr.colsPermutation() * z);
}

VectorXd fit_relative(const MatrixXd& x, const VectorXd& y) {
  VectorXd w = y.array().square().inverse();
  return fit_least_squares(x, y, &w);
}

VectorXd fit_nnls(const MatrixXd& x, const VectorXd& y, const VectorXd* weights) {
  // Scaled, not centred: the sign constraint applies to the raw intercept, which centring would mix up.
  MatrixXd a;
  VectorXd b;
  ColumnScaling sc = standardised_problem(x, y, weights, false, a, b);
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
  return sc.unscale(coef);
}

namespace {

// P(T <= t) for t >= 0 and nu degrees of freedom: 1/2 + the density's integral over [0, t]. With u = atan(t /
// sqrt(nu)) the density becomes c * cos(u)^(nu - 1), smooth on [0, pi/2), so Simpson's rule converges fast.
double student_t_cdf_upper_half(double t, double nu) {
  const double c =
      std::exp(std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2)) / std::sqrt(nu * M_PI) * std::sqrt(nu);
  const double end = std::atan(t / std::sqrt(nu));
  constexpr int kSteps = 2000;  // even
  const double h = end / kSteps;
  double sum = 0;
  for (int i = 0; i <= kSteps; ++i) {
    const double f = std::pow(std::cos(i * h), nu - 1);
    sum += (i == 0 || i == kSteps ? 1 : (i % 2 ? 4 : 2)) * f;
  }
  return 0.5 + c * sum * h / 3;
}

}  // namespace

double student_t_quantile(double p, double nu) {
  if (!(p > 0 && p < 1) || !(nu > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (p == 0.5) return 0.0;
  const double q = p > 0.5 ? p : 1 - p;
  double lo = 0, hi = 1;
  while (student_t_cdf_upper_half(hi, nu) < q && hi < 1e12) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf_upper_half(mid, nu) < q ? lo : hi) = mid;
  }
  const double t = 0.5 * (lo + hi);
  return p > 0.5 ? t : -t;
}

VectorXd fit_ridge(const MatrixXd& x, const VectorXd& y, double lambda, const VectorXd* weights,
                   const std::vector<bool>* unpenalised) {
  std::vector<bool> free_col = unpenalised ? *unpenalised : std::vector<bool>(static_cast<size_t>(x.cols()), false);
  MatrixXd a;
  VectorXd b;
  ColumnScaling probe = ColumnScaling::fit(x, weights, true);
  ColumnScaling sc = standardised_problem(x, y, weights, intercept_is_free(probe, free_col), a, b);
  MatrixXd g = gram_of(a);
  const double n = static_cast<double>(a.rows());
  for (Eigen::Index j = 0; j < g.rows(); ++j)
    if (!free_col[static_cast<size_t>(j)]) g(j, j) += n * lambda;
  // Pivoted LDL' of a positive semi-definite matrix; a free column that repeats another has no unique
  // coefficient, and the pseudo-solution's entries there are not finite: they are set to 0.
  VectorXd coef = g.ldlt().solve(a.transpose() * b);
  for (Eigen::Index j = 0; j < coef.size(); ++j)
    if (!std::isfinite(coef(j))) coef(j) = 0;
  return sc.unscale(coef);
}

VectorXd fit_lasso(const MatrixXd& x, const VectorXd& y, double lambda, const VectorXd* weights,
                   const std::vector<bool>* unpenalised, const LassoOptions& options) {
  std::vector<bool> free_col = unpenalised ? *unpenalised : std::vector<bool>(static_cast<size_t>(x.cols()), false);
  MatrixXd a;
  VectorXd b;
  ColumnScaling probe = ColumnScaling::fit(x, weights, true);
  ColumnScaling sc = standardised_problem(x, y, weights, intercept_is_free(probe, free_col), a, b);
  VectorXd coef = VectorXd::Zero(a.cols());
  lasso_gram(gram_of(a), a.transpose() * b, b.squaredNorm(), static_cast<double>(a.rows()), lambda, free_col, options,
             coef);
  return sc.unscale(coef);
}

LassoFit fit_lasso_cv(const MatrixXd& x, const VectorXd& y, const VectorXd* weights,
                      const std::vector<bool>* unpenalised, const LassoOptions& options) {
  const Eigen::Index n = x.rows(), p = x.cols();
  if (n < 2) throw_bad_input("lasso: {} rows, expected at least 2", n);
  std::vector<bool> free_col = unpenalised ? *unpenalised : std::vector<bool>(static_cast<size_t>(p), false);
  MatrixXd a;
  VectorXd b;
  ColumnScaling probe = ColumnScaling::fit(x, weights, true);
  ColumnScaling sc = standardised_problem(x, y, weights, intercept_is_free(probe, free_col), a, b);
  LassoFit out;
  auto solve = [&](const MatrixXd& g, const VectorXd& c, double yty, double rows, double lambda, VectorXd& coef) {
    CdStats st = lasso_gram(g, c, yty, rows, lambda, free_col, options, coef);
    out.sweeps += st.sweeps;
    out.unconverged += st.converged ? 0 : 1;
    out.max_relative_gap = std::max(out.max_relative_gap, st.relative_gap);
  };

  // lambda_max: the smallest lambda at which every penalised coefficient is 0, given the free columns.
  const MatrixXd full_gram = gram_of(a);
  const VectorXd full_xty = a.transpose() * b;
  const double full_yty = b.squaredNorm();
  VectorXd start = VectorXd::Zero(p);
  solve(full_gram, full_xty, full_yty, static_cast<double>(n), 1e300, start);
  VectorXd corr = full_xty - full_gram * start;
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
    const MatrixXd g = gram_of(at);
    const VectorXd c = at.transpose() * bt;
    const double ntrain = static_cast<double>(train_rows.size());
    VectorXd coef = VectorXd::Zero(p);
    for (size_t li = 0; li < path.size(); ++li) {
      solve(g, c, bt.squaredNorm(), ntrain, path[li], coef);  // warm start down the path
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
  out.lambda = path[best];
  out.cv_error = err[best] / static_cast<double>(n);
  VectorXd coef = VectorXd::Zero(p);
  for (size_t li = 0; li <= best; ++li) solve(full_gram, full_xty, full_yty, static_cast<double>(n), path[li], coef);
  out.coef = sc.unscale(coef);
  out.out_of_fold = oof.col(static_cast<Eigen::Index>(best));
  if (weights)
    for (Eigen::Index i = 0; i < n; ++i) out.out_of_fold(i) /= std::sqrt((*weights)(i));
  return out;
}

VectorXd fit_lad(const MatrixXd& x, const VectorXd& y, int iterations, const VectorXd* weights) {
  const Eigen::Index n = x.rows();
  VectorXd w = weights ? *weights : VectorXd::Ones(n);
  auto objective = [&](const VectorXd& c) { return w.dot((y - x * c).cwiseAbs()); };
  // Start from the least-squares fit with the squared weights (for w = 1/y: the relative fit).
  VectorXd v = w.array().square();
  VectorXd coef = fit_least_squares(x, y, &v);
  VectorXd best = coef;
  double best_obj = objective(coef);
  for (int it = 0; it < iterations; ++it) {
    // sum w_i |r_i| = sum (w_i^2 / e_i) r_i^2 with e_i = w_i |r_i|: reweighted least squares.
    VectorXd e = w.cwiseProduct((y - x * coef).cwiseAbs());
    // The floor keeps exactly fitted rows from taking all the weight.
    double floor = std::max(1e-12, 1e-5 * (e.size() ? e.mean() : 0.0));
    for (Eigen::Index i = 0; i < n; ++i) v(i) = w(i) * w(i) / std::max(e(i), floor);
    coef = fit_least_squares(x, y, &v);
    double obj = objective(coef);
    bool settled = !(obj < best_obj * (1 - 1e-10));
    if (obj < best_obj) best = coef, best_obj = obj;
    if (settled) break;
  }
  return best;
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

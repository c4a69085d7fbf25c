// The regression core of the predictive models, on Eigen: least squares (ordinary, weighted, relative),
// non-negative least squares, ridge, and Lasso by coordinate descent with k-fold cross-validated
// regularisation. Every solver standardises columns internally (centred on their weighted mean and scaled to
// unit spread when the design has an intercept, scaled to unit RMS otherwise) and returns coefficients of the
// raw columns, so features may differ by many orders of magnitude (MACs ~1e10 next to an intercept of 1).
#pragma once
#include <Eigen/Dense>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convergy::model {

using Eigen::MatrixXd;
using Eigen::VectorXd;

enum class Method : uint8_t {
  Ols,       // minimise sum (y - Xb)^2
  Wls,       // minimise sum ((y - Xb) / y)^2: the relative-error fit (weights 1/y^2)
  Nnls,      // the relative-error fit with every coefficient >= 0
  Ridge,     // the relative-error fit plus lambda * ||b||^2 on scaled columns
  Lasso,     // the relative-error fit plus lambda * ||b||_1 on scaled columns, lambda by k-fold CV
  Lad,       // minimise sum |y - Xb| / y: exactly 1 - accuracy, the metric models are judged by
  LogLinear,  // log(y) = Xb by least absolute deviation, predicting exp(Xb); single-layer rows only
  WlsNetwork  // minimise sum ((y - Xb) / Y)^2, Y the measured total of the row's network: for per-layer rows,
              // each network counts once and each layer by its share of it (whole-network relative error)
};
std::string_view method_name(Method m);
std::optional<Method> method_from_name(std::string_view name);

// Least squares with optional row weights (minimise sum w_i (y_i - x_i b)^2). Rank-deficient designs get
// a basic solution: coefficients of redundant columns are exactly 0.
VectorXd fit_least_squares(const MatrixXd& x, const VectorXd& y, const VectorXd* weights = nullptr);
// Weights 1/y^2; every y must be > 0 (checked by the caller).
VectorXd fit_relative(const MatrixXd& x, const VectorXd& y);
// Lawson-Hanson active-set NNLS on optionally weighted rows.
VectorXd fit_nnls(const MatrixXd& x, const VectorXd& y, const VectorXd* weights = nullptr);
// The p-quantile of Student's t distribution with nu > 0 degrees of freedom (0 < p < 1), to about 1e-9: the
// distribution function integrated by Simpson's rule in the variable of the regularised incomplete beta
// function, then bisection.
double student_t_quantile(double p, double nu);
// Ridge on columns scaled to unit RMS; `unpenalised` marks columns (e.g. the intercept) left free.
VectorXd fit_ridge(const MatrixXd& x, const VectorXd& y, double lambda, const VectorXd* weights = nullptr,
                   const std::vector<bool>* unpenalised = nullptr);

struct LassoOptions {
  int folds = 5;
  int path_length = 30;          // lambdas, log-spaced from lambda_max down to lambda_max * min_ratio
  double min_ratio = 1e-4;
  int max_sweeps = 1000;         // coordinate-descent sweeps per lambda, when the active-set method stalls
  double tolerance = 1e-7;       // inner active-set cycles stop at this largest coefficient change (scaled units)
  // Converged when the duality gap is below gap_tolerance times the objective (a certificate: the objective
  // is then within that fraction of its minimum).
  double gap_tolerance = 1e-6;
  // An L2 term of ridge x the mean diagonal of the standardised Gram matrix (so a tiny elastic net): keeps the
  // active set's linear system solvable when polynomial terms depend on each other exactly.
  double ridge = 1e-9;
  uint64_t seed = 1;
  int max_nonzero = 0;           // > 0: pick the best lambda among those with at most this many terms
};
struct LassoFit {
  VectorXd coef;
  double lambda = 0;
  double cv_error = 0;  // mean weighted squared error at the chosen lambda
  VectorXd out_of_fold;  // each row's prediction at the chosen lambda by the fold model that did not see it
  // Convergence over every solve of the path (folds and the final fit): solves that stopped at max_sweeps
  // without reaching the gap tolerance, and the largest relative duality gap left.
  int unconverged = 0;
  double max_relative_gap = 0;
  int sweeps = 0;  // solver iterations in all (active-set steps, plus coordinate-descent sweeps if needed)
};
// Lasso for one lambda: minimise (1/2n) sum w_i (y_i - x_i b)^2 + lambda sum_j |b_j| s_j, where s_j is the
// weighted spread of column j (its standard deviation when an unpenalised constant column exists, its RMS
// otherwise), so lambda does not depend on units.
VectorXd fit_lasso(const MatrixXd& x, const VectorXd& y, double lambda, const VectorXd* weights = nullptr,
                   const std::vector<bool>* unpenalised = nullptr, const LassoOptions& options = {});
// The lambda path, the k-fold choice of lambda, and the refit on all rows at that lambda.
LassoFit fit_lasso_cv(const MatrixXd& x, const VectorXd& y, const VectorXd* weights = nullptr,
                      const std::vector<bool>* unpenalised = nullptr, const LassoOptions& options = {});

// Least absolute deviation by iteratively reweighted least squares: minimise sum w_i |y_i - x_i b| (w_i = 1
// without weights; w_i = 1/y_i is the relative-error fit, i.e. 1 - accuracy).
VectorXd fit_lad(const MatrixXd& x, const VectorXd& y, int iterations = 50, const VectorXd* weights = nullptr);

// How the solvers standardise a design before solving (exposed for tests and diagnostics). With an intercept
// (a column constant over the rows) every other column is centred on its weighted mean and divided by its
// weighted standard deviation; without one, columns are divided by their weighted RMS. Columns that are all
// zero, or constant beside the intercept, keep scale 1 and end up with coefficient 0.
struct ColumnScaling {
  VectorXd center, scale;
  std::vector<bool> inert;      // columns without spread beside the intercept: left out (coefficient 0)
  Eigen::Index intercept = -1;  // the constant column, -1 if none
  double intercept_value = 1.0;
  static ColumnScaling fit(const MatrixXd& x, const VectorXd* weights, bool allow_centering);
  MatrixXd apply(const MatrixXd& x) const;
  VectorXd unscale(const VectorXd& coef) const;  // coefficients of the standardised columns -> of the raw ones
};

// Centring and scaling of columns, kept so predictions apply the same transform.
struct Standardizer {
  VectorXd mean, scale;
  static Standardizer fit(const MatrixXd& x);
  MatrixXd apply(const MatrixXd& x) const;
};

// Every monomial of the columns of `x` up to `degree` (1..3), in graded lexicographic order, without the
// constant. `exponents` receives, per output column, the power of each input column.
MatrixXd polynomial_expand(const MatrixXd& x, int degree, std::vector<std::vector<int>>* exponents = nullptr);

}  // namespace convergy::model

// Honest evaluation of feature sets: k-fold (grouped) cross-validation, leave-one-group-out and the
// `split` column, with accuracy, RMSPE, MAPE, median APE, share within +-10%, R^2, complexity and the
// empirical coverage of the prediction intervals. Metric definitions are in docs/models.md.
#pragma once
#include "model/model.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace convergy::model {

struct Metrics {
  size_t n = 0;
  double accuracy = 0;     // 1 - mean(|p - m| / m)
  double rmspe = 0;        // sqrt(mean(((p - m) / m)^2))
  double mape = 0;         // mean(|p - m| / m)
  double median_ape = 0;   // median(|p - m| / m)
  double within_10 = 0;    // share with |p - m| / m <= 0.10
  double r2 = 0;           // 1 - sum (p - m)^2 / sum (m - mean m)^2
  std::optional<double> coverage;  // share of m inside [lower, upper], when intervals exist
};
// `lower`/`upper` may be empty (no intervals).
Metrics compute_metrics(const std::vector<double>& measured, const std::vector<double>& predicted,
                        const std::vector<double>& lower = {}, const std::vector<double>& upper = {});

enum class CvMode : uint8_t { KFold, LeaveOneGroupOut, Split };

struct EvalOptions {
  CvMode mode = CvMode::KFold;
  int folds = 10;
  // Rows sharing this column's value stay in one fold ("" = by network for rows that name networks,
  // otherwise every row on its own). "family" with LeaveOneGroupOut is leave-one-family-out.
  std::string group_column;
  FitOptions fit;
};

struct Evaluation {
  std::string feature_set;
  std::string method;
  std::string cv;  // e.g. "10-fold", "5-fold grouped by network", "leave-one-family-out", "split"
  size_t folds = 0;
  Metrics rows;                                  // every held-out row (layer or network)
  std::map<std::string, Metrics> by_group;       // per layer group, for per-layer and standalone rows
  std::optional<Metrics> networks;               // per-layer rows summed per network
  int complexity = 0;                            // of the model fitted on all training rows
  std::map<std::string, int> complexity_by_group;
  std::vector<double> predicted, lower, upper;   // held-out predictions, aligned with the samples (NaN if never held out)
};

Evaluation evaluate(const Dataset& data, const Design& design, const EvalOptions& options);

// The cross-validation plan evaluate() follows: per fold the training and held-out samples, the rows the
// final model (complexity) is fitted on, and a description such as "10-fold grouped by network".
struct Folds {
  std::vector<std::vector<size_t>> train, test;
  std::vector<size_t> final_train;
  std::string cv;
};
Folds make_folds(const Dataset& data, const EvalOptions& options);

nlohmann::json evaluation_to_json(const Evaluation& e);

}  // namespace convergy::model

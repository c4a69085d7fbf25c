// Honest evaluation of feature sets: k-fold (grouped) cross-validation, leave-one-group-out, the `split`
// column and transfer splits (train on one subset or file, test on another), with accuracy, RMSPE, MAPE, median APE, share within +-10%, R^2, complexity and the
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
  // Intervals with a bound that is not finite ((-inf, x], [x, inf)): they are in `coverage` (a measured value
  // is inside or not), but say nothing on that side, so they are counted to be shown beside it.
  size_t unbounded = 0;
  // Sharpness beside coverage: the median of upper / lower over the intervals with finite bounds and a
  // positive lower one (1.5: the upper bound is 1.5 times the lower); missing when there is none.
  std::optional<double> median_width;
};
// `lower`/`upper` may be empty (no intervals).
Metrics compute_metrics(const std::vector<double>& measured, const std::vector<double>& predicted,
                        const std::vector<double>& lower = {}, const std::vector<double>& upper = {});

// A row filter of a transfer split: COLUMN=VALUE or COLUMN!=VALUE. COLUMN is a CSV column or one of
// derived_columns(), a property of the row's network.
struct RowFilter {
  std::string column, value;
  bool equal = true;
  std::string text;  // as given, for messages and reports
};
// Parses "COLUMN=VALUE" / "COLUMN!=VALUE"; `option` names the flag in the message (BadInput).
RowFilter parse_row_filter(const std::string& text, const std::string& option);

// Columns computed from the network a row names (after graph passes), usable wherever a column is named:
// net.grouped (1 if a convolution has groups > 1, depthwise included, else 0), net.depthwise (1 if a
// convolution is depthwise), net.residual (1 if an Eltwise layer combines tensors: residual adds, and the
// products of squeeze-excitation), net.structure (grouped if net.grouped, else residual if net.residual, else
// plain).
const std::vector<std::string>& derived_columns();

// "a, b, c" of a file's header, followed by derived_columns() when its rows name networks: what a message
// about an unknown column lists.
std::string column_list(const std::vector<std::string>& header, bool with_derived);

// The value of `column` in every sample: its CSV field or a derived column. Throws BadInput naming the file
// and the columns there are when the column is unknown, or when a derived column meets rows without networks.
std::vector<std::string> column_values(const Dataset& data, const std::string& column);

// Keeps the samples matching every filter (CSV or derived columns), for `--where` on a derived column
// (`fit --where net.structure=plain`). The digest records the filters, so a model fitted on a subset names
// another training set than one fitted on the whole file. Throws BadInput `file: no row has FILTER` when no
// sample is left.
void keep_rows(Dataset& data, const std::vector<RowFilter>& filters);

// Given: one fold whose training and held-out samples the caller lists (EvalOptions::given_train/given_test).
enum class CvMode : uint8_t { KFold, LeaveOneGroupOut, Split, Subsets, Given };

struct EvalOptions {
  CvMode mode = CvMode::KFold;
  int folds = 10;
  // Rows sharing this column's value stay in one fold ("" = by network for rows that name networks,
  // otherwise every row on its own). "family" with LeaveOneGroupOut is leave-one-family-out.
  // The column may be a derived one (derived_columns()).
  std::string group_column;
  // Subsets: the test rows are those matching every test filter (and from the merged test file, when there
  // is one: Sample::file 1); the training rows are the others that match every train filter. Either list
  // may be empty: then the other side is "everything else".
  std::vector<RowFilter> train_where, test_where;
  // Fill Evaluation::splits with each fold's own figures (leave-one-group-out directions, transfer splits).
  bool per_split = false;
  // Given: the one fold's samples, and what to call it.
  std::vector<size_t> given_train, given_test;
  std::string given_name;
  // Multiplies every prediction and bound of a test-file sample (Sample::file 1): the machine's drift between
  // the two files' campaigns as the operator probe measured it (probe_anchor), so that a campaign measured
  // while the machine ran slower or faster is predicted at that speed. 1: as fitted.
  double test_scale = 1.0;
  FitOptions fit;
};

// The operator probe as the anchor between the two files of a merged data set (merge_test_data): the totals
// of its rows in each file, over the probe networks (Sample::group, "probe" or "probe@...") measured in both.
// The ratio test / train is how much slower (above 1) the machine ran the same work in the test file's
// campaign. Absent when no probe network was measured in both files, or a total is not positive.
struct ProbeAnchor {
  double train_total = 0, test_total = 0;
  size_t networks = 0;  // probe networks measured in both files
  double ratio() const { return test_total / train_total; }
};
std::optional<ProbeAnchor> probe_anchor(const Dataset& data);

// One fold's own figures: which group or subset was held out, and how well its rows were predicted.
struct SplitResult {
  std::string held_out;              // the held-out group's value, "fold 3", or the test subset
  size_t train_rows = 0, test_rows = 0;
  Metrics rows;                      // held-out rows (layers or networks)
  std::optional<Metrics> networks;   // per-layer rows summed per network, coverage of the summed bounds
};

// A held-out network (or row, for standalone layers) with the bounds `convergy predict` would give it: for
// per-layer rows the network interval's bounds of the summed prediction (the sums of the layers' own
// bounds when the fold model has no network interval).
struct HeldOutItem {
  std::string label;
  size_t split = 0;  // index into the folds
  double measured = 0, predicted = 0;
  double lower = 0, upper = 0;  // NaN without intervals
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
  // Per-layer rows: each held-out network's interval as predict_network() gives it for the fold model (the
  // network interval inside the model's training domain, else the layer interval, widened), around the sum
  // of its held-out rows' predictions; NaN bounds when that sum is not positive. Keyed by network_key().
  std::map<std::string, std::pair<double, double>> network_bounds;
  std::vector<int> fold;                         // the fold that held each sample out (-1: never)
  std::vector<SplitResult> splits;               // with EvalOptions::per_split
};

// The key of a sample's network in Evaluation::network_bounds (its name and the file it came from).
std::string network_key(const Sample& s);

// Held-out items in data order: whole networks for per-layer and whole-network rows, else rows.
std::vector<HeldOutItem> held_out_items(const Dataset& data, const Evaluation& e);

Evaluation evaluate(const Dataset& data, const Design& design, const EvalOptions& options);

// The cross-validation plan evaluate() follows: per fold the training and held-out samples, the rows the
// final model (complexity) is fitted on, and a description such as "10-fold grouped by network".
struct Folds {
  std::vector<std::vector<size_t>> train, test;
  std::vector<std::string> names;  // per fold: the held-out group, "fold K", or the test subset
  std::vector<size_t> final_train;
  std::string cv;
};
Folds make_folds(const Dataset& data, const EvalOptions& options);

nlohmann::json evaluation_to_json(const Evaluation& e);

// How accuracy and intervals grow with the measurements a new device needs: for each size k, `draws` times,
// fit on k networks drawn at random (the operator probe's rows always train) and predict every other network
// of the data, as `convergy predict` would after `convergy fit` on those k. Units are networks for per-layer
// and whole-network rows, rows for standalone layers. Within a draw the sizes are nested (the k of a smaller
// size are the first of a larger one), so a curve compares sizes on the same networks.
struct LearningCurveOptions {
  std::vector<size_t> sizes;  // training units per point, each below the number of units
  int draws = 5;
  // Draw in turn from each value of this column (a CSV or derived column, e.g. net.structure): the k drawn
  // are spread over its values (in an order drawn at random) instead of taken at random from all. "" : none.
  std::string stratify;
  EvalOptions eval;  // fit options; mode, folds and filters are set per draw
};
struct LearningPoint {
  size_t train_units = 0;
  size_t test_units = 0;         // held out per draw: every unit not drawn
  std::vector<double> accuracy;  // per draw, of the held-out units (whole networks for per-layer rows)
  Metrics pooled;                // every draw's held-out units together (coverage and width pooled too)
  int complexity = 0;            // the most non-zero coefficients of any draw's model
  std::vector<std::vector<std::string>>
      drawn;  // per draw, the units trained on (network names or row labels)
  // The worst and best draw's accuracy; NaN for both without draws.
  std::pair<double, double> accuracy_range() const;
};
struct LearningCurve {
  std::string feature_set, method;
  std::string stratify;  // the column the draws were spread over, "" for none
  std::string unit;  // "network" or "row"
  size_t units = 0;  // in the data (the probe not counted)
  int draws = 0;
  std::vector<LearningPoint> points;
};
LearningCurve learning_curve(const Dataset& data, const Design& design, const LearningCurveOptions& options);
// The units a learning curve draws from: networks (rows, for standalone layers), the operator probe not
// counted. Sizes from 1 to one less than this are valid.
size_t learning_curve_units(const Dataset& data);
nlohmann::json learning_curve_to_json(const LearningCurve& c);

}  // namespace convergy::model

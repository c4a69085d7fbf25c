// A fitted predictive model: one linear sub-model per layer group, summed over a network's layers, with a
// calibrated relative prediction interval and the provenance of its training data. Fitting works on a
// design matrix built once per data set and feature set, so cross-validation folds reuse it.
#pragma once
#include "model/dataset.h"
#include "model/regression.h"
#include "model/terms.h"

#include <nlohmann/json.hpp>

#include <array>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace convergy::model {

constexpr int kModelFormatMajor = 1;
// 1.1: dropped_terms, domain, interval.calibration; 1.2: network_interval.
constexpr int kModelFormatMinor = 2;
// The fewest training networks a per-layer model calibrates a network interval on, whatever the coverage.
constexpr size_t kMinNetworkCalibration = 8;
// ... and at a coverage: at least kMinNetworkCalibration, and enough for the conformal ranks to lie inside
// the sample (19 networks at 90%, 39 at 95%). With fewer, [min, max] of the networks' ratios would be an
// interval of lower coverage than asked ((n - 1) / (n + 1): 82% with 10 networks), so the model keeps the
// per-layer one.
size_t min_calibration_networks(double coverage);

struct SubModel {
  Group group = Group::Conv;
  std::vector<Term> terms;
  std::vector<double> coef;  // one per term
  int nonzero() const;
};

// The fewest held-out ratios a log-normal interval is calibrated on (below min_calibration_networks()).
constexpr size_t kMinLogNormalCalibration = 4;

// An interval on the ratio measured / predicted: [predicted * lower_ratio, predicted * upper_ratio]. Split-
// conformal quantiles of cross-fitted ratios where there are enough of them for the coverage asked (19 at
// 90%); with fewer (from kMinLogNormalCalibration), a prediction interval of a normal distribution fitted to
// their logarithms (Student's t: the mean and spread of so few are themselves uncertain), which holds the
// level asked if the log ratios are about normal rather than whatever their distribution (docs/models.md,
// "Few networks").
struct IntervalCalibration {
  double coverage = 0.9;
  double lower_ratio = 1.0, upper_ratio = 1.0;
  size_t calibration_rows = 0;
  bool log_normal = false;  // the ratios' quantiles come from the log-normal fit, not the conformal ranks
  // How the calibration rows were predicted: "5-fold" (random folds), or "leave-one-COLUMN-out" when the
  // training data has a `family` column with two or more values (transfer between groups, not interpolation).
  std::string folds = "5-fold";
  // The interval [p * lower_ratio / w, p * upper_ratio * w] of a prediction p > 0 with widening w >= 1
  // (NetworkPrediction::interval_widening).
  std::pair<double, double> bounds(double p, double w) const { return {p * lower_ratio / w, p * upper_ratio * w}; }
};

// The interval of cross-fitted ratios measured / predicted at a two-sided coverage: conformal ranks where
// there are enough ratios for the coverage, else log-normal (Student's t) from kMinLogNormalCalibration
// finite ratios, else [min, max] with the coverage that has ((n - 1) / (n + 1)).
IntervalCalibration calibrate_ratios(std::vector<double> ratios, double coverage);

// A term the fit gave no weight because the training data cannot tell it apart from others.
struct DroppedTerm {
  std::string term;    // "fc.out_bytes"
  std::string reason;  // "constant (40) over the 12534 training rows: the intercept net.1 carries it"
};

// Where the model was fitted: the range of each checked feature per layer group, which groups were never seen,
// and the range of network-level totals. predict flags every network that leaves it.
struct FeatureRange {
  double min = 0, max = 0;
};
struct TrainingDomain {
  static const std::vector<std::string>& layer_features();    // macs, in_bytes, out_bytes, weight_bytes, kernel_h, stride_h
  static const std::vector<std::string>& network_features();  // layers, macs, bytes
  std::array<size_t, kGroupCount> layers_seen{};  // training layers per group (0: never seen)
  std::array<std::vector<FeatureRange>, kGroupCount> layer_range;  // per group, aligned with layer_features()
  std::vector<FeatureRange> network_range;                         // aligned with network_features()
  // The layer kinds of the training layers ("Convolution", "Deconvolution", "LRN", ...): a kind outside it is
  // outside the domain even where its class was seen (a transposed convolution priced at the rates of
  // convolutions). Empty in a model file written before kinds were recorded: then not checked.
  std::set<std::string> kinds;
  // `kinds` by LayerKind, what predict reads per layer (a set lookup per layer cost 8% of a prediction);
  // index_kinds() fills it.
  std::array<bool, kLayerKindCount> kind_seen{};
  void index_kinds();
};

struct Provenance {
  std::string device, backend, sensor;
  std::string data_path, data_digest, data_kind;
  size_t training_rows = 0;
  std::string convergy_version;
};

struct Model {
  std::string feature_set;  // the name or spec the user gave
  Method method = Method::Wls;
  std::string target, unit;
  bool depthwise_group = false;
  std::vector<SubModel> subs;  // only groups that had terms and data
  std::optional<IntervalCalibration> interval;
  // Per-layer training data only: the interval of a whole network's total, calibrated on held-out networks'
  // sums (their layers' errors partly cancel, so it is narrower than `interval`, which is per layer).
  // predict_network() uses it when present; absent with fewer than kMinLogNormalCalibration networks.
  std::optional<IntervalCalibration> network_interval;
  Provenance provenance;
  std::vector<DroppedTerm> dropped;      // what fit reports as dropped, constant or collinear
  std::optional<TrainingDomain> domain;  // absent in model files of format 1.0

  int complexity() const;  // non-zero coefficients, intercepts included
  const SubModel* sub(Group g) const;
  // "<feature_set>/<method>@<data digest>": what every prediction records as its source.
  std::string id() const;
};

// Terms compiled for speed: each distinct factor base of a group is read once per layer.
class CompiledTerms {
 public:
  explicit CompiledTerms(const std::vector<Term>& terms);
  size_t size() const { return terms_.size(); }
  // Adds the value of every term for `layer` to out[0..size()).
  void accumulate(const LayerFeatures& layer, const ExtraValues* extra, double* out) const;

 private:
  std::vector<Factor> bases_;  // distinct factors (power 1), each evaluated once per layer
  // Per base, the names of its feature expression resolved once (FeatureRef): no string is compared per layer.
  std::vector<std::vector<FeatureRef>> refs_;
  std::vector<std::vector<std::pair<int, int>>> terms_;  // (base index, power) per factor
  mutable std::vector<double> values_;
};

struct Design {
  MatrixXd x;                                // samples x columns
  std::vector<std::pair<Group, int>> cols;   // column -> (group, term index)
  FeatureSet features;                       // with neuralpower terms generated
};

// Generates data-dependent terms (neuralpower: standardised hyper-parameters and their log2, expanded to
// the set's degree) from the layers of `data`, then evaluates every term for every sample.
Design build_design(const Dataset& data, FeatureSet features);

struct FitOptions {
  double coverage = 0.9;
  int calibration_folds = 5;
  int lasso_folds = 5;
  int max_terms = 0;  // > 0: Lasso keeps at most this many terms
  uint64_t seed = 1;
  bool calibrate = true;
  // Calibrate the interval by leaving out one value of this column at a time, when the training rows hold
  // two or more values of it (e.g. network families): the interval then covers transfer between groups.
  std::string calibration_group = "family";
};

// Fits on the samples listed in `rows`.
Model fit_model(const Dataset& data, const Design& design, const std::vector<size_t>& rows, const FitOptions& options);

// The training domain of `rows` (model.h, TrainingDomain); `dw`: depthwise convolutions are their own group.
TrainingDomain training_domain(const Dataset& data, const std::vector<size_t>& rows, bool dw);

// The prediction for one design row / sample.
double predict_design_row(const Model& model, const Design& design, size_t row);

struct LayerPrediction {
  std::string name;
  std::string group;                 // "conv", "fc", ..., or "none" (no cost)
  // The layer's group terms plus its share of the per-layer "net" terms (net=macs counts each layer's MACs);
  // null when neither applies to the layer's group.
  std::optional<double> predicted;
};
struct NetworkPrediction {
  double predicted = 0.0;
  std::optional<double> lower, upper;
  double network_terms = 0.0;  // the per-network constants of "net" (net=1), not attributable to a layer
  std::vector<LayerPrediction> layers;
  std::vector<std::string> unmodelled_groups;  // groups present in the network that the model cannot predict
  // Where the network leaves the training domain, one line each ("fc out_bytes 4000 is 100x the training
  // maximum (40)"), and the factor by which the interval, or under "networks+layers" its part outside the
  // domain, was widened for it (1 when inside; network_bounds()).
  std::vector<std::string> extrapolation;
  double interval_widening = 1.0;
  // The part of `predicted` carried by layers outside the training domain (0 inside it), the mean over them
  // of 1 + the decades each lies outside, and the most decades a network total lies outside: what
  // network_bounds() widens by.
  double outside_predicted = 0.0;
  double outside_decades = 1.0;
  double network_decades = 0.0;
  // What the interval was calibrated on: "networks" (held-out networks' totals: a whole-network model's
  // interval, or a per-layer model's network interval inside its training domain), "layers" (held-out layers:
  // a per-layer model without a network interval, a network wholly outside the domain, a standalone-layer
  // model), "networks+layers" (the part inside the domain on networks, the part outside on layers), ""
  // without an interval. An interval from layers is far wider: a network's layers err partly independently.
  std::string interval_basis;
  // Whether `extrapolation` says anything: false for a model without a training domain (a format 1.0 file)
  // that found nothing, where no line means "not checked", not "inside the domain". Front ends print it as
  // null / None then. A prediction that is not positive is listed, and checked, with or without a domain.
  bool extrapolation_checked = false;
  // False when the caller asked for totals only (Predictor::keep_layers(false)): `layers` is then empty
  // because it was not kept, not because the network has no layers.
  bool layers_kept = true;
};
// Compiles the model's terms once per thread and keeps them for the next call with the same terms and
// coefficients (a model changed in between, or another model, is compiled again).
NetworkPrediction predict_network(const Model& model, const NetworkFeatures& net, const ExtraValues* extra = nullptr);
// The same, for features the caller no longer needs: the layer names are moved into the prediction.
NetworkPrediction predict_network(const Model& model, NetworkFeatures&& net, const ExtraValues* extra = nullptr);

// A model ready to predict many networks: its terms compiled once. The same results as predict_network.
// Keeps scratch buffers, so one Predictor per thread; `model` must outlive it.
class Predictor {
 public:
  explicit Predictor(const Model& model);
  NetworkPrediction predict(const NetworkFeatures& net, const ExtraValues* extra = nullptr);
  // The same, moving the layer names out of `net`.
  NetworkPrediction predict(NetworkFeatures&& net, const ExtraValues* extra = nullptr);
  // Whether predictions keep their per-layer breakdown (default: yes). A search that scores thousands of
  // networks and reads only the totals saves most of each result's memory (about 80 bytes per layer).
  void keep_layers(bool keep) { keep_layers_ = keep; }

 private:
  friend struct PredictorCache;
  NetworkPrediction predict(const NetworkFeatures& net, NetworkFeatures* movable, const ExtraValues* extra);

  const Model* model_;
  std::array<std::optional<CompiledTerms>, kGroupCount> compiled_;
  bool per_layer_net_ = false;  // "net" terms other than 1: they cost every layer, whatever its group
  bool keep_layers_ = true;
  std::vector<double> buf_;
};

// The interval of a network's total `total` predicted by `model`, for the network of which `np` is the
// prediction (its share outside the training domain), and what it was calibrated on: "networks", "layers" or
// "networks+layers" (NetworkPrediction::interval_basis). Inside the domain: the network interval where the
// model has one (per-layer models fitted on at least min_calibration_networks() networks), else its interval.
// Outside it, for a model with a network interval, the part of the total carried by layers inside the domain
// keeps the network interval and the part outside takes the per-layer one widened by 1 + the mean (1 +
// decades) of its layers; the sum is widened by 1 + D (docs/models.md, "Prediction intervals"). Other models
// widen their one interval by (1 + U)(1 + D). `widening` receives the factor applied to the widened part.
// Null without an interval or for a total <= 0.
struct NetworkBounds {
  double lower = 0, upper = 0;
  std::string basis;
  double widening = 1.0;
};
std::optional<NetworkBounds> network_bounds(const Model& model, double total, const NetworkPrediction& np);

// Predicts networks 0..count-1, whose features `features_of(i)` computes (import, passes, features), on
// `threads` threads (0: one per core), each taking the next unclaimed batch of the list; the results are
// in index order. When networks fail, the failure of the lowest index is rethrown, so the error is the one
// a loop over the list would have stopped at. `features_of` is called from several threads at once.
// `keep_layers` false: totals, intervals and findings only (Predictor::keep_layers).
std::vector<NetworkPrediction> predict_networks(const Model& model, size_t count,
                                                const std::function<NetworkFeatures(size_t)>& features_of,
                                                int threads = 0, bool keep_layers = true);

nlohmann::json model_to_json(const Model& model);
// `where` names the file in messages; refuses unknown major format versions.
Model model_from_json(const nlohmann::json& j, const std::string& where);
void save_model(const Model& model, const std::string& path);
Model load_model(const std::string& path);

std::string target_unit(const std::string& target);  // "mJ", "ms"

}  // namespace convergy::model

// The results of a `convergy study` run as plain data: what the report module reads, with its JSON form.
// The study fills this in; the report module turns it into tables, plots and HTML without knowing models.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace convergy::report {

// Major version of the JSON form; reading refuses any other.
inline constexpr int kStudyResultsFormatVersion = 1;

struct MachineInfo {
  std::string hostname;
  std::string cpu;  // model name, e.g. "Intel(R) Xeon(R) CPU @ 2.20GHz"
  int cores = 0;
  std::string os;
  std::string compiler;
  std::string build_type;
};

struct StudyInfo {
  std::string convergy_version;
  std::string created_utc;  // ISO 8601, e.g. "2026-11-26T12:00:00Z"
  bool quick = false;       // --quick: fewer networks and repetitions; the report labels it
  MachineInfo machine;
  std::vector<std::string> backends;  // local backends measured, e.g. {"openblas", "eigen"}
  int threads = 0;
  std::string sensor;                 // power sensor used, or "none"
  std::string target;                 // "time_ms" or "energy_mj" for the local combinations
  std::string target_reason;          // e.g. "no power sensor on this machine: the target is time"
  std::optional<double> wall_time_s;  // the study's own wall time; missing when not measured
  // Measurement rows this run took, and rows it found in the database and reused (a rerun on the same
  // database measures nothing). Missing where unknown (results not written by a study run).
  std::optional<int64_t> measured_rows;
  std::optional<int64_t> reused_rows;
  // The model the summary quotes: a compact feature set under an evaluation of held-out networks.
  std::string headline_feature_set = "macs+mem";
  std::string headline_evaluation = "lono";
  // Remarks shown in a banner at the top of the page, e.g. "measurements reused from convergy.db".
  std::vector<std::string> notes;
};

// One hardware-software combination: a local backend, or a board from the shared data.
struct Combination {
  std::string id;           // stable key used by every row below, e.g. "local-openblas", "tx2-gpu"
  std::string label;        // short display name, e.g. "This machine · OpenBLAS"
  std::string hardware;     // e.g. "Jetson TX2 (GPU rail)"
  std::string software;     // e.g. "PyTorch eager, FP32"
  std::string origin;       // "measured by this study" or "shared data: tx2-conv-layers.csv"
  std::string target;       // "time_ms" or "energy_mj"
  std::string granularity;  // what was measured: "per layer", "standalone layers", "whole networks"
};

// One row of the paper's table: a feature set's sub-model for one layer type, evaluated on held-out data.
struct LayerTypeResult {
  std::string combination;
  std::string evaluation;          // "lono" (leave-one-network-out) or "split" (fixed ~2/3 train split)
  std::string feature_set;         // "macs", "macs+1", "macs+mem", "neuralpower", "counters"
  std::string layer_type;  // "conv", "fc", "pool", "other", "dwconv"; "net": the terms shared by every
                           // layer and per-network constants (complexity only, no held-out layers)
  std::optional<double> accuracy;  // fraction: 1 - mean(|predicted - measured| / measured)
  std::optional<double> rmspe;     // fraction: sqrt(mean(((predicted - measured) / measured)^2))
  std::optional<int> complexity;   // non-zero coefficients, intercept included
  int test_count = 0;              // held-out layers the figures are over
};

// One held-out prediction: a whole network, or a standalone layer where only layers were measured.
struct Prediction {
  std::string combination;
  std::string evaluation;
  std::string feature_set;
  std::string item;       // network name, or a layer description such as "conv 3x3 64->128 @56"
  std::string item_kind;  // "network" or "layer"
  double measured = 0;    // in the combination's target unit; must be > 0
  double predicted = 0;   // may be <= 0 for a poor model; the log plots leave such points out
};

// Share of one layer type in one network, measured and predicted (target unit).
struct LayerTypeShare {
  std::string layer_type;
  std::optional<double> measured;  // missing where only whole networks were measured
  std::optional<double> predicted;
};

// Whole-item metrics of one model over EVERY one of its held-out items. The study gives them where
// `predictions` keeps only an even sample of the items (thousands of standalone layers or networks): the
// tables and the summary quote these, the plots draw the sample. Without one, a model's metrics are
// computed from its rows in `predictions`.
struct HeldOutSummary {
  std::string combination;
  std::string evaluation;
  std::string feature_set;
  std::string item_kind;    // "network" or "layer"
  int items = 0;            // every held-out item (>= the model's rows in `predictions`)
  double accuracy = 0;      // 1 - mean(|p - m| / m) over all of them
  double rmspe = 0;         // sqrt(mean(((p - m) / m)^2))
  double within_10pct = 0;  // share with |p - m| / m <= 0.1
};

// The summary of a list of (measured, predicted) pairs; measured values must be > 0.
HeldOutSummary summarise_held_out(const std::vector<std::pair<double, double>>& measured_predicted);

struct Breakdown {
  std::string combination;
  std::string network;
  std::string feature_set;
  std::vector<LayerTypeShare> parts;
};

// One transfer evaluation: models fitted on one kind of network predict another kind (a held-out family,
// the synthetic board networks -> real ones, plain networks -> grouped or residual ones), reported next to
// the same model under the combination's ordinary cross-validation.
struct TransferResult {
  std::string combination;
  std::string transfer;     // e.g. "leave-one-family-out", "synthetic -> real", "plain -> grouped"
  std::string trained_on;   // e.g. "family!=dws", "net.structure=plain"
  std::string held_out;     // e.g. "family=dws", "data/jetson-nano-real/networks.csv"
  std::string feature_set;
  int train_items = 0, test_items = 0;  // networks (or rows) fitted on and predicted
  double accuracy = 0;      // 1 - MAPE over the held-out items; below 0 when MAPE > 100%
  double within_10pct = 0;
  std::optional<double> interval_coverage;  // share of held-out items inside their interval; missing if none
  std::optional<double> interval_level;     // the interval's nominal coverage, e.g. 0.9
  std::string reference_evaluation;         // e.g. "5-fold", "lono": the ordinary cross-validation
  std::optional<double> reference_accuracy; // the same feature set's accuracy under it
  // Held-out items whose interval has an infinite bound (counted in the coverage; vacuous on that side), and
  // the median upper / lower bound over the finite ones: how sharp the covering intervals are.
  std::optional<int> interval_unbounded;
  std::optional<double> interval_median_width;
  // The machine's drift between the training measurements and the held-out ones, where those were measured in
  // a campaign of their own: the operator probe's total there over its total in the training campaign, minus
  // 1 (+0.05: the machine ran the same network 5% slower). Missing where one campaign held both, or no probe
  // was measured in both.
  std::optional<double> anchor_drift;
  // The same held-out items with every prediction and bound multiplied by 1 + anchor_drift: the transfer's
  // figures once the machine's own change of speed between the campaigns is taken out. Missing with no
  // anchor_drift.
  std::optional<double> drift_corrected_accuracy;
  std::optional<double> drift_corrected_coverage;
};

// One point of a learning curve: a model fitted on `train_items` networks (rows, for standalone layers) drawn
// at random `draws` times, with the operator probe where one was measured, predicting all the others: what a
// model for a new device gets from measuring that many networks.
struct LearningResult {
  std::string combination;
  std::string feature_set;
  std::string unit;  // "network" or "row"
  int train_items = 0, test_items = 0, draws = 0;
  double accuracy = 0;                        // pooled over the draws' held-out items
  double accuracy_min = 0, accuracy_max = 0;  // of the draws
  double within_10pct = 0;
  std::optional<double> interval_coverage;  // missing where a draw's model had no interval
  std::optional<double> interval_level;
  std::optional<double> interval_median_width;
  // Held-out items (over all draws) whose interval has an infinite bound: inside on that side whatever was
  // measured, so counted to be shown beside the coverage.
  std::optional<int> interval_unbounded;
};

struct StudyResults {
  StudyInfo info;
  std::vector<Combination> combinations;
  std::vector<LayerTypeResult> layer_types;
  std::vector<Prediction> predictions;
  std::vector<HeldOutSummary> held_out;  // only for models whose `predictions` are a sample
  std::vector<Breakdown> breakdowns;
  std::vector<TransferResult> transfer;
  std::vector<LearningResult> learning;

  const Combination* find_combination(const std::string& id) const;
};

// Throws BadInput naming the first inconsistency: a row naming an unknown combination, a measured value
// that is not positive and finite, an unknown target, an accuracy outside [0, 1]... `where` prefixes
// the message (a file name, or "study results").
void validate(const StudyResults& results, const std::string& where);

nlohmann::json to_json(const StudyResults& results);
// Reads the JSON form; throws BadInput `where: <json path>: expected ..., got ...`.
StudyResults study_results_from_json(const nlohmann::json& json, const std::string& where);
StudyResults read_study_results(const std::string& path);

// "ms" for time_ms, "mJ" for energy_mj; "" for anything else.
std::string target_unit(const std::string& target);
// "time" / "energy" (or the target itself when unknown).
std::string target_quantity(const std::string& target);
// "leave-one-network-out" for "lono", "fixed split" for "split", else the id itself.
std::string evaluation_label(const std::string& evaluation);

}  // namespace convergy::report

// Forward stepwise selection of a compact feature set: starting from no terms, repeatedly add the candidate
// term that most improves the cross-validated accuracy, up to a number of terms. This is how the compact
// sets of docs/models.md are found (`convergy evaluate --select-terms N`).
#pragma once
#include "model/evaluate.h"

#include <string>
#include <vector>

namespace convergy::model {

struct SelectOptions {
  int max_terms = 10;
  // The cross-validation that judges candidates (folds, grouping, seed). Intervals are not calibrated.
  EvalOptions eval;
  // Every candidate is first screened by a fast fit (least squares with the relative weights 1/y^2, on log y
  // for loglinear); the `shortlist` best are then judged by cross-validating the set's own method. 0 judges
  // every candidate with the set's method (exact, slow for iterative methods such as lad).
  int shortlist = 8;
  double min_gain = 1e-4;  // stop when the best addition raises accuracy by less than this
  // After the forward pass, up to this many exchange passes: each selected term in turn is replaced by the
  // candidate that raises accuracy most, if one does (greedy addition alone can keep an early term that
  // later ones make redundant).
  int exchange_passes = 2;
};

struct SelectStep {
  std::string term;        // "group=term"
  std::string replaced;    // for an exchange, the term it replaced ("" for an addition)
  double accuracy = 0;     // cross-validated, with every term so far
  double within_10 = 0;
  size_t judged = 0;       // candidates cross-validated with the set's method at this step
};

struct Selection {
  std::vector<SelectStep> steps;
  size_t candidates = 0;   // size of the pool
  std::string spec;        // the selected terms as a feature-set spec, with the method ("conv=...;method=lad")
  std::string cv;          // how candidates were judged, e.g. "10-fold"
};

// `pool` holds the candidate terms per group and the method the selected set uses.
Selection select_terms(const Dataset& data, const FeatureSet& pool, const SelectOptions& options);

// Nested cross-validation of the selection itself: for each fold of `options.eval`, terms are selected on
// the fold's training rows only (inner folds of the same kind, seed options.eval.fit.seed), the selected set
// is fitted on those rows and predicts the held-out rows. Its accuracy is an honest estimate for a set found
// by select_terms, whose own cross-validated accuracy is optimistic (the search saw every row).
struct NestedSelection {
  Metrics rows;                    // held-out rows, each predicted by a set selected and fitted without it
  std::vector<std::string> specs;  // the set selected in each fold
  std::string cv;
};
NestedSelection select_terms_nested(const Dataset& data, const FeatureSet& pool, const SelectOptions& options,
                                    uint64_t outer_seed);

// A candidate pool built from the data, for the groups its layers fall in: base terms (work, tensor sizes,
// channel counts, spatial sizes, the im2col buffer, sizes times log2 of a size, log2 of sizes) alone and times an
// indicator of each value of the categorical hyper-parameters (kernel_h, stride_h, pad_h, groups) that take
// 2 to `max_levels` values in the data. For loglinear, the bases are log2 of the positive features, and the
// indicators enter alone. Whole-network data also gets the per-network constant `net=1`.
FeatureSet candidate_pool(const Dataset& data, Method method, bool depthwise_group = false, int max_levels = 12);

// A feature set as a spec string that parse_feature_set reads back ("conv=macs,1;fc=macs,1;method=wls").
std::string feature_set_spec(const FeatureSet& fs);

}  // namespace convergy::model

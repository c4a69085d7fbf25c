// `convergy study`: the paper's analysis end to end. Profile the zoo layer by layer on each local backend,
// fit layer-type models with several feature sets, predict held-out networks, do the same on the real
// Jetson measurements in the shared data, and write tables, JSON and the HTML report.
#pragma once
#include "report/study_results.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace convergy::study {

struct StudyOptions {
  std::vector<std::string> backends = {"openblas", "eigen", "onednn"};
  int threads = 1;
  std::string db = "convergy.db";
  std::string out = "report";
  bool quick = false;
  std::string shared_data;  // folder of the shared measurements; "" = look in the usual places
  std::string sensor = "auto";
  std::vector<std::string> networks;  // override the zoo selection (tests)
  int reps = 0;                       // 0 = the default for the mode (quick 3, full 5)
  // Measure the operator probe (zoo/probe.h) with the networks on every backend: its rows train every model
  // and are never held out or counted among the networks.
  bool probe = true;
  int64_t memory_budget_mb = 0;  // networks kept ready between rounds (CampaignOptions); 0 = half of free
  int neuralpower_degree = 2;  // polynomial degree of the neuralpower set on per-layer data
  // neuralpower is opt-in (--features macs,macs+1,macs+mem,neuralpower): its cross-validated Lasso over
  // hundreds of polynomial terms takes many minutes per combination on 2 cores.
  // "transfer", the default of `convergy fit`, is the headline: the report's summary quotes it. "compact"
  // (per-type terms fitted for whole networks) is kept beside it; it cross-validates as well on the zoo but
  // does not transfer to networks of other kinds (docs/report.md says why).
  std::vector<std::string> feature_sets = {"macs", "macs+1", "macs+mem", "compact", "transfer"};
  // Transfer across input sizes: every third network (in study order, from the first) is measured again with
  // its input's height and width times each of these, and predicted by models fitted on every network at its
  // own size. Empty: not measured. 5/7 and 9/7 take a 224x224 network to 160x160 and 288x288.
  std::vector<double> input_scales = {5.0 / 7.0, 9.0 / 7.0};
  // ... of the networks of at most this many MACs at their own size: measuring time grows with the square of
  // the scale, and VGG-16 at 288x288 alone (25.6 G MACs) would take a third of the study's.
  double input_scales_max_macs = 4e9;
  // Transfer across class counts: every third network (from the second, so not those of the input-size
  // transfer) is measured again with its classifier giving each of these many classes (NAME@classes=N): a
  // network fine-tuned for 10 classes, or trained on ImageNet-21k's 21,841. Empty: not measured.
  std::vector<int64_t> class_counts = {10, 21841};
  double class_counts_max_macs = 4e9;  // ... of the networks of at most this many MACs with each count
  // Transfer to other architectures: networks of layer kinds and structures the zoo lacks (ConvNeXt's
  // LayerNorm and GELU, RegNet's and ResNeXt's many groups), measured in a campaign of their own and
  // predicted by models fitted on the study's networks. Unset: the ONNX files of data/architectures (with
  // --quick, only RegNetX-400MF); empty: not measured.
  std::optional<std::vector<std::string>> architectures;
};

// The default networks of the transfer to other architectures: data/architectures/*.onnx (found in the
// working folder or above the executable), sorted; with `quick` only regnet_x_400mf.onnx. Empty when the
// folder is not found or the build has no ONNX importer.
std::vector<std::string> default_architectures(bool quick);

// The networks of the input-size transfer: every third of `nets` from the first, at each scale of its first
// input's height and width, as NAME@1x3xHxW. A network of more than `max_macs` MACs at its own size, or one
// that cannot take a size (a fixed 7x7 pooling of a feature map that became smaller), is left out, and
// `notes` says why.
std::vector<std::string> scaled_networks(const std::vector<std::string>& nets,
                                         const std::vector<double>& scales, double max_macs,
                                         std::vector<std::string>* notes);

// The networks of the class-count transfer: every third of `nets` from the second, with each count of classes
// other than its own, as NAME@classes=N. A network with no classifier, or of more than `max_macs` MACs with a
// count, is left out, and `notes` says why.
std::vector<std::string> classed_networks(const std::vector<std::string>& nets,
                                          const std::vector<int64_t>& counts, double max_macs,
                                          std::vector<std::string>* notes);

// Where the shared data is: `explicit_dir`, $CONVERGY_SHARED_DATA, then ../shared/data relative to the
// working folder and to the executable's source tree. "" when not found.
std::string find_shared_data(const std::string& explicit_dir);

// The zoo networks a study measures (a subset with --quick).
std::vector<std::string> study_networks(bool quick);

// Runs the study; returns the results it wrote. Throws BadInput for bad options.
report::StudyResults run_study(const StudyOptions& options);

}  // namespace convergy::study

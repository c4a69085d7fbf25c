// The study pipeline (see study.h): campaigns -> per-layer data sets -> held-out evaluation of each feature
// set -> StudyResults -> report. It composes the same library calls as `convergy profile`, `export` and
// `evaluate`, so a user can reproduce every number with those commands.
#include "study/study.h"

#include "convergy/version.h"
#include "features/features.h"
#include "graph/classifier.h"
#include "graph/passes.h"
#include "import/load.h"
#include "measure/profiler.h"
#include "model/csv.h"
#include "model/dataset.h"
#include "model/evaluate.h"
#include "report/outputs.h"
#include "store/store.h"
#include "study/campaign.h"
#include "util/clock.h"
#include "util/error.h"
#include "zoo/probe.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace convergy::study {
namespace fs = std::filesystem;

namespace {

// Points per feature set that the plots draw (and predictions.csv lists) where a board has thousands of
// held-out items; the accuracy figures are over all of them.
constexpr size_t kPlottedPoints = 500;

std::string read_first_line_with(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      auto pos = line.find(key.back() == '=' ? '=' : ':');
      std::string v = line.substr(pos + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '"')) v.erase(v.begin());
      while (!v.empty() && (v.back() == '"' || v.back() == ' ')) v.pop_back();
      return v;
    }
  return {};
}

report::MachineInfo machine_info() {
  report::MachineInfo m;
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) == 0) m.hostname = host;
  m.cpu = read_first_line_with("/proc/cpuinfo", "model name");
  m.cores = static_cast<int>(std::thread::hardware_concurrency());
  m.os = read_first_line_with("/etc/os-release", "PRETTY_NAME=");
#ifdef __VERSION__
  m.compiler = __VERSION__;
#endif
#ifdef NDEBUG
  m.build_type = "optimised (NDEBUG)";
#else
  m.build_type = "debug assertions on";
#endif
  return m;
}

// Networks resolved once per study, shared by every data set that names them.
class Resolver {
 public:
  std::shared_ptr<const NetworkFeatures> operator()(const std::string& ref) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(ref);
    if (it != cache_.end()) return it->second;
    PassResult p = run_passes(load_network(ref));
    auto nf = std::make_shared<const NetworkFeatures>(network_features(p.graph));
    cache_.emplace(ref, nf);
    return nf;
  }
  model::NetworkResolver function() {
    return [this](const std::string& ref) { return (*this)(ref); };
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const NetworkFeatures>> cache_;
};

std::string group_of_sample(const model::Dataset& data, size_t i, bool depthwise_group) {
  const auto& s = data.samples[i];
  if (s.layers.size() != 1) return "net";
  auto g = model::layer_group(*s.layers.front(), depthwise_group);
  return g ? std::string(model::group_name(*g)) : "none";
}

// Adds the layer-type rows and held-out predictions of one evaluation.
void add_evaluation(report::StudyResults& r, const std::string& comb, const std::string& eval_id,
                    const std::string& fs_name, const model::Dataset& data, const model::Evaluation& e,
                    bool networks_from_layers, bool layer_predictions, size_t max_points) {
  // One row per layer group with held-out layers or terms of its own. "net" holds the terms shared by every
  // layer (the transfer set) and the per-network constants: it has no held-out layers of its own, but its
  // terms count towards the model's complexity. Whole-network data has no per-layer metrics at all; its rows
  // carry the complexity alone.
  std::set<std::string> groups;
  for (const auto& [g, m] : e.by_group) groups.insert(g);
  for (const auto& [g, c] : e.complexity_by_group) groups.insert(g);
  for (const auto& g : groups) {
    if (g == "none") continue;
    auto m = e.by_group.find(g);
    auto c = e.complexity_by_group.find(g);
    const bool has_layers = m != e.by_group.end() && m->second.n > 0 && g != "net";
    if (!has_layers && (c == e.complexity_by_group.end() || c->second == 0)) continue;
    report::LayerTypeResult t;
    t.combination = comb;
    t.evaluation = eval_id;
    t.feature_set = fs_name;
    t.layer_type = g;
    if (has_layers) {
      t.accuracy = m->second.accuracy;
      t.rmspe = m->second.rmspe;
      t.test_count = static_cast<int>(m->second.n);
    }
    if (c != e.complexity_by_group.end()) t.complexity = c->second;
    r.layer_types.push_back(t);
  }
  if (networks_from_layers) {
    // Whole-network prediction = sum of the per-layer predictions of the network's layers.
    std::map<std::string, std::pair<double, double>> sums;  // network -> (measured, predicted)
    std::map<std::string, bool> complete;
    for (size_t i = 0; i < data.samples.size(); ++i) {
      const auto& s = data.samples[i];
      auto& acc = sums[s.group];
      if (!complete.count(s.group)) complete[s.group] = true;
      if (i >= e.predicted.size() || !std::isfinite(e.predicted[i])) {
        complete[s.group] = false;
        continue;
      }
      acc.first += s.measured;
      acc.second += e.predicted[i];
    }
    for (const auto& [net, mp] : sums) {
      if (!complete[net] || mp.first <= 0) continue;
      r.predictions.push_back({comb, eval_id, fs_name, net, "network", mp.first, mp.second});
    }
    return;
  }
  // Standalone layers or whole networks: the metrics over every held-out row, and an even sample of the rows
  // as points for the plots and predictions.csv (thousands of rows per feature set would make results.json
  // tens of megabytes).
  std::vector<size_t> held;
  std::vector<std::pair<double, double>> all;
  for (size_t i = 0; i < data.samples.size() && i < e.predicted.size(); ++i)
    if (std::isfinite(e.predicted[i]) && data.samples[i].measured > 0) {
      held.push_back(i);
      all.emplace_back(data.samples[i].measured, e.predicted[i]);
    }
  const std::string kind = layer_predictions ? "layer" : "network";
  const bool sampled = max_points > 0 && held.size() > max_points;
  if (sampled) {
    report::HeldOutSummary h = report::summarise_held_out(all);
    h.combination = comb;
    h.evaluation = eval_id;
    h.feature_set = fs_name;
    h.item_kind = kind;
    r.held_out.push_back(h);
  }
  const size_t points = sampled ? max_points : held.size();
  for (size_t j = 0; j < points; ++j) {
    const size_t k = j * held.size() / points;  // evenly spread over the rows, the first included
    const auto& s = data.samples[held[k]];
    std::string item = s.label;
    if (layer_predictions && !s.layers.empty()) {
      const LayerFeatures& f = *s.layers.front();
      item = fmt::format("conv {}x{} {}->{} @{}", f.kernel_h, f.kernel_w, f.in_c, f.out_c, f.in_h);
    }
    r.predictions.push_back({comb, eval_id, fs_name, item, kind, s.measured, e.predicted[held[k]]});
  }
}

void add_breakdowns(report::StudyResults& r, const std::string& comb, const std::string& fs_name,
                    const model::Dataset& data, const model::Evaluation& e, bool depthwise_group) {
  std::map<std::string, std::map<std::string, std::pair<double, double>>> per;  // net -> group -> (m, p)
  for (size_t i = 0; i < data.samples.size() && i < e.predicted.size(); ++i) {
    if (!std::isfinite(e.predicted[i])) continue;
    auto& cell = per[data.samples[i].group][group_of_sample(data, i, depthwise_group)];
    cell.first += data.samples[i].measured;
    cell.second += e.predicted[i];
  }
  for (const auto& [net, groups] : per) {
    report::Breakdown b;
    b.combination = comb;
    b.network = net;
    b.feature_set = fs_name;
    for (const auto& [g, mp] : groups) b.parts.push_back({g, mp.first, mp.second});
    r.breakdowns.push_back(std::move(b));
  }
}

// The learning curve of one model (study.h, StudyOptions): for each of `sizes` below the data's networks
// (rows, for standalone layers), `draws` fits on that many drawn at random, each predicting all the others,
// as a model for a new device measured on that many networks would.
void add_learning_curve(report::StudyResults& r, const std::string& comb, const std::string& fs_name,
                        const model::Dataset& data, const model::Design& design,
                        const std::vector<size_t>& sizes, int draws) {
  const size_t units = model::learning_curve_units(data);
  model::LearningCurveOptions lo;
  for (size_t k : sizes)
    if (k < units) lo.sizes.push_back(k);
  if (lo.sizes.empty()) return;
  lo.draws = draws;
  const model::LearningCurve c = model::learning_curve(data, design, lo);
  for (const auto& p : c.points) {
    report::LearningResult l;
    l.combination = comb;
    l.feature_set = fs_name;
    l.unit = c.unit;
    l.train_items = static_cast<int>(p.train_units);
    l.test_items = static_cast<int>(p.test_units);
    l.draws = static_cast<int>(p.accuracy.size());
    l.accuracy = p.pooled.accuracy;
    std::tie(l.accuracy_min, l.accuracy_max) = p.accuracy_range();
    l.within_10pct = p.pooled.within_10;
    l.interval_coverage = p.pooled.coverage;
    if (p.pooled.coverage) l.interval_level = lo.eval.fit.coverage;
    l.interval_median_width = p.pooled.median_width;
    if (p.pooled.coverage) l.interval_unbounded = static_cast<int>(p.pooled.unbounded);
    r.learning.push_back(std::move(l));
  }
}

// One row of the transfer table from the held-out items' metrics `m`.
report::TransferResult transfer_row(const std::string& comb, const std::string& transfer,
                                    const std::string& trained_on, const std::string& held_out,
                                    const std::string& fs_name, int train_items, const model::Metrics& m,
                                    double level, const std::string& reference,
                                    std::optional<double> reference_accuracy) {
  report::TransferResult t;
  t.combination = comb;
  t.transfer = transfer;
  t.trained_on = trained_on;
  t.held_out = held_out;
  t.feature_set = fs_name;
  t.train_items = train_items;
  t.test_items = static_cast<int>(m.n);
  t.accuracy = m.accuracy;
  t.within_10pct = m.within_10;
  t.interval_coverage = m.coverage;
  if (m.coverage) {
    t.interval_level = level;
    t.interval_unbounded = static_cast<int>(m.unbounded);
  }
  t.interval_median_width = m.median_width;
  t.reference_evaluation = reference;
  t.reference_accuracy = reference_accuracy;
  return t;
}

// One row of the transfer table per split of `e` (built with EvalOptions::per_split): networks where the rows are
// layers, else rows; with the coverage the model's own intervals reach on the held-out items. `train_items` 0:
// the split's training rows.
void add_transfer(report::StudyResults& r, const std::string& comb, const std::string& transfer,
                  const std::string& fs_name, const model::Evaluation& e, double level, const std::string& reference,
                  std::optional<double> reference_accuracy, int train_items, const std::string& trained_on) {
  for (const auto& sr : e.splits) {
    const model::Metrics& m = sr.networks ? *sr.networks : sr.rows;
    if (m.n == 0) continue;
    r.transfer.push_back(transfer_row(comb, transfer, trained_on, sr.held_out, fs_name,
                                      train_items > 0 ? train_items : static_cast<int>(sr.train_rows), m,
                                      level, reference, reference_accuracy));
  }
}

// A path of the repository's data/ folder: in the working folder, else above the executable; "" if neither.
std::string find_repo_data(const fs::path& rel) {
  if (fs::exists(rel)) return rel.string();
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path p = exe.parent_path(); !ec && !p.empty() && p != p.root_path(); p = p.parent_path())
    if (fs::exists(p / rel)) return (p / rel).lexically_normal().string();
  return {};
}

// The real Jetson Nano networks (data/jetson-nano-real).
std::string find_real_nano() { return find_repo_data("data/jetson-nano-real/networks.csv"); }

struct Timer {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

// Keeps the header and every `step`-th data row of a CSV file (the quick study's subset of a large file).
model::CsvTable read_csv_subset(const std::string& path, size_t step) {
  if (step <= 1) return model::CsvTable::read_file(path);
  std::ifstream in(path);
  if (!in) throw_bad_input("cannot open {}", path);
  std::string line, text;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (n == 0 || (n - 1) % step == 0) text += line + "\n";
    ++n;
  }
  return model::CsvTable::parse(text, path);
}

// The per-layer rows (markers mode) of a campaign, as `convergy export` writes them, as a table of network,
// layer, target and the fixed split (`split`: network -> train/test; "train" when absent).
model::CsvTable campaign_layers(const std::string& db, int64_t campaign_id, const std::string& target,
                                const std::map<std::string, std::string>& split) {
  std::ostringstream csv_text;
  {
    Store store(db, /*read_only=*/true);
    store.export_csv(csv_text, campaign_id, /*raw=*/false);
  }
  const std::string where = fmt::format("{} (campaign {})", db, campaign_id);
  model::CsvTable exported = model::CsvTable::parse(csv_text.str(), where);
  const int c_net = exported.require_column("network"), c_layer = exported.require_column("layer");
  const int c_idx = exported.require_column("layer_index"), c_mode = exported.require_column("mode");
  const int c_target = exported.require_column(target);
  std::string text = "network,layer," + target + ",split\n";
  for (size_t row = 0; row < exported.rows(); ++row) {
    if (exported.text(row, c_mode) != "markers" || exported.text(row, c_idx) == "-1") continue;
    auto v = exported.optional_number(row, c_target);
    if (!v || *v <= 0) continue;
    const std::string& net = exported.text(row, c_net);
    auto it = split.find(net);
    text += fmt::format("{},{},{:.9g},{}\n", net, exported.text(row, c_layer), *v,
                        it == split.end() ? "train" : it->second);
  }
  return model::CsvTable::parse(text, where);
}

// The operator probe's total in a campaign's table (the sum of its layers' target), or nullopt without it.
// "a, b and c": the values in `format`, for the transfer rows ("0.71 and 1.29" for {5/7, 9/7} and "{:.2f}").
template <typename T>
std::string and_list(const std::vector<T>& values, fmt::format_string<const T&> format) {
  std::string t;
  for (size_t i = 0; i < values.size(); ++i)
    t += (i == 0 ? "" : i + 1 == values.size() ? " and " : ", ") + fmt::format(format, values[i]);
  return t;
}

// A network's MACs as executed (after the graph passes), for the transfers' cap.
double executed_macs(const Graph& g) {
  return static_cast<double>(network_features(run_passes(g, PassOptions::graph_only()).graph).macs);
}

}  // namespace

std::vector<std::string> scaled_networks(const std::vector<std::string>& nets,
                                         const std::vector<double>& scales, double max_macs,
                                         std::vector<std::string>* notes) {
  std::vector<std::string> out;
  if (scales.empty()) return out;
  for (size_t i = 0; i < nets.size(); i += 3) {
    const Graph g = load_network(nets[i]);
    const std::vector<BlobId> inputs = g.inputs();
    if (inputs.empty() || g.blob(inputs.front()).shape.rank() != 4) {
      if (notes)
        notes->push_back(nets[i] +
                         " left out: its first input is not NCHW, so it has no height and width to scale");
      continue;
    }
    const double macs = executed_macs(g);
    if (macs > max_macs) {
      if (notes)
        notes->push_back(
            fmt::format("{} left out: {:.3g} G MACs at its own size, above the {:.3g} G of this transfer",
                        nets[i], macs / 1e9, max_macs / 1e9));
      continue;
    }
    const Shape native = g.blob(inputs.front()).shape;
    for (double s : scales) {
      Shape shape = native;
      for (int d : {2, 3})
        shape.dims[static_cast<size_t>(d)] =
            std::max<int64_t>(1, std::llround(static_cast<double>(native.dims[static_cast<size_t>(d)]) * s));
      if (shape == native) continue;
      const std::string name = nets[i] + "@" + shape.str();
      try {
        (void)run_passes(load_network(name));
        out.push_back(name);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::BadInput) throw;
        if (notes) notes->push_back(fmt::format("{} left out: {}", name, e.what()));
      }
    }
  }
  return out;
}

std::vector<std::string> classed_networks(const std::vector<std::string>& nets,
                                          const std::vector<int64_t>& counts, double max_macs,
                                          std::vector<std::string>* notes) {
  std::vector<std::string> out;
  if (counts.empty()) return out;
  for (size_t i = 1; i < nets.size(); i += 3) {
    const Graph g = load_network(nets[i]);
    const std::vector<Classifier> found = find_classifiers(g);
    if (found.empty()) {
      if (notes) notes->push_back(nets[i] + " left out: no classifier feeds its output");
      continue;
    }
    for (int64_t n : counts) {
      if (std::all_of(found.begin(), found.end(), [&](const Classifier& c) { return c.classes == n; }))
        continue;
      // The loaded network retargeted, as load_network(name) would build it, without reading it again.
      const std::string name = fmt::format("{}@classes={}", nets[i], n);
      Graph classed = g;
      classed.set_source(name);
      const double macs = executed_macs(with_classes(std::move(classed), n));
      if (macs > max_macs) {
        if (notes)
          notes->push_back(fmt::format("{} left out: {:.3g} G MACs, above the {:.3g} G of this transfer",
                                       name, macs / 1e9, max_macs / 1e9));
        continue;
      }
      out.push_back(name);
    }
  }
  return out;
}

namespace {

// "convnext_tiny, regnet_x_400mf": the file names of the architectures, without folder and extension.
std::string architecture_names(const std::vector<std::string>& paths) {
  std::vector<std::string> names;
  for (const auto& p : paths) names.push_back(fs::path(p).stem().string());
  return fmt::format("{}", fmt::join(names, ", "));
}

// Networks the models were not fitted on (the study's networks at other input sizes or with other class
// counts, and architectures the zoo lacks), in a campaign of their own per backend, predicted by models
// fitted on every network as defined.
struct Variants {
  std::string what;     // "other input sizes": the campaign's progress prefix and the transfer's label
  std::string trained;  // how the transfer row describes the training networks
  std::string tests;    // ... and the tested ones, after their count: "at x0.71 and 1.29 their input side"
  std::vector<std::string> nets;
};

// `variants`: the networks of the input-size and class-count transfers, measured on every backend.
void local_combination(report::StudyResults& r, const StudyOptions& o, const std::string& backend,
                       const std::vector<std::string>& nets, const std::vector<Variants>& variants,
                       Resolver& resolver) {
  CampaignOptions co;
  co.nets = nets;
  if (o.probe && std::none_of(nets.begin(), nets.end(), [](const std::string& n) { return is_probe(n); }))
    co.nets.emplace_back(kProbeName);
  co.backend = backend;
  co.threads = o.threads;
  co.sensor = o.sensor;
  co.mode = "markers";
  co.reps = o.reps > 0 ? o.reps : (o.quick ? 3 : 5);
  // Adaptive repetitions (see CampaignOptions) in the full study only: --quick keeps its fixed, short budget.
  co.max_reps = o.quick ? co.reps : 9;
  co.warmup = 1;
  co.min_window_ms = o.quick ? 5 : 10;
  co.idle_s = o.quick ? 0.5 : 2;
  co.db = o.db;
  co.progress_prefix = "[" + backend + "] ";
  co.rounds = true;           // transient load from other processes hits one repetition, not a whole network
  co.memory_budget_bytes = o.memory_budget_mb * 1048576;
  co.reuse_finished = true;  // a rerun on the same database measures nothing and gives the same tables
  Timer t;
  CampaignResult cr = run_campaign(co);
  if (cr.stop_signal)
    throw_failure("the study was interrupted during the {} campaign; every measured row is saved in {}: run the "
                  "same command again to resume",
                  backend, o.db);
  r.info.measured_rows = r.info.measured_rows.value_or(0) + cr.written;
  r.info.reused_rows = r.info.reused_rows.value_or(0) + cr.already;
  const std::string target = cr.sensor.empty() ? "time_ms" : "energy_mj";
  if (r.info.target.empty()) {
    r.info.target = target;
    r.info.target_reason = cr.target_reason;
    r.info.sensor = cr.sensor.empty() ? "none" : cr.sensor + " (" + cr.rail + ")";
  }

  // Every third network (in study order) is held out by the fixed split: about two thirds train.
  std::map<std::string, std::string> split;
  for (size_t i = 0; i < nets.size(); ++i) split[nets[i]] = i % 3 == 2 ? "test" : "train";
  const model::CsvTable native = campaign_layers(o.db, cr.campaign_id, target, split);
  model::Dataset data = model::load_dataset(native, target, resolver.function());

  // Transfer across input sizes, class counts and architectures: networks in a campaign of their own, as the
  // test file of one more data set whose training rows are every network as defined.
  // Each also measures the operator probe, the anchor that says how much the machine drifted between the two
  // campaigns (minutes apart, in which a VM's neighbours come and go): its rows there give the transfer row's
  // anchor_drift and its drift-corrected figures (model::probe_anchor); a test file's probe rows neither
  // train nor count.
  std::vector<std::optional<model::Dataset>> variant_data(variants.size());
  std::vector<std::optional<model::ProbeAnchor>> variant_anchor(variants.size());
  for (size_t v = 0; v < variants.size(); ++v) {
    if (variants[v].nets.empty()) continue;
    CampaignOptions so = co;
    so.nets = variants[v].nets;
    if (o.probe) so.nets.emplace_back(kProbeName);
    so.progress_prefix = "[" + backend + ", " + variants[v].what + "] ";
    CampaignResult sr = run_campaign(so);
    if (sr.stop_signal)
      throw_failure(
          "the study was interrupted during the {} campaign of {}; every measured row is saved in {}: "
          "run the same command again to resume",
          backend, variants[v].what, o.db);
    r.info.measured_rows = r.info.measured_rows.value_or(0) + sr.written;
    r.info.reused_rows = r.info.reused_rows.value_or(0) + sr.already;
    const model::CsvTable tested = campaign_layers(o.db, sr.campaign_id, target, {});
    variant_data[v] = model::load_dataset(native, target, resolver.function());
    model::merge_test_data(*variant_data[v], model::load_dataset(tested, target, resolver.function()));
    variant_anchor[v] = model::probe_anchor(*variant_data[v]);
  }

  const std::string comb = "local-" + backend;
  r.combinations.push_back({comb, "This machine · " + backend, r.info.machine.cpu,
                            backend + ", " + std::to_string(o.threads) + " thread(s), FP32", "measured by this study",
                            target, "per layer (markers in whole-network runs)"});
  // Transfer on this machine: the plain networks (no grouped or depthwise convolution, no element-wise layer)
  // predict the grouped ones and the residual ones, where the study measured both sides.
  const std::vector<std::string> structure = model::column_values(data, "net.structure");
  std::map<std::string, std::set<std::string>> nets_of;  // structure -> networks
  double transfer_s = 0;
  for (size_t i = 0; i < data.samples.size(); ++i) nets_of[structure[i]].insert(data.samples[i].group);
  for (const auto& fs_name : o.feature_sets) {
    model::FeatureSet fset = model::parse_feature_set(fs_name);
    // A degree-3 expansion of ~26 hyper-parameter bases has over a thousand columns, and Lasso with
    // cross-validated regularisation over them takes minutes per held-out network on 2 cores; the study
    // uses degree 2 (still hundreds of candidate terms) and says so in the report's feature-set name.
    if (fset.neuralpower) fset.neuralpower_degree = o.neuralpower_degree;
    model::Design design = model::build_design(data, fset);
    std::optional<double> lono_accuracy;
    for (const char* ev : {"lono", "split"}) {
      if (std::string(ev) == "split" && nets.size() < 3) continue;  // no third network to hold out
      const bool lono = std::string(ev) == "lono", headline = fs_name == r.info.headline_feature_set;
      model::EvalOptions eo;
      eo.mode = lono ? model::CvMode::LeaveOneGroupOut : model::CvMode::Split;
      // Point predictions, except for the headline model left one network out: its intervals give the
      // coverage row below (a fraction of a second for per-layer data; the other sets are not calibrated).
      eo.fit.calibrate = lono && headline;
      model::Evaluation e = model::evaluate(data, design, eo);
      add_evaluation(r, comb, ev, fs_name, data, e, /*networks_from_layers=*/true, false, 0);
      if (!lono) continue;
      if (e.networks) lono_accuracy = e.networks->accuracy;
      if (!headline) continue;
      add_breakdowns(r, comb, fs_name, data, e, fset.depthwise_group());
      // How often a held-out network's measured total lies inside the interval `convergy predict` gives it
      // (model::network_bounds: the network interval, split with the widened per-layer one where layers leave
      // the fold model's domain).
      if (nets.size() >= 3 && e.networks && e.networks->n > 0)
        r.transfer.push_back(transfer_row(
            comb, "leave-one-network-out", "the other networks", "each network in turn (pooled)", fs_name,
            static_cast<int>(e.networks->n) - 1, *e.networks, eo.fit.coverage, "lono", e.networks->accuracy));
    }
    for (const auto& [label, test] : {std::pair<std::string, std::string>{"plain -> grouped", "grouped"},
                                      std::pair<std::string, std::string>{"plain -> residual", "residual"}}) {
      if (nets_of["plain"].empty() || nets_of[test].empty()) continue;
      Timer tt;
      model::EvalOptions eo;
      eo.mode = model::CvMode::Subsets;
      eo.train_where = {model::parse_row_filter("net.structure=plain", "transfer")};
      eo.test_where = {model::parse_row_filter("net.structure=" + test, "transfer")};
      eo.per_split = true;
      model::Evaluation e = model::evaluate(data, design, eo);
      add_transfer(r, comb, label, fs_name, e, eo.fit.coverage, "lono", lono_accuracy,
                   static_cast<int>(nets_of["plain"].size()), "net.structure=plain");
      transfer_s += tt.s();
    }
    if (fs_name == r.info.headline_feature_set) {
      Timer tt;
      add_learning_curve(r, comb, fs_name, data, design, {1, 2, 4, 8, 16}, 10);
      transfer_s += tt.s();
    }
    for (size_t v = 0; v < variants.size(); ++v) {
      if (!variant_data[v]) continue;
      const model::Dataset& vd = *variant_data[v];
      Timer tt;
      model::FeatureSet vset = model::parse_feature_set(fs_name);
      if (vset.neuralpower) vset.neuralpower_degree = o.neuralpower_degree;
      model::EvalOptions eo;
      eo.mode = model::CvMode::Subsets;
      eo.per_split = true;
      const model::Design vdesign = model::build_design(vd, vset);
      model::Evaluation e = model::evaluate(vd, vdesign, eo);
      // The same models with the held-out campaign's predictions scaled by the probe's drift: what the
      // transfer gets once the machine's own change of speed is taken out.
      std::optional<model::Evaluation> corrected;
      if (const auto& a = variant_anchor[v]) {
        eo.test_scale = a->ratio();
        corrected = model::evaluate(vd, vdesign, eo);
      }
      for (size_t k = 0; k < e.splits.size(); ++k) {
        const model::SplitResult& sr = e.splits[k];
        if (!sr.networks || sr.networks->n == 0) continue;
        r.transfer.push_back(transfer_row(
            comb, "native -> " + variants[v].what, variants[v].trained,
            fmt::format("{} network{} {}", sr.networks->n, sr.networks->n == 1 ? "" : "s", variants[v].tests),
            fs_name, static_cast<int>(nets.size()), *sr.networks, eo.fit.coverage, "lono", lono_accuracy));
        report::TransferResult& tr = r.transfer.back();
        if (!variant_anchor[v]) continue;
        tr.anchor_drift = variant_anchor[v]->ratio() - 1.0;
        if (k < corrected->splits.size() && corrected->splits[k].networks) {
          tr.drift_corrected_accuracy = corrected->splits[k].networks->accuracy;
          tr.drift_corrected_coverage = corrected->splits[k].networks->coverage;
        }
      }
      transfer_s += tt.s();
    }
  }
  fmt::print("[{}] measured and modelled {} networks{} in {:.1f} s (transfer evaluations {:.1f} s)\n",
             backend, nets.size(), o.probe ? " and the operator probe" : "", t.s(), transfer_s);
}

void shared_combinations(report::StudyResults& r, const StudyOptions& o, const std::string& dir, Resolver& resolver) {
  const std::string tx2 = dir + "/tx2-conv-layers.csv";
  if (fs::exists(tx2)) {
    model::CsvTable all = model::CsvTable::read_file(tx2);
    for (const char* rail : {"cpu", "gpu"}) {
      Timer t;
      model::CsvTable csv = all.where("rail", rail);
      model::Dataset data = model::load_dataset(csv, "energy_mj", {});
      const std::string comb = std::string("tx2-") + rail;
      r.combinations.push_back({comb, std::string("Jetson TX2 · ") + (rail[0] == 'c' ? "CPU" : "GPU"),
                                std::string("NVIDIA Jetson TX2 (") + (rail[0] == 'c' ? "VDD_SYS_CPU" : "VDD_SYS_GPU") +
                                    " rail)",
                                rail[0] == 'c' ? "PyTorch eager, CPU, FP32" : "PyTorch eager, CUDA/cuDNN, FP32",
                                "shared data: tx2-conv-layers.csv", "energy_mj", "standalone layers"});
      for (const auto& fs_name : o.feature_sets) {
        model::Design design = model::build_design(data, model::parse_feature_set(fs_name));
        model::EvalOptions eo;
        eo.mode = model::CvMode::KFold;
        eo.folds = 10;
        eo.fit.calibrate = false;
        model::Evaluation e = model::evaluate(data, design, eo);
        add_evaluation(r, comb, "10-fold", fs_name, data, e, false, true, kPlottedPoints);
        if (fs_name == r.info.headline_feature_set)
          add_learning_curve(r, comb, fs_name, data, design, {30, 100, 300, 1000}, 5);
      }
      fmt::print("[{}] {} standalone layers modelled in {:.1f} s\n", comb, data.samples.size(), t.s());
    }
  } else {
    fmt::print("shared data: {} not found; the TX2 combinations are left out\n", tx2);
  }
  const std::string nano = dir + "/jetson-nano/networks.csv";
  if (fs::exists(nano)) {
    Timer t;
    model::CsvTable csv = read_csv_subset(nano, o.quick ? 10 : 1);
    model::Dataset data = model::load_dataset(csv, "energy_mj", resolver.function());
    const std::string comb = "nano";
    r.combinations.push_back({comb, "Jetson Nano · TensorRT", "NVIDIA Jetson Nano (POM_5V_IN, module input)",
                              "TensorRT FP32 (whole networks)", "shared data: jetson-nano/networks.csv", "energy_mj",
                              "whole networks"});
    std::map<std::string, double> kfold_accuracy;
    double transfer_s = 0;
    for (const auto& fs_name : o.feature_sets) {
      model::Design design = model::build_design(data, model::parse_feature_set(fs_name));
      model::EvalOptions eo;
      eo.mode = model::CvMode::KFold;
      eo.folds = 5;
      eo.fit.calibrate = false;
      model::Evaluation e = model::evaluate(data, design, eo);
      add_evaluation(r, comb, "5-fold", fs_name, data, e, false, false, kPlottedPoints);
      kfold_accuracy[fs_name] = e.rows.accuracy;
      if (fs_name == r.info.headline_feature_set) {
        Timer tt;
        add_learning_curve(r, comb, fs_name, data, design, {10, 30, 100, 300, 1000, 3000}, 5);
        transfer_s += tt.s();
      }
      if (std::find(data.header.begin(), data.header.end(), "family") == data.header.end()) continue;
      Timer tt;
      // Transfer: each family held out in turn (each direction, then pooled), with the model's intervals.
      model::EvalOptions lofo;
      lofo.mode = model::CvMode::LeaveOneGroupOut;
      lofo.group_column = "family";
      lofo.per_split = true;
      model::Evaluation le = model::evaluate(data, design, lofo);
      add_transfer(r, comb, "leave-one-family-out", fs_name, le, lofo.fit.coverage, "5-fold", e.rows.accuracy, 0,
                   "the other families");
      int fewest = static_cast<int>(data.samples.size());
      for (const auto& sr : le.splits) fewest = std::min(fewest, static_cast<int>(sr.train_rows));
      r.transfer.push_back(transfer_row(comb, "leave-one-family-out",
                                        "the other families (the fewest networks of a split)",
                                        "each family in turn (pooled)", fs_name, fewest, le.rows,
                                        lofo.fit.coverage, "5-fold", e.rows.accuracy));
      transfer_s += tt.s();
    }
    // Transfer: the synthetic networks predicting real published ones measured on the same board.
    const size_t synthetic = data.samples.size();
    const std::string real = find_real_nano();
    if (!real.empty()) {
      Timer tt;
      model::merge_test_data(data, model::load_dataset(model::CsvTable::read_file(real), "energy_mj", resolver.function()));
      for (const auto& fs_name : o.feature_sets) {
        model::Design design = model::build_design(data, model::parse_feature_set(fs_name));
        model::EvalOptions eo;
        eo.mode = model::CvMode::Subsets;
        eo.per_split = true;
        model::Evaluation e = model::evaluate(data, design, eo);
        for (auto& sr : e.splits) sr.held_out = "data/jetson-nano-real/networks.csv";
        add_transfer(r, comb, "synthetic -> real", fs_name, e, eo.fit.coverage, "5-fold", kfold_accuracy[fs_name],
                     static_cast<int>(synthetic), "jetson-nano/networks.csv");
      }
      transfer_s += tt.s();
    } else {
      fmt::print("data/jetson-nano-real/networks.csv not found; the synthetic -> real transfer is left out\n");
    }
    fmt::print("[nano] {} networks modelled in {:.1f} s (transfer evaluations {:.1f} s){}\n", synthetic, t.s(),
               transfer_s, o.quick ? " (quick: every 10th network)" : "");
  } else {
    fmt::print("shared data: {} not found; the Jetson Nano combination is left out\n", nano);
  }
}

}  // namespace

std::string find_shared_data(const std::string& explicit_dir) {
  auto ok = [](const fs::path& p) { return fs::exists(p / "tx2-conv-layers.csv") || fs::exists(p / "jetson-nano"); };
  if (!explicit_dir.empty()) {
    if (!ok(explicit_dir))
      throw_bad_input("--shared-data {}: no tx2-conv-layers.csv or jetson-nano/ there", explicit_dir);
    return explicit_dir;
  }
  if (const char* env = std::getenv("CONVERGY_SHARED_DATA"); env && ok(env)) return env;
  for (const char* rel : {"../shared/data", "shared/data", "../../shared/data"})
    if (ok(rel)) return fs::absolute(rel).lexically_normal().string();
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path p = exe.parent_path(); !ec && !p.empty() && p != p.root_path(); p = p.parent_path())
    if (ok(p / "../shared/data")) return (p / "../shared/data").lexically_normal().string();
  return {};
}

std::vector<std::string> default_architectures(bool quick) {
#ifndef CONVERGY_HAVE_ONNX
  (void)quick;
  return {};  // ONNX files, and this build reads none
#else
  const std::string dir = find_repo_data("data/architectures");
  if (dir.empty()) return {};
  if (quick) {
    const fs::path one = fs::path(dir) / "regnet_x_400mf.onnx";
    return fs::exists(one) ? std::vector<std::string>{one.string()} : std::vector<std::string>{};
  }
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".onnx") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
#endif
}

std::vector<std::string> study_networks(bool quick) {
  if (quick)
    return {"squeezenet1_1", "mobilenet_v2", "resnet18",     "shufflenet_v2_1_0", "allcnn_c", "mobilenet_v1",
            "efficientnet_b0", "googlenet", "squeezenet1_0", "mobilenet_v3_large"};
  return {"alexnet",      "squeezenet1_0", "squeezenet1_1",     "squeezenet1_0_bypass", "resnet50",
          "googlenet",    "vgg_cnn_s",     "inception_bn",      "inception_v3",         "vgg16_places365",
          "allcnn_c",     "wrn50_2",       "mobilenet_v1",      "densenet121",          "mobilenet_v2",
          "mobilenet_v3_large", "shufflenet_v2_1_0", "efficientnet_b0", "resnet18",   "vgg16"};
}

report::StudyResults run_study(const StudyOptions& o) {
  Timer total;
  if (o.threads < 1) throw_bad_input("--threads {}: expected at least 1", o.threads);
  if (o.backends.empty()) throw_bad_input("--backends: expected at least one backend");
  auto available = Executor::available_backends();
  for (const auto& b : o.backends)
    if (std::find(available.begin(), available.end(), b) == available.end())
      throw_bad_input("--backends {}: not in this build or, for cudnn, no GPU here (available: {})", b,
                      fmt::join(available, ", "));
  // A network file by its absolute path: the store keeps the name as given, and the study reads its rows back
  // as a table whose relative file names resolve against the database's folder, not the working one.
  auto absolute_if_file = [](std::vector<std::string> names) {
    for (auto& n : names)
      if (std::error_code ec; fs::is_regular_file(n, ec)) n = fs::absolute(n).lexically_normal().string();
    return names;
  };
  const std::vector<std::string> nets =
      absolute_if_file(o.networks.empty() ? study_networks(o.quick) : o.networks);
  for (const auto& n : nets) (void)load_network(n);  // a typo fails before anything is measured
  const std::vector<std::string> architectures =
      absolute_if_file(o.architectures ? *o.architectures : default_architectures(o.quick));
  for (const auto& n : architectures) (void)load_network(n);

  report::StudyResults r;
  r.info.convergy_version = CONVERGY_VERSION;
  r.info.created_utc = utc_now_iso8601();
  r.info.quick = o.quick;
  r.info.machine = machine_info();
  r.info.backends = o.backends;
  r.info.threads = o.threads;
  // The headline is the model `convergy fit` writes by default where the study compares it, then the compact
  // model fitted for whole networks, then the paper-style macs+mem.
  const auto& sets = o.feature_sets;
  auto has = [&](const char* name) { return std::find(sets.begin(), sets.end(), name) != sets.end(); };
  r.info.headline_feature_set = has("transfer") ? "transfer" : has("compact") ? "compact" : "macs+mem";
  r.info.headline_evaluation = "lono";

  if (o.probe)
    r.info.notes.push_back(
        "The local models were fitted with the operator probe (convergy info probe): a generated network "
        "measured on every backend whose layers teach per-element rates such as an exponential's. It trains "
        "every fold and is never held out or counted among the networks (--no-probe leaves it out).");
  Resolver resolver;
  std::vector<std::string> size_notes, class_notes;
  const std::vector<Variants> variants = {
      {"other input sizes", "every network at its own size",
       fmt::format("at x{} their input side", and_list(o.input_scales, "{:.2f}")),
       scaled_networks(nets, o.input_scales, o.input_scales_max_macs, &size_notes)},
      {"other class counts", "every network with its own classes",
       fmt::format("with {} classes", and_list(o.class_counts, "{}")),
       classed_networks(nets, o.class_counts, o.class_counts_max_macs, &class_notes)},
      {"other architectures", "the study's networks",
       fmt::format("of layer kinds or groupings they lack ({})", architecture_names(architectures)),
       architectures}};
  for (const auto& note : size_notes) fmt::print("other input sizes: {}\n", note);
  for (const auto& note : class_notes) fmt::print("other class counts: {}\n", note);
  for (const auto& b : o.backends) local_combination(r, o, b, nets, variants, resolver);
  const std::string shared = find_shared_data(o.shared_data);
  if (shared.empty())
    fmt::print("shared data not found (set --shared-data or CONVERGY_SHARED_DATA): Jetson combinations left out\n");
  else
    shared_combinations(r, o, shared, resolver);
  r.info.wall_time_s = total.s();
  report::write_study_outputs(r, o.out);
  return r;
}

}  // namespace convergy::study

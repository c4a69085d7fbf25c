// `convergy predict --model MODEL.json NET... [--format table|csv|json]`: predicts each network with a
// fitted model, layer by layer, with the model's calibrated interval. Also home of the network loader that
// fit and evaluate share (networks named by measurement CSVs go through the same importer and passes).
#include "cli/command.h"
#include "cli/format.h"
#include "cli/limits.h"
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"
#include "model/model.h"
#include "util/error.h"

#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace convergy::cli {

// The features of a network as executed: imported, graph passes applied (removed layers cost nothing).
std::shared_ptr<const NetworkFeatures> load_network_features(const std::string& reference) {
  Graph g = load_network(reference);
  PassResult passed = run_passes(g);
  return std::make_shared<const NetworkFeatures>(network_features(passed.graph));
}

namespace {

struct PredictOptions {
  std::string model;
  std::vector<std::string> nets;
  std::vector<std::string> input_shapes;
  int64_t classes = 0;
  OutputFormat format = OutputFormat::Table;
};

struct NetworkArg {
  std::string given;   // as written
  std::string path;    // what to load
  std::string origin;  // "list.txt:3" for a network named in a list, else empty
};

// NET arguments with every @list.txt expanded: one network per line, blank lines and # comments skipped;
// relative paths in a list are taken relative to the list's folder.
std::vector<NetworkArg> expand_networks(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::vector<NetworkArg> out;
  for (const auto& a : args) {
    if (!a.starts_with("@")) {
      out.push_back({a, a, ""});
      continue;
    }
    const std::string list = a.substr(1);
    std::ifstream in(list);
    if (!in) throw_bad_input("{}: cannot open the network list", list);
    std::string line;
    int line_no = 0;
    const size_t before = out.size();
    while (std::getline(in, line)) {
      ++line_no;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      line = line.substr(start);
      fs::path p(line);
      bool is_path = p.has_extension() || line.find('/') != std::string::npos;
      std::string resolved = is_path && p.is_relative() ? (fs::path(list).parent_path() / p).lexically_normal().string() : line;
      out.push_back({line, resolved, fmt::format("{}:{}", list, line_no)});
    }
    if (out.size() == before) throw_bad_input("{}: no network in the list, expected one network per line", list);
  }
  return out;
}

std::string number(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return "";
  return fmt::format("{:.6g}", *v);
}

int run_predict(const PredictOptions& opt) {
  const model::Model m = model::load_model(opt.model);
  auto nets = expand_networks(opt.nets);
  for (auto& n : nets) {
    n.given = network_name(n.given, opt.input_shapes, opt.classes);
    n.path = network_name(n.path, opt.input_shapes, opt.classes);
  }
  if (nets.empty()) throw_bad_input("no networks to predict (give NET arguments or @list.txt)");
  const std::string id = m.id();
  Json all = Json::array();
  Table table({{"network"}, {fmt::format("predicted_{}", m.unit == "mJ" ? "mj" : "ms"), Align::Right},
               {"lower", Align::Right}, {"upper", Align::Right}, {"note"}});
  Table csv({{"network"}, {"target"}, {"unit"}, {"predicted"}, {"lower"}, {"upper"}, {"model"}});
  // Import, passes, features and model on both cores; the tables are filled in list order afterwards. Only
  // the JSON shows the per-layer breakdown, so the table and the CSV do not keep it.
  const bool json = opt.format == OutputFormat::Json;
  const std::vector<model::NetworkPrediction> predictions = model::predict_networks(
      m, nets.size(),
      [&](size_t i) {
        const auto& [given, path, origin] = nets[i];
        try {
          return network_features(run_passes(load_network(path), PassOptions::graph_only()).graph);
        } catch (const Error& e) {
          if (origin.empty() || e.kind() != ErrorKind::BadInput) throw;
          throw_bad_input("{}: network \"{}\": {}", origin, given, e.what());
        }
      },
      /*threads=*/0, /*keep_layers=*/json);
  for (size_t i = 0; i < nets.size(); ++i) {
    const std::string& given = nets[i].given;
    const model::NetworkPrediction& p = predictions[i];
    std::string note;
    if (!p.unmodelled_groups.empty()) {
      for (const auto& g : p.unmodelled_groups) note += (note.empty() ? "" : ", ") + g;
      note = "no sub-model for " + note + " layers (not counted)";
    }
    if (!p.extrapolation.empty()) {
      // The table keeps one line per network: the first finding, and how many more the JSON lists.
      note += fmt::format(
          "{}extrapolation: {}{}", note.empty() ? "" : "; ", p.extrapolation[0],
          p.extrapolation.size() > 1 ? fmt::format(" (+{} more)", p.extrapolation.size() - 1) : "");
      if (p.lower && p.interval_basis != "networks+layers")
        note += fmt::format("; interval x{:.2f} wider", p.interval_widening);
    }
    // A per-layer model outside its domain: say why the interval is so much wider than inside it.
    if (m.network_interval && p.interval_basis == "layers")
      note += std::string(note.empty() ? "" : "; ") + "interval calibrated on layers, not networks";
    else if (p.interval_basis == "networks+layers")
      note += fmt::format("{}interval: the {:.2g}% outside the domain on layers, widened x{:.2f}",
                          note.empty() ? "" : "; ", 100.0 * p.outside_predicted / p.predicted,
                          p.interval_widening);
    if (!m.domain)
      note += std::string(note.empty() ? "" : "; ") +
              "model file has no training domain (format 1.0): not checked";
    table.add_row({given, number(p.predicted), number(p.lower), number(p.upper), note});
    csv.add_row({given, m.target, m.unit, number(p.predicted), number(p.lower), number(p.upper), id});
    if (!json) continue;
    Json layers = Json::array();
    for (const auto& l : p.layers) {
      if (l.group == "none") continue;  // no cost by definition (Flatten, Reshape, ...)
      layers.push_back({{"name", l.name}, {"type", l.group}, {"predicted", l.predicted ? Json(*l.predicted) : Json(nullptr)}});
    }
    Json j = {{"network", given},
              {"target", m.target},
              {"unit", m.unit},
              {"predicted", p.predicted},
              {"lower", p.lower ? Json(*p.lower) : Json(nullptr)},
              {"upper", p.upper ? Json(*p.upper) : Json(nullptr)},
              {"model", id}};
    if (p.network_terms != 0.0) j["network_terms"] = p.network_terms;
    j["unmodelled_groups"] = p.unmodelled_groups;
    j["extrapolation"] = p.extrapolation_checked ? Json(p.extrapolation) : Json(nullptr);
    j["interval_widening"] = p.interval_widening;
    j["interval_basis"] = p.interval_basis.empty() ? Json(nullptr) : Json(p.interval_basis);
    j["outside_domain_predicted"] = p.outside_predicted;
    j["layers"] = layers;
    all.push_back(std::move(j));
  }
  switch (opt.format) {
    case OutputFormat::Json: fmt::print("{}", json_text(all)); break;
    case OutputFormat::Csv: fmt::print("{}", csv.csv()); break;
    case OutputFormat::Table: {
      fmt::print("model {} ({}, {}; {} terms)\n", id, m.target, m.unit, m.complexity());
      // The interval of whole networks (a per-layer model's network interval, or a whole-network model's own)
      // when it rests on an assumption: too few held-out networks for conformal ranks.
      const bool networks_model = m.provenance.data_kind == model::data_kind_name(model::DataKind::Networks);
      const model::IntervalCalibration* c = m.network_interval             ? &*m.network_interval
                                            : networks_model && m.interval ? &*m.interval
                                                                           : nullptr;
      if (c && c->log_normal)
        fmt::print(
            "{:.0f}% interval of networks: log-normal (Student's t) from {} held-out networks, too few for "
            "conformal ranks\n",
            100 * c->coverage, c->calibration_rows);
      fmt::print("{}", table.text());
      break;
    }
  }
  return 0;
}

const Command kPredict({"predict", "Predict energy or latency of networks with a fitted model", 60, [](CLI::App& app) {
  add_limit_options(app);
  auto opt = std::make_shared<PredictOptions>();
  app.add_option("--model", opt->model, "Model JSON written by `convergy fit`")->required();
  app.add_option(
         "nets", opt->nets,
         "Networks: .prototxt/.onnx paths, zoo names, or @list.txt; NAME@1x3x160x160 at another input shape, "
         "NAME@classes=10 with another number of classes")
      ->required();
  app.add_option(
      "--input-shape", opt->input_shapes,
      "Input shape of every network, name=1x3x224x224 or 1x3x224x224 for the first input (printed as "
      "NAME@SHAPE)");
  add_classes_option(app, opt->classes, true, "printed as");
  add_format_option(app, opt->format);
  return [opt] { return run_predict(*opt); };
}});

}  // namespace
}  // namespace convergy::cli

// `convergy info NET`: one row per layer of the graph as executed (after the graph passes unless
// --no-passes), then the network totals and what each pass changed.
#include "cli/command.h"
#include "cli/format.h"
#include "cli/limits.h"
#include "features/features.h"
#include "graph/classifier.h"
#include "graph/passes.h"
#include "import/load.h"
#include "util/error.h"

#include <fmt/core.h>

#include <memory>

namespace convergy::cli {

namespace {

struct InfoOptions {
  std::string net;
  OutputFormat format = OutputFormat::Table;
  bool no_passes = false;
  std::vector<std::string> input_shapes;
  int64_t classes = 0;
  bool allow_python_layers = false;
};

// The exact value of a documented feature, keeping 64-bit integers exact (LayerFeatures::get is a double).
Json exact_feature(const LayerFeatures& f, const std::string& name) {
  if (name == "macs") return f.macs;
  if (name == "flops") return f.flops();
  if (name == "ops") return f.ops;
  if (name == "params") return f.params;
  if (name == "weight_elems") return f.weight_elems;
  if (name == "in_elems") return f.in_elems;
  if (name == "out_elems") return f.out_elems;
  if (name == "in_bytes") return f.in_bytes;
  if (name == "out_bytes") return f.out_bytes;
  if (name == "weight_bytes") return f.weight_bytes;
  if (name == "batch") return f.batch;
  if (name == "in_c") return f.in_c;
  if (name == "in_h") return f.in_h;
  if (name == "in_w") return f.in_w;
  if (name == "out_c") return f.out_c;
  if (name == "out_h") return f.out_h;
  if (name == "out_w") return f.out_w;
  if (name == "kernel_h") return f.kernel_h;
  if (name == "kernel_w") return f.kernel_w;
  if (name == "stride_h") return f.stride_h;
  if (name == "stride_w") return f.stride_w;
  if (name == "pad_h") return f.pad_h;
  if (name == "pad_w") return f.pad_w;
  if (name == "groups") return f.groups;
  if (name == "depthwise") return f.depthwise ? 1 : 0;
  if (name == "exp_elems") return f.exp_elems;
  throw_failure("internal: feature \"{}\" has no exact value in convergy info", name);
}

// Every documented feature except the constant "1", in documentation order.
std::vector<std::string> printed_features() {
  std::vector<std::string> names;
  for (const auto& n : feature_names())
    if (n != "1") names.push_back(n);
  return names;
}

std::string output_shapes(const Graph& g, const Layer& l) {
  std::string s;
  for (BlobId b : l.outputs) s += (s.empty() ? "" : ";") + g.blob(b).shape.str();
  return s;
}

std::string fused_name(const Layer& l) {
  return l.fused_activation ? std::string(layer_kind_name(l.fused_activation->kind)) : std::string();
}

// Indents every line by two spaces (sections under a heading).
std::string indented(const std::string& text) {
  std::string out;
  bool start = true;
  for (char c : text) {
    if (start && c != '\n') out += "  ";
    out += c;
    start = c == '\n';
  }
  return out;
}

int run_info(const InfoOptions& o) {
  LoadOptions load;
  for (const auto& s : o.input_shapes) load.input_shapes.push_back(parse_input_shape_option(s));
  load.allow_python_layers = o.allow_python_layers;
  load.classes = o.classes;
  const Graph defined = load_network(o.net, load);
  print_graph_notes(defined);
  const NetworkFeatures defined_features = network_features(defined);
  const PassResult passed = run_passes(defined, o.no_passes ? PassOptions::none() : PassOptions{});
  const Graph& g = passed.graph;
  const NetworkFeatures nf = network_features(g);

  // Layers of `g` in the order network_features lists them (Input layers skipped).
  std::vector<const Layer*> layers;
  for (const auto& l : g.layers())
    if (l.kind != LayerKind::Input) layers.push_back(&l);

  const std::string network = g.name().empty() ? o.net : g.name();
  const auto features = printed_features();
  // The classifier as defined (the passes may fuse an activation into it, not change its count).
  const std::vector<Classifier> classifiers = find_classifiers(defined);
  const uint64_t flops = 2 * nf.macs;  // network_features guarantees this fits

  if (o.format == OutputFormat::Json) {
    Json inputs = Json::object();
    for (BlobId b : g.inputs()) inputs[g.blob(b).name] = g.blob(b).shape.dims.to_vector();
    Json rows = Json::array();
    for (size_t i = 0; i < layers.size(); ++i) {
      const Layer& l = *layers[i];
      const LayerFeatures& f = nf.layers[i];
      Json row = {{"name", l.name}, {"type", layer_kind_name(l.kind)}, {"class", layer_class_name(f.cls)}};
      Json ins = Json::array(), outs = Json::array();
      for (BlobId b : l.inputs) ins.push_back(g.blob(b).shape.dims.to_vector());
      for (BlobId b : l.outputs) outs.push_back(g.blob(b).shape.dims.to_vector());
      row["input_shapes"] = ins;
      row["output_shapes"] = outs;
      for (const auto& name : features) row[name] = exact_feature(f, name);
      row["fused_activation"] = l.fused_activation ? Json{{"type", layer_kind_name(l.fused_activation->kind)},
                                                          {"layer", l.fused_activation->layer_name}}
                                                   : Json(nullptr);
      rows.push_back(std::move(row));
    }
    Json classifier_json = Json::array();
    for (const Classifier& c : classifiers)
      classifier_json.push_back({{"layer", defined.layer(c.layer).name}, {"classes", c.classes}});
    Json changes = Json::array();
    for (const auto& c : passed.changes)
      changes.push_back({{"pass", c.pass}, {"layer", c.layer}, {"detail", c.detail}});
    Json out = {{"network", network},
                {"source", g.source()},
                {"input_shapes", inputs},
                {"passes_applied", !o.no_passes},
                {"classifiers", classifier_json},
                {"layers", rows},
                {"totals",
                 {{"layers", layers.size()},
                  {"macs", nf.macs},
                  {"flops", flops},
                  {"ops", nf.ops},
                  {"params", defined_features.params},
                  {"params_executed", nf.params},
                  {"weight_bytes", nf.weight_bytes}}},
                {"passes", changes}};
    fmt::print("{}", json_text(out));
    return 0;
  }

  if (o.format == OutputFormat::Csv) {
    // One row per layer with every feature; the totals are sums of these columns (JSON and table print them).
    std::vector<Column> cols = {{"name"}, {"type"}, {"class"}, {"output_shape"}, {"fused_activation"}};
    for (const auto& n : features) cols.push_back({n});
    Table t(std::move(cols));
    for (size_t i = 0; i < layers.size(); ++i) {
      const Layer& l = *layers[i];
      const LayerFeatures& f = nf.layers[i];
      std::vector<std::string> cells = {l.name, std::string(layer_kind_name(l.kind)),
                                        std::string(layer_class_name(f.cls)), output_shapes(g, l),
                                        fused_name(l)};
      for (const auto& n : features) cells.push_back(exact_feature(f, n).dump());
      t.add_row(std::move(cells));
    }
    fmt::print("{}", t.csv());
    return 0;
  }

  Table t({{"layer"},
           {"type"},
           {"class"},
           {"output"},
           {"MACs", Align::Right},
           {"ops", Align::Right},
           {"params", Align::Right},
           {"in", Align::Right},
           {"out", Align::Right},
           {"weights", Align::Right},
           {"fused"}});
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = *layers[i];
    const LayerFeatures& f = nf.layers[i];
    std::string cls(layer_class_name(f.cls));
    if (f.depthwise) cls += " (dw)";
    t.add_row({l.name, std::string(layer_kind_name(l.kind)), cls, output_shapes(g, l), human_count(f.macs),
               human_count(f.ops), human_count(f.params), human_count(f.in_bytes, "B"),
               human_count(f.out_bytes, "B"), human_count(f.weight_bytes, "B"), fused_name(l)});
  }
  std::string inputs;
  for (BlobId b : g.inputs())
    inputs += (inputs.empty() ? "" : ", ") + g.blob(b).name + " " + g.blob(b).shape.str();
  std::string out = fmt::format("network {} ({}), input {}\n\n", network, g.source(), inputs);
  out += t.text();
  out += fmt::format("\ntotals ({}; params as defined)\n",
                     o.no_passes ? "graph as defined" : "graph as executed");
  Table totals({{"what"}, {"value", Align::Right}, {"exact", Align::Right}});
  totals.add_row({"layers", std::to_string(layers.size()), ""});
  totals.add_row({"MACs", human_count(nf.macs), grouped(nf.macs)});
  totals.add_row({"FLOPs", human_count(flops), grouped(flops)});
  totals.add_row({"ops", human_count(nf.ops), grouped(nf.ops)});
  totals.add_row({"params", human_count(defined_features.params), grouped(defined_features.params)});
  totals.add_row({"weights", human_count(nf.weight_bytes, "B"), grouped(nf.weight_bytes) + " B"});
  out += indented(totals.text(false));
  for (const Classifier& c : classifiers)
    out += fmt::format(
        "\nclassifier: layer {} gives {} classes (--classes N or NAME@classes=N for another count)\n",
        defined.layer(c.layer).name, c.classes);
  if (o.no_passes) {
    out += "\npasses: off (--no-passes)\n";
  } else if (passed.changes.empty()) {
    out += "\npasses: no changes\n";
  } else {
    out +=
        fmt::format("\npasses: {} change{}\n", passed.changes.size(), passed.changes.size() == 1 ? "" : "s");
    Table p({{"pass"}, {"layer"}, {"change"}});
    for (const auto& c : passed.changes) p.add_row({c.pass, c.layer, c.detail});
    out += indented(p.text());
  }
  fmt::print("{}", out);
  return 0;
}

const Command kInfo{{"info", "Per-layer features of a network (zoo name, .prototxt or .onnx), then totals",
                     20, [](CLI::App& sub) {
                       add_limit_options(sub);
                       auto o = std::make_shared<InfoOptions>();
                       sub.add_option("net", o->net, "Zoo name or model file")->required();
                       add_format_option(sub, o->format);
                       sub.add_flag(
                           "--no-passes", o->no_passes,
                           "Show the graph as defined (no dead-layer/Dropout removal, folding or fusion)");
                       sub.add_option("--input-shape", o->input_shapes,
                                      "Input shape, name=NxCxHxW or NxCxHxW for the first input (repeatable)")
                           ->allow_extra_args(false);
                       add_classes_option(sub, o->classes, false);
                       sub.add_flag("--allow-python-layers", o->allow_python_layers,
                                    "Count Caffe Python layers as zero-cost layers (with a warning) instead of "
                                    "refusing the file");
                       return std::function<int()>([o] { return run_info(*o); });
                     }}};

}  // namespace

}  // namespace convergy::cli

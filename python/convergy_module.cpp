// The C++ half of the Python package `convergy` (pybind11): loading networks into features, and fitting,
// loading and applying models. Lists are predicted with the GIL released, on every core (model/model.h).
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"
#include "model/csv.h"
#include "model/dataset.h"
#include "model/model.h"
#include "util/error.h"
#include "util/heap.h"
#include "zoo/nb201.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace py = pybind11;
using namespace convergy;

namespace {

// A network as the package hands it out: its features as executed (after the graph passes).
struct Network {
  std::string name;    // the graph's name
  std::string source;  // what it was loaded from, for messages and repr
  std::shared_ptr<const NetworkFeatures> features;
};

// Takes the graph: the passes then move its layers instead of copying them.
NetworkFeatures features_of(Graph g) {
  return network_features(run_passes(std::move(g), PassOptions::graph_only()).graph);
}

// What a Python argument names, taken out of Python objects so that it can be loaded without the GIL (prototxt
// text is read in place: the caller holds the str for the whole call).
struct Source {
  enum class Kind { Reference, PrototxtText, OnnxBytes } kind = Kind::Reference;
  std::string data;  // the path or zoo name, or the ONNX bytes
  // Prototxt text: the UTF-8 of the Python str itself, which the caller keeps alive (a list of 10,000
  // texts copied out first was 200 MB of fresh memory before the first network was read).
  std::string_view text;
  std::string name;  // for messages
};

Graph load_source(const Source& s) {
  switch (s.kind) {
    case Source::Kind::Reference:
      return load_network(s.data);
    case Source::Kind::PrototxtText: {
      Graph g = import_caffe_prototxt(s.text, s.name);
      g.set_source(s.name);
      return g;
    }
    case Source::Kind::OnnxBytes:
#ifdef CONVERGY_HAVE_ONNX
      return import_onnx_bytes(s.data, s.name);
#else
      throw_bad_input("{}: ONNX support was not built (configure with -DCONVERGY_WITH_ONNX=ON)", s.name);
#endif
  }
  throw_failure("internal: unknown network source");
}

// A str with a newline or a brace is prototxt text; any other str is a path or a zoo name. bytes are an
// ONNX model, unless they decode as prototxt text.
Source to_source(const py::handle& obj, const std::string& name) {
  Source s;
  if (py::isinstance<py::bytes>(obj)) {
    s.data = obj.cast<std::string>();
    s.kind = Source::Kind::OnnxBytes;
    s.name = name.empty() ? "<onnx bytes>" : name;
    return s;
  }
  // A str is by far the most common item of a list: no attribute lookup for it (a failed hasattr raises and
  // clears a Python exception).
  if (!py::isinstance<py::str>(obj) && py::hasattr(obj, "__fspath__")) {
    s.data = py::module_::import("os").attr("fspath")(obj).cast<std::string>();
    return s;
  }
  if (!py::isinstance<py::str>(obj))
    throw_bad_input(
        "cannot load a network from a {}, expected a path, a zoo name, prototxt text or ONNX bytes",
        std::string(py::str(py::type::of(obj).attr("__name__"))));
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(obj.ptr(), &size);  // cached in the str object, not a copy
  if (!utf8) throw py::error_already_set();
  const std::string_view text(utf8, static_cast<size_t>(size));
  if (text.find_first_of("\n{") != std::string_view::npos) {
    s.kind = Source::Kind::PrototxtText;
    s.text = text;
    s.name = name.empty() ? "<prototxt text>" : name;
  } else {
    s.data = std::string(text);
  }
  return s;
}

Network load(const py::handle& obj, const std::string& name) {
  Source s = to_source(obj, name);
  Graph g;
  {
    py::gil_scoped_release release;
    g = load_source(s);
  }
  Network n;
  n.name = g.name();
  n.source = s.kind == Source::Kind::Reference ? s.data : s.name;
  n.features = std::make_shared<const NetworkFeatures>(features_of(std::move(g)));
  return n;
}

py::dict layer_dict(const LayerFeatures& l) {
  py::dict d;
  d["name"] = l.name;
  d["type"] = std::string(layer_kind_name(l.kind));
  d["class"] = std::string(layer_class_name(l.cls));
  for (const auto& f : feature_names()) {
    if (f == "1") continue;
    d[py::str(f)] = *l.get(f);
  }
  return d;
}

py::object optional_double(const std::optional<double>& v) {
  return v ? py::object(py::float_(*v)) : py::none();
}

// What a prediction needs of its model, taken once per call rather than once per network.
struct ModelTag {
  std::string target, unit, id;
};

std::shared_ptr<const ModelTag> model_tag(const model::Model& m) {
  return std::make_shared<const ModelTag>(ModelTag{m.target, m.unit, m.id()});
}

// One network's prediction, kept in C++: Python objects for a field are built when the field is read, so a
// list of 10,000 predictions does not build 10,000 per-layer breakdowns that a search never looks at.
struct PredictionResult {
  std::shared_ptr<const ModelTag> model;
  model::NetworkPrediction p;
};

// None when the breakdown was not kept (predict(..., layers=False)): missing, not empty.
py::object layers_list(const model::NetworkPrediction& p) {
  if (!p.layers_kept) return py::none();
  py::list layers;
  for (const auto& l : p.layers) {
    py::dict ld;
    ld["name"] = l.name;
    ld["group"] = l.group;
    ld["predicted"] = optional_double(l.predicted);
    layers.append(std::move(ld));
  }
  return layers;
}

// Where the network leaves the model's training domain; None for a model file without a domain (format 1.0),
// as `convergy predict --format json` writes null.
py::object extrapolation_of(const PredictionResult& r) {
  return r.p.extrapolation_checked ? py::object(py::cast(r.p.extrapolation)) : py::none();
}

// Everything NetworkPrediction holds, so that a field added there needs one line here (and one property
// in the binding of PredictionResult below).
py::dict prediction_dict(const PredictionResult& r) {
  const model::NetworkPrediction& p = r.p;
  py::dict d;
  d["predicted"] = p.predicted;
  d["lower"] = optional_double(p.lower);
  d["upper"] = optional_double(p.upper);
  d["network_terms"] = p.network_terms;
  d["unmodelled_groups"] = p.unmodelled_groups;
  d["extrapolation"] = extrapolation_of(r);
  d["interval_widening"] = p.interval_widening;
  d["interval_basis"] =
      p.interval_basis.empty() ? py::object(py::none()) : py::object(py::str(p.interval_basis));
  d["outside_domain_predicted"] = p.outside_predicted;
  d["layers"] = layers_list(p);
  d["target"] = r.model->target;
  d["unit"] = r.model->unit;
  d["model"] = r.model->id;
  return d;
}

model::Model model_from_text(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (size_t close = what.find("] "); what.starts_with("[json.exception.") && close != std::string::npos)
      what.erase(0, close + 2);
    throw_bad_input("{}: not valid JSON: {}", where, what);
  }
  return model::model_from_json(j, where);
}

// Fits as `convergy fit` does: every row trains unless a `split` column marks the training rows.
model::Model fit(const std::string& csv_text, const std::string& csv_path, const std::string& target,
                 const std::string& features, const std::string& method, double coverage, uint64_t seed) {
  if (target != "energy_mj" && target != "time_ms")
    throw_bad_input("target \"{}\", expected energy_mj or time_ms", target);
  model::CsvTable csv =
      csv_text.empty() ? model::CsvTable::read_file(csv_path) : model::CsvTable::parse(csv_text, csv_path);
  model::Dataset data = model::load_dataset(csv, target, [](const std::string& ref) {
    return std::make_shared<const NetworkFeatures>(features_of(load_network(ref)));
  });
  model::FeatureSet fs = model::parse_feature_set(features);
  if (!method.empty()) {
    auto m = model::method_from_name(method);
    if (!m) throw_bad_input("method \"{}\", expected ols, wls, nnls, ridge, lasso, lad or loglinear", method);
    fs.method = *m;
  }
  std::vector<size_t> rows;
  bool has_split = false;
  for (const auto& h : data.header) has_split = has_split || h == "split";
  for (size_t i = 0; i < data.samples.size(); ++i)
    if (!has_split || data.samples[i].split == "train") rows.push_back(i);
  if (rows.empty()) throw_bad_input("{}: the \"split\" column marks no row as train", csv_path);
  model::Design design = model::build_design(data, fs);
  model::FitOptions fo;
  fo.coverage = coverage;
  fo.seed = seed;
  return model::fit_model(data, design, rows, fo);
}

}  // namespace

PYBIND11_MODULE(_convergy, m) {
  m.doc() = "convergy: per-layer energy and latency prediction of ConvNets (C++ core)";
  // A search scores thousands of networks through this module: keep freed memory in the heap rather than
  // returning it to the OS after each one (util/heap.h; CONVERGY_MALLOC_DEFAULTS=1 before import opts out).
  retain_freed_memory();
  m.def(
      "heap_settings",
      [] {
        const HeapSettings& h = retain_freed_memory();
        py::dict d;
        d["applied"] = h.applied;
        d["detail"] = h.detail;
        return d;
      },
      "What convergy set in the process's malloc at import (see README, Prediction speed).");

  // Bad input (a malformed network, CSV or model) is a ValueError, as Python expects; anything else a
  // RuntimeError. Both carry the CLI's one-line message.
  static py::exception<Error> failure(m, "Error", PyExc_RuntimeError);
  static py::exception<Error> bad_input(m, "BadInputError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::BadInput)
        bad_input(e.what());
      else
        failure(e.what());
    }
  });

  py::class_<Network>(m, "Network")
      .def_readonly("name", &Network::name)
      .def_readonly("source", &Network::source)
      .def_property_readonly("layers",
                             [](const Network& n) {
                               py::list out;
                               for (const auto& l : n.features->layers) out.append(layer_dict(l));
                               return out;
                             })
      .def_property_readonly("totals",
                             [](const Network& n) {
                               const NetworkFeatures& f = *n.features;
                               py::dict d;
                               d["layers"] = f.layers.size();
                               d["macs"] = f.macs;
                               d["flops"] = 2 * f.macs;
                               d["ops"] = f.ops;
                               // As `convergy info` names it: the parameters of the graph as executed
                               // (after BatchNorm folding), not of the file.
                               d["params_executed"] = f.params;
                               d["weight_bytes"] = f.weight_bytes;
                               return d;
                             })
      .def("__len__", [](const Network& n) { return n.features->layers.size(); })
      .def("__repr__", [](const Network& n) {
        return fmt::format("<convergy.Network \"{}\" from {}: {} layers, {} MACs>", n.name, n.source,
                           n.features->layers.size(), n.features->macs);
      });

  m.def("load", &load, py::arg("source"), py::arg("name") = "",
        "A network from a path (.prototxt/.onnx), a zoo name, prototxt text (str) or ONNX bytes, with the "
        "graph passes applied. `name` names in-memory text or bytes in messages.");
  m.def("feature_names", [] {
    std::vector<std::string> names;
    for (const auto& f : feature_names())
      if (f != "1") names.push_back(f);
    return names;
  });
  m.def("nb201_prototxt", py::overload_cast<uint64_t>(&nb201_prototxt), py::arg("index"),
        "Prototxt text of generated NAS-Bench-201-style candidate `index` (deterministic).");

  py::class_<PredictionResult>(m, "PredictionResult")
      .def_property_readonly("predicted", [](const PredictionResult& r) { return r.p.predicted; })
      .def_property_readonly("lower", [](const PredictionResult& r) { return optional_double(r.p.lower); })
      .def_property_readonly("upper", [](const PredictionResult& r) { return optional_double(r.p.upper); })
      .def_property_readonly("network_terms", [](const PredictionResult& r) { return r.p.network_terms; })
      .def_property_readonly("unmodelled_groups",
                             [](const PredictionResult& r) { return r.p.unmodelled_groups; })
      .def_property_readonly("extrapolation", &extrapolation_of)
      .def_property_readonly("interval_widening",
                             [](const PredictionResult& r) { return r.p.interval_widening; })
      .def_property_readonly("interval_basis",
                             [](const PredictionResult& r) -> py::object {
                               if (r.p.interval_basis.empty()) return py::none();
                               return py::str(r.p.interval_basis);
                             })
      .def_property_readonly("outside_domain_predicted",
                             [](const PredictionResult& r) { return r.p.outside_predicted; })
      .def_property_readonly("layers", [](const PredictionResult& r) { return layers_list(r.p); })
      .def_property_readonly("target", [](const PredictionResult& r) { return r.model->target; })
      .def_property_readonly("unit", [](const PredictionResult& r) { return r.model->unit; })
      .def_property_readonly("model", [](const PredictionResult& r) { return r.model->id; })
      .def("as_dict", &prediction_dict);

  py::class_<model::Model>(m, "Model")
      .def_static("from_file", &model::load_model, py::arg("path"))
      .def_static(
          "from_json", [](const std::string& text) { return model_from_text(text, "<model json>"); },
          py::arg("text"))
      .def_static("fit", &fit, py::arg("csv_text"), py::arg("csv_path"), py::arg("target"),
                  py::arg("features"), py::arg("method"), py::arg("coverage"), py::arg("seed"),
                  py::call_guard<py::gil_scoped_release>())
      .def("to_json", [](const model::Model& self) { return model::model_to_json(self).dump(2); })
      .def(
          "save", [](const model::Model& self, const std::string& path) { model::save_model(self, path); },
          py::arg("path"))
      .def_property_readonly("id", &model::Model::id)
      .def_readonly("target", &model::Model::target)
      .def_readonly("unit", &model::Model::unit)
      .def_property_readonly("complexity", &model::Model::complexity)
      .def("predict_one",
           [](const model::Model& self, const Network& n) {
             return PredictionResult{model_tag(self), model::predict_network(self, *n.features)};
           })
      .def(
          "predict_many",
          [](const model::Model& self, const py::list& items, int threads, bool keep_layers) {
            // Copy what each item names out of Python first; then import, passes, features and model run on
            // every core without the GIL.
            // The prototxt texts are read in place without the GIL: a tuple keeps every item alive even if
            // another thread changes the list meanwhile.
            const py::tuple keep(items);
            std::vector<std::variant<Source, std::shared_ptr<const NetworkFeatures>>> inputs;
            inputs.reserve(items.size());
            for (size_t i = 0; i < keep.size(); ++i) {
              py::handle item = keep[i];
              if (py::isinstance<Network>(item))
                inputs.emplace_back(item.cast<const Network&>().features);
              else
                inputs.emplace_back(to_source(item, fmt::format("<network {}>", i)));
            }
            std::vector<model::NetworkPrediction> preds;
            {
              py::gil_scoped_release release;
              preds = model::predict_networks(
                  self, inputs.size(),
                  [&](size_t i) {
                    if (const auto* f = std::get_if<std::shared_ptr<const NetworkFeatures>>(&inputs[i]))
                      return **f;
                    return features_of(load_source(std::get<Source>(inputs[i])));
                  },
                  threads, keep_layers);
            }
            const auto tag = model_tag(self);
            py::list out(preds.size());
            for (size_t i = 0; i < preds.size(); ++i)
              out[i] = py::cast(PredictionResult{tag, std::move(preds[i])});
            return out;
          },
          py::arg("items"), py::arg("threads") = 0, py::arg("layers") = true);
}

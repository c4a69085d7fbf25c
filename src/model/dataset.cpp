// Loading measurement tables into samples (see dataset.h).
#include "model/dataset.h"

#include "util/checked.h"
#include "util/error.h"
#include "zoo/probe.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <unordered_map>

namespace convergy::model {

std::string_view data_kind_name(DataKind k) {
  switch (k) {
    case DataKind::Layers: return "per-layer";
    case DataKind::Networks: return "whole-network";
    case DataKind::Standalone: return "standalone-layer";
  }
  return "?";
}

std::string resolve_network_reference(const std::string& field, const std::string& csv_path) {
  namespace fs = std::filesystem;
  fs::path p(field);
  std::string ext = p.extension().string();
  bool is_file = ext == ".prototxt" || ext == ".onnx" || ext == ".pt" || ext == ".txt" ||
                 field.find('/') != std::string::npos;
  if (!is_file || p.is_absolute()) return field;
  return (fs::path(csv_path).parent_path() / p).lexically_normal().string();
}

LayerFeatures standalone_layer(const CsvTable& csv, size_t row) {
  auto req = [&](const char* name) {
    double v = csv.number(row, csv.require_column(name));
    if (v < 0 || v != std::floor(v) || v > static_cast<double>(global_limits().max_dim))
      throw_bad_input("{}:{}: column \"{}\": {}, expected an integer from 0 to {}", csv.path(), csv.line(row), name,
                      v, limit_text(Limit::Dim));
    return static_cast<int64_t>(v);
  };
  auto opt = [&](const char* name, int64_t fallback) {
    int c = csv.column_index(name);
    if (c < 0) return fallback;
    auto v = csv.optional_number(row, c);
    if (!v) return fallback;
    if (*v < 0 || *v != std::floor(*v) || *v > static_cast<double>(global_limits().max_dim))
      throw_bad_input("{}:{}: column \"{}\": {}, expected an integer from 0 to {}", csv.path(), csv.line(row), name,
                      *v, limit_text(Limit::Dim));
    return static_cast<int64_t>(*v);
  };
  LayerFeatures f;
  f.name = "row " + std::to_string(csv.line(row));
  f.kind = LayerKind::Convolution;
  f.cls = LayerClass::Conv;
  f.batch = opt("batch", 1);
  f.in_c = req("in_c");
  f.in_h = req("in_h");
  f.in_w = req("in_w");
  f.out_c = req("out_c");
  f.kernel_h = req("kernel_h");
  f.kernel_w = req("kernel_w");
  f.stride_h = opt("stride_h", 1);
  f.stride_w = opt("stride_w", 1);
  // The table gives padding per side (PyTorch's `padding`); LayerFeatures holds the sum of both sides.
  f.pad_h = 2 * opt("pad_h", 0);
  f.pad_w = 2 * opt("pad_w", 0);
  f.groups = opt("groups", 1);
  auto fail = [&](const char* what) {
    throw_bad_input("{}:{}: {}, expected a valid convolution", csv.path(), csv.line(row), what);
  };
  if (f.groups < 1 || f.in_c % f.groups != 0 || f.out_c % f.groups != 0) fail("groups do not divide the channels");
  if (f.stride_h < 1 || f.stride_w < 1 || f.kernel_h < 1 || f.kernel_w < 1 || f.batch < 1) fail("zero kernel, stride or batch");
  int64_t oh = (f.in_h + f.pad_h - f.kernel_h) / f.stride_h + 1;
  int64_t ow = (f.in_w + f.pad_w - f.kernel_w) / f.stride_w + 1;
  if (oh < 1 || ow < 1) fail("kernel larger than the padded input");
  f.out_h = opt("out_h", oh);
  f.out_w = opt("out_w", ow);
  if (f.out_h != oh || f.out_w != ow)
    throw_bad_input("{}:{}: out_h x out_w {}x{}, expected {}x{} from the input, kernel, stride and padding", csv.path(),
                    csv.line(row), f.out_h, f.out_w, oh, ow);
  f.depthwise = f.groups > 1 && f.groups == f.in_c;
  auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  // Every size is within the dimension limit, but their products can still pass 64 bits.
  auto mul = [&](std::initializer_list<uint64_t> factors) {
    uint64_t r = 1;
    for (uint64_t v : factors) {
      auto m = checked_mul_u(r, v);
      if (!m) fail("sizes whose MAC or element count does not fit in 64 bits");
      r = *m;
    }
    return r;
  };
  uint64_t per_output = mul({u(f.in_c / f.groups), u(f.kernel_h), u(f.kernel_w)});
  f.macs = mul({u(f.batch), u(f.out_c), u(f.out_h), u(f.out_w), per_output});
  if (int c = csv.column_index("macs"); c >= 0) {
    if (auto v = csv.optional_number(row, c); v && std::abs(*v - static_cast<double>(f.macs)) > 0.5)
      throw_bad_input("{}:{}: column \"macs\": {}, expected {} (out_h*out_w*out_c*kernel_h*kernel_w*in_c/groups)",
                      csv.path(), csv.line(row), *v, f.macs);
  }
  // Weights and bias (every table row is Conv2d with bias=True); FP32 as in the measured runs.
  uint64_t weights = mul({u(f.out_c), per_output, 4});  // 4: the bytes below stay in range too
  f.weight_elems = weights / 4 + u(f.out_c);
  f.params = f.weight_elems;
  f.in_elems = mul({u(f.batch), u(f.in_c), u(f.in_h), u(f.in_w), 4}) / 4;
  f.out_elems = mul({u(f.batch), u(f.out_c), u(f.out_h), u(f.out_w), 4}) / 4;
  f.ops = f.out_elems;  // the ReLU that follows every measured convolution
  f.in_bytes = 4 * f.in_elems;
  f.out_bytes = 4 * f.out_elems;
  f.weight_bytes = 4 * f.weight_elems;
  return f;
}

Dataset load_dataset(const CsvTable& csv, const std::string& target, const NetworkResolver& resolver) {
  if (target != "energy_mj" && target != "time_ms")
    throw_bad_input("--target \"{}\", expected energy_mj or time_ms", target);
  Dataset d;
  d.path = csv.path();
  d.digest = csv.digest();
  d.target = target;
  d.header = csv.header();
  const int target_col = csv.require_column(target);
  const int network_col = csv.column_index("network");
  const int layer_col = csv.column_index("layer");
  const int split_col = csv.column_index("split");
  const int layer_index_col = csv.column_index("layer_index");
  d.kind = network_col < 0 ? DataKind::Standalone : layer_col < 0 ? DataKind::Networks : DataKind::Layers;
  if (layer_col >= 0 && network_col < 0)
    throw_bad_input("{}: a \"layer\" column needs a \"network\" column naming each layer's network", csv.path());
  if (network_col >= 0 && !resolver)
    throw_bad_input("{}: rows name networks, but no network loader is available", csv.path());

  std::unordered_map<std::string, std::shared_ptr<const NetworkFeatures>> cache;
  std::unordered_map<std::string, int> layer_seen;  // "network\nlayer" -> line of its first row
  for (size_t r = 0; r < csv.rows(); ++r) {
    if (d.kind == DataKind::Layers) {
      // `convergy export` writes each whole-network run as a row of its own: not a layer, and summing it with
      // the layers would count the network twice.
      bool whole = csv.text(r, layer_col) == "(network)";
      if (layer_index_col >= 0 && !csv.text(r, layer_index_col).empty()) whole = whole || csv.number(r, layer_index_col) < 0;
      if (whole) {
        ++d.skipped_network_rows;
        continue;
      }
    }
    auto y = csv.optional_number(r, target_col);
    if (!y) {
      ++d.skipped_unmeasured;
      continue;
    }
    if (!(*y > 0))
      throw_bad_input("{}:{}: column \"{}\": {}, expected a value > 0 (relative errors need it)", csv.path(),
                      csv.line(r), target, *y);
    Sample s;
    s.measured = *y;
    s.line = csv.line(r);
    for (size_t c = 0; c < csv.header().size(); ++c) s.columns.push_back(csv.text(r, static_cast<int>(c)));
    if (split_col >= 0) {
      s.split = csv.text(r, split_col);
      if (s.split != "train" && s.split != "test" && !s.split.empty())
        throw_bad_input("{}:{}: column \"split\": \"{}\", expected train or test", csv.path(), s.line, s.split);
    }
    for (const auto& name : counter_columns())
      if (int c = csv.column_index(name); c >= 0)
        if (auto v = csv.optional_number(r, c)) s.extra[name] = *v;
    derive_counter_values(s.extra);
    if (d.kind == DataKind::Standalone) {
      d.own_layers.push_back(std::make_unique<LayerFeatures>(standalone_layer(csv, r)));
      s.layers.push_back(d.own_layers.back().get());
      s.group = "row " + std::to_string(s.line);
      s.label = s.group;
    } else {
      const std::string& field = csv.text(r, network_col);
      if (field.empty()) throw_bad_input("{}:{}: column \"network\" is empty, expected a network file or zoo name", csv.path(), s.line);
      auto& net = cache[field];
      if (!net) {
        try {
          net = resolver(resolve_network_reference(field, csv.path()));
        } catch (const Error& e) {
          throw Error(e.kind(), fmt::format("{}:{}: network \"{}\": {}", csv.path(), s.line, field, e.what()));
        }
        d.networks.push_back(net);
      }
      s.group = field;
      s.network = net.get();
      s.probe = is_probe(field);
      if (d.kind == DataKind::Networks) {
        for (const auto& l : net->layers) s.layers.push_back(&l);
        s.label = field;
      } else {
        const std::string& layer = csv.text(r, layer_col);
        auto [seen, first] = layer_seen.emplace(field + "\n" + layer, s.line);
        if (!first)
          throw_bad_input("{}:{}: layer \"{}\" of network \"{}\" is measured again (first at line {}), expected one "
                          "row per layer: its network would be counted twice; keep one measurement per layer, e.g. "
                          "--where mode=markers or --where kind=aggregate for a `convergy export` file",
                          csv.path(), s.line, layer, field, seen->second);
        const LayerFeatures* found = nullptr;
        for (const auto& l : net->layers)
          if (l.name == layer) found = &l;
        if (!found)
          throw_bad_input("{}:{}: network \"{}\" has no layer \"{}\" after graph passes (fused or removed layers "
                          "carry no cost of their own: add their measurement to the layer they were folded into)",
                          csv.path(), s.line, field, layer);
        s.layers.push_back(found);
        s.label = field + "/" + layer;
      }
    }
    d.samples.push_back(std::move(s));
  }
  if (d.samples.empty()) throw_bad_input("{}: no row has a measured \"{}\"", csv.path(), target);
  return d;
}

void merge_test_data(Dataset& train, Dataset test) {
  if (train.kind != test.kind)
    throw_bad_input("{}: {} rows, expected {} rows like {} (the model is fitted on one and tested on the other)",
                    test.path, data_kind_name(test.kind), data_kind_name(train.kind), train.path);
  if (train.target != test.target)
    throw_bad_input("{}: target {}, expected {} like {}", test.path, test.target, train.target, train.path);
  std::vector<int> from_test;
  for (const auto& h : test.header) {
    auto it = std::find(train.header.begin(), train.header.end(), h);
    if (it == train.header.end()) {
      train.header.push_back(h);
      it = train.header.end() - 1;
    }
    from_test.push_back(static_cast<int>(it - train.header.begin()));
  }
  for (auto& s : train.samples) s.columns.resize(train.header.size());
  for (auto& s : test.samples) {
    std::vector<std::string> cols(train.header.size());
    for (size_t c = 0; c < s.columns.size(); ++c) cols[static_cast<size_t>(from_test[c])] = std::move(s.columns[c]);
    s.columns = std::move(cols);
    s.file = 1;
    train.samples.push_back(std::move(s));
  }
  // The samples point into these; moving the owners keeps the pointers valid.
  for (auto& l : test.own_layers) train.own_layers.push_back(std::move(l));
  for (auto& n : test.networks) train.networks.push_back(std::move(n));
  train.skipped_unmeasured += test.skipped_unmeasured;
  train.skipped_network_rows += test.skipped_network_rows;
  train.test_path = test.path;
}

}  // namespace convergy::model

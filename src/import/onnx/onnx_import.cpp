// The ONNX import driver: validates the model (opset range, the ONNX checker on every node), creates the
// network inputs, runs one registered rule per node, and reports every unsupported node in one error.
#include "import/onnx/onnx_import.h"

#include "import/onnx/onnx_context.h"
#include "import/onnx/onnx_reader.h"
#include "util/error.h"

#include <onnx/checker.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace convergy {
namespace onnx_import {
namespace {

constexpr int kMinOpset = 7, kMaxOpset = 17;

void ensure_rules_registered() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_conv_rules();
    register_pool_rules();
    register_activation_rules();
    register_eltwise_rules();
    register_tensor_rules();
    register_constant_rules();
    register_norm_rules();
  });
}

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

std::string rule_key(const onnx::NodeProto& node) {
  return is_default_domain(node.domain()) ? node.op_type() : node.domain() + "." + node.op_type();
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

int default_opset(const onnx::ModelProto& model, const std::string& path) {
  int opset = -1;
  for (const auto& imp : model.opset_import())
    if (is_default_domain(imp.domain())) opset = static_cast<int>(imp.version());
  if (opset < 0) throw_bad_input("{}: the model imports no opset of the default ONNX domain", path);
  if (opset < kMinOpset || opset > kMaxOpset)
    throw_bad_input("{}: opset {}, convergy reads opsets {} to {}", path, opset, kMinOpset, kMaxOpset);
  return opset;
}

// Nodes whose op type has no rule, all of them at once: a user should see the whole list before converting.
// Listed by op type (a ConvNeXt at opset 13 before convergy read it had 64 such nodes of 3 types), in the
// order of first appearance, each with its count and first node.
void reject_unknown_ops(const onnx::GraphProto& g, const Context& ctx) {
  struct Unknown {
    std::string type, first;
    size_t count = 0;
  };
  std::vector<Unknown> unknown;
  size_t nodes = 0;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& node = g.node(i);
    const std::string key = rule_key(node);
    if (rules().count(key)) continue;
    ++nodes;
    auto it = std::find_if(unknown.begin(), unknown.end(), [&](const Unknown& u) { return u.type == key; });
    if (it == unknown.end())
      unknown.push_back({key, node.name().empty() ? fmt::format("#{}", i) : node.name(), 1});
    else
      ++it->count;
  }
  if (unknown.empty()) return;
  std::vector<std::string> parts;
  for (const Unknown& u : unknown)
    parts.push_back(u.count == 1 ? fmt::format("{} (node \"{}\")", u.type, u.first)
                                 : fmt::format("{} ({} nodes, the first \"{}\")", u.type, u.count, u.first));
  throw_bad_input("{}: {} node(s) of {} op type{} convergy does not read: {}", ctx.path, nodes,
                  unknown.size(), unknown.size() == 1 ? "" : "s", fmt::join(parts, ", "));
}

// The ONNX checker validates every node against its schema (attributes, input counts) at the model's opset.
// It runs per node because check_model would want the weight data this importer deliberately skips.
void check_nodes(const onnx::ModelProto& model, const std::string& path) {
  onnx::checker::CheckerContext ctx;
  ctx.set_ir_version(static_cast<int>(model.ir_version()));
  std::unordered_map<std::string, int> opsets;
  for (const auto& imp : model.opset_import())
    opsets[imp.domain() == "ai.onnx" ? "" : imp.domain()] = static_cast<int>(imp.version());
  ctx.set_opset_imports(opsets);
  onnx::checker::LexicalScopeContext scope;
  const auto& g = model.graph();
  // Each tensor name defined once, before its first use (ONNX graphs are in SSA form, nodes in topological
  // order); check_node checks neither, and a cycle or a second writer would otherwise import as something else.
  std::unordered_map<std::string, std::string> defined_by;  // tensor -> what defines it
  for (const auto& in : g.input()) {
    scope.add(in.name());
    defined_by.emplace(in.name(), "the graph input");
  }
  for (const auto& t : g.initializer()) {
    scope.add(t.name());
    defined_by.emplace(t.name(), "an initializer");
  }
  for (const auto& t : g.sparse_initializer()) defined_by.emplace(t.values().name(), "an initializer");
  std::unordered_set<std::string> node_outputs;
  for (const auto& node : g.node()) node_outputs.insert(node.output().begin(), node.output().end());
  for (const auto& node : g.node()) {
    for (const auto& in : node.input()) {
      if (in.empty() || defined_by.count(in)) continue;
      if (node_outputs.count(in))
        throw_bad_input("{}: node \"{}\" ({}): input \"{}\" is produced by this node or a later one, expected nodes in "
                        "topological order (a graph with a cycle has none)",
                        path, node.name(), node.op_type(), in);
      throw_bad_input("{}: node \"{}\" ({}): input \"{}\" is defined nowhere, expected the output of an earlier node, "
                      "a graph input or an initializer",
                      path, node.name(), node.op_type(), in);
    }
    try {
      onnx::checker::check_node(node, ctx, scope);
    } catch (const std::exception& e) {
      throw_bad_input("{}: node \"{}\" ({}): {}", path, node.name(), node.op_type(), one_line(e.what()));
    }
    for (const auto& out : node.output()) {
      if (out.empty()) continue;  // an optional output left out
      auto [it, fresh] = defined_by.emplace(out, fmt::format("node \"{}\"", node.name()));
      if (!fresh)
        throw_bad_input("{}: node \"{}\" ({}): output \"{}\" is already defined by {}, expected each tensor to "
                        "be defined once",
                        path, node.name(), node.op_type(), out, it->second);
      scope.add(out);
    }
  }
}

DataType input_dtype(int32_t elem_type, const std::string& path, const std::string& name) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT:
      return DataType::F32;
    case onnx::TensorProto::FLOAT16:
      return DataType::F16;
    case onnx::TensorProto::INT8:
      return DataType::I8;
    case onnx::TensorProto::INT32:
      return DataType::I32;
    case onnx::TensorProto::INT64:
      return DataType::I64;
    default:
      throw_bad_input("{}: input \"{}\" has element type {}, expected float, float16, int8, int32 or int64",
                      path, name, elem_type);
  }
}

void add_inputs(Context& ctx, const onnx::GraphProto& g, const LoadOptions& options) {
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& in : g.input())
    if (!ctx.has_value(in.name())) inputs.push_back(&in);  // an input with an initializer is a weight
  if (inputs.empty()) throw_bad_input("{}: the graph has no inputs", ctx.path);
  std::vector<std::string> names;
  for (const auto* in : inputs) names.push_back(in->name());
  // --input-shape values: a bare shape (empty name) applies to the first input.
  std::unordered_map<std::string, Shape> given;
  for (const auto& [name, shape] : options.input_shapes) {
    const std::string& key = name.empty() ? names.front() : name;
    if (std::find(names.begin(), names.end(), key) == names.end())
      throw_bad_input("{}: the input shape given names \"{}\", but the model's inputs are {}", ctx.path, key,
                      fmt::join(names, ", "));
    given[key] = shape;
  }
  for (const auto* in : inputs) {
    const auto& type = in->type();
    if (!type.has_tensor_type()) throw_bad_input("{}: input \"{}\" is not a tensor", ctx.path, in->name());
    const auto& tt = type.tensor_type();
    const DataType dtype = input_dtype(tt.elem_type(), ctx.path, in->name());
    Shape shape;
    auto it = given.find(in->name());
    if (it != given.end()) {
      shape = it->second;
      if (tt.has_shape() && tt.shape().dim_size() != shape.rank())
        throw_bad_input("{}: the input shape given, {}={}, has rank {}, but the model declares rank {}",
                        ctx.path, in->name(), shape.str(), shape.rank(), tt.shape().dim_size());
    } else {
      if (!tt.has_shape())
        throw_bad_input("{}: input \"{}\" has no shape; give one with --input-shape {}=NxCxHxW", ctx.path,
                        in->name(), in->name());
      for (int i = 0; i < tt.shape().dim_size(); ++i) {
        const auto& d = tt.shape().dim(i);
        if (d.has_dim_value() && d.dim_value() > 0) {
          shape.dims.push_back(d.dim_value());
        } else if (i == 0) {
          shape.dims.push_back(1);  // a symbolic or unknown batch defaults to 1
        } else if (d.has_dim_value()) {
          throw_bad_input("{}: input \"{}\": dimension {} is {}, expected >= 1", ctx.path, in->name(), i,
                          d.dim_value());
        } else {
          throw_bad_input(
              "{}: input \"{}\": dimension {} (\"{}\") is unknown; give it with --input-shape {}=...",
              ctx.path, in->name(), i, d.dim_param(), in->name());
        }
      }
      if (shape.rank() == 0)
        throw_bad_input("{}: input \"{}\" is a scalar, expected a tensor", ctx.path, in->name());
    }
    BlobId id = ctx.graph.add_input(in->name(), shape, dtype, ctx.path);
    ctx.set_value(in->name(), Value{id, nullptr});
  }
}

// Single-range Slice layers that read the same blob along the same axis and tile it exactly (torch writes
// chunk() this way from opset 11) become one Slice with several outputs, as Caffe's Slice and ONNX's Split.
Graph merge_sibling_slices(const Graph& g) {
  std::map<std::pair<BlobId, int>, std::vector<LayerId>> groups;
  for (LayerId id = 0; id < g.num_layers(); ++id) {
    const Layer& l = g.layer(id);
    if (l.kind == LayerKind::Slice && l.inputs.size() == 1 && l.outputs.size() == 1 &&
        l.p<SliceParams>().step == 1)
      groups[{l.inputs[0], l.p<SliceParams>().axis}].push_back(id);
  }
  std::map<LayerId, std::vector<LayerId>> merged_at;  // earliest member -> members by range
  std::unordered_set<LayerId> dropped;
  for (auto& [key, members] : groups) {
    if (members.size() < 2) continue;
    auto begin_of = [&](LayerId id) { return g.layer(id).p<SliceParams>().ranges.at(0).first; };
    std::vector<LayerId> by_range = members;
    std::sort(by_range.begin(), by_range.end(),
              [&](LayerId a, LayerId b) { return begin_of(a) < begin_of(b); });
    int64_t next = 0;
    for (LayerId id : by_range) {
      const auto& r = g.layer(id).p<SliceParams>().ranges.at(0);
      next = r.first == next ? r.second : -1;
      if (next < 0) break;
    }
    if (next != g.blob(key.first).shape[key.second]) continue;  // not an exact tiling: leave them alone
    merged_at[members.front()] = by_range;
    dropped.insert(members.begin() + 1, members.end());
  }
  if (merged_at.empty()) return g;

  Graph out(g.name());
  out.set_source(g.source());
  std::vector<BlobId> remap(static_cast<size_t>(g.num_blobs()), -1);
  auto mapped = [&](const std::vector<BlobId>& ids) {
    std::vector<BlobId> r;
    for (BlobId b : ids) r.push_back(remap[static_cast<size_t>(b)]);
    return r;
  };
  for (LayerId id = 0; id < g.num_layers(); ++id) {
    if (dropped.count(id)) continue;
    const Layer& l = g.layer(id);
    if (l.kind == LayerKind::Input) {
      const auto& p = l.p<InputParams>();
      remap[static_cast<size_t>(l.outputs[0])] = out.add_input(l.name, p.shape, p.dtype, l.origin);
      continue;
    }
    auto it = merged_at.find(id);
    if (it == merged_at.end()) {
      std::vector<std::string> names;
      for (BlobId b : l.outputs) names.push_back(g.blob(b).name);
      const LayerId nid = out.add_layer(l.name, l.kind, l.params, mapped(l.inputs), names, l.origin);
      for (size_t i = 0; i < l.outputs.size(); ++i)
        remap[static_cast<size_t>(l.outputs[i])] = out.layer(nid).outputs[i];
      continue;
    }
    SliceParams p;
    p.axis = l.p<SliceParams>().axis;
    std::vector<std::string> names;
    for (LayerId m : it->second) {
      p.ranges.push_back(g.layer(m).p<SliceParams>().ranges.at(0));
      names.push_back(g.blob(g.layer(m).outputs[0]).name);
    }
    const LayerId nid = out.add_layer(l.name, LayerKind::Slice, p, mapped(l.inputs), names, l.origin);
    for (size_t i = 0; i < it->second.size(); ++i)
      remap[static_cast<size_t>(g.layer(it->second[i]).outputs[0])] = out.layer(nid).outputs[i];
  }
  for (BlobId b : g.outputs()) out.mark_output(remap[static_cast<size_t>(b)]);
  return out;
}

}  // namespace

Graph import_model(const LightModel& light, const std::string& path, const LoadOptions& options) {
  ensure_rules_registered();
  const onnx::ModelProto& model = light.model;
  const onnx::GraphProto& g = model.graph();
  const int opset = default_opset(model, path);

  std::string name = g.name();
  if (name.empty()) name = std::filesystem::path(path).stem().string();
  Graph graph(name);
  graph.set_source(path);
  Context ctx(graph, g, path, opset);

  reject_unknown_ops(g, ctx);
  check_nodes(model, path);

  for (const auto& t : g.initializer()) {
    ConstTensor c = tensor_from_proto(t, light.stripped.count(t.name()) > 0, path);
    c.learned_elems = c.elems();
    ctx.set_constant(t.name(), std::move(c));
  }
  for (const auto& t : g.sparse_initializer()) {
    ConstTensor c;
    c.dims.assign(t.dims().begin(), t.dims().end());
    c.elem_type = t.values().data_type();
    c.learned_elems = c.elems();  // learned like a dense one
    ctx.set_constant(t.values().name(), std::move(c));
  }
  add_inputs(ctx, g, options);

  // Nodes whose form a rule cannot map; their outputs are "poisoned" so dependants are skipped, not reported.
  std::vector<std::string> problems;
  std::unordered_set<std::string> poisoned;
  for (int i = 0; i < g.node_size(); ++i) {
    if (ctx.absorbed(i)) continue;
    const auto& node = g.node(i);
    bool skip = false;
    for (const auto& in : node.input()) skip = skip || poisoned.count(in) > 0;
    if (!skip) {
      try {
        rules().at(rule_key(node))(ctx, node);
      } catch (const Unsupported& u) {
        problems.push_back(fmt::format("{}: {}", ctx.node_label(node), u.reason));
        skip = true;
      } catch (const Error& e) {
        // Shared code (Shape::elems, for one) does not know the file and node; say them.
        if (e.kind() != ErrorKind::BadInput || std::string_view(e.what()).starts_with(path + ":")) throw;
        throw_bad_input("{}: {}", ctx.origin(node), e.what());
      }
    }
    if (skip)
      for (const auto& out : node.output()) poisoned.insert(out);
  }
  if (!problems.empty())
    throw_bad_input("{}: {} node(s) convergy cannot map: {}", path, problems.size(),
                    fmt::join(problems, "; "));

  bool any_output = false;
  for (const auto& out : g.output()) {
    const Value& v = ctx.value(out.name());
    if (!v.is_blob()) continue;  // a constant output needs no computation
    graph.mark_output(v.blob);
    any_output = true;
  }
  if (!any_output) throw_bad_input("{}: no graph output depends on a network input", path);
  return merge_sibling_slices(graph);
}

}  // namespace onnx_import

Graph import_onnx_file(const std::string& path, const LoadOptions& options) {
  return onnx_import::import_model(onnx_import::read_light_model_file(path), path, options);
}

Graph import_onnx_bytes(std::string_view bytes, const std::string& name, const LoadOptions& options) {
  return onnx_import::import_model(onnx_import::read_light_model(bytes, name), name, options);
}

}  // namespace convergy

// Value bookkeeping, attribute access and tensor decoding shared by every ONNX op rule.
#include "import/onnx/onnx_context.h"

#include "util/checked.h"
#include "util/error.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace convergy::onnx_import {

int64_t ConstTensor::elems() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // dims were checked against the limits when the tensor was made
  return n;
}

bool ConstTensor::is_integer() const {
  return elem_type != onnx::TensorProto::FLOAT && elem_type != onnx::TensorProto::DOUBLE &&
         elem_type != onnx::TensorProto::FLOAT16 && elem_type != onnx::TensorProto::BFLOAT16;
}

void ConstTensor::push(double v) {
  if (is_integer())
    ints.push_back(folded_int(v));
  else
    reals.push_back(v);
}

void unsupported(std::string reason) { throw Unsupported{std::move(reason)}; }

namespace {
// 2^63 is exact in a double; every double in [-2^63, 2^63) truncates to a valid int64 (NaN is outside).
bool fits_int64(double v) {
  constexpr double kLimit = 9223372036854775808.0;
  return v >= -kLimit && v < kLimit;
}
}  // namespace

int64_t folded_int(double v) {
  if (!fits_int64(v)) unsupported(fmt::format("folding constants gives {}, outside the range of a 64-bit integer", v));
  return static_cast<int64_t>(v);
}

Context::Context(Graph& g, const onnx::GraphProto& og, std::string p, int op)
    : graph(g), onnx_graph(og), path(std::move(p)), opset(op) {
  for (int i = 0; i < og.node_size(); ++i) {
    const auto& node = og.node(i);
    node_index_[&node] = i;
    for (const auto& in : node.input())
      if (!in.empty()) consumers_[in].push_back(i);
    for (const auto& out : node.output())
      if (!out.empty()) producers_[out] = i;
  }
  for (const auto& out : og.output()) graph_outputs_.insert(out.name());
}

const Value& Context::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end())
    throw_bad_input("{}: tensor \"{}\" is used before any node, input or initializer defines it", path, name);
  return it->second;
}

void Context::set_value(const std::string& name, Value v) {
  if (!name.empty()) values_[name] = std::move(v);
}

bool Context::has_input(const onnx::NodeProto& node, int i) const {
  return i < node.input_size() && !node.input(i).empty();
}

const Value& Context::input(const onnx::NodeProto& node, int i) const {
  if (!has_input(node, i)) throw_bad_input("{}: input {} is missing", origin(node), i);
  return value(node.input(i));
}

BlobId Context::blob_input(const onnx::NodeProto& node, int i) const {
  const Value& v = input(node, i);
  if (!v.is_blob())
    unsupported(fmt::format("input {} (\"{}\") is a constant, expected a runtime tensor", i, node.input(i)));
  return v.blob;
}

const ConstTensor& Context::const_input(const onnx::NodeProto& node, int i) const {
  const Value& v = input(node, i);
  if (v.is_blob())
    unsupported(
        fmt::format("input {} (\"{}\") is computed at run time, expected a constant", i, node.input(i)));
  return *v.constant;
}

std::vector<int64_t> Context::const_ints(const onnx::NodeProto& node, int i) const {
  const ConstTensor& t = const_input(node, i);
  if (!t.has_data)
    unsupported(
        fmt::format("input {} (\"{}\") has no data in the file (external or too large)", i, node.input(i)));
  if (t.is_integer()) return t.ints;
  std::vector<int64_t> out;
  for (double d : t.reals) {
    if (!fits_int64(d))
      unsupported(fmt::format("input {} (\"{}\") holds {}, expected whole numbers", i, node.input(i), d));
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

LayerId Context::add_layer(const onnx::NodeProto& node, LayerKind kind, LayerParams params,
                           std::vector<BlobId> inputs, const std::vector<std::string>& output_names,
                           const std::vector<const ConstTensor*>& weights) {
  std::string base =
      node.name().empty() ? fmt::format("{}_{}", node.op_type(), node_index_.at(&node)) : node.name();
  LayerId id = graph.add_layer(unique_layer_name(base), kind, std::move(params), std::move(inputs),
                               output_names, origin(node));
  const Layer& layer = graph.layer(id);
  int64_t declared = 0, stored = 0;
  for (const auto& w : layer.weights) declared += w.shape.elems();
  std::vector<std::string> shapes;
  for (const ConstTensor* w : weights) {
    stored += w->elems();
    shapes.push_back(Shape(w->dims).str());
  }
  if (declared != stored)
    throw_bad_input("{}: the weights ({}) have {} elements, but a {} of this shape needs {}", origin(node),
                    fmt::join(shapes, ", "), stored, layer_kind_name(kind), declared);
  for (size_t i = 0; i < output_names.size(); ++i)
    set_value(output_names[i], Value{layer.outputs.at(i), nullptr});
  return id;
}

std::string Context::unique_layer_name(const std::string& base) const {
  std::string name = base;
  for (int k = 2; graph.find_layer(name) >= 0; ++k) name = fmt::format("{}_{}", base, k);
  return name;
}

BlobId Context::tensor_input(const onnx::NodeProto& node, int i) {
  const Value& v = input(node, i);
  if (v.is_blob()) return v.blob;
  const ConstTensor& c = *v.constant;
  const std::string& name = node.input(i);
  if (auto it = constant_blobs_.find(name); it != constant_blobs_.end()) return it->second;
  if (c.is_integer())
    unsupported(fmt::format("input {} (\"{}\") is an integer constant; runtime tensors are float", i, name));
  ConstantParams p;
  p.shape = Shape(c.dims.empty() ? std::vector<int64_t>{1} : c.dims);  // a scalar broadcasts as 1 value
  p.value_shape = c.stored_dims.empty() ? p.shape : Shape(c.stored_dims);
  p.learned = std::min(c.learned_elems, p.value_shape.elems());
  const LayerId id =
      graph.add_layer(unique_layer_name(name), LayerKind::Constant, p, {}, {name}, origin(node));
  const BlobId blob = graph.layer(id).outputs.at(0);
  constant_blobs_[name] = blob;
  return blob;
}

void require_constant_inputs(const Context& ctx, const onnx::NodeProto& node, const std::string& what) {
  for (int i = 0; i < node.input_size(); ++i)
    if (ctx.input(node, i).is_blob()) unsupported(what);
}

void Context::set_constant(const std::string& name, ConstTensor t) {
  t.name = name;
  set_value(name, Value{-1, std::make_shared<const ConstTensor>(std::move(t))});
}

int Context::sole_consumer(const std::string& name) const {
  if (graph_outputs_.count(name)) return -1;
  auto it = consumers_.find(name);
  if (it == consumers_.end() || it->second.size() != 1) return -1;
  return it->second.front();
}

const std::vector<int>& Context::consumers(const std::string& name) const {
  static const std::vector<int> none;
  auto it = consumers_.find(name);
  return it == consumers_.end() ? none : it->second;
}

bool Context::feeds_gemm(const std::string& name) const {
  const int next = sole_consumer(name);
  if (next < 0) return false;
  const auto& gemm = node_at(next);
  return gemm.op_type() == "Gemm" && gemm.domain().empty() && gemm.input(0) == name &&
         attr_int(gemm, "transA", 0) == 0;
}

bool Context::used(const std::string& name) const {
  return !name.empty() && (graph_outputs_.count(name) > 0 || consumers_.count(name) > 0);
}

int Context::producer(const std::string& name) const {
  auto it = producers_.find(name);
  return it == producers_.end() ? -1 : it->second;
}

std::string Context::node_label(const onnx::NodeProto& node) const {
  std::string name = node.name().empty() ? fmt::format("#{}", node_index_.at(&node)) : node.name();
  return fmt::format("\"{}\" ({})", name, node.op_type());
}

std::string Context::origin(const onnx::NodeProto& node) const {
  return fmt::format("{}: node {}", path, node_label(node));
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& node, std::string_view name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t attr_int(const onnx::NodeProto& node, std::string_view name, int64_t fallback) {
  const auto* a = find_attr(node, name);
  return a ? a->i() : fallback;
}

float attr_float(const onnx::NodeProto& node, std::string_view name, float fallback) {
  const auto* a = find_attr(node, name);
  return a ? a->f() : fallback;
}

std::string attr_string(const onnx::NodeProto& node, std::string_view name, std::string fallback) {
  const auto* a = find_attr(node, name);
  return a ? a->s() : fallback;
}

std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& node, std::string_view name) {
  const auto* a = find_attr(node, name);
  if (!a) return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

int normalize_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank)
    unsupported(fmt::format("axis {} is out of range for rank {}", axis, rank));
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<int64_t> broadcast_dims(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1)
      unsupported(fmt::format("shapes {} and {} do not broadcast", Shape(a).str(), Shape(b).str()));
    out[i] = da == 1 ? db : da;  // 1 broadcasts to 0 as numpy does
  }
  return out;
}

double broadcast_value(const ConstTensor& t, const std::vector<int64_t>& out_dims, int64_t flat) {
  // Map the output index to t's index, axis by axis from the last.
  const size_t rank = out_dims.size(), offset = rank - t.dims.size();
  int64_t src = 0, stride = 1;
  for (size_t k = rank; k-- > 0;) {
    const int64_t idx = flat % out_dims[k];
    flat /= out_dims[k];
    if (k >= offset) {
      const int64_t d = t.dims[k - offset];
      src += (d == 1 ? 0 : idx) * stride;
      stride *= d;
    }
  }
  return t.is_integer() ? static_cast<double>(t.ints[static_cast<size_t>(src)])
                        : t.reals[static_cast<size_t>(src)];
}

namespace {

float half_to_float(uint16_t h) {
  int exponent = (h >> 10) & 0x1f;
  int mantissa = h & 0x3ff;
  float value;
  if (exponent == 0)
    value = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    value = mantissa ? NAN : INFINITY;
  else
    value = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  return (h & 0x8000) ? -value : value;
}

template <typename T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // x86 and ARM are little-endian, as ONNX raw_data is
  return v;
}

}  // namespace

ConstTensor tensor_from_proto(const onnx::TensorProto& t, bool stripped, const std::string& path) {
  ConstTensor out;
  out.name = t.name();
  out.elem_type = t.data_type();
  for (int64_t d : t.dims()) {
    if (d < 0 || d > global_limits().max_dim)
      throw_bad_input("{}: tensor \"{}\": dimension {}, expected 0 to {}", path, t.name(), d, limit_text(Limit::Dim));
    out.dims.push_back(d);
  }
  int64_t n = Shape(out.dims).elems();
  if (stripped || t.data_location() == onnx::TensorProto::EXTERNAL) return out;
  // Only small tensors reach here with data (see kKeepDataBytes), so decoding them is cheap.
  const std::string& raw = t.raw_data();
  bool has_raw = t.has_raw_data();
  auto need = [&](size_t count) {
    if (static_cast<int64_t>(count) != n)
      throw_bad_input("{}: tensor \"{}\" of shape {} holds {} values, expected {}", path, t.name(),
                      Shape(out.dims).str(), count, n);
  };
  auto raw_values = [&](size_t width, auto decode) {
    if (raw.size() % width != 0)
      throw_bad_input("{}: tensor \"{}\": raw_data of {} bytes is not a multiple of {}", path, t.name(),
                      raw.size(), width);
    need(raw.size() / width);
    for (size_t i = 0; i < raw.size(); i += width) decode(raw.data() + i);
  };
  using TP = onnx::TensorProto;
  switch (t.data_type()) {
    case TP::FLOAT:
      if (has_raw)
        raw_values(4, [&](const char* p) { out.reals.push_back(load_le<float>(p)); });
      else {
        need(static_cast<size_t>(t.float_data_size()));
        out.reals.assign(t.float_data().begin(), t.float_data().end());
      }
      break;
    case TP::DOUBLE:
      if (has_raw)
        raw_values(8, [&](const char* p) { out.reals.push_back(load_le<double>(p)); });
      else {
        need(static_cast<size_t>(t.double_data_size()));
        out.reals.assign(t.double_data().begin(), t.double_data().end());
      }
      break;
    case TP::FLOAT16:
      if (has_raw)
        raw_values(2, [&](const char* p) { out.reals.push_back(half_to_float(load_le<uint16_t>(p))); });
      else {
        need(static_cast<size_t>(t.int32_data_size()));
        for (int32_t bits : t.int32_data()) out.reals.push_back(half_to_float(static_cast<uint16_t>(bits)));
      }
      break;
    case TP::INT64:
      if (has_raw)
        raw_values(8, [&](const char* p) { out.ints.push_back(load_le<int64_t>(p)); });
      else {
        need(static_cast<size_t>(t.int64_data_size()));
        out.ints.assign(t.int64_data().begin(), t.int64_data().end());
      }
      break;
    case TP::UINT64:
      if (has_raw)
        raw_values(8, [&](const char* p) { out.ints.push_back(static_cast<int64_t>(load_le<uint64_t>(p))); });
      else {
        need(static_cast<size_t>(t.uint64_data_size()));
        for (uint64_t v : t.uint64_data()) out.ints.push_back(static_cast<int64_t>(v));
      }
      break;
    case TP::INT32:
    case TP::INT16:
    case TP::INT8:
    case TP::UINT8:
    case TP::UINT16:
    case TP::BOOL:
      if (has_raw) {
        switch (t.data_type()) {
          case TP::INT32:
            raw_values(4, [&](const char* p) { out.ints.push_back(load_le<int32_t>(p)); });
            break;
          case TP::INT16:
            raw_values(2, [&](const char* p) { out.ints.push_back(load_le<int16_t>(p)); });
            break;
          case TP::UINT16:
            raw_values(2, [&](const char* p) { out.ints.push_back(load_le<uint16_t>(p)); });
            break;
          case TP::INT8:
            raw_values(1, [&](const char* p) { out.ints.push_back(load_le<int8_t>(p)); });
            break;
          default:
            raw_values(1, [&](const char* p) { out.ints.push_back(load_le<uint8_t>(p)); });
            break;
        }
      } else {
        need(static_cast<size_t>(t.int32_data_size()));
        out.ints.assign(t.int32_data().begin(), t.int32_data().end());
      }
      break;
    case TP::UINT32:
      if (has_raw)
        raw_values(4, [&](const char* p) { out.ints.push_back(load_le<uint32_t>(p)); });
      else {
        need(static_cast<size_t>(t.uint64_data_size()));
        for (uint64_t v : t.uint64_data()) out.ints.push_back(static_cast<int64_t>(v));
      }
      break;
    default:
      return out;  // strings, complex, bfloat16: never needed for shapes
  }
  out.has_data = true;
  return out;
}

std::map<std::string, OpRule>& rules() {
  static std::map<std::string, OpRule> table;
  return table;
}

}  // namespace convergy::onnx_import

namespace convergy::onnx_import {

std::array<int64_t, 2> attr_pair(const Context& ctx, const onnx::NodeProto& node, std::string_view name,
                                 int64_t fallback) {
  auto v = attr_ints(node, name);
  if (!v) return {fallback, fallback};
  if (v->size() != 2)
    throw_bad_input("{}: attribute {} has {} values, expected 2 for a 2-D operation", ctx.origin(node), name,
                    v->size());
  return {(*v)[0], (*v)[1]};
}

std::array<int64_t, 4> spatial_pads(const Context& ctx, const onnx::NodeProto& node, const Shape& input,
                                    int64_t extent_h, int64_t extent_w, int64_t stride_h, int64_t stride_w) {
  std::string mode = attr_string(node, "auto_pad", "NOTSET");
  if (mode == "NOTSET" || mode.empty()) {
    auto pads = attr_ints(node, "pads");
    if (!pads) return {0, 0, 0, 0};
    if (pads->size() != 4)
      throw_bad_input("{}: attribute pads has {} values, expected 4 (top, left, bottom, right)",
                      ctx.origin(node), pads->size());
    for (int64_t p : *pads)
      if (p < 0) throw_bad_input("{}: pad {}, expected >= 0", ctx.origin(node), p);
    return {(*pads)[0], (*pads)[1], (*pads)[2], (*pads)[3]};
  }
  if (mode == "VALID") return {0, 0, 0, 0};
  if (mode != "SAME_UPPER" && mode != "SAME_LOWER")
    throw_bad_input("{}: auto_pad \"{}\", expected NOTSET, VALID, SAME_UPPER or SAME_LOWER", ctx.origin(node),
                    mode);
  if (stride_h < 1 || stride_w < 1) throw_bad_input("{}: stride < 1", ctx.origin(node));
  // SAME keeps ceil(in / stride) outputs; the odd pixel of padding goes to the end (UPPER) or begin (LOWER).
  auto split = [&](int64_t size, int64_t extent, int64_t stride) -> std::pair<int64_t, int64_t> {
    int64_t out = (size + stride - 1) / stride;
    int64_t total = std::max<int64_t>(0, (out - 1) * stride + extent - size);
    int64_t small = total / 2, large = total - small;
    return mode == "SAME_UPPER" ? std::pair{small, large} : std::pair{large, small};
  };
  auto [top, bottom] = split(input.h(), extent_h, stride_h);
  auto [left, right] = split(input.w(), extent_w, stride_w);
  return {top, left, bottom, right};
}

}  // namespace convergy::onnx_import

// ONNX rules that fold to constants: Constant, ConstantOfShape, Shape, Gather, Expand, Cast, Identity, Range,
// ScatterND.
// Exporters compute reshape targets with these; convergy knows every shape, so they never become layers. The
// exceptions read a runtime tensor: Gather of one index (-> Slice) and Expand to the tensor's own shape.
#include "import/onnx/onnx_context.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>

namespace convergy::onnx_import {
namespace {

void constant_rule(Context& ctx, const onnx::NodeProto& node) {
  ConstTensor t;
  if (const auto* a = find_attr(node, "value")) {
    t = tensor_from_proto(a->t(), false, ctx.path);
  } else if (const auto* f = find_attr(node, "value_float")) {
    t.elem_type = onnx::TensorProto::FLOAT;
    t.reals = {f->f()};
    t.has_data = true;
  } else if (const auto* fs = find_attr(node, "value_floats")) {
    t.elem_type = onnx::TensorProto::FLOAT;
    t.dims = {fs->floats_size()};
    t.reals.assign(fs->floats().begin(), fs->floats().end());
    t.has_data = true;
  } else if (const auto* i = find_attr(node, "value_int")) {
    t.elem_type = onnx::TensorProto::INT64;
    t.ints = {i->i()};
    t.has_data = true;
  } else if (const auto* is = find_attr(node, "value_ints")) {
    t.elem_type = onnx::TensorProto::INT64;
    t.dims = {is->ints_size()};
    t.ints.assign(is->ints().begin(), is->ints().end());
    t.has_data = true;
  } else {
    unsupported("no value attribute convergy reads (sparse or string constants)");
  }
  t.learned_elems = t.elems();
  ctx.set_constant(node.output(0), std::move(t));
}

void constant_of_shape_rule(Context& ctx, const onnx::NodeProto& node) {
  ConstTensor t;
  t.dims = ctx.const_ints(node, 0);
  for (int64_t d : t.dims)
    if (d < 0) throw_bad_input("{}: dimension {} is negative", ctx.origin(node), d);
  ConstTensor fill;
  fill.elem_type = onnx::TensorProto::FLOAT;
  fill.reals = {0.0};
  fill.has_data = true;
  if (const auto* a = find_attr(node, "value")) fill = tensor_from_proto(a->t(), false, ctx.path);
  t.elem_type = fill.elem_type;
  const int64_t n = Shape(t.dims).elems();
  if (fill.has_data && fill.elems() == 1 && n <= kMaxFoldedElems) {
    if (fill.is_integer())
      t.ints.assign(static_cast<size_t>(n), fill.ints[0]);
    else
      t.reals.assign(static_cast<size_t>(n), fill.reals[0]);
    t.has_data = true;
  }
  ctx.set_constant(node.output(0), std::move(t));
}

void shape_rule(Context& ctx, const onnx::NodeProto& node) {
  const Value& v = ctx.input(node, 0);
  const std::vector<int64_t> dims = v.is_blob() ? ctx.shape(v.blob).dims : v.constant->dims;
  const auto rank = static_cast<int64_t>(dims.size());
  // Opset 15 added start/end (clamped, negative from the back).
  auto bound = [&](int64_t b) { return std::clamp(b < 0 ? b + rank : b, int64_t{0}, rank); };
  const int64_t start = bound(attr_int(node, "start", 0));
  const int64_t end = bound(attr_int(node, "end", rank));
  ConstTensor t;
  t.elem_type = onnx::TensorProto::INT64;
  for (int64_t i = start; i < end; ++i) t.ints.push_back(dims[static_cast<size_t>(i)]);
  t.dims = {static_cast<int64_t>(t.ints.size())};
  t.has_data = true;
  ctx.set_constant(node.output(0), std::move(t));
}

// Gather of one index from a runtime tensor (ViT's class token, x[:, 0]) -> Slice of that index, then a
// Reshape without the axis when the index is a scalar.
void gather_runtime(Context& ctx, const onnx::NodeProto& node) {
  const BlobId x = ctx.input(node, 0).blob;
  const Shape s = ctx.shape(x);  // a copy: adding layers below may move the graph's blobs
  const ConstTensor& indices = ctx.const_input(node, 1);
  if (indices.elems() != 1 || !indices.has_data || !indices.is_integer())
    unsupported("gathers more than one index of a runtime tensor");
  const int axis = normalize_axis(attr_int(node, "axis", 0), s.rank());
  const int64_t size = s[axis];
  int64_t index = indices.ints[0];
  if (index < -size || index >= size)
    throw_bad_input("{}: index {} is out of range for an axis of size {}", ctx.origin(node), index, size);
  if (index < 0) index += size;
  SliceParams slice;
  slice.axis = axis;
  slice.ranges.emplace_back(index, index + 1);
  if (!indices.dims.empty()) {  // a 1-element index tensor keeps the axis
    ctx.add_layer(node, LayerKind::Slice, slice, {x}, {node.output(0)});
    return;
  }
  const std::string sliced = node.output(0) + "/slice";
  ctx.add_layer(node, LayerKind::Slice, slice, {x}, {sliced});
  ReshapeParams reshape;
  reshape.dims = s.dims;
  reshape.dims.erase(reshape.dims.begin() + axis);
  ctx.add_layer(node, LayerKind::Reshape, reshape, {ctx.value(sliced).blob}, {node.output(0)});
}

void gather_rule(Context& ctx, const onnx::NodeProto& node) {
  if (ctx.input(node, 0).is_blob()) return gather_runtime(ctx, node);
  const ConstTensor& data = ctx.const_input(node, 0);
  const ConstTensor& indices = ctx.const_input(node, 1);
  const int rank = static_cast<int>(data.dims.size());
  const int axis = normalize_axis(attr_int(node, "axis", 0), rank);
  const int64_t axis_size = data.dims[static_cast<size_t>(axis)];
  ConstTensor out;
  out.elem_type = data.elem_type;
  out.learned_elems = data.learned_elems;
  out.dims.assign(data.dims.begin(), data.dims.begin() + axis);
  out.dims.insert(out.dims.end(), indices.dims.begin(), indices.dims.end());
  out.dims.insert(out.dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  if (data.has_data && indices.has_data && out.elems() <= kMaxFoldedElems) {
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; ++k) outer *= data.dims[static_cast<size_t>(k)];
    for (int k = axis + 1; k < rank; ++k) inner *= data.dims[static_cast<size_t>(k)];
    std::vector<int64_t> idx = indices.is_integer() ? indices.ints : std::vector<int64_t>{};
    if (!indices.is_integer()) unsupported("indices are not integers");
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i : idx) {
        if (i < -axis_size || i >= axis_size)
          throw_bad_input("{}: index {} is out of range for an axis of size {}", ctx.origin(node), i,
                          axis_size);
        const int64_t row = i < 0 ? i + axis_size : i;
        for (int64_t j = 0; j < inner; ++j) {
          const auto src = static_cast<size_t>((o * axis_size + row) * inner + j);
          if (data.is_integer())
            out.ints.push_back(data.ints[src]);
          else
            out.reals.push_back(data.reals[src]);
        }
      }
    out.has_data = true;
  }
  ctx.set_constant(node.output(0), std::move(out));
}

// Expand of a constant folds (ViT's class token expanded to the batch); the result remembers the stored
// tensor, so a Constant layer made from it stores the token once. Expand of a runtime tensor to a shape it
// already has is the identity; other forms are unsupported.
void expand_rule(Context& ctx, const onnx::NodeProto& node) {
  const std::vector<int64_t> target = ctx.const_ints(node, 1);
  const Value& v = ctx.input(node, 0);
  if (v.is_blob()) {
    const Shape& s = ctx.shape(v.blob);
    if (broadcast_dims(s.dims, target) != s.dims)
      unsupported("broadcasts a runtime tensor to a larger shape");
    ctx.set_value(node.output(0), v);
    return;
  }
  const ConstTensor& in = *v.constant;
  ConstTensor out;
  out.elem_type = in.elem_type;
  out.dims = broadcast_dims(in.dims, target);
  out.stored_dims = in.stored_dims.empty() ? in.dims : in.stored_dims;
  out.learned_elems = in.learned_elems;
  const int64_t n = out.elems();
  if (in.has_data && n <= kMaxFoldedElems) {
    for (int64_t i = 0; i < n; ++i) out.push(broadcast_value(in, out.dims, i));
    out.has_data = true;
  }
  ctx.set_constant(node.output(0), std::move(out));
}

void cast_rule(Context& ctx, const onnx::NodeProto& node) {
  const Value& v = ctx.input(node, 0);
  const auto to = static_cast<int32_t>(attr_int(node, "to", onnx::TensorProto::FLOAT));
  if (v.is_blob()) {
    // Runtime tensors are float; a cast to float is the identity, anything else would change the network.
    if (to != onnx::TensorProto::FLOAT) unsupported("casts a runtime tensor to a type other than float");
    ctx.set_value(node.output(0), v);
    return;
  }
  ConstTensor out = *v.constant;
  out.elem_type = to;
  if (out.has_data) {
    if (out.is_integer() && !v.constant->is_integer()) {
      for (double d : v.constant->reals) out.ints.push_back(folded_int(d));
      out.reals.clear();
    } else if (!out.is_integer() && v.constant->is_integer()) {
      for (int64_t i : v.constant->ints) out.reals.push_back(static_cast<double>(i));
      out.ints.clear();
    }
  }
  ctx.set_constant(node.output(0), std::move(out));
}

// Range of constant scalars (Swin's window indices): start, start + delta, ... below limit (above it for a
// negative delta), of the type of start.
void range_rule(Context& ctx, const onnx::NodeProto& node) {
  require_constant_inputs(ctx, node, "Range with a runtime bound");
  const ConstTensor& start = ctx.const_input(node, 0);
  const ConstTensor& limit = ctx.const_input(node, 1);
  const ConstTensor& delta = ctx.const_input(node, 2);
  for (const ConstTensor* t : {&start, &limit, &delta})
    if (t->elems() != 1)
      throw_bad_input("{}: {} has {} elements, expected a scalar", ctx.origin(node), t->name, t->elems());
  if (!start.has_data || !limit.has_data || !delta.has_data)
    unsupported("Range of values not stored in the file");
  auto scalar = [](const ConstTensor& t) {
    return t.is_integer() ? static_cast<double>(t.ints[0]) : t.reals[0];
  };
  const double a = scalar(start), b = scalar(limit), d = scalar(delta);
  if (d == 0) throw_bad_input("{}: delta is 0, expected a non-zero step", ctx.origin(node));
  const double count = std::max(std::ceil((b - a) / d), 0.0);
  if (!std::isfinite(count) || count > static_cast<double>(kMaxFoldedElems))
    unsupported("Range of more than 2^20 values");
  ConstTensor out;
  out.elem_type = start.elem_type;
  out.dims = {static_cast<int64_t>(count)};
  for (int64_t i = 0; i < out.dims[0]; ++i) out.push(a + static_cast<double>(i) * d);
  out.has_data = true;
  ctx.set_constant(node.output(0), std::move(out));
}

// ScatterND into a constant (Swin's attention mask, written window region by region into zeros): a copy of
// the data with each indexed element or slice replaced by its update.
void scatter_nd_rule(Context& ctx, const onnx::NodeProto& node) {
  require_constant_inputs(ctx, node, "ScatterND with a runtime tensor");
  if (attr_string(node, "reduction", "none") != "none") unsupported("ScatterND with a reduction");
  const ConstTensor& data = ctx.const_input(node, 0);
  const ConstTensor& indices = ctx.const_input(node, 1);
  const ConstTensor& updates = ctx.const_input(node, 2);
  ConstTensor out = data;
  out.name.clear();
  out.stored_dims.clear();
  if (!data.has_data || !indices.has_data || !updates.has_data || data.elems() > kMaxFoldedElems ||
      indices.elems() > kMaxFoldedElems) {  // the shape is still known
    out.has_data = false;
    out.reals.clear();
    out.ints.clear();
    ctx.set_constant(node.output(0), std::move(out));
    return;
  }
  if (!indices.is_integer() || indices.dims.empty())
    throw_bad_input("{}: indices must be an integer tensor of rank 1 or more", ctx.origin(node));
  const auto k = static_cast<size_t>(indices.dims.back());
  if (k < 1 || k > data.dims.size())
    throw_bad_input("{}: index tuples of {} values for data of rank {}", ctx.origin(node), k,
                    data.dims.size());
  int64_t slice = 1;  // elements each index tuple addresses
  for (size_t a = k; a < data.dims.size(); ++a) slice *= data.dims[a];
  const int64_t tuples = indices.elems() / static_cast<int64_t>(k);
  if (updates.elems() != tuples * slice)
    throw_bad_input("{}: {} update values, expected {} ({} index tuples of {} elements)", ctx.origin(node),
                    updates.elems(), tuples * slice, tuples, slice);
  if (updates.is_integer() != data.is_integer())
    unsupported("ScatterND of updates of another type than the data");
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t offset = 0;
    for (size_t a = 0; a < k; ++a) {
      const int64_t dim = data.dims[a];
      int64_t i = indices.ints[static_cast<size_t>(t) * k + a];
      if (i < -dim || i >= dim)
        throw_bad_input("{}: index {} is out of range for an axis of size {}", ctx.origin(node), i, dim);
      offset = offset * dim + (i < 0 ? i + dim : i);
    }
    for (int64_t j = 0; j < slice; ++j) {
      const auto dst = static_cast<size_t>(offset * slice + j), src = static_cast<size_t>(t * slice + j);
      if (out.is_integer())
        out.ints[dst] = updates.ints[src];
      else
        out.reals[dst] = updates.reals[src];
    }
  }
  ctx.set_constant(node.output(0), std::move(out));
}

void identity_rule(Context& ctx, const onnx::NodeProto& node) {
  ctx.set_value(node.output(0), ctx.input(node, 0));
}

}  // namespace

void register_constant_rules() {
  rules()["Constant"] = constant_rule;
  rules()["ConstantOfShape"] = constant_of_shape_rule;
  rules()["Shape"] = shape_rule;
  rules()["Gather"] = gather_rule;
  rules()["Expand"] = expand_rule;
  rules()["Cast"] = cast_rule;
  rules()["Identity"] = identity_rule;
  rules()["Range"] = range_rule;
  rules()["ScatterND"] = scatter_nd_rule;
}

}  // namespace convergy::onnx_import

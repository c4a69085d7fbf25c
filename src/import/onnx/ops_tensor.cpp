// ONNX rules for data movement: Concat, Flatten, Reshape, Transpose, Split, Slice, Squeeze, Unsqueeze, Pad.
// On runtime tensors they become layers (the ShuffleNet Reshape-Transpose-Reshape becomes ChannelShuffle; a
// zero Pad before a Conv/AveragePool is folded into its padding); on constants they fold.
#include "import/onnx/onnx_context.h"

#include "util/checked.h"
#include "util/error.h"

#include <algorithm>
#include <numeric>

namespace convergy::onnx_import {
namespace {

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

// Builds `out` (dims already set) by copying element source(index) of `in` for every output multi-index.
template <typename Source>
void gather_values(const ConstTensor& in, ConstTensor& out, Source source) {
  out.elem_type = in.elem_type;
  out.learned_elems = in.learned_elems;
  if (!in.has_data || out.elems() > kMaxFoldedElems) return;
  const int64_t n = out.elems();
  std::vector<int64_t> idx(out.dims.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i;
    for (size_t k = out.dims.size(); k-- > 0;) {
      idx[k] = rest % out.dims[k];
      rest /= out.dims[k];
    }
    const auto src = static_cast<size_t>(source(idx));
    if (in.is_integer())
      out.ints.push_back(in.ints[src]);
    else
      out.reals.push_back(in.reals[src]);
  }
  out.has_data = true;
}

ConstTensor with_dims(const ConstTensor& in, std::vector<int64_t> dims) {
  ConstTensor out = in;
  out.dims = std::move(dims);
  return out;
}

// ONNX Reshape semantics: 0 copies the input dimension (unless allowzero), -1 is inferred.
std::vector<int64_t> resolve_reshape(const std::vector<int64_t>& in, std::vector<int64_t> target,
                                     bool allow_zero) {
  const auto product = checked_product(in);
  if (!product) unsupported(fmt::format("input shape {} has more elements than 64 bits count", Shape(in).str()));
  const int64_t total = *product;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allow_zero) {
      if (i >= in.size())
        unsupported(fmt::format("target dimension {} copies an input axis that does not exist", i));
      target[i] = in[i];
    }
    if (target[i] == -1) {
      if (infer >= 0) unsupported("more than one -1 in the target shape");
      infer = static_cast<int>(i);
    } else if (target[i] < 0) {
      unsupported(fmt::format("target dimension {}", target[i]));
    } else {
      const auto k = checked_mul(known, target[i]);
      if (!k) unsupported(fmt::format("target shape {} has more elements than 64 bits count", Shape(target).str()));
      known = *k;
    }
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      unsupported(fmt::format("cannot reshape {} to {}", Shape(in).str(), Shape(target).str()));
    target[static_cast<size_t>(infer)] = total / known;
  } else if (known != total) {
    unsupported(fmt::format("cannot reshape {} ({} elements) to {} ({} elements)", Shape(in).str(), total,
                            Shape(target).str(), known));
  }
  return target;
}

// Emits a Reshape layer to fixed dims (used for Squeeze, Unsqueeze, Flatten with axis != 1).
void reshape_layer(Context& ctx, const onnx::NodeProto& node, BlobId x, std::vector<int64_t> dims,
                   const std::string& output) {
  ReshapeParams p;
  p.dims = std::move(dims);
  ctx.add_layer(node, LayerKind::Reshape, p, {x}, {output});
}

void concat_rule(Context& ctx, const onnx::NodeProto& node) {
  const int64_t axis_attr = attr_int(node, "axis", 1);
  bool all_const = true;
  for (int i = 0; i < node.input_size(); ++i) {
    const bool c = !ctx.input(node, i).is_blob();
    all_const = all_const && c;
  }
  if (all_const) {
    const ConstTensor& first = ctx.const_input(node, 0);
    const int rank = static_cast<int>(first.dims.size());
    const int axis = normalize_axis(axis_attr, rank);
    ConstTensor out;
    out.elem_type = first.elem_type;
    out.dims = first.dims;
    out.dims[static_cast<size_t>(axis)] = 0;
    bool data = true;
    for (int i = 0; i < node.input_size(); ++i) {
      const ConstTensor& t = ctx.const_input(node, i);
      if (static_cast<int>(t.dims.size()) != rank) unsupported("constants of different rank");
      out.dims[static_cast<size_t>(axis)] += t.dims[static_cast<size_t>(axis)];
      data = data && t.has_data;
    }
    if (data && out.elems() <= kMaxFoldedElems) {
      // Outer blocks before the axis; each input contributes a contiguous run per block.
      int64_t outer = 1;
      for (int k = 0; k < axis; ++k) outer *= first.dims[static_cast<size_t>(k)];
      for (int64_t o = 0; o < outer; ++o)
        for (int i = 0; i < node.input_size(); ++i) {
          const ConstTensor& t = ctx.const_input(node, i);
          const int64_t run = t.elems() / std::max<int64_t>(outer, 1);
          for (int64_t j = 0; j < run; ++j) {
            const auto src = static_cast<size_t>(o * run + j);
            if (out.is_integer())
              out.ints.push_back(t.is_integer() ? t.ints[src] : folded_int(t.reals[src]));
            else
              out.reals.push_back(t.is_integer() ? static_cast<double>(t.ints[src]) : t.reals[src]);
          }
        }
      out.has_data = true;
    }
    ctx.set_constant(node.output(0), std::move(out));
    return;
  }
  if (node.input_size() == 1) {  // torch.cat([x]) is x
    ctx.set_value(node.output(0), ctx.input(node, 0));
    return;
  }
  // A constant among runtime tensors (ViT's class token before the patch tokens) is read from a Constant
  // layer.
  std::vector<BlobId> inputs;
  for (int i = 0; i < node.input_size(); ++i) inputs.push_back(ctx.tensor_input(node, i));
  ConcatParams p;
  p.axis = normalize_axis(axis_attr, ctx.shape(inputs[0]).rank());
  ctx.add_layer(node, LayerKind::Concat, p, inputs, {node.output(0)});
}

void flatten_rule(Context& ctx, const onnx::NodeProto& node) {
  const Value& v = ctx.input(node, 0);
  const std::vector<int64_t> dims = v.is_blob() ? ctx.shape(v.blob).dims : v.constant->dims;
  const int rank = static_cast<int>(dims.size());
  int64_t axis = attr_int(node, "axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) unsupported(fmt::format("axis {} is out of range for rank {}", axis, rank));
  // ONNX Flatten always gives a 2-D result: [prod(dims before axis), prod(dims from axis)].
  int64_t head = 1, tail = 1;
  for (int i = 0; i < rank; ++i) (i < axis ? head : tail) *= dims[static_cast<size_t>(i)];
  if (!v.is_blob()) {
    ctx.set_constant(node.output(0), with_dims(*v.constant, {head, tail}));
    return;
  }
  if (axis == 1 && rank > 2) {
    if (ctx.feeds_gemm(node.output(0))) {
      ctx.set_value(node.output(0), v);
      ctx.flattened_for_gemm.insert(node.output(0));
      return;
    }
  }
  if (axis == 1 && rank >= 2) {
    FlattenParams p;
    p.axis = 1;
    p.end_axis = -1;
    ctx.add_layer(node, LayerKind::Flatten, p, {v.blob}, {node.output(0)});
  } else {
    reshape_layer(ctx, node, v.blob, {head, tail}, node.output(0));
  }
}

std::vector<int64_t> reshape_target(Context& ctx, const onnx::NodeProto& node,
                                    const std::vector<int64_t>& in) {
  std::vector<int64_t> target;
  if (ctx.opset < 5) {
    auto s = attr_ints(node, "shape");
    if (!s) throw_bad_input("{}: attribute shape is missing", ctx.origin(node));
    target = *s;
  } else {
    target = ctx.const_ints(node, 1);
  }
  return resolve_reshape(in, target, attr_int(node, "allowzero", 0) != 0);
}

// ShuffleNet's channel shuffle: Reshape NxCxHxW -> NxGx(C/G)xHxW, Transpose(0,2,1,3,4), Reshape -> NxCxHxW.
// Exporters often compute the closing Reshape's target between the Transpose and it, so the first two nodes
// are held back (pending_shuffles) and the closing Reshape decides.
bool defer_channel_shuffle(Context& ctx, const onnx::NodeProto& node, BlobId x,
                           const std::vector<int64_t>& target) {
  const Shape& in = ctx.shape(x);
  if (in.rank() != 4 || target.size() != 5) return false;
  if (target[0] != in[0] || target[1] * target[2] != in[1] || target[3] != in[2] || target[4] != in[3])
    return false;
  const int t = ctx.sole_consumer(node.output(0));
  if (t < 0) return false;
  const auto& transpose = ctx.node_at(t);
  if (transpose.op_type() != "Transpose" || !transpose.domain().empty() ||
      attr_ints(transpose, "perm") != std::vector<int64_t>{0, 2, 1, 3, 4})
    return false;
  const int r = ctx.sole_consumer(transpose.output(0));
  if (r < 0 || ctx.node_at(r).op_type() != "Reshape" || ctx.node_at(r).input(0) != transpose.output(0))
    return false;
  ctx.pending_shuffles[transpose.output(0)] = {ctx.producer(node.output(0)), t, x, target};
  ctx.absorb(t);
  return true;
}

void emit_reshape_permute(Context& ctx, const Context::PendingShuffle& s, const std::string& transposed) {
  const auto& first = ctx.node_at(s.reshape_node);
  reshape_layer(ctx, first, s.input, s.grouped, first.output(0));
  PermuteParams p;
  p.order = {0, 2, 1, 3, 4};
  ctx.add_layer(ctx.node_at(s.transpose_node), LayerKind::Permute, p, {ctx.value(first.output(0)).blob},
                {transposed});
}

// The closing Reshape of a held-back shuffle. Returns true when it handled the node.
bool finish_channel_shuffle(Context& ctx, const onnx::NodeProto& node) {
  auto it = ctx.pending_shuffles.find(node.input(0));
  if (it == ctx.pending_shuffles.end()) return false;
  const Context::PendingShuffle s = it->second;
  ctx.pending_shuffles.erase(it);
  const auto& g = s.grouped;
  const std::vector<int64_t> transposed{g[0], g[2], g[1], g[3], g[4]};
  std::vector<int64_t> target;
  try {
    target = reshape_target(ctx, node, transposed);
  } catch (const Unsupported&) {
    emit_reshape_permute(ctx, s, node.input(0));
    throw;
  }
  if (target == ctx.shape(s.input).dims) {
    ChannelShuffleParams p;
    p.groups = g[1];
    ctx.add_layer(ctx.node_at(s.reshape_node), LayerKind::ChannelShuffle, p, {s.input}, {node.output(0)});
  } else {
    emit_reshape_permute(ctx, s, node.input(0));
    reshape_layer(ctx, node, ctx.value(node.input(0)).blob, target, node.output(0));
  }
  return true;
}

void reshape_rule(Context& ctx, const onnx::NodeProto& node) {
  if (finish_channel_shuffle(ctx, node)) return;
  const Value& v = ctx.input(node, 0);
  if (!v.is_blob()) {
    ctx.set_constant(node.output(0), with_dims(*v.constant, reshape_target(ctx, node, v.constant->dims)));
    return;
  }
  std::vector<int64_t> target = reshape_target(ctx, node, ctx.shape(v.blob).dims);
  if (defer_channel_shuffle(ctx, node, v.blob, target)) return;
  reshape_layer(ctx, node, v.blob, target, node.output(0));
}

void transpose_rule(Context& ctx, const onnx::NodeProto& node) {
  const Value& v = ctx.input(node, 0);
  const std::vector<int64_t> dims = v.is_blob() ? ctx.shape(v.blob).dims : v.constant->dims;
  const int rank = static_cast<int>(dims.size());
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  if (auto p = attr_ints(node, "perm"))
    perm = *p;
  else
    for (int i = 0; i < rank; ++i) perm[static_cast<size_t>(i)] = rank - 1 - i;  // the default reverses
  if (static_cast<int>(perm.size()) != rank)
    throw_bad_input("{}: perm has {} values for a rank-{} input", ctx.origin(node), perm.size(), rank);
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < rank; ++i)
    if (sorted[static_cast<size_t>(i)] != i)
      throw_bad_input("{}: perm is not a permutation", ctx.origin(node));
  if (v.is_blob()) {
    PermuteParams p;
    for (int64_t a : perm) p.order.push_back(static_cast<int>(a));
    ctx.add_layer(node, LayerKind::Permute, p, {v.blob}, {node.output(0)});
    return;
  }
  ConstTensor out;
  for (int64_t a : perm) out.dims.push_back(dims[static_cast<size_t>(a)]);
  const auto in_strides = strides_of(dims);
  gather_values(*v.constant, out, [&](const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t k = 0; k < idx.size(); ++k) src += idx[k] * in_strides[static_cast<size_t>(perm[k])];
    return src;
  });
  ctx.set_constant(node.output(0), std::move(out));
}

std::vector<int64_t> axes_of(Context& ctx, const onnx::NodeProto& node, int input_index, bool required) {
  // Opset 13 moved Squeeze/Unsqueeze/Split axes and sizes from attributes to inputs.
  if (ctx.opset >= 13) {
    if (ctx.has_input(node, input_index)) return ctx.const_ints(node, input_index);
  } else if (auto a = attr_ints(node, "axes")) {
    return *a;
  }
  if (required) throw_bad_input("{}: axes are missing", ctx.origin(node));
  return {};
}

void squeeze_rule(Context& ctx, const onnx::NodeProto& node) {
  const Value& v = ctx.input(node, 0);
  const std::vector<int64_t> dims = v.is_blob() ? ctx.shape(v.blob).dims : v.constant->dims;
  const int rank = static_cast<int>(dims.size());
  std::vector<int64_t> axes = axes_of(ctx, node, 1, false);
  std::vector<bool> drop(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) drop[static_cast<size_t>(i)] = dims[static_cast<size_t>(i)] == 1;
  } else {
    for (int64_t a : axes) {
      const int k = normalize_axis(a, rank);
      if (dims[static_cast<size_t>(k)] != 1)
        throw_bad_input("{}: cannot squeeze axis {} of size {}", ctx.origin(node), k,
                        dims[static_cast<size_t>(k)]);
      drop[static_cast<size_t>(k)] = true;
    }
  }
  std::vector<int64_t> out;
  for (int i = 0; i < rank; ++i)
    if (!drop[static_cast<size_t>(i)]) out.push_back(dims[static_cast<size_t>(i)]);
  if (!v.is_blob()) {
    ctx.set_constant(node.output(0), with_dims(*v.constant, out));
    return;
  }
  if (out.empty()) unsupported("squeezes a runtime tensor to a scalar");
  reshape_layer(ctx, node, v.blob, out, node.output(0));
}

void unsqueeze_rule(Context& ctx, const onnx::NodeProto& node) {
  const Value& v = ctx.input(node, 0);
  const std::vector<int64_t> dims = v.is_blob() ? ctx.shape(v.blob).dims : v.constant->dims;
  std::vector<int64_t> axes = axes_of(ctx, node, 1, true);
  const int out_rank = static_cast<int>(dims.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    const int k = normalize_axis(a, out_rank);
    if (inserted[static_cast<size_t>(k)]) throw_bad_input("{}: axis {} repeats", ctx.origin(node), k);
    inserted[static_cast<size_t>(k)] = true;
  }
  std::vector<int64_t> out;
  size_t next = 0;
  for (int i = 0; i < out_rank; ++i) out.push_back(inserted[static_cast<size_t>(i)] ? 1 : dims[next++]);
  if (!v.is_blob()) {
    ctx.set_constant(node.output(0), with_dims(*v.constant, out));
    return;
  }
  reshape_layer(ctx, node, v.blob, out, node.output(0));
}

void split_rule(Context& ctx, const onnx::NodeProto& node) {
  BlobId x = ctx.blob_input(node, 0);
  const Shape& in = ctx.shape(x);
  const int axis = normalize_axis(attr_int(node, "axis", 0), in.rank());
  std::vector<int64_t> sizes;
  if (ctx.opset >= 13) {
    if (ctx.has_input(node, 1)) sizes = ctx.const_ints(node, 1);
  } else if (auto s = attr_ints(node, "split")) {
    sizes = *s;
  }
  const auto n = static_cast<int64_t>(node.output_size());
  if (sizes.empty()) {
    if (in[axis] % n != 0)
      throw_bad_input("{}: axis {} of size {} does not split evenly into {} outputs", ctx.origin(node), axis,
                      in[axis], n);
    sizes.assign(static_cast<size_t>(n), in[axis] / n);
  }
  if (static_cast<int64_t>(sizes.size()) != n)
    throw_bad_input("{}: {} split sizes for {} outputs", ctx.origin(node), sizes.size(), n);
  SliceParams p;
  p.axis = axis;
  int64_t begin = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    // Checked before adding: sizes come from the file, and their sum could overflow.
    const int64_t s = sizes[i];
    if (s < 0 || s > in[axis] - begin)
      throw_bad_input("{}: split size {} for output {}, expected 0 to {} (axis {} has size {}, {} already taken)",
                      ctx.origin(node), s, i, in[axis] - begin, axis, in[axis], begin);
    p.ranges.emplace_back(begin, begin + s);
    begin += s;
  }
  if (begin != in[axis])
    throw_bad_input("{}: split sizes add up to {}, axis {} has size {}", ctx.origin(node), begin, axis,
                    in[axis]);
  std::vector<std::string> outputs(node.output().begin(), node.output().end());
  ctx.add_layer(node, LayerKind::Slice, p, {x}, outputs);
}

void slice_rule(Context& ctx, const onnx::NodeProto& node) {
  const Value& v = ctx.input(node, 0);
  const std::vector<int64_t> dims = v.is_blob() ? ctx.shape(v.blob).dims : v.constant->dims;
  const int rank = static_cast<int>(dims.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = attr_ints(node, "starts").value_or(std::vector<int64_t>{});
    ends = attr_ints(node, "ends").value_or(std::vector<int64_t>{});
    axes = attr_ints(node, "axes").value_or(std::vector<int64_t>{});
  } else {
    starts = ctx.const_ints(node, 1);
    ends = ctx.const_ints(node, 2);
    if (ctx.has_input(node, 3)) axes = ctx.const_ints(node, 3);
    if (ctx.has_input(node, 4)) steps = ctx.const_ints(node, 4);
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw_bad_input("{}: starts, ends, axes and steps differ in length", ctx.origin(node));
  // Per axis: first index, step, count (ONNX clamping rules).
  std::vector<int64_t> first(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1), count = dims;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int a = normalize_axis(axes[i], rank);
    const int64_t d = dims[static_cast<size_t>(a)];
    const int64_t st = steps[i];
    if (st == 0) throw_bad_input("{}: step 0", ctx.origin(node));
    auto clamp = [&](int64_t value, int64_t lo, int64_t hi) {
      if (value < 0) value = value < -d ? -1 : value + d;  // avoids overflow on INT64_MIN
      return std::clamp(value, lo, hi);
    };
    int64_t b = st > 0 ? clamp(starts[i], 0, d) : clamp(starts[i], -1, d - 1);
    int64_t e = st > 0 ? clamp(ends[i], 0, d) : clamp(ends[i], -1, d - 1);
    int64_t n = st > 0 ? (e > b ? (e - b + st - 1) / st : 0) : (b > e ? (b - e + (-st) - 1) / (-st) : 0);
    first[static_cast<size_t>(a)] = b;
    step[static_cast<size_t>(a)] = st;
    count[static_cast<size_t>(a)] = n;
  }
  if (!v.is_blob()) {
    ConstTensor out;
    out.dims = count;
    const auto in_strides = strides_of(dims);
    gather_values(*v.constant, out, [&](const std::vector<int64_t>& idx) {
      int64_t src = 0;
      for (size_t k = 0; k < idx.size(); ++k) src += (first[k] + idx[k] * step[k]) * in_strides[k];
      return src;
    });
    ctx.set_constant(node.output(0), std::move(out));
    return;
  }
  int sliced_axis = -1;
  for (int a = 0; a < rank; ++a) {
    const auto k = static_cast<size_t>(a);
    if (count[k] == dims[k] && step[k] == 1) continue;  // untouched axis
    if (sliced_axis >= 0) unsupported("slices more than one axis of a runtime tensor");
    if (step[k] < 1) unsupported(fmt::format("step {} on a runtime tensor", step[k]));
    sliced_axis = a;
  }
  if (sliced_axis < 0) {
    ctx.set_value(node.output(0), v);  // the whole tensor: nothing to do
    return;
  }
  const auto k = static_cast<size_t>(sliced_axis);
  if (count[k] == 0) throw_bad_input("{}: the slice of axis {} is empty", ctx.origin(node), sliced_axis);
  SliceParams p;
  p.axis = sliced_axis;
  p.step = step[k];
  p.ranges.emplace_back(first[k], first[k] + (count[k] - 1) * step[k] + 1);
  ctx.add_layer(node, LayerKind::Slice, p, {v.blob}, {node.output(0)});
}

void pad_rule(Context& ctx, const onnx::NodeProto& node) {
  BlobId x = ctx.blob_input(node, 0);
  const Shape& in = ctx.shape(x);
  const int rank = in.rank();
  std::string mode = attr_string(node, "mode", "constant");
  std::vector<int64_t> pads;
  float value = 0.0f;
  if (ctx.opset < 11) {
    pads = attr_ints(node, "pads").value_or(std::vector<int64_t>{});
    value = attr_float(node, "value", 0.0f);
  } else {
    pads = ctx.const_ints(node, 1);
    if (ctx.has_input(node, 2)) {
      const ConstTensor& c = ctx.const_input(node, 2);
      if (!c.has_data || c.elems() != 1) unsupported("constant_value is not a scalar constant");
      value = static_cast<float>(c.is_integer() ? static_cast<double>(c.ints[0]) : c.reals[0]);
    }
    if (ctx.has_input(node, 3)) unsupported("the axes input (opset 18)");
  }
  if (static_cast<int>(pads.size()) != 2 * rank)
    throw_bad_input("{}: {} pads for a rank-{} input, expected {}", ctx.origin(node), pads.size(), rank,
                    2 * rank);
  PadParams p;
  p.begins.assign(pads.begin(), pads.begin() + rank);
  p.ends.assign(pads.begin() + rank, pads.end());
  for (int64_t v : pads)
    if (v < 0) unsupported(fmt::format("negative pad {} (cropping)", v));
  if (mode == "constant")
    p.mode = PadMode::Constant;
  else if (mode == "reflect")
    p.mode = PadMode::Reflect;
  else if (mode == "edge")
    p.mode = PadMode::Edge;
  else
    unsupported(fmt::format("mode \"{}\"", mode));
  p.value = value;
  // No padding at all is the identity: Swin pads each block's input to a multiple of its window, which at
  // 224x224 is nothing, and the 15 copies took 6 ms of Swin-T's 155 on openblas.
  if (std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; })) {
    ctx.set_value(node.output(0), Value{x, nullptr});
    return;
  }
  // Zero padding of H and W in front of a Conv (or an AveragePool that counts padding) is the layer's own
  // padding; MaxPool pads with -inf, so a zero Pad before it stays a layer.
  const bool spatial_zero = rank == 4 && p.mode == PadMode::Constant && value == 0.0f && p.begins[0] == 0 &&
                            p.begins[1] == 0 && p.ends[0] == 0 && p.ends[1] == 0;
  const int next = ctx.sole_consumer(node.output(0));
  if (spatial_zero && next >= 0) {
    const auto& consumer = ctx.node_at(next);
    const bool conv = consumer.op_type() == "Conv" && consumer.input(0) == node.output(0) &&
                      attr_string(consumer, "auto_pad", "NOTSET") == "NOTSET";
    const auto pool_pads = attr_ints(consumer, "pads").value_or(std::vector<int64_t>{});
    const bool pool_unpadded =
        std::all_of(pool_pads.begin(), pool_pads.end(), [](int64_t v) { return v == 0; });
    const bool avg = consumer.op_type() == "AveragePool" &&
                     (attr_int(consumer, "count_include_pad", 0) != 0 || pool_unpadded) &&
                     attr_string(consumer, "auto_pad", "NOTSET") == "NOTSET";
    if (conv || avg) {
      ctx.pending_pads[node.output(0)] = {p.begins[2], p.begins[3], p.ends[2], p.ends[3]};
      ctx.set_value(node.output(0), Value{x, nullptr});
      return;
    }
  }
  ctx.add_layer(node, LayerKind::Pad, p, {x}, {node.output(0)});
}

}  // namespace

void register_tensor_rules() {
  rules()["Concat"] = concat_rule;
  rules()["Flatten"] = flatten_rule;
  rules()["Reshape"] = reshape_rule;
  rules()["Transpose"] = transpose_rule;
  rules()["Squeeze"] = squeeze_rule;
  rules()["Unsqueeze"] = unsqueeze_rule;
  rules()["Split"] = split_rule;
  rules()["Slice"] = slice_rule;
  rules()["Pad"] = pad_rule;
}

}  // namespace convergy::onnx_import

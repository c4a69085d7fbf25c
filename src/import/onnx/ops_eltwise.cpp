// ONNX rules for element-wise arithmetic: Add, Mul, Max and Sum of runtime tensors -> Eltwise (numpy
// broadcasting, e.g. squeeze-and-excitation scaling NxCxHxW * NxCx1x1; a constant operand is read from a
// Constant layer); division by one constant value -> Power; arithmetic on constants, Equal, Where, Mod and
// Not fold.
#include "import/onnx/onnx_context.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace convergy::onnx_import {
namespace {

using Binary = std::function<double(double, double)>;

// Folds a binary op on two constants with numpy broadcasting. Integer inputs give integer results.
ConstTensor fold_binary(const ConstTensor& a, const ConstTensor& b, const Binary& op) {
  ConstTensor out;
  out.elem_type = a.elem_type;
  out.dims = broadcast_dims(a.dims, b.dims);
  if (!a.has_data || !b.has_data || out.elems() > kMaxFoldedElems) return out;  // the shape is still known
  const int64_t n = out.elems();
  out.has_data = true;
  for (int64_t i = 0; i < n; ++i)
    out.push(op(broadcast_value(a, out.dims, i), broadcast_value(b, out.dims, i)));
  return out;
}

// All-constant inputs fold; returns true when it did.
bool try_fold(Context& ctx, const onnx::NodeProto& node, const Binary& op) {
  for (int i = 0; i < node.input_size(); ++i)
    if (ctx.input(node, i).is_blob()) return false;
  ConstTensor acc = ctx.const_input(node, 0);
  for (int i = 1; i < node.input_size(); ++i) acc = fold_binary(acc, ctx.const_input(node, i), op);
  ctx.set_constant(node.output(0), std::move(acc));
  return true;
}

void eltwise(Context& ctx, const onnx::NodeProto& node, EltwiseOp op, const Binary& fold) {
  if (try_fold(ctx, node, fold)) return;
  // A constant operand (ViT's position embedding, added to the patch tokens) is read from a Constant layer.
  std::vector<BlobId> inputs;
  for (int i = 0; i < node.input_size(); ++i) inputs.push_back(ctx.tensor_input(node, i));
  // The full-size operand first: the backends' fast paths (and oneDNN's binary, cudnnOpTensor) broadcast only
  // the second. torch writes RegNet's squeeze-and-excitation as Mul(gate, x): in that order the product ran
  // on the reference kernel, 4.3 ns per element against 0.1. The three ops commute exactly in floating point.
  if (inputs.size() == 2 && ctx.shape(inputs[0]).elems() < ctx.shape(inputs[1]).elems())
    std::swap(inputs[0], inputs[1]);
  EltwiseParams p;
  p.op = op;
  ctx.add_layer(node, LayerKind::Eltwise, p, inputs, {node.output(0)});
}

void add_rule(Context& ctx, const onnx::NodeProto& node) {
  eltwise(ctx, node, EltwiseOp::Sum, std::plus<double>());
}
void sum_rule(Context& ctx, const onnx::NodeProto& node) {
  eltwise(ctx, node, EltwiseOp::Sum, std::plus<double>());
}
// A runtime tensor times a constant that is one value per channel (axis 1), as ConvNeXt's layer scale
// (C x 1 x 1 against N x C x H x W) -> Scale; one value for the whole tensor -> Power. False for another
// form.
bool scale_by_constant(Context& ctx, const onnx::NodeProto& node) {
  if (node.input_size() != 2 || ctx.input(node, 0).is_blob() == ctx.input(node, 1).is_blob()) return false;
  const int k = ctx.input(node, 0).is_blob() ? 1 : 0;
  const ConstTensor& c = ctx.const_input(node, k);
  const BlobId x = ctx.input(node, 1 - k).blob;
  const Shape& s = ctx.shape(x);
  if (c.is_integer() || static_cast<int>(c.dims.size()) > s.rank()) return false;
  if (c.elems() == 1 && c.has_data) {
    PowerParams p;
    p.scale = static_cast<float>(c.reals[0]);
    ctx.add_layer(node, LayerKind::Power, p, {x}, {node.output(0)});
    return true;
  }
  // Right-aligned to x's axes, the constant's only axis above 1 must be axis 1, of x's size there.
  const int offset = s.rank() - static_cast<int>(c.dims.size());
  for (int i = 0; i < static_cast<int>(c.dims.size()); ++i) {
    const int64_t want = offset + i == 1 ? s[1] : 1;
    if (c.dims[static_cast<size_t>(i)] != want) return false;
  }
  if (s.rank() < 2 || offset > 1) return false;
  ScaleParams p;
  p.axis = 1;
  p.bias = false;
  ctx.add_layer(node, LayerKind::Scale, p, {x}, {node.output(0)}, {&c});
  return true;
}

void mul_rule(Context& ctx, const onnx::NodeProto& node) {
  if (scale_by_constant(ctx, node)) return;
  eltwise(ctx, node, EltwiseOp::Prod, std::multiplies<double>());
}
void max_rule(Context& ctx, const onnx::NodeProto& node) {
  eltwise(ctx, node, EltwiseOp::Max, [](double a, double b) { return std::max(a, b); });
}

void sub_rule(Context& ctx, const onnx::NodeProto& node) {
  if (!try_fold(ctx, node, std::minus<double>())) unsupported("Sub of runtime tensors (no Eltwise form)");
}

void div_rule(Context& ctx, const onnx::NodeProto& node) {
  const bool integer = !ctx.input(node, 0).is_blob() && ctx.input(node, 0).constant->is_integer();
  auto div = [integer](double a, double b) {
    if (b == 0) unsupported("division by zero while folding constants");
    return integer ? std::trunc(a / b) : a / b;
  };
  if (match_gelu(ctx, node)) return;
  if (try_fold(ctx, node, div)) return;
  // A runtime tensor over one constant value (attention's queries scaled by 1 / sqrt(head size)) -> Power.
  if (ctx.input(node, 0).is_blob() && !ctx.input(node, 1).is_blob()) {
    const ConstTensor& c = ctx.const_input(node, 1);
    if (c.elems() == 1 && c.has_data && !c.is_integer() && c.reals[0] != 0.0) {
      PowerParams p;
      p.scale = static_cast<float>(1.0 / c.reals[0]);
      ctx.add_layer(node, LayerKind::Power, p, {ctx.input(node, 0).blob}, {node.output(0)});
      return;
    }
  }
  unsupported("Div of runtime tensors, or by a constant that is not one value (no Eltwise form)");
}

// Equal and Where only ever fold: exporters use them on shapes (ViT's class token is expanded to a shape in
// which -1 is replaced by 1).
void equal_rule(Context& ctx, const onnx::NodeProto& node) {
  require_constant_inputs(ctx, node, "Equal of runtime tensors");
  ConstTensor out = fold_binary(ctx.const_input(node, 0), ctx.const_input(node, 1),
                                [](double a, double b) { return a == b ? 1.0 : 0.0; });
  out.elem_type = onnx::TensorProto::BOOL;
  if (out.has_data && out.ints.empty())
    for (double v : out.reals) out.ints.push_back(v != 0.0 ? 1 : 0);
  out.reals.clear();
  ctx.set_constant(node.output(0), std::move(out));
}

void where_rule(Context& ctx, const onnx::NodeProto& node) {
  require_constant_inputs(ctx, node, "Where with a runtime tensor");
  const ConstTensor& cond = ctx.const_input(node, 0);
  const ConstTensor& x = ctx.const_input(node, 1);
  const ConstTensor& y = ctx.const_input(node, 2);
  ConstTensor out;
  out.elem_type = x.elem_type;
  out.dims = broadcast_dims(broadcast_dims(cond.dims, x.dims), y.dims);
  if (cond.has_data && x.has_data && y.has_data && out.elems() <= kMaxFoldedElems) {
    const int64_t n = out.elems();
    for (int64_t i = 0; i < n; ++i)
      out.push(broadcast_value(cond, out.dims, i) != 0.0 ? broadcast_value(x, out.dims, i)
                                                         : broadcast_value(y, out.dims, i));
    out.has_data = true;
  }
  ctx.set_constant(node.output(0), std::move(out));
}

// Mod and Not only ever fold: Swin's shifted-window attention computes its padding (Mod of a dimension by the
// window size) and its mask (Not of an Equal) from shapes.
void mod_rule(Context& ctx, const onnx::NodeProto& node) {
  require_constant_inputs(ctx, node, "Mod of runtime tensors");
  const bool c_fmod = attr_int(node, "fmod", 0) != 0;
  auto mod = [c_fmod](double a, double b) {
    if (b == 0) unsupported("modulo by zero while folding constants");
    // fmod=1: the sign of the dividend (C's fmod); 0: the sign of the divisor (Python's %).
    return c_fmod ? std::fmod(a, b) : a - b * std::floor(a / b);
  };
  ctx.set_constant(node.output(0), fold_binary(ctx.const_input(node, 0), ctx.const_input(node, 1), mod));
}

void not_rule(Context& ctx, const onnx::NodeProto& node) {
  require_constant_inputs(ctx, node, "Not of a runtime tensor");
  const ConstTensor& in = ctx.const_input(node, 0);
  ConstTensor out;
  out.elem_type = onnx::TensorProto::BOOL;
  out.dims = in.dims;
  if (in.has_data && in.elems() <= kMaxFoldedElems) {
    for (int64_t v : in.ints) out.ints.push_back(v == 0 ? 1 : 0);
    for (double v : in.reals) out.ints.push_back(v == 0.0 ? 1 : 0);
    out.has_data = true;
  }
  ctx.set_constant(node.output(0), std::move(out));
}

}  // namespace

void register_eltwise_rules() {
  rules()["Add"] = add_rule;
  rules()["Sum"] = sum_rule;
  rules()["Mul"] = mul_rule;
  rules()["Max"] = max_rule;
  rules()["Sub"] = sub_rule;
  rules()["Div"] = div_rule;
  rules()["Equal"] = equal_rule;
  rules()["Where"] = where_rule;
  rules()["Mod"] = mod_rule;
  rules()["Not"] = not_rule;
}

}  // namespace convergy::onnx_import

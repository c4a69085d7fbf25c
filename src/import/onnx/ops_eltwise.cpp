// ONNX rules for element-wise arithmetic: Add, Mul, Max and Sum of runtime tensors -> Eltwise (numpy
// broadcasting, e.g. squeeze-and-excitation scaling NxCxHxW * NxCx1x1); arithmetic on constants is folded.
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
  const size_t rank = std::max(a.dims.size(), b.dims.size());
  ConstTensor out;
  out.elem_type = a.elem_type;
  out.dims.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i + a.dims.size() >= rank ? a.dims[i + a.dims.size() - rank] : 1;
    const int64_t db = i + b.dims.size() >= rank ? b.dims[i + b.dims.size() - rank] : 1;
    if (da != db && da != 1 && db != 1)
      unsupported(fmt::format("constants of shapes {} and {} do not broadcast", Shape(a.dims).str(),
                              Shape(b.dims).str()));
    out.dims[i] = da == 1 ? db : da;  // 1 broadcasts to 0 as numpy does; max() gave 1 element for none
  }
  if (!a.has_data || !b.has_data) return out;  // the shape is still known
  const int64_t n = out.elems();
  auto at = [&](const ConstTensor& t, int64_t flat) {
    // Map the output index to t's index, dimension by dimension from the last.
    int64_t src = 0, stride = 1, rest = flat;
    for (size_t k = rank; k-- > 0;) {
      const int64_t idx = rest % out.dims[k];
      rest /= out.dims[k];
      const size_t offset = rank - t.dims.size();
      if (k >= offset) {
        const int64_t d = t.dims[k - offset];
        src += (d == 1 ? 0 : idx) * stride;
        stride *= d;
      }
    }
    return t.is_integer() ? static_cast<double>(t.ints[static_cast<size_t>(src)])
                          : t.reals[static_cast<size_t>(src)];
  };
  out.has_data = true;
  for (int64_t i = 0; i < n; ++i) {
    const double v = op(at(a, i), at(b, i));
    if (out.is_integer())
      out.ints.push_back(folded_int(v));
    else
      out.reals.push_back(v);
  }
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
  std::vector<BlobId> inputs;
  for (int i = 0; i < node.input_size(); ++i) {
    if (!ctx.input(node, i).is_blob())
      unsupported(fmt::format("input {} (\"{}\") is a constant; Eltwise combines runtime tensors only", i,
                              node.input(i)));
    inputs.push_back(ctx.input(node, i).blob);
  }
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
  if (!try_fold(ctx, node, div)) unsupported("Div of runtime tensors (no Eltwise form)");
}

}  // namespace

void register_eltwise_rules() {
  rules()["Add"] = add_rule;
  rules()["Sum"] = sum_rule;
  rules()["Mul"] = mul_rule;
  rules()["Max"] = max_rule;
  rules()["Sub"] = sub_rule;
  rules()["Div"] = div_rule;
}

}  // namespace convergy::onnx_import

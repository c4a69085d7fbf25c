// ONNX rules for layer normalisation and GELU: the LayerNormalization op (opset 17), ONNX Runtime's
// com.microsoft.Gelu, and the subgraphs
// PyTorch writes for both at lower opsets, matched from their first node and mapped to one layer each:
//   LayerNorm: ReduceMean(x) -> Sub(x, mean) -> Pow(d, 2) -> ReduceMean -> Add(eps) -> Sqrt -> Div(d, std)
//              [-> Mul(gamma) -> Add(beta)]
//   GELU:      Div(x, sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5)   (or Mul(0.5) then Mul(x))
// Pow, Sqrt and Erf elsewhere fold when their inputs are constants and are refused otherwise.
#include "import/onnx/onnx_context.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace convergy::onnx_import {
namespace {

bool is_op(const onnx::NodeProto& node, std::string_view op) {
  return node.op_type() == op && (node.domain().empty() || node.domain() == "ai.onnx");
}

// The node at `index` if it is an `op`, else nullptr (also for index -1: no single consumer).
const onnx::NodeProto* node_if(const Context& ctx, int index, std::string_view op) {
  if (index < 0 || ctx.absorbed(index)) return nullptr;
  const onnx::NodeProto& n = ctx.node_at(index);
  return is_op(n, op) ? &n : nullptr;
}

// The single value of a constant named `name` (a Constant node later in the graph is read first), or
// nullopt for a runtime tensor, a constant of several values, or one without data.
std::optional<double> scalar_constant(Context& ctx, const std::string& name) {
  if (!ctx.has_value(name)) {
    const int p = ctx.producer(name);
    if (p < 0 || ctx.absorbed(p) || !is_op(ctx.node_at(p), "Constant")) return std::nullopt;
    try {
      rules().at("Constant")(ctx, ctx.node_at(p));
    } catch (const Unsupported&) {
      return std::nullopt;  // the driver reports it when it reaches the node
    }
    ctx.absorb(p);
  }
  const Value& v = ctx.value(name);
  if (v.is_blob() || !v.constant->has_data || v.constant->elems() != 1) return std::nullopt;
  return v.constant->is_integer() ? static_cast<double>(v.constant->ints[0]) : v.constant->reals[0];
}

// The input of the two-input `node` that is not `name`, or "" when neither or both are.
std::string other_input(const onnx::NodeProto& node, const std::string& name) {
  if (node.input_size() != 2) return {};
  if (node.input(0) == name && node.input(1) != name) return node.input(1);
  if (node.input(1) == name && node.input(0) != name) return node.input(0);
  return {};
}

bool near(std::optional<double> v, double want) {
  return v && std::fabs(*v - want) <= 1e-4 * std::fabs(want);
}

// A constant of `n` values laid out along the trailing axes (leading unit axes allowed): gamma or beta.
const ConstTensor* trailing_vector(Context& ctx, const std::string& name, const Shape& normalised) {
  if (name.empty() || !ctx.has_value(name) || ctx.value(name).is_blob()) return nullptr;
  const ConstTensor& t = *ctx.value(name).constant;
  if (t.elems() != normalised.elems() || t.is_integer()) return nullptr;
  std::vector<int64_t> dims = t.dims;
  while (!dims.empty() && dims.front() == 1 && static_cast<int>(dims.size()) > normalised.rank())
    dims.erase(dims.begin());
  return dims == normalised.dims ? &t : nullptr;
}

// ReduceMean axes, normalised and sorted, when the node keeps its dimensions; nullopt otherwise.
std::optional<std::vector<int>> kept_axes(const onnx::NodeProto& node, int rank) {
  auto axes = attr_ints(node, "axes");
  if (!axes || attr_int(node, "keepdims", 1) == 0) return std::nullopt;
  std::vector<int> a;
  for (int64_t v : *axes) {
    if (v < -rank || v >= rank) return std::nullopt;
    a.push_back(static_cast<int>(v < 0 ? v + rank : v));
  }
  std::sort(a.begin(), a.end());
  return a;
}

// Layer normalisation from the first ReduceMean of PyTorch's decomposition (see the top of the file).
bool layer_norm_from_reduce_mean(Context& ctx, const onnx::NodeProto& rm1) {
  if (rm1.input_size() != 1 || !ctx.input(rm1, 0).is_blob()) return false;
  const std::string& x = rm1.input(0);
  const Shape in = ctx.shape(ctx.input(rm1, 0).blob);
  const auto axes = kept_axes(rm1, in.rank());
  if (!axes || axes->empty()) return false;
  for (size_t i = 0; i < axes->size(); ++i)  // the trailing axes, in one run
    if ((*axes)[i] != in.rank() - static_cast<int>(axes->size()) + static_cast<int>(i)) return false;
  const int axis = axes->front();

  const int sub_i = ctx.sole_consumer(rm1.output(0));
  const auto* sub = node_if(ctx, sub_i, "Sub");
  if (!sub || sub->input_size() != 2 || sub->input(0) != x || sub->input(1) != rm1.output(0)) return false;
  const std::string& d = sub->output(0);
  const std::vector<int>& readers = ctx.consumers(d);  // the square and the division
  if (readers.size() != 2) return false;
  int sq_i = -1, div_i = -1;
  for (int r : readers) {
    const onnx::NodeProto& n = ctx.node_at(r);
    if (is_op(n, "Div") && n.input_size() == 2 && n.input(0) == d) div_i = r;
    if (is_op(n, "Pow") && n.input_size() == 2 && n.input(0) == d &&
        near(scalar_constant(ctx, n.input(1)), 2.0))
      sq_i = r;
  }
  if (sq_i < 0 || div_i < 0 || ctx.absorbed(sq_i) || ctx.absorbed(div_i)) return false;
  const int rm2_i = ctx.sole_consumer(ctx.node_at(sq_i).output(0));
  const auto* rm2 = node_if(ctx, rm2_i, "ReduceMean");
  if (!rm2 || kept_axes(*rm2, in.rank()) != axes) return false;
  const int add_i = ctx.sole_consumer(rm2->output(0));
  const auto* add = node_if(ctx, add_i, "Add");
  if (!add) return false;
  const std::optional<double> eps = scalar_constant(ctx, other_input(*add, rm2->output(0)));
  if (!eps || *eps < 0) return false;
  const int sqrt_i = ctx.sole_consumer(add->output(0));
  const auto* sqrt = node_if(ctx, sqrt_i, "Sqrt");
  if (!sqrt || ctx.sole_consumer(sqrt->output(0)) != div_i || ctx.node_at(div_i).input(1) != sqrt->output(0))
    return false;

  LayerNormParams p;
  p.axis = axis;
  p.eps = static_cast<float>(*eps);
  p.affine = false;
  std::vector<int> used{sub_i, sq_i, rm2_i, add_i, sqrt_i, div_i};
  std::string out = ctx.node_at(div_i).output(0);
  std::vector<const ConstTensor*> weights;
  const Shape normalised(std::vector<int64_t>(in.dims.begin() + axis, in.dims.end()));
  // The learned scale and shift: Mul by gamma, then Add of beta, each a constant of the normalised shape.
  const int mul_i = ctx.sole_consumer(out);
  const auto* mul = node_if(ctx, mul_i, "Mul");
  const ConstTensor* gamma = mul ? trailing_vector(ctx, other_input(*mul, out), normalised) : nullptr;
  if (gamma) {
    const int shift_i = ctx.sole_consumer(mul->output(0));
    const auto* shift = node_if(ctx, shift_i, "Add");
    const ConstTensor* beta =
        shift ? trailing_vector(ctx, other_input(*shift, mul->output(0)), normalised) : nullptr;
    if (beta) {
      p.affine = true;
      weights = {gamma, beta};
      used.push_back(mul_i);
      used.push_back(shift_i);
      out = shift->output(0);
    }
  }
  ctx.add_layer(rm1, LayerKind::LayerNorm, p, {ctx.input(rm1, 0).blob}, {out}, weights);
  for (int i : used) ctx.absorb(i);
  return true;
}

// GELU from the Div(x, sqrt 2) that starts PyTorch's erf form (see the top of the file).
bool gelu_from_div(Context& ctx, const onnx::NodeProto& div) {
  if (div.input_size() != 2 || !ctx.input(div, 0).is_blob() ||
      !near(scalar_constant(ctx, div.input(1)), M_SQRT2))
    return false;
  const std::string& x = div.input(0);
  const int erf_i = ctx.sole_consumer(div.output(0));
  const auto* erf = node_if(ctx, erf_i, "Erf");
  if (!erf) return false;
  const int add_i = ctx.sole_consumer(erf->output(0));
  const auto* add = node_if(ctx, add_i, "Add");
  if (!add || !near(scalar_constant(ctx, other_input(*add, erf->output(0))), 1.0)) return false;
  const int m1_i = ctx.sole_consumer(add->output(0));
  const auto* m1 = node_if(ctx, m1_i, "Mul");
  if (!m1) return false;
  const std::string first = other_input(*m1, add->output(0));
  const int m2_i = ctx.sole_consumer(m1->output(0));
  const auto* m2 = node_if(ctx, m2_i, "Mul");
  if (!m2) return false;
  const std::string second = other_input(*m2, m1->output(0));
  // x * (1 + erf) * 0.5, or 0.5 * (1 + erf) * x.
  const bool x_first = first == x && near(scalar_constant(ctx, second), 0.5);
  const bool half_first = second == x && first != x && near(scalar_constant(ctx, first), 0.5);
  if (!x_first && !half_first) return false;
  ctx.add_layer(div, LayerKind::GELU, NoParams{}, {ctx.input(div, 0).blob}, {m2->output(0)});
  for (int i : {erf_i, add_i, m1_i, m2_i}) ctx.absorb(i);
  return true;
}

void gelu_rule(Context& ctx, const onnx::NodeProto& node) {
  ctx.add_layer(node, LayerKind::GELU, NoParams{}, {ctx.blob_input(node, 0)}, {node.output(0)});
}

void layer_normalization_rule(Context& ctx, const onnx::NodeProto& node) {
  for (int i = 1; i < node.output_size(); ++i)
    if (ctx.used(node.output(i)))
      unsupported("its mean or inverse standard deviation output is read (convergy computes only Y)");
  BlobId x = ctx.blob_input(node, 0);
  const Shape& in = ctx.shape(x);
  LayerNormParams p;
  p.axis = normalize_axis(attr_int(node, "axis", -1), in.rank());
  p.eps = attr_float(node, "epsilon", 1e-5f);
  const Shape normalised(std::vector<int64_t>(in.dims.begin() + p.axis, in.dims.end()));
  const ConstTensor* scale = trailing_vector(ctx, node.input(1), normalised);
  if (!scale)
    unsupported(fmt::format("Scale is not a constant of the normalised shape {}", normalised.str()));
  const ConstTensor* bias = nullptr;
  if (ctx.has_input(node, 2)) {
    bias = trailing_vector(ctx, node.input(2), normalised);
    if (!bias) unsupported(fmt::format("B is not a constant of the normalised shape {}", normalised.str()));
  }
  ConstTensor zeros;  // no B: a shift of 0
  if (!bias) {
    zeros.dims = normalised.dims;
    zeros.reals.assign(static_cast<size_t>(normalised.elems()), 0.0);
    zeros.has_data = true;
    zeros.name = node.name() + "/zero_shift";
    bias = &zeros;
  }
  ctx.add_layer(node, LayerKind::LayerNorm, p, {x}, {node.output(0)}, {scale, bias});
}

// An element-wise function of one constant input folds; of a runtime tensor it is refused with `why`.
void fold_unary(Context& ctx, const onnx::NodeProto& node, const std::function<double(double)>& f,
                const char* why) {
  if (ctx.input(node, 0).is_blob()) unsupported(why);
  ConstTensor t = ctx.const_input(node, 0);
  if (t.is_integer()) unsupported("an integer input (expected a floating-point constant)");
  for (double& v : t.reals) v = f(v);
  ctx.set_constant(node.output(0), std::move(t));
}

void sqrt_rule(Context& ctx, const onnx::NodeProto& node) {
  fold_unary(
      ctx, node, [](double v) { return std::sqrt(v); },
      "Sqrt of a runtime tensor outside a layer normalisation (no layer computes it)");
}

void erf_rule(Context& ctx, const onnx::NodeProto& node) {
  fold_unary(
      ctx, node, [](double v) { return std::erf(v); },
      "Erf of a runtime tensor outside GELU's x * (1 + erf(x / sqrt 2)) / 2 (no layer computes it)");
}

void pow_rule(Context& ctx, const onnx::NodeProto& node) {
  const std::optional<double> e =
      ctx.input(node, 1).is_blob() ? std::nullopt : scalar_constant(ctx, node.input(1));
  if (!e) unsupported("the exponent is not a single constant");
  fold_unary(
      ctx, node, [p = *e](double v) { return std::pow(v, p); },
      "Pow of a runtime tensor outside a layer normalisation (no layer computes it)");
}

}  // namespace

bool match_layer_norm(Context& ctx, const onnx::NodeProto& reduce_mean) {
  return layer_norm_from_reduce_mean(ctx, reduce_mean);
}

bool match_gelu(Context& ctx, const onnx::NodeProto& div) { return gelu_from_div(ctx, div); }

void register_norm_rules() {
  rules()["LayerNormalization"] = layer_normalization_rule;
  rules()["com.microsoft.Gelu"] = gelu_rule;  // ONNX Runtime's contrib op (the erf form)
  rules()["Sqrt"] = sqrt_rule;
  rules()["Erf"] = erf_rule;
  rules()["Pow"] = pow_rule;
}

}  // namespace convergy::onnx_import

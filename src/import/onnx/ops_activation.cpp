// ONNX rules for element-wise and per-channel layers: activations, Softmax, BatchNormalization, LRN, Dropout.
// Sigmoid and HardSigmoid look one node ahead for the x * f(x) forms of Swish (SiLU) and HardSwish.
#include "import/onnx/onnx_context.h"

#include "util/error.h"

#include <cmath>
#include <limits>

namespace convergy::onnx_import {
namespace {

void simple(Context& ctx, const onnx::NodeProto& node, LayerKind kind, LayerParams params = NoParams{}) {
  ctx.add_layer(node, kind, std::move(params), {ctx.blob_input(node, 0)}, {node.output(0)});
}

// If the only reader of node's output is Mul(x, node(x)), emits `fused` for the pair and returns true.
bool fuse_gated_mul(Context& ctx, const onnx::NodeProto& node, LayerKind fused) {
  int next = ctx.sole_consumer(node.output(0));
  if (next < 0) return false;
  const auto& mul = ctx.node_at(next);
  if (mul.op_type() != "Mul" || !mul.domain().empty() || mul.input_size() != 2) return false;
  const std::string& x = node.input(0);
  const std::string& gate = node.output(0);
  if (!((mul.input(0) == x && mul.input(1) == gate) || (mul.input(0) == gate && mul.input(1) == x)))
    return false;
  ctx.add_layer(node, fused, NoParams{}, {ctx.blob_input(node, 0)}, {mul.output(0)});
  ctx.absorb(next);
  return true;
}

void relu_rule(Context& ctx, const onnx::NodeProto& node) { simple(ctx, node, LayerKind::ReLU); }
void tanh_rule(Context& ctx, const onnx::NodeProto& node) { simple(ctx, node, LayerKind::TanH); }
void hard_swish_rule(Context& ctx, const onnx::NodeProto& node) { simple(ctx, node, LayerKind::HardSwish); }

void sigmoid_rule(Context& ctx, const onnx::NodeProto& node) {
  if (!fuse_gated_mul(ctx, node, LayerKind::Swish)) simple(ctx, node, LayerKind::Sigmoid);
}

void hard_sigmoid_rule(Context& ctx, const onnx::NodeProto& node) {
  HardSigmoidParams p;
  p.alpha = attr_float(node, "alpha", 0.2f);
  p.beta = attr_float(node, "beta", 0.5f);
  // HardSwish(x) = x * HardSigmoid(x) with alpha 1/6 and beta 1/2 (how opset < 14 exports write it).
  const bool hard_swish_gate = std::fabs(p.alpha - 1.0f / 6.0f) < 1e-6f && std::fabs(p.beta - 0.5f) < 1e-6f;
  if (hard_swish_gate && fuse_gated_mul(ctx, node, LayerKind::HardSwish)) return;
  simple(ctx, node, LayerKind::HardSigmoid, p);
}

void leaky_relu_rule(Context& ctx, const onnx::NodeProto& node) {
  simple(ctx, node, LayerKind::LeakyReLU, LeakyReLUParams{attr_float(node, "alpha", 0.01f)});
}

float scalar_input(Context& ctx, const onnx::NodeProto& node, int i, float fallback) {
  if (!ctx.has_input(node, i)) return fallback;
  const ConstTensor& t = ctx.const_input(node, i);
  if (!t.has_data || t.elems() != 1) unsupported(fmt::format("input {} is not a scalar constant", i));
  return static_cast<float>(t.is_integer() ? static_cast<double>(t.ints[0]) : t.reals[0]);
}

void clip_rule(Context& ctx, const onnx::NodeProto& node) {
  ClipParams p;
  const float lowest = std::numeric_limits<float>::lowest(), highest = std::numeric_limits<float>::max();
  if (ctx.opset < 11) {
    p.min = attr_float(node, "min", lowest);
    p.max = attr_float(node, "max", highest);
  } else {
    p.min = scalar_input(ctx, node, 1, lowest);
    p.max = scalar_input(ctx, node, 2, highest);
  }
  simple(ctx, node, LayerKind::Clip, p);
}

void prelu_rule(Context& ctx, const onnx::NodeProto& node) {
  BlobId x = ctx.blob_input(node, 0);
  const ConstTensor& slope = ctx.const_input(node, 1);
  const Shape& in = ctx.shape(x);
  PReLUParams p;
  p.channel_shared = slope.elems() == 1;
  // Per-channel slopes broadcast as C, Cx1x1 or 1xCx1x1; anything else is an element-wise slope.
  if (!p.channel_shared && slope.elems() != in.c())
    unsupported(fmt::format("slope of shape {} is neither shared nor per channel ({} channels)",
                            Shape(slope.dims).str(), in.c()));
  ctx.add_layer(node, LayerKind::PReLU, p, {x}, {node.output(0)}, {&slope});
}

void softmax_rule(Context& ctx, const onnx::NodeProto& node) {
  BlobId x = ctx.blob_input(node, 0);
  // Opset 13 changed the default axis from 1 (and "flatten to 2-D") to -1.
  int64_t axis = attr_int(node, "axis", ctx.opset < 13 ? 1 : -1);
  SoftmaxParams p;
  p.axis = normalize_axis(axis, ctx.shape(x).rank());
  ctx.add_layer(node, LayerKind::Softmax, p, {x}, {node.output(0)});
}

void batch_norm_rule(Context& ctx, const onnx::NodeProto& node) {
  for (int i = 1; i < node.output_size(); ++i)
    if (ctx.used(node.output(i))) unsupported("training outputs (running mean/variance) are used");
  if (attr_int(node, "training_mode", 0) != 0) unsupported("training_mode=1");
  BlobId x = ctx.blob_input(node, 0);
  BatchNormParams p;
  p.eps = attr_float(node, "epsilon", 1e-5f);
  p.affine = true;  // ONNX BatchNormalization always carries scale and B
  std::vector<const ConstTensor*> weights;
  const int64_t c = ctx.shape(x).c();
  for (int i = 1; i <= 4; ++i) {
    const ConstTensor& t = ctx.const_input(node, i);
    if (t.elems() != c)
      throw_bad_input("{}: input {} (\"{}\") has shape {}, expected {} values (one per channel)",
                      ctx.origin(node), i, node.input(i), Shape(t.dims).str(), c);
    weights.push_back(&t);
  }
  ctx.add_layer(node, LayerKind::BatchNorm, p, {x}, {node.output(0)}, weights);
}

void lrn_rule(Context& ctx, const onnx::NodeProto& node) {
  LRNParams p;
  p.local_size = attr_int(node, "size", 0);
  p.alpha = attr_float(node, "alpha", 1e-4f);
  p.beta = attr_float(node, "beta", 0.75f);
  p.k = attr_float(node, "bias", 1.0f);
  p.across_channels = true;  // ONNX LRN is always across channels
  simple(ctx, node, LayerKind::LRN, p);
}

void dropout_rule(Context& ctx, const onnx::NodeProto& node) {
  if (node.output_size() > 1 && ctx.used(node.output(1))) unsupported("the mask output is used");
  DropoutParams p;
  p.ratio = ctx.opset < 12 ? attr_float(node, "ratio", 0.5f) : scalar_input(ctx, node, 1, 0.5f);
  simple(ctx, node, LayerKind::Dropout, p);
}

}  // namespace

void register_activation_rules() {
  rules()["Relu"] = relu_rule;
  rules()["Tanh"] = tanh_rule;
  rules()["Sigmoid"] = sigmoid_rule;
  rules()["HardSigmoid"] = hard_sigmoid_rule;
  rules()["HardSwish"] = hard_swish_rule;
  rules()["LeakyRelu"] = leaky_relu_rule;
  rules()["Clip"] = clip_rule;
  rules()["PRelu"] = prelu_rule;
  rules()["Softmax"] = softmax_rule;
  rules()["BatchNormalization"] = batch_norm_rule;
  rules()["LRN"] = lrn_rule;
  rules()["Dropout"] = dropout_rule;
}

}  // namespace convergy::onnx_import

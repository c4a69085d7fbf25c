// ONNX rules for the layers that carry MACs: Conv -> Convolution; Gemm and MatMul with a constant 2-D weight
// -> InnerProduct (a MatMul followed by a bias Add becomes one InnerProduct with bias, as torch exports
// Linear); MatMul of two runtime tensors -> MatMul.
#include "import/onnx/onnx_context.h"

#include "util/error.h"

namespace convergy::onnx_import {
namespace {

void conv_rule(Context& ctx, const onnx::NodeProto& node) {
  BlobId x = ctx.blob_input(node, 0);
  const ConstTensor& w = ctx.const_input(node, 1);
  const Shape in = ctx.shape(x);
  if (in.rank() != 4)
    unsupported(fmt::format("input shape {} has rank {}; only 2-D convolution (NCHW, rank 4) is supported",
                            in.str(), in.rank()));
  if (w.dims.size() != 4)
    throw_bad_input("{}: weight \"{}\" has shape {}, expected rank 4 (M x C/group x kH x kW)",
                    ctx.origin(node), node.input(1), Shape(w.dims).str());
  ConvParams p;
  p.num_output = w.dims[0];
  p.kernel_h = w.dims[2];
  p.kernel_w = w.dims[3];
  if (auto k = attr_ints(node, "kernel_shape");
      k && (k->size() != 2 || (*k)[0] != p.kernel_h || (*k)[1] != p.kernel_w))
    throw_bad_input("{}: kernel_shape does not match the weight shape {}", ctx.origin(node),
                    Shape(w.dims).str());
  auto [sh, sw] = attr_pair(ctx, node, "strides", 1);
  auto [dh, dw] = attr_pair(ctx, node, "dilations", 1);
  p.stride_h = sh;
  p.stride_w = sw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  p.groups = attr_int(node, "group", 1);
  auto pads = spatial_pads(ctx, node, in, dh * (p.kernel_h - 1) + 1, dw * (p.kernel_w - 1) + 1, sh, sw);
  if (auto it = ctx.pending_pads.find(node.input(0)); it != ctx.pending_pads.end())
    for (size_t i = 0; i < 4; ++i) pads[i] += it->second[i];
  p.pad_top = pads[0];
  p.pad_left = pads[1];
  p.pad_bottom = pads[2];
  p.pad_right = pads[3];
  std::vector<const ConstTensor*> weights{&w};
  p.bias = ctx.has_input(node, 2);
  if (p.bias) weights.push_back(&ctx.const_input(node, 2));
  ctx.add_layer(node, LayerKind::Convolution, p, {x}, {node.output(0)}, weights);
}

void gemm_rule(Context& ctx, const onnx::NodeProto& node) {
  BlobId a = ctx.blob_input(node, 0);
  const ConstTensor& b = ctx.const_input(node, 1);
  const Shape& in = ctx.shape(a);
  // Rank > 2 only arrives through a Flatten(axis=1) the Flatten rule folded away: InnerProduct flattens from
  // axis 1 itself, as Caffe's does.
  if (in.rank() != 2 && !(in.rank() > 2 && ctx.flattened_for_gemm.count(node.input(0))))
    throw_bad_input("{}: input A has shape {}, expected rank 2", ctx.origin(node), in.str());
  int64_t features = 1;
  for (int i = 1; i < in.rank(); ++i) features *= in[i];
  if (attr_int(node, "transA", 0) != 0) unsupported("transA=1 (the runtime input is transposed)");
  if (b.dims.size() != 2)
    throw_bad_input("{}: weight \"{}\" has shape {}, expected rank 2", ctx.origin(node), node.input(1),
                    Shape(b.dims).str());
  const bool trans_b = attr_int(node, "transB", 0) != 0;
  const int64_t k = trans_b ? b.dims[1] : b.dims[0];
  const int64_t n = trans_b ? b.dims[0] : b.dims[1];
  if (k != features)
    throw_bad_input("{}: input A has {} features, weight \"{}\" ({}, transB={}) expects {}", ctx.origin(node),
                    features, node.input(1), Shape(b.dims).str(), trans_b ? 1 : 0, k);
  InnerProductParams p;
  p.num_output = n;
  p.axis = 1;
  std::vector<const ConstTensor*> weights{&b};
  if (ctx.has_input(node, 2)) {
    const ConstTensor& c = ctx.const_input(node, 2);
    if (c.elems() != n)
      unsupported(fmt::format("bias C of shape {} is not one value per output ({})", Shape(c.dims).str(), n));
    p.bias = true;
    weights.push_back(&c);
  } else {
    p.bias = false;
  }
  ctx.add_layer(node, LayerKind::InnerProduct, p, {a}, {node.output(0)}, weights);
}

void matmul_rule(Context& ctx, const onnx::NodeProto& node) {
  if (!ctx.input(node, 0).is_blob())
    unsupported("the constant operand is A; only a constant B (weights) maps to InnerProduct");
  if (ctx.input(node, 1).is_blob()) {
    // Both operands computed at run time (attention's Q K^T and A V): a MatMul layer.
    const Shape& a = ctx.shape(ctx.input(node, 0).blob);
    const Shape& b = ctx.shape(ctx.input(node, 1).blob);
    if (a.rank() < 2 || b.rank() < 2)
      unsupported(
          fmt::format("operand shapes {} and {}: a rank-1 operand of two runtime tensors", a.str(), b.str()));
    ctx.add_layer(node, LayerKind::MatMul, NoParams{}, {ctx.input(node, 0).blob, ctx.input(node, 1).blob},
                  {node.output(0)});
    return;
  }
  BlobId a = ctx.blob_input(node, 0);
  const ConstTensor& b = ctx.const_input(node, 1);
  const Shape& in = ctx.shape(a);
  if (in.rank() < 2)
    unsupported(fmt::format("input shape {} has rank {}, expected >= 2", in.str(), in.rank()));
  if (b.dims.size() != 2) unsupported(fmt::format("weight of shape {} is not 2-D", Shape(b.dims).str()));
  if (b.dims[0] != in[in.rank() - 1])
    throw_bad_input("{}: input has {} features on its last axis, weight \"{}\" ({}) expects {}",
                    ctx.origin(node), in[in.rank() - 1], node.input(1), Shape(b.dims).str(), b.dims[0]);
  InnerProductParams p;
  p.num_output = b.dims[1];
  p.axis = in.rank() - 1;
  p.bias = false;
  std::vector<const ConstTensor*> weights{&b};
  std::string out = node.output(0);
  // torch exports Linear on rank > 2 inputs as MatMul + Add(bias): fold the Add back in.
  int next = ctx.sole_consumer(out);
  if (next >= 0) {
    const auto& add = ctx.node_at(next);
    if (add.op_type() == "Add" && add.domain().empty() && add.input_size() == 2) {
      int other = add.input(0) == out ? 1 : 0;
      const Value* bias = ctx.has_value(add.input(other)) ? &ctx.value(add.input(other)) : nullptr;
      if (bias && !bias->is_blob() && bias->constant->elems() == p.num_output &&
          !bias->constant->dims.empty() && bias->constant->dims.back() == p.num_output) {
        p.bias = true;
        weights.push_back(bias->constant.get());
        out = add.output(0);
        ctx.absorb(next);
      }
    }
  }
  ctx.add_layer(node, LayerKind::InnerProduct, p, {a}, {out}, weights);
}

}  // namespace

void register_conv_rules() {
  rules()["Conv"] = conv_rule;
  rules()["Gemm"] = gemm_rule;
  rules()["MatMul"] = matmul_rule;
}

}  // namespace convergy::onnx_import

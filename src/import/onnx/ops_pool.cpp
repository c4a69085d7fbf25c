// ONNX rules for pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, and ReduceMean over H and W
// (how some exporters write global average pooling) -> Pooling.
#include "import/onnx/onnx_context.h"

#include "util/error.h"

#include <algorithm>

namespace convergy::onnx_import {
namespace {

void windowed_pool(Context& ctx, const onnx::NodeProto& node, PoolMethod method) {
  BlobId x = ctx.blob_input(node, 0);
  const Shape in = ctx.shape(x);
  if (in.rank() != 4)
    unsupported(fmt::format("input shape {} has rank {}; only 2-D pooling (NCHW, rank 4) is supported",
                            in.str(), in.rank()));
  if (node.output_size() > 1 && ctx.used(node.output(1))) unsupported("the Indices output is used");
  auto kernel = attr_ints(node, "kernel_shape");
  if (!kernel || kernel->size() != 2)
    throw_bad_input("{}: kernel_shape must have 2 values for a rank-4 input", ctx.origin(node));
  auto [dh, dw] = attr_pair(ctx, node, "dilations", 1);
  if (dh != 1 || dw != 1)
    unsupported(fmt::format("dilations {}x{} (pooling layers have no dilation)", dh, dw));
  PoolParams p;
  p.method = method;
  p.kernel_h = (*kernel)[0];
  p.kernel_w = (*kernel)[1];
  auto [sh, sw] = attr_pair(ctx, node, "strides", 1);
  p.stride_h = sh;
  p.stride_w = sw;
  auto pads = spatial_pads(ctx, node, in, p.kernel_h, p.kernel_w, sh, sw);
  // ONNX floors the output size unless ceil_mode=1 (opset 10+); Caffe always rounds up.
  p.rounding = attr_int(node, "ceil_mode", 0) != 0 ? PoolRounding::Ceil : PoolRounding::Floor;
  p.count_include_pad = method == PoolMethod::Average && attr_int(node, "count_include_pad", 0) != 0;
  if (auto it = ctx.pending_pads.find(node.input(0)); it != ctx.pending_pads.end()) {
    // A zero Pad folded in: averaging over it is counting padding (the Pad rule checked this is exact).
    for (size_t i = 0; i < 4; ++i) pads[i] += it->second[i];
    p.count_include_pad = true;
  }
  p.pad_top = pads[0];
  p.pad_left = pads[1];
  p.pad_bottom = pads[2];
  p.pad_right = pads[3];
  // A 1x1 window with stride 1 and no padding is the identity (torch writes AdaptiveAvgPool2d to the input's
  // own size this way, e.g. VGG's 7x7 -> 7x7); it costs nothing at run time either.
  if (p.kernel_h == 1 && p.kernel_w == 1 && sh == 1 && sw == 1 &&
      std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; })) {
    ctx.set_value(node.output(0), Value{x, nullptr});
    return;
  }
  ctx.add_layer(node, LayerKind::Pooling, p, {x}, {node.output(0)});
}

void max_pool_rule(Context& ctx, const onnx::NodeProto& node) { windowed_pool(ctx, node, PoolMethod::Max); }
void average_pool_rule(Context& ctx, const onnx::NodeProto& node) {
  windowed_pool(ctx, node, PoolMethod::Average);
}

void global_pool(Context& ctx, const onnx::NodeProto& node, PoolMethod method, const std::string& output) {
  BlobId x = ctx.blob_input(node, 0);
  const Shape& in = ctx.shape(x);
  if (in.rank() != 4)
    unsupported(
        fmt::format("input shape {} has rank {}; only NCHW (rank 4) is supported", in.str(), in.rank()));
  PoolParams p;
  p.method = method;
  p.global = true;  // the window is the whole input; kernel and stride fields stay unset
  ctx.add_layer(node, LayerKind::Pooling, p, {x}, {output});
}

void global_average_pool_rule(Context& ctx, const onnx::NodeProto& node) {
  global_pool(ctx, node, PoolMethod::Average, node.output(0));
}
void global_max_pool_rule(Context& ctx, const onnx::NodeProto& node) {
  global_pool(ctx, node, PoolMethod::Max, node.output(0));
}

void reduce_mean_rule(Context& ctx, const onnx::NodeProto& node) {
  if (match_layer_norm(ctx, node)) return;
  BlobId x = ctx.blob_input(node, 0);
  const Shape in = ctx.shape(x);
  auto axes = attr_ints(node, "axes");
  if (in.rank() != 4 || !axes || axes->size() != 2)
    unsupported(
        "only a mean over H and W of an NCHW tensor (axes [2, 3]), or the first node of a layer "
        "normalisation, is supported");
  std::vector<int> a{normalize_axis((*axes)[0], 4), normalize_axis((*axes)[1], 4)};
  std::sort(a.begin(), a.end());
  if (a != std::vector<int>{2, 3}) unsupported("only a mean over H and W (axes [2, 3]) is supported");
  if (attr_int(node, "keepdims", 1) != 0) {
    global_pool(ctx, node, PoolMethod::Average, node.output(0));
    return;
  }
  if (ctx.feeds_gemm(node.output(0))) {  // the InnerProduct drops the unit axes itself
    global_pool(ctx, node, PoolMethod::Average, node.output(0));
    ctx.flattened_for_gemm.insert(node.output(0));
    return;
  }
  // keepdims=0: pool, then drop the two unit axes.
  const std::string pooled = node.output(0) + "/pooled";
  global_pool(ctx, node, PoolMethod::Average, pooled);
  ReshapeParams r;
  r.dims = {in.n(), in.c()};
  ctx.add_layer(node, LayerKind::Reshape, r, {ctx.value(pooled).blob}, {node.output(0)});
}

}  // namespace

void register_pool_rules() {
  rules()["MaxPool"] = max_pool_rule;
  rules()["AveragePool"] = average_pool_rule;
  rules()["GlobalAveragePool"] = global_average_pool_rule;
  rules()["GlobalMaxPool"] = global_max_pool_rule;
  rules()["ReduceMean"] = reduce_mean_rule;
}

}  // namespace convergy::onnx_import

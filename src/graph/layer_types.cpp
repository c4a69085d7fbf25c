// The declaration table of every layer kind and its shape rule (output shapes and weight specs).
#include "graph/layer.h"

#include "util/checked.h"
#include "util/error.h"

#include <algorithm>
#include <numeric>

namespace convergy {
namespace {
// Message arguments that are formatted only when a message is built (see Ctx::require).
struct LimitText {
  Limit which;
};
struct InputRange {
  int min, max;  // max < 0: no upper bound
};
}  // namespace
}  // namespace convergy

template <>
struct fmt::formatter<convergy::Shape> : fmt::formatter<std::string> {
  auto format(const convergy::Shape& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(s.str(), ctx);
  }
};
template <>
struct fmt::formatter<convergy::LimitText> : fmt::formatter<std::string> {
  auto format(const convergy::LimitText& l, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(convergy::limit_text(l.which), ctx);
  }
};
template <>
struct fmt::formatter<convergy::InputRange> : fmt::formatter<std::string> {
  auto format(const convergy::InputRange& r, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(
        r.max < 0 ? std::to_string(r.min) : fmt::format("{} to {}", r.min, r.max), ctx);
  }
};

namespace convergy {

namespace {

constexpr std::array<LayerTypeInfo, kLayerKindCount> kTypes = {{
    {LayerKind::Input, "Input", LayerClass::None, 0, 0},
    {LayerKind::Convolution, "Convolution", LayerClass::Conv, 1, 1},
    {LayerKind::InnerProduct, "InnerProduct", LayerClass::FC, 1, 1},
    {LayerKind::Pooling, "Pooling", LayerClass::Pool, 1, 1},
    {LayerKind::ReLU, "ReLU", LayerClass::Other, 1, 1},
    {LayerKind::LeakyReLU, "LeakyReLU", LayerClass::Other, 1, 1},
    {LayerKind::Clip, "Clip", LayerClass::Other, 1, 1},
    {LayerKind::PReLU, "PReLU", LayerClass::Other, 1, 1},
    {LayerKind::Sigmoid, "Sigmoid", LayerClass::Other, 1, 1},
    {LayerKind::TanH, "TanH", LayerClass::Other, 1, 1},
    {LayerKind::Swish, "Swish", LayerClass::Other, 1, 1},
    {LayerKind::HardSwish, "HardSwish", LayerClass::Other, 1, 1},
    {LayerKind::HardSigmoid, "HardSigmoid", LayerClass::Other, 1, 1},
    {LayerKind::BatchNorm, "BatchNorm", LayerClass::Other, 1, 1},
    {LayerKind::Scale, "Scale", LayerClass::Other, 1, 2},
    {LayerKind::LRN, "LRN", LayerClass::Other, 1, 1},
    {LayerKind::Concat, "Concat", LayerClass::Other, 1, -1},
    {LayerKind::Eltwise, "Eltwise", LayerClass::Other, 1, -1},
    {LayerKind::Softmax, "Softmax", LayerClass::Other, 1, 1},
    {LayerKind::Dropout, "Dropout", LayerClass::Other, 1, 1},
    {LayerKind::Flatten, "Flatten", LayerClass::Other, 1, 1},
    {LayerKind::Reshape, "Reshape", LayerClass::Other, 1, 1},
    {LayerKind::Split, "Split", LayerClass::Other, 1, 1},
    {LayerKind::Slice, "Slice", LayerClass::Other, 1, 1},
    {LayerKind::ChannelShuffle, "ChannelShuffle", LayerClass::Other, 1, 1},
    {LayerKind::Permute, "Permute", LayerClass::Other, 1, 1},
    {LayerKind::Pad, "Pad", LayerClass::Other, 1, 1},
    {LayerKind::Deconvolution, "Deconvolution", LayerClass::Conv, 1, 1},
    {LayerKind::Crop, "Crop", LayerClass::Other, 2, 2},
    {LayerKind::ArgMax, "ArgMax", LayerClass::Other, 1, 1},
    {LayerKind::Resize, "Resize", LayerClass::Other, 1, 2},  // a second input only gives the size (or a mask)
    {LayerKind::Axpy, "Axpy", LayerClass::Other, 3, 3},
    {LayerKind::Normalize, "Normalize", LayerClass::Other, 1, 1},
    {LayerKind::PriorBox, "PriorBox", LayerClass::Other, 1, 2},
    {LayerKind::DetectionOutput, "DetectionOutput", LayerClass::Other, 3, 5},
    {LayerKind::ROIPooling, "ROIPooling", LayerClass::Other, 2, 2},
    {LayerKind::Opaque, "Opaque", LayerClass::Other, 0, -1},
    {LayerKind::Power, "Power", LayerClass::Other, 1, 1},
    {LayerKind::LayerNorm, "LayerNorm", LayerClass::Other, 1, 1},
    {LayerKind::GELU, "GELU", LayerClass::Other, 1, 1},
    // A matrix product is what a fully connected layer computes; here both operands are activations.
    {LayerKind::MatMul, "MatMul", LayerClass::FC, 2, 2},
    {LayerKind::Constant, "Constant", LayerClass::None, 0, 0},
}};

consteval bool table_in_enum_order() {
  for (int i = 0; i < kLayerKindCount; ++i)
    if (static_cast<int>(kTypes[static_cast<size_t>(i)].kind) != i) return false;
  return true;
}
static_assert(kTypes.size() == static_cast<size_t>(kLayerKindCount), "every LayerKind needs a row");
static_assert(table_in_enum_order(), "the table must follow the LayerKind order");

// The input shapes of the layer being inferred, read in place through pointers (the graph's own blobs), so
// building a layer copies no shape.
class Inputs {
 public:
  Inputs(const Shape* const* shapes, size_t n) : shapes_(shapes), n_(n) {}
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Shape& operator[](size_t i) const { return *shapes_[i]; }

 private:
  const Shape* const* shapes_;
  size_t n_;
};

// Context for messages: `layer "conv2" (Convolution)`.
struct Ctx {
  const Layer& layer;
  [[noreturn]] void fail(const std::string& what) const {
    std::string prefix = layer.origin.empty() ? "" : layer.origin.str() + ": ";
    throw Error(ErrorKind::BadInput,
                prefix + "layer \"" + layer.name + "\" (" + std::string(layer_kind_name(layer.kind)) + "): " + what);
  }
  // The message is formatted only when the check fails: shape inference runs for every layer of every
  // network a search scores, and formatting on success was most of its time.
  void require(bool ok, const char* what) const {
    if (!ok) fail(what);
  }
  template <typename... Args>
  void require(bool ok, fmt::format_string<Args...> f, Args&&... args) const {
    if (!ok) fail(fmt::format(f, std::forward<Args>(args)...));
  }
};

int normalize_axis(const Ctx& ctx, int axis, int rank, const char* what) {
  int a = axis < 0 ? axis + rank : axis;
  ctx.require(a >= 0 && a < rank, "{} {} is out of range for a rank-{} input", what, axis, rank);
  return a;
}

template <typename P>
const P& params_of(const Ctx& ctx) {
  const P* p = std::get_if<P>(&ctx.layer.params);
  if (!p) throw_failure("internal: layer \"{}\" has parameters of the wrong kind", ctx.layer.name);
  return *p;
}

void check_positive(const Ctx& ctx, int64_t v, const char* what) {
  ctx.require(v >= 1, "{} {}, expected >= 1", what, v);
  ctx.require(v <= global_limits().max_dim, "{} {} is absurdly large, expected at most {}", what, v,
              LimitText{Limit::Dim});
}
void check_non_negative(const Ctx& ctx, int64_t v, const char* what) {
  ctx.require(v >= 0, "{} {}, expected >= 0", what, v);
  ctx.require(v <= global_limits().max_dim, "{} {} is absurdly large, expected at most {}", what, v,
              LimitText{Limit::Dim});
}

Shape require_rank4(const Ctx& ctx, const Shape& s) {
  ctx.require(s.rank() == 4, "input shape {} has rank {}, expected NCHW (rank 4)", s, s.rank());
  return s;
}

// The parameter checks that Convolution and Deconvolution share; returns the input shape.
Shape check_conv_params(const Ctx& ctx, const ConvParams& p, const Shape& input) {
  const Shape s = require_rank4(ctx, input);
  check_positive(ctx, p.num_output, "num_output");
  check_positive(ctx, p.kernel_h, "kernel_h");
  check_positive(ctx, p.kernel_w, "kernel_w");
  check_positive(ctx, p.stride_h, "stride_h");
  check_positive(ctx, p.stride_w, "stride_w");
  check_positive(ctx, p.dilation_h, "dilation_h");
  check_positive(ctx, p.dilation_w, "dilation_w");
  check_positive(ctx, p.groups, "group");
  check_non_negative(ctx, p.pad_top, "pad_top");
  check_non_negative(ctx, p.pad_bottom, "pad_bottom");
  check_non_negative(ctx, p.pad_left, "pad_left");
  check_non_negative(ctx, p.pad_right, "pad_right");
  ctx.require(s.c() % p.groups == 0, "input has {} channels, not divisible by group {}", s.c(), p.groups);
  ctx.require(p.num_output % p.groups == 0, "num_output {} is not divisible by group {}", p.num_output,
              p.groups);
  return s;
}

void infer_conv(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ConvParams>(ctx);
  const Shape s = check_conv_params(ctx, p, in[0]);
  const int64_t c = s.c();
  auto out_dim = [&](int64_t size, int64_t pb, int64_t pe, int64_t k, int64_t d, int64_t st, const char* axis) {
    const int64_t extent = d * (k - 1) + 1;
    const int64_t padded = size + pb + pe;
    ctx.require(padded >= extent, "kernel extent {} is larger than the padded input {} along {}", extent,
                padded, axis);
    return (padded - extent) / st + 1;
  };
  const int64_t oh = out_dim(s.h(), p.pad_top, p.pad_bottom, p.kernel_h, p.dilation_h, p.stride_h, "height");
  const int64_t ow = out_dim(s.w(), p.pad_left, p.pad_right, p.kernel_w, p.dilation_w, p.stride_w, "width");
  r.outputs.push_back(Shape{s.n(), p.num_output, oh, ow});
  r.weights.reserve(2);
  r.weights.push_back({"weight", Shape{p.num_output, c / p.groups, p.kernel_h, p.kernel_w}, true});
  if (p.bias) r.weights.push_back({"bias", Shape{p.num_output}, true});
}

void infer_inner_product(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<InnerProductParams>(ctx);
  const Shape& s = in[0];
  check_positive(ctx, p.num_output, "num_output");
  const int axis = normalize_axis(ctx, p.axis, s.rank(), "axis");
  std::vector<int64_t> tail(s.dims.begin() + axis, s.dims.end());
  auto k = checked_product(tail);
  ctx.require(k.has_value(), "input feature count overflows");
  std::vector<int64_t> out(s.dims.begin(), s.dims.begin() + axis);
  out.push_back(p.num_output);
  r.outputs.push_back(Shape(out));
  r.weights.push_back({"weight", Shape{p.num_output, *k}, true});
  if (p.bias) r.weights.push_back({"bias", Shape{p.num_output}, true});
}

void infer_pooling(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<PoolParams>(ctx);
  const Shape s = require_rank4(ctx, in[0]);
  if (p.global) {
    r.outputs.assign(ctx.layer.outputs.size() == 2 ? 2 : 1, Shape{s.n(), s.c(), 1, 1});
    return;
  }
  check_positive(ctx, p.kernel_h, "kernel_h");
  check_positive(ctx, p.kernel_w, "kernel_w");
  check_positive(ctx, p.stride_h, "stride_h");
  check_positive(ctx, p.stride_w, "stride_w");
  check_non_negative(ctx, p.pad_top, "pad_top");
  check_non_negative(ctx, p.pad_bottom, "pad_bottom");
  check_non_negative(ctx, p.pad_left, "pad_left");
  check_non_negative(ctx, p.pad_right, "pad_right");
  ctx.require(p.pad_top < p.kernel_h && p.pad_bottom < p.kernel_h && p.pad_left < p.kernel_w &&
                  p.pad_right < p.kernel_w,
              "padding must be smaller than the kernel {}x{}", p.kernel_h, p.kernel_w);
  auto out_dim = [&](int64_t size, int64_t pb, int64_t pe, int64_t k, int64_t st, const char* axis) {
    const int64_t padded = size + pb + pe;
    if (padded < k) {
      // Caffe: ceil((padded - k) / stride) + 1 windows, the one window clipped to the input; floor gives none.
      ctx.require(p.clip_window && p.rounding == PoolRounding::Ceil && k - padded < st,
                  "kernel {} is larger than the padded input {} along {}", k, padded, axis);
      return int64_t{1};
    }
    int64_t o = p.rounding == PoolRounding::Ceil ? (padded - k + st - 1) / st + 1 : (padded - k) / st + 1;
    // Caffe, PyTorch and ONNX all drop a last window that would start inside the trailing padding.
    if (p.rounding == PoolRounding::Ceil && (o - 1) * st >= size + pb) --o;
    return o;
  };
  const int64_t oh = out_dim(s.h(), p.pad_top, p.pad_bottom, p.kernel_h, p.stride_h, "height");
  const int64_t ow = out_dim(s.w(), p.pad_left, p.pad_right, p.kernel_w, p.stride_w, "width");
  r.outputs.push_back(Shape{s.n(), s.c(), oh, ow});
  if (ctx.layer.outputs.size() == 2) {
    ctx.require(p.method == PoolMethod::Max, "a mask output needs MAX pooling");
    r.outputs.push_back(r.outputs[0]);
  }
}

void same_shape(const Inputs& in, InferredShapes& r) { r.outputs.push_back(in[0]); }

void infer_prelu(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<PReLUParams>(ctx);
  same_shape(in, r);
  r.weights.push_back({"slope", Shape{p.channel_shared ? 1 : in[0].c()}, true});
}

void infer_batchnorm(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<BatchNormParams>(ctx);
  ctx.require(in[0].rank() >= 2, "input shape {} has no channel axis", in[0]);
  ctx.require(p.eps >= 0.0f, "eps {}, expected >= 0", p.eps);
  const int64_t c = in[0].c();
  same_shape(in, r);
  r.weights.reserve(p.affine ? 4 : 2);
  r.weights.push_back({"mean", Shape{c}, false});
  r.weights.push_back({"variance", Shape{c}, false});
  if (p.affine) {
    r.weights.push_back({"scale", Shape{c}, true});
    r.weights.push_back({"bias", Shape{c}, true});
  }
}

// numpy-style broadcast of two shapes; false if they do not broadcast.
bool broadcast(const Shape& a, const Shape& b, Shape& out) {
  const int rank = std::max(a.rank(), b.rank());
  Dims d;  // in place up to rank 6: an element-wise layer of every residual block comes here
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    d.push_back(std::max(da, db));
  }
  out = Shape(std::move(d));
  return true;
}

void infer_scale(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ScaleParams>(ctx);
  const Shape& s = in[0];
  const int axis = normalize_axis(ctx, p.axis, s.rank(), "axis");
  same_shape(in, r);
  r.weights.reserve(2);
  if (in.size() == 2) {
    // The second input's dims must match the first's starting at `axis` (Caffe), or broadcast.
    const Shape& t = in[1];
    bool ok = axis + t.rank() <= s.rank();
    for (int i = 0; ok && i < t.rank(); ++i) ok = t[i] == s[axis + i] || t[i] == 1;
    ctx.require(ok, "scale input {} does not match input {} at axis {}", t, s, axis);
  } else {
    r.weights.push_back({"scale", Shape{s[axis]}, true});
  }
  if (p.bias) r.weights.push_back({"bias", Shape{s[axis]}, true});
}

void infer_lrn(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<LRNParams>(ctx);
  require_rank4(ctx, in[0]);
  check_positive(ctx, p.local_size, "local_size");
  ctx.require(p.local_size % 2 == 1, "local_size {}, expected an odd number", p.local_size);
  same_shape(in, r);
}

void infer_concat(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ConcatParams>(ctx);
  const Shape& s0 = in[0];
  const int axis = normalize_axis(ctx, p.axis, s0.rank(), "axis");
  Shape out = s0;
  for (size_t i = 1; i < in.size(); ++i) {
    const Shape& s = in[i];
    bool ok = s.rank() == s0.rank();
    for (int d = 0; ok && d < s.rank(); ++d) ok = d == axis || s[d] == s0[d];
    ctx.require(ok, "input {} has shape {}, which does not match {} outside axis {}", i, s, s0, axis);
    auto sum = checked_add(out[axis], s[axis]);
    ctx.require(sum.has_value(), "concatenated size overflows");
    out[axis] = *sum;
  }
  r.outputs.push_back(out);
}

void infer_eltwise(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<EltwiseParams>(ctx);
  ctx.require(p.coeffs.empty() || p.coeffs.size() == in.size(),
              "{} coefficients for {} inputs, expected one per input", p.coeffs.size(), in.size());
  ctx.require(p.coeffs.empty() || p.op == EltwiseOp::Sum, "coefficients are only allowed with SUM");
  Shape out = in[0];
  for (size_t i = 1; i < in.size(); ++i) {
    Shape b;
    ctx.require(broadcast(out, in[i], b), "input {} has shape {}, which does not broadcast with {}", i, in[i],
                out);
    out = b;
  }
  r.outputs.push_back(std::move(out));
}

void infer_softmax(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  normalize_axis(ctx, params_of<SoftmaxParams>(ctx).axis, in[0].rank(), "axis");
  same_shape(in, r);
}

void infer_dropout(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const float ratio = params_of<DropoutParams>(ctx).ratio;
  ctx.require(ratio >= 0.0f && ratio < 1.0f, "dropout_ratio {}, expected in [0, 1)", ratio);
  same_shape(in, r);
}

void infer_flatten(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<FlattenParams>(ctx);
  const Shape& s = in[0];
  const int a = normalize_axis(ctx, p.axis, s.rank(), "axis");
  const int e = normalize_axis(ctx, p.end_axis, s.rank(), "end_axis");
  ctx.require(a <= e, "axis {} is after end_axis {}", p.axis, p.end_axis);
  std::vector<int64_t> out(s.dims.begin(), s.dims.begin() + a);
  std::vector<int64_t> mid(s.dims.begin() + a, s.dims.begin() + e + 1);
  out.push_back(*checked_product(mid));
  out.insert(out.end(), s.dims.begin() + e + 1, s.dims.end());
  r.outputs.push_back(Shape(out));
}

void infer_reshape(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ReshapeParams>(ctx);
  const Shape& s = in[0];
  ctx.require(!p.dims.empty(), "empty target shape");
  std::vector<int64_t> out;
  int infer_at = -1;
  for (size_t i = 0; i < p.dims.size(); ++i) {
    int64_t d = p.dims[i];
    if (d == 0) {
      ctx.require(static_cast<int>(i) < s.rank(), "dimension {} copies an input axis that does not exist", i);
      d = s[static_cast<int>(i)];
    } else if (d == -1) {
      ctx.require(infer_at < 0, "more than one -1 in the target shape");
      infer_at = static_cast<int>(i);
      d = 1;
    } else {
      ctx.require(d > 0, "target dimension {}, expected > 0, 0 or -1", d);
    }
    out.push_back(d);
  }
  const int64_t total = s.elems();
  auto known = checked_product(out);
  ctx.require(known.has_value() && *known > 0, "target shape overflows");
  if (infer_at >= 0) {
    ctx.require(total % *known == 0, "cannot reshape {} ({} elements) to {}", s, total, Shape(p.dims));
    out[static_cast<size_t>(infer_at)] = total / *known;
  } else {
    ctx.require(*known == total, "cannot reshape {} ({} elements) to {} ({} elements)", s, total, Shape(out),
                *known);
  }
  r.outputs.push_back(Shape(out));
}

void infer_split(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  for (size_t i = 0; i < ctx.layer.outputs.size(); ++i) r.outputs.push_back(in[0]);
}

void infer_slice(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<SliceParams>(ctx);
  const Shape& s = in[0];
  const int axis = normalize_axis(ctx, p.axis, s.rank(), "axis");
  const size_t n_out = ctx.layer.outputs.size();
  std::vector<std::pair<int64_t, int64_t>> ranges = p.ranges;
  if (ranges.empty()) {
    ctx.require(n_out > 0 && s[axis] % static_cast<int64_t>(n_out) == 0,
                "axis {} of size {} cannot be split evenly into {} outputs", axis, s[axis], n_out);
    const int64_t step = s[axis] / static_cast<int64_t>(n_out);
    for (size_t i = 0; i < n_out; ++i)
      ranges.emplace_back(static_cast<int64_t>(i) * step, static_cast<int64_t>(i + 1) * step);
  }
  ctx.require(ranges.size() == n_out, "{} ranges for {} outputs", ranges.size(), n_out);
  ctx.require(p.step >= 1, "step {}, expected 1 or more", p.step);
  for (auto [b, e] : ranges) {
    ctx.require(0 <= b && b < e && e <= s[axis], "range [{}, {}) is outside axis {} of size {}", b, e, axis,
                s[axis]);
    Shape o = s;
    o[axis] = (e - b + p.step - 1) / p.step;
    r.outputs.push_back(o);
  }
}

void infer_channel_shuffle(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ChannelShuffleParams>(ctx);
  check_positive(ctx, p.groups, "group");
  ctx.require(in[0].rank() >= 2 && in[0].c() % p.groups == 0,
              "input has {} channels, not divisible by group {}", in[0].c(), p.groups);
  same_shape(in, r);
}

void infer_permute(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<PermuteParams>(ctx);
  const Shape& s = in[0];
  ctx.require(static_cast<int>(p.order.size()) == s.rank(), "order has {} axes, input has rank {}",
              p.order.size(), s.rank());
  std::vector<int> sorted = p.order;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < s.rank(); ++i)
    ctx.require(sorted[static_cast<size_t>(i)] == i, "order is not a permutation of the input axes");
  Shape out = s;
  for (int i = 0; i < s.rank(); ++i) out[i] = s[p.order[static_cast<size_t>(i)]];
  r.outputs.push_back(out);
}

void infer_pad(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<PadParams>(ctx);
  const Shape& s = in[0];
  ctx.require(static_cast<int>(p.begins.size()) == s.rank() && static_cast<int>(p.ends.size()) == s.rank(),
              "{}+{} pads for a rank-{} input, expected one begin and end per axis", p.begins.size(),
              p.ends.size(), s.rank());
  Shape out = s;
  for (int i = 0; i < s.rank(); ++i) {
    check_non_negative(ctx, p.begins[static_cast<size_t>(i)], "pad");
    check_non_negative(ctx, p.ends[static_cast<size_t>(i)], "pad");
    out[i] = s[i] + p.begins[static_cast<size_t>(i)] + p.ends[static_cast<size_t>(i)];
    if (p.mode == PadMode::Reflect)
      ctx.require(p.begins[static_cast<size_t>(i)] < s[i] && p.ends[static_cast<size_t>(i)] < s[i],
                  "reflect padding must be smaller than the input");
  }
  r.outputs.push_back(out);
}

// Caffe's Deconvolution: the gradient of a convolution, so output and input swap roles in the size rule.
void infer_deconv(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ConvParams>(ctx);
  const Shape s = check_conv_params(ctx, p, in[0]);
  const int64_t c = s.c();
  auto out_dim = [&](int64_t size, int64_t pb, int64_t pe, int64_t k, int64_t d, int64_t st, const char* axis) {
    const int64_t full = st * (size - 1) + d * (k - 1) + 1;
    ctx.require(full > pb + pe, "padding {}+{} removes the whole output {} along {}", pb, pe, full, axis);
    return full - pb - pe;
  };
  const int64_t oh = out_dim(s.h(), p.pad_top, p.pad_bottom, p.kernel_h, p.dilation_h, p.stride_h, "height");
  const int64_t ow = out_dim(s.w(), p.pad_left, p.pad_right, p.kernel_w, p.dilation_w, p.stride_w, "width");
  r.outputs.push_back(Shape{s.n(), p.num_output, oh, ow});
  r.weights.push_back({"weight", Shape{c, p.num_output / p.groups, p.kernel_h, p.kernel_w}, true});
  if (p.bias) r.weights.push_back({"bias", Shape{p.num_output}, true});
}

void infer_crop(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<CropParams>(ctx);
  const Shape& s = in[0];
  const Shape& ref = in[1];
  ctx.require(s.rank() == ref.rank(),
              "input {} and reference {} differ in rank, expected the same rank", s.str(), ref.str());
  const int axis = normalize_axis(ctx, p.axis, s.rank(), "axis");
  const size_t cropped = static_cast<size_t>(s.rank() - axis);
  ctx.require(p.offsets.size() <= 1 || p.offsets.size() == cropped,
              "{} offsets for {} cropped axes, expected 0, 1 or {}", p.offsets.size(), cropped, cropped);
  Shape out = s;
  for (int i = axis; i < s.rank(); ++i) {
    const size_t k = static_cast<size_t>(i - axis);
    const int64_t off = p.offsets.empty() ? 0 : p.offsets.size() == 1 ? p.offsets[0] : p.offsets[k];
    check_non_negative(ctx, off, "offset");
    ctx.require(off + ref[i] <= s[i], "offset {} + size {} is past the input's {} along axis {}", off,
                                                  ref[i], s[i], i);
    out[i] = ref[i];
  }
  r.outputs.push_back(out);
}

void infer_argmax(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ArgMaxParams>(ctx);
  const Shape& s = in[0];
  check_positive(ctx, p.top_k, "top_k");
  if (p.axis) {
    const int axis = normalize_axis(ctx, *p.axis, s.rank(), "axis");
    ctx.require(p.top_k <= s[axis], "top_k {} is larger than axis {} of size {}", p.top_k, axis, s[axis]);
    Shape out = s;
    out[axis] = p.top_k;
    r.outputs.push_back(out);
  } else {
    const int64_t per_sample = s.elems() / s[0];
    ctx.require(p.top_k <= per_sample,
                "top_k {} is larger than the {} values per sample", p.top_k, per_sample);
    // Caffe: N x (1 or 2) x top_k, padded with 1s to the input's rank.
    std::vector<int64_t> d(static_cast<size_t>(std::max(s.rank(), 3)), 1);
    d[0] = s[0];
    d[1] = p.out_max_val ? 2 : 1;
    d[2] = p.top_k;
    r.outputs.push_back(Shape(std::move(d)));
  }
}

void infer_resize(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ResizeParams>(ctx);
  const Shape s = require_rank4(ctx, in[0]);
  check_positive(ctx, p.out_h, "output height");
  check_positive(ctx, p.out_w, "output width");
  r.outputs.push_back(Shape{s.n(), s.c(), p.out_h, p.out_w});
}

void infer_axpy(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const Shape& a = in[0];
  const Shape& x = in[1];
  const Shape& y = in[2];
  ctx.require(x == y, "x {} and y {} differ, expected the same shape", x.str(), y.str());
  ctx.require(x.rank() >= 2 && a.rank() >= 2 && a[0] == x[0] && a[1] == x[1] && a.elems() == x[0] * x[1],
              "scale {} is not one value per channel of x {}, expected {}x{}x1x1", a.str(), x.str(),
              x.rank() >= 2 ? x[0] : 0, x.rank() >= 2 ? x[1] : 0);
  r.outputs.push_back(x);
}

void infer_normalize(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<NormalizeParams>(ctx);
  ctx.require(in[0].rank() >= 2, "input shape {} has no channel axis", in[0].str());
  same_shape(in, r);
  r.weights.push_back({"scale", Shape{p.channel_shared ? 1 : in[0].c()}, true});
}

void infer_layer_norm(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<LayerNormParams>(ctx);
  const int a = normalize_axis(ctx, p.axis, in[0].rank(), "axis");
  ctx.require(p.eps >= 0.0f, "epsilon {}, expected at least 0", p.eps);
  same_shape(in, r);
  if (!p.affine) return;
  const Shape normalised(std::vector<int64_t>(in[0].dims.begin() + a, in[0].dims.end()));
  r.weights.push_back({"scale", normalised, true});
  r.weights.push_back({"bias", normalised, true});
}

// numpy matmul of two tensors of rank >= 2: [..., M, K] x [..., K, N] -> [..., M, N], the batch axes
// broadcast. (ONNX's rank-1 operands, promoted and then squeezed, are left to the importer.)
void infer_matmul(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const Shape& a = in[0];
  const Shape& b = in[1];
  ctx.require(a.rank() >= 2 && b.rank() >= 2, "operand shapes {} and {}, expected rank 2 or more for both", a,
              b);
  const int64_t k = a[a.rank() - 1];
  ctx.require(k == b[b.rank() - 2], "operand shapes {} and {} do not multiply: {} columns against {} rows", a,
              b, k, b[b.rank() - 2]);
  Shape batch;
  const Shape batch_a(std::vector<int64_t>(a.dims.begin(), a.dims.end() - 2));
  const Shape batch_b(std::vector<int64_t>(b.dims.begin(), b.dims.end() - 2));
  ctx.require(broadcast(batch_a, batch_b, batch),
              "operand shapes {} and {}: batch axes {} and {} do not broadcast", a, b, batch_a, batch_b);
  std::vector<int64_t> out(batch.dims.begin(), batch.dims.end());
  out.push_back(a[a.rank() - 2]);
  out.push_back(b[b.rank() - 1]);
  r.outputs.push_back(Shape(std::move(out)));
}

void infer_constant(const Ctx& ctx, InferredShapes& r) {
  const auto& p = params_of<ConstantParams>(ctx);
  ctx.require(p.shape.rank() >= 1, "constant has no shape");
  for (int64_t d : p.shape.dims) check_positive(ctx, d, "constant dimension");
  const Shape& v = p.value_shape.rank() == 0 ? p.shape : p.value_shape;
  Shape b;
  ctx.require(broadcast(v, p.shape, b) && b == p.shape, "stored shape {} does not broadcast to {}", v,
              p.shape);
  r.outputs.push_back(p.shape);
  r.weights.push_back({"value", v, true});
}

void infer_prior_box(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<PriorBoxParams>(ctx);
  const Shape s = require_rank4(ctx, in[0]);
  check_positive(ctx, p.priors_per_cell, "priors per cell");
  // Caffe: 1 x 2 x (H * W * priors * 4): the boxes, then their variances.
  auto n = checked_product(std::vector<int64_t>{s.h(), s.w(), p.priors_per_cell, 4});
  ctx.require(n.has_value(), "prior count overflows");
  r.outputs.push_back(Shape{1, 2, *n});
}

void infer_detection_output(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<DetectionOutputParams>(ctx);
  check_positive(ctx, p.num_classes, "num_classes");
  check_positive(ctx, p.keep_top_k, "keep_top_k");
  ctx.require(in[2].rank() == 3 && in[2][1] == 2,
              "prior input {} is not 1x2xK, expected a PriorBox output", in[2].str());
  const int64_t priors = in[2][2] / 4;
  ctx.require(priors >= 1 && in[2][2] % 4 == 0, "prior input {} holds no whole box", in[2].str());
  ctx.require((in[0].elems() / in[0][0]) % (priors * 4) == 0,
              "location input {} does not hold 4 values for each of {} priors", in[0].str(), priors);
  ctx.require(in[1].elems() / in[1][0] == priors * p.num_classes,
              "confidence input {} does not hold {} class scores for each of {} priors", in[1].str(),
                          p.num_classes, priors);
  // The count of detections is data-dependent; keep_top_k per image is its upper bound.
  r.outputs.push_back(Shape{1, 1, in[0][0] * p.keep_top_k, 7});
}

void infer_roi_pooling(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<ROIPoolingParams>(ctx);
  const Shape s = require_rank4(ctx, in[0]);
  const Shape& rois = in[1];
  check_positive(ctx, p.pooled_h, "pooled_h");
  check_positive(ctx, p.pooled_w, "pooled_w");
  check_non_negative(ctx, p.output_dim, "output_dim");
  ctx.require(rois.rank() >= 2 && rois.elems() / rois[0] == 5,
              "ROI input {} is not R x 5 (batch index and box), expected R x 5", rois.str());
  int64_t out_c = s.c();
  if (p.output_dim > 0) {
    // Each factor is bounded by the dimension limit, but their product need not fit.
    const auto needed = checked_product(std::vector<int64_t>{p.output_dim, p.pooled_h, p.pooled_w});
    ctx.require(needed && s.c() == *needed,
                "input has {} channels, expected output_dim {} x group_size {} x group_size {}", s.c(),
                            p.output_dim, p.pooled_h, p.pooled_w);
    out_c = p.output_dim;
  }
  r.outputs.push_back(Shape{rois[0], out_c, p.pooled_h, p.pooled_w});
}

// Nothing is known of an opaque layer: its outputs have the shapes the user gave, or input 0's shape.
void infer_opaque(const Ctx& ctx, const Inputs& in, InferredShapes& r) {
  const auto& p = params_of<OpaqueParams>(ctx);
  const size_t n = ctx.layer.outputs.size();
  ctx.require(p.output_shapes.empty() || p.output_shapes.size() == n, "{} output shapes for {} outputs",
              p.output_shapes.size(), n);
  for (size_t i = 0; i < n; ++i)
    r.outputs.push_back(!p.output_shapes.empty() ? p.output_shapes[i] : in.empty() ? Shape{1} : in[0]);
}

}  // namespace

const LayerTypeInfo& layer_type(LayerKind kind) { return kTypes.at(static_cast<size_t>(kind)); }

std::string_view layer_kind_name(LayerKind kind) {
  return static_cast<int>(kind) < kLayerKindCount ? layer_type(kind).name : std::string_view("?");
}

std::optional<LayerKind> layer_kind_from_name(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return t.kind;
  return std::nullopt;
}

LayerClass layer_class(const Layer& layer) { return layer_type(layer.kind).cls; }

std::string_view layer_class_name(LayerClass c) {
  switch (c) {
    case LayerClass::Conv: return "conv";
    case LayerClass::FC: return "fc";
    case LayerClass::Pool: return "pool";
    case LayerClass::Other: return "other";
    case LayerClass::None: return "none";
  }
  return "none";
}

bool is_fusable_activation(LayerKind kind) {
  switch (kind) {
    case LayerKind::ReLU:
    case LayerKind::LeakyReLU:
    case LayerKind::Clip:
    case LayerKind::Sigmoid:
    case LayerKind::TanH:
    case LayerKind::Swish:
    case LayerKind::HardSwish:
    case LayerKind::HardSigmoid:
    case LayerKind::GELU:
      return true;
    default:
      return false;
  }
}

InferredShapes infer_shapes(const Layer& layer, const std::vector<Shape>& input_shapes) {
  std::vector<const Shape*> pointers;
  pointers.reserve(input_shapes.size());
  for (const Shape& s : input_shapes) pointers.push_back(&s);
  InferredShapes r;
  infer_shapes(layer, pointers.data(), pointers.size(), r);
  return r;
}

void infer_shapes(const Layer& layer, const Shape* const* input_shapes, size_t n_inputs, InferredShapes& r) {
  r.outputs.clear();
  r.weights.clear();
  const Inputs in(input_shapes, n_inputs);
  const Ctx ctx{layer};
  const auto& t = layer_type(layer.kind);
  const int n = static_cast<int>(in.size());
  if (t.max_inputs >= 0 && t.min_inputs == t.max_inputs)
    ctx.require(n == t.min_inputs, "got {} inputs, expected {}", n, t.min_inputs);
  else
    ctx.require(n >= t.min_inputs && (t.max_inputs < 0 || n <= t.max_inputs), "got {} inputs, expected {}{}",
                n, t.max_inputs < 0 ? "at least " : "", InputRange{t.min_inputs, t.max_inputs});
  const size_t n_out = layer.outputs.size();
  if (layer.kind == LayerKind::Pooling)  // SegNet's max pooling also outputs the argmax mask
    ctx.require(n_out == 1 || n_out == 2, "got {} outputs, expected 1 (or 2 with a mask)", n_out);
  else if (layer.kind != LayerKind::Split && layer.kind != LayerKind::Slice && layer.kind != LayerKind::Opaque)
    ctx.require(n_out == 1, "got {} outputs, expected 1", n_out);
  else
    ctx.require(n_out >= 1, "got no outputs, expected at least 1");
  for (int i = 0; i < n; ++i)
    for (int64_t d : in[static_cast<size_t>(i)].dims)
      ctx.require(d >= 1, "input {} has shape {} with a non-positive dimension", i,
                  in[static_cast<size_t>(i)]);

  switch (layer.kind) {
    case LayerKind::Input: {
      const auto& p = params_of<InputParams>(ctx);
      ctx.require(p.shape.rank() >= 1, "input has no shape");
      for (int64_t d : p.shape.dims) check_positive(ctx, d, "input dimension");
      r.outputs.push_back(p.shape);
      break;
    }
    case LayerKind::Convolution: infer_conv(ctx, in, r); break;
    case LayerKind::InnerProduct: infer_inner_product(ctx, in, r); break;
    case LayerKind::Pooling: infer_pooling(ctx, in, r); break;
    case LayerKind::PReLU: infer_prelu(ctx, in, r); break;
    case LayerKind::BatchNorm: infer_batchnorm(ctx, in, r); break;
    case LayerKind::Scale: infer_scale(ctx, in, r); break;
    case LayerKind::LRN: infer_lrn(ctx, in, r); break;
    case LayerKind::Concat: infer_concat(ctx, in, r); break;
    case LayerKind::Eltwise: infer_eltwise(ctx, in, r); break;
    case LayerKind::Softmax: infer_softmax(ctx, in, r); break;
    case LayerKind::Dropout: infer_dropout(ctx, in, r); break;
    case LayerKind::Flatten: infer_flatten(ctx, in, r); break;
    case LayerKind::Reshape: infer_reshape(ctx, in, r); break;
    case LayerKind::Split: infer_split(ctx, in, r); break;
    case LayerKind::Slice: infer_slice(ctx, in, r); break;
    case LayerKind::ChannelShuffle: infer_channel_shuffle(ctx, in, r); break;
    case LayerKind::Permute: infer_permute(ctx, in, r); break;
    case LayerKind::Pad: infer_pad(ctx, in, r); break;
    case LayerKind::Deconvolution: infer_deconv(ctx, in, r); break;
    case LayerKind::Crop: infer_crop(ctx, in, r); break;
    case LayerKind::ArgMax: infer_argmax(ctx, in, r); break;
    case LayerKind::Resize: infer_resize(ctx, in, r); break;
    case LayerKind::Axpy: infer_axpy(ctx, in, r); break;
    case LayerKind::Normalize: infer_normalize(ctx, in, r); break;
    case LayerKind::LayerNorm:
      infer_layer_norm(ctx, in, r);
      break;
    case LayerKind::PriorBox: infer_prior_box(ctx, in, r); break;
    case LayerKind::DetectionOutput: infer_detection_output(ctx, in, r); break;
    case LayerKind::ROIPooling: infer_roi_pooling(ctx, in, r); break;
    case LayerKind::Opaque: infer_opaque(ctx, in, r); break;
    case LayerKind::MatMul:
      infer_matmul(ctx, in, r);
      break;
    case LayerKind::Constant:
      infer_constant(ctx, r);
      break;
    case LayerKind::Clip: {
      const auto& p = params_of<ClipParams>(ctx);
      ctx.require(p.min <= p.max, "min {} is greater than max {}", p.min, p.max);
      same_shape(in, r);
      break;
    }
    case LayerKind::ReLU:
    case LayerKind::LeakyReLU:
    case LayerKind::Sigmoid:
    case LayerKind::TanH:
    case LayerKind::Swish:
    case LayerKind::HardSwish:
    case LayerKind::HardSigmoid:
    case LayerKind::GELU:
    case LayerKind::Power:
      same_shape(in, r);
      break;
    case LayerKind::kCount:
      ctx.fail("invalid layer kind");
  }
  for (const auto& s : r.outputs) {
    for (int64_t d : s.dims)
      ctx.require(d >= 1 && d <= global_limits().max_tensor_elems,
                  "output shape {} has a dimension out of range, expected 1 to {}", s,
                  LimitText{Limit::TensorElems});
    try {
      (void)s.elems();
    } catch (const Error&) {
      ctx.fail(fmt::format("output shape {} has too many elements, expected at most {}", s,
                           LimitText{Limit::TensorElems}));
    }
  }
  for (const auto& w : r.weights) {
    try {
      (void)w.shape.elems();
    } catch (const Error&) {
      ctx.fail(fmt::format("{} shape {} has too many elements, expected at most {}", w.role, w.shape,
                           LimitText{Limit::TensorElems}));
    }
  }
}

}  // namespace convergy

// GPU-free planning of the cudnn backend (see device_plan.h).
#include "runtime/device_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace convergy::runtime::device {

namespace {

int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

bool fits_int(int64_t v) { return v >= 0 && v <= std::numeric_limits<int>::max(); }

}  // namespace

std::optional<std::array<int, 4>> nchw4(const Shape& s) {
  if (s.rank() > 4) return std::nullopt;
  std::array<int, 4> d{1, 1, 1, 1};
  for (int i = 0; i < s.rank(); ++i) {
    if (!fits_int(s[i])) return std::nullopt;
    d[static_cast<size_t>(i)] = static_cast<int>(s[i]);
  }
  return d;
}

std::optional<std::array<int, 4>> broadcast4(const Shape& in, const Shape& out) {
  if (in.rank() > 4 || out.rank() > 4 || in.rank() > out.rank()) return std::nullopt;
  auto o = nchw4(out);
  if (!o) return std::nullopt;
  std::array<int, 4> d{1, 1, 1, 1};
  const int shift = out.rank() - in.rank();
  for (int i = 0; i < in.rank(); ++i) {
    const int64_t v = in[i], want = out[i + shift];
    if (v != want && v != 1) return std::nullopt;
    d[static_cast<size_t>(i + shift)] = static_cast<int>(v);
  }
  return d;
}

bool cudnn_activation(const FusedActivation& a) { return activation_reason(a, false).empty(); }

std::string activation_reason(const FusedActivation& a, bool kernels) {
  if (kernels && (a.kind == LayerKind::LeakyReLU || a.kind == LayerKind::Clip || a.kind == LayerKind::HardSwish ||
                  a.kind == LayerKind::HardSigmoid))
    return {};
  switch (a.kind) {
    case LayerKind::ReLU:
    case LayerKind::Sigmoid:
    case LayerKind::TanH:
    case LayerKind::Swish:
      return {};
    case LayerKind::Clip:
      if (a.alpha == 0.0f) return {};
      return fmt::format("cuDNN clips only from 0 (clipped ReLU), this Clip starts at {}", a.alpha);
    default:
      return fmt::format("cuDNN has no {} activation", layer_kind_name(a.kind));
  }
}

std::optional<PoolPlan> plan_pool(const PoolGeometry& g, std::string* why) {
  auto fail = [why](std::string s) {
    if (why) *why = std::move(s);
    return std::nullopt;
  };
  if (g.pt != g.pb || g.pl != g.pr)
    return fail(fmt::format("asymmetric pooling padding ({},{},{},{}): cuDNN pads both sides alike", g.pt, g.pl,
                            g.pb, g.pr));
  const int64_t oh = (g.in_h + 2 * g.pt - g.kh) / g.sh + 1, ow = (g.in_w + 2 * g.pl - g.kw) / g.sw + 1;
  if (oh != g.out_h || ow != g.out_w)
    return fail(fmt::format("pooling output {}x{} is not cuDNN's floor-rounded {}x{} (ceil rounding)", g.out_h,
                            g.out_w, oh, ow));
  for (int64_t v : {g.kh, g.kw, g.pt, g.pl, g.sh, g.sw})
    if (!fits_int(v)) return fail("pooling parameter out of int range");
  return PoolPlan{static_cast<int>(g.kh), static_cast<int>(g.kw), static_cast<int>(g.pt),
                  static_cast<int>(g.pl), static_cast<int>(g.sh), static_cast<int>(g.sw)};
}

std::vector<Copy2D> plan_concat(const std::vector<Shape>& inputs, const Shape& output, int axis) {
  if (axis < 0) axis += output.rank();
  const int64_t outer = prod(output, 0, axis), out_inner = prod(output, axis, output.rank());
  std::vector<Copy2D> out;
  int64_t offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t inner = prod(inputs[i], axis, inputs[i].rank());
    out.push_back({offset, out_inner, 0, inner, inner, outer, static_cast<int>(i)});
    offset += inner;
  }
  return out;
}

std::vector<Copy2D> plan_slice(const Shape& input, const std::vector<Shape>& outputs, int axis,
                               const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  if (axis < 0) axis += input.rank();
  const int64_t outer = prod(input, 0, axis), after = prod(input, axis + 1, input.rank());
  const int64_t in_inner = input[axis] * after;
  std::vector<Copy2D> out;
  for (size_t i = 0; i < outputs.size() && i < ranges.size(); ++i) {
    const int64_t width = (ranges[i].second - ranges[i].first) * after;
    out.push_back({0, width, ranges[i].first * after, in_inner, width, outer, static_cast<int>(i)});
  }
  return out;
}

namespace {

// Drops axes of one element and merges neighbours the input holds consecutively (neither padded), so the
// kernel divides once per remaining axis; a gather that is a plain copy ends as one axis.
void merge_axes(cuda::Gather& g) {
  auto unpadded = [&g](int d) { return g.begin[d] == 0 && g.in_dim[d] == g.out_dim[d]; };
  int r = 0;
  for (int d = 0; d < g.rank; ++d) {
    if (g.out_dim[d] == 1 && unpadded(d)) continue;
    if (r > 0 && unpadded(r - 1) && unpadded(d) && g.in_stride[r - 1] == g.in_stride[d] * g.in_dim[d]) {
      g.out_dim[r - 1] *= g.out_dim[d];
      g.in_dim[r - 1] *= g.in_dim[d];
      g.in_stride[r - 1] = g.in_stride[d];
      continue;
    }
    g.out_dim[r] = g.out_dim[d];
    g.in_dim[r] = g.in_dim[d];
    g.in_stride[r] = g.in_stride[d];
    g.begin[r] = g.begin[d];
    ++r;
  }
  if (r == 0) {  // a single element
    g.out_dim[0] = g.in_dim[0] = g.in_stride[0] = 1;
    g.begin[0] = 0;
    r = 1;
  }
  for (int d = r; d < cuda::kGatherMaxRank; ++d) g.out_dim[d] = g.in_dim[d] = g.in_stride[d] = g.begin[d] = 0;
  g.rank = r;
}

}  // namespace

std::optional<cuda::Gather> plan_gather(const LayerBinding& b, std::string* why) {
  auto fail = [why](std::string s) {
    if (why) *why = std::move(s);
    return std::nullopt;
  };
  const Shape& in = b.inputs[0].shape;
  const Shape& out = b.outputs[0].shape;
  if (in.rank() > cuda::kGatherMaxRank || in.rank() < 1)
    return fail(fmt::format("rank {} outside the gather kernel's 1..{}", in.rank(), cuda::kGatherMaxRank));
  std::array<int64_t, cuda::kGatherMaxRank> stride{};
  stride[static_cast<size_t>(in.rank() - 1)] = 1;
  for (int d = in.rank() - 2; d >= 0; --d)
    stride[static_cast<size_t>(d)] = stride[static_cast<size_t>(d + 1)] * in[d + 1];
  cuda::Gather g;
  switch (b.layer->kind) {
    case LayerKind::Permute: {
      const auto& order = b.layer->p<PermuteParams>().order;
      if (static_cast<int>(order.size()) != in.rank())
        return fail("Permute order of another rank than its input");
      g.rank = in.rank();
      for (int d = 0; d < g.rank; ++d) {
        g.out_dim[d] = g.in_dim[d] = out[d];
        g.in_stride[d] = stride[static_cast<size_t>(order[static_cast<size_t>(d)])];
      }
      break;
    }
    case LayerKind::ChannelShuffle: {
      // Output channel j * groups + i is input channel i * (c / groups) + j: a transpose of the
      // (groups, c / groups) view of the channels.
      const int64_t groups = b.layer->p<ChannelShuffleParams>().groups, c = in.c();
      if (in.rank() < 2 || groups < 1 || c % groups != 0)
        return fail(fmt::format("ChannelShuffle of {} channels in {} groups", c, groups));
      const int64_t inner = c > 0 ? stride[1] : 0, per_group = c / groups;
      g.rank = 4;
      const int64_t dims[4] = {in.n(), per_group, groups, inner};
      const int64_t strides[4] = {c * inner, inner, per_group * inner, 1};
      for (int d = 0; d < 4; ++d) {
        g.out_dim[d] = g.in_dim[d] = dims[d];
        g.in_stride[d] = strides[d];
      }
      break;
    }
    case LayerKind::Pad: {
      const auto& p = b.layer->p<PadParams>();
      if (static_cast<int>(p.begins.size()) != in.rank())
        return fail("Pad with another count of pads than axes");
      g.rank = in.rank();
      for (int d = 0; d < g.rank; ++d) {
        g.out_dim[d] = out[d];
        g.in_dim[d] = in[d];
        g.in_stride[d] = stride[static_cast<size_t>(d)];
        g.begin[d] = p.begins[static_cast<size_t>(d)];
      }
      g.border = p.mode == PadMode::Constant ? cuda::Border::Constant
                 : p.mode == PadMode::Edge   ? cuda::Border::Edge
                                             : cuda::Border::Reflect;
      g.value = p.value;
      break;
    }
    default:
      return fail(fmt::format("{} is not a gather", layer_kind_name(b.layer->kind)));
  }
  merge_axes(g);
  return g;
}

PreluPlan plan_prelu(const LayerBinding& b) {
  const Shape& s = b.inputs[0].shape;
  const Tensor* slope = b.weight("slope");
  return {s.c(), prod(s, std::min(2, s.rank()), s.rank()), !slope || slope->elems == 1};
}

std::optional<AlgoResult> choose_algorithm(const std::vector<AlgoResult>& found, size_t limit, bool allow_tf32) {
  std::optional<AlgoResult> best;
  for (const AlgoResult& r : found) {
    if (!r.ok || r.workspace_bytes > limit || (r.tensor_math && !allow_tf32) || !(r.time_ms >= 0)) continue;
    if (!best || r.time_ms < best->time_ms) best = r;
  }
  return best;
}

std::string unsupported_reason(const LayerBinding& b, bool kernels) {
  const Layer& l = *b.layer;
  if (l.fused_activation) {
    std::string r = activation_reason(*l.fused_activation, kernels);
    if (!r.empty()) return "fused " + r;
  }
  for (const Tensor& t : b.inputs)
    if (!fits_int(t.elems)) return "tensor too large for cuDNN's int descriptors";
  switch (l.kind) {
    case LayerKind::Convolution: {
      if (b.inputs[0].shape.rank() != 4) return "only 2-D convolutions (rank-4 NCHW)";
      const auto& p = l.p<ConvParams>();
      if (p.pad_top != p.pad_bottom || p.pad_left != p.pad_right)
        return fmt::format("asymmetric convolution padding ({},{},{},{}): cuDNN pads both sides alike", p.pad_top,
                           p.pad_left, p.pad_bottom, p.pad_right);
      return {};
    }
    case LayerKind::InnerProduct:
      return {};
    case LayerKind::Pooling: {
      if (b.inputs[0].shape.rank() != 4) return "only 2-D pooling (rank-4 NCHW)";
      std::string why;
      if (!plan_pool(pool_geometry(b), &why) && !kernels) return why;
      return {};
    }
    case LayerKind::ReLU:
    case LayerKind::Clip:
    case LayerKind::Sigmoid:
    case LayerKind::TanH:
    case LayerKind::Swish:
    case LayerKind::LeakyReLU:
    case LayerKind::HardSwish:
    case LayerKind::HardSigmoid: {
      if (!nchw4(b.inputs[0].shape)) return "rank above 4";
      return activation_reason(activation_of(l), kernels);
    }
    case LayerKind::BatchNorm:
      if (b.inputs[0].shape.rank() != 4 && b.inputs[0].shape.rank() != 2) return "BatchNorm of rank other than 2 or 4";
      return {};
    case LayerKind::Scale: {
      const auto& p = l.p<ScaleParams>();
      if (b.inputs.size() != 1 || p.axis != 1 || !b.weight("scale") || b.weight("scale")->shape.rank() != 1)
        return "only single-input per-channel Scale (axis 1)";
      if (!nchw4(b.inputs[0].shape)) return "rank above 4";
      return {};
    }
    case LayerKind::LRN: {
      const auto& p = l.p<LRNParams>();
      if (!p.across_channels) return "cuDNN's LRN is across channels only";
      if (p.local_size < 1 || p.local_size > 16) return fmt::format("LRN size {} outside cuDNN's 1..16", p.local_size);
      if (p.k < 1e-5f || p.beta < 0.01f) return "LRN k < 1e-5 or beta < 0.01 (cuDNN's limits)";
      if (b.inputs[0].shape.rank() != 4) return "LRN of rank other than 4";
      return {};
    }
    case LayerKind::Concat:
      return {};
    case LayerKind::Slice:
      if (l.p<SliceParams>().step != 1) return "Slice with a step above 1";
      return {};
    case LayerKind::Eltwise: {
      if (b.inputs.size() < 2) return "Eltwise with one input";
      const Shape& out = b.outputs[0].shape;
      int full = 0;
      for (const Tensor& t : b.inputs) {
        if (!broadcast4(t.shape, out)) return "Eltwise inputs of rank above 4 or not broadcastable";
        if (t.shape == out) ++full;
      }
      // cudnnOpTensor broadcasts only its second operand: the first must have the output's shape.
      if (b.inputs[0].shape != out && !(b.inputs.size() == 2 && b.inputs[1].shape == out))
        return "Eltwise whose first full-size operand is not among the first two";
      if (full == 0) return "Eltwise with no full-size input";
      return {};
    }
    case LayerKind::Softmax:
      return {};
    case LayerKind::PReLU:
    case LayerKind::Permute:
    case LayerKind::ChannelShuffle:
    case LayerKind::Pad: {
      if (!kernels)
        return fmt::format("no cudnn kernel for {} (the backend's CUDA kernels are not built)",
                           layer_kind_name(l.kind));
      if (l.kind == LayerKind::PReLU) return b.weight("slope") ? std::string() : "PReLU without a slope";
      std::string why;
      if (!plan_gather(b, &why)) return why;
      return {};
    }
    default:
      return fmt::format("no cudnn kernel for {}", layer_kind_name(l.kind));
  }
}

}  // namespace convergy::runtime::device

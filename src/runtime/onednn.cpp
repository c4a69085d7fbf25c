// The onednn backend: oneDNN 2.6 primitives. Convolution and FC let oneDNN choose its preferred
// (blocked) layouts; weights are reordered once at prepare time, activations are reordered to and from
// plain NCHW around each layer (as PyTorch's eager NCHW path does), fused activations are post-ops.
#ifdef CONVERGY_HAVE_ONEDNN
#include "runtime/backend.h"
#include "runtime/gemm_backend.h"
#include "runtime/parallel.h"
#include "util/error.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <unordered_map>

namespace convergy::runtime {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using Args = std::unordered_map<int, memory>;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

memory::dims dims_of(const Shape& s) { return memory::dims(s.dims.begin(), s.dims.end()); }

tag plain_tag(int rank) {
  switch (rank) {
    case 1:
      return tag::a;
    case 2:
      return tag::ab;
    case 3:
      return tag::abc;
    case 4:
      return tag::abcd;
    case 5:
      return tag::abcde;
    default:
      return tag::undef;
  }
}

memory::desc plain_desc(const Shape& s) { return {dims_of(s), dt::f32, plain_tag(s.rank())}; }

// The oneDNN eltwise equivalent of an activation; false when there is none.
bool eltwise_ops(const FusedActivation& a, dnnl::post_ops* ops) {
  using alg = dnnl::algorithm;
  auto add = [&](alg al, float alpha, float beta) {
    if (ops) ops->append_eltwise(1.0f, al, alpha, beta);
  };
  switch (a.kind) {
    case LayerKind::ReLU:
      add(alg::eltwise_relu, 0.0f, 0.0f);
      return true;
    case LayerKind::LeakyReLU:
      add(alg::eltwise_relu, a.alpha, 0.0f);
      return true;
    case LayerKind::Clip:
      add(alg::eltwise_clip, a.alpha, a.beta);
      return true;
    case LayerKind::Sigmoid:
      add(alg::eltwise_logistic, 0.0f, 0.0f);
      return true;
    case LayerKind::TanH:
      add(alg::eltwise_tanh, 0.0f, 0.0f);
      return true;
    case LayerKind::Swish:
      add(alg::eltwise_swish, 1.0f, 0.0f);
      return true;
    case LayerKind::HardSwish:
      add(alg::eltwise_hardswish, 0.0f, 0.0f);
      return true;
    case LayerKind::GELU:
      add(alg::eltwise_gelu_erf, 0.0f, 0.0f);
      return true;
    case LayerKind::HardSigmoid:
      // oneDNN 2.6 has no hardsigmoid: clamp(alpha * x + beta, 0, 1) as linear then clip.
      add(alg::eltwise_linear, a.alpha, a.beta);
      add(alg::eltwise_clip, 0.0f, 1.0f);
      return true;
    default:
      return false;
  }
}

dnnl::primitive_attr make_attr(const Layer& l) {
  dnnl::primitive_attr attr;
  // Scratch memory comes from the executor's workspace, so oneDNN never allocates it during a run.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (l.fused_activation) {
    dnnl::post_ops ops;
    eltwise_ops(*l.fused_activation, &ops);
    attr.set_post_ops(ops);
  }
  return attr;
}

int64_t floats_for(const memory::desc& d) { return static_cast<int64_t>((d.get_size() + 63) / 64 * 16); }

// One primitive with its arguments, reorders in and out of plain layout, and temporaries placed in the
// executor's workspace by bind_workspace().
class OnednnKernel final : public Kernel {
 public:
  struct Temp {
    memory::desc desc;
    int64_t offset_floats = 0;
    memory mem;
  };

  size_t workspace_floats() const override { return static_cast<size_t>(ws_floats_); }

  // Reserves a workspace slot for a temporary with this layout; returns its index.
  int add_temp(const memory::desc& d) {
    temps_.push_back({d, ws_floats_, {}});
    ws_floats_ += floats_for(d);
    return static_cast<int>(temps_.size() - 1);
  }

  void bind_workspace(float* ws) override {
    auto& eng = cpu_engine();
    for (auto& t : temps_) t.mem = memory(t.desc, eng, ws + t.offset_floats);
    for (auto& step : steps_) {
      for (auto& [arg, temp] : step.temp_args) step.args[arg] = temps_[static_cast<size_t>(temp)].mem;
      // The C++ execute() converts its map into a new vector on every call; the C arguments are built once.
      step.c_args.clear();
      for (auto& [arg, mem] : step.args) step.c_args.push_back({arg, mem.get()});
    }
  }

  void run(float*) override {
    for (auto& step : steps_)
      dnnl::error::wrap_c_api(
          dnnl_primitive_execute(step.prim.get(), stream_.get(), static_cast<int>(step.c_args.size()),
                                 step.c_args.data()),
          "could not execute a primitive");
    stream_.wait();
    if (post_activation_) apply_activation(*post_activation_, post_data_, post_elems_);
  }

  struct Step {
    dnnl::primitive prim;
    Args args;
    std::vector<std::pair<int, int>> temp_args;  // argument -> temp index, filled at bind time
    std::vector<dnnl_exec_arg_t> c_args;
  };
  std::vector<Step> steps_;
  std::vector<Temp> temps_;
  int64_t ws_floats_ = 0;
  dnnl::stream stream_{cpu_engine()};
  // For primitives without post-ops (sum, concat): the activation applied after them.
  const FusedActivation* post_activation_ = nullptr;
  float* post_data_ = nullptr;
  int64_t post_elems_ = 0;
  std::vector<memory> keep_;  // reordered weights and other memory the steps point at
  std::vector<const float*> copied_;  // bound weights reordered into keep_, never read after prepare

  bool copied_weight(const float* data) const override {
    return std::find(copied_.begin(), copied_.end(), data) != copied_.end();
  }
  int64_t owned_bytes() const override {
    int64_t n = 0;
    for (const auto& m : keep_) n += static_cast<int64_t>(m.get_desc().get_size());
    return n;
  }
};

memory user_mem(const Tensor& t) { return memory(plain_desc(t.shape), cpu_engine(), t.data); }

// Adds `prim` with its arguments to `k`; a source whose preferred layout differs from plain gets a reorder
// into a workspace temporary first, and a destination likewise a reorder back after.
struct StepBuilder {
  OnednnKernel& k;
  Args args;
  std::vector<std::pair<int, int>> temp_args;
  std::vector<OnednnKernel::Step> after;

  void src(int arg, const Tensor& t, const memory::desc& want) {
    memory user = user_mem(t);
    if (want == user.get_desc()) {
      args[arg] = user;
      return;
    }
    const int temp = k.add_temp(want);
    OnednnKernel::Step reorder;
    reorder.prim =
        dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), user.get_desc(), cpu_engine(), want));
    reorder.args[DNNL_ARG_FROM] = user;
    reorder.temp_args.emplace_back(DNNL_ARG_TO, temp);
    k.steps_.push_back(std::move(reorder));
    temp_args.emplace_back(arg, temp);
  }

  void dst(int arg, const Tensor& t, const memory::desc& have) {
    memory user = user_mem(t);
    if (have == user.get_desc()) {
      args[arg] = user;
      return;
    }
    const int temp = k.add_temp(have);
    temp_args.emplace_back(arg, temp);
    OnednnKernel::Step reorder;
    reorder.prim =
        dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), have, cpu_engine(), user.get_desc()));
    reorder.temp_args.emplace_back(DNNL_ARG_FROM, temp);
    reorder.args[DNNL_ARG_TO] = user;
    after.push_back(std::move(reorder));
  }

  // Weights are constant: reorder them once now into memory the kernel owns.
  void weights(int arg, const float* data, const memory::desc& plain, const memory::desc& want) {
    memory user(plain, cpu_engine(), const_cast<float*>(data));
    if (want == plain) {
      args[arg] = user;
      return;
    }
    memory reordered(want, cpu_engine());
    dnnl::stream s(cpu_engine());
    dnnl::reorder(user, reordered).execute(s, user, reordered);
    s.wait();
    k.keep_.push_back(reordered);
    k.copied_.push_back(data);
    args[arg] = reordered;
  }

  void scratchpad(const dnnl::primitive_desc_base& pd) {
    const memory::desc d = pd.scratchpad_desc();
    if (d.get_size() == 0) return;
    temp_args.emplace_back(DNNL_ARG_SCRATCHPAD, k.add_temp(d));
  }

  void finish(dnnl::primitive prim) {
    k.steps_.push_back({std::move(prim), std::move(args), std::move(temp_args), {}});
    for (auto& s : after) k.steps_.push_back(std::move(s));
  }
};

std::unique_ptr<Kernel> prepare_conv(const LayerBinding& b) {
  const ConvGeometry g = conv_geometry(b);
  auto k = std::make_unique<OnednnKernel>();
  const Tensor* bias = b.weight("bias");
  memory::dims wdims = g.groups > 1
                           ? memory::dims{g.groups, g.out_c / g.groups, g.in_c / g.groups, g.kh, g.kw}
                           : memory::dims{g.out_c, g.in_c, g.kh, g.kw};
  const memory::desc w_plain(wdims, dt::f32, g.groups > 1 ? tag::goihw : tag::oihw);
  const memory::desc src_any(dims_of(b.inputs[0].shape), dt::f32, tag::any);
  const memory::desc dst_any(dims_of(b.outputs[0].shape), dt::f32, tag::any);
  const memory::desc w_any(wdims, dt::f32, tag::any);
  const memory::desc b_plain({g.out_c}, dt::f32, tag::a);
  const memory::dims strides{g.sh, g.sw}, dil{g.dh - 1, g.dw - 1}, pad_l{g.pt, g.pl}, pad_r{g.pb, g.pr};
  auto desc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                     dnnl::algorithm::convolution_direct, src_any, w_any,
                                                     b_plain, dst_any, strides, dil, pad_l, pad_r)
                   : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                     dnnl::algorithm::convolution_direct, src_any, w_any,
                                                     dst_any, strides, dil, pad_l, pad_r);
  dnnl::convolution_forward::primitive_desc pd(desc, make_attr(*b.layer), cpu_engine());
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC, b.inputs[0], pd.src_desc());
  sb.weights(DNNL_ARG_WEIGHTS, b.weight("weight")->data, w_plain, pd.weights_desc());
  if (bias) sb.weights(DNNL_ARG_BIAS, bias->data, b_plain, pd.bias_desc());
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::convolution_forward(pd));
  return k;
}

std::unique_ptr<Kernel> prepare_inner_product(const LayerBinding& b) {
  const auto& p = b.layer->p<InnerProductParams>();
  const Shape& s = b.inputs[0].shape;
  const int axis = p.axis < 0 ? p.axis + s.rank() : p.axis;
  int64_t m = 1, kk = 1;
  for (int i = 0; i < s.rank(); ++i) (i < axis ? m : kk) *= s[i];
  auto k = std::make_unique<OnednnKernel>();
  const Tensor* bias = b.weight("bias");
  const memory::desc src2({m, kk}, dt::f32, tag::ab), dst2({m, p.num_output}, dt::f32, tag::ab);
  const memory::desc w_plain({p.num_output, kk}, dt::f32, tag::ab),
      w_any({p.num_output, kk}, dt::f32, tag::any);
  const memory::desc b_plain({p.num_output}, dt::f32, tag::a);
  auto desc =
      bias ? dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, src2, w_any, b_plain, dst2)
           : dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, src2, w_any, dst2);
  dnnl::inner_product_forward::primitive_desc pd(desc, make_attr(*b.layer), cpu_engine());
  StepBuilder sb{*k, {}, {}, {}};
  // The executor's tensors are the same bytes as the 2-D views oneDNN is given.
  Tensor src_view{b.inputs[0].data, Shape{m, kk}, m * kk};
  Tensor dst_view{b.outputs[0].data, Shape{m, p.num_output}, m * p.num_output};
  sb.src(DNNL_ARG_SRC, src_view, pd.src_desc());
  sb.weights(DNNL_ARG_WEIGHTS, b.weight("weight")->data, w_plain, pd.weights_desc());
  if (bias) sb.weights(DNNL_ARG_BIAS, bias->data, b_plain, pd.bias_desc());
  sb.dst(DNNL_ARG_DST, dst_view, pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::inner_product_forward(pd));
  return k;
}

// oneDNN pools only full windows it can express with explicit padding: ceil rounding becomes extra
// trailing padding, which changes the divisor of an average that counts padding.
int64_t pool_extra_pad(int64_t in, int64_t out, int64_t k, int64_t s, int64_t pb, int64_t pe) {
  return std::max<int64_t>(0, (out - 1) * s + k - in - pb - pe);
}

// oneDNN's implementation names for its portable loops (as opposed to jit:...): "simple_nchw", "ref:any".
bool generic_impl(const std::string& name) { return name.starts_with("simple") || name.starts_with("ref"); }

std::string pool_reason(const LayerBinding& b) {
  const PoolGeometry g = pool_geometry(b);
  const bool extended = pool_extra_pad(g.in_h, g.out_h, g.kh, g.sh, g.pt, g.pb) > 0 ||
                        pool_extra_pad(g.in_w, g.out_w, g.kw, g.sw, g.pl, g.pr) > 0;
  if (!g.max && g.count_include_pad && extended)
    return "average pooling that counts padding, with ceil rounding past the padding";
  return {};
}

std::unique_ptr<Kernel> prepare_pool(const LayerBinding& b) {
  const PoolGeometry g = pool_geometry(b);
  auto k = std::make_unique<OnednnKernel>();
  const memory::dims pad_l{g.pt, g.pl};
  const memory::dims pad_r{g.pb + pool_extra_pad(g.in_h, g.out_h, g.kh, g.sh, g.pt, g.pb),
                           g.pr + pool_extra_pad(g.in_w, g.out_w, g.kw, g.sw, g.pl, g.pr)};
  const auto alg = g.max ? dnnl::algorithm::pooling_max
                         : (g.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                : dnnl::algorithm::pooling_avg_exclude_padding);
  auto make_pd = [&](const memory::desc& src, const memory::desc& dst) {
    dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src, dst, {g.sh, g.sw},
                                        {g.kh, g.kw}, {0, 0}, pad_l, pad_r);
    return dnnl::pooling_v2_forward::primitive_desc(desc, make_attr(*b.layer), cpu_engine());
  };
  // Plain layout in and out where oneDNN has an optimised kernel for it: the neighbours hand over NCHW.
  // Where it only has its generic loop ("simple_nchw": 25 ms for VGG-16's first pooling, 10x the openblas
  // backend's), pool in a channel-blocked layout between two reorders instead, as a network kept in oneDNN's
  // own layout would (3 ms including both reorders).
  dnnl::pooling_v2_forward::primitive_desc pd =
      make_pd(plain_desc(b.inputs[0].shape), plain_desc(b.outputs[0].shape));
  if (b.inputs[0].shape.rank() == 4 && generic_impl(pd.impl_info_str())) {
    for (tag blocked : {tag::nChw16c, tag::nChw8c}) {
      const memory::desc src(dims_of(b.inputs[0].shape), dt::f32, blocked);
      const memory::desc dst(dims_of(b.outputs[0].shape), dt::f32, blocked);
      try {
        auto alt = make_pd(src, dst);
        if (!generic_impl(alt.impl_info_str())) {
          pd = alt;
          break;
        }
      } catch (const dnnl::error&) {  // no implementation for this layout on this CPU
      }
    }
  }
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC, b.inputs[0], pd.src_desc());
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::pooling_v2_forward(pd));
  return k;
}

std::unique_ptr<Kernel> prepare_eltwise_activation(const LayerBinding& b) {
  auto k = std::make_unique<OnednnKernel>();
  const FusedActivation act = activation_of(*b.layer);
  dnnl::post_ops ops;
  eltwise_ops(act, &ops);
  // The first eltwise op is the primitive; any further one (HardSigmoid's clip) is its post-op.
  float scale = 0, alpha = 0, beta = 0;
  dnnl::algorithm first{};
  ops.get_params_eltwise(0, scale, first, alpha, beta);
  dnnl::post_ops rest;
  for (int i = 1; i < ops.len(); ++i) {
    dnnl::algorithm a{};
    float s2 = 0, a2 = 0, b2 = 0;
    ops.get_params_eltwise(i, s2, a, a2, b2);
    rest.append_eltwise(s2, a, a2, b2);
  }
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(rest);
  const memory::desc d = plain_desc(b.inputs[0].shape);
  dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, first, d, alpha, beta);
  dnnl::eltwise_forward::primitive_desc pd(desc, attr, cpu_engine());
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC, b.inputs[0], pd.src_desc());
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::eltwise_forward(pd));
  return k;
}

// x * factor (+ shift) (then the fused activation) over a tensor of shape `s`, as oneDNN's binary multiply
// with a binary-add post-op: the Scale layer, and BatchNorm with its scale and shift precomputed.
dnnl::binary::primitive_desc affine_pd(const Layer& l, const Shape& s, const memory::desc& factor,
                                       const memory::desc* shift) {
  dnnl::primitive_attr attr = make_attr(l);
  if (shift) {
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, *shift);
    if (l.fused_activation) eltwise_ops(*l.fused_activation, &ops);
    attr.set_post_ops(ops);
  }
  const memory::desc d = plain_desc(s);
  return {dnnl::binary::desc(dnnl::algorithm::binary_mul, d, factor, d), attr, cpu_engine()};
}

// BatchNorm at inference is a per-channel affine map, y = x * scale + shift with scale = gamma / sqrt(var +
// eps) and shift = beta - mean * scale, computed here once and run as oneDNN's binary multiply with a
// binary-add post-op (the Scale layer's path below). oneDNN 2.6's batch_normalization_forward on the plain
// NCHW layout took twice as long: DenseNet-121's 120 BatchNorm layers, which follow a concat and cannot be
// folded into a convolution, 13.4 ms against 6.0 for its 120 Scale layers (docs/runtime.md, "BatchNorm").
std::unique_ptr<Kernel> prepare_batchnorm(const LayerBinding& b) {
  const float eps = b.layer->p<BatchNormParams>().eps;
  const Shape& s = b.inputs[0].shape;
  const int64_t c = s[1];
  std::vector<int64_t> per_channel(static_cast<size_t>(s.rank()), 1);
  per_channel[1] = c;
  const memory::desc cd = plain_desc(Shape(per_channel));
  memory scale(cd, cpu_engine()), shift(cd, cpu_engine());
  auto* sc = static_cast<float*>(scale.get_data_handle());
  auto* sh = static_cast<float*>(shift.get_data_handle());
  const Tensor* gamma = b.weight("scale");
  const Tensor* beta = b.weight("bias");
  for (int64_t ch = 0; ch < c; ++ch) {
    sc[ch] = (gamma ? gamma->data[ch] : 1.0f) / std::sqrt(b.weight("variance")->data[ch] + eps);
    sh[ch] = (beta ? beta->data[ch] : 0.0f) - b.weight("mean")->data[ch] * sc[ch];
  }
  auto k = std::make_unique<OnednnKernel>();
  const dnnl::binary::primitive_desc pd = affine_pd(*b.layer, s, cd, &cd);
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC_0, b.inputs[0], pd.src0_desc());
  sb.args[DNNL_ARG_SRC_1] = scale;
  sb.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = shift;
  k->keep_.push_back(scale);
  k->keep_.push_back(shift);
  for (const char* role : {"mean", "variance", "scale", "bias"})
    if (const Tensor* w = b.weight(role)) k->copied_.push_back(w->data);  // read only here
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::binary(pd));
  return k;
}

std::unique_ptr<Kernel> prepare_lrn(const LayerBinding& b) {
  const auto& p = b.layer->p<LRNParams>();
  auto k = std::make_unique<OnednnKernel>();
  const memory::desc d = plain_desc(b.inputs[0].shape);
  dnnl::lrn_forward::desc desc(
      dnnl::prop_kind::forward_inference,
      p.across_channels ? dnnl::algorithm::lrn_across_channels : dnnl::algorithm::lrn_within_channel, d,
      p.local_size, p.alpha, p.beta, p.k);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::lrn_forward::primitive_desc pd(desc, attr, cpu_engine());
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC, b.inputs[0], pd.src_desc());
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::lrn_forward(pd));
  return k;
}

std::unique_ptr<Kernel> prepare_softmax(const LayerBinding& b) {
  const Shape& s = b.inputs[0].shape;
  int axis = b.layer->p<SoftmaxParams>().axis;
  if (axis < 0) axis += s.rank();
  auto k = std::make_unique<OnednnKernel>();
  dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, plain_desc(s), axis);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::softmax_forward::primitive_desc pd(desc, attr, cpu_engine());
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC, b.inputs[0], pd.src_desc());
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::softmax_forward(pd));
  return k;
}

std::unique_ptr<Kernel> prepare_concat(const LayerBinding& b) {
  int axis = b.layer->p<ConcatParams>().axis;
  if (axis < 0) axis += b.outputs[0].shape.rank();
  auto k = std::make_unique<OnednnKernel>();
  // One reorder per input into its slice of the output (a sub-memory of the plain destination): oneDNN's
  // jit reorders copy at memory speed, while its concat primitive on plain layouts ("simple:any") copied
  // SqueezeNet's 1.6 MB fire2/concat in 0.7 ms, 20x the openblas backend's memcpy. This is the way oneDNN's
  // own reference concat works, with the fast reorder kernels.
  const memory::desc dst = plain_desc(b.outputs[0].shape);
  memory::dims offset(static_cast<size_t>(b.outputs[0].shape.rank()), 0);
  for (const Tensor& t : b.inputs) {
    const memory::dims dims = dims_of(t.shape);
    const memory::desc slice = dst.submemory_desc(dims, offset);
    OnednnKernel::Step copy;
    copy.prim =
        dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), plain_desc(t.shape), cpu_engine(), slice));
    copy.args[DNNL_ARG_FROM] = user_mem(t);
    copy.args[DNNL_ARG_TO] = memory(slice, cpu_engine(), b.outputs[0].data);
    k->steps_.push_back(std::move(copy));
    offset[static_cast<size_t>(axis)] += dims[static_cast<size_t>(axis)];
  }
  return k;
}

// A Sum of two inputs, the second broadcast to the first, without coefficients (Swin's position bias and
// attention mask): oneDNN's binary add.
bool plain_broadcast_sum(const LayerBinding& b) {
  const auto& p = b.layer->p<EltwiseParams>();
  if (p.op != EltwiseOp::Sum || b.inputs.size() != 2 || !(b.inputs[0].shape == b.outputs[0].shape))
    return false;
  return std::all_of(p.coeffs.begin(), p.coeffs.end(), [](float c) { return c == 1.0f; });
}

std::unique_ptr<Kernel> prepare_eltwise(const LayerBinding& b) {
  const auto& p = b.layer->p<EltwiseParams>();
  auto k = std::make_unique<OnednnKernel>();
  StepBuilder sb{*k, {}, {}, {}};
  const bool broadcast_sum = plain_broadcast_sum(b) && !(b.inputs[1].shape == b.outputs[0].shape);
  if (p.op == EltwiseOp::Sum && !broadcast_sum) {
    std::vector<float> scales;
    std::vector<memory::desc> srcs;
    for (size_t i = 0; i < b.inputs.size(); ++i) {
      scales.push_back(p.coeffs.empty() ? 1.0f : p.coeffs[i]);
      srcs.push_back(plain_desc(b.inputs[i].shape));
    }
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::sum::primitive_desc pd(plain_desc(b.outputs[0].shape), scales, srcs, cpu_engine(), attr);
    for (size_t i = 0; i < b.inputs.size(); ++i)
      sb.src(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), b.inputs[i], srcs[i]);
    sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
    sb.scratchpad(pd);
    sb.finish(dnnl::sum(pd));
    if (b.layer->fused_activation) {
      k->post_activation_ = &*b.layer->fused_activation;
      k->post_data_ = b.outputs[0].data;
      k->post_elems_ = b.outputs[0].elems;
    }
    return k;
  }
  // Prod, Max and a broadcast Sum of two inputs: oneDNN's binary primitive broadcasts the second input
  // (size-1 dims).
  const Shape& out = b.outputs[0].shape;
  std::vector<int64_t> d1(static_cast<size_t>(out.rank()), 1);
  const Shape& s1 = b.inputs[1].shape;
  for (int i = 0; i < s1.rank(); ++i) d1[static_cast<size_t>(out.rank() - s1.rank() + i)] = s1[i];
  const Tensor in1{b.inputs[1].data, Shape(d1), b.inputs[1].elems};
  const dnnl::algorithm algorithm = p.op == EltwiseOp::Prod  ? dnnl::algorithm::binary_mul
                                    : p.op == EltwiseOp::Max ? dnnl::algorithm::binary_max
                                                             : dnnl::algorithm::binary_add;
  dnnl::binary::desc desc(algorithm, plain_desc(b.inputs[0].shape), plain_desc(in1.shape), plain_desc(out));
  dnnl::binary::primitive_desc pd(desc, make_attr(*b.layer), cpu_engine());
  sb.src(DNNL_ARG_SRC_0, b.inputs[0], pd.src0_desc());
  sb.src(DNNL_ARG_SRC_1, in1, pd.src1_desc());
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::binary(pd));
  return k;
}

// Scale: a per-channel (or second-input) product as oneDNN's binary multiply, the bias as a binary-add
// post-op, both broadcasting a tensor whose dims line up with the input's from `axis` on.
std::unique_ptr<Kernel> prepare_scale(const LayerBinding& b) {
  const auto& p = b.layer->p<ScaleParams>();
  const Shape& s = b.inputs[0].shape;
  const int axis = p.axis < 0 ? p.axis + s.rank() : p.axis;
  auto aligned = [&](const Shape& t) {
    std::vector<int64_t> d(static_cast<size_t>(s.rank()), 1);
    for (int i = 0; i < t.rank(); ++i) d[static_cast<size_t>(axis + i)] = t[i];
    return Shape(d);
  };
  const Tensor factor =
      b.inputs.size() == 2
          ? Tensor{b.inputs[1].data, aligned(b.inputs[1].shape), b.inputs[1].elems}
          : Tensor{b.weight("scale")->data, aligned(b.weight("scale")->shape), b.weight("scale")->elems};
  auto k = std::make_unique<OnednnKernel>();
  const Tensor* bias = b.weight("bias");
  const memory::desc bias_desc = bias ? plain_desc(aligned(bias->shape)) : memory::desc();
  const dnnl::binary::primitive_desc pd =
      affine_pd(*b.layer, s, plain_desc(factor.shape), bias ? &bias_desc : nullptr);
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC_0, b.inputs[0], pd.src0_desc());
  sb.src(DNNL_ARG_SRC_1, factor, pd.src1_desc());
  if (bias) sb.weights(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, bias->data, bias_desc, bias_desc);
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::binary(pd));
  return k;
}

// oneDNN's matmul primitive on plain row-major operands, each given the output's rank with leading axes of
// 1 (oneDNN broadcasts an operand's batch axes of size 1, as numpy does).
std::unique_ptr<Kernel> prepare_matmul(const LayerBinding& b) {
  const int rank = b.outputs[0].shape.rank();
  auto padded = [rank](const Tensor& t) {
    std::vector<int64_t> d(static_cast<size_t>(rank - t.shape.rank()), 1);
    d.insert(d.end(), t.shape.dims.begin(), t.shape.dims.end());
    return Tensor{t.data, Shape(std::move(d)), t.elems};
  };
  const Tensor a = padded(b.inputs[0]), w = padded(b.inputs[1]);
  const dnnl::matmul::desc desc(plain_desc(a.shape), plain_desc(w.shape), plain_desc(b.outputs[0].shape));
  dnnl::matmul::primitive_desc pd(desc, make_attr(*b.layer), cpu_engine());
  auto k = std::make_unique<OnednnKernel>();
  StepBuilder sb{*k, {}, {}, {}};
  sb.src(DNNL_ARG_SRC, a, pd.src_desc());
  sb.src(DNNL_ARG_WEIGHTS, w, pd.weights_desc());
  sb.dst(DNNL_ARG_DST, b.outputs[0], pd.dst_desc());
  sb.scratchpad(pd);
  sb.finish(dnnl::matmul(pd));
  return k;
}

// gemm_backend.h's GemmFn with oneDNN's row-major sgemm.
void onednn_sgemm(bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc) {
  const dnnl::status st = dnnl::sgemm('N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  if (st != dnnl::status::success) throw_failure("oneDNN sgemm failed (status {})", static_cast<int>(st));
}

class OnednnBackend final : public Backend {
 public:
  std::string_view name() const override { return "onednn"; }

  std::string unsupported_reason(const LayerBinding& b) const override {
    const Layer& l = *b.layer;
    for (const Tensor& t : b.inputs)
      if (t.shape.rank() > 5) return "rank above 5";
    if (l.fused_activation && !eltwise_ops(*l.fused_activation, nullptr))
      return "fused activation has no oneDNN post-op";
    switch (l.kind) {
      case LayerKind::Convolution:
      case LayerKind::Deconvolution:
        if (b.inputs[0].shape.rank() != 4) return "convolution input is not 4-D";
        return {};
      case LayerKind::InnerProduct:
      case LayerKind::BatchNorm:
      case LayerKind::Scale:
      case LayerKind::LRN:
      case LayerKind::Softmax:
      case LayerKind::Concat:
      case LayerKind::LayerNorm:
      case LayerKind::Permute:
        return {};
      case LayerKind::MatMul:
        return b.outputs[0].shape.rank() > 5 ? "rank above 5" : "";
      case LayerKind::Slice:
      case LayerKind::Power:
        return {};
      case LayerKind::Pooling:
        return pool_reason(b);
      case LayerKind::Eltwise: {
        const auto& p = l.p<EltwiseParams>();
        if (p.op == EltwiseOp::Sum) {
          bool same = true;
          for (const Tensor& t : b.inputs) same = same && t.shape == b.outputs[0].shape;
          if (same) return {};
          if (!plain_broadcast_sum(b))
            return "Sum with broadcasting of more than two inputs, with coefficients "
                   "or of the first input";
          return {};
        }
        if (b.inputs.size() != 2) return "Prod/Max of more than two inputs";
        if (!(b.inputs[0].shape == b.outputs[0].shape)) return "first input broadcasts";
        return {};
      }
      default:
        if (is_fusable_activation(l.kind)) return {};
        return std::string(layer_kind_name(l.kind)) + " has no onednn kernel";
    }
  }

  std::unique_ptr<Kernel> prepare(const LayerBinding& b) override {
    try {
      switch (b.layer->kind) {
        case LayerKind::Convolution:
          return prepare_conv(b);
        case LayerKind::Deconvolution:
          // GEMM + col2im with oneDNN's sgemm (gemm_backend.h): the layout the other CPU backends use.
          return make_deconv_kernel(b, onednn_sgemm);
        case LayerKind::LayerNorm:
          // The threaded rows the other CPU backends run (not oneDNN's layer_normalization primitive).
          return make_layer_norm_kernel(b);
        case LayerKind::Permute:
          return make_permute_kernel(b);
        case LayerKind::InnerProduct:
          return prepare_inner_product(b);
        case LayerKind::Pooling:
          return prepare_pool(b);
        case LayerKind::BatchNorm:
          return prepare_batchnorm(b);
        case LayerKind::LRN:
          return prepare_lrn(b);
        case LayerKind::Scale:
          return prepare_scale(b);
        case LayerKind::Softmax:
          return prepare_softmax(b);
        case LayerKind::Concat:
          return prepare_concat(b);
        case LayerKind::Eltwise:
          return prepare_eltwise(b);
        case LayerKind::MatMul:
          return prepare_matmul(b);
        case LayerKind::Slice:
        case LayerKind::Power:
          return make_reference_loop_kernel(b);
        default:
          return prepare_eltwise_activation(b);
      }
    } catch (const dnnl::error& e) {
      throw Unsupported(std::string("oneDNN could not create the primitive: ") + e.what());
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_onednn_backend() { return std::make_unique<OnednnBackend>(); }

}  // namespace convergy::runtime
#endif  // CONVERGY_HAVE_ONEDNN

// The GEMM-based CPU backend shared by openblas and eigen: convolution as im2col + GEMM per group
// (Caffe's scheme; 1x1 stride-1 convolutions multiply the input directly), transposed convolution as GEMM +
// col2im, depthwise convolution as a direct loop, FC as one GEMM, and simple threaded loops for pooling and
// element-wise layers.
#include "runtime/gemm_backend.h"

#include "runtime/parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include <unistd.h>

namespace convergy::runtime {

namespace {

int norm_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

// Adds a per-row bias to an rows x cols block and applies the fused activation, row by row so each row
// is still in cache after the GEMM wrote it.
void epilogue(float* y, int64_t rows, int64_t cols, const float* bias, const FusedActivation* act) {
  parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = y + r * cols;
      if (bias) {
        const float b = bias[r];
        for (int64_t i = 0; i < cols; ++i) row[i] += b;
      }
      if (act) apply_activation(*act, row, cols);
    }
  });
}

bool is_depthwise(const ConvGeometry& g) { return g.groups > 1 && g.in_c_per_group() == 1; }

// Output rows per im2col band of a convolution. The whole im2col matrix of a large layer (DenseNet-121's 3x3
// convolutions: 1152 x 3136 floats, 14 MB) is written to memory and read back by the GEMM, which then runs at
// the speed of memory: a band of rows whose matrix fits in half the L2 cache is read back from the cache.
// Bands only where the weights (the GEMM's other operand, read again for every band) fit in a quarter of it,
// and the whole matrix does not fit in it at all (docs/runtime.md, "im2col").
int64_t im2col_band_rows(const ConvGeometry& g) {
  static const int64_t l2 = [] {
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? static_cast<int64_t>(v) : int64_t{1} << 20;
  }();
  const int64_t k = g.in_c_per_group() * g.kh * g.kw, row_bytes = k * g.out_w * 4;
  const int64_t weight_bytes = g.out_c_per_group() * k * 4;
  if (weight_bytes > l2 / 4 || row_bytes * g.out_h <= l2) return g.out_h;
  return std::clamp<int64_t>(l2 / 2 / row_bytes, 1, g.out_h);
}

class ConvKernel final : public Kernel {
 public:
  ConvKernel(const LayerBinding& b, GemmFn gemm) : b_(b), g_(conv_geometry(b)), gemm_(gemm) {
    const Tensor* bias = b.weight("bias");
    bias_ = bias ? bias->data : nullptr;
    weight_ = b.weight("weight")->data;
    act_ = b.layer->fused_activation ? &*b.layer->fused_activation : nullptr;
    depthwise_ = is_depthwise(g_);
    direct_input_ = g_.kh == 1 && g_.kw == 1 && g_.sh == 1 && g_.sw == 1 && g_.pt == 0 && g_.pl == 0 &&
                    g_.pb == 0 && g_.pr == 0;
    band_rows_ = im2col_band_rows(g_);
  }

  size_t workspace_floats() const override {
    if (depthwise_ || direct_input_) return 0;
    return static_cast<size_t>(g_.in_c_per_group() * g_.kh * g_.kw * band_rows_ * g_.out_w);
  }

  void run(float* ws) override {
    const float* x = b_.inputs[0].data;
    float* y = b_.outputs[0].data;
    if (depthwise_) {
      parallel_for(g_.n * g_.out_c,
                   [&](int64_t a, int64_t e) { conv_direct(g_, x, weight_, bias_, y, a, e); });
      if (act_) {
        const int64_t total = b_.outputs[0].elems;
        parallel_for(total, [&](int64_t a, int64_t e) { apply_activation(*act_, y + a, e - a); });
      }
      return;
    }
    const int64_t icg = g_.in_c_per_group(), ocg = g_.out_c_per_group();
    const int64_t k = icg * g_.kh * g_.kw, hw = g_.out_h * g_.out_w;
    for (int64_t n = 0; n < g_.n; ++n) {
      const float* image = x + n * g_.in_c * g_.in_h * g_.in_w;
      for (int64_t grp = 0; grp < g_.groups; ++grp) {
        float* out = y + (n * g_.out_c + grp * ocg) * hw;
        const float* w = weight_ + grp * ocg * k;
        if (direct_input_) {
          gemm_(false, ocg, hw, k, w, k, image + grp * icg * hw, hw, out, hw);  // the input is the matrix
        } else {
          // A band of output rows at a time, its im2col matrix small enough to stay in the cache for the GEMM
          // that reads it (im2col_band_rows).
          for (int64_t oy0 = 0; oy0 < g_.out_h; oy0 += band_rows_) {
            const int64_t oy1 = std::min(g_.out_h, oy0 + band_rows_), cols = (oy1 - oy0) * g_.out_w;
            parallel_for(icg, [&](int64_t a, int64_t e) { im2col_rows(image, g_, grp, a, e, oy0, oy1, ws); });
            gemm_(false, ocg, cols, k, w, k, ws, cols, out + oy0 * g_.out_w, hw);
          }
        }
        epilogue(out, ocg, hw, bias_ ? bias_ + grp * ocg : nullptr, act_);
      }
    }
  }

 private:
  LayerBinding b_;
  ConvGeometry g_;
  GemmFn gemm_;
  const float* weight_ = nullptr;
  const float* bias_ = nullptr;
  const FusedActivation* act_ = nullptr;
  bool depthwise_ = false, direct_input_ = false;
  int64_t band_rows_ = 0;  // output rows per im2col band
};

// Transposed convolution as Caffe runs it: per image and group, one GEMM gives every input pixel's share of
// each output channel and kernel tap (ocg*kh*kw x ih*iw = W_g^T x X_g), and col2im adds the shares into the
// output, each thread owning whole output channels. On the reference kernel, one scattered multiply-add at a
// time, a 4x4 stride-2 upsampling of 128 to 64 channels at 28x28 took 98 ms against 1.4 ms for a 3x3
// convolution of the same MACs (docs/runtime.md, "Deconvolution").
class DeconvKernel final : public Kernel {
 public:
  DeconvKernel(const LayerBinding& b, GemmFn gemm) : b_(b), p_(b.layer->p<ConvParams>()), gemm_(gemm) {
    const Shape& is = b.inputs[0].shape;
    const Shape& os = b.outputs[0].shape;
    n_ = is.n(), ic_ = is.c(), ih_ = is.h(), iw_ = is.w(), oc_ = os.c(), oh_ = os.h(), ow_ = os.w();
    icg_ = ic_ / p_.groups, ocg_ = oc_ / p_.groups, rows_ = ocg_ * p_.kernel_h * p_.kernel_w;
    // The weights are ic x ocg x kh x kw: per group an icg x rows matrix, stored transposed once here so the
    // GEMM reads its left operand row by row.
    const float* w = b.weight("weight")->data;
    wt_.resize(static_cast<size_t>(p_.groups * rows_ * icg_));
    for (int64_t g = 0; g < p_.groups; ++g)
      for (int64_t c = 0; c < icg_; ++c)
        for (int64_t r = 0; r < rows_; ++r)
          wt_[static_cast<size_t>((g * rows_ + r) * icg_ + c)] = w[(g * icg_ + c) * rows_ + r];
    const Tensor* bias = b.weight("bias");
    bias_ = bias ? bias->data : nullptr;
    act_ = b.layer->fused_activation ? &*b.layer->fused_activation : nullptr;
  }

  size_t workspace_floats() const override { return static_cast<size_t>(rows_ * ih_ * iw_); }

  void run(float* ws) override {
    const int64_t in_hw = ih_ * iw_, out_hw = oh_ * ow_;
    for (int64_t img = 0; img < n_; ++img)
      for (int64_t g = 0; g < p_.groups; ++g) {
        const float* x = b_.inputs[0].data + (img * ic_ + g * icg_) * in_hw;
        gemm_(false, rows_, in_hw, icg_, wt_.data() + g * rows_ * icg_, icg_, x, in_hw, ws, in_hw);
        float* y = b_.outputs[0].data + (img * oc_ + g * ocg_) * out_hw;
        parallel_for(ocg_, [&](int64_t o0, int64_t o1) {
          for (int64_t o = o0; o < o1; ++o) col2im_channel(ws, g * ocg_ + o, o, y + o * out_hw);
        });
      }
  }

 private:
  // Output channel `oc` (row block `o` of the GEMM's result): the bias, every tap's shares, the activation.
  void col2im_channel(const float* cols, int64_t oc, int64_t o, float* out) const {
    std::fill(out, out + oh_ * ow_, bias_ ? bias_[oc] : 0.0f);
    for (int64_t ky = 0; ky < p_.kernel_h; ++ky)
      for (int64_t kx = 0; kx < p_.kernel_w; ++kx) {
        const float* col = cols + ((o * p_.kernel_h + ky) * p_.kernel_w + kx) * ih_ * iw_;
        // Input pixel (y, x) adds into output (y * stride + off_y, x * stride + off_x), where that lies
        // inside.
        const int64_t off_y = ky * p_.dilation_h - p_.pad_top, off_x = kx * p_.dilation_w - p_.pad_left;
        int64_t y_lo, y_hi, x_lo, x_hi;
        valid_range(ih_, p_.stride_h, off_y, oh_, y_lo, y_hi);
        valid_range(iw_, p_.stride_w, off_x, ow_, x_lo, x_hi);
        for (int64_t y = y_lo; y < y_hi; ++y) {
          float* row = out + (y * p_.stride_h + off_y) * ow_;
          const float* src = col + y * iw_;
          for (int64_t x = x_lo; x < x_hi; ++x) row[x * p_.stride_w + off_x] += src[x];
        }
      }
    if (act_) apply_activation(*act_, out, oh_ * ow_);
  }

  LayerBinding b_;
  ConvParams p_;
  GemmFn gemm_;
  int64_t n_ = 0, ic_ = 0, ih_ = 0, iw_ = 0, oc_ = 0, oh_ = 0, ow_ = 0, icg_ = 0, ocg_ = 0, rows_ = 0;
  std::vector<float> wt_;  // per group, rows_ x icg_
  const float* bias_ = nullptr;
  const FusedActivation* act_ = nullptr;
};

class InnerProductKernel final : public Kernel {
 public:
  InnerProductKernel(const LayerBinding& b, GemmFn gemm) : b_(b), gemm_(gemm) {
    const auto& p = b.layer->p<InnerProductParams>();
    const Shape& s = b.inputs[0].shape;
    const int axis = norm_axis(p.axis, s.rank());
    m_ = prod(s, 0, axis);
    k_ = prod(s, axis, s.rank());
    n_ = p.num_output;
  }
  void run(float*) override {
    const Tensor* bias = b_.weight("bias");
    float* y = b_.outputs[0].data;
    // y (m x n) = x (m x k) * W^T, W stored n x k as Caffe and PyTorch do.
    gemm_(true, m_, n_, k_, b_.inputs[0].data, k_, b_.weight("weight")->data, k_, y, n_);
    const FusedActivation* act = b_.layer->fused_activation ? &*b_.layer->fused_activation : nullptr;
    for (int64_t i = 0; i < m_; ++i) {
      float* row = y + i * n_;
      if (bias)
        for (int64_t o = 0; o < n_; ++o) row[o] += bias->data[o];
      if (act) apply_activation(*act, row, n_);
    }
  }

 private:
  LayerBinding b_;
  GemmFn gemm_;
  int64_t m_ = 0, k_ = 0, n_ = 0;
};

// A layer computed plane by plane (n * c planes, threaded over them) by a loop shared with the reference
// backend: pooling and LRN.
template <typename Geometry, Geometry (*geometry)(const LayerBinding&),
          void (*planes)(const float*, float*, const Geometry&, int64_t, int64_t)>
class PlaneKernel final : public Kernel {
 public:
  explicit PlaneKernel(const LayerBinding& b) : b_(b), g_(geometry(b)) {}
  void run(float*) override {
    const float* x = b_.inputs[0].data;
    float* y = b_.outputs[0].data;
    parallel_for(g_.n * g_.c, [&](int64_t a, int64_t e) { planes(x, y, g_, a, e); });
    if (b_.layer->fused_activation) apply_activation(*b_.layer->fused_activation, y, b_.outputs[0].elems);
  }

 private:
  LayerBinding b_;
  Geometry g_;
};
using PoolKernel = PlaneKernel<PoolGeometry, pool_geometry, pool_nchw_planes>;
using LrnKernel = PlaneKernel<LrnGeometry, lrn_geometry, lrn_nchw_planes>;

class ActivationKernel final : public Kernel {
 public:
  explicit ActivationKernel(const LayerBinding& b) : b_(b), act_(activation_of(*b.layer)) {}
  void run(float*) override {
    const float* x = b_.inputs[0].data;
    float* y = b_.outputs[0].data;
    parallel_for(b_.outputs[0].elems, [&](int64_t a, int64_t e) {
      if (x != y) std::memcpy(y + a, x + a, static_cast<size_t>(e - a) * sizeof(float));
      apply_activation(act_, y + a, e - a);
    });
  }

 private:
  LayerBinding b_;
  FusedActivation act_;
};

// A permutation that is a batch of matrix transposes once unit axes are dropped and axes that stay
// neighbours are merged: out[b][c][r] = in[b][r][c]. NCHW <-> NHWC (ConvNeXt's blocks) is one per image.
struct Transposes {
  int64_t batch = 1, rows = 1, cols = 1;
};

std::optional<Transposes> as_transposes(const Shape& in, const std::vector<int>& order) {
  // The output's axes as runs of consecutive input axes (unit axes left out).
  std::vector<std::pair<int, int64_t>> runs;  // (first input axis, size)
  int last = -2;
  for (int a : order) {
    if (in[a] == 1) continue;
    if (a == last + 1 && !runs.empty())
      runs.back().second *= in[a];
    else
      runs.emplace_back(a, in[a]);
    last = a;
  }
  if (runs.size() <= 1) return Transposes{1, 1, runs.empty() ? 1 : runs[0].second};  // a copy
  // In input order, the runs must be (batch) A B with the output taking (batch) B A.
  std::vector<size_t> by_input(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) by_input[i] = i;
  std::sort(by_input.begin(), by_input.end(),
            [&](size_t x, size_t y) { return runs[x].first < runs[y].first; });
  const size_t n = runs.size();
  if (std::is_sorted(by_input.begin(), by_input.end()))
    return Transposes{1, 1, in.elems()};  // memory order kept
  if (n == 2 && by_input == std::vector<size_t>{1, 0}) return Transposes{1, runs[1].second, runs[0].second};
  if (n == 3 && by_input == std::vector<size_t>{0, 2, 1})
    return Transposes{runs[0].second, runs[2].second, runs[1].second};
  return std::nullopt;
}

// Permute: a batch of blocked transposes where it is one (32 x 32 tiles, so that both the rows read and the
// columns written stay in cache), shared among the threads by tile rows; any other order takes the reference
// loop. On the reference loop alone, ConvNeXt-T's 46 permutations took 12 ms of its 185 on openblas.
class PermuteKernel final : public Kernel {
 public:
  explicit PermuteKernel(const LayerBinding& b)
      : b_(b), t_(as_transposes(b.inputs[0].shape, b.layer->p<PermuteParams>().order)) {}
  void run(float*) override {
    if (!t_) return reference_run(b_);
    const float* x = b_.inputs[0].data;
    float* y = b_.outputs[0].data;
    const int64_t rows = t_->rows, cols = t_->cols, plane = rows * cols;
    if (rows == 1 || cols == 1) {
      std::memcpy(y, x, static_cast<size_t>(b_.outputs[0].elems) * sizeof(float));
      return;
    }
    constexpr int64_t kTile = 32;
    const int64_t tile_rows = (rows + kTile - 1) / kTile;
    parallel_for(t_->batch * tile_rows, [&](int64_t a, int64_t e) {
      for (int64_t task = a; task < e; ++task) {
        const int64_t img = task / tile_rows, r0 = task % tile_rows * kTile, r1 = std::min(rows, r0 + kTile);
        const float* xi = x + img * plane;
        float* yi = y + img * plane;
        for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
          const int64_t c1 = std::min(cols, c0 + kTile);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t c = c0; c < c1; ++c) yi[c * rows + r] = xi[r * cols + c];
        }
      }
    });
  }

 private:
  LayerBinding b_;
  std::optional<Transposes> t_;
};

// Layer normalisation, rows shared among the threads.
class LayerNormKernel final : public Kernel {
 public:
  explicit LayerNormKernel(const LayerBinding& b) : b_(b), g_(layer_norm_geometry(b)) {}
  void run(float*) override {
    parallel_for(g_.rows, [&](int64_t a, int64_t e) {
      layer_norm_rows(b_.inputs[0].data, b_.outputs[0].data, g_, a, e);
    });
  }

 private:
  LayerBinding b_;
  LayerNormGeometry g_;
};

// y = x * scale[c] + shift[c] per channel: BatchNorm (scale and shift precomputed here) and Scale.
class ChannelAffineKernel final : public Kernel {
 public:
  explicit ChannelAffineKernel(const LayerBinding& b) : b_(b) {
    const Shape& s = b.inputs[0].shape;
    int axis = 1;
    if (b.layer->kind == LayerKind::Scale) axis = norm_axis(b.layer->p<ScaleParams>().axis, s.rank());
    outer_ = prod(s, 0, axis);
    c_ = s[axis];
    inner_ = prod(s, axis + 1, s.rank());
    scale_.assign(static_cast<size_t>(c_), 1.0f);
    shift_.assign(static_cast<size_t>(c_), 0.0f);
    if (b.layer->kind == LayerKind::BatchNorm) {
      const float eps = b.layer->p<BatchNormParams>().eps;
      const Tensor* gamma = b.weight("scale");
      const Tensor* beta = b.weight("bias");
      for (int64_t ch = 0; ch < c_; ++ch) {
        const auto i = static_cast<size_t>(ch);
        const float inv = 1.0f / std::sqrt(b.weight("variance")->data[ch] + eps);
        scale_[i] = inv * (gamma ? gamma->data[ch] : 1.0f);
        shift_[i] = (beta ? beta->data[ch] : 0.0f) - b.weight("mean")->data[ch] * scale_[i];
      }
    } else {
      const Tensor* w = b.weight("scale");
      const Tensor* bias = b.weight("bias");
      for (int64_t ch = 0; ch < c_; ++ch) {
        scale_[static_cast<size_t>(ch)] = w->data[ch];
        shift_[static_cast<size_t>(ch)] = bias ? bias->data[ch] : 0.0f;
      }
    }
  }
  void run(float*) override {
    const float* x = b_.inputs[0].data;
    float* y = b_.outputs[0].data;
    const FusedActivation* act = b_.layer->fused_activation ? &*b_.layer->fused_activation : nullptr;
    parallel_for(outer_ * c_, [&](int64_t a, int64_t e) {
      for (int64_t row = a; row < e; ++row) {
        const auto ch = static_cast<size_t>(row % c_);
        const float sc = scale_[ch], sh = shift_[ch];
        const float* src = x + row * inner_;
        float* dst = y + row * inner_;
        for (int64_t i = 0; i < inner_; ++i) dst[i] = src[i] * sc + sh;
        if (act) apply_activation(*act, dst, inner_);
      }
    });
  }

 private:
  LayerBinding b_;
  int64_t outer_ = 0, c_ = 0, inner_ = 0;
  std::vector<float> scale_, shift_;
};

// A second operand that broadcasts to the first (the output's shape) and matches it over a contiguous block
// of trailing axes: Swin's relative position bias (1 x heads x 49 x 49) added to every window's scores, its
// mask (1 x windows x 1 x 49 x 49) to every head's. The output is `block`-element runs, each against the run
// of the second operand at an offset found from the outer axes (stride 0 where it broadcasts).
struct TrailingBroadcast {
  int64_t block = 1;                               // elements of the matching trailing axes
  std::vector<int64_t> outer_dims, outer_strides;  // the other axes of the output, the operand's strides
};

// Nullopt when `operand` does not broadcast to `out` numpy-style.
std::optional<TrailingBroadcast> trailing_broadcast(const Shape& operand, const Shape& out) {
  const int rank = out.rank(), offset = rank - operand.rank();
  if (offset < 0) return std::nullopt;
  std::vector<int64_t> dims(static_cast<size_t>(rank), 1);
  for (int i = 0; i < operand.rank(); ++i) dims[static_cast<size_t>(offset + i)] = operand[i];
  TrailingBroadcast t;
  int axis = rank - 1;
  for (; axis >= 0 && dims[static_cast<size_t>(axis)] == out[axis]; --axis) t.block *= out[axis];
  int64_t stride = t.block;
  for (int a = axis; a >= 0; --a) {
    const int64_t d = dims[static_cast<size_t>(a)];
    if (d != 1 && d != out[a]) return std::nullopt;
    t.outer_dims.insert(t.outer_dims.begin(), out[a]);
    t.outer_strides.insert(t.outer_strides.begin(), d == 1 ? 0 : stride);
    stride *= d;
  }
  return t;
}

// Runs of fewer elements than this go to the reference kernel: per run, the offset costs about a run's work.
constexpr int64_t kMinBroadcastBlock = 8;

// Eltwise over inputs of the output's shape, the squeeze-and-excitation case (a second input of shape
// N x C x 1 x 1 multiplied into N x C x H x W), and a second input that broadcasts over leading axes
// (TrailingBroadcast).
class EltwiseKernel final : public Kernel {
 public:
  explicit EltwiseKernel(const LayerBinding& b) : b_(b) {
    const auto& p = b.layer->p<EltwiseParams>();
    for (size_t i = 0; i < b.inputs.size(); ++i) coeff_.push_back(p.coeffs.empty() ? 1.0f : p.coeffs[i]);
    if (b.inputs.size() == 2 && !se_product(b) && b.inputs[1].shape != b.outputs[0].shape)
      broadcast_ = trailing_broadcast(b.inputs[1].shape, b.outputs[0].shape);
  }

  // The squeeze-and-excitation product: x (N x C x H x W) times s (N x C x 1 x 1).
  static bool se_product(const LayerBinding& b) {
    const Shape& a = b.inputs[0].shape;
    return b.layer->p<EltwiseParams>().op == EltwiseOp::Prod && b.inputs.size() == 2 &&
           a == b.outputs[0].shape && a.rank() == 4 && b.inputs[1].shape == Shape{a.n(), a.c(), 1, 1} &&
           b.outputs[0].elems > 0;
  }
  // Whether the second operand broadcasts in runs this kernel takes (see kMinBroadcastBlock).
  static bool takes_broadcast(const LayerBinding& b) {
    if (b.inputs.size() != 2 || b.inputs[0].shape != b.outputs[0].shape) return false;
    const auto t = trailing_broadcast(b.inputs[1].shape, b.outputs[0].shape);
    return t && t->block >= kMinBroadcastBlock;
  }

  void run(float*) override {
    const auto& p = b_.layer->p<EltwiseParams>();
    float* y = b_.outputs[0].data;
    const int64_t total = b_.outputs[0].elems;
    const FusedActivation* act = b_.layer->fused_activation ? &*b_.layer->fused_activation : nullptr;
    if (broadcast_) {
      run_broadcast(p.op, y, total, act);
      return;
    }
    if (b_.inputs.size() == 2 && b_.inputs[1].elems != total) {
      const int64_t planes = b_.inputs[1].elems, inner = total / planes;
      const float* x = b_.inputs[0].data;
      const float* s = b_.inputs[1].data;
      parallel_for(planes, [&](int64_t a, int64_t e) {
        for (int64_t pl = a; pl < e; ++pl)
          for (int64_t i = 0; i < inner; ++i) y[pl * inner + i] = x[pl * inner + i] * s[pl];
        if (act) apply_activation(*act, y + a * inner, (e - a) * inner);
      });
      return;
    }
    parallel_for(total, [&](int64_t a, int64_t e) {
      const float* x0 = b_.inputs[0].data;
      const float c0 = coeff_[0];
      for (int64_t i = a; i < e; ++i) y[i] = c0 * x0[i];
      for (size_t k = 1; k < b_.inputs.size(); ++k) {
        const float* xk = b_.inputs[k].data;
        const float ck = coeff_[k];
        switch (p.op) {
          case EltwiseOp::Sum:
            for (int64_t i = a; i < e; ++i) y[i] += ck * xk[i];
            break;
          case EltwiseOp::Prod:
            for (int64_t i = a; i < e; ++i) y[i] *= xk[i];
            break;
          case EltwiseOp::Max:
            for (int64_t i = a; i < e; ++i) y[i] = std::max(y[i], xk[i]);
            break;
        }
      }
      if (act) apply_activation(*act, y + a, e - a);
    });
  }

 private:
  void run_broadcast(EltwiseOp op, float* y, int64_t total, const FusedActivation* act) const {
    const TrailingBroadcast& t = *broadcast_;
    const float* x = b_.inputs[0].data;
    const float* s = b_.inputs[1].data;
    const float c0 = coeff_[0], c1 = coeff_[1];
    const int64_t block = t.block;
    parallel_for(total / block, [&](int64_t a, int64_t e) {
      for (int64_t run = a; run < e; ++run) {
        int64_t offset = 0;
        for (int64_t k = static_cast<int64_t>(t.outer_dims.size()) - 1, rest = run; k >= 0; --k) {
          const auto ks = static_cast<size_t>(k);
          offset += (rest % t.outer_dims[ks]) * t.outer_strides[ks];
          rest /= t.outer_dims[ks];
        }
        const float* xr = x + run * block;
        const float* sr = s + offset;
        float* yr = y + run * block;
        switch (op) {
          case EltwiseOp::Sum:
            for (int64_t i = 0; i < block; ++i) yr[i] = c0 * xr[i] + c1 * sr[i];
            break;
          case EltwiseOp::Prod:
            for (int64_t i = 0; i < block; ++i) yr[i] = xr[i] * sr[i];
            break;
          case EltwiseOp::Max:
            for (int64_t i = 0; i < block; ++i) yr[i] = std::max(xr[i], sr[i]);
            break;
        }
      }
      if (act) apply_activation(*act, y + a * block, (e - a) * block);
    });
  }

  LayerBinding b_;
  std::vector<float> coeff_;
  std::optional<TrailingBroadcast> broadcast_;
};

// Softmax along an axis, one (outer, inner) line per task: max, exponentials, then normalise.
class SoftmaxKernel final : public Kernel {
 public:
  explicit SoftmaxKernel(const LayerBinding& b) : b_(b) {
    const Shape& s = b.inputs[0].shape;
    const int axis = norm_axis(b.layer->p<SoftmaxParams>().axis, s.rank());
    outer_ = prod(s, 0, axis);
    c_ = s[axis];
    inner_ = prod(s, axis + 1, s.rank());
  }
  void run(float*) override {
    const float* x = b_.inputs[0].data;
    float* y = b_.outputs[0].data;
    parallel_for(outer_ * inner_, [&](int64_t a, int64_t e) {
      for (int64_t line = a; line < e; ++line) {
        const int64_t base = (line / inner_) * c_ * inner_ + line % inner_;
        float m = x[base];
        for (int64_t k = 1; k < c_; ++k) m = std::max(m, x[base + k * inner_]);
        float sum = 0.0f;
        if (inner_ == 1) {
          // A contiguous row (a classifier's scores, attention's scores over the keys): the vectorised
          // exponential. std::exp was 4.3 ns per element, most of ViT-B/16's 24 ms of softmax on openblas.
          sum = exp_shifted(x + base, m, y + base, c_);
        } else {
          for (int64_t k = 0; k < c_; ++k) {
            const float v = exp_fast(x[base + k * inner_] - m);
            y[base + k * inner_] = v;
            sum += v;
          }
        }
        const float inv = 1.0f / sum;
        for (int64_t k = 0; k < c_; ++k) y[base + k * inner_] *= inv;
      }
    });
  }

 private:
  LayerBinding b_;
  int64_t outer_ = 0, c_ = 0, inner_ = 0;
};

// Layers whose reference loop is already what a backend would run: Concat and Slice copy whole runs with
// memcpy, and Power is one pass of scale, shift (and power) over the elements.
class ReferenceLoopKernel final : public Kernel {
 public:
  explicit ReferenceLoopKernel(const LayerBinding& b) : b_(b) {}
  void run(float*) override { reference_run(b_); }

 private:
  LayerBinding b_;
};

// A batch of matrix products (attention's Q K^T and A V): one GEMM per output matrix, each reading the A and
// B matrices its batch index broadcasts to.
class MatMulKernel final : public Kernel {
 public:
  MatMulKernel(const LayerBinding& b, GemmFn gemm) : b_(b), g_(matmul_geometry(b)), gemm_(gemm) {}
  void run(float*) override {
    const float* a = b_.inputs[0].data;
    const float* bm = b_.inputs[1].data;
    float* y = b_.outputs[0].data;
    for (int64_t i = 0; i < g_.batch; ++i)
      gemm_(false, g_.m, g_.n, g_.k, a + g_.a_offset(i), g_.k, bm + g_.b_offset(i), g_.n, y + i * g_.m * g_.n,
            g_.n);
  }

 private:
  LayerBinding b_;
  MatMulGeometry g_;
  GemmFn gemm_;
};

class GemmBackend final : public Backend {
 public:
  GemmBackend(std::string_view name, GemmFn gemm) : name_(name), gemm_(gemm) {}
  std::string_view name() const override { return name_; }

  std::string unsupported_reason(const LayerBinding& b) const override {
    const Layer& l = *b.layer;
    switch (l.kind) {
      case LayerKind::Deconvolution:
        return b.inputs[0].shape.rank() == 4 ? "" : "deconvolution input is not 4-D";
      case LayerKind::Convolution:
      case LayerKind::InnerProduct:
      case LayerKind::Pooling:
      case LayerKind::BatchNorm:
      case LayerKind::Concat:
      case LayerKind::Softmax:
      case LayerKind::LRN:
      case LayerKind::LayerNorm:
      case LayerKind::Permute:
      case LayerKind::MatMul:
      case LayerKind::Slice:
      case LayerKind::Power:
        return {};
      case LayerKind::Scale:
        return b.inputs.size() == 1 ? "" : "Scale by a second input is not implemented";
      case LayerKind::Eltwise: {
        const int64_t total = b.outputs[0].elems;
        bool same = true;
        for (const Tensor& t : b.inputs) same = same && t.shape == b.outputs[0].shape;
        if (same) return {};
        if (total > 0 && (EltwiseKernel::se_product(b) || EltwiseKernel::takes_broadcast(b))) return {};
        return "broadcasting other than N x C x 1 x 1 products or of a second operand over leading axes is "
               "not "
               "implemented";
      }
      default:
        if (is_fusable_activation(l.kind)) return {};
        return std::string(layer_kind_name(l.kind)) + " has no " + std::string(name_) + " kernel";
    }
  }

  std::unique_ptr<Kernel> prepare(const LayerBinding& b) override {
    switch (b.layer->kind) {
      case LayerKind::Convolution:
        return std::make_unique<ConvKernel>(b, gemm_);
      case LayerKind::Deconvolution:
        return make_deconv_kernel(b, gemm_);
      case LayerKind::InnerProduct:
        return std::make_unique<InnerProductKernel>(b, gemm_);
      case LayerKind::Pooling:
        return std::make_unique<PoolKernel>(b);
      case LayerKind::BatchNorm:
      case LayerKind::Scale:
        return std::make_unique<ChannelAffineKernel>(b);
      case LayerKind::Eltwise:
        return std::make_unique<EltwiseKernel>(b);
      case LayerKind::Concat:
      case LayerKind::Slice:
      case LayerKind::Power:
        return make_reference_loop_kernel(b);
      case LayerKind::Softmax:
        return std::make_unique<SoftmaxKernel>(b);
      case LayerKind::LRN:
        return std::make_unique<LrnKernel>(b);
      case LayerKind::LayerNorm:
        return make_layer_norm_kernel(b);
      case LayerKind::Permute:
        return make_permute_kernel(b);
      case LayerKind::MatMul:
        return std::make_unique<MatMulKernel>(b, gemm_);
      default:
        return std::make_unique<ActivationKernel>(b);
    }
  }

 private:
  std::string_view name_;
  GemmFn gemm_;
};

}  // namespace

std::unique_ptr<Kernel> make_reference_loop_kernel(const LayerBinding& b) {
  return std::make_unique<ReferenceLoopKernel>(b);
}

std::unique_ptr<Kernel> make_permute_kernel(const LayerBinding& b) {
  return std::make_unique<PermuteKernel>(b);
}

std::unique_ptr<Kernel> make_layer_norm_kernel(const LayerBinding& b) {
  return std::make_unique<LayerNormKernel>(b);
}

std::unique_ptr<Kernel> make_deconv_kernel(const LayerBinding& b, GemmFn gemm) {
  return std::make_unique<DeconvKernel>(b, gemm);
}

std::unique_ptr<Backend> make_gemm_backend(std::string_view name, GemmFn gemm) {
  return std::make_unique<GemmBackend>(name, gemm);
}

}  // namespace convergy::runtime

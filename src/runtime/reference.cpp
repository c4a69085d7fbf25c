// The reference backend: plain loops for every layer kind. It is the correctness oracle the optimised
// backends are tested against, so clarity wins over speed here (only the loop order is cache-minded).
#include "runtime/backend.h"
#include "util/error.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace convergy::runtime {

const Tensor* LayerBinding::weight(std::string_view role) const {
  for (size_t i = 0; i < layer->weights.size() && i < weights.size(); ++i)
    if (layer->weights[i].role == role) return &weights[i];
  return nullptr;
}

FusedActivation activation_of(const Layer& layer) {
  FusedActivation a;
  a.kind = layer.kind;
  a.layer_name = layer.name;
  if (const auto* p = std::get_if<LeakyReLUParams>(&layer.params)) a.alpha = p->slope;
  if (const auto* p = std::get_if<ClipParams>(&layer.params)) {
    a.alpha = p->min;
    a.beta = p->max;
  }
  if (const auto* p = std::get_if<HardSigmoidParams>(&layer.params)) {
    a.alpha = p->alpha;
    a.beta = p->beta;
  }
  return a;
}

namespace {

// max(v, 0) and v < 0 ? a v : v by the sign bit, without a branch.
float relu(float v) {
  const auto b = std::bit_cast<int32_t>(v);
  return std::bit_cast<float>(b & ~(b >> 31));
}
float leaky(float v, float a) {
  const auto b = std::bit_cast<int32_t>(v), negative = b >> 31;
  return std::bit_cast<float>((b & ~negative) | (std::bit_cast<int32_t>(a * v) & negative));
}

}  // namespace

namespace {

constexpr float kExpLow = -87.3f, kExpHigh = 88.3f;  // 2^n stays a normal float: n in -126..127

// e^c for c in [kExpLow, kExpHigh] (or NaN), in operations GCC vectorises.
[[gnu::always_inline]] inline float exp_clamped(float c) {
  // n = round(c / ln 2) by the 1.5 x 2^23 trick (the addition rounds to an integer in the low mantissa bits;
  // SSE2 has no vector rounding instruction), r = c - n ln 2 in [-ln2/2, ln2/2], ln 2 split in a part exact
  // in float and the rest, so that n ln 2 loses nothing.
  const float shifted = c * 1.44269504f + 12582912.0f;
  const int32_t n = std::bit_cast<int32_t>(shifted) - 0x4B400000;
  const float nf = shifted - 12582912.0f;
  const float r = (c - nf * 0.693359375f) + nf * 2.12194440e-4f;
  // e^r by its Taylor series to r^6 (the first term left out is below 6e-8 of the sum), in Horner form.
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // c - c is 0, or NaN for a NaN c: NaN passes through without a branch.
  return p * std::bit_cast<float>(static_cast<uint32_t>(n + 127) << 23) + (c - c);
}

// x[i] = f(x[i], e^-x[i]) for Sigmoid and Swish. The exponent is clamped a block at a time into a buffer on
// the stack, then used: GCC 12 vectorises a clamp that is stored, not one that feeds arithmetic in the same
// loop.
template <typename F>
void with_exp_of_minus(float* x, int64_t n, F f) {
  constexpr int64_t kBlock = 256;
  float t[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t m = std::min(kBlock, n - i0);
    float* xb = x + i0;
    for (int64_t j = 0; j < m; ++j) t[j] = std::min(std::max(-xb[j], kExpLow), kExpHigh);
    for (int64_t j = 0; j < m; ++j) xb[j] = f(xb[j], exp_clamped(t[j]));
  }
}

// x[i] = GELU(x[i]) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, with erf by Abramowitz and Stegun 7.1.26
// (absolute error below 1.5e-7): 1 - erf(z) = q(t) e^-z^2 for z >= 0, t = 1 / (1 + 0.3275911 z), q a
// polynomial of degree 5. For x < 0, 1 + erf(z) is that same q e^-z^2 taken directly (no cancellation), so
// the small negative outputs keep their relative accuracy. The block of exponents is stored first, as in
// with_exp_of_minus, so GCC vectorises both loops.
void gelu(float* x, int64_t n) {
  constexpr int64_t kBlock = 256;
  float e[kBlock], finite[kBlock];  // the exponent; x with -inf raised to the lowest float (-inf * 0 is NaN)
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t m = std::min(kBlock, n - i0);
    float* xb = x + i0;
    for (int64_t j = 0; j < m; ++j) {
      e[j] = std::max(-0.5f * xb[j] * xb[j], kExpLow);
      finite[j] = std::max(xb[j], std::numeric_limits<float>::lowest());
    }
    for (int64_t j = 0; j < m; ++j) {
      const float v = xb[j], z = std::fabs(v) * 0.70710678f;
      const float t = 1.0f / (1.0f + 0.3275911f * z);
      float q = 1.061405429f;
      q = q * t - 1.453152027f;
      q = q * t + 1.421413741f;
      q = q * t - 0.284496736f;
      q = q * t + 0.254829592f;
      q = q * t * exp_clamped(e[j]);
      // q where v < 0, else 2 - q, selected by the sign bit (a conditional keeps GCC from vectorising).
      const int32_t negative = std::bit_cast<int32_t>(v) >> 31;
      const float phi2 = std::bit_cast<float>((std::bit_cast<int32_t>(q) & negative) |
                                              (std::bit_cast<int32_t>(2.0f - q) & ~negative));
      xb[j] = 0.5f * finite[j] * phi2;
    }
  }
}

}  // namespace

float exp_fast(float x) { return exp_clamped(std::min(std::max(x, kExpLow), kExpHigh)); }

float exp_shifted(const float* x, float shift, float* y, int64_t n) {
  // The clamped exponents of a block are stored first, as in with_exp_of_minus, so GCC vectorises both loops.
  constexpr int64_t kBlock = 256;
  float t[kBlock];
  float sum = 0.0f;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t m = std::min(kBlock, n - i0);
    for (int64_t j = 0; j < m; ++j) t[j] = std::min(std::max(x[i0 + j] - shift, kExpLow), kExpHigh);
    float block = 0.0f;
    for (int64_t j = 0; j < m; ++j) {
      const float e = exp_clamped(t[j]);
      y[i0 + j] = e;
      block += e;
    }
    sum += block;
  }
  return sum;
}

void apply_activation(const FusedActivation& act, float* x, int64_t n) {
  const float a = act.alpha, b = act.beta;
  switch (act.kind) {
    // Branch-free: `x > 0 ? x : 0` and std::max compile to a compare and a branch at GCC -O2, and the signs
    // of a layer's outputs are random to the branch predictor: a fused ReLU made a 0.56 ms convolution take
    // 2.2 ms (docs/runtime.md, "Activations"). The sign bit selects instead, exactly (-0 gives +0).
    case LayerKind::ReLU:
      for (int64_t i = 0; i < n; ++i) x[i] = relu(x[i]);
      break;
    case LayerKind::LeakyReLU:
      for (int64_t i = 0; i < n; ++i) x[i] = leaky(x[i], a);
      break;
    case LayerKind::Clip:
      for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], a), b);
      break;
    // exp_fast's body rather than std::exp, which GCC cannot vectorise without -ffast-math: a Swish over a
    // MobileNet-sized output took 7 times a ReLU (docs/runtime.md, "Activations").
    case LayerKind::Sigmoid:
      with_exp_of_minus(x, n, [](float, float e) { return 1.0f / (1.0f + e); });
      break;
    case LayerKind::TanH:
      for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      break;
    case LayerKind::Swish:
      with_exp_of_minus(x, n, [](float v, float e) { return v / (1.0f + e); });
      break;
    case LayerKind::HardSwish:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] * std::min(std::max(x[i] + 3.0f, 0.0f), 6.0f) / 6.0f;
      break;
    case LayerKind::HardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(a * x[i] + b, 0.0f), 1.0f);
      break;
    case LayerKind::GELU:
      gelu(x, n);
      break;
    default:
      throw_failure("internal: {} is not an activation", layer_kind_name(act.kind));
  }
}

ConvGeometry conv_geometry(const LayerBinding& b) {
  const auto& p = b.layer->p<ConvParams>();
  const Shape& in = b.inputs[0].shape;
  const Shape& out = b.outputs[0].shape;
  return {in.n(),     in.c(),       in.h(),      in.w(),       out.c(),      out.h(),
          out.w(),    p.kernel_h,   p.kernel_w,  p.stride_h,   p.stride_w,   p.pad_top,
          p.pad_left, p.pad_bottom, p.pad_right, p.dilation_h, p.dilation_w, p.groups};
}

PoolGeometry pool_geometry(const LayerBinding& b) {
  const auto& p = b.layer->p<PoolParams>();
  const Shape& in = b.inputs[0].shape;
  const Shape& out = b.outputs[0].shape;
  PoolGeometry g{in.n(),
                 in.c(),
                 in.h(),
                 in.w(),
                 out.h(),
                 out.w(),
                 p.kernel_h,
                 p.kernel_w,
                 p.stride_h,
                 p.stride_w,
                 p.pad_top,
                 p.pad_left,
                 p.method == PoolMethod::Max,
                 p.count_include_pad,
                 p.pad_bottom,
                 p.pad_right};
  if (p.global) {
    g.kh = in.h();
    g.kw = in.w();
    g.sh = g.sw = 1;
    g.pt = g.pl = g.pb = g.pr = 0;
  }
  return g;
}

void valid_range(int64_t out_size, int64_t stride, int64_t offset, int64_t size, int64_t& lo, int64_t& hi) {
  lo = 0;
  while (lo < out_size && lo * stride + offset < 0) ++lo;
  hi = out_size;
  while (hi > lo && (hi - 1) * stride + offset >= size) --hi;
}

void im2col(const float* image, const ConvGeometry& g, int64_t group, float* col) {
  im2col_rows(image, g, group, 0, g.in_c_per_group(), 0, g.out_h, col);
}

void im2col_rows(const float* image, const ConvGeometry& g, int64_t group, int64_t c_begin, int64_t c_end,
                 int64_t oy_begin, int64_t oy_end, float* col) {
  const int64_t icg = g.in_c_per_group(), plane = g.in_h * g.in_w, w = g.out_w;
  const int64_t band = (oy_end - oy_begin) * w;  // columns of the matrix
  for (int64_t c = c_begin; c < c_end; ++c) {
    const float* src = image + (group * icg + c) * plane;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        // Output row oy of this tap starts at row(oy); `origin` is the band's first element.
        float* origin = col + ((c * g.kh + ky) * g.kw + kx) * band;
        auto row = [&](int64_t oy) { return origin + (oy - oy_begin) * w; };
        const int64_t off_y = ky * g.dh - g.pt, off_x = kx * g.dw - g.pl;
        int64_t x_lo, x_hi, y_lo, y_hi;
        valid_range(g.out_w, g.sw, off_x, g.in_w, x_lo, x_hi);
        valid_range(g.out_h, g.sh, off_y, g.in_h, y_lo, y_hi);
        y_lo = std::clamp(y_lo, oy_begin, oy_end);
        y_hi = std::clamp(y_hi, y_lo, oy_end);
        // Output rows whose input row lies in the padding.
        std::fill(row(oy_begin), row(y_lo), 0.0f);
        std::fill(row(y_hi), row(oy_end), 0.0f);
        for (int64_t oy = y_lo; oy < y_hi; ++oy) {
          float* r = row(oy);
          const float* in_row = src + (oy * g.sh + off_y) * g.in_w;
          std::fill(r, r + x_lo, 0.0f);
          if (g.sw == 1) {
            std::memcpy(r + x_lo, in_row + x_lo + off_x, static_cast<size_t>(x_hi - x_lo) * sizeof(float));
          } else {
            for (int64_t ox = x_lo; ox < x_hi; ++ox) r[ox] = in_row[ox * g.sw + off_x];
          }
          std::fill(r + x_hi, r + w, 0.0f);
        }
      }
    }
  }
}

void pool_nchw(const float* in, float* out, const PoolGeometry& g) {
  pool_nchw_planes(in, out, g, 0, g.n * g.c);
}

void pool_nchw_planes(const float* in, float* out, const PoolGeometry& g, int64_t plane_begin,
                      int64_t plane_end) {
  // Outputs whose window lies inside the row, [ox_lo, ox_hi), are computed a row at a time: for each input
  // row and kernel column, one pass over the outputs (contiguous or strided loads the compiler vectorises),
  // instead of a short scalar loop per window. Every output still combines its window in the same order
  // (rows, then columns, from -inf or 0), so the results are the same bit for bit. The few border outputs
  // take the general per-window loop.
  const int64_t ox_lo = std::min(g.out_w, (g.pl + g.sw - 1) / g.sw);
  const int64_t ox_hi =
      std::max(ox_lo, std::min(g.out_w, g.in_w + g.pl - g.kw >= 0 ? (g.in_w + g.pl - g.kw) / g.sw + 1 : 0));
  for (int64_t pl = plane_begin; pl < plane_end; ++pl) {
    const float* src = in + pl * g.in_h * g.in_w;
    float* dst = out + pl * g.out_h * g.out_w;
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      const int64_t y0 = oy * g.sh - g.pt;
      const int64_t y1 = std::min(y0 + g.kh, g.in_h + g.pb);
      const int64_t ys = std::max<int64_t>(y0, 0), ye = std::min(y1, g.in_h);
      float* row = dst + oy * g.out_w;
      auto window = [&](int64_t ox) {
        const int64_t x0 = ox * g.sw - g.pl;
        const int64_t x1 = std::min(x0 + g.kw, g.in_w + g.pr);
        const int64_t xs = std::max<int64_t>(x0, 0), xe = std::min(x1, g.in_w);
        if (g.max) {
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t y = ys; y < ye; ++y)
            for (int64_t x = xs; x < xe; ++x) m = std::max(m, src[y * g.in_w + x]);
          row[ox] = m;
        } else {
          float s = 0.0f;
          for (int64_t y = ys; y < ye; ++y)
            for (int64_t x = xs; x < xe; ++x) s += src[y * g.in_w + x];
          // Caffe/PyTorch: the divisor counts padding up to the padded border, never beyond it.
          const int64_t count = g.count_include_pad ? (y1 - y0) * (x1 - x0) : (ye - ys) * (xe - xs);
          row[ox] = count > 0 ? s / static_cast<float>(count) : 0.0f;
        }
      };
      // A row of a few outputs (a global pooling's one) is not worth a pass per kernel column.
      if (ox_hi - ox_lo < 4) {
        for (int64_t ox = 0; ox < g.out_w; ++ox) window(ox);
        continue;
      }
      for (int64_t ox = 0; ox < ox_lo; ++ox) window(ox);
      for (int64_t ox = ox_hi; ox < g.out_w; ++ox) window(ox);
      float* r = row + ox_lo;
      const int64_t n = ox_hi - ox_lo, sw = g.sw;
      std::fill(r, r + n, g.max ? -std::numeric_limits<float>::infinity() : 0.0f);
      for (int64_t y = ys; y < ye; ++y)
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const float* s = src + y * g.in_w + ox_lo * sw - g.pl + kx;
          if (g.max)
            for (int64_t i = 0; i < n; ++i) r[i] = std::max(r[i], s[i * sw]);
          else
            for (int64_t i = 0; i < n; ++i) r[i] += s[i * sw];
        }
      if (!g.max) {
        // Inside the row every window spans kw columns: the divisor depends on the rows only.
        const int64_t count = g.count_include_pad ? (y1 - y0) * g.kw : (ye - ys) * g.kw;
        for (int64_t i = 0; i < n; ++i) r[i] = count > 0 ? r[i] / static_cast<float>(count) : 0.0f;
      }
    }
  }
}

LrnGeometry lrn_geometry(const LayerBinding& b) {
  const auto& p = b.layer->p<LRNParams>();
  const Shape& s = b.inputs[0].shape;
  return {s.n(), s.c(), s.h(), s.w(), p.local_size, p.alpha, p.beta, p.k, p.across_channels};
}

namespace {

// y = x * (k + a * sum)^-beta over a row (`sum` may be `y`). Caffe's default beta = 0.75 as 1 / sqrt(t *
// sqrt(t)): two square roots and a division the compiler vectorises, within a few ulp of std::pow, which
// costs ~20 ns per element.
void lrn_scale_row(const float* x, const float* sum, float* y, int64_t n, float k, float a, float beta) {
  if (beta == 0.75f) {
    for (int64_t i = 0; i < n; ++i) {
      const float t = k + a * sum[i];
      y[i] = x[i] / std::sqrt(t * std::sqrt(t));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * std::pow(k + a * sum[i], -beta);
  }
}

}  // namespace

void lrn_nchw_planes(const float* in, float* out, const LrnGeometry& g, int64_t plane_begin,
                     int64_t plane_end) {
  // The window sums are built in the output plane itself (no allocation during a run), then scaled in place.
  const int64_t plane = g.h * g.w, half = (g.size - 1) / 2;
  for (int64_t pl = plane_begin; pl < plane_end; ++pl) {
    const float* x = in + pl * plane;
    float* y = out + pl * plane;
    if (g.across) {
      // The squares of the window's channels summed a plane at a time, lowest channel first (the order of a
      // per-element loop, so the sums are the same bit for bit).
      const int64_t img = pl / g.c, ch = pl % g.c;
      std::fill(y, y + plane, 0.0f);
      for (int64_t k = std::max<int64_t>(0, ch - half); k <= std::min(g.c - 1, ch + half); ++k) {
        const float* xk = in + (img * g.c + k) * plane;
        for (int64_t q = 0; q < plane; ++q) y[q] += xk[q] * xk[q];
      }
      lrn_scale_row(x, y, y, plane, g.k, g.alpha / static_cast<float>(g.size), g.beta);
    } else {
      for (int64_t yy = 0; yy < g.h; ++yy) {
        float* row = y + yy * g.w;
        for (int64_t xx = 0; xx < g.w; ++xx) {
          float s = 0.0f;
          for (int64_t ky = std::max<int64_t>(0, yy - half); ky <= std::min(g.h - 1, yy + half); ++ky)
            for (int64_t kx = std::max<int64_t>(0, xx - half); kx <= std::min(g.w - 1, xx + half); ++kx)
              s += x[ky * g.w + kx] * x[ky * g.w + kx];
          row[xx] = s;
        }
        lrn_scale_row(x + yy * g.w, row, row, g.w, g.k, g.alpha / static_cast<float>(g.size * g.size),
                      g.beta);
      }
    }
  }
}

namespace {

int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

int norm_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

}  // namespace

void conv_direct(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                 int64_t first, int64_t last) {
  const int64_t icg = g.in_c_per_group(), ocg = g.out_c_per_group();
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  for (int64_t item = first; item < last; ++item) {
    const int64_t n = item / g.out_c, oc = item % g.out_c;
    {
      const int64_t grp = oc / ocg;
      float* dst = y + (n * g.out_c + oc) * out_plane;
      std::fill(dst, dst + out_plane, bias ? bias[oc] : 0.0f);
      for (int64_t ic = 0; ic < icg; ++ic) {
        const float* src = x + (n * g.in_c + grp * icg + ic) * in_plane;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const float wv = w[((oc * icg + ic) * g.kh + ky) * g.kw + kx];
            const int64_t off_y = ky * g.dh - g.pt, off_x = kx * g.dw - g.pl;
            int64_t y_lo, y_hi, x_lo, x_hi;
            valid_range(g.out_h, g.sh, off_y, g.in_h, y_lo, y_hi);
            valid_range(g.out_w, g.sw, off_x, g.in_w, x_lo, x_hi);
            for (int64_t oy = y_lo; oy < y_hi; ++oy) {
              const float* in_row = src + (oy * g.sh + off_y) * g.in_w;
              float* out_row = dst + oy * g.out_w;
              for (int64_t ox = x_lo; ox < x_hi; ++ox) out_row[ox] += wv * in_row[ox * g.sw + off_x];
            }
          }
        }
      }
    }
  }
}

namespace {

void conv_ref(const LayerBinding& b) {
  const ConvGeometry g = conv_geometry(b);
  float* y = b.outputs[0].data;
  const Tensor* bias = b.weight("bias");
  conv_direct(g, b.inputs[0].data, b.weight("weight")->data, bias ? bias->data : nullptr, y, 0,
              g.n * g.out_c);
  if (b.layer->fused_activation) apply_activation(*b.layer->fused_activation, y, b.outputs[0].elems);
}

void inner_product_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<InnerProductParams>();
  const Shape& s = b.inputs[0].shape;
  const int axis = norm_axis(p.axis, s.rank());
  const int64_t m = prod(s, 0, axis), k = prod(s, axis, s.rank()), n = p.num_output;
  const float* x = b.inputs[0].data;
  const float* w = b.weight("weight")->data;
  const Tensor* bias = b.weight("bias");
  float* y = b.outputs[0].data;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t o = 0; o < n; ++o) {
      // Double accumulation keeps the oracle's own rounding error out of the comparisons.
      double acc = bias ? bias->data[o] : 0.0;
      const float* wr = w + o * k;
      const float* xr = x + i * k;
      for (int64_t j = 0; j < k; ++j) acc += static_cast<double>(wr[j]) * xr[j];
      y[i * n + o] = static_cast<float>(acc);
    }
  }
  if (b.layer->fused_activation) apply_activation(*b.layer->fused_activation, y, b.outputs[0].elems);
}

void prelu_ref(const LayerBinding& b) {
  const Shape& s = b.inputs[0].shape;
  const float* slope = b.weight("slope")->data;
  const bool shared = b.weight("slope")->elems == 1;
  const int64_t c = s.c(), inner = prod(s, std::min(2, s.rank()), s.rank()), outer = s.n();
  const float* x = b.inputs[0].data;
  float* y = b.outputs[0].data;
  for (int64_t n = 0; n < outer; ++n)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float a = slope[shared ? 0 : ch];
      const int64_t base = (n * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) y[base + i] = leaky(x[base + i], a);
    }
}

void batchnorm_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<BatchNormParams>();
  const Shape& s = b.inputs[0].shape;
  const float* mean = b.weight("mean")->data;
  const float* var = b.weight("variance")->data;
  const Tensor* scale = b.weight("scale");
  const Tensor* shift = b.weight("bias");
  const int64_t c = s.c(), inner = prod(s, 2, s.rank()), outer = s.n();
  const float* x = b.inputs[0].data;
  float* y = b.outputs[0].data;
  for (int64_t n = 0; n < outer; ++n)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float inv = 1.0f / std::sqrt(var[ch] + p.eps);
      const float g = scale ? scale->data[ch] : 1.0f, bb = shift ? shift->data[ch] : 0.0f;
      const int64_t base = (n * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) y[base + i] = (x[base + i] - mean[ch]) * inv * g + bb;
    }
  if (b.layer->fused_activation) apply_activation(*b.layer->fused_activation, y, b.outputs[0].elems);
}

// Tensor dims and strides on the stack: run() must not allocate, and Shape holds a std::vector.
constexpr int kMaxRank = 8;
struct Dims {
  int rank = 0;
  std::array<int64_t, kMaxRank> d{};
};

Dims dims_of(const Shape& s) {
  if (s.rank() > kMaxRank)
    throw_failure("internal: rank {} exceeds the runtime's limit {}", s.rank(), kMaxRank);
  Dims r;
  r.rank = s.rank();
  for (int i = 0; i < s.rank(); ++i) r.d[static_cast<size_t>(i)] = s[i];
  return r;
}

// Strides of `in` broadcast to `out` (0 along broadcast axes), numpy alignment from the right.
Dims broadcast_strides(const Dims& in, const Dims& out) {
  Dims st;
  st.rank = out.rank;
  int64_t stride = 1;
  for (int i = in.rank - 1; i >= 0; --i) {
    const auto o = static_cast<size_t>(out.rank - in.rank + i);
    const int64_t n = in.d[static_cast<size_t>(i)];
    st.d[o] = n == 1 ? 0 : stride;
    stride *= n;
  }
  return st;
}

// y[i] = op(y[i], x[broadcast(i)]) over the output dims.
template <typename Op>
void broadcast_apply(float* y, const Dims& out, const float* x, const Dims& in, Op op) {
  const Dims st = broadcast_strides(in, out);
  std::array<int64_t, kMaxRank> idx{};
  int64_t total = 1;
  for (int d = 0; d < out.rank; ++d) total *= out.d[static_cast<size_t>(d)];
  int64_t off = 0;
  for (int64_t i = 0; i < total; ++i) {
    y[i] = op(y[i], x[off]);
    for (int d = out.rank - 1; d >= 0; --d) {
      const auto du = static_cast<size_t>(d);
      ++idx[du];
      off += st.d[du];
      if (idx[du] < out.d[du]) break;
      off -= st.d[du] * idx[du];
      idx[du] = 0;
    }
  }
}

void scale_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<ScaleParams>();
  const Shape& s = b.inputs[0].shape;
  const int axis = norm_axis(p.axis, s.rank());
  const float* x = b.inputs[0].data;
  float* y = b.outputs[0].data;
  const int64_t total = b.inputs[0].elems;
  if (y != x) std::copy(x, x + total, y);
  if (b.inputs.size() == 2) {
    // Align the scale tensor's dims with the input's starting at `axis` (Caffe), padding with 1s.
    const Shape& t = b.inputs[1].shape;
    Dims aligned = dims_of(s);
    for (int i = 0; i < s.rank(); ++i)
      aligned.d[static_cast<size_t>(i)] = i >= axis && i - axis < t.rank() ? t[i - axis] : 1;
    broadcast_apply(y, dims_of(s), b.inputs[1].data, aligned, [](float a, float c) { return a * c; });
  } else {
    const float* w = b.weight("scale")->data;
    const int64_t outer = prod(s, 0, axis), c = s[axis], inner = prod(s, axis + 1, s.rank());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < inner; ++i) y[(o * c + ch) * inner + i] *= w[ch];
  }
  if (const Tensor* bias = b.weight("bias")) {
    const int64_t outer = prod(s, 0, axis), c = s[axis], inner = prod(s, axis + 1, s.rank());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < inner; ++i) y[(o * c + ch) * inner + i] += bias->data[ch];
  }
  if (b.layer->fused_activation) apply_activation(*b.layer->fused_activation, y, total);
}

void lrn_ref(const LayerBinding& b) {
  const LrnGeometry g = lrn_geometry(b);
  lrn_nchw_planes(b.inputs[0].data, b.outputs[0].data, g, 0, g.n * g.c);
}

void concat_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<ConcatParams>();
  const Shape& os = b.outputs[0].shape;
  const int axis = norm_axis(p.axis, os.rank());
  const int64_t outer = prod(os, 0, axis), out_inner = prod(os, axis, os.rank());
  float* y = b.outputs[0].data;
  int64_t offset = 0;
  for (const Tensor& t : b.inputs) {
    const int64_t inner = prod(t.shape, axis, t.shape.rank());
    for (int64_t o = 0; o < outer; ++o) std::copy_n(t.data + o * inner, inner, y + o * out_inner + offset);
    offset += inner;
  }
}

void eltwise_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<EltwiseParams>();
  const Dims os = dims_of(b.outputs[0].shape);
  float* y = b.outputs[0].data;
  auto coeff = [&](size_t i) { return p.coeffs.empty() ? 1.0f : p.coeffs[i]; };
  std::fill(y, y + b.outputs[0].elems, 0.0f);
  const float c0 = coeff(0);
  broadcast_apply(y, os, b.inputs[0].data, dims_of(b.inputs[0].shape),
                  [c0](float, float v) { return c0 * v; });
  for (size_t i = 1; i < b.inputs.size(); ++i) {
    const Tensor& t = b.inputs[i];
    switch (p.op) {
      case EltwiseOp::Sum: {
        const float c = coeff(i);
        broadcast_apply(y, os, t.data, dims_of(t.shape), [c](float a, float v) { return a + c * v; });
        break;
      }
      case EltwiseOp::Prod:
        broadcast_apply(y, os, t.data, dims_of(t.shape), [](float a, float v) { return a * v; });
        break;
      case EltwiseOp::Max:
        broadcast_apply(y, os, t.data, dims_of(t.shape), [](float a, float v) { return std::max(a, v); });
        break;
    }
  }
  if (b.layer->fused_activation) apply_activation(*b.layer->fused_activation, y, b.outputs[0].elems);
}

void softmax_ref(const LayerBinding& b) {
  const Shape& s = b.inputs[0].shape;
  const int axis = norm_axis(b.layer->p<SoftmaxParams>().axis, s.rank());
  const int64_t outer = prod(s, 0, axis), c = s[axis], inner = prod(s, axis + 1, s.rank());
  const float* x = b.inputs[0].data;
  float* y = b.outputs[0].data;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * c * inner + i;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < c; ++k) m = std::max(m, x[base + k * inner]);
      double sum = 0.0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(x[base + k * inner] - m));
      for (int64_t k = 0; k < c; ++k)
        y[base + k * inner] =
            static_cast<float>(std::exp(static_cast<double>(x[base + k * inner] - m)) / sum);
    }
}

void slice_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<SliceParams>();
  const Shape& s = b.inputs[0].shape;
  const int axis = norm_axis(p.axis, s.rank());
  const int64_t outer = prod(s, 0, axis), dim = s[axis], inner = prod(s, axis + 1, s.rank());
  int64_t begin = 0;
  for (size_t k = 0; k < b.outputs.size(); ++k) {
    const Tensor& o = b.outputs[k];
    const int64_t len = o.shape[axis];
    if (!p.ranges.empty()) begin = p.ranges[k].first;
    for (int64_t i = 0; i < outer; ++i) {
      const float* from = b.inputs[0].data + (i * dim + begin) * inner;
      float* to = o.data + i * len * inner;
      if (p.step == 1) {
        std::copy_n(from, len * inner, to);
        continue;
      }
      for (int64_t j = 0; j < len; ++j) std::copy_n(from + j * p.step * inner, inner, to + j * inner);
    }
    begin += len;
  }
}

void channel_shuffle_ref(const LayerBinding& b) {
  const Shape& s = b.inputs[0].shape;
  const int64_t g = b.layer->p<ChannelShuffleParams>().groups;
  const int64_t c = s.c(), cpg = c / g, inner = prod(s, 2, s.rank());
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t i = 0; i < g; ++i)
      for (int64_t j = 0; j < cpg; ++j)
        std::copy_n(b.inputs[0].data + (n * c + i * cpg + j) * inner, inner,
                    b.outputs[0].data + (n * c + j * g + i) * inner);
}

void permute_ref(const LayerBinding& b) {
  const auto& order = b.layer->p<PermuteParams>().order;
  const Dims s = dims_of(b.inputs[0].shape);
  const Dims os = dims_of(b.outputs[0].shape);
  const int rank = s.rank;
  std::array<int64_t, kMaxRank> in_stride{}, st{}, idx{};
  in_stride[static_cast<size_t>(rank - 1)] = 1;
  for (int i = rank - 2; i >= 0; --i)
    in_stride[static_cast<size_t>(i)] =
        in_stride[static_cast<size_t>(i + 1)] * s.d[static_cast<size_t>(i + 1)];
  // Input stride of each output axis.
  for (int i = 0; i < rank; ++i)
    st[static_cast<size_t>(i)] = in_stride[static_cast<size_t>(order[static_cast<size_t>(i)])];
  int64_t off = 0;
  const int64_t total = b.outputs[0].elems;
  for (int64_t i = 0; i < total; ++i) {
    b.outputs[0].data[i] = b.inputs[0].data[off];
    for (int d = rank - 1; d >= 0; --d) {
      const auto du = static_cast<size_t>(d);
      ++idx[du];
      off += st[du];
      if (idx[du] < os.d[du]) break;
      off -= st[du] * idx[du];
      idx[du] = 0;
    }
  }
}

void pad_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<PadParams>();
  const Dims s = dims_of(b.inputs[0].shape);
  const Dims os = dims_of(b.outputs[0].shape);
  const int rank = s.rank;
  std::array<int64_t, kMaxRank> in_stride{}, idx{};
  in_stride[static_cast<size_t>(rank - 1)] = 1;
  for (int i = rank - 2; i >= 0; --i)
    in_stride[static_cast<size_t>(i)] =
        in_stride[static_cast<size_t>(i + 1)] * s.d[static_cast<size_t>(i + 1)];
  const int64_t total = b.outputs[0].elems;
  for (int64_t i = 0; i < total; ++i) {
    int64_t off = 0;
    bool inside = true;
    for (int d = 0; d < rank; ++d) {
      const auto du = static_cast<size_t>(d);
      int64_t q = idx[du] - p.begins[du];
      const int64_t n = s.d[du];
      if (q < 0 || q >= n) {
        if (p.mode == PadMode::Constant) {
          inside = false;
          break;
        }
        if (p.mode == PadMode::Edge)
          q = q < 0 ? 0 : n - 1;
        else
          q = q < 0 ? -q : 2 * (n - 1) - q;  // Reflect, without repeating the border
      }
      off += q * in_stride[du];
    }
    b.outputs[0].data[i] = inside ? b.inputs[0].data[off] : p.value;
    for (int d = rank - 1; d >= 0; --d) {
      const auto du = static_cast<size_t>(d);
      if (++idx[du] < os.d[du]) break;
      idx[du] = 0;
    }
  }
}

void copy_through(const LayerBinding& b) {
  for (const Tensor& o : b.outputs)
    if (o.data != b.inputs[0].data) std::copy_n(b.inputs[0].data, o.elems, o.data);
}

// Transposed convolution: every input value scatters through the kernel into the output (Caffe's col2im).
void deconv_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<ConvParams>();
  const Shape& is = b.inputs[0].shape;
  const Shape& os = b.outputs[0].shape;
  const int64_t n = is.n(), ic = is.c(), ih = is.h(), iw = is.w(), oc = os.c(), oh = os.h(), ow = os.w();
  const int64_t icg = ic / p.groups, ocg = oc / p.groups;
  const float* x = b.inputs[0].data;
  const float* w = b.weight("weight")->data;  // ic x ocg x kh x kw
  const Tensor* bias = b.weight("bias");
  std::vector<double> acc(static_cast<size_t>(oc * oh * ow));
  for (int64_t img = 0; img < n; ++img) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t c = 0; c < ic; ++c) {
      const int64_t g = c / icg;
      for (int64_t y = 0; y < ih; ++y)
        for (int64_t xx = 0; xx < iw; ++xx) {
          const double v = x[((img * ic + c) * ih + y) * iw + xx];
          for (int64_t o = 0; o < ocg; ++o)
            for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
              const int64_t oy = y * p.stride_h - p.pad_top + ky * p.dilation_h;
              if (oy < 0 || oy >= oh) continue;
              for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
                const int64_t ox = xx * p.stride_w - p.pad_left + kx * p.dilation_w;
                if (ox < 0 || ox >= ow) continue;
                acc[static_cast<size_t>(((g * ocg + o) * oh + oy) * ow + ox)] +=
                    v * w[((c * ocg + o) * p.kernel_h + ky) * p.kernel_w + kx];
              }
            }
        }
    }
    float* y = b.outputs[0].data + img * oc * oh * ow;
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t i = 0; i < oh * ow; ++i)
        y[o * oh * ow + i] = static_cast<float>(acc[static_cast<size_t>(o * oh * ow + i)] + (bias ? bias->data[o] : 0.0f));
  }
  if (b.layer->fused_activation) apply_activation(*b.layer->fused_activation, b.outputs[0].data, b.outputs[0].elems);
}

void crop_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<CropParams>();
  const Shape& s = b.inputs[0].shape;
  const Shape& o = b.outputs[0].shape;
  const int rank = s.rank();
  const int axis = norm_axis(p.axis, rank);
  std::vector<int64_t> off(static_cast<size_t>(rank), 0);
  for (int i = axis; i < rank; ++i)
    off[static_cast<size_t>(i)] = p.offsets.empty()        ? 0
                                  : p.offsets.size() == 1 ? p.offsets[0]
                                                          : p.offsets[static_cast<size_t>(i - axis)];
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  for (int64_t e = 0; e < b.outputs[0].elems; ++e) {
    int64_t rem = e, src = 0;
    for (int i = rank - 1; i >= 0; --i) {
      idx[static_cast<size_t>(i)] = rem % o[i];
      rem /= o[i];
    }
    for (int i = 0; i < rank; ++i) src = src * s[i] + idx[static_cast<size_t>(i)] + off[static_cast<size_t>(i)];
    b.outputs[0].data[e] = b.inputs[0].data[src];
  }
}

void argmax_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<ArgMaxParams>();
  const Shape& s = b.inputs[0].shape;
  // Over `axis` (or everything after the batch axis): outer x dim x inner, top_k indices per position.
  const int axis = p.axis ? norm_axis(*p.axis, s.rank()) : 1;
  const int64_t outer = prod(s, 0, axis);
  const int64_t dim = p.axis ? s[axis] : prod(s, 1, s.rank());
  const int64_t inner = p.axis ? prod(s, axis + 1, s.rank()) : 1;
  const float* x = b.inputs[0].data;
  float* y = b.outputs[0].data;
  std::vector<std::pair<float, int64_t>> v(static_cast<size_t>(dim));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t d = 0; d < dim; ++d) v[static_cast<size_t>(d)] = {x[(o * dim + d) * inner + i], d};
      std::partial_sort(v.begin(), v.begin() + p.top_k, v.end(),
                        [](const auto& a, const auto& c) { return a.first > c.first || (a.first == c.first && a.second < c.second); });
      for (int64_t k = 0; k < p.top_k; ++k) {
        const auto& [val, at] = v[static_cast<size_t>(k)];
        if (p.axis) {
          y[(o * p.top_k + k) * inner + i] = p.out_max_val ? val : static_cast<float>(at);
        } else {
          y[o * (p.out_max_val ? 2 : 1) * p.top_k + k] = static_cast<float>(at);
          if (p.out_max_val) y[o * 2 * p.top_k + p.top_k + k] = val;
        }
      }
    }
}

// Nearest: the source pixel floor(o * in / out); bilinear: Caffe Interp's corner-aligned sampling.
void resize_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<ResizeParams>();
  const Shape& s = b.inputs[0].shape;
  const int64_t planes = s.n() * s.c(), ih = s.h(), iw = s.w(), oh = p.out_h, ow = p.out_w;
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* x = b.inputs[0].data + pl * ih * iw;
    float* y = b.outputs[0].data + pl * oh * ow;
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        if (p.mode == ResizeMode::Nearest) {
          y[oy * ow + ox] = x[std::min(ih - 1, oy * ih / oh) * iw + std::min(iw - 1, ox * iw / ow)];
          continue;
        }
        const double fy = oh > 1 ? static_cast<double>(oy) * static_cast<double>(ih - 1) / static_cast<double>(oh - 1) : 0.0;
        const double fx = ow > 1 ? static_cast<double>(ox) * static_cast<double>(iw - 1) / static_cast<double>(ow - 1) : 0.0;
        const auto y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
        const int64_t y1 = std::min(y0 + 1, ih - 1), x1 = std::min(x0 + 1, iw - 1);
        const double dy = fy - static_cast<double>(y0), dx = fx - static_cast<double>(x0);
        y[oy * ow + ox] = static_cast<float>((1 - dy) * ((1 - dx) * x[y0 * iw + x0] + dx * x[y0 * iw + x1]) +
                                             dy * ((1 - dx) * x[y1 * iw + x0] + dx * x[y1 * iw + x1]));
      }
  }
}

void power_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<PowerParams>();
  const float* x = b.inputs[0].data;
  float* y = b.outputs[0].data;
  for (int64_t i = 0; i < b.outputs[0].elems; ++i) {
    const float v = p.shift + p.scale * x[i];
    y[i] = p.power == 1.0f ? v : std::pow(v, p.power);
  }
}

void axpy_ref(const LayerBinding& b) {
  const Shape& s = b.inputs[1].shape;
  const int64_t planes = s[0] * s[1], inner = b.inputs[1].elems / planes;
  const float* a = b.inputs[0].data;
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t i = 0; i < inner; ++i)
      b.outputs[0].data[pl * inner + i] = a[pl] * b.inputs[1].data[pl * inner + i] + b.inputs[2].data[pl * inner + i];
}

// SSD Normalize: x / sqrt(sum x^2 + eps), over the whole sample or across channels at each pixel, then scaled.
void normalize_ref(const LayerBinding& b) {
  const auto& p = b.layer->p<NormalizeParams>();
  const Shape& s = b.inputs[0].shape;
  const int64_t n = s[0], c = s[1], inner = b.inputs[0].elems / (n * c);
  const float* x = b.inputs[0].data;
  float* y = b.outputs[0].data;
  const float* scale = b.weight("scale")->data;
  for (int64_t img = 0; img < n; ++img) {
    const float* xi = x + img * c * inner;
    float* yi = y + img * c * inner;
    if (p.across_spatial) {
      double sum = p.eps;
      for (int64_t i = 0; i < c * inner; ++i) sum += static_cast<double>(xi[i]) * xi[i];
      const double inv = 1.0 / std::sqrt(sum);
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < inner; ++i)
          yi[ch * inner + i] = static_cast<float>(xi[ch * inner + i] * inv * scale[p.channel_shared ? 0 : ch]);
    } else {
      for (int64_t i = 0; i < inner; ++i) {
        double sum = p.eps;
        for (int64_t ch = 0; ch < c; ++ch) sum += static_cast<double>(xi[ch * inner + i]) * xi[ch * inner + i];
        const double inv = 1.0 / std::sqrt(sum);
        for (int64_t ch = 0; ch < c; ++ch)
          yi[ch * inner + i] = static_cast<float>(xi[ch * inner + i] * inv * scale[p.channel_shared ? 0 : ch]);
      }
    }
  }
}

}  // namespace

LayerNormGeometry layer_norm_geometry(const LayerBinding& b) {
  const auto& p = b.layer->p<LayerNormParams>();
  const Shape& s = b.inputs[0].shape;
  const int axis = p.axis < 0 ? p.axis + s.rank() : p.axis;
  int64_t inner = 1;
  for (int i = axis; i < s.rank(); ++i) inner *= s[i];
  const Tensor* scale = b.weight("scale");
  const Tensor* bias = b.weight("bias");
  return {b.inputs[0].elems / inner, inner, p.eps, scale ? scale->data : nullptr,
          bias ? bias->data : nullptr};
}

void layer_norm_rows(const float* x, float* y, const LayerNormGeometry& g, int64_t row_begin,
                     int64_t row_end) {
  const int64_t n = g.inner;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    // Two passes over the row (mean, then the mean square deviation): no cancellation for rows far from 0.
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += xr[i];
    const double mean = sum / static_cast<double>(n);
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    const auto m = static_cast<float>(mean);
    const auto inv = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + g.eps));
    if (g.scale && g.bias)
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * inv * g.scale[i] + g.bias[i];
    else
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * inv;
  }
}

namespace {

// numpy matmul: every output matrix of the batch multiplies the A and B matrices its batch index broadcasts
// to; double accumulation, as the inner product.
void matmul_ref(const LayerBinding& b) {
  const MatMulGeometry g = matmul_geometry(b);
  for (int64_t i = 0; i < g.batch; ++i) {
    const float* a = b.inputs[0].data + g.a_offset(i);
    const float* bm = b.inputs[1].data + g.b_offset(i);
    float* y = b.outputs[0].data + i * g.m * g.n;
    for (int64_t r = 0; r < g.m; ++r)
      for (int64_t c = 0; c < g.n; ++c) {
        double acc = 0.0;
        for (int64_t j = 0; j < g.k; ++j) acc += static_cast<double>(a[r * g.k + j]) * bm[j * g.n + c];
        y[r * g.n + c] = static_cast<float>(acc);
      }
  }
}

// The stored value broadcast to the output shape.
void constant_ref(const LayerBinding& b) {
  const Tensor& out = b.outputs[0];
  const Tensor& value = b.weights.at(0);
  broadcast_apply(out.data, dims_of(out.shape), value.data, dims_of(value.shape),
                  [](float, float v) { return v; });
}

}  // namespace

MatMulGeometry matmul_geometry(const LayerBinding& b) {
  const Shape& a = b.inputs[0].shape;
  const Shape& bs = b.inputs[1].shape;
  const Shape& y = b.outputs[0].shape;
  MatMulGeometry g;
  g.m = a[a.rank() - 2];
  g.k = a[a.rank() - 1];
  g.n = bs[bs.rank() - 1];
  g.rank = y.rank() - 2;
  if (g.rank > MatMulGeometry::kMaxBatchRank)
    throw_failure("internal: layer \"{}\": {} batch axes, the runtime takes at most {}", b.name(), g.rank,
                  MatMulGeometry::kMaxBatchRank);
  // Element strides of each operand's matrices along the output's batch axes (0 where it broadcasts).
  int64_t sa = g.m * g.k, sb = g.k * g.n;
  for (int d = g.rank - 1; d >= 0; --d) {
    const auto du = static_cast<size_t>(d);
    g.dims[du] = y[d];
    g.batch *= y[d];
    const int ia = a.rank() - 2 - (g.rank - d), ib = bs.rank() - 2 - (g.rank - d);
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? bs[ib] : 1;
    g.a_stride[du] = da == 1 ? 0 : sa;
    g.b_stride[du] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
  }
  return g;
}

int64_t MatMulGeometry::a_offset(int64_t index) const { return offset(index, a_stride); }
int64_t MatMulGeometry::b_offset(int64_t index) const { return offset(index, b_stride); }
int64_t MatMulGeometry::offset(int64_t index, const std::array<int64_t, kMaxBatchRank>& stride) const {
  int64_t off = 0;
  for (int d = rank - 1; d >= 0; --d) {
    const auto du = static_cast<size_t>(d);
    off += index % dims[du] * stride[du];
    index /= dims[du];
  }
  return off;
}

bool has_reference_kernel(LayerKind kind) {
  return kind != LayerKind::PriorBox && kind != LayerKind::DetectionOutput && kind != LayerKind::ROIPooling &&
         kind != LayerKind::Opaque;
}

void reference_run(const LayerBinding& b) {
  const Layer& l = *b.layer;
  switch (l.kind) {
    case LayerKind::Input:
      return;
    case LayerKind::Convolution:
      return conv_ref(b);
    case LayerKind::InnerProduct:
      return inner_product_ref(b);
    case LayerKind::Pooling:
      pool_nchw(b.inputs[0].data, b.outputs[0].data, pool_geometry(b));
      if (l.fused_activation) apply_activation(*l.fused_activation, b.outputs[0].data, b.outputs[0].elems);
      return;
    case LayerKind::ReLU:
    case LayerKind::LeakyReLU:
    case LayerKind::Clip:
    case LayerKind::Sigmoid:
    case LayerKind::TanH:
    case LayerKind::Swish:
    case LayerKind::HardSwish:
    case LayerKind::HardSigmoid:
    case LayerKind::GELU:
      if (b.outputs[0].data != b.inputs[0].data)
        std::copy_n(b.inputs[0].data, b.inputs[0].elems, b.outputs[0].data);
      apply_activation(activation_of(l), b.outputs[0].data, b.outputs[0].elems);
      return;
    case LayerKind::PReLU:
      return prelu_ref(b);
    case LayerKind::BatchNorm:
      return batchnorm_ref(b);
    case LayerKind::Scale:
      return scale_ref(b);
    case LayerKind::LRN:
      return lrn_ref(b);
    case LayerKind::Concat:
      return concat_ref(b);
    case LayerKind::Eltwise:
      return eltwise_ref(b);
    case LayerKind::Softmax:
      return softmax_ref(b);
    case LayerKind::Dropout:
    case LayerKind::Flatten:
    case LayerKind::Reshape:
    case LayerKind::Split:
      return copy_through(b);
    case LayerKind::Slice:
      return slice_ref(b);
    case LayerKind::ChannelShuffle:
      return channel_shuffle_ref(b);
    case LayerKind::Permute:
      return permute_ref(b);
    case LayerKind::Pad:
      return pad_ref(b);
    case LayerKind::Deconvolution:
      return deconv_ref(b);
    case LayerKind::Crop:
      return crop_ref(b);
    case LayerKind::ArgMax:
      return argmax_ref(b);
    case LayerKind::Resize:
      return resize_ref(b);
    case LayerKind::Axpy:
      return axpy_ref(b);
    case LayerKind::Normalize:
      return normalize_ref(b);
    case LayerKind::Power:
      return power_ref(b);
    case LayerKind::LayerNorm: {
      const LayerNormGeometry g = layer_norm_geometry(b);
      return layer_norm_rows(b.inputs[0].data, b.outputs[0].data, g, 0, g.rows);
    }
    case LayerKind::MatMul:
      return matmul_ref(b);
    case LayerKind::Constant:
      return constant_ref(b);
    case LayerKind::PriorBox:
    case LayerKind::DetectionOutput:
    case LayerKind::ROIPooling:
    case LayerKind::Opaque:
    case LayerKind::kCount:
      break;
  }
  throw_failure("internal: no reference kernel for layer \"{}\"", l.name);
}

namespace {

class ReferenceKernel final : public Kernel {
 public:
  explicit ReferenceKernel(LayerBinding b) : b_(std::move(b)) {}
  void run(float*) override { reference_run(b_); }

 private:
  LayerBinding b_;
};

class ReferenceBackend final : public Backend {
 public:
  std::string_view name() const override { return "reference"; }
  std::string unsupported_reason(const LayerBinding&) const override { return {}; }
  std::unique_ptr<Kernel> prepare(const LayerBinding& b) override {
    return std::make_unique<ReferenceKernel>(b);
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace convergy::runtime

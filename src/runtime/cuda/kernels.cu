// Small CUDA kernels of the cudnn backend (see kernels.h).
#include "runtime/cuda/kernels.h"

#include <cuda_runtime.h>

namespace convergy::runtime::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 64 ? b : 65535 * 64);
}

__global__ void activation_kernel(Activation f, float a, float b, const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    float r = v;
    switch (f) {
      case Activation::LeakyReLU:
        r = v > 0.0f ? v : a * v;
        break;
      case Activation::Clip:
        r = fminf(fmaxf(v, a), b);
        break;
      case Activation::HardSwish:
        r = v * fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f;
        break;
      case Activation::HardSigmoid:
        r = fminf(fmaxf(a * v + b, 0.0f), 1.0f);
        break;
    }
    y[i] = r;
  }
}

__global__ void pool_kernel(Pool2d g, const float* x, float* y) {
  const int64_t total = g.planes * g.out_h * g.out_w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ox = i % g.out_w, oy = (i / g.out_w) % g.out_h, plane = i / (g.out_w * g.out_h);
    const float* src = x + plane * g.in_h * g.in_w;
    const int64_t y0 = oy * g.sh - g.pt, x0 = ox * g.sw - g.pl;
    const int64_t y1 = y0 + g.kh < g.in_h + g.pb ? y0 + g.kh : g.in_h + g.pb;
    const int64_t x1 = x0 + g.kw < g.in_w + g.pr ? x0 + g.kw : g.in_w + g.pr;
    const int64_t ys = y0 > 0 ? y0 : 0, ye = y1 < g.in_h ? y1 : g.in_h;
    const int64_t xs = x0 > 0 ? x0 : 0, xe = x1 < g.in_w ? x1 : g.in_w;
    if (g.max) {
      float m = -INFINITY;
      for (int64_t yy = ys; yy < ye; ++yy)
        for (int64_t xx = xs; xx < xe; ++xx) m = fmaxf(m, src[yy * g.in_w + xx]);
      y[i] = m;
    } else {
      float s = 0.0f;
      for (int64_t yy = ys; yy < ye; ++yy)
        for (int64_t xx = xs; xx < xe; ++xx) s += src[yy * g.in_w + xx];
      const int64_t count = g.count_include_pad ? (y1 - y0) * (x1 - x0) : (ye - ys) * (xe - xs);
      y[i] = count > 0 ? s / static_cast<float>(count) : 0.0f;
    }
  }
}

__global__ void prelu_kernel(Prelu g, const float* x, const float* slope, float* y) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < g.n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : slope[g.shared ? 0 : (i / g.inner) % g.channels] * v;
  }
}

__global__ void gather_kernel(Gather g, const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = gather_source(g, i);
    y[i] = s < 0 ? g.value : x[s];
  }
}

const char* launched() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? "" : cudaGetErrorString(e);
}

}  // namespace

const char* activation(Activation f, float alpha, float beta, const float* x, float* y, int64_t n, void* stream) {
  if (n <= 0) return "";
  activation_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(f, alpha, beta, x, y, n);
  return launched();
}

const char* pool2d(const Pool2d& g, const float* x, float* y, void* stream) {
  const int64_t n = g.planes * g.out_h * g.out_w;
  if (n <= 0) return "";
  pool_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(g, x, y);
  return launched();
}

const char* prelu(const Prelu& g, const float* x, const float* slope, float* y, void* stream) {
  if (g.n <= 0) return "";
  prelu_kernel<<<blocks_for(g.n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(g, x, slope, y);
  return launched();
}

const char* gather(const Gather& g, const float* x, float* y, void* stream) {
  int64_t n = 1;
  for (int d = 0; d < g.rank; ++d) n *= g.out_dim[d];
  if (n <= 0) return "";
  gather_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(g, x, y, n);
  return launched();
}

}  // namespace convergy::runtime::cuda

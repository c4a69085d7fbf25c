// Small CUDA kernels for what cuDNN lacks, used by the cudnn backend when they are compiled (nvcc found at
// configure time; CONVERGY_HAVE_CUDA_KERNELS): the activations LeakyReLU, Clip with any bounds, HardSwish
// and HardSigmoid (standalone layers and fused epilogues), and 2-D pooling with any padding and rounding
// (ceil-rounded and asymmetric pools, which cuDNN's descriptors cannot express), PReLU, and one gather for
// Permute, ChannelShuffle and Pad. They compute exactly what the reference kernels compute. Plain C++
// declarations: the backend includes this without CUDA headers.
#pragma once
#include "runtime/cuda/gather.h"

#include <cstdint>

namespace convergy::runtime::cuda {

enum class Activation { LeakyReLU, Clip, HardSwish, HardSigmoid };

// y = f(x) over n floats (y may equal x), queued on `stream` (a cudaStream_t). alpha/beta: LeakyReLU slope;
// Clip min/max; HardSigmoid alpha x + beta. Returns an empty string or the launch error.
const char* activation(Activation f, float alpha, float beta, const float* x, float* y, int64_t n, void* stream);

// NCHW pooling, one output per thread; the window and divisor rules of runtime::pool_nchw_planes.
struct Pool2d {
  int64_t planes, in_h, in_w, out_h, out_w, kh, kw, sh, sw, pt, pl, pb, pr;
  bool max, count_include_pad;
};
const char* pool2d(const Pool2d& g, const float* x, float* y, void* stream);

// PReLU over n floats viewed as (outer, channels, inner): y = x > 0 ? x : slope[c] x, or slope[0] for all
// channels when `shared`.
struct Prelu {
  int64_t n, channels, inner;
  bool shared;
};
const char* prelu(const Prelu& g, const float* x, const float* slope, float* y, void* stream);

// y[i] = x[gather_source(g, i)] (or g.value) for every element of the output g describes.
const char* gather(const Gather& g, const float* x, float* y, void* stream);

}  // namespace convergy::runtime::cuda

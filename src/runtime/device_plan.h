// Planning for the cudnn GPU backend that needs no GPU: which layers cuDNN can express, the 4-D views and
// copy geometry of tensors, and the choice among the convolution algorithms cudnnFind measured. Compiled in
// every build, so the decisions are tested on machines without CUDA.
#pragma once
#include "graph/graph.h"
#include "runtime/backend.h"
#include "runtime/cuda/gather.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convergy::runtime::device {

// A tensor as the 4-D NCHW view cuDNN's legacy descriptors take: rank <= 4, trailing dims of 1 added.
// nullopt for rank > 4.
std::optional<std::array<int, 4>> nchw4(const Shape& s);

// Numpy broadcasting of `in` to `out` (aligned right) as 4-D views; nullopt when either has rank > 4 or the
// shapes do not broadcast.
std::optional<std::array<int, 4>> broadcast4(const Shape& in, const Shape& out);

// The cuDNN activation a (fused or standalone) activation maps to: ReLU, Clip with min 0 (clipped ReLU),
// Sigmoid, TanH and Swish. Empty string when it maps; otherwise why not. With `kernels` (the backend's own
// CUDA kernels are built) LeakyReLU, any Clip, HardSwish and HardSigmoid are taken too.
std::string activation_reason(const FusedActivation& a, bool kernels = false);
// Whether an activation runs on cuDNN (false: on the backend's own kernel, when activation_reason allows it).
bool cudnn_activation(const FusedActivation& a);

// Empty when the cudnn backend takes this layer on the GPU; otherwise why not (reported as a fallback).
// `kernels`: the backend's own CUDA kernels are built (activations above, pooling that cuDNN's floor
// rounding and symmetric padding cannot express, PReLU, Permute, ChannelShuffle and Pad).
std::string unsupported_reason(const LayerBinding& b, bool kernels = false);

// Pooling as cuDNN computes it: symmetric padding and floor((in + 2 pad - k) / s) + 1 outputs.
struct PoolPlan {
  int kh, kw, pad_h, pad_w, sh, sw;
};
// nullopt (with *why) when cuDNN's output size or padding differs from the layer's.
std::optional<PoolPlan> plan_pool(const PoolGeometry& g, std::string* why);

// One strided device-to-device copy (cudaMemcpy2D): `rows` rows of `width` floats.
struct Copy2D {
  int64_t dst_offset, dst_pitch, src_offset, src_pitch, width, rows;
  int input;  // which input (Concat) or output (Slice) it belongs to
};
std::vector<Copy2D> plan_concat(const std::vector<Shape>& inputs, const Shape& output, int axis);
std::vector<Copy2D> plan_slice(const Shape& input, const std::vector<Shape>& outputs, int axis,
                               const std::vector<std::pair<int64_t, int64_t>>& ranges);

// Permute, ChannelShuffle or Pad as one gather (runtime/cuda/gather.h), with axes that need no index
// arithmetic of their own merged away (size 1, or consecutive in the input and not padded). nullopt (with
// *why) for other layers or ranks above cuda::kGatherMaxRank.
std::optional<cuda::Gather> plan_gather(const LayerBinding& b, std::string* why);

// PReLU's (channels, inner) view of its input, as the reference walks it: axis 1 holds the channels.
struct PreluPlan {
  int64_t channels, inner;
  bool shared;  // one slope for every channel
};
PreluPlan plan_prelu(const LayerBinding& b);

// One result of the algorithm search (cudnnFindConvolutionForwardAlgorithm), library-neutral.
struct AlgoResult {
  int algo = 0;
  bool ok = false;     // status was CUDNN_STATUS_SUCCESS
  float time_ms = 0;
  size_t workspace_bytes = 0;
  bool tensor_math = false;  // tensor cores (TF32 for fp32 data) rather than FMA
};
// The fastest algorithm that succeeded, fits the workspace limit and, with TF32 off, uses FMA math;
// nullopt when none does.
std::optional<AlgoResult> choose_algorithm(const std::vector<AlgoResult>& found, size_t workspace_limit_bytes,
                                           bool allow_tf32);

}  // namespace convergy::runtime::device

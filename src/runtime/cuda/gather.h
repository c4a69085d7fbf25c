// The index arithmetic of the cudnn backend's gather kernel (Permute, ChannelShuffle and Pad are all "each
// output element reads one input element, or a constant"). Plain C++ that nvcc also compiles for the device,
// so the GPU-free planner tests run the very function the kernel runs.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define CONVERGY_HOST_DEVICE __host__ __device__
#else
#define CONVERGY_HOST_DEVICE
#endif

namespace convergy::runtime::cuda {

constexpr int kGatherMaxRank = 8;

// What an output position before or after the input along an axis reads (the reference's PadMode, plus
// None for gathers that never leave the input).
enum class Border : int32_t { None, Constant, Edge, Reflect };

// Output axis d (row-major over out_dim) walks input axis positions q = index - begin[d] with stride
// in_stride[d]; q outside [0, in_dim[d]) is resolved by `border`.
struct Gather {
  int32_t rank = 0;
  int64_t out_dim[kGatherMaxRank] = {};
  int64_t in_dim[kGatherMaxRank] = {};
  int64_t in_stride[kGatherMaxRank] = {};
  int64_t begin[kGatherMaxRank] = {};
  Border border = Border::None;
  float value = 0.0f;  // what Border::Constant writes
};

// The input offset output element i reads, or -1 where it is the constant.
CONVERGY_HOST_DEVICE inline int64_t gather_source(const Gather& g, int64_t i) {
  int64_t off = 0;
  for (int d = g.rank - 1; d >= 0; --d) {
    const int64_t n = g.out_dim[d], len = g.in_dim[d];
    int64_t q = i % n - g.begin[d];
    i /= n;
    if (q < 0 || q >= len) {
      if (g.border == Border::Constant) return -1;
      if (g.border == Border::Edge)
        q = q < 0 ? 0 : len - 1;
      else
        q = q < 0 ? -q : 2 * (len - 1) - q;  // Reflect without repeating the border, as the reference
    }
    off += q * g.in_stride[d];
  }
  return off;
}

}  // namespace convergy::runtime::cuda

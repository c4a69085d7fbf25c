// Generated NAS-Bench-201-style networks (Dong & Yang, ICLR 2020): the candidates a search scores by the
// thousand, as Caffe prototxt text, for benchmarks, tests and examples of prediction at search speed.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace convergy {

// The operation on one edge of an NB201 cell.
enum class Nb201Op : uint8_t { None, Skip, Conv1x1, Conv3x3, AvgPool3x3 };
constexpr int kNb201Edges = 6;  // edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 of the four-node cell
using Nb201Cell = std::array<Nb201Op, kNb201Edges>;

// The cell of candidate `index`: each edge drawn uniformly from the five operations by a fixed
// SplitMix64 sequence, so index i is the same network on every machine.
Nb201Cell nb201_cell(uint64_t index);

// The NB201 skeleton around one cell, repeated: a 3x3 stem (16 channels), three stages of five cells
// (16, 32, 64 channels on a 1x3x32x32 input), a residual reduction block between stages, global average
// pooling and a 10-way classifier. Convolutions are Convolution -> BatchNorm -> Scale -> ReLU, so the
// graph passes fold and fuse them as a deployment runtime would.
std::string nb201_prototxt(const Nb201Cell& cell, const std::string& name);
inline std::string nb201_prototxt(uint64_t index) {
  return nb201_prototxt(nb201_cell(index), "nb201_" + std::to_string(index));
}

}  // namespace convergy

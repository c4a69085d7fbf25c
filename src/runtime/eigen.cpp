// The eigen backend: Caffe2's CPU scheme, im2col + Eigen matrix products. Eigen is built here without
// OpenMP, so threads come from the runtime's pool: each thread multiplies a slice of C's columns.
#include "runtime/gemm_backend.h"
#include "runtime/parallel.h"

#include <Eigen/Core>

namespace convergy::runtime {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using ConstMap = Eigen::Map<const RowMatrix, 0, Stride>;
using Map = Eigen::Map<RowMatrix, 0, Stride>;

void eigen_gemm(bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                int64_t ldb, float* c, int64_t ldc) {
  const ConstMap A(a, m, k, Stride(lda));
  Map C(c, m, n, Stride(ldc));
  // Slices of at least 64 columns keep each GEMM call large enough to amortise Eigen's packing.
  const int64_t slices = std::max<int64_t>(1, std::min<int64_t>(pool_threads(), n / 64));
  if (trans_b) {
    const ConstMap B(b, n, k, Stride(ldb));
    parallel_for(slices, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        const int64_t c0 = n * s / slices, c1 = n * (s + 1) / slices;
        C.middleCols(c0, c1 - c0).noalias() = A * B.middleRows(c0, c1 - c0).transpose();
      }
    });
  } else {
    const ConstMap B(b, k, n, Stride(ldb));
    parallel_for(slices, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        const int64_t c0 = n * s / slices, c1 = n * (s + 1) / slices;
        C.middleCols(c0, c1 - c0).noalias() = A * B.middleCols(c0, c1 - c0);
      }
    });
  }
}

}  // namespace

std::unique_ptr<Backend> make_eigen_backend() { return make_gemm_backend("eigen", eigen_gemm); }

}  // namespace convergy::runtime

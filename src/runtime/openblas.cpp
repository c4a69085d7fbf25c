// The openblas backend: Caffe's scheme, im2col + cblas_sgemm; FC with batch 1 uses sgemv.
// OpenBLAS threads itself (openblas_set_num_threads); our own loops use the runtime's pool.
#include "runtime/gemm_backend.h"

#include <cblas.h>

namespace convergy::runtime {

namespace {

void openblas_gemm(bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float* c, int64_t ldc) {
  if (trans_b && m == 1) {
    // One row times a transposed matrix is a matrix-vector product: y = B x.
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, b,
                static_cast<blasint>(ldb), a, 1, 0.0f, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), 0.0f, c, static_cast<blasint>(ldc));
}

}  // namespace

std::unique_ptr<Backend> make_openblas_backend() { return make_gemm_backend("openblas", openblas_gemm); }

}  // namespace convergy::runtime

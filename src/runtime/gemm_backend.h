// The GEMM-based backend skeleton shared by openblas and eigen; each supplies only its GEMM.
#pragma once
#include "runtime/backend.h"

namespace convergy::runtime {

// Row-major C (m x n) = A (m x k, lda) * op(B), op(B) = B (k x n, ldb) or, with trans_b, B^T where B is
// n x k (ldb). C is overwritten.
using GemmFn = void (*)(bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float* c, int64_t ldc);

std::unique_ptr<Backend> make_gemm_backend(std::string_view name, GemmFn gemm);

// A transposed convolution (LayerKind::Deconvolution) as GEMM + col2im with `gemm`; the onednn backend takes
// it with oneDNN's sgemm.
std::unique_ptr<Kernel> make_deconv_kernel(const LayerBinding& b, GemmFn gemm);

// Layer normalisation with its rows shared among the threads, and Permute as blocked transposes where it is a
// batch of them (the reference loop otherwise): every CPU backend takes both.
std::unique_ptr<Kernel> make_layer_norm_kernel(const LayerBinding& b);
// Slice and Power (and Concat on the GEMM backends) by the reference loop, which is already a run of memcpy
// calls or one pass over the elements: every CPU backend takes them with it, so they are not fallbacks.
std::unique_ptr<Kernel> make_reference_loop_kernel(const LayerBinding& b);
std::unique_ptr<Kernel> make_permute_kernel(const LayerBinding& b);

}  // namespace convergy::runtime

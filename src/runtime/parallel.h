// A small fork-join thread pool for the kernels we write ourselves (Eigen GEMM chunks, pooling,
// element-wise loops). It never allocates while running a job, so run() stays allocation-free.
#pragma once
#include <cstdint>
#include <utility>

namespace convergy::runtime {

// Number of threads the pool uses (1 = everything on the caller's thread).
int pool_threads();
void set_pool_threads(int threads);

// Runs fn(ctx, chunk, chunks) for chunk in [0, chunks) across the pool; returns when all are done.
void run_chunks(int chunks, void (*fn)(void*, int, int), void* ctx);

// Splits [0, n) into pool_threads() contiguous ranges and calls f(begin, end) on each, in parallel.
template <typename F>
void parallel_for(int64_t n, F&& f) {
  const int t = pool_threads();
  if (t <= 1 || n < 2) {
    f(int64_t{0}, n);
    return;
  }
  const int chunks = static_cast<int>(n < t ? n : t);
  struct Ctx {
    F* f;
    int64_t n;
  } ctx{&f, n};
  run_chunks(
      chunks,
      [](void* p, int chunk, int count) {
        auto* c = static_cast<Ctx*>(p);
        const int64_t begin = c->n * chunk / count, end = c->n * (chunk + 1) / count;
        if (begin < end) (*c->f)(begin, end);
      },
      &ctx);
}

}  // namespace convergy::runtime

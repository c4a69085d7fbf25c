// The fork-join pool behind parallel_for, and the one place that sets every library's thread count.
#include "runtime/parallel.h"

#include "runtime/backend.h"

#include <cblas.h>
#include <dlfcn.h>

#include <Eigen/Core>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace convergy::runtime {

namespace {

class Pool {
 public:
  ~Pool() { resize(1); }

  int threads() const { return threads_; }

  void resize(int threads) {
    if (threads == threads_) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      ++generation_;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    stop_ = false;
    threads_ = threads;
    // Workers start from the current generation, so a job posted before they first wait is not missed.
    const uint64_t start = generation_;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i, start] { loop(i, start); });
  }

  void run(int chunks, void (*fn)(void*, int, int), void* ctx) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = fn;
      ctx_ = ctx;
      chunks_ = chunks;
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    // The caller takes chunk 0 and any chunks beyond the worker count.
    for (int c = 0; c < chunks; c += threads_) fn(ctx, c, chunks);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void loop(int index, uint64_t seen) {
    for (;;) {
      void (*fn)(void*, int, int) = nullptr;
      void* ctx = nullptr;
      int chunks = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
        fn = fn_;
        ctx = ctx_;
        chunks = chunks_;
      }
      for (int c = index; c < chunks; c += threads_) fn(ctx, c, chunks);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  int threads_ = 1;
  bool stop_ = false;
  uint64_t generation_ = 0;
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  int chunks_ = 0;
  int pending_ = 0;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int pool_threads() { return pool().threads(); }
void set_pool_threads(int threads) { pool().resize(threads < 1 ? 1 : threads); }
void run_chunks(int chunks, void (*fn)(void*, int, int), void* ctx) { pool().run(chunks, fn, ctx); }

void set_library_threads(int threads) {
  // Called at the start of every run: each call below is skipped when nothing changes, so a run with
  // an unchanged count neither allocates nor restarts any library's threads.
  // The OpenMP count is per calling thread, and setting it is cheap, so it is set every time.
  using SetThreads = void (*)(int);
  static auto omp_set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (omp_set) omp_set(threads);
  static int current = 0;
  if (threads == current) return;
  current = threads;
  set_pool_threads(threads);
  if (openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
  Eigen::setNbThreads(threads);
  // oneDNN (Debian's build uses OpenMP) reads the OpenMP count set above, looked up at run time so
  // this file needs no -fopenmp (libdnnl loads libgomp); child processes and late-initialised OpenMP
  // runtimes read the environment.
  setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
}

}  // namespace convergy::runtime

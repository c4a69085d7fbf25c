// Runs a network graph layer by layer on one backend, fp32, with weights from a seeded generator.
// Buffers are planned and allocated in the constructor; run() and run_layer() do not allocate.
#pragma once
#include "graph/graph.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace convergy {

struct ExecutorOptions {
  std::string backend = "reference";  // reference | openblas | eigen | onednn | cudnn
  int threads = 1;
  uint64_t seed = 1;
  // Liveness-based buffer sharing and in-place activations; off gives every blob its own buffer (tests
  // compare the two plans).
  bool reuse_buffers = true;
  // cudnn: allow TF32 tensor-core math for fp32 convolutions and GEMMs (off: full fp32, CUDNN_FMA_MATH).
  bool tf32 = false;
};

// Called at every layer start (start = true) and end (start = false) of a whole-network run.
class LayerHook {
 public:
  virtual ~LayerHook() = default;
  virtual void on_layer(LayerId layer, bool start) = 0;
};

struct Fallback {
  std::string layer;
  std::string reason;  // why the backend did not take it
};

// The revision of the kernels' implementation, bumped whenever a change alters what they measure (their
// speed), so that a campaign measured by older kernels is not reused as if it were current (CampaignSpec).
// 1: up to 2026-12-06; 2: branch-free ReLU/LeakyReLU/PReLU and the runtime built at -O3 (a fused ReLU had
// cost more than its convolution; docs/runtime.md, "Activations"); 3: pooling a row of windows at a time
// (3-4x faster max pooling on the reference and GEMM backends; docs/runtime.md, "Pooling"); 4: LRN a plane at
// a time, beta 0.75 by square roots, threaded on the GEMM backends (7x faster; docs/runtime.md, "LRN"); 5:
// Sigmoid and Swish by a vectorised exponential (2x faster; docs/runtime.md, "Activations"); 6: im2col in
// bands of output rows that stay in the L2 cache for the GEMM (docs/runtime.md, "im2col"); 7: onednn
// BatchNorm as a binary multiply-add (2x faster; docs/runtime.md, "BatchNorm"); 8: Deconvolution as GEMM +
// col2im on every CPU backend instead of the reference kernel (70x faster; docs/runtime.md, "Deconvolution");
// 9: Permute as blocked transposes on every CPU backend instead of the reference loop (4x faster for
// ConvNeXt's; docs/runtime.md, "Backends"); 10: Softmax rows by the vectorised exponential on the GEMM
// backends (docs/runtime.md, "Activations").
inline constexpr int kKernelRevision = 10;

class Executor {
 public:
  Executor(const Graph& graph, const ExecutorOptions& options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Whole network, in topological order; `hook` may be null.
  void run(LayerHook* hook = nullptr);
  // One layer in isolation on its prepared inputs (run() once first, or inputs hold random data).
  // On a device backend this only queues the work: call synchronize() before reading a clock.
  void run_layer(LayerId layer);
  // Waits for queued device work (a no-op on CPU backends). run() itself returns with its outputs on
  // the host.
  void synchronize();
  // True on a device backend with event timing: run(hook) then times each layer on the device, and
  // take_device_layer_ms() returns the summed per-layer milliseconds since the last call (by layer id); on a
  // backend without one it returns an empty vector (not zeros: nothing was timed).
  bool has_device_timer() const;
  std::vector<double> take_device_layer_ms();
  // CUDA-graph replay (device backends): prepare_replay() captures `runs` back-to-back runs of one layer, or
  // of the whole network when layer is -1 (its device layers only: no input upload, output download or
  // synchronisation), into one graph; it returns an empty string, or why not (a CPU backend, a layer that
  // falls back to the host, a failed capture). replay() queues one launch of that graph (`runs` runs);
  // synchronize() waits for it.
  std::string prepare_replay(LayerId layer, int64_t runs);
  void replay(LayerId layer);
  // The backend's math settings ("tf32=off"), empty for CPU backends.
  std::string math_mode() const;

  // Layers the chosen backend could not take and that ran on the reference kernels.
  const std::vector<Fallback>& fallbacks() const;
  // Layers with no kernel at all (PriorBox, DetectionOutput, ROI pooling, opaque layers): not run; their
  // outputs keep whatever the buffers hold.
  const std::vector<Fallback>& skipped() const;
  // Backend name actually used for a layer ("reference" for fallbacks and trivial layers).
  std::string backend_of(LayerId layer) const;

  // On a device backend only network inputs (uploaded by run()) and outputs (downloaded by run()) are
  // current on the host; intermediate blobs stay on the device.
  std::span<float> blob_data(BlobId blob);
  // The generated values of weight `index` of `layer` (in Layer::weights order). Read-only: backends may
  // have copied or reordered them at construction.
  std::span<const float> weight_data(LayerId layer, size_t index) const;
  const Graph& graph() const;
  const ExecutorOptions& options() const;

  // Host memory this executor holds, in bytes: what a campaign that keeps several networks ready weighs.
  // Library-internal caches (oneDNN's primitive cache, OpenBLAS's buffers) are not included.
  struct Memory {
    int64_t activations = 0;     // planned blob buffers
    int64_t weights = 0;         // generated weights the executor still holds
    int64_t backend_copies = 0;  // weights a backend copied into its own layout (the originals are freed)
    int64_t workspace = 0;       // the scratch shared by all kernels
    int64_t total() const { return activations + weights + backend_copies + workspace; }
  };
  Memory memory() const;

  // Names of the backends compiled into this build.
  static std::vector<std::string> available_backends();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace convergy

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
  std::string backend = "reference";  // reference | openblas | eigen | onednn
  int threads = 1;
  uint64_t seed = 1;
  // Liveness-based buffer sharing and in-place activations; off gives every blob its own buffer (tests
  // compare the two plans).
  bool reuse_buffers = true;
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

class Executor {
 public:
  Executor(const Graph& graph, const ExecutorOptions& options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Whole network, in topological order; `hook` may be null.
  void run(LayerHook* hook = nullptr);
  // One layer in isolation on its prepared inputs (run() once first, or inputs hold random data).
  void run_layer(LayerId layer);

  // Layers the chosen backend could not take and that ran on the reference kernels.
  const std::vector<Fallback>& fallbacks() const;
  // Layers with no kernel at all (PriorBox, DetectionOutput, ROI pooling, opaque layers): not run; their
  // outputs keep whatever the buffers hold.
  const std::vector<Fallback>& skipped() const;
  // Backend name actually used for a layer ("reference" for fallbacks and trivial layers).
  std::string backend_of(LayerId layer) const;

  std::span<float> blob_data(BlobId blob);
  // The generated values of weight `index` of `layer` (in Layer::weights order). Read-only: backends may
  // have copied or reordered them at construction.
  std::span<const float> weight_data(LayerId layer, size_t index) const;
  const Graph& graph() const;
  const ExecutorOptions& options() const;

  // Names of the backends compiled into this build.
  static std::vector<std::string> available_backends();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace convergy

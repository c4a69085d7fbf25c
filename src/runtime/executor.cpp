// The executor: plans and allocates every buffer up front (with liveness-based reuse and in-place
// activations), fills weights from a seeded generator, and prepares one kernel per layer on a backend.
#include "runtime/executor.h"

#include "runtime/backend.h"
#include "util/error.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

namespace convergy {

namespace {

using runtime::Backend;
using runtime::Kernel;
using runtime::LayerBinding;
using runtime::Tensor;

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedFree>;

Buffer allocate_floats(int64_t n) {
  // 64-byte alignment suits AVX-512 loads and oneDNN's preference; at least one element so every
  // blob has a distinct, valid address.
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw_failure("cannot allocate {} bytes for the executor's buffers", bytes);
  return Buffer(p);
}

// Layers whose outputs share the input's storage: they change only how the data is described.
bool is_alias_kind(LayerKind k) {
  return k == LayerKind::Flatten || k == LayerKind::Reshape || k == LayerKind::Dropout ||
         k == LayerKind::Split;
}

// Element-wise layers allowed to overwrite their input. Only those that stay well-conditioned when
// run_layer() repeats them on their own output (idempotent or converging to a normal fixed point), so
// isolated timing never drifts into denormals: leaky slopes and Swish shrink negatives towards 0.
bool is_in_place_kind(LayerKind k) {
  return k == LayerKind::ReLU || k == LayerKind::Clip || k == LayerKind::Sigmoid || k == LayerKind::TanH ||
         k == LayerKind::HardSigmoid;
}

std::unique_ptr<Backend> make_backend(const std::string& name, const ExecutorOptions& options) {
  (void)options;
  if (name == "reference") return runtime::make_reference_backend();
  if (name == "openblas") return runtime::make_openblas_backend();
  if (name == "eigen") return runtime::make_eigen_backend();
#ifdef CONVERGY_HAVE_ONEDNN
  if (name == "onednn") return runtime::make_onednn_backend();
#endif
#ifdef CONVERGY_HAVE_CUDNN
  if (name == "cudnn") return runtime::make_cudnn_backend(options.tf32);
#endif
  std::string known;
  for (const auto& b : Executor::available_backends()) known += (known.empty() ? "" : ", ") + b;
  throw_bad_input("backend \"{}\" is unknown, expected one of: {}", name, known);
}

// Fills one weight tensor. Scales keep activations of order 1 through deep nets (He-uniform for
// Conv/FC weights); BN variances are positive so the normalisation is defined.
void fill_weight(const Layer& layer, const WeightSpec& spec, float* data, int64_t n, std::mt19937_64& rng) {
  float lo = -0.5f, hi = 0.5f;
  if (spec.role == "weight" && spec.shape.rank() >= 2) {
    const int64_t fan_in = std::max<int64_t>(1, spec.shape.elems() / spec.shape[0]);
    hi = std::sqrt(6.0f / static_cast<float>(fan_in));
    lo = -hi;
  } else if (spec.role == "bias" || spec.role == "mean") {
    lo = -0.1f;
    hi = 0.1f;
  } else if (spec.role == "variance" || spec.role == "scale") {
    lo = 0.5f;
    hi = 1.5f;
  } else if (spec.role == "slope") {
    lo = 0.05f;
    hi = 0.3f;
  }
  (void)layer;
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < n; ++i) data[i] = dist(rng);
}

// The weights of one layer, from the layer's own seed: the same values whenever they are generated.
std::vector<Buffer> generate_layer_weights(const Layer& l, LayerId li, uint64_t seed) {
  std::vector<Buffer> out;
  std::mt19937_64 rng(seed + static_cast<uint64_t>(li));
  for (const WeightSpec& w : l.weights) {
    const int64_t n = w.shape.elems();
    out.push_back(allocate_floats(n));
    fill_weight(l, w, out.back().get(), n, rng);
  }
  return out;
}

}  // namespace

struct Executor::Impl {
  Graph graph;
  ExecutorOptions options;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Backend> reference;

  std::vector<Buffer> buffers;                   // physical activation buffers
  std::vector<float*> blob_ptr;                  // per blob
  std::vector<std::vector<Buffer>> weights;      // per layer, per weight spec; null once a kernel copied it
  // Weights a kernel copied and the executor freed, generated again for weight_data() (same seed, same
  // values), by layer.
  mutable std::map<LayerId, std::vector<Buffer>> regenerated;
  std::vector<LayerBinding> bindings;            // per layer
  std::vector<std::unique_ptr<Kernel>> kernels;  // per layer; null for Input, Constant and alias layers
  std::vector<std::string> backend_name;         // per layer
  std::vector<Fallback> fallbacks;
  std::vector<Fallback> skipped;
  Buffer workspace;
  int64_t activation_floats = 0, workspace_floats = 0;
  std::vector<double> device_ms;  // per layer, summed event times since take_device_layer_ms()
  std::map<LayerId, int> graphs;  // captured replay graph by layer (-1: the whole network)

  void plan_buffers();
  void fill_weights();
  void prepare_kernels();
  void apply_threads() const { runtime::set_library_threads(options.threads); }
  Tensor bindings_tensor(BlobId b) const {
    const Blob& blob = graph.blob(b);
    return {blob_ptr[static_cast<size_t>(b)], blob.shape, blob.shape.elems()};
  }
};

void Executor::Impl::plan_buffers() {
  const int nb = graph.num_blobs(), nl = graph.num_layers();
  // 1. Logical storages: aliases share their input's storage.
  std::vector<int> storage(static_cast<size_t>(nb));
  for (int i = 0; i < nb; ++i) storage[static_cast<size_t>(i)] = i;
  for (const Layer& l : graph.layers())
    if (is_alias_kind(l.kind))
      for (BlobId o : l.outputs) storage[static_cast<size_t>(o)] = storage[static_cast<size_t>(l.inputs[0])];

  // 2. Liveness of each storage: defined by its first producer, last read by its last consumer; network
  // inputs and outputs are pinned (never reused) so repeated runs and blob_data() see them intact.
  std::vector<int> def(static_cast<size_t>(nb), -1), last(static_cast<size_t>(nb), -1);
  std::vector<char> pinned(static_cast<size_t>(nb), 0);
  std::vector<int64_t> need(static_cast<size_t>(nb), 0);
  auto recompute = [&] {
    std::fill(def.begin(), def.end(), -1);
    std::fill(last.begin(), last.end(), -1);
    std::fill(pinned.begin(), pinned.end(), 0);
    std::fill(need.begin(), need.end(), 0);
    for (int li = 0; li < nl; ++li) {
      const Layer& l = graph.layer(li);
      for (BlobId o : l.outputs) {
        const auto s = static_cast<size_t>(storage[static_cast<size_t>(o)]);
        if (def[s] < 0) def[s] = li;
        last[s] = std::max(last[s], li);
        need[s] = std::max(need[s], graph.blob(o).shape.elems());
        // A Constant's output is written once, when the executor is built, and read by every run.
        if (l.kind == LayerKind::Constant) pinned[s] = 1;
      }
      for (BlobId in : l.inputs) {
        const auto s = static_cast<size_t>(storage[static_cast<size_t>(in)]);
        last[s] = std::max(last[s], li);
      }
    }
    for (BlobId b : graph.outputs()) pinned[static_cast<size_t>(storage[static_cast<size_t>(b)])] = 1;
    for (BlobId b : graph.inputs()) pinned[static_cast<size_t>(storage[static_cast<size_t>(b)])] = 1;
  };
  recompute();

  // 3. In-place element-wise layers: the output takes the input's storage when nothing reads the input
  // afterwards.
  bool changed = false;
  for (int li = 0; li < nl && options.reuse_buffers; ++li) {
    const Layer& l = graph.layer(li);
    if (!is_in_place_kind(l.kind) || l.inputs.size() != 1 || l.outputs.size() != 1) continue;
    const int in_s = storage[static_cast<size_t>(l.inputs[0])];
    if (pinned[static_cast<size_t>(in_s)] || last[static_cast<size_t>(in_s)] != li) continue;
    const int out_s = storage[static_cast<size_t>(l.outputs[0])];
    for (auto& s : storage)
      if (s == out_s) s = in_s;
    recompute();
    changed = true;
  }
  (void)changed;

  // 4. Physical buffers, greedy in layer order: a storage takes the smallest free buffer that fits (or
  // grows the largest free one) and returns it after its last reader.
  struct Phys {
    int64_t size = 0;
    bool busy = false;
  };
  std::vector<Phys> phys;
  std::vector<int> phys_of(static_cast<size_t>(nb), -1);
  for (int li = 0; li < nl; ++li) {
    const Layer& l = graph.layer(li);
    for (BlobId o : l.outputs) {
      const auto s = static_cast<size_t>(storage[static_cast<size_t>(o)]);
      if (phys_of[s] >= 0 || def[s] != li) continue;
      int best = -1;
      for (size_t p = 0; p < phys.size(); ++p) {
        if (phys[p].busy) continue;
        const bool fits = phys[p].size >= need[s];
        if (best < 0) {
          best = static_cast<int>(p);
          continue;
        }
        const Phys& cur = phys[static_cast<size_t>(best)];
        const bool cur_fits = cur.size >= need[s];
        if ((fits && (!cur_fits || phys[p].size < cur.size)) ||
            (!fits && !cur_fits && phys[p].size > cur.size))
          best = static_cast<int>(p);
      }
      if (best < 0 || pinned[s] || !options.reuse_buffers) {
        phys.push_back({});
        best = static_cast<int>(phys.size() - 1);
      }
      Phys& ph = phys[static_cast<size_t>(best)];
      ph.size = std::max(ph.size, need[s]);
      ph.busy = true;
      phys_of[s] = best;
    }
    for (size_t s = 0; s < static_cast<size_t>(nb); ++s)
      if (phys_of[s] >= 0 && last[s] == li && !pinned[s]) phys[static_cast<size_t>(phys_of[s])].busy = false;
  }

  // Random contents, so run_layer() before any run() computes on ordinary numbers.
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const Phys& p : phys) {
    buffers.push_back(allocate_floats(p.size));
    activation_floats += p.size;
    for (int64_t i = 0; i < p.size; ++i) buffers.back()[i] = dist(rng);
  }
  blob_ptr.assign(static_cast<size_t>(nb), nullptr);
  for (int b = 0; b < nb; ++b) {
    const int p = phys_of[static_cast<size_t>(storage[static_cast<size_t>(b)])];
    if (p < 0) throw_failure("internal: blob \"{}\" has no buffer", graph.blob(b).name);
    blob_ptr[static_cast<size_t>(b)] = buffers[static_cast<size_t>(p)].get();
  }
}

void Executor::Impl::fill_weights() {
  weights.resize(static_cast<size_t>(graph.num_layers()));
  for (int li = 0; li < graph.num_layers(); ++li)
    weights[static_cast<size_t>(li)] = generate_layer_weights(graph.layer(li), li, options.seed);
}

void Executor::Impl::prepare_kernels() {
  const int nl = graph.num_layers();
  bindings.resize(static_cast<size_t>(nl));
  kernels.resize(static_cast<size_t>(nl));
  backend_name.assign(static_cast<size_t>(nl), "reference");
  workspace_floats = 0;
  for (int li = 0; li < nl; ++li) {
    const Layer& l = graph.layer(li);
    LayerBinding& b = bindings[static_cast<size_t>(li)];
    b.id = li;
    b.layer = &graph.layer(li);
    for (BlobId in : l.inputs) {
      const Blob& blob = graph.blob(in);
      b.inputs.push_back({blob_ptr[static_cast<size_t>(in)], blob.shape, blob.shape.elems()});
    }
    for (BlobId out : l.outputs) {
      const Blob& blob = graph.blob(out);
      b.outputs.push_back({blob_ptr[static_cast<size_t>(out)], blob.shape, blob.shape.elems()});
    }
    for (size_t w = 0; w < l.weights.size(); ++w)
      b.weights.push_back(
          {weights[static_cast<size_t>(li)][w].get(), l.weights[w].shape, l.weights[w].shape.elems()});
    for (BlobId in : l.inputs)
      if (graph.blob(in).dtype != DataType::F32)
        throw_bad_input("{}: layer \"{}\": input \"{}\" is {}, the executor runs fp32 only", graph.source(),
                        l.name, graph.blob(in).name, dtype_name(graph.blob(in).dtype));
    if (l.kind == LayerKind::Input || is_alias_kind(l.kind)) continue;
    if (l.kind == LayerKind::Constant) {
      // A stored tensor costs nothing at run time: its output is filled here (before a device backend's
      // finalize() copies every buffer to the device) and never written again.
      reference->prepare(b)->run(nullptr);
      continue;
    }
    if (!runtime::has_reference_kernel(l.kind)) {
      skipped.push_back({l.name, fmt::format("no kernel for {} layers", layer_kind_name(l.kind))});
      continue;
    }

    std::string reason = backend->unsupported_reason(b);
    if (reason.empty()) {
      try {
        kernels[static_cast<size_t>(li)] = backend->prepare(b);
        backend_name[static_cast<size_t>(li)] = std::string(backend->name());
      } catch (const runtime::Unsupported& e) {
        reason = e.what();
      }
    }
    if (!reason.empty()) {
      fallbacks.push_back({l.name, std::move(reason)});
      kernels[static_cast<size_t>(li)] = backend->wrap_fallback(b, reference->prepare(b));
    }
    // A weight the kernel copied into its own layout is freed at once, so it is never held twice (oneDNN
    // held VGG-16's 553 MB of weights twice).
    for (size_t w = 0; w < b.weights.size(); ++w) {
      if (!kernels[static_cast<size_t>(li)]->copied_weight(b.weights[w].data)) continue;
      weights[static_cast<size_t>(li)][w].reset();
      b.weights[w].data = nullptr;
    }
    workspace_floats = std::max(workspace_floats,
                                static_cast<int64_t>(kernels[static_cast<size_t>(li)]->workspace_floats()));
  }
  backend->finalize();
  device_ms.assign(static_cast<size_t>(nl), 0.0);
  workspace = allocate_floats(workspace_floats);
  for (auto& k : kernels)
    if (k) k->bind_workspace(workspace.get());
}

Executor::Executor(const Graph& graph, const ExecutorOptions& options) : impl_(std::make_unique<Impl>()) {
  if (options.threads < 1) throw_bad_input("threads {}, expected >= 1", options.threads);
  impl_->graph = graph;
  impl_->options = options;
  impl_->backend = make_backend(options.backend, options);
  impl_->reference = runtime::make_reference_backend();
  impl_->apply_threads();
  impl_->plan_buffers();
  impl_->fill_weights();
  impl_->prepare_kernels();
}

Executor::~Executor() = default;

void Executor::run(LayerHook* hook) {
  impl_->apply_threads();
  float* ws = impl_->workspace.get();
  const int nl = impl_->graph.num_layers();
  Backend& be = *impl_->backend;
  const bool device = be.on_device();
  const bool timer = hook && be.has_device_timer();
  if (device)
    for (BlobId b : impl_->graph.inputs()) be.upload(impl_->bindings_tensor(b));
  for (int li = 0; li < nl; ++li) {
    if (hook) hook->on_layer(li, true);
    if (timer) be.mark(li, true);
    if (Kernel* k = impl_->kernels[static_cast<size_t>(li)].get()) k->run(ws);
    if (timer) be.mark(li, false);
    if (hook) hook->on_layer(li, false);
  }
  if (device) {
    for (BlobId b : impl_->graph.outputs()) be.download(impl_->bindings_tensor(b));
    be.synchronize();
    if (timer) be.collect_marks(impl_->device_ms);
  }
}

void Executor::synchronize() { impl_->backend->synchronize(); }

bool Executor::has_device_timer() const { return impl_->backend->has_device_timer(); }

std::vector<double> Executor::take_device_layer_ms() {
  if (!impl_->backend->has_device_timer()) return {};  // host-timed layers: the caller's clock is the timer
  std::vector<double> out = impl_->device_ms;
  std::fill(impl_->device_ms.begin(), impl_->device_ms.end(), 0.0);
  return out;
}

std::string Executor::math_mode() const { return impl_->backend->math_mode(); }

std::string Executor::prepare_replay(LayerId layer, int64_t runs) {
  if (layer < -1 || layer >= impl_->graph.num_layers())
    throw_bad_input("layer id {} is out of range (the network has {} layers)", layer, impl_->graph.num_layers());
  if (runs < 1) throw_bad_input("graph replay of {} runs: expected at least 1", runs);
  Backend& be = *impl_->backend;
  if (!be.on_device()) return fmt::format("backend {} runs on the host (graph replay is for device backends)",
                                          be.name());
  const int nl = impl_->graph.num_layers();
  const LayerId first = layer < 0 ? 0 : layer, last = layer < 0 ? nl - 1 : layer;
  // A layer that falls back to the reference kernel copies to the host and waits: not capturable.
  for (LayerId li = first; li <= last; ++li)
    if (impl_->kernels[static_cast<size_t>(li)] && impl_->backend_name[static_cast<size_t>(li)] != be.name())
      return fmt::format("layer \"{}\" runs on the host (fallback)", impl_->graph.layer(li).name);
  impl_->apply_threads();
  float* ws = impl_->workspace.get();
  std::string why;
  const int id = be.capture(
      [&] {
        for (int64_t r = 0; r < runs; ++r)
          for (LayerId li = first; li <= last; ++li)
            if (Kernel* k = impl_->kernels[static_cast<size_t>(li)].get()) k->run(ws);
      },
      &why);
  if (id < 0) return why.empty() ? std::string("capture failed") : why;
  impl_->graphs[layer] = id;
  return {};
}

void Executor::replay(LayerId layer) {
  auto it = impl_->graphs.find(layer);
  if (it == impl_->graphs.end()) throw_failure("internal: no replay graph for layer {} (prepare_replay first)", layer);
  impl_->backend->replay(it->second);
}

void Executor::run_layer(LayerId layer) {
  if (layer < 0 || layer >= impl_->graph.num_layers())
    throw_bad_input("layer id {} is out of range (the network has {} layers)", layer,
                    impl_->graph.num_layers());
  impl_->apply_threads();
  if (Kernel* k = impl_->kernels[static_cast<size_t>(layer)].get()) k->run(impl_->workspace.get());
}

const std::vector<Fallback>& Executor::fallbacks() const { return impl_->fallbacks; }
const std::vector<Fallback>& Executor::skipped() const { return impl_->skipped; }

std::string Executor::backend_of(LayerId layer) const {
  if (layer < 0 || layer >= impl_->graph.num_layers()) return {};
  return impl_->backend_name[static_cast<size_t>(layer)];
}

std::span<float> Executor::blob_data(BlobId blob) {
  if (blob < 0 || blob >= impl_->graph.num_blobs())
    throw_bad_input("blob id {} is out of range (the network has {} blobs)", blob, impl_->graph.num_blobs());
  // A device backend keeps intermediate results on the device: fetch this one (not a timed path).
  if (impl_->backend->on_device()) impl_->backend->download(impl_->bindings_tensor(blob));
  return {impl_->blob_ptr[static_cast<size_t>(blob)],
          static_cast<size_t>(impl_->graph.blob(blob).shape.elems())};
}

std::span<const float> Executor::weight_data(LayerId layer, size_t index) const {
  if (layer < 0 || layer >= impl_->graph.num_layers() ||
      index >= impl_->weights[static_cast<size_t>(layer)].size())
    throw_bad_input("layer {} has no weight {}", layer, index);
  const float* data = impl_->weights[static_cast<size_t>(layer)][index].get();
  if (!data) {
    auto it = impl_->regenerated.find(layer);
    if (it == impl_->regenerated.end())
      it = impl_->regenerated
               .emplace(layer, generate_layer_weights(impl_->graph.layer(layer), layer, impl_->options.seed))
               .first;
    data = it->second[index].get();
  }
  return {data, static_cast<size_t>(impl_->graph.layer(layer).weights[index].shape.elems())};
}

Executor::Memory Executor::memory() const {
  Memory m;
  m.activations = impl_->activation_floats * static_cast<int64_t>(sizeof(float));
  m.workspace = impl_->workspace_floats * static_cast<int64_t>(sizeof(float));
  for (int li = 0; li < impl_->graph.num_layers(); ++li) {
    const auto& held = impl_->weights[static_cast<size_t>(li)];
    for (size_t w = 0; w < held.size(); ++w)
      if (held[w])
        m.weights += impl_->graph.layer(li).weights[w].shape.elems() * static_cast<int64_t>(sizeof(float));
    if (const Kernel* k = impl_->kernels[static_cast<size_t>(li)].get()) m.backend_copies += k->owned_bytes();
  }
  return m;
}

const Graph& Executor::graph() const { return impl_->graph; }
const ExecutorOptions& Executor::options() const { return impl_->options; }

std::vector<std::string> Executor::available_backends() {
  std::vector<std::string> names{"reference", "openblas", "eigen"};
#ifdef CONVERGY_HAVE_ONEDNN
  names.push_back("onednn");
#endif
#ifdef CONVERGY_HAVE_CUDNN
  // Compiled in is not enough: without a GPU the backend cannot run, so it is not offered.
  static const bool has_gpu = runtime::cudnn_device_count(nullptr) > 0;
  if (has_gpu) names.push_back("cudnn");
#endif
  return names;
}

}  // namespace convergy

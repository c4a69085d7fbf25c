// The interface every math backend implements (reference, openblas, eigen, onednn), and the layer
// binding the executor hands to it: buffers, shapes and weights fixed before the first run.
#pragma once
#include "graph/graph.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace convergy::runtime {

struct Tensor {
  float* data = nullptr;
  Shape shape;
  int64_t elems = 0;
};

// One layer with its storage bound. Pointers stay valid for the executor's lifetime, so kernels may
// keep them; an in-place layer has outputs[0].data == inputs[0].data.
struct LayerBinding {
  LayerId id = -1;
  const Layer* layer = nullptr;
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  std::vector<Tensor> weights;  // in the order of layer->weights

  // The weight with this role, or nullptr.
  const Tensor* weight(std::string_view role) const;
  const std::string& name() const { return layer->name; }
};

// A prepared layer. run() must not allocate: everything it needs was set up by Backend::prepare, and
// scratch memory comes from the executor's shared workspace (workspace_floats() of it).
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(float* workspace) = 0;
  virtual size_t workspace_floats() const { return 0; }
  // Called once, after every kernel is prepared, with the workspace run() will receive.
  virtual void bind_workspace(float* workspace) { (void)workspace; }
  // True when prepare() copied the bound weight at `data` into memory of its own (oneDNN's blocked layouts)
  // and run() never reads the bound buffer: the executor then frees it, so the weight is not held twice.
  virtual bool copied_weight(const float* data) const {
    (void)data;
    return false;
  }
  // Bytes of constant data prepare() allocated for run() (reordered weights); per-channel vectors of a few
  // floats are not counted.
  virtual int64_t owned_bytes() const { return 0; }
};

// Thrown by Backend::prepare when the backend finds it cannot take a layer after all (e.g. the library
// rejects the parameters); the executor then falls back to the reference kernel with this reason.
class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // Empty when this backend takes the layer; otherwise why it does not (reported as a fallback).
  virtual std::string unsupported_reason(const LayerBinding& binding) const = 0;
  virtual std::unique_ptr<Kernel> prepare(const LayerBinding& binding) = 0;

  // ---- Device backends (cudnn): the executor's host buffers are mirrored in device memory ----------
  // True when kernels compute on device copies of the bound buffers.
  virtual bool on_device() const { return false; }
  // Called once after every kernel is prepared: a device backend allocates its mirrors here and fills
  // them from the host buffers (which hold random data, so isolated runs compute on ordinary numbers).
  virtual void finalize() {}
  // Host -> device copy of a network input, device -> host copy of an output (waits for the device).
  virtual void upload(const Tensor& t) { (void)t; }
  virtual void download(const Tensor& t) { (void)t; }
  // Waits until all queued device work is done.
  virtual void synchronize() {}
  // A reference kernel run in place of this backend's: a device backend wraps it in copies of its
  // inputs to the host and of its outputs back.
  virtual std::unique_ptr<Kernel> wrap_fallback(const LayerBinding& binding, std::unique_ptr<Kernel> k) {
    (void)binding;
    return k;
  }
  // Device-side layer timing (CUDA events) in whole-network runs: mark() at layer start and end,
  // collect_marks() after the run's last synchronisation adds each marked layer's time to `ms_by_layer`.
  virtual bool has_device_timer() const { return false; }
  virtual void mark(LayerId layer, bool start) { (void)layer, (void)start; }
  virtual void collect_marks(std::vector<double>& ms_by_layer) { (void)ms_by_layer; }
  // CUDA-graph replay: capture() records the device work `body` queues on the backend's stream into a graph
  // and returns its id (>= 0), or -1 with *why when the backend has no graphs or the capture failed (the
  // stream is usable again either way); replay() queues one launch of a captured graph.
  virtual int capture(const std::function<void()>& body, std::string* why) {
    (void)body;
    if (why) *why = "the backend has no graph replay";
    return -1;
  }
  virtual void replay(int graph) { (void)graph; }
  // A one-line description of the math settings that affect results (e.g. "tf32=off"); empty for none.
  virtual std::string math_mode() const { return {}; }
};

std::unique_ptr<Backend> make_reference_backend();
std::unique_ptr<Backend> make_openblas_backend();
std::unique_ptr<Backend> make_eigen_backend();
#ifdef CONVERGY_HAVE_ONEDNN
std::unique_ptr<Backend> make_onednn_backend();
#endif
#ifdef CONVERGY_HAVE_CUDNN
// Throws BadInput (naming the CUDA error) when no CUDA device is usable.
std::unique_ptr<Backend> make_cudnn_backend(bool allow_tf32);
// CUDA devices visible now (0 with the reason in *why when there are none or the driver is missing).
int cudnn_device_count(std::string* why);
// "CUDA runtime 13.0, driver API 13.0, cuDNN 91400, cuBLAS 130100", for machine state.
std::string cudnn_library_versions();
#endif

// Sets the thread count of every library we drive (OpenBLAS, Eigen, OpenMP/oneDNN) and OMP_NUM_THREADS.
void set_library_threads(int threads);

// ---- Helpers shared by the kernels -------------------------------------------------------------------

// Applies a fused activation to n values in place (the epilogue of Conv/FC kernels).
void apply_activation(const FusedActivation& act, float* data, int64_t n);
// The element-wise activation of a standalone layer, as a FusedActivation (kind + alpha/beta).
FusedActivation activation_of(const Layer& layer);

// Convolution geometry, NCHW, read from the binding.
struct ConvGeometry {
  int64_t n, in_c, in_h, in_w, out_c, out_h, out_w;
  int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups;
  int64_t in_c_per_group() const { return in_c / groups; }
  int64_t out_c_per_group() const { return out_c / groups; }
};
ConvGeometry conv_geometry(const LayerBinding& b);

// Pooling geometry with the global flag resolved into a kernel over the whole plane.
struct PoolGeometry {
  int64_t n, c, in_h, in_w, out_h, out_w;
  int64_t kh, kw, sh, sw, pt, pl;
  bool max, count_include_pad;
  int64_t pb, pr;
};
PoolGeometry pool_geometry(const LayerBinding& b);

// The range [lo, hi) of positions o in [0, out_size) for which o * stride + offset falls inside [0, size):
// the output pixels a kernel tap reads from the input (im2col), or the input pixels it adds into the output
// (col2im).
void valid_range(int64_t out_size, int64_t stride, int64_t offset, int64_t size, int64_t& lo, int64_t& hi);

// Unfolds one group of one image into a (C/g * kh * kw) x (out_h * out_w) matrix, Caffe's im2col.
void im2col(const float* image, const ConvGeometry& g, int64_t group, float* columns);

// The rows of that matrix for channels [c_begin, c_end) of the group, and only its columns of output rows
// [oy_begin, oy_end): a (C/g * kh * kw) x ((oy_end - oy_begin) * out_w) matrix, whose row for channel c
// starts at (c * kh * kw) * (oy_end - oy_begin) * out_w.
void im2col_rows(const float* image, const ConvGeometry& g, int64_t group, int64_t c_begin, int64_t c_end,
                 int64_t oy_begin, int64_t oy_end, float* columns);

// Direct convolution of output planes [first, last) (plane = n * out_c + oc), bias included, no
// activation. The reference kernel, and the depthwise kernel of the GEMM backends.
void conv_direct(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                 int64_t first, int64_t last);

// Reference kernels, also used by the optimised backends for the layer types they leave alone.
void reference_run(const LayerBinding& b);
// False for the layers convergy counts but does not run (detection post-processing, ROI pooling, opaque
// layers): the executor skips them and says so.
bool has_reference_kernel(LayerKind kind);

// e^x in float, within 2 ulp of std::exp for x in [-87.3, 88.3] (outside, the value at the nearer end; NaN
// gives NaN), in operations a compiler vectorises (std::exp is a library call per element): the exponential
// of Sigmoid and Swish.
float exp_fast(float x);
// y[i] = e^(x[i] - shift) for n values (exp_fast's accuracy, vectorised), returning their sum: a softmax row.
// y may be x.
float exp_shifted(const float* x, float shift, float* y, int64_t n);

// Pooling loop shared by the reference and the "simple optimised" backends.
void pool_nchw(const float* in, float* out, const PoolGeometry& g);
void pool_nchw_planes(const float* in, float* out, const PoolGeometry& g, int64_t plane_begin,
                      int64_t plane_end);

// Local response normalisation: y = x * (k + alpha / size * S)^-beta, S the sum of squares over `size`
// neighbouring channels (across) or the size x size neighbourhood in the plane (within; alpha / size^2).
struct LrnGeometry {
  int64_t n, c, h, w, size;
  float alpha, beta, k;
  bool across;
};
LrnGeometry lrn_geometry(const LayerBinding& b);
// Planes [plane_begin, plane_end) of the output (plane = n * c + ch); `in` and `out` must not overlap.
void lrn_nchw_planes(const float* in, float* out, const LrnGeometry& g, int64_t plane_begin,
                     int64_t plane_end);

// Layer normalisation: each of `rows` runs of `inner` contiguous elements (the axes from the layer's `axis`
// on) to zero mean and unit variance, then times scale[i] plus bias[i] where the layer has them.
struct LayerNormGeometry {
  int64_t rows, inner;
  float eps;
  const float* scale;  // nullptr without the learned scale and shift
  const float* bias;
};
LayerNormGeometry layer_norm_geometry(const LayerBinding& b);
// Rows [row_begin, row_end); `x` and `y` may be the same buffer.
void layer_norm_rows(const float* x, float* y, const LayerNormGeometry& g, int64_t row_begin,
                     int64_t row_end);

// A MatMul layer as a batch of row-major products: `batch` products of M x K by K x N, the i-th reading A
// at a_offset(i) and B at b_offset(i) (numpy broadcasting of the batch axes gives stride 0).
struct MatMulGeometry {
  static constexpr int kMaxBatchRank = 6;
  int64_t m = 0, k = 0, n = 0, batch = 1;
  int rank = 0;  // batch axes of the output
  std::array<int64_t, kMaxBatchRank> dims{}, a_stride{}, b_stride{};
  int64_t a_offset(int64_t index) const;
  int64_t b_offset(int64_t index) const;

 private:
  int64_t offset(int64_t index, const std::array<int64_t, kMaxBatchRank>& stride) const;
};
MatMulGeometry matmul_geometry(const LayerBinding& b);

}  // namespace convergy::runtime

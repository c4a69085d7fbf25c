// The cudnn backend: the network on one NVIDIA GPU. Every host buffer the executor binds (activations and
// weights) gets one device mirror, allocated once; convolution through cuDNN with the algorithm chosen once
// by cudnnFind, InnerProduct through cuBLAS sgemm, pooling/activations/LRN/softmax/BatchNorm/Scale/Eltwise
// through cuDNN, Concat and Slice as strided device copies; what cuDNN lacks (some activations and pools,
// PReLU, Permute, ChannelShuffle, Pad) on the backend's own CUDA kernels when they are built. Host copies
// happen only at the network's input and output, and around layers that fall back to the reference
// kernels. TF32 is off unless asked for.
#ifdef CONVERGY_HAVE_CUDNN
#include "runtime/backend.h"
#include "runtime/device_plan.h"
#ifdef CONVERGY_HAVE_CUDA_KERNELS
#include "runtime/cuda/kernels.h"
#endif
#include "util/error.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <dlfcn.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace convergy::runtime {

namespace {

// Whether the backend's own CUDA kernels (runtime/cuda) were compiled.
#ifdef CONVERGY_HAVE_CUDA_KERNELS
constexpr bool kOwnKernels = true;
#else
constexpr bool kOwnKernels = false;
#endif

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_failure("cudnn backend: {}: {}", what, cudaGetErrorString(e));
}
void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw_failure("cudnn backend: {}: {}", what, cudnnGetErrorString(s));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_failure("cudnn backend: {}: cuBLAS status {}", what, static_cast<int>(s));
}
// cuBLAS is loaded with dlopen when the backend is created: linking libcublasLt makes every process start
// pay its static initialisation (0.35 s measured on the build machine), GPU or not, for one FC call.
struct Cublas {
  using Create = cublasStatus_t (*)(cublasHandle_t*);
  using Destroy = cublasStatus_t (*)(cublasHandle_t);
  using SetStream = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
  using SetMath = cublasStatus_t (*)(cublasHandle_t, cublasMath_t);
  using Sgemm = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float*,
                                   const float*, int, const float*, int, const float*, float*, int);
  Create create = nullptr;
  Destroy destroy = nullptr;
  SetStream set_stream = nullptr;
  SetMath set_math = nullptr;
  Sgemm sgemm = nullptr;
};

const Cublas& cublas() {
  static const Cublas api = [] {
    Cublas a;
    void* h = ::dlopen("libcublas.so.13", RTLD_NOW | RTLD_LOCAL);  // kept for the process's lifetime
    if (!h) throw_failure("cudnn backend: cannot load libcublas.so.13: {}", ::dlerror());
    a.create = reinterpret_cast<Cublas::Create>(::dlsym(h, "cublasCreate_v2"));
    a.destroy = reinterpret_cast<Cublas::Destroy>(::dlsym(h, "cublasDestroy_v2"));
    a.set_stream = reinterpret_cast<Cublas::SetStream>(::dlsym(h, "cublasSetStream_v2"));
    a.set_math = reinterpret_cast<Cublas::SetMath>(::dlsym(h, "cublasSetMathMode"));
    a.sgemm = reinterpret_cast<Cublas::Sgemm>(::dlsym(h, "cublasSgemm_v2"));
    if (!a.create || !a.destroy || !a.set_stream || !a.set_math || !a.sgemm)
      throw_failure("cudnn backend: libcublas.so.13 lacks cublasCreate_v2/cublasSgemm_v2");
    return a;
  }();
  return api;
}

// At prepare time a rejection by cuDNN means "this layer is not for us": the executor falls back.
void check_prepare(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw Unsupported(fmt::format("cuDNN {}: {}", what, cudnnGetErrorString(s)));
}

// An owned cuDNN descriptor of any kind, created with its owner and destroyed with it.
template <typename T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
struct Descriptor {
  T d = nullptr;
  Descriptor() { check(Create(&d), "creating a cuDNN descriptor"); }
  ~Descriptor() { Destroy(d); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
};
using FilterDesc =
    Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDesc = Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                                   cudnnDestroyConvolutionDescriptor>;
using PoolingDesc =
    Descriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;
using LrnDesc = Descriptor<cudnnLRNDescriptor_t, cudnnCreateLRNDescriptor, cudnnDestroyLRNDescriptor>;
using OpTensorDesc =
    Descriptor<cudnnOpTensorDescriptor_t, cudnnCreateOpTensorDescriptor, cudnnDestroyOpTensorDescriptor>;

struct TensorDesc
    : Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor> {
  void set(const std::array<int, 4>& n) {
    check_prepare(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n[0], n[1], n[2], n[3]),
                  "tensor descriptor");
  }
  void set(const Shape& s) {
    auto n = device::nchw4(s);
    if (!n) throw Unsupported("rank above 4");
    set(*n);
  }
};

struct ActivationDesc : Descriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                                   cudnnDestroyActivationDescriptor> {
  void set(const FusedActivation& a) {
    std::string why = device::activation_reason(a);
    if (!why.empty()) throw Unsupported(why);
    cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
    double coef = 0;
    switch (a.kind) {
      case LayerKind::Clip:
        mode = CUDNN_ACTIVATION_CLIPPED_RELU;
        coef = a.beta;
        break;
      case LayerKind::Sigmoid:
        mode = CUDNN_ACTIVATION_SIGMOID;
        break;
      case LayerKind::TanH:
        mode = CUDNN_ACTIVATION_TANH;
        break;
      case LayerKind::Swish:
        mode = CUDNN_ACTIVATION_SWISH;
        break;
      default:
        break;
    }
    check_prepare(cudnnSetActivationDescriptor(d, mode, CUDNN_NOT_PROPAGATE_NAN, coef), "activation descriptor");
    if (mode == CUDNN_ACTIVATION_SWISH) check_prepare(cudnnSetActivationDescriptorSwishBeta(d, 1.0), "swish beta");
  }
};

class CudnnBackend;

// A device pointer resolved at bind time: the mirrors exist only after every kernel is prepared.
struct DevPtr {
  const float* host = nullptr;
  float* dev = nullptr;
};

class CudnnKernel : public Kernel {
 public:
  explicit CudnnKernel(CudnnBackend& be) : be_(be) {}
  void bind_workspace(float*) override;
  DevPtr& use(const float* host, int64_t elems);
  DevPtr& use(const Tensor& t) { return use(t.data, t.elems); }

 protected:
  // The first input and output, which most kernels read and write.
  void use_io(const LayerBinding& b) {
    x_ = &use(b.inputs[0]);
    y_ = &use(b.outputs[0]);
  }
  CudnnBackend& be_;
  DevPtr *x_ = nullptr, *y_ = nullptr;
  std::deque<DevPtr> ptrs_;  // a deque: the pointers use() hands out stay valid as it grows
};

class CudnnBackend final : public Backend {
 public:
  explicit CudnnBackend(bool tf32) : tf32_(tf32) {
    std::string why;
    // Asking for a GPU backend on a machine without one is a wrong argument for this machine (exit 2).
    if (cudnn_device_count(&why) < 1) throw_bad_input("backend cudnn: no CUDA device: {}", why);
    check(cudaSetDevice(0), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudnnCreate(&dnn_), "cudnnCreate");
    check(cudnnSetStream(dnn_, stream_), "cudnnSetStream");
    check(cublas().create(&blas_), "cublasCreate");
    check(cublas().set_stream(blas_, stream_), "cublasSetStream");
    // Default math keeps full fp32 (no TF32); TF32 tensor-core math only when asked for.
    check(cublas().set_math(blas_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  }
  ~CudnnBackend() override {
    if (stream_) cudaStreamSynchronize(stream_);
    for (cudaGraphExec_t g : graphs_) cudaGraphExecDestroy(g);
    for (auto& [l, ev] : events_) {
      cudaEventDestroy(ev.start);
      cudaEventDestroy(ev.end);
    }
    for (auto& [h, m] : mirrors_)
      if (m.dev) cudaFree(m.dev);
    if (workspace_) cudaFree(workspace_);
    if (blas_) cublas().destroy(blas_);
    if (dnn_) cudnnDestroy(dnn_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string_view name() const override { return "cudnn"; }
  std::string unsupported_reason(const LayerBinding& b) const override {
    return device::unsupported_reason(b, kOwnKernels);
  }
  std::unique_ptr<Kernel> prepare(const LayerBinding& b) override;

  bool on_device() const override { return true; }
  void finalize() override {
    for (auto& [host, m] : mirrors_) {
      check(cudaMalloc(&m.dev, static_cast<size_t>(std::max<int64_t>(m.elems, 1)) * sizeof(float)), "cudaMalloc");
      check(cudaMemcpy(m.dev, host, static_cast<size_t>(m.elems) * sizeof(float), cudaMemcpyHostToDevice),
            "initial upload");
    }
    if (workspace_bytes_ > 0) check(cudaMalloc(&workspace_, workspace_bytes_), "cudaMalloc (workspace)");
    finalized_ = true;
  }
  void upload(const Tensor& t) override {
    if (!mirrors_.count(t.data)) return;  // no device kernel reads it
    check(cudaMemcpyAsync(dev(t.data), t.data, static_cast<size_t>(t.elems) * sizeof(float), cudaMemcpyHostToDevice,
                          stream_),
          "upload");
  }
  void download(const Tensor& t) override {
    if (!mirrors_.count(t.data)) return;  // no device kernel wrote it: the host copy is current
    check(cudaMemcpyAsync(t.data, dev(t.data), static_cast<size_t>(t.elems) * sizeof(float), cudaMemcpyDeviceToHost,
                          stream_),
          "download");
    synchronize();
  }
  void synchronize() override { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }
  std::unique_ptr<Kernel> wrap_fallback(const LayerBinding& b, std::unique_ptr<Kernel> k) override;

  bool has_device_timer() const override { return true; }
  void mark(LayerId layer, bool start) override {
    auto it = events_.find(layer);
    if (it == events_.end()) {  // created on the first timed run, never again
      Events ev;
      check(cudaEventCreate(&ev.start), "cudaEventCreate");
      check(cudaEventCreate(&ev.end), "cudaEventCreate");
      it = events_.emplace(layer, ev).first;
    }
    check(cudaEventRecord(start ? it->second.start : it->second.end, stream_), "cudaEventRecord");
    it->second.recorded = true;
  }
  void collect_marks(std::vector<double>& ms) override {
    for (auto& [layer, ev] : events_) {
      if (!ev.recorded) continue;
      float t = 0;
      check(cudaEventElapsedTime(&t, ev.start, ev.end), "cudaEventElapsedTime");
      if (layer >= 0 && static_cast<size_t>(layer) < ms.size()) ms[static_cast<size_t>(layer)] += t;
      ev.recorded = false;
    }
  }
  std::string math_mode() const override { return tf32_ ? "tf32=on" : "tf32=off"; }

  int capture(const std::function<void()>& body, std::string* why) override {
    synchronize();
    // Thread-local mode: the sensor thread's NVML calls do not touch CUDA, and no other thread may be
    // disturbed by this capture.
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    std::string failed;
    try {
      body();
    } catch (const std::exception& e) {
      failed = e.what();
    }
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    if (failed.empty() && end != cudaSuccess) failed = fmt::format("cudaStreamEndCapture: {}", cudaGetErrorString(end));
    cudaGraphExec_t exec = nullptr;
    if (failed.empty()) {
      const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
      if (inst != cudaSuccess) failed = fmt::format("cudaGraphInstantiate: {}", cudaGetErrorString(inst));
    }
    if (graph) cudaGraphDestroy(graph);
    if (!failed.empty()) {
      (void)cudaGetLastError();  // clear the error the failed capture left: the stream is usable again
      if (why) *why = failed;
      return -1;
    }
    graphs_.push_back(exec);
    return static_cast<int>(graphs_.size()) - 1;
  }
  void replay(int graph) override {
    if (graph < 0 || static_cast<size_t>(graph) >= graphs_.size()) throw_failure("internal: no CUDA graph {}", graph);
    check(cudaGraphLaunch(graphs_[static_cast<size_t>(graph)], stream_), "cudaGraphLaunch");
  }

  // Registers a host buffer for mirroring (size is the largest view of it).
  void want(const float* host, int64_t elems) {
    if (finalized_) throw_failure("internal: cudnn mirror requested after finalize");
    auto& m = mirrors_[host];
    m.elems = std::max(m.elems, elems);
  }
  float* dev(const float* host) const {
    auto it = mirrors_.find(host);
    if (it == mirrors_.end() || !it->second.dev) throw_failure("internal: no device mirror for a host buffer");
    return it->second.dev;
  }
  void need_workspace(size_t bytes) { workspace_bytes_ = std::max(workspace_bytes_, bytes); }
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

  cudnnHandle_t dnn() const { return dnn_; }
  cublasHandle_t blas() const { return blas_; }
  cudaStream_t stream() const { return stream_; }
  bool tf32() const { return tf32_; }


 private:
  struct Mirror {
    int64_t elems = 0;
    float* dev = nullptr;
  };
  struct Events {
    cudaEvent_t start = nullptr, end = nullptr;
    bool recorded = false;
  };
  bool tf32_;
  bool finalized_ = false;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::unordered_map<const float*, Mirror> mirrors_;
  std::unordered_map<LayerId, Events> events_;
  std::vector<cudaGraphExec_t> graphs_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

DevPtr& CudnnKernel::use(const float* host, int64_t elems) {
  be_.want(host, elems);
  ptrs_.push_back({host, nullptr});
  return ptrs_.back();
}

void CudnnKernel::bind_workspace(float*) {
  for (DevPtr& p : ptrs_) p.dev = be_.dev(p.host);
}

const float kOne = 1.0f, kZero = 0.0f;

// An activation on cuDNN when it has one, else on the backend's own kernel (when built).
struct AnyActivation {
  bool own = false;
  ActivationDesc desc;
#ifdef CONVERGY_HAVE_CUDA_KERNELS
  cuda::Activation f = cuda::Activation::Clip;
  float alpha = 0, beta = 0;
#endif
  void set(const FusedActivation& a) {
    if (device::cudnn_activation(a) || !kOwnKernels) {
      desc.set(a);  // throws Unsupported with the reason when cuDNN has none
      return;
    }
#ifdef CONVERGY_HAVE_CUDA_KERNELS
    own = true;
    alpha = a.alpha;
    beta = a.beta;
    switch (a.kind) {
      case LayerKind::LeakyReLU:
        f = cuda::Activation::LeakyReLU;
        break;
      case LayerKind::Clip:
        f = cuda::Activation::Clip;
        break;
      case LayerKind::HardSwish:
        f = cuda::Activation::HardSwish;
        break;
      case LayerKind::HardSigmoid:
        f = cuda::Activation::HardSigmoid;
        break;
      default:
        throw Unsupported(device::activation_reason(a, true));
    }
#endif
  }
  void run(cudnnHandle_t h, const TensorDesc& d, const float* x, float* y, int64_t n) const {
#ifdef CONVERGY_HAVE_CUDA_KERNELS
    if (own) {
      cudaStream_t s = nullptr;
      check(cudnnGetStream(h, &s), "cudnnGetStream");
      const char* err = cuda::activation(f, alpha, beta, x, y, n, s);
      if (*err) throw_failure("cudnn backend: activation kernel: {}", err);
      return;
    }
#else
    (void)n;
#endif
    check(cudnnActivationForward(h, desc.d, &kOne, d.d, x, &kZero, d.d, y), "cudnnActivationForward");
  }
};

// The optional per-channel bias of Conv, FC and Scale, added to the output after the main operation.
struct Bias {
  TensorDesc desc;
  DevPtr* ptr = nullptr;
  void set(CudnnKernel& k, const Tensor* bias, int channels) {
    if (!bias) return;
    ptr = &k.use(*bias);
    desc.set(std::array<int, 4>{1, channels, 1, 1});
  }
  void add(cudnnHandle_t h, const TensorDesc& yd, float* y) const {
    if (ptr) check(cudnnAddTensor(h, &kOne, desc.d, ptr->dev, &kOne, yd.d, y), "cudnnAddTensor (bias)");
  }
};

// The optional epilogue shared by Conv, FC, BatchNorm, Scale and Eltwise: an activation in place.
struct Epilogue {
  bool on = false;
  int64_t elems = 0;
  AnyActivation act;
  void set(const Layer& l, int64_t n) {
    if (!l.fused_activation) return;
    act.set(*l.fused_activation);
    elems = n;
    on = true;
  }
  void run(cudnnHandle_t h, const TensorDesc& yd, float* y) const {
    if (on) act.run(h, yd, y, y, elems);
  }
};

class ConvKernel final : public CudnnKernel {
 public:
  ConvKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const ConvGeometry g = conv_geometry(b);
    xd_.set(b.inputs[0].shape);
    yd_.set(b.outputs[0].shape);
    check_prepare(cudnnSetFilter4dDescriptor(fd_.d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                             static_cast<int>(g.out_c), static_cast<int>(g.in_c_per_group()),
                                             static_cast<int>(g.kh), static_cast<int>(g.kw)),
                  "filter descriptor");
    check_prepare(cudnnSetConvolution2dDescriptor(cd_.d, static_cast<int>(g.pt), static_cast<int>(g.pl),
                                                  static_cast<int>(g.sh), static_cast<int>(g.sw),
                                                  static_cast<int>(g.dh), static_cast<int>(g.dw),
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                  "convolution descriptor");
    check_prepare(cudnnSetConvolutionGroupCount(cd_.d, static_cast<int>(g.groups)), "group count");
    check_prepare(cudnnSetConvolutionMathType(cd_.d, be.tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
                  "math type");
    int n = 0, c = 0, h = 0, w = 0;
    check_prepare(cudnnGetConvolution2dForwardOutputDim(cd_.d, xd_.d, fd_.d, &n, &c, &h, &w), "output size");
    if (n != g.n || c != g.out_c || h != g.out_h || w != g.out_w)
      throw Unsupported(fmt::format("cuDNN computes a {}x{}x{}x{} output, the layer has {}x{}x{}x{}", n, c, h, w, g.n,
                                    g.out_c, g.out_h, g.out_w));
    choose_algorithm(g);
    use_io(b);
    w_ = &use(*b.weight("weight"));
    bias_.set(*this, b.weight("bias"), static_cast<int>(g.out_c));
    epi_.set(*b.layer, b.outputs[0].elems);
  }

  void run(float*) override {
    cudnnHandle_t h = be_.dnn();
    check(cudnnConvolutionForward(h, &kOne, xd_.d, x_->dev, fd_.d, w_->dev, cd_.d, algo_, be_.workspace(),
                                  ws_bytes_, &kZero, yd_.d, y_->dev),
          "cudnnConvolutionForward");
    bias_.add(h, yd_, y_->dev);
    epi_.run(h, yd_, y_->dev);
  }

 private:
  void choose_algorithm(const ConvGeometry& g) {
    const std::string key = fmt::format("{}x{}x{}x{}|{}|{}x{}|s{}x{}|p{}x{}|d{}x{}|g{}", g.n, g.in_c, g.in_h, g.in_w,
                                        g.out_c, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw, g.groups);
    // One search per distinct convolution in the process: identical layers (ResNet repeats its blocks) and
    // executors of the same network then run the same algorithm, so their results are bitwise equal.
    static std::mutex mu;
    static std::unordered_map<std::string, device::AlgoResult> cache;
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key + (be_.tf32() ? "|tf32" : ""));
    if (it == cache.end()) {
      // cudnnFind runs every algorithm once on scratch buffers it allocates, and reports time and workspace.
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int returned = 0;
      check_prepare(cudnnFindConvolutionForwardAlgorithm(be_.dnn(), xd_.d, fd_.d, cd_.d, yd_.d,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf),
                    "cudnnFindConvolutionForwardAlgorithm");
      std::vector<device::AlgoResult> found;
      for (int i = 0; i < returned; ++i)
        found.push_back({static_cast<int>(perf[i].algo), perf[i].status == CUDNN_STATUS_SUCCESS, perf[i].time,
                         perf[i].memory, perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
                                             perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION});
      auto best = device::choose_algorithm(found, kWorkspaceLimit, be_.tf32());
      if (!best) throw Unsupported("cudnnFind found no usable algorithm within the workspace limit");
      it = cache.emplace(key + (be_.tf32() ? "|tf32" : ""), *best).first;
    }
    algo_ = static_cast<cudnnConvolutionFwdAlgo_t>(it->second.algo);
    ws_bytes_ = it->second.workspace_bytes;
    be_.need_workspace(ws_bytes_);
  }

  static constexpr size_t kWorkspaceLimit = size_t{1} << 30;  // 1 GiB: far below an H200's memory
  TensorDesc xd_, yd_;
  FilterDesc fd_;
  ConvolutionDesc cd_;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t ws_bytes_ = 0;
  DevPtr* w_ = nullptr;
  Bias bias_;
  Epilogue epi_;
};

class FcKernel final : public CudnnKernel {
 public:
  FcKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const auto& p = b.layer->p<InnerProductParams>();
    const Shape& s = b.inputs[0].shape;
    const int axis = p.axis < 0 ? p.axis + s.rank() : p.axis;
    int64_t m = 1, k = 1;
    for (int i = 0; i < axis; ++i) m *= s[i];
    for (int i = axis; i < s.rank(); ++i) k *= s[i];
    m_ = static_cast<int>(m);
    k_ = static_cast<int>(k);
    n_ = static_cast<int>(p.num_output);
    use_io(b);
    w_ = &use(*b.weight("weight"));
    yd_.set(std::array<int, 4>{m_, n_, 1, 1});
    bias_.set(*this, b.weight("bias"), n_);
    epi_.set(*b.layer, b.outputs[0].elems);
  }
  void run(float*) override {
    // Row-major Y[m,n] = X[m,k] W[n,k]^T is column-major Y^T = W^T(op T on W's k x n storage) X^T.
    check(cublas().sgemm(be_.blas(), CUBLAS_OP_T, CUBLAS_OP_N, n_, m_, k_, &kOne, w_->dev, k_, x_->dev, k_, &kZero,
                      y_->dev, n_),
          "cublasSgemm");
    bias_.add(be_.dnn(), yd_, y_->dev);
    epi_.run(be_.dnn(), yd_, y_->dev);
  }

 private:
  int m_ = 0, n_ = 0, k_ = 0;
  TensorDesc yd_;
  DevPtr* w_ = nullptr;
  Bias bias_;
  Epilogue epi_;
};

class PoolKernel final : public CudnnKernel {
 public:
  PoolKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const PoolGeometry g = pool_geometry(b);
    std::string why;
    auto plan = device::plan_pool(g, &why);
    use_io(b);
    if (!plan) {
#ifdef CONVERGY_HAVE_CUDA_KERNELS
      // Ceil rounding or asymmetric padding: the backend's own pooling kernel.
      own_ = true;
      own_g_ = {g.n * g.c, g.in_h, g.in_w, g.out_h, g.out_w, g.kh, g.kw, g.sh,
                g.sw,      g.pt,   g.pl,   g.pb,    g.pr,    g.max, g.count_include_pad};
      return;
#else
      throw Unsupported(why);
#endif
    }
    const cudnnPoolingMode_t mode = g.max ? CUDNN_POOLING_MAX
                                    : g.count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                          : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
    check_prepare(cudnnSetPooling2dDescriptor(pd_.d, mode, CUDNN_NOT_PROPAGATE_NAN, plan->kh, plan->kw,
                                              plan->pad_h, plan->pad_w, plan->sh, plan->sw),
                  "pooling descriptor");
    xd_.set(b.inputs[0].shape);
    yd_.set(b.outputs[0].shape);
  }
  void run(float*) override {
#ifdef CONVERGY_HAVE_CUDA_KERNELS
    if (own_) {
      const char* err = cuda::pool2d(own_g_, x_->dev, y_->dev, be_.stream());
      if (*err) throw_failure("cudnn backend: pooling kernel: {}", err);
      return;
    }
#endif
    check(cudnnPoolingForward(be_.dnn(), pd_.d, &kOne, xd_.d, x_->dev, &kZero, yd_.d, y_->dev),
          "cudnnPoolingForward");
  }

 private:
#ifdef CONVERGY_HAVE_CUDA_KERNELS
  bool own_ = false;
  cuda::Pool2d own_g_{};
#endif
  PoolingDesc pd_;
  TensorDesc xd_, yd_;
};

class ActivationKernel final : public CudnnKernel {
 public:
  ActivationKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    act_.set(activation_of(*b.layer));
    xd_.set(b.inputs[0].shape);
    use_io(b);
    elems_ = b.inputs[0].elems;
  }
  void run(float*) override { act_.run(be_.dnn(), xd_, x_->dev, y_->dev, elems_); }

 private:
  AnyActivation act_;
  int64_t elems_ = 0;
  TensorDesc xd_;
};

class BatchNormKernel final : public CudnnKernel {
 public:
  BatchNormKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const auto& p = b.layer->p<BatchNormParams>();
    eps_ = p.eps;
    xd_.set(b.inputs[0].shape);
    check_prepare(cudnnDeriveBNTensorDescriptor(bnd_.d, xd_.d, CUDNN_BATCHNORM_SPATIAL), "BN descriptor");
    const int64_t c = b.inputs[0].shape.c();
    use_io(b);
    mean_ = &use(b.weight("mean")->data, c);
    var_ = &use(b.weight("variance")->data, c);
    // Caffe's BatchNorm has no scale or shift: cuDNN needs them, so ones and zeros stand in.
    const Tensor* scale = b.weight("scale");
    const Tensor* shift = b.weight("bias");
    if (!scale) ones_.assign(static_cast<size_t>(c), 1.0f);
    if (!shift) zeros_.assign(static_cast<size_t>(c), 0.0f);
    scale_ = &use(scale ? scale->data : ones_.data(), c);
    shift_ = &use(shift ? shift->data : zeros_.data(), c);
    epi_.set(*b.layer, b.outputs[0].elems);
  }
  void run(float*) override {
    check(cudnnBatchNormalizationForwardInference(be_.dnn(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd_.d, x_->dev,
                                                  xd_.d, y_->dev, bnd_.d, scale_->dev, shift_->dev, mean_->dev,
                                                  var_->dev, eps_),
          "cudnnBatchNormalizationForwardInference");
    epi_.run(be_.dnn(), xd_, y_->dev);
  }

 private:
  double eps_ = 1e-5;
  TensorDesc xd_, bnd_;
  std::vector<float> ones_, zeros_;
  DevPtr *mean_ = nullptr, *var_ = nullptr, *scale_ = nullptr, *shift_ = nullptr;
  Epilogue epi_;
};

// Eltwise (and the per-channel Scale) through cudnnOpTensor: C = op(a1 A, a2 B), B broadcast.
class OpTensorKernel final : public CudnnKernel {
 public:
  OpTensorKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const Shape& out = b.outputs[0].shape;
    yd_.set(out);
    y_ = &use(b.outputs[0]);
    cudnnOpTensorOp_t op = CUDNN_OP_TENSOR_ADD;
    if (b.layer->kind == LayerKind::Scale) {
      op = CUDNN_OP_TENSOR_MUL;
      const Tensor* scale = b.weight("scale");
      operands_.push_back(operand(b.inputs[0], out, 1.0f));
      // The per-channel scale as a 1 x C x 1 ... view of the output's rank, so it broadcasts over axis 1.
      Tensor s = *scale;
      std::vector<int64_t> dims(static_cast<size_t>(out.rank()), 1);
      dims[1] = scale->elems;
      s.shape = Shape{dims};
      operands_.push_back(operand(s, out, 1.0f));
      const Tensor* bias = b.weight("bias");
      bias_.set(*this, bias, bias ? static_cast<int>(bias->elems) : 0);
    } else {
      const auto& p = b.layer->p<EltwiseParams>();
      sum_ = p.op == EltwiseOp::Sum;
      op = p.op == EltwiseOp::Sum ? CUDNN_OP_TENSOR_ADD : p.op == EltwiseOp::Prod ? CUDNN_OP_TENSOR_MUL
                                                                                    : CUDNN_OP_TENSOR_MAX;
      for (size_t i = 0; i < b.inputs.size(); ++i)
        operands_.push_back(operand(b.inputs[i], out, p.coeffs.empty() ? 1.0f : p.coeffs[i]));
      // Only B broadcasts: a broadcast first operand swaps with the (full-size) second; all ops commute.
      if (b.inputs[0].shape != out) std::swap(operands_[0], operands_[1]);
    }
    check_prepare(cudnnSetOpTensorDescriptor(od_.d, op, CUDNN_DATA_FLOAT, CUDNN_NOT_PROPAGATE_NAN),
                  "op descriptor");
    epi_.set(*b.layer, b.outputs[0].elems);
  }
  void run(float*) override {
    cudnnHandle_t h = be_.dnn();
    // y = op(c0 x0, c1 x1); further inputs accumulate into y (a sum by cudnnAddTensor, otherwise
    // cudnnOpTensor with y as its first operand, which it allows).
    const Operand& a = operands_[0];
    check(cudnnOpTensor(h, od_.d, &a.coeff, a.desc->d, a.ptr->dev, &operands_[1].coeff, operands_[1].desc->d,
                        operands_[1].ptr->dev, &kZero, yd_.d, y_->dev),
          "cudnnOpTensor");
    for (size_t i = 2; i < operands_.size(); ++i) {
      const Operand& o = operands_[i];
      if (sum_)
        check(cudnnAddTensor(h, &o.coeff, o.desc->d, o.ptr->dev, &kOne, yd_.d, y_->dev), "cudnnAddTensor");
      else
        check(cudnnOpTensor(h, od_.d, &kOne, yd_.d, y_->dev, &o.coeff, o.desc->d, o.ptr->dev, &kZero, yd_.d,
                            y_->dev),
              "cudnnOpTensor");
    }
    bias_.add(h, yd_, y_->dev);
    epi_.run(h, yd_, y_->dev);
  }

 private:
  struct Operand {
    std::shared_ptr<TensorDesc> desc;
    DevPtr* ptr = nullptr;
    float coeff = 1.0f;
  };
  Operand operand(const Tensor& t, const Shape& out, float coeff) {
    auto d = device::broadcast4(t.shape, out);
    if (!d) throw Unsupported("operand does not broadcast to the output");
    auto desc = std::make_shared<TensorDesc>();
    desc->set(*d);
    return {desc, &use(t), coeff};
  }
  OpTensorDesc od_;
  bool sum_ = false;
  TensorDesc yd_;
  std::vector<Operand> operands_;
  Bias bias_;
  Epilogue epi_;
};

class LrnKernel final : public CudnnKernel {
 public:
  LrnKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const auto& p = b.layer->p<LRNParams>();
    // cuDNN divides alpha by the window size itself, as the reference does.
    check_prepare(cudnnSetLRNDescriptor(ld_.d, static_cast<unsigned>(p.local_size), p.alpha, p.beta, p.k),
                  "LRN descriptor");
    xd_.set(b.inputs[0].shape);
    use_io(b);
  }
  void run(float*) override {
    check(cudnnLRNCrossChannelForward(be_.dnn(), ld_.d, CUDNN_LRN_CROSS_CHANNEL_DIM1, &kOne, xd_.d, x_->dev,
                                      &kZero, xd_.d, y_->dev),
          "cudnnLRNCrossChannelForward");
  }

 private:
  LrnDesc ld_;
  TensorDesc xd_;
};

class SoftmaxKernel final : public CudnnKernel {
 public:
  SoftmaxKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const Shape& s = b.inputs[0].shape;
    int axis = b.layer->p<SoftmaxParams>().axis;
    if (axis < 0) axis += s.rank();
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= s[i];
    for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
    // Softmax over the channel dimension of an (outer, axis, inner, 1) view.
    xd_.set(std::array<int, 4>{static_cast<int>(outer), static_cast<int>(s[axis]), static_cast<int>(inner), 1});
    use_io(b);
  }
  void run(float*) override {
    check(cudnnSoftmaxForward(be_.dnn(), CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL, &kOne, xd_.d, x_->dev,
                              &kZero, xd_.d, y_->dev),
          "cudnnSoftmaxForward");
  }

 private:
  TensorDesc xd_;
};

// Concat and Slice: strided device-to-device copies planned once.
class CopyKernel final : public CudnnKernel {
 public:
  CopyKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    for (const Tensor& t : b.inputs) in_.push_back(&use(t));
    for (const Tensor& t : b.outputs) out_.push_back(&use(t));
    std::vector<Shape> shapes;
    if (b.layer->kind == LayerKind::Concat) {
      for (const Tensor& t : b.inputs) shapes.push_back(t.shape);
      copies_ = device::plan_concat(shapes, b.outputs[0].shape, b.layer->p<ConcatParams>().axis);
      concat_ = true;
    } else {
      for (const Tensor& t : b.outputs) shapes.push_back(t.shape);
      const auto& p = b.layer->p<SliceParams>();
      copies_ = device::plan_slice(b.inputs[0].shape, shapes, p.axis, p.ranges);
    }
  }
  void run(float*) override {
    for (const device::Copy2D& c : copies_) {
      float* dst = (concat_ ? out_[0] : out_[static_cast<size_t>(c.input)])->dev + c.dst_offset;
      const float* src = (concat_ ? in_[static_cast<size_t>(c.input)] : in_[0])->dev + c.src_offset;
      check(cudaMemcpy2DAsync(dst, static_cast<size_t>(c.dst_pitch) * sizeof(float), src,
                              static_cast<size_t>(c.src_pitch) * sizeof(float),
                              static_cast<size_t>(c.width) * sizeof(float), static_cast<size_t>(c.rows),
                              cudaMemcpyDeviceToDevice, be_.stream()),
            "cudaMemcpy2DAsync");
    }
  }

 private:
  bool concat_ = false;
  std::vector<DevPtr*> in_, out_;
  std::vector<device::Copy2D> copies_;
};

#ifdef CONVERGY_HAVE_CUDA_KERNELS
// PReLU on the backend's own kernel: a per-channel (or shared) slope on the device.
class PreluKernel final : public CudnnKernel {
 public:
  PreluKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    const device::PreluPlan p = device::plan_prelu(b);
    g_ = {b.inputs[0].elems, p.channels, p.inner, p.shared};
    use_io(b);
    slope_ = &use(*b.weight("slope"));
  }
  void run(float*) override {
    const char* err = cuda::prelu(g_, x_->dev, slope_->dev, y_->dev, be_.stream());
    if (*err) throw_failure("cudnn backend: PReLU kernel: {}", err);
  }

 private:
  cuda::Prelu g_{};
  DevPtr* slope_ = nullptr;
};

// Permute, ChannelShuffle and Pad: one gather kernel, its index plan made once.
class GatherKernel final : public CudnnKernel {
 public:
  GatherKernel(CudnnBackend& be, const LayerBinding& b) : CudnnKernel(be) {
    std::string why;
    auto plan = device::plan_gather(b, &why);
    if (!plan) throw Unsupported(why);
    g_ = *plan;
    kind_ = b.layer->kind;
    use_io(b);
  }
  void run(float*) override {
    const char* err = cuda::gather(g_, x_->dev, y_->dev, be_.stream());
    if (*err) throw_failure("cudnn backend: {} kernel: {}", layer_kind_name(kind_), err);
  }

 private:
  cuda::Gather g_;
  LayerKind kind_ = LayerKind::Permute;
};
#endif

// A reference kernel on the host: inputs come down from the device first, outputs go back up after.
class FallbackKernel final : public CudnnKernel {
 public:
  FallbackKernel(CudnnBackend& be, const LayerBinding& b, std::unique_ptr<Kernel> inner)
      : CudnnKernel(be), inner_(std::move(inner)), inputs_(b.inputs), outputs_(b.outputs) {
    for (const Tensor& t : inputs_) use(t);
    for (const Tensor& t : outputs_) use(t);
  }
  size_t workspace_floats() const override { return inner_->workspace_floats(); }
  void bind_workspace(float* ws) override {
    CudnnKernel::bind_workspace(ws);
    inner_->bind_workspace(ws);
  }
  void run(float* ws) override {
    for (const Tensor& t : inputs_) be_.download(t);
    inner_->run(ws);
    for (const Tensor& t : outputs_) be_.upload(t);
  }

 private:
  std::unique_ptr<Kernel> inner_;
  std::vector<Tensor> inputs_, outputs_;
};

std::unique_ptr<Kernel> CudnnBackend::prepare(const LayerBinding& b) {
  switch (b.layer->kind) {
    case LayerKind::Convolution:
      return std::make_unique<ConvKernel>(*this, b);
    case LayerKind::InnerProduct:
      return std::make_unique<FcKernel>(*this, b);
    case LayerKind::Pooling:
      return std::make_unique<PoolKernel>(*this, b);
    case LayerKind::BatchNorm:
      return std::make_unique<BatchNormKernel>(*this, b);
    case LayerKind::Scale:
    case LayerKind::Eltwise:
      return std::make_unique<OpTensorKernel>(*this, b);
    case LayerKind::LRN:
      return std::make_unique<LrnKernel>(*this, b);
    case LayerKind::Softmax:
      return std::make_unique<SoftmaxKernel>(*this, b);
    case LayerKind::Concat:
    case LayerKind::Slice:
      return std::make_unique<CopyKernel>(*this, b);
    case LayerKind::PReLU:
    case LayerKind::Permute:
    case LayerKind::ChannelShuffle:
    case LayerKind::Pad:
#ifdef CONVERGY_HAVE_CUDA_KERNELS
      if (b.layer->kind == LayerKind::PReLU) return std::make_unique<PreluKernel>(*this, b);
      return std::make_unique<GatherKernel>(*this, b);
#else
      throw Unsupported(device::unsupported_reason(b, false));
#endif
    default:
      return std::make_unique<ActivationKernel>(*this, b);
  }
}

std::unique_ptr<Kernel> CudnnBackend::wrap_fallback(const LayerBinding& b, std::unique_ptr<Kernel> k) {
  return std::make_unique<FallbackKernel>(*this, b, std::move(k));
}

}  // namespace

int cudnn_device_count(std::string* why) {
  // Without the driver the static runtime's own probe takes about 0.4 s, paid by every CLI start (the
  // backend list is built for --help): a failed dlopen answers the common no-driver case at once.
  void* driver = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!driver) {
    if (why) *why = "libcuda.so.1 not found (no NVIDIA driver)";
    return 0;
  }
  ::dlclose(driver);
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = fmt::format("cudaGetDeviceCount: {}", cudaGetErrorString(e));
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount found none";
  return n;
}

std::string cudnn_library_versions() {
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  return fmt::format("CUDA runtime {}.{}, driver API {}.{}, cuDNN {}, cuBLAS {}", rt / 1000, rt % 1000 / 10,
                     drv / 1000, drv % 1000 / 10, cudnnGetVersion(), CUBLAS_VERSION);
}

std::unique_ptr<Backend> make_cudnn_backend(bool allow_tf32) { return std::make_unique<CudnnBackend>(allow_tf32); }

}  // namespace convergy::runtime
#endif  // CONVERGY_HAVE_CUDNN

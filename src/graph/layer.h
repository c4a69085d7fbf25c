// Layer kinds, their typed attributes, and the per-kind declaration (name, class, shape rule).
// Adding a kind: extend LayerKind, add its params struct to LayerParams, and add one row to the
// declaration table in layer_types.cpp; static_asserts there and in features/ trip if a table is missed.
#pragma once
#include "graph/shape.h"

#include <array>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace convergy {

enum class LayerKind : uint8_t {
  Input,
  Convolution,
  InnerProduct,
  Pooling,
  ReLU,
  LeakyReLU,
  Clip,  // ReLU6 is Clip(0, 6)
  PReLU,
  Sigmoid,
  TanH,
  Swish,  // x * sigmoid(x), a.k.a. SiLU
  HardSwish,
  HardSigmoid,
  BatchNorm,
  Scale,
  LRN,
  Concat,
  Eltwise,
  Softmax,
  Dropout,
  Flatten,
  Reshape,
  Split,  // Caffe's Split: the same tensor to several consumers
  Slice,  // cut one axis into ranges (Caffe Slice, ONNX Split/Slice)
  ChannelShuffle,
  Permute,  // ONNX Transpose
  Pad,
  Deconvolution,  // transposed convolution (Caffe Deconvolution); params are ConvParams
  Crop,           // Caffe Crop: cut input 0 to the size of input 1 from `axis` on
  ArgMax,
  Resize,           // nearest or bilinear resampling to a fixed size (Caffe-fork Upsample, Interp)
  Axpy,             // a * x + y with a per-channel `a` (SENet's fused scale-and-add)
  Normalize,        // SSD's L2 normalisation with a learned scale
  PriorBox,         // SSD anchor generation: data-independent, no kernel
  DetectionOutput,  // SSD box decoding, NMS and top-k: no kernel
  ROIPooling,       // Fast/Faster R-CNN ROI pooling and R-FCN's position-sensitive variant: no kernel
  Opaque,           // a layer convergy cannot see into (a Python layer let through): zero cost, no kernel
  Power,            // Caffe Power: (shift + scale * x) ^ power, elementwise
  LayerNorm,        // normalisation over the trailing axes from `axis`, per position (ConvNeXt, transformers)
  GELU,             // x * Phi(x), Phi the normal distribution function (the erf form)
  MatMul,           // a matrix product of two runtime tensors, numpy batching (attention's Q K^T and A V)
  Constant,         // a learned tensor read as data (ViT's class token and position embedding): no inputs
  kCount
};
constexpr int kLayerKindCount = static_cast<int>(LayerKind::kCount);

// Coarse classes used by predictive models (one sub-model per class).
enum class LayerClass : uint8_t { Conv, FC, Pool, Other, None };

struct NoParams {};

struct InputParams {
  Shape shape;
  DataType dtype = DataType::F32;
};

struct ConvParams {
  int64_t num_output = 0;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  bool bias = true;
};

struct InnerProductParams {
  int64_t num_output = 0;
  bool bias = true;
  int axis = 1;  // flatten from this axis, as Caffe does
};

enum class PoolMethod : uint8_t { Max, Average };
enum class PoolRounding : uint8_t { Ceil, Floor };

struct PoolParams {
  PoolMethod method = PoolMethod::Max;
  bool global = false;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  PoolRounding rounding = PoolRounding::Ceil;  // Caffe rounds up; ONNX floors unless ceil_mode=1
  bool count_include_pad = true;               // Caffe's average includes padding; ONNX's default does not
  // Caffe accepts a kernel larger than the padded input when its rounding still gives one window; that
  // window is clipped to the input. ONNX and PyTorch refuse such a kernel.
  bool clip_window = false;
};

struct LeakyReLUParams {
  float slope = 0.01f;
};
struct ClipParams {
  float min = 0.0f, max = 6.0f;
};
struct PReLUParams {
  bool channel_shared = false;
};
struct HardSigmoidParams {
  float alpha = 0.2f, beta = 0.5f;  // y = clamp(alpha * x + beta, 0, 1)
};
struct PowerParams {
  float power = 1.0f, scale = 1.0f, shift = 0.0f;  // y = (shift + scale * x) ^ power
};
struct LayerNormParams {
  int axis = -1;  // the first normalised axis; every axis after it is normalised too
  float eps = 1e-5f;
  bool affine = true;  // a learned scale and shift of the normalised shape follow
};
struct ConstantParams {
  Shape shape;        // the output
  Shape value_shape;  // the stored tensor, which broadcasts numpy-style to `shape` (ONNX Expand of a weight)
  // The parameters behind the stored tensor, as PyTorch counts them: -1 for the tensor itself (a learned
  // tensor read as data: ViT's class token); fewer where the importer gathered it from a learned table
  // (Swin's relative position bias), 0 where it computed it from shapes (Swin's attention mask).
  int64_t learned = -1;
};
struct BatchNormParams {
  float eps = 1e-5f;
  bool affine = false;  // Caffe BatchNorm has no scale/shift (a Scale layer follows); ONNX's has them
};
struct ScaleParams {
  int axis = 1;
  bool bias = false;
  // With two inputs the second is the per-channel scale (no learned weight).
};
struct LRNParams {
  int64_t local_size = 5;
  float alpha = 1e-4f, beta = 0.75f, k = 1.0f;
  bool across_channels = true;
};
struct ConcatParams {
  int axis = 1;
};
enum class EltwiseOp : uint8_t { Sum, Prod, Max };
struct EltwiseParams {
  EltwiseOp op = EltwiseOp::Sum;
  std::vector<float> coeffs;  // Caffe SUM coefficients; empty means all 1
  // Inputs broadcast numpy-style (e.g. NxCxHxW * NxCx1x1 for squeeze-and-excitation).
};
struct SoftmaxParams {
  int axis = 1;
};
struct DropoutParams {
  float ratio = 0.5f;
};
struct FlattenParams {
  int axis = 1;
  int end_axis = -1;  // inclusive, as in Caffe
};
struct ReshapeParams {
  std::vector<int64_t> dims;  // 0 copies the input dimension, -1 is inferred (Caffe and ONNX semantics)
};
struct SliceParams {
  int axis = 1;
  std::vector<std::pair<int64_t, int64_t>> ranges;  // [begin, end) per output, non-negative, in bounds
  // Every output takes elements begin, begin + step, ... below end (ONNX Slice's step; Swin's patch merging
  // reads every second row and column). At least 1.
  int64_t step = 1;
};
struct ChannelShuffleParams {
  int64_t groups = 1;
};
struct PermuteParams {
  std::vector<int> order;
};
enum class PadMode : uint8_t { Constant, Reflect, Edge };
struct PadParams {
  std::vector<int64_t> begins, ends;  // one per axis
  PadMode mode = PadMode::Constant;
  float value = 0.0f;
};

struct CropParams {
  int axis = 2;                  // axes from here on take input 1's size
  std::vector<int64_t> offsets;  // empty: 0 everywhere; one value: the same for every cropped axis
};
struct ArgMaxParams {
  int64_t top_k = 1;
  bool out_max_val = false;
  std::optional<int> axis;  // without an axis Caffe takes the arg max over all but the first axis
};
enum class ResizeMode : uint8_t { Nearest, Bilinear };
struct ResizeParams {
  int64_t out_h = 0, out_w = 0;  // the importer resolves scale factors and reference inputs to a size
  ResizeMode mode = ResizeMode::Nearest;
};
struct NormalizeParams {
  bool across_spatial = true;  // one norm per sample (true) or one per pixel across channels (false)
  bool channel_shared = true;  // one learned scale, or one per channel
  float eps = 1e-10f;
};
struct PriorBoxParams {
  int64_t priors_per_cell = 1;  // aspect ratios (flipped ones included) x min sizes + max sizes
};
struct DetectionOutputParams {
  int64_t num_classes = 0;
  int64_t keep_top_k = 1;  // detections kept per image: the output's upper bound
  int64_t nms_top_k = 0;   // boxes per class entering NMS (0: all)
};
struct ROIPoolingParams {
  int64_t pooled_h = 0, pooled_w = 0;
  int64_t output_dim = 0;  // position-sensitive (R-FCN PSROIPooling): output channels; 0 for plain ROI pooling
  float spatial_scale = 1.0f;
};
struct OpaqueParams {
  std::string what;  // e.g. "Python layer rpn.proposal_layer.ProposalLayer", for messages
  std::vector<Shape> output_shapes;  // given by the user per output; empty: each output takes input 0's shape
};

using LayerParams =
    std::variant<NoParams, InputParams, ConvParams, InnerProductParams, PoolParams, LeakyReLUParams,
                 ClipParams, PReLUParams, HardSigmoidParams, BatchNormParams, ScaleParams, LRNParams,
                 ConcatParams, EltwiseParams, SoftmaxParams, DropoutParams, FlattenParams, ReshapeParams,
                 SliceParams, ChannelShuffleParams, PermuteParams, PadParams, CropParams, ArgMaxParams,
                 ResizeParams, NormalizeParams, PriorBoxParams, DetectionOutputParams, ROIPoolingParams,
                 OpaqueParams, PowerParams, LayerNormParams, ConstantParams>;

// A learned tensor of a layer (weights, bias, BN statistics). `learnable` is false for BatchNorm running
// statistics: PyTorch does not count them as parameters.
struct WeightSpec {
  std::string role;  // "weight", "bias", "mean", "variance", "scale", "slope", ...
  Shape shape;
  bool learnable = true;
};

// An activation a runtime applies inside the producing layer (set by the fusion pass).
struct FusedActivation {
  LayerKind kind = LayerKind::ReLU;
  float alpha = 0.0f, beta = 0.0f;  // Clip min/max, LeakyReLU slope, HardSigmoid alpha/beta
  std::string layer_name;           // the activation layer that was folded in
};

using BlobId = int32_t;
using LayerId = int32_t;

// Where a layer was defined, for messages: "net.prototxt:12:3" in a text format, or a text an importer gives
// (an ONNX node). A text format's importer gives the file, shared by every layer of its graph, and the line
// and column: the text is built only when a message needs it. Building "file:line:col" for every layer of
// every network imported was 4% of the instructions of a bulk prediction, plus a malloc and free per layer.
class LayerOrigin {
 public:
  LayerOrigin() = default;
  LayerOrigin(std::string text) : text_(std::move(text)) {}  // NOLINT(google-explicit-constructor): as text
  LayerOrigin(const char* text) : text_(text) {}             // NOLINT(google-explicit-constructor)
  LayerOrigin(std::shared_ptr<const std::string> file, uint32_t line, uint32_t col)
      : file_(std::move(file)), line_(line), col_(col) {}
  bool empty() const { return !file_ && text_.empty(); }
  std::string str() const;  // "file:line:col", the text, or "" when empty
  friend bool operator==(const LayerOrigin& a, const LayerOrigin& b) { return a.str() == b.str(); }
  friend std::ostream& operator<<(std::ostream& os, const LayerOrigin& o);

 private:
  std::shared_ptr<const std::string> file_;
  uint32_t line_ = 0, col_ = 0;
  std::string text_;
};

struct Layer {
  std::string name;
  LayerKind kind = LayerKind::Input;
  LayerParams params;
  std::vector<BlobId> inputs;
  std::vector<BlobId> outputs;
  std::vector<WeightSpec> weights;  // filled by shape inference
  std::optional<FusedActivation> fused_activation;
  LayerOrigin origin;  // where it came from, for messages: "file.prototxt:12:3" or an ONNX node name

  template <typename P>
  const P& p() const { return std::get<P>(params); }
  template <typename P>
  P& p() { return std::get<P>(params); }
};

// The declaration of one layer kind.
struct LayerTypeInfo {
  LayerKind kind;
  std::string_view name;  // as printed, e.g. "Convolution"
  LayerClass cls;
  int min_inputs, max_inputs;  // max -1 = any number
};
const LayerTypeInfo& layer_type(LayerKind kind);
std::string_view layer_kind_name(LayerKind kind);
std::optional<LayerKind> layer_kind_from_name(std::string_view name);
// The coarse class of a concrete layer (depthwise convolution is still Conv; features mark it).
LayerClass layer_class(const Layer& layer);
std::string_view layer_class_name(LayerClass c);  // "conv", "fc", "pool", "other", "none"
// True for element-wise activations that a runtime can fuse into a preceding Conv/FC.
bool is_fusable_activation(LayerKind kind);

// Shape rule: output shapes and weight specs from the inputs. Throws BadInput naming the layer.
struct InferredShapes {
  std::vector<Shape> outputs;
  std::vector<WeightSpec> weights;
};
InferredShapes infer_shapes(const Layer& layer, const std::vector<Shape>& input_shapes);
// The same rule for a builder that adds many layers: the input shapes are read in place through pointers,
// and `out` is cleared and refilled, so its vector of outputs keeps its room from one layer to the next.
void infer_shapes(const Layer& layer, const Shape* const* input_shapes, size_t n_inputs, InferredShapes& out);

}  // namespace convergy

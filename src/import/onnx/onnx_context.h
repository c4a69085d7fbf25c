// Shared state of one ONNX import: the value of every ONNX tensor name, the graph being built, attribute
// helpers, and the registry of op rules (one small function per ONNX op type).
#pragma once
#include "graph/graph.h"
#include "import/load.h"

#include <onnx/onnx_pb.h>

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace convergy::onnx_import {

// A tensor known at import time: a weight (dims always known, data possibly absent) or a folded constant.
struct ConstTensor {
  std::vector<int64_t> dims;
  int32_t elem_type = onnx::TensorProto::FLOAT;
  bool has_data = false;
  std::vector<double> reals;  // floating types
  std::vector<int64_t> ints;  // integer and bool types
  std::string name;           // the ONNX name, for messages
  // Non-empty for a weight broadcast by an Expand: the dims of the tensor actually stored (ViT's class token,
  // 1 x 1 x 768, expanded to the batch). A Constant layer stores this many values, not elems().
  std::vector<int64_t> stored_dims;
  // The learned values behind this tensor, as PyTorch counts parameters: every element of an initializer or
  // of a Constant node, carried through the ops that only move values (reshape, transpose, expand, gather), 0
  // for a tensor computed from shapes. Swin's relative position bias is a 169-row table (learned) read at 49
  // x 49 positions (stored); its attention mask is built from shapes alone.
  int64_t learned_elems = 0;

  int64_t elems() const;
  bool is_integer() const;
  // Appends one folded value: truncated to an integer (folded_int) for an integer type, as is otherwise.
  void push(double v);
};

// The most elements a folded constant gets data for; a larger one keeps only its shape (what the importer
// needs of constants is shapes, reshape targets and small values, never a weight-sized computation).
inline constexpr int64_t kMaxFoldedElems = 1 << 20;

// What an ONNX tensor name stands for: a runtime blob of the graph, or a constant.
struct Value {
  BlobId blob = -1;
  std::shared_ptr<const ConstTensor> constant;
  bool is_blob() const { return blob >= 0; }
};

// Thrown by an op rule for a form convergy cannot map (say, MatMul with two runtime inputs). The driver
// collects every one of them, with node names, into a single error.
struct Unsupported {
  std::string reason;
};
[[noreturn]] void unsupported(std::string reason);

// A folded floating-point value as an integer (truncated toward zero, as ONNX Cast and integer Div do). A
// value outside int64's range, or NaN, cannot be folded: Unsupported, never an undefined conversion.
int64_t folded_int(double v);

class Context;
using OpRule = void (*)(Context& ctx, const onnx::NodeProto& node);

class Context {
 public:
  Context(Graph& graph, const onnx::GraphProto& onnx_graph, std::string path, int opset);

  Graph& graph;
  const onnx::GraphProto& onnx_graph;
  const std::string path;
  const int opset;  // of the default ("" / "ai.onnx") domain

  // Values by ONNX name.
  bool has_value(const std::string& name) const { return values_.count(name) > 0; }
  const Value& value(const std::string& name) const;
  void set_value(const std::string& name, Value v);

  // Node inputs. Optional inputs are absent when the index is past the end or the name is empty.
  bool has_input(const onnx::NodeProto& node, int i) const;
  const Value& input(const onnx::NodeProto& node, int i) const;
  BlobId blob_input(const onnx::NodeProto& node, int i) const;                // Unsupported if a constant
  const ConstTensor& const_input(const onnx::NodeProto& node, int i) const;   // Unsupported if a blob
  std::vector<int64_t> const_ints(const onnx::NodeProto& node, int i) const;  // needs data
  const Shape& shape(BlobId id) const { return graph.blob(id).shape; }
  // Input i as a runtime tensor: a constant (a learned tensor read as data, such as a position embedding)
  // gets a Constant layer, one per ONNX name however many nodes read it. Unsupported for an integer constant.
  BlobId tensor_input(const onnx::NodeProto& node, int i);

  // Adds a layer for `node` (named after it) and binds `output_names` to its outputs. `weights` are the
  // constants the layer stores: their element count must equal what the layer's shape rule declares.
  LayerId add_layer(const onnx::NodeProto& node, LayerKind kind, LayerParams params,
                    std::vector<BlobId> inputs, const std::vector<std::string>& output_names,
                    const std::vector<const ConstTensor*>& weights = {});
  // Binds an output name to a constant.
  void set_constant(const std::string& name, ConstTensor t);

  // Look-ahead for patterns that span nodes (Sigmoid-Mul, MatMul-Add, channel shuffle, Pad-Conv).
  // The index of the only node reading `name`, or -1 when there are none, several, or it is a graph output.
  int sole_consumer(const std::string& name) const;
  // Every node reading `name` (a node reading it twice is listed twice); empty when none.
  const std::vector<int>& consumers(const std::string& name) const;
  // True when the only reader of `name` is a Gemm (transA=0) taking it as A: an InnerProduct flattens its
  // input from axis 1 by itself, so a Flatten or flattening Reshape in front of it makes no layer.
  bool feeds_gemm(const std::string& name) const;
  // Values whose flattening was left to the Gemm that reads them (the only way Gemm sees rank > 2).
  std::unordered_set<std::string> flattened_for_gemm;
  // True when a node reads `name` or it is a graph output.
  bool used(const std::string& name) const;
  const onnx::NodeProto& node_at(int index) const { return onnx_graph.node(index); }
  // The pattern rule that consumed node `index` has bound its outputs; the driver will not visit it.
  void absorb(int index) { absorbed_.insert(index); }
  bool absorbed(int index) const { return absorbed_.count(index) > 0; }
  // The producer of `name` among the ONNX nodes, or -1.
  int producer(const std::string& name) const;

  // Zero padding of a folded Pad node, added by the Conv/Pool rule that reads `name`:
  // top, left, bottom, right.
  std::map<std::string, std::array<int64_t, 4>> pending_pads;

  // A Reshape to NxGx(C/G)xHxW followed by Transpose(0,2,1,3,4), held back until the closing Reshape shows
  // whether the three form a channel shuffle. Keyed by the Transpose output.
  struct PendingShuffle {
    int reshape_node = -1, transpose_node = -1;
    BlobId input = -1;
    std::vector<int64_t> grouped;  // the first Reshape's resolved target
  };
  std::map<std::string, PendingShuffle> pending_shuffles;

  std::string node_label(const onnx::NodeProto& node) const;  // "Conv_3" (Conv)
  std::string origin(const onnx::NodeProto& node) const;      // path: node "Conv_3" (Conv)

 private:
  // `base`, or `base_2`, `base_3`, ... when a layer already has the name.
  std::string unique_layer_name(const std::string& base) const;

  std::unordered_map<std::string, Value> values_;
  std::unordered_map<std::string, BlobId> constant_blobs_;  // by ONNX name, made by tensor_input()
  std::unordered_map<std::string, std::vector<int>> consumers_;
  std::unordered_map<std::string, int> producers_;
  std::unordered_set<std::string> graph_outputs_;
  std::unordered_set<int> absorbed_;
  std::unordered_map<const onnx::NodeProto*, int> node_index_;
};

// For the rules that only ever fold (Equal, Where, Mod, Not, Range, ScatterND): Unsupported with `what` when
// any input of `node` is a runtime tensor.
void require_constant_inputs(const Context& ctx, const onnx::NodeProto& node, const std::string& what);

// Attributes.
const onnx::AttributeProto* find_attr(const onnx::NodeProto& node, std::string_view name);
int64_t attr_int(const onnx::NodeProto& node, std::string_view name, int64_t fallback);
float attr_float(const onnx::NodeProto& node, std::string_view name, float fallback);
std::string attr_string(const onnx::NodeProto& node, std::string_view name, std::string fallback);
std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& node, std::string_view name);

// A TensorProto as a ConstTensor; data is read when present inline, unless `stripped`.
ConstTensor tensor_from_proto(const onnx::TensorProto& t, bool stripped, const std::string& path);

// Padding of a 2-D Conv or Pool node as top, left, bottom, right, from `pads` or `auto_pad`. `extent_*` is
// the dilated kernel size.
std::array<int64_t, 4> spatial_pads(const Context& ctx, const onnx::NodeProto& node, const Shape& input,
                                    int64_t extent_h, int64_t extent_w, int64_t stride_h, int64_t stride_w);
// A 2-element attribute such as strides or dilations (default when absent); BadInput on another length.
std::array<int64_t, 2> attr_pair(const Context& ctx, const onnx::NodeProto& node, std::string_view name,
                                 int64_t fallback);

// Normalises a possibly negative axis for `rank`; Unsupported when out of range.
int normalize_axis(int64_t axis, int rank);

// Element `flat` of `out_dims` read from `t` broadcast numpy-style to them (t's dims aligned on the right),
// as a double; `t` must hold data.
double broadcast_value(const ConstTensor& t, const std::vector<int64_t>& out_dims, int64_t flat);
// The numpy broadcast of two shapes; Unsupported when they do not broadcast.
std::vector<int64_t> broadcast_dims(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// The registry: op type -> rule. Each ops_*.cpp file adds its rules in one register_* function.
std::map<std::string, OpRule>& rules();
void register_conv_rules();
void register_pool_rules();
void register_activation_rules();
void register_eltwise_rules();
void register_tensor_rules();
void register_constant_rules();
void register_norm_rules();

// Decomposed layer normalisation and GELU (ops_norm.cpp), matched from their first node: when the subgraph
// starting at `node` is one, adds its layer, absorbs the other nodes and returns true.
bool match_layer_norm(Context& ctx, const onnx::NodeProto& reduce_mean);
bool match_gelu(Context& ctx, const onnx::NodeProto& div);

}  // namespace convergy::onnx_import

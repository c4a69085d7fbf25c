// The network graph: named blobs with inferred shapes, and layers in topological order.
// Shapes are inferred as each layer is added (a layer can only consume blobs that already exist), so
// insertion order is a valid execution order and a cycle cannot be built.
#pragma once
#include "graph/layer.h"

#include <string>
#include <string_view>
#include <vector>

namespace convergy {

struct Blob {
  std::string name;
  Shape shape;
  DataType dtype = DataType::F32;
  LayerId producer = -1;
};

// Something an importer wants the user to know about the graph it built (a dropped training layer, a
// renamed duplicate); a warning is about a result the user should not trust blindly.
struct GraphNote {
  bool warning = false;
  std::string text;
};

class Graph {
 public:
  explicit Graph(std::string name = {}) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  // Where the graph came from (file path or zoo name), for messages.
  const std::string& source() const { return source_; }
  void set_source(std::string s) { source_ = std::move(s); }

  // Adds an Input layer named `name` producing a blob of the same name.
  BlobId add_input(const std::string& name, Shape shape, DataType dtype = DataType::F32,
                   LayerOrigin origin = {});

  // Adds a layer that consumes `inputs` and produces one new blob per entry of `output_names`.
  // Infers output shapes and weight specs now; on inconsistent inputs throws BadInput:
  //   `<origin>: layer "conv2" (Convolution): input has 64 channels, not divisible by group 3`.
  // Blob names need not be unique (Caffe's in-place layers reuse a name); ids are.
  LayerId add_layer(std::string name, LayerKind kind, LayerParams params, std::vector<BlobId> inputs,
                    const std::vector<std::string>& output_names, LayerOrigin origin = {});
  // add_layer for an importer that holds its names in the text it reads: the name and output names are views,
  // the inputs an array (a buffer the caller reuses), so calling it builds no string or vector to throw away.
  LayerId add_layer_views(std::string_view name, LayerKind kind, LayerParams params, const BlobId* inputs,
                          size_t n_inputs, const std::string_view* output_names, size_t n_outputs,
                          LayerOrigin origin = {});
  // Adds a layer whose output shapes and weights are known already, because it comes from a graph that was
  // built with add_layer (a pass copying a graph): `layer.inputs` must name blobs of this graph, and each
  // entry of `outputs` becomes a new blob produced by the layer (its producer is set here). Nothing is
  // re-inferred; only the layer's name is checked for uniqueness. The entries of `outputs` are moved from.
  LayerId add_inferred_layer(Layer layer, std::vector<Blob>& outputs);
  // Room for this many layers and blobs, so a builder that knows the size does not grow the vectors.
  void reserve(size_t layers, size_t blobs);

  void add_note(std::string text, bool warning = false) { notes_.push_back({warning, std::move(text)}); }
  const std::vector<GraphNote>& notes() const { return notes_; }

  // Network outputs. If none are marked, outputs are the blobs that no layer consumes (Caffe's rule).
  void mark_output(BlobId id);
  std::vector<BlobId> outputs() const;
  std::vector<BlobId> inputs() const;  // blobs produced by Input layers

  const std::vector<Layer>& layers() const { return layers_; }
  std::vector<Layer>& mutable_layers() { return layers_; }
  const Layer& layer(LayerId id) const { return layers_.at(static_cast<size_t>(id)); }
  const std::vector<Blob>& blobs() const { return blobs_; }
  // For a pass taking apart a graph it owns (blob ids and the name index stay as they were).
  std::vector<Blob>& mutable_blobs() { return blobs_; }
  const Blob& blob(BlobId id) const { return blobs_.at(static_cast<size_t>(id)); }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  int num_blobs() const { return static_cast<int>(blobs_.size()); }

  // Layers that read blob `id`, in order.
  std::vector<LayerId> consumers(BlobId id) const;
  // Index of a layer by name, or -1.
  LayerId find_layer(const std::string& name) const;

  // After a pass rebuilt the layers and blobs in place (mutable_layers, mutable_blobs): marks `outputs` as
  // the network outputs, in place of any marked before, and indexes the layer names again.
  void reindex(std::vector<BlobId> outputs);

 private:
  BlobId add_blob(std::string name, Shape shape, DataType dtype, LayerId producer);
  // The layer-name index: open addressing over layer ids (-1 empty), hashed by name; one allocation for the
  // whole table instead of a node per name.
  size_t name_slot(std::string_view name) const;  // the slot holding `name`, or the empty slot it would take
  void index_name(LayerId id);
  void grow_index(size_t min_slots);

  std::string name_;
  std::string source_;
  std::vector<Blob> blobs_;
  std::vector<Layer> layers_;
  std::vector<BlobId> marked_outputs_;
  std::vector<LayerId> name_index_;
  std::vector<GraphNote> notes_;
};

}  // namespace convergy

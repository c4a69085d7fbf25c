// Graph construction with shape inference at insertion time.
#include "graph/graph.h"

#include "util/checked.h"
#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>

namespace convergy {

std::string LayerOrigin::str() const {
  if (!file_) return text_;
  return fmt::format("{}:{}:{}", *file_, line_, col_);
}

std::ostream& operator<<(std::ostream& os, const LayerOrigin& o) { return os << o.str(); }

BlobId Graph::add_blob(std::string name, Shape shape, DataType dtype, LayerId producer) {
  blobs_.push_back({std::move(name), std::move(shape), dtype, producer});
  return static_cast<BlobId>(blobs_.size() - 1);
}

BlobId Graph::add_input(const std::string& name, Shape shape, DataType dtype, LayerOrigin origin) {
  const LayerId id = add_layer(name, LayerKind::Input, InputParams{std::move(shape), dtype}, {}, {name},
                               std::move(origin));
  return layers_[static_cast<size_t>(id)].outputs.at(0);
}

LayerId Graph::add_layer(std::string name, LayerKind kind, LayerParams params, std::vector<BlobId> inputs,
                         const std::vector<std::string>& output_names, LayerOrigin origin) {
  thread_local std::vector<std::string_view> names;
  names.assign(output_names.begin(), output_names.end());
  return add_layer_views(name, kind, std::move(params), inputs.data(), inputs.size(), names.data(),
                         names.size(), std::move(origin));
}

LayerId Graph::add_layer_views(std::string_view name, LayerKind kind, LayerParams params,
                               const BlobId* inputs, size_t n_inputs, const std::string_view* output_names,
                               size_t n_outputs, LayerOrigin origin) {
  // Built only for a message: this runs for every layer of every network imported.
  auto prefix = [&] { return origin.empty() ? std::string() : origin.str() + ": "; };
  if (static_cast<int64_t>(layers_.size()) >= global_limits().max_layers)
    throw_bad_input("{}layer \"{}\": the network has more than {} layers, expected at most {}", prefix(),
                    name, global_limits().max_layers, limit_text(Limit::Layers));
  if (name.empty()) throw_bad_input("{}a {} layer has no name", prefix(), layer_kind_name(kind));
  // The slot that the name takes in the index, unless the index grows first (reserve() sized it for a
  // builder).
  const size_t slot = name_index_.empty() ? 0 : name_slot(name);
  if (!name_index_.empty() && name_index_[slot] >= 0)
    throw_bad_input("{}layer \"{}\": duplicate layer name", prefix(), name);
  for (size_t i = 0; i < n_inputs; ++i)
    if (inputs[i] < 0 || inputs[i] >= num_blobs())
      throw_failure("internal: layer \"{}\" refers to blob id {} that does not exist", name, inputs[i]);

  // Built in its place at the end of layers_ (taken back out if inference throws): moving a finished layer
  // in was one more move and destruction per layer.
  const auto id = static_cast<LayerId>(layers_.size());
  Layer& layer = layers_.emplace_back();
  struct Unwind {
    std::vector<Layer>& layers;
    bool done = false;
    ~Unwind() {
      if (!done) layers.pop_back();
    }
  } unwind{layers_};
  layer.name.assign(name);
  layer.kind = kind;
  layer.params = std::move(params);
  layer.inputs.assign(inputs, inputs + n_inputs);
  layer.outputs.assign(n_outputs, -1);
  layer.origin = std::move(origin);

  // Reused from call to call on this thread: the input shapes are read where the blobs hold them, and the
  // inferred outputs go to a vector that keeps its room.
  thread_local std::vector<const Shape*> in_shapes;
  thread_local InferredShapes inferred;
  in_shapes.clear();
  for (BlobId b : layer.inputs) in_shapes.push_back(&blobs_[static_cast<size_t>(b)].shape);
  infer_shapes(layer, in_shapes.data(), in_shapes.size(), inferred);
  layer.weights = std::move(inferred.weights);

  DataType dtype = DataType::F32;
  if (kind == LayerKind::Input) dtype = std::get<InputParams>(layer.params).dtype;
  for (size_t i = 0; i < n_outputs; ++i)
    layer.outputs[i] = add_blob(std::string(output_names[i]), std::move(inferred.outputs.at(i)), dtype, id);
  unwind.done = true;
  if (name_index_.empty() || 2 * layers_.size() > name_index_.size())
    index_name(id);
  else
    name_index_[slot] = id;  // still the empty slot for this name: nothing was indexed since it was found
  return id;
}

LayerId Graph::add_inferred_layer(Layer layer, std::vector<Blob>& outputs) {
  if (find_layer(layer.name) >= 0)
    throw_failure("internal: layer \"{}\" is added twice to graph \"{}\"", layer.name, name_);
  for (BlobId b : layer.inputs)
    if (b < 0 || b >= num_blobs())
      throw_failure("internal: layer \"{}\" refers to blob id {} that does not exist", layer.name, b);
  const auto id = static_cast<LayerId>(layers_.size());
  layer.outputs.resize(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    outputs[i].producer = id;
    blobs_.push_back(std::move(outputs[i]));
    layer.outputs[i] = static_cast<BlobId>(blobs_.size() - 1);
  }
  layers_.push_back(std::move(layer));
  index_name(id);
  return id;
}

void Graph::reserve(size_t layers, size_t blobs) {
  layers_.reserve(layers);
  blobs_.reserve(blobs);
  grow_index(2 * layers);
}

size_t Graph::name_slot(std::string_view name) const {
  const size_t mask = name_index_.size() - 1;
  for (size_t i = std::hash<std::string_view>{}(name) & mask;; i = (i + 1) & mask) {
    const LayerId id = name_index_[i];
    if (id < 0 || layers_[static_cast<size_t>(id)].name == name) return i;
  }
}

void Graph::grow_index(size_t min_slots) {
  size_t slots = 16;
  while (slots < min_slots) slots *= 2;
  if (slots <= name_index_.size()) return;
  name_index_.assign(slots, -1);
  for (size_t i = 0; i < layers_.size(); ++i) name_index_[name_slot(layers_[i].name)] = static_cast<LayerId>(i);
}

// Called after layers_[id] exists; keeps the table at most half full, so probes stay short and end.
void Graph::index_name(LayerId id) {
  if (2 * layers_.size() > name_index_.size()) grow_index(2 * layers_.size());
  name_index_[name_slot(layers_[static_cast<size_t>(id)].name)] = id;
}

void Graph::mark_output(BlobId id) {
  if (id < 0 || id >= num_blobs()) throw_failure("internal: output blob id {} does not exist", id);
  if (std::find(marked_outputs_.begin(), marked_outputs_.end(), id) == marked_outputs_.end())
    marked_outputs_.push_back(id);
}

std::vector<BlobId> Graph::outputs() const {
  if (!marked_outputs_.empty()) return marked_outputs_;
  std::vector<char> consumed(blobs_.size(), 0);
  for (const auto& l : layers_)
    for (BlobId b : l.inputs) consumed[static_cast<size_t>(b)] = 1;
  std::vector<BlobId> out;
  for (const auto& l : layers_) {
    if (l.kind == LayerKind::Input) continue;
    for (BlobId b : l.outputs)
      if (!consumed[static_cast<size_t>(b)]) out.push_back(b);
  }
  return out;
}

std::vector<BlobId> Graph::inputs() const {
  std::vector<BlobId> in;
  for (const auto& l : layers_)
    if (l.kind == LayerKind::Input) in.push_back(l.outputs.at(0));
  return in;
}

std::vector<LayerId> Graph::consumers(BlobId id) const {
  std::vector<LayerId> c;
  for (size_t i = 0; i < layers_.size(); ++i)
    if (std::find(layers_[i].inputs.begin(), layers_[i].inputs.end(), id) != layers_[i].inputs.end())
      c.push_back(static_cast<LayerId>(i));
  return c;
}

LayerId Graph::find_layer(const std::string& name) const {
  if (name_index_.empty()) return -1;
  return name_index_[name_slot(name)];
}

void Graph::reindex(std::vector<BlobId> outputs) {
  for (BlobId o : outputs)
    if (o < 0 || o >= num_blobs()) throw_failure("internal: output blob id {} does not exist", o);
  marked_outputs_ = std::move(outputs);
  if (name_index_.size() < 2 * layers_.size()) {
    name_index_.clear();
    grow_index(2 * layers_.size());  // sizes the table and indexes every layer
    return;
  }
  std::fill(name_index_.begin(), name_index_.end(), -1);  // the table keeps its size: fewer layers fit
  for (size_t i = 0; i < layers_.size(); ++i)
    name_index_[name_slot(layers_[i].name)] = static_cast<LayerId>(i);
}

}  // namespace convergy

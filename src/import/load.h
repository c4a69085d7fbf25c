// Loading a network from what a user names: a zoo name, a Caffe .prototxt or an ONNX .onnx file.
#pragma once
#include "graph/graph.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace convergy {

struct LoadOptions {
  // --input-shape name=1x3x224x224: overrides or fills (symbolic) input dimensions.
  std::vector<std::pair<std::string, Shape>> input_shapes;
  // --allow-python-layers: a Caffe Python layer becomes a zero-cost Opaque layer (with a warning) instead
  // of an error.
  bool allow_python_layers = false;
};

// `spec` is a zoo name (e.g. "resnet50"), or a path ending in .prototxt/.pt/.txt (Caffe text format) or
// .onnx. Throws BadInput with a one-line message naming the file and place on any problem.
Graph load_network(const std::string& spec, const LoadOptions& options = {});

// Caffe NetParameter in protobuf text format. `filename` is used in messages (file:line:col).
Graph import_caffe_prototxt(std::string_view text, const std::string& filename, const LoadOptions& options = {});
Graph import_caffe_prototxt_file(const std::string& path, const LoadOptions& options = {});

// ONNX ModelProto (binary protobuf). Available when built with CONVERGY_WITH_ONNX.
Graph import_onnx_file(const std::string& path, const LoadOptions& options = {});
// The same from the bytes of a model held in memory (torch.onnx export into a buffer); `name` is used in
// messages as the file name would be.
Graph import_onnx_bytes(std::string_view bytes, const std::string& name, const LoadOptions& options = {});

// Parses "--input-shape" values "name=1x3x224x224" (a bare shape applies to the first input).
std::pair<std::string, Shape> parse_input_shape_option(const std::string& text);

}  // namespace convergy

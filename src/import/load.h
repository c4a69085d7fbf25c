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
  // --classes N: the network's classifier gives N scores (graph/classifier.h); 0 keeps the definition's.
  int64_t classes = 0;
};

// `spec` is a zoo name (e.g. "resnet50"), or a path ending in .prototxt/.pt/.txt (Caffe text format) or
// .onnx, optionally followed by input shapes: "resnet50@1x3x160x160" (the first input) or
// "net.onnx@image=1x3x320x320@mask=1x1x320x320", and a number of classes: "resnet50@classes=10" (with a
// shape: "resnet50@1x3x160x160@classes=10"). The whole string names the network wherever it is stored
// (profile, export), so measurements of one network at several input sizes or class counts stay apart and
// load again as measured (fit, evaluate). A shape or class count set both there and in `options` is an error.
// Throws BadInput with a one-line message naming the file and place on any problem.
Graph load_network(const std::string& spec, const LoadOptions& options = {});

// Caffe NetParameter in protobuf text format. `filename` is used in messages (file:line:col).
Graph import_caffe_prototxt(std::string_view text, const std::string& filename, const LoadOptions& options = {});
Graph import_caffe_prototxt_file(const std::string& path, const LoadOptions& options = {});

// ONNX ModelProto (binary protobuf). Available when built with CONVERGY_WITH_ONNX.
Graph import_onnx_file(const std::string& path, const LoadOptions& options = {});
// The same from the bytes of a model held in memory (torch.onnx export into a buffer); `name` is used in
// messages as the file name would be.
Graph import_onnx_bytes(std::string_view bytes, const std::string& name, const LoadOptions& options = {});

// The name of `spec` with the given --input-shape values and --classes (0: as defined), for the commands that
// store or print networks by name: "resnet50", {"1x3x160x160"}, 10 -> "resnet50@1x3x160x160@classes=10";
// checked when loaded.
std::string network_name(const std::string& spec, const std::vector<std::string>& input_shapes,
                         int64_t classes = 0);

// Parses "--input-shape" values "name=1x3x224x224" (a bare shape applies to the first input).
std::pair<std::string, Shape> parse_input_shape_option(const std::string& text);

}  // namespace convergy

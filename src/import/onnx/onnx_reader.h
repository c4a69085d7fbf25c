// Reads an ONNX ModelProto without its weight data: the bulk data fields of large initializers are skipped at
// the wire level (never read from disk), so a 550 MB model costs about what its graph costs.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <unordered_set>

namespace convergy::onnx_import {

struct LightModel {
  onnx::ModelProto model;
  // Initializers whose data was left in the file (large tensors): their dims and type are known, their
  // values are not. Tensors stored in external data files are recognised by their data_location instead.
  std::unordered_set<std::string> stripped;
};

// Initializer data fields longer than this many bytes are skipped; shorter ones (shape vectors, scalars,
// Slice bounds) are kept because shape computations need their values.
inline constexpr size_t kKeepDataBytes = 4096;

// Parses `bytes` (a serialized ModelProto). Throws BadInput naming `path` if it is not valid protobuf.
LightModel read_light_model(std::string_view bytes, const std::string& path);

// Reads the file with pread, skipping weight data. Throws BadInput if the file cannot be opened.
LightModel read_light_model_file(const std::string& path);

}  // namespace convergy::onnx_import

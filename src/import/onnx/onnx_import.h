// Internal entry point of the ONNX importer, below import_onnx_file (import/load.h): converts an already
// read model, so tests and benchmarks can time reading and converting apart.
#pragma once
#include "graph/graph.h"
#include "import/load.h"
#include "import/onnx/onnx_reader.h"

#include <string>

namespace convergy::onnx_import {

// `path` is used in messages. Throws BadInput (one line) on anything the model gets wrong or convergy
// cannot map; every unsupported node is listed in that one message.
Graph import_model(const LightModel& light, const std::string& path, const LoadOptions& options = {});

}  // namespace convergy::onnx_import

// libFuzzer target: ONNX ModelProto bytes -> the wire-level light reader -> graph -> features before and after
// the graph passes (what `convergy info model.onnx` does; the file reader differs only in where bytes come from).
#include "features/features.h"
#include "fuzz/fuzz_common.h"
#include "graph/passes.h"
#include "import/onnx/onnx_import.h"
#include "import/onnx/onnx_reader.h"

#include <google/protobuf/stubs/logging.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every parse error to stderr; at thousands of inputs a second that is only noise.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace convergy;
  return fuzz::run_one([&] {
    const std::string path = "fuzz.onnx";
    const Graph defined =
        onnx_import::import_model(onnx_import::read_light_model(fuzz::as_text(data, size), path), path, {});
    network_features(defined);
    const PassResult passed = run_passes(defined, PassOptions{});
    const NetworkFeatures executed = network_features(passed.graph);
    if (executed.macs > UINT64_MAX / 2) __builtin_trap();
  });
}

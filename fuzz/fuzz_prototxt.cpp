// libFuzzer target: Caffe prototxt text -> graph -> features before and after the graph passes, the path of
// `convergy info`.
#include "features/features.h"
#include "fuzz/fuzz_common.h"
#include "graph/passes.h"
#include "import/caffe/caffe_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace convergy;
  return fuzz::run_one([&] {
    const Graph defined = import_caffe_text(std::string(fuzz::as_text(data, size)), "fuzz.prototxt", {});
    network_features(defined);
    const PassResult passed = run_passes(defined, PassOptions{});
    const NetworkFeatures executed = network_features(passed.graph);
    // `convergy info` prints 2 x MACs as FLOPs because network_features promises that this fits.
    if (executed.macs > UINT64_MAX / 2) __builtin_trap();
  });
}

// libFuzzer target: model JSON (what `convergy fit --out` writes) -> Model -> a prediction of a zoo network
// (what `convergy predict` does) -> JSON again.
#include "features/features.h"
#include "fuzz/fuzz_common.h"
#include "graph/passes.h"
#include "import/load.h"
#include "model/model.h"

#include <nlohmann/json.hpp>

namespace {

using namespace convergy;

// One network with convolution, pooling, FC and "other" layers, resolved once per process.
const NetworkFeatures& network() {
  static const NetworkFeatures features = network_features(run_passes(load_network("alexnet")).graph);
  return features;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::run_one([&] {
    const std::string where = "fuzz.json";
    // The same two steps as model::load_model, which reads from a file: JSON syntax, then the model's fields.
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(fuzz::as_text(data, size));
    } catch (const nlohmann::json::exception& e) {
      throw_bad_input("{}: not valid JSON: {}", where, e.what());
    }
    const model::Model m = model::model_from_json(j, where);
    model::predict_network(m, network());
    model::model_from_json(model::model_to_json(m), where);
  });
}

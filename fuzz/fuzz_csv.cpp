// libFuzzer target: measurement CSV -> CsvTable -> the data set `convergy fit` builds from it -> design
// matrix -> fit -> model JSON, which must load again. Networks named in the CSV are resolved from the zoo
// only (a fuzzer must not read files); any other reference is rejected the way a missing file is.
#include "features/features.h"
#include "fuzz/fuzz_common.h"
#include "graph/passes.h"
#include "import/load.h"
#include "model/csv.h"
#include "model/dataset.h"
#include "model/model.h"
#include "zoo/zoo.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

namespace {

using namespace convergy;

// Zoo networks resolved once per process: importing and passing resnet50 for every input would make the
// fuzzer slow without exploring anything new.
std::shared_ptr<const NetworkFeatures> zoo_only(const std::string& reference) {
  static std::map<std::string, std::shared_ptr<const NetworkFeatures>> cache;
  if (auto it = cache.find(reference); it != cache.end()) return it->second;
  if (!find_zoo_entry(reference)) throw_bad_input("{}: cannot open (the fuzzer resolves zoo names only)", reference);
  auto features = std::make_shared<const NetworkFeatures>(network_features(run_passes(load_network(reference)).graph));
  cache.emplace(reference, features);
  return features;
}

// Fitting is the expensive step; small data sets still reach every regression path.
constexpr size_t kMaxFitSamples = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::run_one([&] {
    const model::CsvTable csv = model::CsvTable::parse(fuzz::as_text(data, size), "fuzz.csv");
    const std::string target = csv.has_column("energy_mj") ? "energy_mj" : "time_ms";
    const model::Dataset dataset = model::load_dataset(csv, target, zoo_only);
    // The input's size picks the feature set, so every set is exercised without a selector byte that would
    // make the seed files something other than plain CSV.
    static const char* const kSets[] = {"macs+mem", "macs+1", "neuralpower", "counters", "macs"};
    const model::FeatureSet features = model::parse_feature_set(kSets[size % std::size(kSets)]);
    const model::Design design = model::build_design(dataset, features);
    // neuralpower's cross-validated Lasso takes seconds per input under the sanitizers (over -timeout=10 for a
    // 16-row file), which would leave the fuzzer a few inputs a second; its terms are still generated above.
    if (dataset.samples.size() > kMaxFitSamples || features.neuralpower) return;
    std::vector<size_t> rows(dataset.samples.size());
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    const model::Model fitted = model::fit_model(dataset, design, rows, model::FitOptions{});
    for (size_t i = 0; i < rows.size(); ++i) model::predict_design_row(fitted, design, i);
    // What `fit --out` writes, `predict --model` must read back: a rejection here is a finding, not bad input.
    const std::string written = model::model_to_json(fitted).dump(2);
    try {
      model::model_from_json(nlohmann::json::parse(written), "fitted.json");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "a model written by fit does not load again: %s\n", e.what());
      std::abort();
    }
  });
}

// Training and evaluation data for the predictive models: per-layer rows of networks, whole-network
// totals, or standalone layers described by their hyper-parameters (the tx2-conv-layers.csv format).
// The model module does not load networks itself: the caller passes a resolver (the CLI uses the
// importers and graph passes), and each network is resolved once however many rows name it.
#pragma once
#include "features/features.h"
#include "model/csv.h"
#include "model/terms.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace convergy::model {

enum class DataKind : uint8_t { Layers, Networks, Standalone };
std::string_view data_kind_name(DataKind k);  // "per-layer", "whole-network", "standalone-layer"

struct Sample {
  std::vector<const LayerFeatures*> layers;  // one for per-layer and standalone rows; every layer of a network
  double measured = 0.0;                     // the target value
  std::string group;                         // network (or, for standalone rows, "row <line>")
  std::string split;                         // the `split` column, "" when absent
  ExtraValues extra;                         // measured counters (only the columns counter_columns() names)
  int line = 0;                              // line in the CSV
  std::string label;                         // what a report prints: network, network/layer, or the row's line
  std::vector<std::string> columns;          // every field of the row, for grouping by another column
  const NetworkFeatures* network = nullptr;  // the row's whole network (per-layer and whole-network rows)
  int file = 0;                              // 0: the data set's own file; 1: a test file merged in (merge_test_data)
  // A row of the operator probe (zoo/probe.h): it trains every fold, split and calibration fit and is never
  // held out, scored or counted among the networks.
  bool probe = false;
};

struct Dataset {
  DataKind kind = DataKind::Standalone;
  std::string path;
  std::string digest;  // FNV-1a 64 of the CSV bytes, hex
  std::string target;  // "energy_mj" or "time_ms"
  std::vector<std::string> header;
  std::vector<Sample> samples;
  // Storage the samples point into: standalone layers, and the features of each resolved network.
  std::vector<std::unique_ptr<LayerFeatures>> own_layers;
  std::vector<std::shared_ptr<const NetworkFeatures>> networks;
  // Rows skipped because their target was empty (not measured), with the reason.
  size_t skipped_unmeasured = 0;
  // Per-layer rows skipped because they are a whole-network run, not a layer: `convergy export` writes one per
  // network and repetition with layer_index -1 and layer "(network)".
  size_t skipped_network_rows = 0;
  // The file merge_test_data() appended (its samples have file 1), "" when none.
  std::string test_path;
};

// Turns a network reference (a path already resolved against the CSV's folder, or a zoo name) into the
// features of the network after graph passes.
using NetworkResolver = std::function<std::shared_ptr<const NetworkFeatures>(const std::string& reference)>;

// Reads the CSV's rows. `resolver` may be empty when the file has no `network` column. Targets must be
// > 0 (relative errors need it); an empty target means "not measured" and the row is skipped and counted.
// Per-layer rows of a whole-network run (layer_index -1 or layer "(network)", as exported) are skipped and
// counted; a layer measured twice (e.g. an export of both profiling modes) is refused with the fix, since
// its network would be counted twice. Measured counter columns (counter_columns()) go into Sample::extra,
// with simd_instructions and memory_accesses derived from the profiler's event names.
Dataset load_dataset(const CsvTable& csv, const std::string& target, const NetworkResolver& resolver);

// Appends the samples of `test` (a second file of the same kind and target) to `train`, with file = 1, so that
// one design matrix serves both: fit on the first file's rows, predict the second's. The header becomes the
// union of both headers (a column one file lacks is empty in its rows). Throws BadInput when the kinds differ.
void merge_test_data(Dataset& train, Dataset test);

// The features of a standalone layer row (the tx2-conv-layers.csv columns; kind Convolution).
LayerFeatures standalone_layer(const CsvTable& csv, size_t row);

// The reference a `network` field names: a .prototxt/.onnx path relative to `csv_path`'s folder, or a zoo name.
std::string resolve_network_reference(const std::string& field, const std::string& csv_path);

}  // namespace convergy::model

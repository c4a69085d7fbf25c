// Slow-ish: imports all 12,534 Jetson Nano networks of the shared data set and checks each parameter count
// (learnable weights) against params_reported in networks.csv. Speed is measured in bench/import_bench.cpp.
#include "import/load.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace convergy {
namespace {

const std::string kNano = std::string(CONVERGY_SHARED_DATA) + "/jetson-nano";

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream s(line);
  std::string cell;
  while (std::getline(s, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

int64_t learnable_params(const Graph& g) {
  int64_t total = 0;
  for (const auto& l : g.layers())
    for (const auto& w : l.weights)
      if (w.learnable) total += w.shape.elems();
  return total;
}

TEST(SlowJetsonNano, EveryNetworkImportsWithTheReportedParameterCount) {
  std::ifstream csv(kNano + "/networks.csv");
  ASSERT_TRUE(csv) << "cannot open " << kNano << "/networks.csv";
  std::string line;
  std::getline(csv, line);
  const auto header = split(line);
  int col_network = -1, col_name = -1, col_params = -1, col_layers = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "network") col_network = static_cast<int>(i);
    if (header[i] == "name") col_name = static_cast<int>(i);
    if (header[i] == "params_reported") col_params = static_cast<int>(i);
    if (header[i] == "layers") col_layers = static_cast<int>(i);
  }
  ASSERT_GE(col_network, 0);
  ASSERT_GE(col_params, 0);
  int rows = 0, mismatches = 0;
  while (std::getline(csv, line)) {
    if (line.empty()) continue;
    const auto cells = split(line);
    ++rows;
    const std::string path = kNano + "/" + cells.at(static_cast<size_t>(col_network));
    Graph g;
    try {
      g = import_caffe_prototxt_file(path);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      if (++mismatches > 10) break;
      continue;
    }
    const int64_t reported = std::stoll(cells.at(static_cast<size_t>(col_params)));
    const int64_t got = learnable_params(g);
    int convs = 0;
    for (const auto& l : g.layers()) convs += l.kind == LayerKind::Convolution;
    const int layers = std::stoi(cells.at(static_cast<size_t>(col_layers)));
    const bool dws = cells.at(static_cast<size_t>(col_name)).ends_with("_DWS");
    if (got != reported || g.name() != cells.at(static_cast<size_t>(col_name)) ||
        convs != (dws ? 2 : 1) * layers) {
      ADD_FAILURE() << path << ": " << got << " parameters, " << convs << " convolutions, name " << g.name()
                    << "; the CSV says " << reported << " parameters and " << layers << " layers";
      if (++mismatches > 10) break;
    }
  }
  EXPECT_EQ(rows, 12534);
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace convergy

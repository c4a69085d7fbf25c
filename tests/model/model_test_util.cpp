// Helpers shared by the model tests (see model_test_util.h).
#include "model_test_util.h"

#include <fstream>
#include <sstream>

namespace convergy::model::test_util {

CsvTable filtered_csv(const std::string& path, const std::string& column, const std::string& value) {
  CsvTable full = CsvTable::read_file(path);
  if (column.empty()) return full;
  int c = full.require_column(column);
  std::string text;
  for (size_t i = 0; i < full.header().size(); ++i) text += (i ? "," : "") + full.header()[i];
  text += '\n';
  for (size_t r = 0; r < full.rows(); ++r) {
    if (full.text(r, c) != value) continue;
    for (size_t i = 0; i < full.header().size(); ++i) text += (i ? "," : "") + full.text(r, static_cast<int>(i));
    text += '\n';
  }
  return CsvTable::parse(text, path);
}

Dataset tx2_rail(const std::string& rail, const std::string& target) {
  return load_dataset(filtered_csv(std::string(CONVERGY_SHARED_DATA) + "/tx2-conv-layers.csv", "rail", rail), target,
                      {});
}

}  // namespace convergy::model::test_util

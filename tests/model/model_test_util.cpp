// Helpers shared by the model tests (see model_test_util.h).
#include "model_test_util.h"

namespace convergy::model::test_util {

CsvTable filtered_csv(const std::string& path, const std::string& column, const std::string& value) {
  CsvTable full = CsvTable::read_file(path);
  return column.empty() ? full : full.where(column, value);
}

Dataset tx2_rail(const std::string& rail, const std::string& target) {
  return load_dataset(filtered_csv(std::string(CONVERGY_SHARED_DATA) + "/tx2-conv-layers.csv", "rail", rail), target,
                      {});
}

}  // namespace convergy::model::test_util

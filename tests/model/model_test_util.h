// Helpers shared by the model tests: loading the shared measurement tables with a row filter.
#pragma once
#include "model/csv.h"
#include "model/dataset.h"

#include <functional>
#include <string>

namespace convergy::model::test_util {

// The CSV at `path` keeping only rows whose `column` equals `value` (all rows if column is empty).
CsvTable filtered_csv(const std::string& path, const std::string& column = {}, const std::string& value = {});

// The TX2 standalone convolution table for one rail ("cpu" or "gpu").
Dataset tx2_rail(const std::string& rail, const std::string& target = "energy_mj");

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs the built `convergy` executable with `args` (a shell fragment).
CliResult run_cli(const std::string& args);

// The message of the convergy::Error that `f` throws, checked to be bad input (exit code 2); "no error" when
// it throws none.
std::string message_of(const std::function<void()>& f);

}  // namespace convergy::model::test_util

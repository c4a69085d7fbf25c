// Running the real convergy executable for the bad-input and limit tests: a child process with a time limit,
// both streams captured, and hostile inputs too large to check in generated on demand.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace convergy::bad_inputs {

namespace fs = std::filesystem;

struct CliRun {
  int exit_code = -1;     // -1 when it did not exit normally
  int signal = 0;         // the signal that ended it, if any
  bool timed_out = false; // killed after the time limit
  double wall_s = 0;
  std::string out, err;
};

// Runs CONVERGY_CLI with `args` in folder `cwd`; kills it after `timeout_s` seconds.
CliRun run_cli(const std::vector<std::string>& args, const fs::path& cwd, double timeout_s);

// Seconds a command may take: 60, times 5 in a sanitizer build; CONVERGY_BAD_INPUT_TIMEOUT_S overrides.
double default_timeout_s();

// The folder of the checked-in corpus (tests/bad_inputs/data).
fs::path data_dir();

// A fresh, empty scratch folder for this test process under `name`; remove_scratch() removes them all.
fs::path scratch_dir(const std::string& name);
void remove_scratch();

// The path of a generated hostile input (created on first use, kept for the process):
//   million_layers.prototxt   10^6 empty layer blocks (7 MB)
//   deep_nesting.prototxt     100,000 nested messages
//   deep_nesting.json         an array nested 100,000 deep (valid JSON, not a model)
//   wide_header.csv           a header of 10^6 columns and no target column
//   relu_chain_<N>.prototxt   N in-place ReLU layers after one input (a valid network)
//   relu_chain_<N>.onnx       N chained Relu nodes (a valid model)
// Throws std::invalid_argument for any other name.
fs::path generated(const std::string& name);

}  // namespace convergy::bad_inputs

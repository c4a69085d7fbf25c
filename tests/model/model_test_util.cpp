// Helpers shared by the model tests (see model_test_util.h).
#include "model_test_util.h"

#include "util/error.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace convergy::model::test_util {

CsvTable filtered_csv(const std::string& path, const std::string& column, const std::string& value) {
  CsvTable full = CsvTable::read_file(path);
  return column.empty() ? full : full.where(column, value);
}

Dataset tx2_rail(const std::string& rail, const std::string& target) {
  return load_dataset(filtered_csv(std::string(CONVERGY_SHARED_DATA) + "/tx2-conv-layers.csv", "rail", rail), target,
                      {});
}

CliResult run_cli(const std::string& args) {
  CliResult r;
  std::string cmd = std::string(CONVERGY_CLI) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "no error";
}

}  // namespace convergy::model::test_util

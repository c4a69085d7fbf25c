// Inputs that crashed a fuzz target (fuzz/), one test each, named after what broke. Each input is checked in
// under data/ exactly as libFuzzer wrote it, and goes through the same entry point the fuzz target calls;
// the test states the clean rejection (or result) that the fix gives.
#include "import/onnx/onnx_import.h"
#include "import/onnx/onnx_reader.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace convergy {
namespace {

using ::testing::HasSubstr;

std::string data_file(const std::string& name) {
  const std::string path = std::string(CONVERGY_SOURCE_DIR) + "/tests/fuzz_regressions/data/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The message of the convergy::Error that `f` throws ("no error" if it returns).
template <typename F>
std::string error_of(F&& f, ErrorKind expected_kind = ErrorKind::BadInput) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), expected_kind) << e.what();
    return e.what();
  }
  return "no error";
}

// A Reshape target built by ConstantOfShape([81]) holds 81 dimensions of 75: the element count of the target
// overflowed int64 (UBSan: signed multiplication overflow in resolve_reshape).
TEST(FuzzRegressions, OnnxReshapeTargetElementCountOverflow) {
  const std::string bytes = data_file("onnx_reshape_target_elements_overflow.onnx");
  const std::string msg = error_of([&] {
    onnx_import::import_model(onnx_import::read_light_model(bytes, "r.onnx"), "r.onnx");
  });
  EXPECT_THAT(msg, HasSubstr("r.onnx: 1 node(s) convergy cannot map"));
  EXPECT_THAT(msg, HasSubstr("(Reshape): target shape 81x75x75"));
  EXPECT_THAT(msg, HasSubstr("has more elements than 64 bits count"));
}

}  // namespace
}  // namespace convergy

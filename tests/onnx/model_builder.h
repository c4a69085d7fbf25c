// Builds small ONNX models in C++ through the ONNX protobuf API, for the importer tests.
#pragma once
#include "graph/graph.h"
#include "import/load.h"

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace convergy::testing {

// A dimension of -1 in input() is symbolic ("N" for the first axis, "d<i>" elsewhere).
class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 13);

  ModelBuilder& input(const std::string& name, const std::vector<int64_t>& dims,
                      int32_t elem_type = onnx::TensorProto::FLOAT);
  ModelBuilder& input_without_shape(const std::string& name);
  ModelBuilder& output(const std::string& name);
  // A float initializer holding zeros (large ones exercise the reader's data skipping).
  ModelBuilder& weight(const std::string& name, const std::vector<int64_t>& dims);
  // A float initializer whose data lives in an external file that does not exist.
  ModelBuilder& external_weight(const std::string& name, const std::vector<int64_t>& dims);
  ModelBuilder& ints(const std::string& name, const std::vector<int64_t>& values, bool scalar = false);
  ModelBuilder& floats(const std::string& name, const std::vector<float>& values, bool scalar = false);

  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "");

  onnx::ModelProto& proto() { return model_; }
  std::string bytes() const;
  // Writes the model to a fresh temporary file and returns its path.
  std::string write(const std::string& stem = "model") const;
  // Writes and imports it.
  Graph import(const LoadOptions& options = {}, const std::string& stem = "model") const;

 private:
  onnx::ModelProto model_;
};

void set_attr(onnx::NodeProto& node, const std::string& name, int64_t value);
void set_attr(onnx::NodeProto& node, const std::string& name, float value);
void set_attr(onnx::NodeProto& node, const std::string& name, const std::string& value);
void set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values);

// The message of the convergy::Error that `f` throws ("" if none), checking it is BadInput and one line.
template <typename F>
std::string bad_input_message(F&& f);

// Totals used by the tests.
uint64_t total_params(const Graph& g);
const Layer& only_layer(const Graph& g, LayerKind kind);  // fails the test when not exactly one

}  // namespace convergy::testing

#include "util/error.h"

#include <gtest/gtest.h>

template <typename F>
std::string convergy::testing::bad_input_message(F&& f) {
  try {
    f();
  } catch (const convergy::Error& e) {
    EXPECT_EQ(e.kind(), convergy::ErrorKind::BadInput) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "not one line: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no convergy::Error was thrown";
  return "";
}

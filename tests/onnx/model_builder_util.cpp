// ModelBuilder: small ONNX models for the importer tests, written with the ONNX protobuf classes.
#include "onnx/model_builder.h"

#include "features/features.h"

#include <atomic>
#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace convergy::testing {

ModelBuilder::ModelBuilder(int opset) {
  model_.set_ir_version(opset >= 15 ? 8 : 7);
  model_.set_producer_name("convergy-tests");
  auto* imp = model_.add_opset_import();
  imp->set_domain("");
  imp->set_version(opset);
  model_.mutable_graph()->set_name("test");
}

ModelBuilder& ModelBuilder::input(const std::string& name, const std::vector<int64_t>& dims,
                                  int32_t elem_type) {
  auto* in = model_.mutable_graph()->add_input();
  in->set_name(name);
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = shape->add_dim();
    if (dims[i] < 0)
      d->set_dim_param(i == 0 ? "N" : "d" + std::to_string(i));
    else
      d->set_dim_value(dims[i]);
  }
  return *this;
}

ModelBuilder& ModelBuilder::input_without_shape(const std::string& name) {
  auto* in = model_.mutable_graph()->add_input();
  in->set_name(name);
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name) {
  model_.mutable_graph()->add_output()->set_name(name);
  return *this;
}

namespace {
onnx::TensorProto& new_tensor(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
                              int32_t type) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  return *t;
}
int64_t count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}
}  // namespace

ModelBuilder& ModelBuilder::weight(const std::string& name, const std::vector<int64_t>& dims) {
  auto& t = new_tensor(model_, name, dims, onnx::TensorProto::FLOAT);
  t.set_raw_data(std::string(static_cast<size_t>(count(dims)) * 4, '\0'));
  return *this;
}

ModelBuilder& ModelBuilder::external_weight(const std::string& name, const std::vector<int64_t>& dims) {
  auto& t = new_tensor(model_, name, dims, onnx::TensorProto::FLOAT);
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = t.add_external_data();
  loc->set_key("location");
  loc->set_value("weights-that-do-not-exist.bin");
  return *this;
}

ModelBuilder& ModelBuilder::ints(const std::string& name, const std::vector<int64_t>& values, bool scalar) {
  auto& t =
      new_tensor(model_, name,
                 scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(values.size())},
                 onnx::TensorProto::INT64);
  for (int64_t v : values) t.add_int64_data(v);
  return *this;
}

ModelBuilder& ModelBuilder::floats(const std::string& name, const std::vector<float>& values, bool scalar) {
  auto& t =
      new_tensor(model_, name,
                 scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(values.size())},
                 onnx::TensorProto::FLOAT);
  for (float v : values) t.add_float_data(v);
  return *this;
}

onnx::NodeProto& ModelBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                                    const std::vector<std::string>& outputs, const std::string& name) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name.empty() ? op + "_" + std::to_string(model_.graph().node_size() - 1) : name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return *n;
}

std::string ModelBuilder::bytes() const { return model_.SerializeAsString(); }

std::string ModelBuilder::write(const std::string& stem) const {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() / ("convergy-onnx-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / (stem + "-" + std::to_string(counter++) + ".onnx");
  std::ofstream out(path, std::ios::binary);
  out << bytes();
  return path.string();
}

Graph ModelBuilder::import(const LoadOptions& options, const std::string& stem) const {
  return import_onnx_file(write(stem), options);
}

void set_attr(onnx::NodeProto& node, const std::string& name, int64_t value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}
void set_attr(onnx::NodeProto& node, const std::string& name, float value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}
void set_attr(onnx::NodeProto& node, const std::string& name, const std::string& value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}
void set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

uint64_t total_params(const Graph& g) { return network_features(g).params; }

const Layer& only_layer(const Graph& g, LayerKind kind) {
  const Layer* found = nullptr;
  int n = 0;
  for (const auto& l : g.layers())
    if (l.kind == kind) {
      found = &l;
      ++n;
    }
  if (n != 1) {
    ADD_FAILURE() << "expected one " << layer_kind_name(kind) << " layer, found " << n;
    static const Layer none;
    return none;
  }
  return *found;
}

}  // namespace convergy::testing

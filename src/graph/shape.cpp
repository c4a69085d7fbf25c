// Shape helpers.
#include "graph/shape.h"

#include "util/checked.h"
#include "util/error.h"

#include <charconv>

namespace convergy {

int dtype_bytes(DataType t) {
  switch (t) {
    case DataType::F32: return 4;
    case DataType::F16: return 2;
    case DataType::I8: return 1;
    case DataType::I32: return 4;
    case DataType::I64: return 8;
  }
  return 4;
}

const char* dtype_name(DataType t) {
  switch (t) {
    case DataType::F32: return "fp32";
    case DataType::F16: return "fp16";
    case DataType::I8: return "int8";
    case DataType::I32: return "int32";
    case DataType::I64: return "int64";
  }
  return "?";
}

int64_t Shape::elems() const {
  auto p = checked_product(dims);
  if (!p || *p > global_limits().max_tensor_elems)
    throw_bad_input("shape {} has too many elements, expected at most {}", str(), limit_text(Limit::TensorElems));
  return *p;
}

std::string Shape::str() const {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s.empty() ? "scalar" : s;
}

Shape parse_shape(const std::string& text, const std::string& what) {
  Shape s;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    int64_t v = 0;
    auto [q, ec] = std::from_chars(p, end, v);
    if (ec == std::errc() && v > global_limits().max_dim)
      throw_bad_input("{}: shape \"{}\" has dimension {}, expected at most {}", what, text, v,
                      limit_text(Limit::Dim));
    if (ec != std::errc() || v <= 0)
      throw_bad_input("{}: shape \"{}\" is malformed, expected positive dimensions like 1x3x224x224", what, text);
    s.dims.push_back(v);
    p = q;
    if (p < end) {
      if (*p != 'x' && *p != 'X' && *p != ',')
        throw_bad_input("{}: shape \"{}\" is malformed, expected positive dimensions like 1x3x224x224", what, text);
      ++p;
      if (p == end)
        throw_bad_input("{}: shape \"{}\" is malformed, expected positive dimensions like 1x3x224x224", what, text);
    }
  }
  if (s.dims.empty()) throw_bad_input("{}: empty shape, expected dimensions like 1x3x224x224", what);
  return s;
}

}  // namespace convergy

// Tensor shapes (NCHW with batch first) and data types.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace convergy {

enum class DataType : uint8_t { F32, F16, I8, I32, I64 };
int dtype_bytes(DataType t);
const char* dtype_name(DataType t);

struct Shape {
  std::vector<int64_t> dims;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : dims(d) {}
  explicit Shape(std::vector<int64_t> d) : dims(std::move(d)) {}

  int rank() const { return static_cast<int>(dims.size()); }
  int64_t operator[](int i) const { return dims.at(static_cast<size_t>(i)); }
  int64_t& operator[](int i) { return dims.at(static_cast<size_t>(i)); }
  // NCHW accessors; a rank-2 shape (N, C) has H = W = 1.
  int64_t n() const { return rank() > 0 ? dims[0] : 1; }
  int64_t c() const { return rank() > 1 ? dims[1] : 1; }
  int64_t h() const { return rank() > 2 ? dims[2] : 1; }
  int64_t w() const { return rank() > 3 ? dims[3] : 1; }
  // Number of elements; throws BadInput on overflow or when over global_limits().
  int64_t elems() const;
  std::string str() const;  // "1x3x224x224"
  bool operator==(const Shape&) const = default;
};

// Parses "1x3x224x224"; throws BadInput naming `what` on a malformed string.
Shape parse_shape(const std::string& text, const std::string& what);

}  // namespace convergy

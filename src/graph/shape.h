// Tensor shapes (NCHW with batch first) and data types.
#pragma once
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <type_traits>
#include <initializer_list>
#include <string>
#include <vector>

namespace convergy {

enum class DataType : uint8_t { F32, F16, I8, I32, I64 };
int dtype_bytes(DataType t);
const char* dtype_name(DataType t);

// The dimensions of a shape: up to kInline of them stored in place, more on the heap. Shapes are copied for
// every layer of every network imported (inputs, outputs, weights), and a std::vector made each copy a heap
// allocation; CNN tensors rarely pass rank 5. Behaves as a std::vector<int64_t> for the uses shapes have.
class Dims {
 public:
  static constexpr size_t kInline = 6;
  using value_type = int64_t;
  using iterator = int64_t*;
  using const_iterator = const int64_t*;
  using size_type = size_t;

  Dims() = default;
  Dims(std::initializer_list<int64_t> d) { assign(d.begin(), d.end()); }
  explicit Dims(const std::vector<int64_t>& d) { assign(d.begin(), d.end()); }
  Dims(const Dims& o) { assign(o.begin(), o.end()); }
  Dims(Dims&& o) noexcept : size_(o.size_), heap_(std::move(o.heap_)) {
    if (size_ <= kInline) std::copy(o.inline_, o.inline_ + size_, inline_);
    o.size_ = 0;
    o.heap_.clear();
  }
  Dims& operator=(const Dims& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  Dims& operator=(Dims&& o) noexcept {
    if (this == &o) return *this;
    size_ = o.size_;
    heap_ = std::move(o.heap_);
    if (size_ <= kInline) std::copy(o.inline_, o.inline_ + size_, inline_);
    o.size_ = 0;
    o.heap_.clear();
    return *this;
  }
  Dims& operator=(std::initializer_list<int64_t> d) {
    assign(d.begin(), d.end());
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return size_ <= kInline ? inline_ : heap_.data(); }
  const int64_t* data() const { return size_ <= kInline ? inline_ : heap_.data(); }
  int64_t* begin() { return data(); }
  int64_t* end() { return data() + size_; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + size_; }
  int64_t& operator[](size_t i) { return data()[i]; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t& at(size_t i) {
    if (i >= size_) throw std::out_of_range("Dims::at");
    return data()[i];
  }
  int64_t at(size_t i) const {
    if (i >= size_) throw std::out_of_range("Dims::at");
    return data()[i];
  }
  int64_t& front() { return data()[0]; }
  int64_t front() const { return data()[0]; }
  int64_t& back() { return data()[size_ - 1]; }
  int64_t back() const { return data()[size_ - 1]; }

  void clear() {
    size_ = 0;
    heap_.clear();
  }
  void push_back(int64_t v) {
    if (size_ < kInline) {
      inline_[size_++] = v;
      return;
    }
    if (size_ == kInline) heap_.assign(inline_, inline_ + kInline);
    heap_.push_back(v);
    ++size_;
  }
  template <typename It, typename = std::enable_if_t<!std::is_integral_v<It>>>
  void assign(It first, It last) {
    // Via a copy when the range may be this object's own storage (assigning a sub-range of itself).
    std::vector<int64_t> tmp;
    const auto n = static_cast<size_t>(std::distance(first, last));
    if (n <= kInline) {
      int64_t buf[kInline];
      std::copy(first, last, buf);
      heap_.clear();
      std::copy(buf, buf + n, inline_);
      size_ = n;
      return;
    }
    tmp.assign(first, last);
    heap_ = std::move(tmp);
    size_ = n;
  }
  void assign(size_t n, int64_t v) {  // NOLINT: not the iterator overload (integral arguments)
    std::vector<int64_t> tmp(n, v);
    assign(tmp.begin(), tmp.end());
  }
  template <typename It, typename = std::enable_if_t<!std::is_integral_v<It>>>
  iterator insert(const_iterator pos, It first, It last) {
    std::vector<int64_t> v = to_vector();
    const auto at = pos - begin();
    v.insert(v.begin() + at, first, last);
    assign(v.begin(), v.end());
    return begin() + at;
  }
  iterator insert(const_iterator pos, int64_t value) {
    const int64_t one[1] = {value};
    return insert(pos, one, one + 1);
  }
  iterator erase(const_iterator pos) {
    std::vector<int64_t> v = to_vector();
    const auto at = pos - begin();
    v.erase(v.begin() + at);
    assign(v.begin(), v.end());
    return begin() + at;
  }
  void resize(size_t n, int64_t v = 0) {
    std::vector<int64_t> tmp = to_vector();
    tmp.resize(n, v);
    assign(tmp.begin(), tmp.end());
  }

  std::vector<int64_t> to_vector() const { return std::vector<int64_t>(begin(), end()); }
  operator std::vector<int64_t>() const { return to_vector(); }
  bool operator==(const Dims& o) const { return std::equal(begin(), end(), o.begin(), o.end()); }
  bool operator==(const std::vector<int64_t>& o) const { return std::equal(begin(), end(), o.begin(), o.end()); }

 private:
  int64_t inline_[kInline] = {};
  size_t size_ = 0;
  std::vector<int64_t> heap_;  // all the dimensions when there are more than kInline
};

struct Shape {
  Dims dims;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : dims(d) {}
  explicit Shape(const std::vector<int64_t>& d) : dims(d) {}
  explicit Shape(Dims d) : dims(std::move(d)) {}

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

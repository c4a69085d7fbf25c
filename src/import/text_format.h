// A hand-written reader for the protobuf text format (Caffe prototxt): it turns text into a tree of
// fields that remembers the line and column of every name and value, so importers can point at them.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace convergy::textproto {

// 1-based line and column (columns count bytes; a tab is one column).
struct Pos {
  uint32_t line = 1, col = 1;
};

enum class ValueKind : uint8_t { Identifier, Integer, Float, String, Message };

// Every view points into the Document's own copy of the text, so a Field is only valid while its Document is.
struct Field {
  std::string_view name;
  Pos pos;        // of the name
  Pos value_pos;  // of the value: the first token after ':' (its '-' if negative), or '{'
  ValueKind kind = ValueKind::Identifier;
  bool negative = false;   // a '-' preceded the number or identifier (e.g. -1, -inf)
  uint32_t message = 0;    // Message: index for Document::message()
  std::string_view token;  // Identifier, Integer, Float: the raw token without the sign
  // String: the decoded bytes, adjacent literals concatenated. A literal without escapes is the text itself;
  // others are decoded in place, over the literal, in the Document's copy of the text.
  std::string_view text;
};
static_assert(std::is_trivially_copyable_v<Field>);

// The fields of one message, a range of the Document's single array of fields (one array for the whole file
// rather than one vector per message: a network file has a message or two per layer).
class FieldList {
 public:
  const Field* begin() const { return data_; }
  const Field* end() const { return data_ + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Field& operator[](size_t i) const { return data_[i]; }
  const Field& at(size_t i) const {
    if (i >= size_) throw std::out_of_range("FieldList::at");
    return data_[i];
  }
  const Field& front() const { return data_[0]; }
  const Field& back() const { return data_[size_ - 1]; }

 private:
  friend class Parser;
  friend class Document;
  const Field* data_ = nullptr;
  size_t size_ = 0;
};

// Fields in file order; a repeated field (or a `[a, b]` list) appears once per value.
struct Message {
  FieldList fields;
  Pos open_pos;  // of the '{' or '<' (1:1 for the root)
};

namespace detail {
// A growable array of a trivially copyable type, grown with realloc: the parser appends fields one at a time
// and copies a closed message's fields in one go, which std::vector does with more work per call. Moving it
// keeps its buffer, so pointers into it survive moving the Document.
template <class T>
class PodArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  PodArray() = default;
  PodArray(const PodArray&) = delete;
  PodArray& operator=(const PodArray&) = delete;
  PodArray(PodArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  PodArray& operator=(PodArray&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  ~PodArray() { std::free(data_); }

  T* data() const { return data_; }
  size_t size() const { return size_; }
  void reserve(size_t n) {
    if (n > capacity_) grow_to(n);
  }
  // A new element at the end, to be assigned.
  T& push() {
    if (size_ == capacity_) grow_to(capacity_ ? 2 * capacity_ : 16);
    return data_[size_++];
  }
  void append(const T* from, size_t n) {
    if (n > capacity_ - size_) grow_to(std::max(2 * capacity_, size_ + n));
    if (n) std::memcpy(static_cast<void*>(data_ + size_), from, n * sizeof(T));
    size_ += n;
  }
  void truncate(size_t n) { size_ = n; }

 private:
  void grow_to(size_t n) {
    void* p = std::realloc(static_cast<void*>(data_), n * sizeof(T));
    if (!p) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
    capacity_ = n;
  }
  T* data_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
};
}  // namespace detail

// The first field of `m` named `name`, or null.
const Field* find_field(const Message& m, std::string_view name);

class Document {
 public:
  // Parses a whole text-format message. Throws BadInput "<filename>:<line>:<col>: <what>, expected <what>"
  // on the first syntax error. Nesting deeper than global_limits().max_nesting is an error, and so is a
  // `counted_root_field` (Caffe's "layer") repeated at the top level more than global_limits().max_layers
  // times: a hostile file fails while it is read, not after it has been held in memory as a whole.
  static Document parse(std::string text, std::string filename, std::string_view counted_root_field = {});

  const std::string& filename() const { return filename_; }
  const Message& root() const { return messages_.front(); }
  const Message& message(const Field& f) const { return messages_.at(f.message); }
  size_t message_count() const { return messages_.size(); }

  // "<filename>:<line>:<col>"
  std::string where(Pos p) const;
  // Throws BadInput "<filename>:<line>:<col>: <what>".
  [[noreturn]] void fail(Pos p, std::string_view what) const;

 private:
  Document() = default;
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

 public:
  Document(Document&&) = default;
  Document& operator=(Document&&) = default;

 private:
  friend class Parser;

  // The text lives on the heap so that the string_views in fields survive moving the Document; moving the
  // vector of fields keeps its buffer, so the messages' FieldLists survive it too. Parsing rewrites the
  // string literals that have escapes or are concatenated (see Field::text), and nothing else.
  std::unique_ptr<std::string> text_;
  std::string filename_;
  std::vector<Message> messages_;
  detail::PodArray<Field> fields_;  // every message's fields, each message's contiguous
};

// Conversions of scalar values, as protobuf's text format defines them. They return nullopt when the
// value has the wrong kind or does not fit; the caller then reports the field with describe().
std::optional<int64_t> to_int(const Field& f);    // 12, -3, 0x1F, 017
std::optional<double> to_double(const Field& f);  // integers, 1.5, .5, 5., 1e-5, 2.5f, inf, -inf, nan
std::optional<bool> to_bool(const Field& f);      // true/false, True/False, t/f, 1/0
// How the value reads in a message: 3.5, -2, MAX, "text" (quoted, shortened), or "a message".
std::string describe(const Field& f);
// "an integer", "a string", ...: the kind of value found, for "got ..." messages.
std::string_view kind_name(ValueKind k);

}  // namespace convergy::textproto

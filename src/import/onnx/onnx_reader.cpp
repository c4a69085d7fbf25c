// Wire-level reader for ONNX files: copies every field of the ModelProto except the bulk data of large
// initializers, then lets protobuf parse the (small) remainder. Weight bytes are never touched.
#include "import/onnx/onnx_reader.h"

#include "util/error.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace convergy::onnx_import {
namespace {

enum WireType : int { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// ModelProto.graph, GraphProto.initializer, TensorProto.name and the TensorProto fields that hold data.
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kTensorName = 8;
bool is_tensor_data_field(uint32_t number) {
  // float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data
  return number == 4 || number == 5 || number == 6 || number == 7 || number == 9 || number == 10 || number == 11;
}

struct Field {
  uint32_t number = 0;
  int wire = 0;
  const uint8_t* start = nullptr;    // first byte of the tag
  const uint8_t* payload = nullptr;  // for length-delimited fields, first byte after the length
  size_t payload_len = 0;
  const uint8_t* end = nullptr;      // one past the field
};

class Scanner {
 public:
  Scanner(const uint8_t* begin, const uint8_t* end, const uint8_t* file_begin, const std::string& path)
      : p_(begin), end_(end), file_begin_(file_begin), path_(path) {}

  // Reads the next field; false at the end of the span.
  bool next(Field& f) {
    if (p_ == end_) return false;
    f.start = p_;
    uint64_t tag = varint();
    f.number = static_cast<uint32_t>(tag >> 3);
    f.wire = static_cast<int>(tag & 7);
    if (f.number == 0) fail("field number 0");
    switch (f.wire) {
      case kVarint:
        varint();
        break;
      case kFixed64:
        advance(8);
        break;
      case kFixed32:
        advance(4);
        break;
      case kLengthDelimited: {
        uint64_t len = varint();
        if (len > static_cast<uint64_t>(end_ - p_)) fail("length runs past the end of the data");
        f.payload = p_;
        f.payload_len = static_cast<size_t>(len);
        p_ += len;
        break;
      }
      default:
        fail("unknown wire type " + std::to_string(f.wire));
    }
    f.end = p_;
    return true;
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) fail("truncated varint");
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  void advance(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("truncated fixed-size field");
    p_ += n;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw_bad_input("{}: not a valid ONNX model: malformed protobuf at byte {} ({})", path_, p_ - file_begin_,
                    what);
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* file_begin_;
  const std::string& path_;
};

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void append_raw(std::string& out, const uint8_t* begin, const uint8_t* end) {
  out.append(reinterpret_cast<const char*>(begin), static_cast<size_t>(end - begin));
}

// Copies a TensorProto, dropping its data fields when together they exceed kKeepDataBytes.
void strip_tensor(const Field& tensor, const uint8_t* file_begin, const std::string& path, std::string& out,
                  LightModel& light) {
  size_t data_bytes = 0;
  std::string name;
  Field f;
  Scanner first(tensor.payload, tensor.payload + tensor.payload_len, file_begin, path);
  while (first.next(f)) {
    if (is_tensor_data_field(f.number)) data_bytes += static_cast<size_t>(f.end - f.start);
    if (f.number == kTensorName && f.wire == kLengthDelimited)
      name.assign(reinterpret_cast<const char*>(f.payload), f.payload_len);
  }
  bool strip = data_bytes > kKeepDataBytes;
  std::string body;
  Scanner second(tensor.payload, tensor.payload + tensor.payload_len, file_begin, path);
  while (second.next(f)) {
    if (strip && is_tensor_data_field(f.number)) continue;
    append_raw(body, f.start, f.end);
  }
  if (strip) light.stripped.insert(name);
  append_varint(out, (uint64_t{kGraphInitializer} << 3) | kLengthDelimited);
  append_varint(out, body.size());
  out += body;
}

class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_bad_input("{}: cannot open: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw_bad_input("{}: not a regular file", path);
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) {
      ::close(fd);
      throw_bad_input("{}: not a valid ONNX model: the file is empty", path);
    }
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) throw_bad_input("{}: cannot map the file: {}", path, std::strerror(errno));
    // The scan jumps over weight data; read-ahead would only pull those pages in.
    ::madvise(m, size_, MADV_RANDOM);
    data_ = static_cast<const uint8_t*>(m);
  }
  ~MappedFile() { ::munmap(const_cast<uint8_t*>(data_), size_); }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

LightModel read_light_model(std::string_view bytes, const std::string& path) {
  LightModel light;
  const auto* begin = reinterpret_cast<const uint8_t*>(bytes.data());
  const auto* end = begin + bytes.size();
  std::string rest, graph;
  bool has_graph = false;
  Scanner model(begin, end, begin, path);
  Field f;
  while (model.next(f)) {
    if (f.number != kModelGraph || f.wire != kLengthDelimited) {
      append_raw(rest, f.start, f.end);
      continue;
    }
    has_graph = true;
    // Repeated occurrences of a message field merge; concatenating their bodies does the same.
    Scanner g(f.payload, f.payload + f.payload_len, begin, path);
    Field gf;
    while (g.next(gf)) {
      if (gf.number == kGraphInitializer && gf.wire == kLengthDelimited)
        strip_tensor(gf, begin, path, graph, light);
      else
        append_raw(graph, gf.start, gf.end);
    }
  }
  if (!light.model.ParseFromString(rest))
    throw_bad_input("{}: not a valid ONNX model: the ModelProto fields do not parse", path);
  if (!has_graph) throw_bad_input("{}: not a valid ONNX model: no graph", path);
  if (!light.model.mutable_graph()->ParseFromString(graph))
    throw_bad_input("{}: not a valid ONNX model: the graph does not parse", path);
  return light;
}

LightModel read_light_model_file(const std::string& path) {
  MappedFile file(path);
  return read_light_model(file.view(), path);
}

}  // namespace convergy::onnx_import

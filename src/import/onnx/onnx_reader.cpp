// Wire-level reader for ONNX files: copies every field of the ModelProto except the bulk data of large
// initializers, then lets protobuf parse the (small) remainder. Weight bytes are never read.
#include "import/onnx/onnx_reader.h"

#include "util/error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  return number == 4 || number == 5 || number == 6 || number == 7 || number == 9 || number == 10 ||
         number == 11;
}

// Where the bytes come from: memory (tests) or a file read with pread. A file is not memory-mapped because
// touching the tag in front of each weight would map whole page-cache folios around it (tens of MiB for
// VGG-16); pread copies only the bytes asked for.
class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  virtual void read(uint64_t offset, size_t n, char* out) const = 0;
};

class MemorySource final : public Source {
 public:
  explicit MemorySource(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  void read(uint64_t offset, size_t n, char* out) const override {
    std::memcpy(out, bytes_.data() + offset, n);
  }

 private:
  std::string_view bytes_;
};

class FileSource final : public Source {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw_bad_input("{}: cannot open: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw_bad_input("{}: not a regular file", path);
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ == 0) {
      ::close(fd_);
      throw_bad_input("{}: not a valid ONNX model: the file is empty", path);
    }
    // The scan jumps over weight data; read-ahead would only pull those pages in.
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, size_t n, char* out) const override {
    while (n > 0) {
      const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw_bad_input("{}: read failed at byte {}: {}", path_, offset,
                        got < 0 ? std::strerror(errno) : "end of file");
      out += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// A small read cache in front of a Source, for tags and lengths.
class Bytes {
 public:
  explicit Bytes(const Source& src) : src_(src) {}
  uint8_t at(uint64_t offset) {
    if (offset < start_ || offset >= start_ + buf_.size()) {
      const uint64_t n = std::min<uint64_t>(kWindow, src_.size() - offset);
      buf_.resize(static_cast<size_t>(n));
      src_.read(offset, buf_.size(), buf_.data());
      start_ = offset;
    }
    return static_cast<uint8_t>(buf_[static_cast<size_t>(offset - start_)]);
  }
  void append(std::string& out, uint64_t begin, uint64_t end) {
    const size_t old = out.size();
    out.resize(old + static_cast<size_t>(end - begin));
    src_.read(begin, static_cast<size_t>(end - begin), out.data() + old);
  }
  const Source& source() const { return src_; }

 private:
  static constexpr uint64_t kWindow = 64 * 1024;
  const Source& src_;
  std::string buf_;
  uint64_t start_ = 0;
};

struct Field {
  uint32_t number = 0;
  int wire = 0;
  uint64_t start = 0;    // first byte of the tag
  uint64_t payload = 0;  // for length-delimited fields, first byte after the length
  uint64_t payload_len = 0;
  uint64_t end = 0;  // one past the field
};

class Scanner {
 public:
  Scanner(Bytes& bytes, uint64_t begin, uint64_t end, const std::string& path)
      : bytes_(bytes), p_(begin), end_(end), path_(path) {}

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
        if (len > end_ - p_) fail("length runs past the end of the data");
        f.payload = p_;
        f.payload_len = len;
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
      uint8_t b = bytes_.at(p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  void advance(uint64_t n) {
    if (end_ - p_ < n) fail("truncated fixed-size field");
    p_ += n;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw_bad_input("{}: not a valid ONNX model: malformed protobuf at byte {} ({})", path_, p_, what);
  }

  Bytes& bytes_;
  uint64_t p_;
  uint64_t end_;
  const std::string& path_;
};

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Copies a TensorProto, dropping its data fields when together they exceed kKeepDataBytes.
void strip_tensor(Bytes& bytes, const Field& tensor, const std::string& path, std::string& out,
                  LightModel& light) {
  uint64_t data_bytes = 0;
  std::string name;
  Field f;
  Scanner first(bytes, tensor.payload, tensor.payload + tensor.payload_len, path);
  while (first.next(f)) {
    if (is_tensor_data_field(f.number)) data_bytes += f.end - f.start;
    if (f.number == kTensorName && f.wire == kLengthDelimited) {
      name.clear();
      bytes.append(name, f.payload, f.payload + f.payload_len);
    }
  }
  const bool strip = data_bytes > kKeepDataBytes;
  std::string body;
  Scanner second(bytes, tensor.payload, tensor.payload + tensor.payload_len, path);
  while (second.next(f)) {
    if (strip && is_tensor_data_field(f.number)) continue;
    bytes.append(body, f.start, f.end);
  }
  if (strip) light.stripped.insert(name);
  append_varint(out, (uint64_t{kGraphInitializer} << 3) | kLengthDelimited);
  append_varint(out, body.size());
  out += body;
}

LightModel read_light(const Source& src, const std::string& path) {
  LightModel light;
  Bytes bytes(src);
  std::string rest, graph;
  bool has_graph = false;
  Scanner model(bytes, 0, src.size(), path);
  Field f;
  while (model.next(f)) {
    if (f.number != kModelGraph || f.wire != kLengthDelimited) {
      bytes.append(rest, f.start, f.end);
      continue;
    }
    has_graph = true;
    // Repeated occurrences of a message field merge; concatenating their bodies does the same.
    Scanner g(bytes, f.payload, f.payload + f.payload_len, path);
    Field gf;
    while (g.next(gf)) {
      if (gf.number == kGraphInitializer && gf.wire == kLengthDelimited)
        strip_tensor(bytes, gf, path, graph, light);
      else
        bytes.append(graph, gf.start, gf.end);
    }
  }
  if (!light.model.ParseFromString(rest))
    throw_bad_input("{}: not a valid ONNX model: the ModelProto fields do not parse", path);
  if (!has_graph) throw_bad_input("{}: not a valid ONNX model: no graph", path);
  if (!light.model.mutable_graph()->ParseFromString(graph))
    throw_bad_input("{}: not a valid ONNX model: the graph does not parse", path);
  return light;
}

}  // namespace

LightModel read_light_model(std::string_view bytes, const std::string& path) {
  if (bytes.empty()) throw_bad_input("{}: not a valid ONNX model: no data", path);
  return read_light(MemorySource(bytes), path);
}

LightModel read_light_model_file(const std::string& path) { return read_light(FileSource(path), path); }

}  // namespace convergy::onnx_import

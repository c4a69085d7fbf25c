// Caffe NetParameter (prototxt) -> Graph. Each Caffe layer type is one small conversion function with the
// schema of its *_param message, registered in one table; Caffe's defaults live here, shapes in the graph.
#include "import/caffe/caffe_import.h"

#include "import/caffe/upgrade.h"
#include "import/text_format.h"
#include "util/checked.h"
#include "util/error.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

namespace convergy {

namespace {

using textproto::Document;
using textproto::Field;
using textproto::find_field;
using textproto::Message;
using textproto::Pos;
using textproto::ValueKind;

// One field of a Caffe message. Singular fields given twice are an error, as in protobuf.
struct FieldSpec {
  std::string_view name;
  bool repeated = false;
  bool message = false;  // a nested message; its contents are read by the converter or ignored
};

struct EnumValue {
  std::string_view name;
  int number;
};

std::string join_names(std::span<const FieldSpec> specs) {
  std::string s;
  for (const auto& f : specs) {
    if (!s.empty()) s += ", ";
    s += f.name;
  }
  return s;
}

template <typename Where>
std::string where_text(const Where& where) {
  if constexpr (std::is_invocable_v<const Where&>)
    return where();
  else
    return std::string(where);
}

// Equal names; the first bytes are compared before memcmp is called, since most names a field is compared
// with differ there.
bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         (a.empty() || (a[0] == b[0] && std::memcmp(a.data(), b.data(), a.size()) == 0));
}

struct NoVisit {
  void operator()(size_t, const Field&) const {}
};

// True when every field of `msg` passes check_fields, found in one pass over the fields: each name is looked
// up once and a singular field given twice is caught by a bit per spec. This runs for every layer of every
// network imported; check_fields then runs in full only to word the message of a file that has an error.
// `visit(i, field)` is called for each field that has a spec, `i` its index in `specs`, so a caller can sort
// the fields without comparing their names again.
template <typename Visit = NoVisit>
bool fields_valid(const Message& msg, std::span<const FieldSpec> specs, bool any_param, Visit&& visit = {}) {
  if (specs.size() > 64) return false;
  uint64_t seen = 0;
  for (const Field& f : msg.fields) {
    size_t i = 0;
    while (i < specs.size() && !same_name(specs[i].name, f.name)) ++i;
    if (i == specs.size()) {
      if (any_param && f.name.size() > 6 && f.name.ends_with("_param") && f.kind == ValueKind::Message)
        continue;
      return false;
    }
    const FieldSpec& spec = specs[i];
    if (spec.message != (f.kind == ValueKind::Message)) return false;
    if (!spec.repeated) {
      if (seen & (uint64_t{1} << i)) return false;
      seen |= uint64_t{1} << i;
    }
    visit(i, f);
  }
  return true;
}

// Checks every field of `msg` against `specs`: unknown names (typos), singular fields given twice, and a
// message where a value belongs or the other way round. With `any_param`, every `*_param` message is also
// accepted (a layer may carry parameters for types it is not). `fail(pos, what)` adds the context.
// `where` names the message, as a string or as a function that builds the name (only for a message).
template <typename Where, typename Fail>
void check_fields(const Message& msg, std::span<const FieldSpec> specs, const Where& where, Fail&& fail,
                  bool any_param = false) {
  if (fields_valid(msg, specs, any_param)) return;
  for (size_t i = 0; i < msg.fields.size(); ++i) {
    const Field& f = msg.fields[i];
    const FieldSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == f.name) spec = &s;
    if (!spec && any_param && f.name.size() > 6 && f.name.ends_with("_param")) {
      if (f.kind != ValueKind::Message)
        fail(f.value_pos,
             fmt::format("{} {}, expected a message {} {{ ... }}", f.name, textproto::describe(f), f.name));
      continue;
    }
    if (!spec)
      fail(f.pos, fmt::format("unknown field \"{}\" in {}, expected one of {}{}", f.name, where_text(where),
                              join_names(specs), any_param ? " or a *_param message" : ""));
    if (spec->message && f.kind != ValueKind::Message)
      fail(f.value_pos,
           fmt::format("{} {}, expected a message {} {{ ... }}", f.name, textproto::describe(f), f.name));
    if (!spec->message && f.kind == ValueKind::Message)
      fail(f.value_pos, fmt::format("{} is a message, expected a value", f.name));
    if (!spec->repeated) {
      for (size_t j = 0; j < i; ++j)
        if (msg.fields[j].name == f.name)
          fail(f.pos, fmt::format("{} is given twice (first at line {}), expected it once", f.name,
                                  msg.fields[j].pos.line));
    }
  }
}

// Context of one layer: where it is, its inputs, and typed reads of its *_param message. All messages
// come out as `file:line:col: layer "name": what, expected what`.
class LayerCtx {
 public:
  LayerCtx(const Document& doc, std::string_view layer_name, const Message* param,
           std::string_view param_name, const std::vector<const Shape*>& inputs, size_t n_tops)
      : doc_(doc),
        name_(layer_name),
        param_(param),
        param_name_(param_name),
        inputs_(inputs),
        n_tops_(n_tops) {}

  [[noreturn]] void fail(Pos p, std::string_view what) const {
    doc_.fail(p, fmt::format("layer \"{}\": {}", name_, what));
  }
  const Shape& input(size_t i) const { return *inputs_.at(i); }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_tops() const { return n_tops_; }
  std::string_view param_name() const { return param_name_; }

  const Field* find(std::string_view field) const { return param_ ? find_field(*param_, field) : nullptr; }
  const Message* param() const { return param_; }
  std::vector<const Field*> all(std::string_view field) const {
    std::vector<const Field*> r;
    if (param_)
      for (const auto& f : param_->fields)
        if (f.name == field) r.push_back(&f);
    return r;
  }

  int64_t to_int(const Field& f, int64_t min, int64_t max) const {
    // A bound that is the dimension limit says which option raises it (built only for a message).
    auto max_text = [&] { return max == max_size() ? limit_text(Limit::Dim) : std::to_string(max); };
    auto v = textproto::to_int(f);
    if (!v) {
      if (f.kind == ValueKind::Integer)
        fail(f.value_pos, fmt::format("{} {} does not fit in 64 bits, expected at most {}", f.name,
                                      textproto::describe(f), max_text()));
      fail(f.value_pos, fmt::format("{} {}, expected an integer", f.name, textproto::describe(f)));
    }
    if (*v < min) fail(f.value_pos, fmt::format("{} {}, expected >= {}", f.name, *v, min));
    if (*v > max) fail(f.value_pos, fmt::format("{} {}, expected <= {}", f.name, *v, max_text()));
    return *v;
  }
  // Sizes (kernels, strides, channels) are bounded by the dimension limit, so later products cannot
  // overflow and an absurd value is reported where it was written.
  static int64_t max_size() { return global_limits().max_dim; }

  std::optional<int64_t> opt_int(std::string_view field, int64_t min, int64_t max) const {
    const Field* f = find(field);
    if (!f) return std::nullopt;
    return to_int(*f, min, max);
  }
  int64_t get_int(std::string_view field, int64_t def, int64_t min, int64_t max) const {
    return get_int(find(field), def, min, max);
  }
  int64_t required_int(std::string_view field, int64_t min, int64_t max) const {
    return required_int(find(field), field, min, max);
  }
  // The same reads of a field found already (null when absent), for converters that find all their fields
  // in one pass (ParamFields).
  int64_t get_int(const Field* f, int64_t def, int64_t min, int64_t max) const {
    return f ? to_int(*f, min, max) : def;
  }
  int64_t required_int(const Field* f, std::string_view field, int64_t min, int64_t max) const {
    if (!f) fail(param_pos(), fmt::format("{} has no {}, expected {} >= {}", param_name_, field, field, min));
    return to_int(*f, min, max);
  }
  float to_float(const Field& f) const {
    auto v = textproto::to_double(f);
    if (!v) fail(f.value_pos, fmt::format("{} {}, expected a number", f.name, textproto::describe(f)));
    if (!std::isfinite(*v) || std::abs(*v) > 3.4e38)
      fail(f.value_pos, fmt::format("{} {}, expected a finite 32-bit float", f.name, textproto::describe(f)));
    return static_cast<float>(*v);
  }
  float get_float(std::string_view field, float def) const {
    const Field* f = find(field);
    return f ? to_float(*f) : def;
  }
  std::optional<float> opt_float(std::string_view field) const {
    const Field* f = find(field);
    if (!f) return std::nullopt;
    return to_float(*f);
  }
  bool get_bool(std::string_view field, bool def) const { return get_bool(find(field), def); }
  bool get_bool(const Field* f, bool def) const {
    if (!f) return def;
    auto v = textproto::to_bool(*f);
    if (!v)
      fail(f->value_pos, fmt::format("{} {}, expected true or false", f->name, textproto::describe(*f)));
    return *v;
  }
  int get_enum(std::string_view field, int def, std::span<const EnumValue> values) const {
    return get_enum(find(field), def, values);
  }
  int get_enum(const Field* f, int def, std::span<const EnumValue> values) const {
    if (!f) return def;
    if (f->kind == ValueKind::Identifier && !f->negative) {
      for (const auto& v : values)
        if (v.name == f->token) return v.number;
    } else if (auto n = textproto::to_int(*f)) {
      for (const auto& v : values)
        if (v.number == *n) return v.number;
    }
    std::string names;
    for (const auto& v : values) names += (names.empty() ? "" : ", ") + std::string(v.name);
    fail(f->value_pos, fmt::format("{} {}, expected one of {}", f->name, textproto::describe(*f), names));
  }
  Pos param_pos() const { return param_ ? param_->open_pos : layer_pos_; }
  void set_layer_pos(Pos p) { layer_pos_ = p; }
  const Document& doc() const { return doc_; }

  // Normalises a Caffe axis (negative counts from the end) against the rank of input 0.
  int axis(const Field* f, int64_t value, int rank) const {
    const int64_t a = value < 0 ? value + rank : value;
    if (a < 0 || a >= rank)
      fail(f ? f->value_pos : param_pos(),
           fmt::format("axis {} is out of range for input {}, expected {} to {}", value, input(0).str(),
                       -rank, rank - 1));
    return static_cast<int>(a);
  }

 private:
  const Document& doc_;
  std::string_view name_;
  const Message* param_;
  std::string_view param_name_;
  // The shapes of the graph's blobs, which do not change while the layer is converted.
  const std::vector<const Shape*>& inputs_;
  size_t n_tops_;
  Pos layer_pos_;
};

struct Conversion {
  LayerKind kind;
  LayerParams params;
};

// Names a converter reads, found in one pass over its *_param message (a convolution looked up a dozen
// names, each a scan of the message): the first three fields of each name, and how many there are.
template <size_t N>
class ParamFields {
 public:
  ParamFields(const Message* param, const std::array<std::string_view, N>& names) {
    if (!param) return;
    for (const Field& f : param->fields)
      for (size_t i = 0; i < N; ++i)
        if (f.name == names[i]) {
          if (count_[i] < 3) fields_[i][count_[i]] = &f;
          ++count_[i];
          break;
        }
  }
  const Field* get(size_t i) const { return fields_[i][0]; }  // the first, or null
  const Field* const* first_three(size_t i) const { return fields_[i]; }
  size_t count(size_t i) const { return count_[i]; }

 private:
  const Field* fields_[N][3] = {};
  size_t count_[N] = {};
};

// window() on fields found already: `fh` and `fw` the first fields named h_name and w_name, `values` the
// first three of `repeated` and `n_values` their count.
std::optional<std::pair<int64_t, int64_t>> window_of(const LayerCtx& c, std::string_view repeated,
                                                     std::string_view h_name, std::string_view w_name,
                                                     const Field* fh, const Field* fw,
                                                     const Field* const* values, size_t n_values, int64_t min,
                                                     std::optional<int64_t> lone_default = std::nullopt) {
  if (fh || fw) {
    if (n_values > 0)
      c.fail(values[0]->pos,
             fmt::format("{} and {}/{} are both given, expected one of them", repeated, h_name, w_name));
    if ((!fh || !fw) && !lone_default)
      c.fail((fh ? fh : fw)->pos,
             fmt::format("{} without {}, expected both", fh ? h_name : w_name, fh ? w_name : h_name));
    return std::pair{fh ? c.to_int(*fh, min, LayerCtx::max_size()) : *lone_default,
                     fw ? c.to_int(*fw, min, LayerCtx::max_size()) : *lone_default};
  }
  if (n_values == 0) return std::nullopt;
  if (n_values > 2)
    c.fail(values[2]->pos, fmt::format("{} {} values, expected 1 or 2 for a 2-D layer", n_values, repeated));
  const int64_t h = c.to_int(*values[0], min, LayerCtx::max_size());
  const int64_t w = n_values == 2 ? c.to_int(*values[1], min, LayerCtx::max_size()) : h;
  return std::pair{h, w};
}

// Reads a 2-D window attribute given either as `<repeated>` (1 value for both axes, or 2 values for H
// and W) or as `<base>_h` + `<base>_w`. Returns nullopt when neither is given. Caffe wants both _h and _w,
// except for convolution padding, whose _h and _w each default to 0 (`lone_default`).
std::optional<std::pair<int64_t, int64_t>> window(const LayerCtx& c, std::string_view repeated,
                                                  std::string_view base, int64_t min,
                                                  std::optional<int64_t> lone_default = std::nullopt) {
  // The names are built in place and the values counted without a list. `base` is one of our own short names.
  char h_buf[32], w_buf[32];
  auto suffixed = [&](char* buf, char axis) {
    const size_t n = std::min<size_t>(base.size(), sizeof h_buf - 2);
    std::memcpy(buf, base.data(), n);
    buf[n] = '_';
    buf[n + 1] = axis;
    return std::string_view(buf, n + 2);
  };
  const std::string_view h_name = suffixed(h_buf, 'h'), w_name = suffixed(w_buf, 'w');
  const Field* values[3] = {nullptr, nullptr, nullptr};  // the first three values of `repeated`
  size_t n_values = 0;
  if (const Message* m = c.param())
    for (const auto& f : m->fields)
      if (f.name == repeated && n_values++ < 3) values[n_values - 1] = &f;
  return window_of(c, repeated, h_name, w_name, c.find(h_name), c.find(w_name), values, n_values, min,
                   lone_default);
}

// ---- one converter per Caffe layer type -------------------------------------------------------------

constexpr FieldSpec kConvolutionFields[] = {{"num_output"},
                                            {"bias_term"},
                                            {"pad", true},
                                            {"kernel_size", true},
                                            {"stride", true},
                                            {"dilation", true},
                                            {"pad_h"},
                                            {"pad_w"},
                                            {"kernel_h"},
                                            {"kernel_w"},
                                            {"stride_h"},
                                            {"stride_w"},
                                            {"group"},
                                            {"weight_filler", false, true},
                                            {"bias_filler", false, true},
                                            {"engine"},
                                            {"axis"},
                                            {"force_nd_im2col"}};

ConvParams read_conv_params(const LayerCtx& c) {
  // The most common names first: each field is compared with the names in this order.
  enum : size_t {
    NumOutput,
    KernelSize,
    Stride,
    Pad,
    BiasTerm,
    Group,
    Dilation,
    Axis,
    KernelH,
    KernelW,
    StrideH,
    StrideW,
    PadH,
    PadW,
    kNames
  };
  static constexpr std::array<std::string_view, kNames> names = {
      "num_output", "kernel_size", "stride",   "pad",      "bias_term", "group", "dilation",
      "axis",       "kernel_h",    "kernel_w", "stride_h", "stride_w",  "pad_h", "pad_w"};
  const ParamFields<kNames> f(c.param(), names);
  auto win = [&](size_t repeated, size_t h, size_t w, int64_t min, std::optional<int64_t> lone_default) {
    return window_of(c, names[repeated], names[h], names[w], f.get(h), f.get(w), f.first_three(repeated),
                     f.count(repeated), min, lone_default);
  };
  ConvParams p;
  p.num_output = c.required_int(f.get(NumOutput), "num_output", 1, LayerCtx::max_size());
  p.bias = c.get_bool(f.get(BiasTerm), true);
  p.groups = c.get_int(f.get(Group), 1, 1, LayerCtx::max_size());
  if (const Field* a_field = f.get(Axis)) {
    const int64_t a = c.to_int(*a_field, -64, 64);
    if (c.axis(a_field, a, c.input(0).rank()) != 1)
      c.fail(a_field->value_pos, fmt::format("axis {}, expected 1 (channels of an NCHW input)", a));
  }
  auto kernel = win(KernelSize, KernelH, KernelW, 1, std::nullopt);
  if (!kernel)
    c.fail(c.param_pos(), fmt::format("{} has no kernel size, expected kernel_size or kernel_h and kernel_w",
                                      c.param_name()));
  std::tie(p.kernel_h, p.kernel_w) = *kernel;
  std::tie(p.stride_h, p.stride_w) = win(Stride, StrideH, StrideW, 1, std::nullopt).value_or(std::pair{1, 1});
  int64_t pad_h = 0, pad_w = 0;
  std::tie(pad_h, pad_w) = win(Pad, PadH, PadW, 0, 0).value_or(std::pair{0, 0});
  p.pad_top = p.pad_bottom = pad_h;
  p.pad_left = p.pad_right = pad_w;
  // Caffe has no dilation_h/_w (the schema refuses them): only the repeated field.
  std::tie(p.dilation_h, p.dilation_w) = window_of(c, "dilation", "dilation_h", "dilation_w", nullptr,
                                                   nullptr, f.first_three(Dilation), f.count(Dilation), 1)
                                             .value_or(std::pair{1, 1});
  return p;
}

Conversion convert_convolution(const LayerCtx& c) { return {LayerKind::Convolution, read_conv_params(c)}; }
Conversion convert_deconvolution(const LayerCtx& c) { return {LayerKind::Deconvolution, read_conv_params(c)}; }

// The depthwise forks (ConvolutionDepthwise, DepthwiseConvolution) take convolution_param and one group
// per input channel, whatever `group` says.
Conversion convert_depthwise(const LayerCtx& c) {
  ConvParams p = read_conv_params(c);
  p.groups = c.input(0).rank() >= 2 ? c.input(0).c() : 1;
  return {LayerKind::Convolution, p};
}

constexpr FieldSpec kInnerProductFields[] = {
    {"num_output"}, {"bias_term"}, {"weight_filler", false, true}, {"bias_filler", false, true},
    {"axis"},       {"transpose"}};

Conversion convert_inner_product(const LayerCtx& c) {
  InnerProductParams p;
  p.num_output = c.required_int("num_output", 1, LayerCtx::max_size());
  p.bias = c.get_bool("bias_term", true);
  if (const Field* f = c.find("axis")) p.axis = c.axis(f, c.to_int(*f, -64, 64), c.input(0).rank());
  return {LayerKind::InnerProduct, p};
}

constexpr FieldSpec kPoolingFields[] = {
    {"pool"},   {"pad"},      {"pad_h"},    {"pad_w"},  {"kernel_size"},    {"kernel_h"},   {"kernel_w"},
    {"stride"}, {"stride_h"}, {"stride_w"}, {"engine"}, {"global_pooling"}, {"round_mode"}, {"ceil_mode"}};
constexpr EnumValue kPoolMethods[] = {{"MAX", 0}, {"AVE", 1}, {"STOCHASTIC", 2}};
constexpr EnumValue kRoundModes[] = {{"CEIL", 0}, {"FLOOR", 1}};

Conversion convert_pooling(const LayerCtx& c) {
  enum : size_t {
    Pool,
    KernelSize,
    Stride,
    Pad,
    GlobalPooling,
    KernelH,
    KernelW,
    StrideH,
    StrideW,
    PadH,
    PadW,
    RoundMode,
    CeilMode,
    kNames
  };
  static constexpr std::array<std::string_view, kNames> names = {
      "pool",     "kernel_size", "stride", "pad",   "global_pooling", "kernel_h", "kernel_w",
      "stride_h", "stride_w",    "pad_h",  "pad_w", "round_mode",     "ceil_mode"};
  const ParamFields<kNames> fields(c.param(), names);
  auto win = [&](size_t repeated, size_t h, size_t w, int64_t min) {
    return window_of(c, names[repeated], names[h], names[w], fields.get(h), fields.get(w),
                     fields.first_three(repeated), fields.count(repeated), min);
  };
  PoolParams p;
  const int method = c.get_enum(fields.get(Pool), 0, kPoolMethods);
  if (method == 2)
    c.fail(fields.get(Pool)->value_pos, "pool STOCHASTIC is a training-time method, expected MAX or AVE");
  p.method = method == 0 ? PoolMethod::Max : PoolMethod::Average;
  p.global = c.get_bool(fields.get(GlobalPooling), false);
  auto kernel = win(KernelSize, KernelH, KernelW, 1);
  if (p.global) {
    if (kernel) {
      const Field* f = fields.get(KernelSize);
      c.fail((f ? f : fields.get(KernelH))->pos,
             "a kernel size is given with global_pooling, expected one of them");
    }
  } else if (!kernel) {
    c.fail(c.param_pos(),
           "pooling_param has no kernel size, expected kernel_size, kernel_h and kernel_w, or "
           "global_pooling: true");
  } else {
    std::tie(p.kernel_h, p.kernel_w) = *kernel;
  }
  std::tie(p.stride_h, p.stride_w) = win(Stride, StrideH, StrideW, 1).value_or(std::pair{1, 1});
  int64_t pad_h = 0, pad_w = 0;
  std::tie(pad_h, pad_w) = win(Pad, PadH, PadW, 0).value_or(std::pair{0, 0});
  p.pad_top = p.pad_bottom = pad_h;
  p.pad_left = p.pad_right = pad_w;
  if (p.global && (pad_h || pad_w || p.stride_h != 1 || p.stride_w != 1))
    c.fail(c.param_pos(), "global_pooling with padding or a stride, expected pad 0 and stride 1");
  p.rounding =
      c.get_enum(fields.get(RoundMode), 0, kRoundModes) == 0 ? PoolRounding::Ceil : PoolRounding::Floor;
  // `ceil_mode` comes from Caffe forks (e.g. for PyTorch-converted models); it cannot contradict round_mode.
  if (const Field* f = fields.get(CeilMode)) {
    const bool ceil = c.get_bool(f, true);
    if (fields.get(RoundMode) && ceil != (p.rounding == PoolRounding::Ceil))
      c.fail(f->pos, "ceil_mode contradicts round_mode, expected only one of them");
    p.rounding = ceil ? PoolRounding::Ceil : PoolRounding::Floor;
  }
  p.count_include_pad = true;  // Caffe's average divides by the window clipped to the padded input
  p.clip_window = true;        // and, like Caffe, a kernel larger than the padded input gives one clipped window
  return {LayerKind::Pooling, p};
}

// BVLC Caffe's spatial pyramid pooling: level l pools the input into 2^l x 2^l bins; the levels are flattened
// and concatenated into N x (C * sum of 4^l). convergy has no kernel for it: a zero-cost layer of that shape.
constexpr FieldSpec kSppFields[] = {{"pyramid_height"}, {"pool"}, {"engine"}};
Conversion convert_spp(const LayerCtx& c) {
  const int64_t height = c.get_int("pyramid_height", 1, 1, 16);
  c.get_enum("pool", 0, kPoolMethods);
  const Shape& in = c.input(0);
  if (in.rank() != 4) c.fail(c.param_pos(), fmt::format("input shape {}, expected NCHW (rank 4)", in.str()));
  int64_t bins = 0;
  for (int64_t l = 0; l < height; ++l) bins += int64_t{1} << (2 * l);
  if (in.c() > LayerCtx::max_size() / bins)
    c.fail(c.param_pos(), fmt::format("{} channels x {} bins overflows", in.c(), bins));
  OpaqueParams p{"SPP (spatial pyramid pooling)", {Shape{in.n(), in.c() * bins}}};
  return {LayerKind::Opaque, p};
}

constexpr FieldSpec kReluFields[] = {{"negative_slope"}, {"engine"}};
Conversion convert_relu(const LayerCtx& c) {
  const float slope = c.get_float("negative_slope", 0.0f);
  if (slope != 0.0f) return {LayerKind::LeakyReLU, LeakyReLUParams{slope}};
  return {LayerKind::ReLU, NoParams{}};
}

Conversion convert_relu6(const LayerCtx&) { return {LayerKind::Clip, ClipParams{0.0f, 6.0f}}; }

constexpr FieldSpec kClipFields[] = {{"min"}, {"max"}};
Conversion convert_clip(const LayerCtx& c) {
  auto lo = c.opt_float("min"), hi = c.opt_float("max");
  // Both are `required` in caffe.proto.
  if (!lo || !hi)
    c.fail(c.param_pos(), fmt::format("clip_param has no {}, expected both min and max", lo ? "max" : "min"));
  if (*lo > *hi)
    c.fail(c.find("min")->value_pos,
           fmt::format("min {} is greater than max {}, expected min <= max", *lo, *hi));
  return {LayerKind::Clip, ClipParams{*lo, *hi}};
}

constexpr FieldSpec kPreluFields[] = {{"filler", false, true}, {"channel_shared"}};
Conversion convert_prelu(const LayerCtx& c) {
  return {LayerKind::PReLU, PReLUParams{c.get_bool("channel_shared", false)}};
}

constexpr FieldSpec kEngineFields[] = {{"engine"}};
Conversion convert_sigmoid(const LayerCtx&) { return {LayerKind::Sigmoid, NoParams{}}; }
Conversion convert_tanh(const LayerCtx&) { return {LayerKind::TanH, NoParams{}}; }
Conversion convert_hard_swish(const LayerCtx&) { return {LayerKind::HardSwish, NoParams{}}; }
Conversion convert_split(const LayerCtx&) { return {LayerKind::Split, NoParams{}}; }

constexpr FieldSpec kSwishFields[] = {{"beta"}};
Conversion convert_swish(const LayerCtx& c) {
  if (const Field* f = c.find("beta"); f && c.to_float(*f) != 1.0f)
    c.fail(f->value_pos,
           fmt::format("beta {}, expected 1 (Swish is x * sigmoid(x))", textproto::describe(*f)));
  return {LayerKind::Swish, NoParams{}};
}

constexpr FieldSpec kHardSigmoidFields[] = {{"alpha"}, {"beta"}};
Conversion convert_hard_sigmoid(const LayerCtx& c) {
  return {LayerKind::HardSigmoid, HardSigmoidParams{c.get_float("alpha", 0.2f), c.get_float("beta", 0.5f)}};
}

// Caffe's Power layer: y = (shift + scale * x) ^ power.
constexpr FieldSpec kPowerFields[] = {{"power"}, {"scale"}, {"shift"}};
Conversion convert_power(const LayerCtx& c) {
  return {LayerKind::Power,
          PowerParams{c.get_float("power", 1.0f), c.get_float("scale", 1.0f), c.get_float("shift", 0.0f)}};
}

// convergy's own layer types for ConvNeXt-style networks (no upstream Caffe has them): GELU (the erf form)
// and LayerNorm over the axes from `axis` (default the last), with a learned scale and shift unless affine:
// false.
Conversion convert_gelu(const LayerCtx&) { return {LayerKind::GELU, NoParams{}}; }

constexpr FieldSpec kLayerNormFields[] = {{"axis"}, {"eps"}, {"affine"}};
Conversion convert_layer_norm(const LayerCtx& c) {
  LayerNormParams p;
  if (const Field* f = c.find("axis")) p.axis = c.axis(f, c.to_int(*f, -64, 64), c.input(0).rank());
  p.eps = c.get_float("eps", 1e-5f);
  p.affine = c.get_bool("affine", true);
  return {LayerKind::LayerNorm, p};
}

constexpr FieldSpec kBatchNormFields[] = {{"use_global_stats"}, {"moving_average_fraction"}, {"eps"}};
Conversion convert_batch_norm(const LayerCtx& c) {
  BatchNormParams p;
  p.eps = c.get_float("eps", 1e-5f);
  p.affine = false;  // Caffe's BatchNorm only normalises; a Scale layer carries gamma and beta
  return {LayerKind::BatchNorm, p};
}

constexpr FieldSpec kScaleFields[] = {
    {"axis"}, {"num_axes"}, {"filler", false, true}, {"bias_term"}, {"bias_filler", false, true}};
Conversion convert_scale(const LayerCtx& c) {
  ScaleParams p;
  if (const Field* f = c.find("axis")) p.axis = c.axis(f, c.to_int(*f, -64, 64), c.input(0).rank());
  p.bias = c.get_bool("bias_term", false);
  if (c.num_inputs() == 1) {
    if (const Field* f = c.find("num_axes"); f && c.to_int(*f, -1, 64) != 1)
      c.fail(f->value_pos,
             fmt::format("num_axes {}, expected 1 (one learned scale per channel)", textproto::describe(*f)));
  }
  return {LayerKind::Scale, p};
}

constexpr FieldSpec kLrnFields[] = {{"local_size"}, {"alpha"}, {"beta"}, {"norm_region"}, {"k"}, {"engine"}};
constexpr EnumValue kNormRegions[] = {{"ACROSS_CHANNELS", 0}, {"WITHIN_CHANNEL", 1}};
Conversion convert_lrn(const LayerCtx& c) {
  LRNParams p;
  p.local_size = c.get_int("local_size", 5, 1, LayerCtx::max_size());
  p.alpha = c.get_float("alpha", 1.0f);  // caffe.proto's default, unlike the usual 1e-4 in papers
  p.beta = c.get_float("beta", 0.75f);
  p.k = c.get_float("k", 1.0f);
  p.across_channels = c.get_enum("norm_region", 0, kNormRegions) == 0;
  return {LayerKind::LRN, p};
}

constexpr FieldSpec kConcatFields[] = {{"axis"}, {"concat_dim"}};
Conversion convert_concat(const LayerCtx& c) {
  ConcatParams p;
  if (const Field* f = c.find("axis"))
    p.axis = c.axis(f, c.to_int(*f, -64, 64), c.input(0).rank());
  else if (const Field* d = c.find("concat_dim"))  // the legacy name, used when axis is absent
    p.axis = c.axis(d, c.to_int(*d, 0, 64), c.input(0).rank());
  return {LayerKind::Concat, p};
}

constexpr FieldSpec kEltwiseFields[] = {{"operation"}, {"coeff", true}, {"stable_prod_grad"}};
constexpr EnumValue kEltwiseOps[] = {{"PROD", 0}, {"SUM", 1}, {"MAX", 2}};
Conversion convert_eltwise(const LayerCtx& c) {
  EltwiseParams p;
  const int op = c.get_enum("operation", 1, kEltwiseOps);
  p.op = op == 0 ? EltwiseOp::Prod : op == 1 ? EltwiseOp::Sum : EltwiseOp::Max;
  const auto coeffs = c.all("coeff");
  for (const Field* f : coeffs) p.coeffs.push_back(c.to_float(*f));
  if (!coeffs.empty() && p.op != EltwiseOp::Sum)
    c.fail(coeffs.front()->pos, "coeff is given for a PROD or MAX operation, expected it only with SUM");
  if (!coeffs.empty() && coeffs.size() != c.num_inputs())
    c.fail(coeffs.front()->pos, fmt::format("{} coeff values for {} bottoms, expected one per bottom",
                                            coeffs.size(), c.num_inputs()));
  return {LayerKind::Eltwise, p};
}

constexpr FieldSpec kSoftmaxFields[] = {{"engine"}, {"axis"}};
Conversion convert_softmax(const LayerCtx& c) {
  SoftmaxParams p;
  if (const Field* f = c.find("axis")) p.axis = c.axis(f, c.to_int(*f, -64, 64), c.input(0).rank());
  return {LayerKind::Softmax, p};
}

constexpr FieldSpec kDropoutFields[] = {{"dropout_ratio"}, {"scale_train"}};
Conversion convert_dropout(const LayerCtx& c) {
  DropoutParams p;
  if (const Field* f = c.find("dropout_ratio")) {
    p.ratio = c.to_float(*f);
    if (!(p.ratio >= 0.0f && p.ratio < 1.0f))
      c.fail(f->value_pos,
             fmt::format("dropout_ratio {}, expected a value in [0, 1)", textproto::describe(*f)));
  }
  return {LayerKind::Dropout, p};
}

constexpr FieldSpec kFlattenFields[] = {{"axis"}, {"end_axis"}};
Conversion convert_flatten(const LayerCtx& c) {
  FlattenParams p;
  const int rank = c.input(0).rank();
  if (const Field* f = c.find("axis")) p.axis = c.axis(f, c.to_int(*f, -64, 64), rank);
  if (const Field* f = c.find("end_axis")) p.end_axis = c.axis(f, c.to_int(*f, -64, 64), rank);
  return {LayerKind::Flatten, p};
}

constexpr FieldSpec kBlobShapeFields[] = {{"dim", true}};

// Reads a BlobShape message { dim: ... }. Input shapes need positive dims; Reshape also allows 0 and -1.
std::vector<std::pair<int64_t, Pos>> read_blob_shape(const LayerCtx& c, const Field& shape_field,
                                                     int64_t min) {
  const Message& m = c.doc().message(shape_field);
  check_fields(m, kBlobShapeFields, "shape", [&](Pos p, std::string_view w) { c.fail(p, w); });
  std::vector<std::pair<int64_t, Pos>> dims;
  for (const auto& f : m.fields) dims.emplace_back(c.to_int(f, min, LayerCtx::max_size()), f.value_pos);
  return dims;
}

constexpr FieldSpec kReshapeFields[] = {{"shape", false, true}, {"axis"}, {"num_axes"}};
Conversion convert_reshape(const LayerCtx& c) {
  const Field* shape = c.find("shape");
  if (!shape) c.fail(c.param_pos(), "reshape_param has no shape, expected shape { dim: ... }");
  const auto dims = read_blob_shape(c, *shape, -1);
  const Shape& in = c.input(0);
  const int rank = in.rank();
  // Caffe replaces input axes [axis, axis + num_axes) by `shape`; turn that into a full target shape.
  int64_t axis = 0, num_axes = -1;
  const Field* fa = c.find("axis");
  if (fa) axis = c.to_int(*fa, -(rank + 1), rank);
  if (axis < 0) axis += rank + 1;
  if (const Field* f = c.find("num_axes")) num_axes = c.to_int(*f, -1, rank);
  const int64_t end = num_axes < 0 ? rank : axis + num_axes;
  if (end > rank)
    c.fail(c.find("num_axes")->value_pos,
           fmt::format("axis {} + num_axes {} go past the {} axes of input {}, expected at most {}", axis,
                       num_axes, rank, in.str(), rank));
  ReshapeParams p;
  for (int64_t i = 0; i < axis; ++i) p.dims.push_back(in[static_cast<int>(i)]);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = dims[i].first;
    if (d == 0) {
      // 0 copies the input axis at the same position of the replaced range.
      const int64_t src = axis + static_cast<int64_t>(i);
      if (src >= rank)
        c.fail(dims[i].second,
               fmt::format("dim 0 at position {} copies input axis {}, but input {} has {} axes", i, src,
                           in.str(), rank));
      d = in[static_cast<int>(src)];
    }
    p.dims.push_back(d);
  }
  for (int64_t i = end; i < rank; ++i) p.dims.push_back(in[static_cast<int>(i)]);
  if (std::count(p.dims.begin(), p.dims.end(), -1) > 1)
    c.fail(shape->value_pos, "more than one dim is -1, expected at most one inferred dimension");
  return {LayerKind::Reshape, p};
}

constexpr FieldSpec kSliceFields[] = {{"axis"}, {"slice_point", true}, {"slice_dim"}};
Conversion convert_slice(const LayerCtx& c) {
  SliceParams p;
  const Shape& in = c.input(0);
  const Field* fa = c.find("axis");
  if (!fa) fa = c.find("slice_dim");  // the legacy name
  if (fa) p.axis = c.axis(fa, c.to_int(*fa, -64, 64), in.rank());
  const int64_t size = in[p.axis];
  const auto points = c.all("slice_point");
  if (!points.empty()) {
    if (points.size() + 1 != c.num_tops())
      c.fail(points.front()->pos, fmt::format("{} slice_point values for {} tops, expected {}", points.size(),
                                              c.num_tops(), c.num_tops() - 1));
    int64_t begin = 0;
    for (const Field* f : points) {
      const int64_t v = c.to_int(*f, 0, LayerCtx::max_size());
      if (v <= begin || v >= size)
        c.fail(f->value_pos,
               fmt::format("slice_point {} is outside axis {} of size {}, expected {} < point < {}", v,
                           p.axis, size, begin, size));
      p.ranges.emplace_back(begin, v);
      begin = v;
    }
    p.ranges.emplace_back(begin, size);
  }
  // Without slice points the graph splits the axis evenly among the tops, as Caffe does.
  return {LayerKind::Slice, p};
}

constexpr FieldSpec kShuffleChannelFields[] = {{"group"}};
Conversion convert_shuffle_channel(const LayerCtx& c) {
  return {LayerKind::ChannelShuffle, ChannelShuffleParams{c.get_int("group", 1, 1, LayerCtx::max_size())}};
}

constexpr FieldSpec kPermuteFields[] = {{"order", true}};
Conversion convert_permute(const LayerCtx& c) {
  PermuteParams p;
  const int rank = c.input(0).rank();
  std::vector<char> used(static_cast<size_t>(rank), 0);
  for (const Field* f : c.all("order")) {
    const auto a = static_cast<int>(c.to_int(*f, 0, rank - 1));
    if (used[static_cast<size_t>(a)])
      c.fail(f->value_pos, fmt::format("order repeats axis {}, expected each axis once", a));
    used[static_cast<size_t>(a)] = 1;
    p.order.push_back(a);
  }
  // SSD's Permute keeps the unnamed axes after the named ones, in their order.
  for (int a = 0; a < rank; ++a)
    if (!used[static_cast<size_t>(a)]) p.order.push_back(a);
  return {LayerKind::Permute, p};
}

// The fused batch norm of the BN forks (SegNet, PSPNet, TSN): normalisation plus a learned scale and shift.
constexpr FieldSpec kBnFields[] = {{"slope_filler", false, true}, {"bias_filler", false, true},
                                   {"scale_filler", false, true}, {"shift_filler", false, true},
                                   {"momentum"},  {"eps"},  {"var_eps"}, {"frozen"}, {"engine"},
                                   {"bn_mode"},   {"moving_average_fraction"}, {"use_global_stats"}};
Conversion convert_bn(const LayerCtx& c) {
  BatchNormParams p;
  p.eps = c.get_float("eps", c.get_float("var_eps", 1e-5f));
  if (p.eps < 0.0f) c.fail(c.find(c.find("eps") ? "eps" : "var_eps")->value_pos, "eps is negative, expected >= 0");
  p.affine = true;
  return {LayerKind::BatchNorm, p};
}

constexpr FieldSpec kCropFields[] = {{"axis"}, {"offset", true}};
Conversion convert_crop(const LayerCtx& c) {
  CropParams p;
  if (c.num_inputs() != 2)
    c.fail(c.param_pos(), fmt::format("Crop has {} bottoms, expected 2 (the blob and a reference for the size)",
                                      c.num_inputs()));
  if (const Field* f = c.find("axis")) p.axis = c.axis(f, c.to_int(*f, -64, 64), c.input(0).rank());
  for (const Field* f : c.all("offset")) p.offsets.push_back(c.to_int(*f, 0, LayerCtx::max_size()));
  return {LayerKind::Crop, p};
}

constexpr FieldSpec kArgMaxFields[] = {{"out_max_val"}, {"top_k"}, {"axis"}};
Conversion convert_argmax(const LayerCtx& c) {
  ArgMaxParams p;
  p.out_max_val = c.get_bool("out_max_val", false);
  p.top_k = c.get_int("top_k", 1, 1, LayerCtx::max_size());
  if (const Field* f = c.find("axis")) p.axis = c.axis(f, c.to_int(*f, -64, 64), c.input(0).rank());
  return {LayerKind::ArgMax, p};
}

const Shape& spatial_input(const LayerCtx& c, size_t i) {
  if (c.input(i).rank() != 4)
    c.fail(c.param_pos(), fmt::format("bottom {} has shape {}, expected NCHW (rank 4)", i, c.input(i).str()));
  return c.input(i);
}

// The Upsample forks: SegNet's (max-unpooling with a mask bottom, upsample_h/_w or scale) and the YOLO
// ports' (nearest, scale). Both enlarge by an integer factor; the mask does not change the size.
constexpr FieldSpec kUpsampleFields[] = {{"scale"},      {"scale_h"},   {"scale_w"},  {"upsample_h"},
                                         {"upsample_w"}, {"pad_out_h"}, {"pad_out_w"}, {"mode"},
                                         {"sample_type"}};
Conversion convert_upsample(const LayerCtx& c) {
  const Shape& s = spatial_input(c, 0);
  ResizeParams p;
  const int64_t scale = c.get_int("scale", 2, 1, 4096);
  const int64_t sh = c.get_int("scale_h", scale, 1, 4096), sw = c.get_int("scale_w", scale, 1, 4096);
  p.out_h = s.h() * sh - (c.get_bool("pad_out_h", false) ? 1 : 0);
  p.out_w = s.w() * sw - (c.get_bool("pad_out_w", false) ? 1 : 0);
  if (auto h = c.opt_int("upsample_h", 1, LayerCtx::max_size())) p.out_h = *h;
  if (auto w = c.opt_int("upsample_w", 1, LayerCtx::max_size())) p.out_w = *w;
  if (const Field* f = c.find(c.find("mode") ? "mode" : "sample_type"))
    if (f->kind == ValueKind::Identifier && (f->token == "BILINEAR" || f->token == "bilinear"))
      p.mode = ResizeMode::Bilinear;
  return {LayerKind::Resize, p};
}

// The deconvnet forks' Unpooling: max-unpooling by the switches (mask bottom) of the pooling it mirrors,
// with that pooling's pooling_param; the size is the one the pooling read: (in - 1) x stride + kernel - 2 pad.
Conversion convert_unpooling(const LayerCtx& c) {
  const Shape& s = spatial_input(c, 0);
  const auto kernel = window(c, "kernel_size", "kernel", 1);
  if (!kernel)
    c.fail(c.param_pos(), "pooling_param has no kernel size, expected kernel_size or kernel_h and kernel_w");
  const auto [sh, sw] = window(c, "stride", "stride", 1).value_or(std::pair{1, 1});
  const auto [ph, pw] = window(c, "pad", "pad", 0).value_or(std::pair{0, 0});
  ResizeParams p;
  p.out_h = (s.h() - 1) * sh + kernel->first - 2 * ph;
  p.out_w = (s.w() - 1) * sw + kernel->second - 2 * pw;
  if (p.out_h < 1 || p.out_w < 1)
    c.fail(c.param_pos(), fmt::format("kernel {}x{} and pad {}x{} unpool input {} to nothing", kernel->first,
                                      kernel->second, ph, pw, s.str()));
  return {LayerKind::Resize, p};
}

// DeepLab/PSPNet's Interp: bilinear, to a size given directly, by a reference bottom, or by shrink and
// zoom factors applied to the padded input (in that order), as the Interp layer computes it.
constexpr FieldSpec kInterpFields[] = {{"height"},  {"width"},  {"zoom_factor"},
                                       {"shrink_factor"}, {"pad_beg"}, {"pad_end"}};
Conversion convert_interp(const LayerCtx& c) {
  const Shape& s = spatial_input(c, 0);
  ResizeParams p;
  p.mode = ResizeMode::Bilinear;
  const int64_t pad_beg = c.get_int("pad_beg", 0, -LayerCtx::max_size(), 0);
  const int64_t pad_end = c.get_int("pad_end", 0, -LayerCtx::max_size(), 0);
  int64_t h = s.h() + pad_beg + pad_end, w = s.w() + pad_beg + pad_end;
  if (h < 1 || w < 1)
    c.fail(c.param_pos(), fmt::format("pad_beg {} and pad_end {} leave nothing of input {}", pad_beg, pad_end,
                                      s.str()));
  const auto shrink = c.opt_int("shrink_factor", 1, 4096);
  const auto zoom = c.opt_int("zoom_factor", 1, 4096);
  const auto height = c.opt_int("height", 1, LayerCtx::max_size());
  const auto width = c.opt_int("width", 1, LayerCtx::max_size());
  if (c.num_inputs() == 2) {
    const Shape& ref = spatial_input(c, 1);
    h = ref.h();
    w = ref.w();
  } else if (height || width) {
    if (!height || !width) c.fail(c.param_pos(), "interp_param has only one of height and width, expected both");
    h = *height;
    w = *width;
  } else if (shrink || zoom) {
    if (shrink) {
      h = (h - 1) / *shrink + 1;
      w = (w - 1) / *shrink + 1;
    }
    if (zoom) {
      h = h + (h - 1) * (*zoom - 1);
      w = w + (w - 1) * (*zoom - 1);
    }
  } else {
    c.fail(c.param_pos(), "interp_param gives no output size, expected height and width, zoom_factor, "
                          "shrink_factor or a second bottom");
  }
  p.out_h = h;
  p.out_w = w;
  return {LayerKind::Resize, p};
}

Conversion convert_axpy(const LayerCtx& c) {
  if (c.num_inputs() != 3)
    c.fail(c.param_pos(), fmt::format("Axpy has {} bottoms, expected 3 (scale a, x, y)", c.num_inputs()));
  return {LayerKind::Axpy, NoParams{}};
}

constexpr FieldSpec kNormalizeFields[] = {
    {"across_spatial"}, {"scale_filler", false, true}, {"channel_shared"}, {"eps"}};
Conversion convert_normalize(const LayerCtx& c) {
  NormalizeParams p;
  p.across_spatial = c.get_bool("across_spatial", true);
  p.channel_shared = c.get_bool("channel_shared", true);
  p.eps = c.get_float("eps", 1e-10f);
  return {LayerKind::Normalize, p};
}

constexpr FieldSpec kPriorBoxFields[] = {{"min_size", true}, {"max_size", true}, {"aspect_ratio", true},
                                         {"flip"},           {"clip"},           {"variance", true},
                                         {"img_size"},       {"img_h"},          {"img_w"},
                                         {"step"},           {"step_h"},         {"step_w"},
                                         {"offset"}};
Conversion convert_prior_box(const LayerCtx& c) {
  spatial_input(c, 0);
  const auto mins = c.all("min_size");
  if (mins.empty()) c.fail(c.param_pos(), "prior_box_param has no min_size, expected at least one");
  for (const Field* f : mins) c.to_float(*f);
  const size_t maxs = c.all("max_size").size();
  if (maxs != 0 && maxs != mins.size())
    c.fail(c.all("max_size").front()->pos,
           fmt::format("{} max_size for {} min_size, expected one per min_size", maxs, mins.size()));
  // SSD's prior_box_layer: aspect ratio 1 first, then each new ratio and, with flip, its inverse.
  std::vector<float> ratios{1.0f};
  const bool flip = c.get_bool("flip", true);
  for (const Field* f : c.all("aspect_ratio")) {
    const float ar = c.to_float(*f);
    if (!(ar > 0.0f)) c.fail(f->value_pos, fmt::format("aspect_ratio {}, expected > 0", ar));
    if (std::any_of(ratios.begin(), ratios.end(), [&](float r) { return std::abs(r - ar) < 1e-6f; })) continue;
    ratios.push_back(ar);
    if (flip) ratios.push_back(1.0f / ar);
  }
  PriorBoxParams p;
  p.priors_per_cell = static_cast<int64_t>(ratios.size() * mins.size() + maxs);
  return {LayerKind::PriorBox, p};
}

constexpr FieldSpec kDetectionOutputFields[] = {{"num_classes"},
                                                {"share_location"},
                                                {"background_label_id"},
                                                {"nms_param", false, true},
                                                {"save_output_param", false, true},
                                                {"code_type"},
                                                {"variance_encoded_in_target"},
                                                {"keep_top_k"},
                                                {"confidence_threshold"},
                                                {"visualize"},
                                                {"visualize_threshold"},
                                                {"save_file"},
                                                {"objectness_score"}};
Conversion convert_detection_output(const LayerCtx& c) {
  DetectionOutputParams p;
  p.num_classes = c.required_int("num_classes", 1, LayerCtx::max_size());
  const int64_t keep = c.get_int("keep_top_k", -1, -1, LayerCtx::max_size());
  if (c.num_inputs() < 3)
    c.fail(c.param_pos(), fmt::format("DetectionOutput has {} bottoms, expected 3 (locations, confidences, "
                                      "priors)", c.num_inputs()));
  const Shape& priors = c.input(2);
  // Without keep_top_k every prior may survive: the prior count is the bound.
  p.keep_top_k = keep > 0 ? keep : std::max<int64_t>(1, priors.rank() == 3 ? priors[2] / 4 : 1);
  if (const Field* nms = c.find("nms_param"))
    for (const auto& f : c.doc().message(*nms).fields)
      if (f.name == "top_k") p.nms_top_k = c.to_int(f, -1, LayerCtx::max_size());
  return {LayerKind::DetectionOutput, p};
}

constexpr FieldSpec kRoiPoolingFields[] = {{"pooled_h"}, {"pooled_w"}, {"spatial_scale"}, {"pooled_size"}};
Conversion convert_roi_pooling(const LayerCtx& c) {
  ROIPoolingParams p;
  const int64_t size = c.get_int("pooled_size", 0, 0, LayerCtx::max_size());
  p.pooled_h = c.get_int("pooled_h", size, 1, LayerCtx::max_size());
  p.pooled_w = c.get_int("pooled_w", size, 1, LayerCtx::max_size());
  if (p.pooled_h < 1 || p.pooled_w < 1)
    c.fail(c.param_pos(), "roi_pooling_param has no pooled_h and pooled_w, expected both >= 1");
  p.spatial_scale = c.get_float("spatial_scale", 1.0f);
  return {LayerKind::ROIPooling, p};
}

constexpr FieldSpec kPsRoiPoolingFields[] = {{"spatial_scale"}, {"output_dim"}, {"group_size"}};
Conversion convert_psroi_pooling(const LayerCtx& c) {
  ROIPoolingParams p;
  p.output_dim = c.required_int("output_dim", 1, LayerCtx::max_size());
  p.pooled_h = p.pooled_w = c.required_int("group_size", 1, LayerCtx::max_size());
  p.spatial_scale = c.get_float("spatial_scale", 1.0f);
  return {LayerKind::ROIPooling, p};
}

constexpr FieldSpec kInputFields[] = {{"shape", true, true}};

// What the importer does with a Caffe layer type. Data layers of train/test files become network inputs
// (their shapes read by the importer itself); losses, accuracy and the like have no place in inference.
enum class Role : uint8_t { Layer, Input, Data, Drop, Python };

struct Rule {
  std::string_view type;
  std::string_view param;  // the layer's *_param message read by `convert` ("" if none)
  std::span<const FieldSpec> fields;
  Conversion (*convert)(const LayerCtx&);  // nullptr unless role is Layer
  Role role = Role::Layer;
};

const Rule kRules[] = {
    {"Input", "input_param", kInputFields, nullptr, Role::Input},
    {"Convolution", "convolution_param", kConvolutionFields, convert_convolution},
    {"InnerProduct", "inner_product_param", kInnerProductFields, convert_inner_product},
    {"Pooling", "pooling_param", kPoolingFields, convert_pooling},
    {"ReLU", "relu_param", kReluFields, convert_relu},
    {"ReLU6", "", {}, convert_relu6},
    {"Clip", "clip_param", kClipFields, convert_clip},
    {"PReLU", "prelu_param", kPreluFields, convert_prelu},
    {"Sigmoid", "sigmoid_param", kEngineFields, convert_sigmoid},
    {"TanH", "tanh_param", kEngineFields, convert_tanh},
    {"Swish", "swish_param", kSwishFields, convert_swish},
    {"HardSwish", "", {}, convert_hard_swish},
    {"HardSigmoid", "hard_sigmoid_param", kHardSigmoidFields, convert_hard_sigmoid},
    {"Power", "power_param", kPowerFields, convert_power},
    {"GELU", "", {}, convert_gelu},
    {"LayerNorm", "layer_norm_param", kLayerNormFields, convert_layer_norm},
    {"BatchNorm", "batch_norm_param", kBatchNormFields, convert_batch_norm},
    {"Scale", "scale_param", kScaleFields, convert_scale},
    {"LRN", "lrn_param", kLrnFields, convert_lrn},
    {"Concat", "concat_param", kConcatFields, convert_concat},
    {"Eltwise", "eltwise_param", kEltwiseFields, convert_eltwise},
    {"Softmax", "softmax_param", kSoftmaxFields, convert_softmax},
    {"Dropout", "dropout_param", kDropoutFields, convert_dropout},
    {"Flatten", "flatten_param", kFlattenFields, convert_flatten},
    {"Reshape", "reshape_param", kReshapeFields, convert_reshape},
    {"Split", "", {}, convert_split},
    {"Slice", "slice_param", kSliceFields, convert_slice},
    {"ShuffleChannel", "shuffle_channel_param", kShuffleChannelFields, convert_shuffle_channel},
    {"Permute", "permute_param", kPermuteFields, convert_permute},
    {"Deconvolution", "convolution_param", kConvolutionFields, convert_deconvolution},
    {"ConvolutionDepthwise", "convolution_param", kConvolutionFields, convert_depthwise},
    {"DepthwiseConvolution", "convolution_param", kConvolutionFields, convert_depthwise},
    {"BN", "bn_param", kBnFields, convert_bn},
    {"Crop", "crop_param", kCropFields, convert_crop},
    {"ArgMax", "argmax_param", kArgMaxFields, convert_argmax},
    {"Upsample", "upsample_param", kUpsampleFields, convert_upsample},
    {"Unpooling", "pooling_param", kPoolingFields, convert_unpooling},
    {"Interp", "interp_param", kInterpFields, convert_interp},
    {"Axpy", "", {}, convert_axpy},
    {"Normalize", "norm_param", kNormalizeFields, convert_normalize},
    {"PriorBox", "prior_box_param", kPriorBoxFields, convert_prior_box},
    {"DetectionOutput", "detection_output_param", kDetectionOutputFields, convert_detection_output},
    {"ROIPooling", "roi_pooling_param", kRoiPoolingFields, convert_roi_pooling},
    {"PSROIPooling", "psroi_pooling_param", kPsRoiPoolingFields, convert_psroi_pooling},
    {"SPP", "spp_param", kSppFields, convert_spp},
    {"Python", "", {}, nullptr, Role::Python},
    // Data layers of train/test files: network inputs.
    {"Data", "", {}, nullptr, Role::Data},
    {"ImageData", "", {}, nullptr, Role::Data},
    {"MemoryData", "", {}, nullptr, Role::Data},
    {"AnnotatedData", "", {}, nullptr, Role::Data},
    {"WindowData", "", {}, nullptr, Role::Data},
    {"DenseImageData", "", {}, nullptr, Role::Data},
    {"HDF5Data", "", {}, nullptr, Role::Data},
    {"DummyData", "", {}, nullptr, Role::Data},
    {"VideoData", "", {}, nullptr, Role::Data},
    // Training-only layers: dropped with a note.
    {"Accuracy", "", {}, nullptr, Role::Drop},
    {"Silence", "", {}, nullptr, Role::Drop},
    {"HDF5Output", "", {}, nullptr, Role::Drop},
    {"DetectionEvaluate", "", {}, nullptr, Role::Drop},  // SSD's test-time mAP
    {"SoftmaxWithLoss", "", {}, nullptr, Role::Drop},
    {"EuclideanLoss", "", {}, nullptr, Role::Drop},
    {"SigmoidCrossEntropyLoss", "", {}, nullptr, Role::Drop},
    {"HingeLoss", "", {}, nullptr, Role::Drop},
    {"InfogainLoss", "", {}, nullptr, Role::Drop},
    {"MultinomialLogisticLoss", "", {}, nullptr, Role::Drop},
    {"ContrastiveLoss", "", {}, nullptr, Role::Drop},
    {"MultiBoxLoss", "", {}, nullptr, Role::Drop},
    {"SmoothL1Loss", "", {}, nullptr, Role::Drop},
    {"TripletLoss", "", {}, nullptr, Role::Drop},
    {"CenterLoss", "", {}, nullptr, Role::Drop},
};

// Any other *Loss type (the forks add many) is a training layer too.
const Rule kOtherLoss{"(loss)", "", {}, nullptr, Role::Drop};

const Rule* find_rule(std::string_view type) {
  for (const auto& r : kRules)
    if (r.type == type) return &r;
  if (type.ends_with("Loss")) return &kOtherLoss;
  return nullptr;
}

std::string supported_types() {
  std::string s;
  for (const auto& r : kRules)
    if (r.role != Role::Drop) s += (s.empty() ? "" : ", ") + std::string(r.type);
  return s;
}

// ---- the network -------------------------------------------------------------------------------------

constexpr FieldSpec kNetFields[] = {{"name"},
                                    {"input", true},
                                    {"input_shape", true, true},
                                    {"input_dim", true},
                                    {"force_backward"},
                                    {"state", false, true},
                                    {"debug_info"},
                                    {"layer", true, true}};

// LayerParameter fields other than *_param messages. The last four are V1-era names some files still carry;
// they never affect inference.
constexpr FieldSpec kLayerFields[] = {{"name"},
                                      {"type"},
                                      {"bottom", true},
                                      {"top", true},
                                      {"phase"},
                                      {"loss_weight", true},
                                      {"param", true, true},
                                      {"blobs", true, true},
                                      {"propagate_down", true},
                                      {"include", true, true},
                                      {"exclude", true, true},
                                      {"blobs_lr", true},
                                      {"weight_decay", true},
                                      {"weight_filler", false, true},
                                      {"bias_filler", false, true}};

constexpr FieldSpec kStateRuleFields[] = {
    {"phase"}, {"min_level"}, {"max_level"}, {"stage", true}, {"not_stage", true}};
constexpr FieldSpec kNetStateFields[] = {{"phase"}, {"level"}, {"stage", true}};
constexpr EnumValue kPhases[] = {{"TRAIN", 0}, {"TEST", 1}};

struct NetState {
  int phase = 1;  // inference is Caffe's TEST phase
  int64_t level = 0;
  std::vector<std::string> stages;
};

struct LayerDef {
  const Field* field = nullptr;  // the `layer` field
  const Message* msg = nullptr;
  std::string_view name;  // the file's text, or a name the importer made (kept in Importer::made_names_)
  const Field* type = nullptr;
  const Rule* rule = nullptr;
  std::span<const Field*const> bottoms, tops;  // in Importer::field_refs_
  const Message* param = nullptr;
};

// Names to ids by open addressing over views of the names, which point into the document or into names the
// importer keeps (both outlive the import): one allocation for the whole table, where a std::unordered_map
// of strings made two per name.
class NameTable {
 public:
  void reserve(size_t names) {
    size_t slots = 16;
    while (slots < 2 * names) slots *= 2;
    if (slots > slots_.size()) rehash(slots);
  }
  // The id stored under `name`, or null.
  const int32_t* find(std::string_view name) const {
    if (slots_.empty()) return nullptr;
    const Slot& s = slots_[slot(name)];
    return s.id >= 0 ? &s.id : nullptr;
  }
  // Stores `id` (>= 0) under `name`, replacing the id there.
  void set(std::string_view name, int32_t id) {
    if (2 * (count_ + 1) > slots_.size()) rehash(std::max<size_t>(16, 2 * slots_.size()));
    Slot& s = slots_[slot(name)];
    if (s.id < 0) {
      s.name = name;
      ++count_;
    }
    s.id = id;
  }

 private:
  struct Slot {
    std::string_view name;
    int32_t id = -1;  // -1: empty
  };
  // Blob and layer names are short: eight bytes at a time, then a final mix for the low bits the mask keeps
  // (std::hash's murmur cost twice as much).
  static size_t hash(std::string_view name) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ name.size();
    const char* p = name.data();
    size_t n = name.size();
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * 0xFF51AFD7ED558CCDull;
      h ^= h >> 32;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < n; ++i) tail |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    h = (h ^ tail) * 0xBF58476D1CE4E5B9ull;
    return static_cast<size_t>(h ^ (h >> 31));
  }
  // The slot holding `name`, or the empty slot it would take; the table is never full.
  size_t slot(std::string_view name) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash(name) & mask;; i = (i + 1) & mask)
      if (slots_[i].id < 0 || slots_[i].name == name) return i;
  }
  void rehash(size_t n) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(n, Slot{});
    for (const Slot& s : old)
      if (s.id >= 0) slots_[slot(s.name)] = s;
  }

  std::vector<Slot> slots_;
  size_t count_ = 0;
};

// "module.layer" of a Python layer, from its python_param, for messages.
std::string python_layer_name(const Document& doc, const LayerDef& def) {
  const Field* p = find_field(*def.msg, "python_param");
  std::string module = "?", layer = "?";
  if (p && p->kind == ValueKind::Message) {
    const Field* m = find_field(doc.message(*p), "module");
    const Field* l = find_field(doc.message(*p), "layer");
    if (m && m->kind == ValueKind::String) module = m->text;
    if (l && l->kind == ValueKind::String) layer = l->text;
  }
  return module + "." + layer;
}

const Rule kPythonData{"Python", "", {}, nullptr, Role::Data};
// Any layer, Python or of a type convergy does not know, that reads only labels or outputs of training layers.
const Rule kLabelOnly{"", "", {}, nullptr, Role::Drop};

class Importer {
 public:
  Importer(const Document& doc, const LoadOptions& options)
      : doc_(doc), options_(options), file_(std::make_shared<const std::string>(doc.filename())) {}

  Graph run();

 private:
  [[noreturn]] void fail(Pos p, std::string_view what) const { doc_.fail(p, what); }
  // A layer's origin: the document's file, shared by all its layers, and the position (text built on demand).
  LayerOrigin origin_at(Pos p) const { return {file_, p.line, p.col}; }
  std::string_view string_value(const Field& f, std::string_view what) const {
    if (f.kind != ValueKind::String)
      fail(f.value_pos, fmt::format("{} {}, expected a quoted string", what, textproto::describe(f)));
    return f.text;
  }
  int64_t int_value(const Field& f, int64_t min, int64_t max) const {
    auto v = textproto::to_int(f);
    if (!v) fail(f.value_pos, fmt::format("{} {}, expected an integer", f.name, textproto::describe(f)));
    if (*v < min || *v > max)
      fail(f.value_pos, fmt::format("{} {}, expected {} to {}", f.name, *v, min, max));
    return *v;
  }
  int enum_value(const Field& f, std::span<const EnumValue> values) const {
    if (f.kind == ValueKind::Identifier && !f.negative)
      for (const auto& v : values)
        if (v.name == f.token) return v.number;
    if (auto n = textproto::to_int(f))
      for (const auto& v : values)
        if (v.number == *n) return v.number;
    std::string names;
    for (const auto& v : values) names += (names.empty() ? "" : ", ") + std::string(v.name);
    fail(f.value_pos, fmt::format("{} {}, expected one of {}", f.name, textproto::describe(f), names));
  }
  void check(const Message& m, std::span<const FieldSpec> specs, std::string_view where) const {
    check_fields(m, specs, where, [&](Pos p, std::string_view w) { fail(p, w); });
  }

  NetState read_state(const Message& m) const;
  bool rule_matches(const Message& rule, const NetState& state) const;
  LayerDef read_layer(const Field& f, size_t index);
  Shape read_input_shape(const Field& shape_field, std::string_view context) const;
  const Shape* override_for(std::string_view input_name, bool first_input) const;
  void add_layer(const LayerDef& def);
  void add_data_layer(const LayerDef& def, const std::vector<std::string_view>& tops);
  std::optional<Shape> data_shape(const LayerDef& def) const;
  BlobId resolve(const LayerDef& def, const Field& bottom) const;

  const Document& doc_;
  const LoadOptions& options_;
  std::shared_ptr<const std::string> file_;  // doc_.filename(), for the layers' origins
  Graph graph_;
  NameTable blobs_;  // newest producer of each blob name
  // Blobs of layers left out (labels, losses): a layer reading one is told why it is missing.
  std::unordered_map<std::string, std::string> dropped_blobs_;
  std::vector<std::string> dropped_layers_;
  std::string first_input_;
  // The bottom and top fields of all layers, each layer's two runs contiguous; sized before the layers are
  // read so that the LayerDefs' spans into it stay valid.
  std::vector<const Field*> field_refs_;
  std::vector<const Field*> tops_found_;  // the tops of the layer being read, before they join field_refs_
  std::deque<std::string> made_names_;  // names of unnamed and renamed layers (a deque: they never move)
  // Reused from layer to layer: the input blobs, their shapes and the top names of the layer being added.
  std::vector<BlobId> inputs_scratch_;
  std::vector<const Shape*> shapes_scratch_;
  std::vector<std::string_view> tops_scratch_;
  // Inputs the file itself declares 1 high or 1 wide (not given by --input-shape): deploy files such as
  // OpenPose's declare such placeholders and resize the net at run time. A layer that then finds its input
  // smaller than its kernel is refused with the way to give the real size.
  std::vector<std::pair<std::string, Shape>> declared_inputs_;
  void note_declared_input(std::string_view name, const Shape& shape) {
    if (shape.rank() == 4 && (shape.h() == 1 || shape.w() == 1))
      declared_inputs_.emplace_back(std::string(name), shape);
  }
};

NetState Importer::read_state(const Message& m) const {
  check(m, kNetStateFields, "state");
  NetState s;
  for (const auto& f : m.fields) {
    if (f.name == "phase") s.phase = enum_value(f, kPhases);
    if (f.name == "level") s.level = int_value(f, INT32_MIN, INT32_MAX);
    if (f.name == "stage") s.stages.emplace_back(string_value(f, "stage"));
  }
  return s;
}

// Caffe's NetStateRule: every condition given must hold.
bool Importer::rule_matches(const Message& rule, const NetState& state) const {
  check(rule, kStateRuleFields, "include/exclude rule");
  for (const auto& f : rule.fields) {
    if (f.name == "phase" && enum_value(f, kPhases) != state.phase) return false;
    if (f.name == "min_level" && state.level < int_value(f, INT32_MIN, INT32_MAX)) return false;
    if (f.name == "max_level" && state.level > int_value(f, INT32_MIN, INT32_MAX)) return false;
    if (f.name == "stage" || f.name == "not_stage") {
      const std::string_view stage = string_value(f, f.name);
      const bool in_state = std::find(state.stages.begin(), state.stages.end(), stage) != state.stages.end();
      if (in_state != (f.name == "stage")) return false;
    }
  }
  return true;
}

LayerDef Importer::read_layer(const Field& f, size_t index) {
  LayerDef d;
  d.field = &f;
  d.msg = &doc_.message(f);
  auto where = [&] {
    const Field* name = find_field(*d.msg, "name");
    return name && name->kind == ValueKind::String ? fmt::format("layer \"{}\"", name->text) : std::string("layer");
  };
  // The check sorts the fields as it goes (kLayerFields starts with name, type, bottom, top); a file with an
  // error gets its message from check_fields. Name and type are given at most once.
  static_assert(kLayerFields[0].name == "name" && kLayerFields[1].name == "type" &&
                kLayerFields[2].name == "bottom" && kLayerFields[3].name == "top");
  const Field* name = nullptr;
  const size_t first = field_refs_.size();
  tops_found_.clear();
  const bool valid = fields_valid(*d.msg, kLayerFields, true, [&](size_t spec, const Field& g) {
    if (spec == 0) name = &g;
    if (spec == 1) d.type = &g;
    if (spec == 2) field_refs_.push_back(&g);
    if (spec == 3) tops_found_.push_back(&g);
  });
  if (!valid) {
    check_fields(
        *d.msg, kLayerFields, where, [&](Pos p, std::string_view w) { fail(p, w); }, true);
    throw_failure("internal: layer at {} fails the field check without a message", doc_.where(f.pos));
  }
  const size_t n_bottoms = field_refs_.size() - first;
  field_refs_.insert(field_refs_.end(), tops_found_.begin(), tops_found_.end());
  d.bottoms = std::span<const Field* const>(field_refs_.data() + first, n_bottoms);
  d.tops = std::span<const Field* const>(field_refs_.data() + first + n_bottoms, tops_found_.size());
  // Caffe accepts unnamed layers; the graph needs a name, so make one that says where the layer is.
  if (name) {
    d.name = string_value(*name, "name");
  } else {
    made_names_.push_back(fmt::format("layer{}_line{}", index + 1, f.pos.line));
    d.name = made_names_.back();
  }
  if (name && d.name.empty()) fail(name->value_pos, "empty layer name, expected a non-empty string");
  if (!d.type)
    fail(f.pos,
         fmt::format("layer \"{}\" has no type, expected a type such as type: \"Convolution\"", d.name));
  string_value(*d.type, "type");
  for (const Field* b : d.bottoms) string_value(*b, "bottom");
  for (const Field* t : d.tops) string_value(*t, "top");
  return d;
}

// `context` names what the shape belongs to in messages, e.g. `input "data"`.
Shape Importer::read_input_shape(const Field& shape_field, std::string_view context) const {
  const Message& m = doc_.message(shape_field);
  check_fields(m, kBlobShapeFields, "shape",
               [&](Pos p, std::string_view w) { fail(p, fmt::format("{}: {}", context, w)); });
  Shape s;
  for (const auto& f : m.fields) {
    const auto v = textproto::to_int(f);
    if (!v || *v < 1 || *v > global_limits().max_dim)
      fail(f.value_pos, fmt::format("{}: dim {}, expected an integer from 1 to {}", context,
                                    textproto::describe(f), limit_text(Limit::Dim)));
    s.dims.push_back(*v);
  }
  if (s.dims.empty())
    fail(shape_field.value_pos,
         fmt::format("{}: shape has no dim values, expected dim: ... for each axis", context));
  return s;
}

const Shape* Importer::override_for(std::string_view input_name, bool first_input) const {
  for (const auto& [name, shape] : options_.input_shapes)
    if (name == input_name || (name.empty() && first_input)) return &shape;
  return nullptr;
}

BlobId Importer::resolve(const LayerDef& def, const Field& bottom) const {
  const BlobId* id = blobs_.find(bottom.text);
  if (!id) {
    if (auto d = dropped_blobs_.find(std::string(bottom.text)); d != dropped_blobs_.end())
      fail(bottom.value_pos,
           fmt::format("layer \"{}\": bottom \"{}\" is {}, which inference leaves out, expected a blob of the "
                       "deploy network (remove this layer, or give the blob as an input with --input-shape)",
                       def.name, bottom.text, d->second));
  }
  if (!id)
    fail(bottom.value_pos,
         fmt::format("layer \"{}\": bottom \"{}\" is not produced by any earlier layer or input, "
                     "expected the top of a layer above it",
                     def.name, bottom.text));
  return *id;
}

// The int value of `field` in the message `msg_name` of a layer, if both are there.
std::optional<int64_t> param_int(const Document& doc, const Message& layer, std::string_view msg_name,
                                 std::string_view field) {
  const Field* m = find_field(layer, msg_name);
  if (!m || m->kind != ValueKind::Message) return std::nullopt;
  const Field* f = find_field(doc.message(*m), field);
  if (!f) return std::nullopt;
  const auto v = textproto::to_int(*f);
  if (!v || *v < 1 || *v > global_limits().max_dim)
    doc.fail(f->value_pos, fmt::format("{} {}, expected an integer from 1 to {}", field, textproto::describe(*f),
                                       limit_text(Limit::Dim)));
  return v;
}

// The shape of a data layer's first top from its parameters: batch from *_param.batch_size (1 if absent),
// channels 3 for images (1 for ImageData with is_color: false), and height and width from crop_size,
// new_height/new_width or AnnotatedData's resize_param. nullopt when the parameters do not say.
std::optional<Shape> Importer::data_shape(const LayerDef& def) const {
  const Message& m = *def.msg;
  const std::string_view type = def.type->text;
  auto get = [&](std::string_view msg, std::string_view field) { return param_int(doc_, m, msg, field); };
  if (type == "DummyData") {
    const Field* p = find_field(m, "dummy_data_param");
    if (!p || p->kind != ValueKind::Message) return std::nullopt;
    const Message& pm = doc_.message(*p);
    if (const Field* sh = find_field(pm, "shape"); sh && sh->kind == ValueKind::Message)
      return read_input_shape(*sh, fmt::format("layer \"{}\"", def.name));
    auto n = get("dummy_data_param", "num"), c = get("dummy_data_param", "channels");
    auto h = get("dummy_data_param", "height"), w = get("dummy_data_param", "width");
    if (n && c && h && w) return Shape{*n, *c, *h, *w};
    return std::nullopt;
  }
  if (type == "MemoryData") {
    auto n = get("memory_data_param", "batch_size"), c = get("memory_data_param", "channels");
    auto h = get("memory_data_param", "height"), w = get("memory_data_param", "width");
    if (!(n && c && h && w)) return std::nullopt;
    if (auto crop = get("transform_param", "crop_size")) h = w = crop;
    return Shape{*n, *c, *h, *w};
  }
  std::string_view own = type == "ImageData"         ? "image_data_param"
                         : type == "WindowData"      ? "window_data_param"
                         : type == "DenseImageData"  ? "dense_image_data_param"
                         : type == "VideoData"       ? "video_data_param"
                                                     : "data_param";
  const int64_t batch = get(own, "batch_size").value_or(1);
  int64_t channels = 3;
  if (const Field* p = find_field(m, own); p && p->kind == ValueKind::Message)
    if (const Field* c = find_field(doc_.message(*p), "is_color"))
      if (auto v = textproto::to_bool(*c); v && !*v) channels = 1;
  std::optional<int64_t> h, w;
  if (auto crop = get("transform_param", "crop_size")) h = w = crop;
  if (!h) {
    if (auto ch = get(own, "crop_height"), cw = get(own, "crop_width"); ch && cw) h = ch, w = cw;
  }
  if (!h) {
    if (auto nh = get(own, "new_height"), nw = get(own, "new_width"); nh && nw) h = nh, w = nw;
  }
  if (!h && type == "AnnotatedData") {
    const Field* t = find_field(m, "transform_param");
    if (t && t->kind == ValueKind::Message)
      if (const Field* r = find_field(doc_.message(*t), "resize_param"); r && r->kind == ValueKind::Message) {
        const Message& rm = doc_.message(*r);
        const Field* fh = find_field(rm, "height");
        const Field* fw = find_field(rm, "width");
        if (fh && fw) {
          h = int_value(*fh, 1, global_limits().max_dim);
          w = int_value(*fw, 1, global_limits().max_dim);
        }
      }
  }
  if (!h) return std::nullopt;
  return Shape{batch, channels, *h, *w};
}

void Importer::add_data_layer(const LayerDef& def, const std::vector<std::string_view>& tops) {
  const std::string origin = doc_.where(def.field->pos);
  if (tops.empty())
    fail(def.field->pos, fmt::format("layer \"{}\": a {} layer has no top, expected one", def.name, def.type->text));
  Shape shape;
  if (const Shape* given = override_for(tops[0], tops[0] == first_input_)) {
    shape = *given;
  } else if (auto s = data_shape(def)) {
    shape = *s;
  } else {
    fail(def.field->pos,
         fmt::format("layer \"{}\" ({}): its parameters give no input shape, expected --input-shape {}=NxCxHxW "
                     "(or crop_size or new_height/new_width in its parameters)",
                     def.name, def.type->text, tops[0]));
  }
  const BlobId id = graph_.add_input(std::string(tops[0]), std::move(shape), DataType::F32, origin);
  blobs_.set(tops[0], id);
  for (size_t i = 1; i < tops.size(); ++i)
    dropped_blobs_[std::string(tops[i])] = fmt::format("a label of data layer \"{}\"", def.name);
  graph_.add_note(fmt::format("{}: data layer \"{}\" ({}) is read as network input \"{}\" {}{}", origin, def.name,
                              def.type->text, tops[0], graph_.blob(id).shape.str(),
                              tops.size() > 1 ? fmt::format(" (its {} other top{} left out)", tops.size() - 1,
                                                            tops.size() == 2 ? "" : "s")
                                              : ""));
}

void Importer::add_layer(const LayerDef& def) {
  LayerOrigin origin = origin_at(def.field->pos);
  // Views of the document, which outlives the graph's construction.
  std::vector<std::string_view>& tops = tops_scratch_;
  tops.resize(def.tops.size());
  for (size_t i = 0; i < def.tops.size(); ++i) tops[i] = def.tops[i]->text;

  if (def.rule->role == Role::Data) return add_data_layer(def, tops);
  if (def.rule->role == Role::Drop) {
    for (const auto& t : tops)
      dropped_blobs_[std::string(t)] =
          fmt::format("the output of training layer \"{}\" ({})", def.name, def.type->text);
    dropped_layers_.push_back(fmt::format("{} ({}, line {})", def.name, def.type->text, def.field->pos.line));
    return;
  }
  if (def.rule->role == Role::Python) {
    // Only reached with --allow-python-layers (refused earlier otherwise).
    std::vector<BlobId> inputs;
    for (const Field* b : def.bottoms) inputs.push_back(resolve(def, *b));
    if (tops.empty())
      fail(def.field->pos, fmt::format("layer \"{}\": a Python layer has no top, expected at least one", def.name));
    const std::string what = python_layer_name(doc_, def);
    // --input-shape TOP=... gives the shape of a top (e.g. the ROIs of a proposal layer); else input 0's.
    OpaqueParams p{"Python layer " + what, {}};
    size_t given = 0;
    for (const auto& t : tops)
      if (const Shape* s = override_for(t, false)) ++given, p.output_shapes.push_back(*s);
    if (given != 0 && given != tops.size())
      fail(def.field->pos, fmt::format("layer \"{}\": --input-shape gives {} of the {} tops of this Python layer, "
                                       "expected all of them or none", def.name, given, tops.size()));
    if (given == 0 && inputs.empty())
      fail(def.field->pos, fmt::format("layer \"{}\": Python layer {} has no bottom to take a shape from, expected "
                                       "--input-shape {}=...", def.name, what, tops.front()));
    graph_.add_layer_views(def.name, LayerKind::Opaque, std::move(p), inputs.data(), inputs.size(),
                           tops.data(), tops.size(), origin);
    graph_.add_note(
        fmt::format("{}: Python layer \"{}\" ({}) is counted as a zero-cost layer whose outputs take {}; "
                    "its real cost is unknown",
                    origin.str(), def.name, what,
                    given ? "the shapes given by --input-shape"
                          : "the shape of its first bottom "
                            "(give --input-shape TOP=NxCxHxW for each top to set them)"),
        true);
    for (size_t i = 0; i < tops.size(); ++i)
      blobs_.set(tops[i], graph_.layer(graph_.num_layers() - 1).outputs.at(i));
    return;
  }

  if (def.rule->role == Role::Input) {
    if (!def.bottoms.empty())
      fail(def.bottoms.front()->pos,
           fmt::format("layer \"{}\": an Input layer has a bottom, expected none", def.name));
    if (tops.empty())
      fail(def.field->pos, fmt::format("layer \"{}\": an Input layer has no top, expected one", def.name));
    std::vector<const Field*> shapes;
    if (def.param)
      for (const auto& f : def.param->fields) shapes.push_back(&f);
    // Caffe: one shape for all tops, or one per top.
    if (shapes.size() > 1 && shapes.size() != tops.size())
      fail(shapes.front()->pos, fmt::format("layer \"{}\": {} shapes for {} tops, expected 1 or {}", def.name,
                                            shapes.size(), tops.size(), tops.size()));
    for (size_t i = 0; i < tops.size(); ++i) {
      const Shape* given = override_for(tops[i], tops[i] == first_input_);
      Shape shape;
      if (given) {
        shape = *given;
      } else if (shapes.empty()) {
        fail(def.field->pos,
             fmt::format("layer \"{}\": input \"{}\" has no shape, expected input_param {{ shape "
                         "{{ dim: ... }} }} or --input-shape",
                         def.name, tops[i]));
      } else {
        shape = read_input_shape(*shapes[shapes.size() == 1 ? 0 : i],
                                 fmt::format("layer \"{}\": input \"{}\"", def.name, tops[i]));
      }
      if (!given) note_declared_input(tops[i], shape);
      const std::string layer_name =
          tops.size() == 1 ? std::string(def.name) : fmt::format("{}/{}", def.name, tops[i]);
      const LayerId id = graph_.add_layer_views(layer_name, LayerKind::Input, InputParams{std::move(shape)},
                                                nullptr, 0, &tops[i], 1, origin);
      blobs_.set(tops[i], graph_.layer(id).outputs.at(0));
    }
    return;
  }

  if (tops.empty())
    fail(def.field->pos,
         fmt::format("layer \"{}\": a {} layer has no top, expected at least one", def.name, def.rule->type));
  std::vector<BlobId>& inputs = inputs_scratch_;
  std::vector<const Shape*>& shapes = shapes_scratch_;
  inputs.clear();
  shapes.clear();
  for (const Field* b : def.bottoms) {
    inputs.push_back(resolve(def, *b));
    shapes.push_back(&graph_.blob(inputs.back()).shape);  // no blob is added while the layer is converted
  }
  if (inputs.empty())
    fail(def.field->pos, fmt::format("layer \"{}\": a {} layer has no bottom, expected at least one",
                                     def.name, def.rule->type));
  LayerCtx ctx(doc_, def.name, def.param, def.rule->param, shapes, tops.size());
  ctx.set_layer_pos(def.field->pos);
  Conversion conv = def.rule->convert(ctx);
  if (conv.kind == LayerKind::Opaque)
    graph_.add_note(
        fmt::format("{}: layer \"{}\" ({}) has no kernel in convergy: it is counted as a zero-cost "
                    "layer with Caffe's output shape",
                    origin.str(), def.name, def.rule->type),
        true);
  const LayerId id = graph_.add_layer_views(def.name, conv.kind, std::move(conv.params), inputs.data(),
                                            inputs.size(), tops.data(), tops.size(), std::move(origin));
  const auto& outputs = graph_.layer(id).outputs;
  for (size_t i = 0; i < tops.size(); ++i) blobs_.set(tops[i], outputs.at(i));
}

Graph Importer::run() {
  const Message& root = doc_.root();
  check(root, kNetFields, "NetParameter");

  std::vector<const Field*> inputs, input_shapes, input_dims, layer_fields;
  NetState state;
  for (const auto& f : root.fields) {
    if (f.name == "name") graph_.set_name(std::string(string_value(f, "name")));
    if (f.name == "input") inputs.push_back(&f);
    if (f.name == "input_shape") input_shapes.push_back(&f);
    if (f.name == "input_dim") input_dims.push_back(&f);
    if (f.name == "layer") layer_fields.push_back(&f);
    if (f.name == "state") state = read_state(doc_.message(f));
  }
  if (inputs.empty() && layer_fields.empty())
    fail(Pos{1, 1},
         "no input and no layer, expected a Caffe network (NetParameter) with layer { ... } blocks");
  if (static_cast<int64_t>(layer_fields.size()) > global_limits().max_layers)
    fail(layer_fields[static_cast<size_t>(global_limits().max_layers)]->pos,
         fmt::format("more than {} layers, expected at most {}", global_limits().max_layers,
                     limit_text(Limit::Layers)));

  // Pass 1: read every layer, drop those excluded in the TEST phase, and find all unknown types at once.
  std::vector<LayerDef> defs;
  std::vector<const LayerDef*> unknown;
  std::unordered_map<std::string_view, const Field*> names;  // views of LayerDef::name (defs never grows)
  std::vector<std::string> excluded;
  defs.reserve(layer_fields.size());
  size_t n_layer_fields = 0;
  for (const Field* f : layer_fields) n_layer_fields += doc_.message(*f).fields.size();
  field_refs_.reserve(n_layer_fields);
  for (size_t i = 0; i < layer_fields.size(); ++i) {
    LayerDef d = read_layer(*layer_fields[i], i);
    bool included = true;
    bool any_include = false, include_match = false;
    for (const auto& g : d.msg->fields) {
      if (g.name == "include") {
        any_include = true;
        include_match = include_match || rule_matches(doc_.message(g), state);
      }
      if (g.name == "exclude" && rule_matches(doc_.message(g), state)) included = false;
    }
    if (any_include && !include_match) included = false;
    if (!included) {
      excluded.emplace_back(d.name);
      continue;
    }
    d.rule = find_rule(d.type->text);
    // A Python layer without bottoms feeds the network: a data layer.
    if (d.rule && d.rule->role == Role::Python && d.bottoms.empty()) d.rule = &kPythonData;
    defs.push_back(std::move(d));
  }
  // A layer that reads only labels (the other tops of data layers) or outputs of training layers computes a
  // training target (e.g. a Python SiameseLabels layer feeding a contrastive loss): it has no place in
  // inference either, whatever its type. A blob a kept layer writes again is no longer a label. Without data
  // or training layers no blob is one, and the pass is skipped.
  if (std::any_of(defs.begin(), defs.end(), [](const LayerDef& d) {
        return d.rule && (d.rule->role == Role::Data || d.rule->role == Role::Drop);
      })) {
    std::unordered_set<std::string_view> training;
    for (auto& d : defs) {
      const Role role = d.rule ? d.rule->role : Role::Layer;
      if (role != Role::Data && role != Role::Input && role != Role::Drop && !d.bottoms.empty() &&
          std::all_of(d.bottoms.begin(), d.bottoms.end(),
                      [&](const Field* b) { return training.contains(b->text); }))
        d.rule = &kLabelOnly;
      if (d.rule && d.rule->role == Role::Data) {
        for (size_t i = 0; i < d.tops.size(); ++i) {
          if (i == 0) training.erase(d.tops[i]->text);
          else training.insert(d.tops[i]->text);
        }
      } else {
        const bool drop = d.rule && d.rule->role == Role::Drop;
        for (const Field* t : d.tops) {
          if (drop) training.insert(t->text);
          else training.erase(t->text);
        }
      }
    }
  }
  // A new name must not take one a later layer has: every given name, collected at the first repeat (no
  // layer has been renamed before it).
  std::unordered_set<std::string> given_names;
  // Most files name every layer once: a flat table of views says so without a hash node per name, and the
  // map is built only when some name repeats.
  bool repeats = false;
  {
    NameTable seen;
    seen.reserve(defs.size());
    for (size_t i = 0; i < defs.size() && !repeats; ++i) {
      repeats = seen.find(defs[i].name) != nullptr;
      seen.set(defs[i].name, static_cast<int32_t>(i));
    }
  }
  if (repeats) names.reserve(defs.size());
  for (auto& d : defs) {
    if (!d.rule) unknown.push_back(&d);
    if (!repeats) continue;
    auto [it, fresh] = names.emplace(d.name, d.field);
    if (!fresh) {
      // Caffe accepts repeated names; the graph needs unique ones.
      if (given_names.empty())
        for (const auto& e : defs) given_names.emplace(e.name);
      std::string renamed;
      for (int k = 2; renamed.empty() || names.contains(renamed) || given_names.contains(renamed); ++k)
        renamed = fmt::format("{}_{}", d.name, k);
      graph_.add_note(fmt::format("{}: layer name \"{}\" repeats the layer at line {}; renamed \"{}\"",
                                  doc_.where(d.field->pos), d.name, it->second->pos.line, renamed));
      made_names_.push_back(std::move(renamed));
      d.name = made_names_.back();
      names.emplace(d.name, d.field);
    }
  }
  for (const auto& d : defs)
    if (d.rule && d.rule->role == Role::Python && !options_.allow_python_layers)
      fail(d.type->value_pos,
           fmt::format("layer \"{}\": Python layer {} runs user code that convergy cannot read, expected a Caffe "
                       "layer type (pass --allow-python-layers to count it as a zero-cost layer whose outputs take "
                       "its first bottom's shape or those given with --input-shape TOP=NxCxHxW, or replace it in a "
                       "deploy file)",
                       d.name, python_layer_name(doc_, d)));
  if (!unknown.empty()) {
    // One message for all of them: a user converting a model wants the whole list at once. Each type is
    // named once, at its first layer; a hostile file with thousands of types gets a bounded message.
    constexpr size_t kMaxListed = 20;
    std::vector<std::pair<const LayerDef*, size_t>> types;  // first layer, number of layers
    std::unordered_map<std::string_view, size_t> index;
    for (const LayerDef* d : unknown) {
      auto [it, fresh] = index.emplace(d->type->text, types.size());
      if (fresh) types.emplace_back(d, 0);
      ++types[it->second].second;
    }
    std::string list;
    for (size_t i = 0; i < types.size() && i < kMaxListed; ++i) {
      const auto& [d, count] = types[i];
      list += fmt::format("{}\"{}\" (layer \"{}\", line {}{})", list.empty() ? "" : ", ", d->type->text,
                          d->name, d->field->pos.line,
                          count > 1 ? fmt::format(", and {} more", count - 1) : std::string());
    }
    if (types.size() > kMaxListed) list += fmt::format(", and {} more types", types.size() - kMaxListed);
    fail(unknown.front()->type->value_pos,
         fmt::format("unknown layer types: {}, expected one of {} (replace or remove these layers in a copy of the "
                     "file, or export the model to ONNX)",
                     list, supported_types()));
  }
  // Each layer's own *_param message, checked against its schema before anything is built.
  for (auto& d : defs) {
    if (d.rule->param.empty()) continue;
    for (const auto& g : d.msg->fields) {
      if (g.name != d.rule->param) continue;
      if (d.param)
        fail(g.pos, fmt::format("layer \"{}\": {} is given twice, expected it once", d.name, g.name));
      d.param = &doc_.message(g);
      check_fields(*d.param, d.rule->fields, g.name,
                   [&](Pos p, std::string_view w) { fail(p, fmt::format("layer \"{}\": {}", d.name, w)); });
    }
  }

  // --input-shape names must be inputs of this network.
  std::vector<std::string> input_names;
  for (const Field* f : inputs) input_names.emplace_back(string_value(*f, "input"));
  for (const auto& d : defs) {
    if (d.rule->role == Role::Input)
      for (const Field* t : d.tops) input_names.emplace_back(t->text);
    if (d.rule->role == Role::Data && !d.tops.empty()) input_names.emplace_back(d.tops.front()->text);
  }
  // Tops of let-through Python layers may be given shapes too, by name only.
  std::vector<std::string> shapeable = input_names;
  for (const auto& d : defs)
    if (d.rule->role == Role::Python && options_.allow_python_layers)
      for (const Field* t : d.tops) shapeable.emplace_back(t->text);
  if (!input_names.empty()) first_input_ = input_names.front();
  for (const auto& [name, shape] : options_.input_shapes) {
    if (name.empty()) {
      if (input_names.empty())
        throw_bad_input("{}: input shape {} is given, but the network has no inputs", doc_.filename(),
                        shape.str());
      continue;
    }
    if (std::find(shapeable.begin(), shapeable.end(), name) == shapeable.end()) {
      std::string list;
      for (const auto& n : input_names) list += (list.empty() ? "" : ", ") + n;
      throw_bad_input("{}: the input shape given names \"{}\", which is not an input, expected one of: {}",
                      doc_.filename(), name, list.empty() ? "(no inputs)" : list);
    }
  }

  // Pass 2: inputs declared on the network, then the layers in order. Sized once: growing a vector of
  // layers moves every layer built so far.
  size_t n_tops = inputs.size();
  for (const auto& d : defs) n_tops += d.tops.size();
  graph_.reserve(inputs.size() + defs.size(), n_tops);
  blobs_.reserve(n_tops);
  if (!input_shapes.empty() && !input_dims.empty())
    fail(input_dims.front()->pos, "both input_shape and input_dim are given, expected one of them");
  if (inputs.empty() && (!input_shapes.empty() || !input_dims.empty())) {
    const Field* f = input_shapes.empty() ? input_dims.front() : input_shapes.front();
    fail(f->pos, fmt::format("{} without an input, expected input: \"name\" before it", f->name));
  }
  if (!input_shapes.empty() && input_shapes.size() != inputs.size())
    fail(input_shapes.front()->pos, fmt::format("{} input_shape for {} inputs, expected one per input",
                                                input_shapes.size(), inputs.size()));
  if (!input_dims.empty() && input_dims.size() != 4 * inputs.size())
    fail(input_dims.front()->pos,
         fmt::format("{} input_dim values for {} input{}, expected 4 per input ({} in all)",
                     input_dims.size(), inputs.size(), inputs.size() == 1 ? "" : "s", 4 * inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& name = input_names[i];
    Shape shape;
    if (const Shape* given = override_for(name, i == 0)) {
      shape = *given;
    } else if (!input_shapes.empty()) {
      shape = read_input_shape(*input_shapes[i], fmt::format("input \"{}\"", name));
    } else if (!input_dims.empty()) {
      for (size_t k = 0; k < 4; ++k) {
        const Field& f = *input_dims[4 * i + k];
        const auto v = textproto::to_int(f);
        if (!v || *v < 1 || *v > global_limits().max_dim)
          fail(f.value_pos, fmt::format("input \"{}\": input_dim {}, expected an integer from 1 to {}", name,
                                        textproto::describe(f), limit_text(Limit::Dim)));
        shape.dims.push_back(*v);
      }
    } else {
      fail(inputs[i]->pos, fmt::format("input \"{}\" has no shape, expected input_shape {{ dim: ... }}, four "
                                       "input_dim values or --input-shape",
                                       name));
    }
    if (!override_for(name, i == 0)) note_declared_input(name, shape);
    const BlobId id = graph_.add_input(name, std::move(shape), DataType::F32, doc_.where(inputs[i]->pos));
    blobs_.set(string_value(*inputs[i], "input"), id);  // a view of the document, which outlives the table
  }
  try {
    for (const auto& d : defs) add_layer(d);
  } catch (const Error& e) {
    // A kernel larger than its input, with a placeholder input size in the file: say how to give the real one.
    const std::string_view msg = e.what();
    if (e.kind() != ErrorKind::BadInput || declared_inputs_.empty() ||
        msg.find("larger than the padded input") == std::string_view::npos)
      throw;
    std::string declared;
    for (const auto& [n, sh] : declared_inputs_)
      declared += fmt::format("{}\"{}\" as {}", declared.empty() ? "" : ", ", n, sh.str());
    throw Error(ErrorKind::BadInput,
                fmt::format("{}; the file declares input {}: if that is a placeholder, give the real size with "
                            "--input-shape {}=NxCxHxW",
                            msg, declared, declared_inputs_.front().first));
  }
  auto listed = [](const std::vector<std::string>& items) {
    std::string s;
    for (size_t i = 0; i < items.size() && i < 10; ++i) s += (i ? ", " : "") + items[i];
    if (items.size() > 10) s += fmt::format(", and {} more", items.size() - 10);
    return s;
  };
  if (!excluded.empty())
    graph_.add_note(fmt::format("{}: {} layer{} excluded in the TEST phase left out: {}", doc_.filename(),
                                excluded.size(), excluded.size() == 1 ? "" : "s", listed(excluded)));
  if (!dropped_layers_.empty())
    graph_.add_note(fmt::format("{}: {} training layer{} (loss, accuracy, silence, or reading only labels) left "
                                "out: {}",
                                doc_.filename(), dropped_layers_.size(), dropped_layers_.size() == 1 ? "" : "s",
                                listed(dropped_layers_)));
  if (graph_.num_layers() == static_cast<int>(inputs.size()))
    fail(Pos{1, 1}, "the network has inputs but no layers, expected at least one layer { ... }");
  return std::move(graph_);
}

}  // namespace

Graph import_caffe_text(std::string text, const std::string& filename, const LoadOptions& options) {
  Document doc = Document::parse(std::move(text), filename, "layer");
  const CaffeFormat format = caffe_format(doc);
  if (format != CaffeFormat::V2)
    if (auto upgraded = upgrade_caffe_net(doc))
      doc = Document::parse(std::move(*upgraded), filename, "layer");
  Graph g = Importer(doc, options).run();
  if (format != CaffeFormat::V2)
    g.add_note(fmt::format("{}: the legacy {} format was upgraded to the current one, as Caffe does on load",
                           filename, format == CaffeFormat::V0 ? "V0" : "V1"));
  g.set_source(filename);
  return g;
}

Graph import_caffe_prototxt(std::string_view text, const std::string& filename, const LoadOptions& options) {
  return import_caffe_text(std::string(text), filename, options);
}

}  // namespace convergy

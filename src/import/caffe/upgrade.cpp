// V0 and V1 Caffe networks rewritten as V2 text, following the field mapping of caffe.proto's
// V0LayerParameter and V1LayerParameter (the same mapping Caffe's upgrade_proto applies on load).
#include "import/caffe/upgrade.h"

#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace convergy {

namespace {

using textproto::Document;
using textproto::Field;
using textproto::find_field;
using textproto::Message;
using textproto::Pos;
using textproto::ValueKind;

// Writes text format keeping every field on its source line: a field is preceded by newlines up to its
// line; one that must come later than its line (a grouped parameter) stays on the current line.
class Writer {
 public:
  explicit Writer(const Document& doc) : doc_(doc) {}

  void at(Pos p) {
    while (line_ < p.line) {
      out_ += '\n';
      ++line_;
    }
  }
  void open(std::string_view name, Pos p) {
    at(p);
    out_ += fmt::format("{} {{ ", name);
  }
  void close() { out_ += "} "; }
  void value(std::string_view name, const Field& f) {
    at(f.pos);
    out_ += fmt::format("{}: {} ", name, scalar(f));
  }
  void string(std::string_view name, std::string_view s, Pos p) {
    at(p);
    out_ += fmt::format("{}: {} ", name, quote(s));
  }
  // A field copied as it is, nested messages included.
  void copy(const Field& f, std::string_view name = {}) {
    const std::string_view n = name.empty() ? f.name : name;
    if (f.kind != ValueKind::Message) return value(n, f);
    open(n, f.pos);
    for (const auto& g : doc_.message(f).fields) copy(g);
    close();
  }
  std::string take() { return std::move(out_); }

  static std::string scalar(const Field& f) {
    if (f.kind == ValueKind::String) return quote(f.text);
    return (f.negative ? "-" : "") + std::string(f.token);
  }
  static std::string quote(std::string_view s) {
    std::string q = "\"";
    for (unsigned char ch : s) {
      if (ch == '"' || ch == '\\') {
        q += '\\';
        q += static_cast<char>(ch);
      } else if (ch < 0x20 || ch >= 0x7f) {
        q += fmt::format("\\{:03o}", ch);
      } else {
        q += static_cast<char>(ch);
      }
    }
    return q + "\"";
  }

 private:
  const Document& doc_;
  std::string out_;
  uint32_t line_ = 1;
};

// ---- V1: `layers { type: CONVOLUTION }` ------------------------------------------------------------

// V1LayerParameter.LayerType -> the V2 type string.
constexpr std::pair<std::string_view, std::string_view> kV1Types[] = {
    {"ABSVAL", "AbsVal"},
    {"ACCURACY", "Accuracy"},
    {"ARGMAX", "ArgMax"},
    {"BNLL", "BNLL"},
    {"CONCAT", "Concat"},
    {"CONTRASTIVE_LOSS", "ContrastiveLoss"},
    {"CONVOLUTION", "Convolution"},
    {"DECONVOLUTION", "Deconvolution"},
    {"DATA", "Data"},
    {"DROPOUT", "Dropout"},
    {"DUMMY_DATA", "DummyData"},
    {"EUCLIDEAN_LOSS", "EuclideanLoss"},
    {"ELTWISE", "Eltwise"},
    {"EXP", "Exp"},
    {"FLATTEN", "Flatten"},
    {"HDF5_DATA", "HDF5Data"},
    {"HDF5_OUTPUT", "HDF5Output"},
    {"HINGE_LOSS", "HingeLoss"},
    {"IM2COL", "Im2col"},
    {"IMAGE_DATA", "ImageData"},
    {"INFOGAIN_LOSS", "InfogainLoss"},
    {"INNER_PRODUCT", "InnerProduct"},
    {"LRN", "LRN"},
    {"MEMORY_DATA", "MemoryData"},
    {"MULTINOMIAL_LOGISTIC_LOSS", "MultinomialLogisticLoss"},
    {"MVN", "MVN"},
    {"POOLING", "Pooling"},
    {"POWER", "Power"},
    {"RELU", "ReLU"},
    {"SIGMOID", "Sigmoid"},
    {"SIGMOID_CROSS_ENTROPY_LOSS", "SigmoidCrossEntropyLoss"},
    {"SILENCE", "Silence"},
    {"SOFTMAX", "Softmax"},
    {"SOFTMAX_LOSS", "SoftmaxWithLoss"},
    {"SPLIT", "Split"},
    {"SLICE", "Slice"},
    {"TANH", "TanH"},
    {"WINDOW_DATA", "WindowData"},
    {"THRESHOLD", "Threshold"},
};
// The enum's numbers, for files that write them.
constexpr std::pair<int, std::string_view> kV1TypeNumbers[] = {
    {35, "ABSVAL"},      {1, "ACCURACY"},   {30, "ARGMAX"},   {2, "BNLL"},         {3, "CONCAT"},
    {37, "CONTRASTIVE_LOSS"}, {4, "CONVOLUTION"}, {39, "DECONVOLUTION"}, {5, "DATA"}, {6, "DROPOUT"},
    {32, "DUMMY_DATA"},  {7, "EUCLIDEAN_LOSS"}, {25, "ELTWISE"}, {38, "EXP"},    {8, "FLATTEN"},
    {9, "HDF5_DATA"},    {10, "HDF5_OUTPUT"}, {28, "HINGE_LOSS"}, {11, "IM2COL"}, {12, "IMAGE_DATA"},
    {13, "INFOGAIN_LOSS"}, {14, "INNER_PRODUCT"}, {15, "LRN"}, {29, "MEMORY_DATA"},
    {16, "MULTINOMIAL_LOGISTIC_LOSS"}, {34, "MVN"}, {17, "POOLING"}, {26, "POWER"}, {18, "RELU"},
    {19, "SIGMOID"},     {27, "SIGMOID_CROSS_ENTROPY_LOSS"}, {36, "SILENCE"}, {20, "SOFTMAX"},
    {21, "SOFTMAX_LOSS"}, {22, "SPLIT"},    {33, "SLICE"},    {23, "TANH"},     {24, "WINDOW_DATA"},
    {31, "THRESHOLD"}};

std::string v1_type(const Document& doc, const Field& f) {
  // Forks that added types kept writing them as strings or unknown identifiers; pass those through so
  // the importer names them.
  if (f.kind == ValueKind::String) return std::string(f.text);
  std::string_view id = f.token;
  if (f.kind == ValueKind::Integer) {
    const auto n = textproto::to_int(f);
    id = {};
    for (const auto& [num, name] : kV1TypeNumbers)
      if (n && *n == num) id = name;
    if (id.empty())
      doc.fail(f.value_pos, fmt::format("type {}, expected a V1 layer type such as CONVOLUTION", textproto::describe(f)));
  }
  if (id == "NONE") doc.fail(f.value_pos, "type NONE, expected a V1 layer type such as CONVOLUTION");
  for (const auto& [v1, v2] : kV1Types)
    if (v1 == id) return std::string(v2);
  return std::string(id);
}

// V1's per-blob lists (param names, share modes, blobs_lr, weight_decay) become one V2 `param` per blob.
void write_blob_params(Writer& w, const Message& m) {
  struct Entry {
    Pos pos{UINT32_MAX, 0};
    std::vector<std::pair<std::string_view, const Field*>> fields;
  };
  std::map<size_t, Entry> params;
  std::unordered_map<std::string_view, size_t> counts;
  constexpr std::pair<std::string_view, std::string_view> kMap[] = {
      {"param", "name"}, {"blob_share_mode", "share_mode"}, {"blobs_lr", "lr_mult"}, {"weight_decay", "decay_mult"}};
  for (const auto& f : m.fields)
    for (const auto& [v1, v2] : kMap)
      if (f.name == v1) {
        Entry& e = params[counts[v1]++];
        if (f.pos.line < e.pos.line) e.pos = f.pos;
        e.fields.emplace_back(v2, &f);
      }
  for (const auto& [i, e] : params) {
    w.open("param", e.pos);
    for (const auto& [name, f] : e.fields) w.value(name, *f);
    w.close();
  }
}

constexpr std::string_view kV1Copied[] = {"name",   "bottom",        "top",    "include", "exclude",
                                          "blobs",  "loss_weight",   "propagate_down"};

void upgrade_v1_layer(const Document& doc, Writer& w, const Field& layers) {
  const Message& m = doc.message(layers);
  w.open("layer", layers.pos);
  for (const auto& f : m.fields) {
    if (f.name == "type") {
      w.string("type", v1_type(doc, f), f.pos);
    } else if (f.name.ends_with("_param") ||
               std::find(std::begin(kV1Copied), std::end(kV1Copied), f.name) != std::end(kV1Copied)) {
      w.copy(f);
    } else if (f.name == "param" || f.name == "blob_share_mode" || f.name == "blobs_lr" ||
               f.name == "weight_decay") {
      continue;  // written below, one `param` per blob
    } else {
      doc.fail(f.pos, fmt::format("unknown field \"{}\" in a V1 layer (layers {{ ... }}), expected a field of "
                                  "V1LayerParameter such as name, type, bottom, top or a *_param message",
                                  f.name));
    }
  }
  write_blob_params(w, m);
  w.close();
}

// ---- V0: `layers { layer { type: "conv" ... } bottom: ... }` -----------------------------------------

constexpr std::pair<std::string_view, std::string_view> kV0Types[] = {
    {"accuracy", "Accuracy"},
    {"bnll", "BNLL"},
    {"concat", "Concat"},
    {"conv", "Convolution"},
    {"data", "Data"},
    {"dropout", "Dropout"},
    {"euclidean_loss", "EuclideanLoss"},
    {"flatten", "Flatten"},
    {"hdf5_data", "HDF5Data"},
    {"hdf5_output", "HDF5Output"},
    {"im2col", "Im2col"},
    {"images", "ImageData"},
    {"infogain_loss", "InfogainLoss"},
    {"innerproduct", "InnerProduct"},
    {"lrn", "LRN"},
    {"multinomial_logistic_loss", "MultinomialLogisticLoss"},
    {"pool", "Pooling"},
    {"relu", "ReLU"},
    {"sigmoid", "Sigmoid"},
    {"softmax", "Softmax"},
    {"softmax_loss", "SoftmaxWithLoss"},
    {"split", "Split"},
    {"tanh", "TanH"},
    {"window_data", "WindowData"},
};

// Where a flat V0LayerParameter field goes for a given V0 type: {v0 type, v0 field, message, v2 field}.
struct V0Move {
  std::string_view type, field, message, target;
};
constexpr V0Move kV0Moves[] = {
    {"conv", "num_output", "convolution_param", "num_output"},
    {"innerproduct", "num_output", "inner_product_param", "num_output"},
    {"conv", "biasterm", "convolution_param", "bias_term"},
    {"innerproduct", "biasterm", "inner_product_param", "bias_term"},
    {"conv", "weight_filler", "convolution_param", "weight_filler"},
    {"innerproduct", "weight_filler", "inner_product_param", "weight_filler"},
    {"conv", "bias_filler", "convolution_param", "bias_filler"},
    {"innerproduct", "bias_filler", "inner_product_param", "bias_filler"},
    {"conv", "pad", "convolution_param", "pad"},
    {"pool", "pad", "pooling_param", "pad"},
    {"conv", "kernelsize", "convolution_param", "kernel_size"},
    {"pool", "kernelsize", "pooling_param", "kernel_size"},
    {"conv", "group", "convolution_param", "group"},
    {"conv", "stride", "convolution_param", "stride"},
    {"pool", "stride", "pooling_param", "stride"},
    {"pool", "pool", "pooling_param", "pool"},
    {"dropout", "dropout_ratio", "dropout_param", "dropout_ratio"},
    {"lrn", "local_size", "lrn_param", "local_size"},
    {"lrn", "alpha", "lrn_param", "alpha"},
    {"lrn", "beta", "lrn_param", "beta"},
    {"lrn", "k", "lrn_param", "k"},
    {"data", "source", "data_param", "source"},
    {"hdf5_data", "source", "hdf5_data_param", "source"},
    {"images", "source", "image_data_param", "source"},
    {"window_data", "source", "window_data_param", "source"},
    {"infogain_loss", "source", "infogain_loss_param", "source"},
    {"data", "scale", "transform_param", "scale"},
    {"images", "scale", "transform_param", "scale"},
    {"window_data", "scale", "transform_param", "scale"},
    {"data", "meanfile", "transform_param", "mean_file"},
    {"images", "meanfile", "transform_param", "mean_file"},
    {"window_data", "meanfile", "transform_param", "mean_file"},
    {"data", "batchsize", "data_param", "batch_size"},
    {"hdf5_data", "batchsize", "hdf5_data_param", "batch_size"},
    {"images", "batchsize", "image_data_param", "batch_size"},
    {"window_data", "batchsize", "window_data_param", "batch_size"},
    {"data", "cropsize", "transform_param", "crop_size"},
    {"images", "cropsize", "transform_param", "crop_size"},
    {"window_data", "cropsize", "transform_param", "crop_size"},
    {"data", "mirror", "transform_param", "mirror"},
    {"images", "mirror", "transform_param", "mirror"},
    {"window_data", "mirror", "transform_param", "mirror"},
    {"data", "rand_skip", "data_param", "rand_skip"},
    {"images", "rand_skip", "image_data_param", "rand_skip"},
    {"images", "shuffle_images", "image_data_param", "shuffle"},
    {"images", "new_height", "image_data_param", "new_height"},
    {"images", "new_width", "image_data_param", "new_width"},
    {"concat", "concat_dim", "concat_param", "concat_dim"},
    {"window_data", "det_fg_threshold", "window_data_param", "fg_threshold"},
    {"window_data", "det_bg_threshold", "window_data_param", "bg_threshold"},
    {"window_data", "det_fg_fraction", "window_data_param", "fg_fraction"},
    {"window_data", "det_context_pad", "window_data_param", "context_pad"},
    {"window_data", "det_crop_mode", "window_data_param", "crop_mode"},
    {"hdf5_output", "hdf5_output_param", "", ""},  // already a message: copied as it is
};

// A V0 padding layer: removed, its pad moved into the convolution or pooling that reads its top.
struct Padding {
  const Field* pad = nullptr;
  const Field* bottom = nullptr;
};

void upgrade_v0_layer(const Document& doc, Writer& w, const Field& layers,
                      const std::unordered_map<std::string_view, Padding>& paddings) {
  const Message& conn = doc.message(layers);
  const Field* inner = find_field(conn, "layer");
  const Message empty;
  const Message& m = inner && inner->kind == ValueKind::Message ? doc.message(*inner) : empty;
  const Field* type_field = find_field(m, "type");
  if (!type_field || type_field->kind != ValueKind::String)
    doc.fail(inner ? inner->pos : layers.pos, "V0 layer has no type, expected layer { type: \"conv\" ... }");
  const std::string_view v0 = type_field->text;
  if (v0 == "padding") return;
  std::string v2;
  for (const auto& [a, b] : kV0Types)
    if (a == v0) v2 = b;
  if (v2.empty())
    doc.fail(type_field->value_pos, fmt::format("type {}, expected a V0 layer type such as \"conv\", \"pool\", "
                                                "\"relu\", \"innerproduct\"", Writer::quote(v0)));

  w.open("layer", layers.pos);
  // Flat V0 fields grouped by the V2 message they move to, in order of first appearance.
  std::vector<std::pair<std::string_view, std::vector<std::pair<std::string_view, const Field*>>>> groups;
  auto group = [&](std::string_view msg) -> auto& {
    for (auto& g : groups)
      if (g.first == msg) return g.second;
    groups.emplace_back(msg, std::vector<std::pair<std::string_view, const Field*>>{});
    return groups.back().second;
  };
  for (const auto& f : m.fields) {
    if (f.name == "name" || f.name == "blobs") {
      w.copy(f);
      continue;
    }
    if (f.name == "type") {
      w.string("type", v2, f.pos);
      continue;
    }
    if (f.name == "blobs_lr" || f.name == "weight_decay") continue;  // written below as `param`
    const V0Move* move = nullptr;
    for (const auto& mv : kV0Moves)
      if (mv.type == v0 && mv.field == f.name) move = &mv;
    if (!move)
      doc.fail(f.pos, fmt::format("field \"{}\" does not apply to a V0 \"{}\" layer, expected the fields of "
                                  "V0LayerParameter that Caffe upgrades for this type",
                                  f.name, v0));
    if (move->message.empty())
      w.copy(f);
    else
      group(move->message).emplace_back(move->target, &f);
  }
  // A padding layer feeding this one lends it its pad (Caffe's UpgradeV0PaddingLayers).
  const Padding* padding = nullptr;
  for (const auto& f : conn.fields)
    if (f.name == "bottom" && f.kind == ValueKind::String)
      if (auto it = paddings.find(f.text); it != paddings.end()) padding = &it->second;
  if (padding) {
    if (v0 != "conv" && v0 != "pool")
      doc.fail(layers.pos, fmt::format("a V0 padding layer feeds a \"{}\" layer, expected conv or pool", v0));
    if (padding->pad) {
      auto& g = group(v0 == "conv" ? "convolution_param" : "pooling_param");
      if (std::none_of(g.begin(), g.end(), [](const auto& e) { return e.first == "pad"; }))
        g.emplace_back("pad", padding->pad);
    }
  }
  for (const auto& [msg, fields] : groups) {
    w.open(msg, fields.front().second->pos);
    for (const auto& [name, f] : fields) {
      if (f->kind == ValueKind::Message)
        w.copy(*f, name);
      else
        w.value(name, *f);
    }
    w.close();
  }
  write_blob_params(w, m);
  for (const auto& f : conn.fields) {
    if (f.name == "layer") continue;
    if (f.name != "bottom" && f.name != "top")
      doc.fail(f.pos, fmt::format("unknown field \"{}\" in a V0 layer connection, expected layer, bottom or top",
                                  f.name));
    if (f.name == "bottom" && f.kind == ValueKind::String && padding && paddings.contains(f.text)) {
      const Padding& p = paddings.at(f.text);
      if (p.bottom) {
        w.value("bottom", *p.bottom);
        continue;
      }
    }
    w.copy(f);
  }
  w.close();
}

}  // namespace

CaffeFormat caffe_format(const Document& doc) {
  CaffeFormat format = CaffeFormat::V2;
  for (const auto& f : doc.root().fields) {
    if (f.name != "layers") continue;
    if (f.kind == ValueKind::Message && find_field(doc.message(f), "layer")) return CaffeFormat::V0;
    format = CaffeFormat::V1;
  }
  return format;
}

std::optional<std::string> upgrade_caffe_net(const Document& doc) {
  const CaffeFormat format = caffe_format(doc);
  if (format == CaffeFormat::V2) return std::nullopt;
  for (const auto& f : doc.root().fields)
    if (f.name == "layer")
      doc.fail(f.pos, "both \"layer\" and the legacy \"layers\" are used, expected one format in a file");

  std::unordered_map<std::string_view, Padding> paddings;  // V0 padding layers by their top
  if (format == CaffeFormat::V0) {
    for (const auto& f : doc.root().fields) {
      if (f.name != "layers" || f.kind != ValueKind::Message) continue;
      const Message& conn = doc.message(f);
      const Field* inner = find_field(conn, "layer");
      if (!inner || inner->kind != ValueKind::Message) continue;
      const Field* type = find_field(doc.message(*inner), "type");
      if (!type || type->kind != ValueKind::String || type->text != "padding") continue;
      const Field* top = find_field(conn, "top");
      if (!top || top->kind != ValueKind::String)
        doc.fail(f.pos, "a V0 padding layer has no top, expected top: \"name\"");
      paddings[top->text] = Padding{find_field(doc.message(*inner), "pad"), find_field(conn, "bottom")};
    }
  }

  Writer w(doc);
  for (const auto& f : doc.root().fields) {
    if (f.name != "layers") {
      w.copy(f);
      continue;
    }
    if (f.kind != ValueKind::Message) doc.fail(f.value_pos, "layers is a value, expected layers { ... }");
    if (format == CaffeFormat::V0)
      upgrade_v0_layer(doc, w, f, paddings);
    else
      upgrade_v1_layer(doc, w, f);
  }
  return w.take();
}

}  // namespace convergy

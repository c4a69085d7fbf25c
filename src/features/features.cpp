// Per-layer and whole-network features (MACs, ops, parameters, tensor sizes, hyper-parameters). The
// formulas are defined in docs/features.md; keep the two in step.
#include "features/features.h"

#include "util/checked.h"
#include "util/error.h"

#include <algorithm>
#include <array>
#include <variant>

namespace convergy {

namespace {

// A static_assert in the spirit of ggml's: adding a LayerKind must make someone revisit layer_ops().
static_assert(kLayerKindCount == 42,
              "a LayerKind was added: define its ops in layer_ops() and docs/features.md");

// Weights are stored as fp32 whatever the activations' type.
constexpr uint64_t kWeightBytes = 4;

std::string where(const Graph& g, const Layer& l) {
  if (!l.origin.empty()) return l.origin.str() + ": ";
  if (!g.source().empty()) return g.source() + ": ";
  return {};
}

// Checked unsigned arithmetic that names the layer when a count no longer fits in 64 bits.
class Counter {
 public:
  Counter(const Graph& g, const Layer& l) : g_(g), l_(l) {}

  uint64_t mul(uint64_t a, uint64_t b, const char* what) const {
    auto r = checked_mul_u(a, b);
    if (!r) overflow(what);
    return *r;
  }
  uint64_t add(uint64_t a, uint64_t b, const char* what) const {
    auto r = checked_add_u(a, b);
    if (!r) overflow(what);
    return *r;
  }
  uint64_t elems(const Shape& s, const char* what) const {
    uint64_t n = 1;
    for (int64_t d : s.dims) {
      if (d < 0)
        throw_bad_input("{}layer \"{}\" ({}): {} shape {} has a negative dimension", where(g_, l_), l_.name,
                        layer_kind_name(l_.kind), what, s.str());
      n = mul(n, static_cast<uint64_t>(d), what);
    }
    return n;
  }
  [[noreturn]] void overflow(const char* what) const {
    throw_bad_input("{}layer \"{}\" ({}): {} overflows 64 bits, expected a network of realistic size",
                    where(g_, l_), l_.name, layer_kind_name(l_.kind), what);
  }

 private:
  const Graph& g_;
  const Layer& l_;
};

uint64_t u(int64_t v) { return v < 0 ? 0 : static_cast<uint64_t>(v); }

int normalise_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

// Activations computing exp or tanh of every element (exp_elems), and Softmax, which takes the exponential of
// every element too: a classifier's 1000 are next to nothing, but attention's (12 heads of 197 x 197 per
// block in ViT-B/16) were 5.5% of that network's time and priced at a tenth of it without them. Softmax was
// left out while the exponential's rate could only be learned from the networks (before the operator probe):
// the classifiers' fixed cost then set it.
bool uses_exp(LayerKind k) {
  return k == LayerKind::Sigmoid || k == LayerKind::Swish || k == LayerKind::TanH || k == LayerKind::GELU ||
         k == LayerKind::Softmax;
}

// Elementary operations of a layer other than its MACs (see docs/features.md, "ops").
uint64_t layer_ops(const Layer& l, const LayerFeatures& f, const Counter& c, uint64_t first_in_elems) {
  const uint64_t out = f.out_elems;
  switch (l.kind) {
    case LayerKind::Convolution:
      return l.p<ConvParams>().bias ? out : 0;  // one add per output for the bias
    case LayerKind::InnerProduct:
      return l.p<InnerProductParams>().bias ? out : 0;
    case LayerKind::Pooling: {
      const auto& p = l.p<PoolParams>();
      if (p.global) return first_in_elems;
      return c.mul(out, c.mul(u(p.kernel_h), u(p.kernel_w), "op count"), "op count");
    }
    case LayerKind::ReLU:
    case LayerKind::LeakyReLU:
    case LayerKind::Clip:
    case LayerKind::PReLU:
    case LayerKind::Sigmoid:
    case LayerKind::TanH:
    case LayerKind::Swish:
    case LayerKind::HardSwish:
    case LayerKind::HardSigmoid:
    case LayerKind::GELU:
    case LayerKind::BatchNorm:
    case LayerKind::Scale:
      return out;
    case LayerKind::Eltwise:
      return c.mul(out, l.inputs.size(), "op count");
    case LayerKind::LRN: {
      const auto& p = l.p<LRNParams>();
      uint64_t window =
          p.across_channels ? u(p.local_size) : c.mul(u(p.local_size), u(p.local_size), "op count");
      // window multiply-adds for the sum of squares, then scale-and-offset, power and divide.
      return c.mul(out, c.add(window, 3, "op count"), "op count");
    }
    case LayerKind::Softmax:
      return c.mul(out, 3, "op count");  // exp, accumulate, divide
    case LayerKind::Deconvolution:
      return l.p<ConvParams>().bias ? out : 0;
    case LayerKind::ArgMax:
      return c.mul(first_in_elems, u(l.p<ArgMaxParams>().top_k), "op count");  // compare each value per rank
    case LayerKind::Resize:
      // Nearest only moves data; bilinear blends four neighbours (4 multiplies, 3 adds) per output.
      return l.p<ResizeParams>().mode == ResizeMode::Bilinear ? c.mul(out, 7, "op count") : 0;
    case LayerKind::Axpy:
      return c.mul(out, 2, "op count");
    case LayerKind::Power:  // scale and shift, then the power unless it is 1
      return c.mul(out, l.p<PowerParams>().power == 1.0f ? 2 : 3, "op count");
    case LayerKind::Normalize:
      return c.mul(out, 4, "op count");  // square and accumulate, then divide and scale
    case LayerKind::LayerNorm:
      // Accumulate (mean), square and accumulate (variance), normalise, then scale and shift where learned.
      return c.mul(out, l.p<LayerNormParams>().affine ? 4 : 3, "op count");
    case LayerKind::PriorBox:
      return out;  // each coordinate and variance is computed once, independent of the data
    case LayerKind::DetectionOutput:
    case LayerKind::ROIPooling:
      // Data-dependent work (NMS, bin sizes): a lower bound of one op per value read (see docs/features.md).
      return f.in_elems;
    case LayerKind::MatMul:    // multiply-adds only: its MACs
    case LayerKind::Constant:  // a stored tensor, read as data
    case LayerKind::Opaque:    // nothing is known of it; counted as free, and said so when imported
    case LayerKind::Crop:
    case LayerKind::Input:
    case LayerKind::Concat:
    case LayerKind::Dropout:
    case LayerKind::Flatten:
    case LayerKind::Reshape:
    case LayerKind::Split:
    case LayerKind::Slice:
    case LayerKind::ChannelShuffle:
    case LayerKind::Permute:
    case LayerKind::Pad:
    case LayerKind::kCount:
      return 0;  // data movement only; its cost shows in the byte counts
  }
  return 0;
}

// Kernel, stride and padding of a sliding window (ConvParams and PoolParams name them alike).
template <class Params>
void set_window(LayerFeatures& f, const Params& p) {
  f.kernel_h = p.kernel_h;
  f.kernel_w = p.kernel_w;
  f.stride_h = p.stride_h;
  f.stride_w = p.stride_w;
  f.pad_h = p.pad_top + p.pad_bottom;
  f.pad_w = p.pad_left + p.pad_right;
}

// Window and groups of a Convolution or Deconvolution (the same hyper-parameters).
void set_conv_geometry(LayerFeatures& f, const ConvParams& p) {
  set_window(f, p);
  f.groups = p.groups;
  f.depthwise = p.groups > 1 && p.groups == f.in_c;
}

// The network's batch: the first dimension of its first input, or 0 for a graph without one. A ConvNet's
// layers all have it on axis 0, but a transformer's need not: torch's attention runs sequence-first, so its
// layers have the 50 tokens of ViT-B/32 there, and `batch` read off them would be 50.
int64_t network_batch(const Graph& g) {
  for (const Layer& l : g.layers())
    if (l.kind == LayerKind::Input && !l.outputs.empty()) return g.blob(l.outputs[0]).shape.n();
  return 0;
}

// The name is set last: the checks before it name the layer in their messages. `batch` is network_batch().
LayerFeatures layer_features(const Graph& graph, LayerId id, Graph* movable, int64_t batch) {
  const Layer& l = graph.layer(id);
  Counter c(graph, l);
  LayerFeatures f;
  f.kind = l.kind;
  f.cls = layer_class(l);

  uint64_t first_in_elems = 0;
  for (size_t i = 0; i < l.inputs.size(); ++i) {
    const Blob& b = graph.blob(l.inputs[i]);
    uint64_t n = c.elems(b.shape, "input");
    if (i == 0) first_in_elems = n;
    f.in_elems = c.add(f.in_elems, n, "input element count");
    f.in_bytes = c.add(f.in_bytes, c.mul(n, u(dtype_bytes(b.dtype)), "input byte count"), "input byte count");
  }
  for (BlobId o : l.outputs) {
    const Blob& b = graph.blob(o);
    uint64_t n = c.elems(b.shape, "output");
    f.out_elems = c.add(f.out_elems, n, "output element count");
    f.out_bytes =
        c.add(f.out_bytes, c.mul(n, u(dtype_bytes(b.dtype)), "output byte count"), "output byte count");
  }
  for (const WeightSpec& w : l.weights) {
    uint64_t n = c.elems(w.shape, "weight");
    f.weight_elems = c.add(f.weight_elems, n, "weight element count");
    if (w.learnable) f.params = c.add(f.params, n, "parameter count");
  }
  if (l.kind == LayerKind::Constant &&
      l.p<ConstantParams>().learned >= 0)  // gathered or computed by the importer
    f.params = std::min(f.params, static_cast<uint64_t>(l.p<ConstantParams>().learned));
  f.weight_bytes = c.mul(f.weight_elems, kWeightBytes, "weight byte count");

  // Hyper-parameters: first input and first output (an Input layer has only an output).
  const Shape* in = l.inputs.empty() ? nullptr : &graph.blob(l.inputs[0]).shape;
  const Shape* out = l.outputs.empty() ? nullptr : &graph.blob(l.outputs[0]).shape;
  const Shape* first = in ? in : out;
  if (first) f.batch = batch > 0 ? batch : first->n();
  if (in) {
    f.in_c = in->c();
    f.in_h = in->h();
    f.in_w = in->w();
  }
  if (out) {
    f.out_c = out->c();
    f.out_h = out->h();
    f.out_w = out->w();
  }

  if (l.kind == LayerKind::Convolution && in && out) {
    const auto& p = l.p<ConvParams>();
    set_conv_geometry(f, p);
    uint64_t per_output = c.mul(u(f.in_c / std::max<int64_t>(p.groups, 1)),
                                c.mul(u(p.kernel_h), u(p.kernel_w), "MAC count"), "MAC count");
    uint64_t outputs = c.mul(c.mul(u(out->n()), u(f.out_c), "MAC count"),
                             c.mul(u(f.out_h), u(f.out_w), "MAC count"), "MAC count");
    f.macs = c.mul(outputs, per_output, "MAC count");
  } else if (l.kind == LayerKind::Deconvolution && in && out) {
    const auto& p = l.p<ConvParams>();
    set_conv_geometry(f, p);
    // Each input value is scattered through a kernel into out_c / groups channels.
    uint64_t per_input = c.mul(u(f.out_c / std::max<int64_t>(p.groups, 1)),
                               c.mul(u(p.kernel_h), u(p.kernel_w), "MAC count"), "MAC count");
    f.macs = c.mul(first_in_elems, per_input, "MAC count");
  } else if (l.kind == LayerKind::InnerProduct && in) {
    const auto& p = l.p<InnerProductParams>();
    int axis = std::clamp(normalise_axis(p.axis, in->rank()), 0, in->rank());
    uint64_t rows = 1, cols = 1;
    for (int i = 0; i < in->rank(); ++i) {
      uint64_t& part = i < axis ? rows : cols;  // batch-like dims before the axis, features after it
      part = c.mul(part, u((*in)[i]), "MAC count");
    }
    f.macs = c.mul(c.mul(rows, cols, "MAC count"), u(p.num_output), "MAC count");
  } else if (l.kind == LayerKind::MatMul && in && out && out->rank() >= 2) {
    // Every output element is a dot product along A's last axis.
    f.macs = c.mul(f.out_elems, u((*in)[in->rank() - 1]), "MAC count");
  } else if (l.kind == LayerKind::Pooling && in) {
    const auto& p = l.p<PoolParams>();
    if (p.global) {
      f.kernel_h = f.in_h;
      f.kernel_w = f.in_w;
      f.stride_h = f.stride_w = 1;
    } else {
      set_window(f, p);
    }
  }

  // flops() doubles MACs, so leave it room.
  if (f.macs > UINT64_MAX / 2) c.overflow("FLOP count");

  f.ops = layer_ops(l, f, c, first_in_elems);
  // A fused activation still runs, inside its producer: one op per output element.
  if (l.fused_activation) f.ops = c.add(f.ops, f.out_elems, "op count");
  f.exp_elems = (uses_exp(l.kind) ? f.out_elems : 0) +
                (l.fused_activation && uses_exp(l.fused_activation->kind) ? f.out_elems : 0);
  f.name = movable ? std::move(movable->mutable_layers()[static_cast<size_t>(id)].name) : l.name;
  return f;
}

}  // namespace

LayerFeatures layer_features(const Graph& graph, LayerId id) {
  return layer_features(graph, id, nullptr, network_batch(graph));
}

const std::vector<std::string>& feature_names() {
  static const std::vector<std::string> names = {
      "1",         "macs",     "flops",     "ops",          "params",    "weight_elems", "in_elems",
      "out_elems", "in_bytes", "out_bytes", "weight_bytes", "batch",     "in_c",         "in_h",
      "in_w",      "out_c",    "out_h",     "out_w",        "kernel_h",  "kernel_w",     "stride_h",
      "stride_w",  "pad_h",    "pad_w",     "groups",       "depthwise", "exp_elems"};
  return names;
}

std::optional<size_t> feature_index(std::string_view feature) {
  const auto& names = feature_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == feature) return i;
  return std::nullopt;
}

std::optional<double> LayerFeatures::get(std::string_view feature) const {
  const std::optional<size_t> i = feature_index(feature);
  if (!i) return std::nullopt;
  return get(*i);
}

// In the order of feature_names().
double LayerFeatures::get(size_t index) const {
  auto d = [](auto v) { return static_cast<double>(v); };
  switch (index) {
    case 0:
      return 1.0;
    case 1:
      return d(macs);
    case 2:
      return d(flops());
    case 3:
      return d(ops);
    case 4:
      return d(params);
    case 5:
      return d(weight_elems);
    case 6:
      return d(in_elems);
    case 7:
      return d(out_elems);
    case 8:
      return d(in_bytes);
    case 9:
      return d(out_bytes);
    case 10:
      return d(weight_bytes);
    case 11:
      return d(batch);
    case 12:
      return d(in_c);
    case 13:
      return d(in_h);
    case 14:
      return d(in_w);
    case 15:
      return d(out_c);
    case 16:
      return d(out_h);
    case 17:
      return d(out_w);
    case 18:
      return d(kernel_h);
    case 19:
      return d(kernel_w);
    case 20:
      return d(stride_h);
    case 21:
      return d(stride_w);
    case 22:
      return d(pad_h);
    case 23:
      return d(pad_w);
    case 24:
      return d(groups);
    case 25:
      return d(depthwise ? 1 : 0);
    case 26:
      return d(exp_elems);
    default:
      throw_failure("internal: feature index {}, expected below {}", index, feature_names().size());
  }
}

namespace {

// With `movable` (`graph` itself, which the caller gave away) the layer names are moved, not copied.
NetworkFeatures network_features_of(const Graph& graph, Graph* movable) {
  NetworkFeatures n;
  auto add = [&](uint64_t a, uint64_t b, const char* what) {
    auto r = checked_add_u(a, b);
    if (!r)
      throw_bad_input("{}network \"{}\": total {} overflows 64 bits, expected a network of realistic size",
                      graph.source().empty() ? std::string() : graph.source() + ": ", graph.name(), what);
    return *r;
  };
  n.layers.reserve(static_cast<size_t>(graph.num_layers()));
  const int64_t batch = network_batch(graph);
  for (LayerId i = 0; i < graph.num_layers(); ++i) {
    if (graph.layer(i).kind == LayerKind::Input) continue;
    LayerFeatures f = layer_features(graph, i, movable, batch);
    n.macs = add(n.macs, f.macs, "MAC count");
    n.ops = add(n.ops, f.ops, "op count");
    n.params = add(n.params, f.params, "parameter count");
    n.weight_bytes = add(n.weight_bytes, f.weight_bytes, "weight byte count");
    n.layers.push_back(std::move(f));
  }
  if (n.macs > UINT64_MAX / 2) add(n.macs, n.macs, "FLOP count");  // throws: 2 x MACs must fit
  return n;
}

}  // namespace

NetworkFeatures network_features(const Graph& graph) { return network_features_of(graph, nullptr); }

NetworkFeatures network_features(Graph&& graph) { return network_features_of(graph, &graph); }

}  // namespace convergy

// Terms, layer groups and feature sets (see terms.h).
#include "model/terms.h"

#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace convergy::model {

std::string_view group_name(Group g) {
  static constexpr std::array<std::string_view, kGroupCount> names = {"conv", "dwconv", "fc", "pool", "other", "net"};
  return names[static_cast<size_t>(g)];
}

std::optional<Group> group_from_name(std::string_view name) {
  for (int i = 0; i < kGroupCount; ++i)
    if (group_name(static_cast<Group>(i)) == name) return static_cast<Group>(i);
  return std::nullopt;
}

std::optional<Group> layer_group(const LayerFeatures& layer, bool depthwise_group) {
  switch (layer.cls) {
    case LayerClass::Conv: return depthwise_group && layer.depthwise ? Group::DwConv : Group::Conv;
    case LayerClass::FC: return Group::FC;
    case LayerClass::Pool: return Group::Pool;
    case LayerClass::Other: return Group::Other;
    case LayerClass::None: return std::nullopt;
  }
  return std::nullopt;
}

std::string Term::name() const {
  if (factors.empty()) return "1";
  std::string s;
  for (const auto& f : factors) {
    if (!s.empty()) s += '*';
    std::string base = f.log2 ? "log2(" + f.feature + ")" : f.feature;
    if (f.equals) base = fmt::format("[{}={}]", f.feature, *f.equals);
    if (f.standardised()) base = "z(" + base + ")";
    s += base;
    if (f.power != 1) s += "^" + std::to_string(f.power);
  }
  return s;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits at `sep` outside parentheses and brackets: "macs*roundup(out_h*out_w,32)" is two factors.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(' || s[i] == '[') ++depth;
    if ((s[i] == ')' || s[i] == ']') && depth > 0) --depth;
    if (s[i] == sep && depth == 0) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

bool known_feature(std::string_view name, const std::vector<std::string>& extra) {
  const auto& names = feature_names();
  const auto& derived = derived_feature_names();
  return std::find(names.begin(), names.end(), name) != names.end() ||
         std::find(derived.begin(), derived.end(), name) != derived.end() ||
         std::find(extra.begin(), extra.end(), name) != extra.end();
}

std::string all_features(const std::vector<std::string>& extra) {
  std::string s;
  for (const auto& n : feature_names())
    if (n != "1") s += (s.empty() ? "" : ", ") + n;
  for (const auto& n : derived_feature_names()) s += ", " + n;
  for (const auto& n : extra) s += ", " + n;
  return s;
}

}  // namespace

const std::vector<std::string>& derived_feature_names() {
  static const std::vector<std::string> names = {"layers", "exec_macs", "loop_ops", "unfold_bytes",
                                                 "unfold_rows"};
  return names;
}

namespace {

// derived_feature_names()[index] of `layer`.
double derived_feature_at(size_t index, const LayerFeatures& layer) {
  switch (index) {
    case 0:  // layers
      return 1.0;
    case 1: {  // exec_macs
      // cuDNN and TensorRT run dense 3x3 stride-1 convolutions with Winograd F(2x2,3x3): 16 multiplications
      // per 2x2 output tile and input channel instead of 36, i.e. 2.25 times fewer than direct convolution.
      const bool winograd = layer.cls == LayerClass::Conv && layer.kernel_h == 3 && layer.kernel_w == 3 &&
                            layer.stride_h == 1 && layer.stride_w == 1 && layer.groups == 1;
      return static_cast<double>(layer.macs) / (winograd ? 2.25 : 1.0);
    }
    case 2: {  // loop_ops
      // Element operations run by plain loops rather than a GEMM: every layer's `ops` (pooling windows,
      // activations, element-wise, bias adds) plus the MACs of a depthwise convolution, which no backend runs
      // as a GEMM (a direct loop on the CPU backends, a dedicated memory-bound kernel in cuDNN).
      const bool depthwise = layer.cls == LayerClass::Conv && layer.depthwise;
      return static_cast<double>(layer.ops) + (depthwise ? static_cast<double>(layer.macs) : 0.0);
    }
    case 4: {  // unfold_rows
      // The rows of out_w elements an im2col writes, in_c x kh x kw x out_h per image, each with a loop and a
      // bounds check of its own: where a group has few channels and the image is small (RegNet's 7x7 layers
      // of 16 channels per group) they cost more than the bytes and MACs. 0 for a convolution the GEMM reads
      // in place (1x1, stride 1, no padding), a depthwise one (a direct loop) and every other layer.
      if (layer.kind != LayerKind::Convolution || layer.depthwise) return 0.0;
      if (layer.kernel_h == 1 && layer.kernel_w == 1 && layer.stride_h == 1 && layer.stride_w == 1 &&
          layer.pad_h == 0 && layer.pad_w == 0)
        return 0.0;
      return static_cast<double>(layer.batch) * static_cast<double>(layer.in_c) *
             static_cast<double>(layer.kernel_h * layer.kernel_w) * static_cast<double>(layer.out_h);
    }
    default: {  // unfold_bytes
      // The bytes of a convolution's unfolded input: the GEMM operand that is neither the weights nor the
      // output, in_c x kh x kw rows of out_h x out_w columns per image (Caffe's im2col matrix, the tiles an
      // implicit-GEMM kernel loads). Each of its elements takes part in out_c / groups MACs, so per MAC it
      // costs most where a group has few output channels (RegNet, ResNeXt); 0 for a depthwise convolution (a
      // direct loop) and every other layer class.
      if (layer.kind != LayerKind::Convolution || layer.depthwise) return 0.0;
      return 4.0 * static_cast<double>(layer.batch) * static_cast<double>(layer.in_c) *
             static_cast<double>(layer.kernel_h * layer.kernel_w) *
             static_cast<double>(layer.out_h * layer.out_w);
    }
  }
}

std::optional<size_t> derived_feature_index(std::string_view name) {
  const auto& names = derived_feature_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  return std::nullopt;
}

}  // namespace

std::optional<double> derived_feature(std::string_view name, const LayerFeatures& layer) {
  const std::optional<size_t> i = derived_feature_index(name);
  if (!i) return std::nullopt;
  return derived_feature_at(*i, layer);
}

FeatureRef resolve_feature(std::string_view name) {
  FeatureRef r;
  if (auto i = feature_index(name)) {
    r.source = FeatureRef::Source::Layer;
    r.index = *i;
  } else if (auto d = derived_feature_index(name)) {
    r.source = FeatureRef::Source::Derived;
    r.index = *d;
  } else {
    r.name = std::string(name);
  }
  return r;
}

std::optional<double> feature_value(const FeatureRef& ref, const LayerFeatures& layer,
                                    const ExtraValues* extra) {
  switch (ref.source) {
    case FeatureRef::Source::Layer:
      return layer.get(ref.index);
    case FeatureRef::Source::Derived:
      return derived_feature_at(ref.index, layer);
    case FeatureRef::Source::Extra:
      break;
  }
  if (extra) {
    auto it = extra->find(ref.name);
    if (it != extra->end()) return it->second;
  }
  return std::nullopt;
}

Term parse_term(std::string_view text, const std::string& where, const std::vector<std::string>& extra) {
  text = trim(text);
  Term t;
  if (text == "1") return t;
  if (text.empty()) throw_bad_input("{}: empty term, expected a feature name such as macs or 1", where);
  for (std::string_view part : split(text, '*')) {
    part = trim(part);
    Factor f;
    if (size_t caret = part.rfind('^'); caret != std::string_view::npos && part.find(')', caret) == std::string_view::npos) {
      std::string_view p = trim(part.substr(caret + 1));
      auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), f.power);
      if (ec != std::errc() || ptr != p.data() + p.size() || f.power < 1 || f.power > 6)
        throw_bad_input("{}: term \"{}\": power \"{}\", expected an integer 1 to 6", where, text, p);
      part = trim(part.substr(0, caret));
    }
    if (part.starts_with("[") && part.ends_with("]")) {
      std::string_view inner = part.substr(1, part.size() - 2);
      size_t eq = inner.find('=');
      double v = 0;
      std::string_view num = eq == std::string_view::npos ? std::string_view() : trim(inner.substr(eq + 1));
      auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
      if (eq == std::string_view::npos || num.empty() || ec != std::errc() || ptr != num.data() + num.size())
        throw_bad_input("{}: term \"{}\": indicator \"{}\", expected [feature=number]", where, text, part);
      f.equals = v;
      part = trim(inner.substr(0, eq));
      if (part.find_first_of("*(") != std::string_view::npos)
        throw_bad_input("{}: term \"{}\": indicator \"[{}]\", expected a single feature name before =", where, text,
                        inner);
    } else if (part.starts_with("log2(") && part.ends_with(")")) {
      f.log2 = true;
      part = trim(part.substr(5, part.size() - 6));
    }
    if (part == "1") continue;  // "1*macs" is just macs
    set_feature_expr(f, part, where, text, extra);
    t.factors.push_back(std::move(f));
  }
  return t;
}

void set_feature_expr(Factor& f, std::string_view expr, const std::string& where, std::string_view term,
                      const std::vector<std::string>& extra) {
  expr = trim(expr);
  f.round_to = 0;
  f.product.clear();
  std::string_view names = expr;
  if (expr.starts_with("roundup(") && expr.ends_with(")")) {
    std::string_view inner = expr.substr(8, expr.size() - 9);
    size_t comma = inner.rfind(',');
    std::string_view num = comma == std::string_view::npos ? std::string_view() : trim(inner.substr(comma + 1));
    int64_t m = 0;
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), m);
    if (comma == std::string_view::npos || num.empty() || ec != std::errc() || ptr != num.data() + num.size() ||
        m < 1 || m > (int64_t{1} << 20))
      throw_bad_input("{}: term \"{}\": \"{}\", expected roundup(feature or product of features, multiple) with a "
                      "whole multiple from 1 to 1048576",
                      where, term, expr);
    f.round_to = m;
    names = trim(inner.substr(0, comma));
  }
  for (std::string_view name : split(names, '*')) {
    name = trim(name);
    if (name.find_first_of("()[],=^") != std::string_view::npos || !known_feature(name, extra))
      throw_bad_input("{}: term \"{}\": unknown feature \"{}\", expected one of: {}", where, term, name,
                      all_features(extra));
    f.product.emplace_back(name);
  }
  f.feature.clear();
  for (const auto& n : f.product) f.feature += (f.feature.empty() ? "" : "*") + n;
  if (f.round_to > 0) f.feature = fmt::format("roundup({},{})", f.feature, f.round_to);
}

std::optional<double> feature_expr_value(const Factor& f, const LayerFeatures& layer, const ExtraValues* extra) {
  auto one = [&](const std::string& name) -> std::optional<double> {
    std::optional<double> x = layer.get(name);
    if (!x) x = derived_feature(name, layer);
    if (!x && extra) {
      auto it = extra->find(name);
      if (it != extra->end()) x = it->second;
    }
    return x;
  };
  if (f.product.empty()) return one(f.feature);  // a Factor built by hand, not parsed
  double v = 1.0;
  for (const auto& name : f.product) {
    std::optional<double> x = one(name);
    if (!x) return std::nullopt;
    v *= *x;
  }
  if (f.round_to > 0) v = std::ceil(v / static_cast<double>(f.round_to)) * static_cast<double>(f.round_to);
  return v;
}

double term_value(const Term& term, const LayerFeatures& layer, const ExtraValues* extra) {
  double v = 1.0;
  for (const auto& f : term.factors) {
    std::optional<double> x = feature_expr_value(f, layer, extra);
    if (!x) throw_bad_input("{}", unavailable_feature_message(layer.name, f.feature));
    double b = f.log2 ? std::log2(std::max(*x, 1.0)) : *x;
    b = f.equals ? (*x == *f.equals ? 1.0 : 0.0) : (b - f.center) / f.scale;
    double p = b;
    for (int i = 1; i < f.power; ++i) p *= b;
    v *= p;
  }
  return v;
}

const std::vector<std::string>& named_feature_sets() {
  static const std::vector<std::string> names = {"macs",    "macs+1",      "macs+mem", "compact",
                                                 "transfer", "neuralpower", "counters"};
  return names;
}

const std::vector<std::string>& counter_columns() {
  static const std::vector<std::string> names = {
      "instructions", "cycles", "cache-references", "cache-misses", "ASE_SPEC", "BUS_ACCESS",
      "FP_ARITH:SCALAR_SINGLE", "FP_ARITH:128B_PACKED_SINGLE", "FP_ARITH:256B_PACKED_SINGLE", "LLC_MISSES",
      "LLC_REFERENCES", "simd_instructions", "memory_accesses"};
  return names;
}

std::string unavailable_feature_message(const std::string& layer, const std::string& feature) {
  std::string columns = feature == "simd_instructions" ? "simd_instructions, ASE_SPEC (ARMv8) or FP_ARITH:128B_PACKED_SINGLE/"
                                                         "FP_ARITH:256B_PACKED_SINGLE (x86)"
                        : feature == "memory_accesses" ? "memory_accesses, BUS_ACCESS (ARMv8) or LLC_MISSES (x86)"
                                                       : feature;
  return fmt::format("layer \"{}\": feature \"{}\" is not available: it is not a layer feature, and the row has no "
                     "measured column {}",
                     layer, feature, columns);
}

void derive_counter_values(ExtraValues& values) {
  auto get = [&](const char* name) -> std::optional<double> {
    auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<double>(it->second);
  };
  if (!values.count("simd_instructions")) {
    auto p128 = get("FP_ARITH:128B_PACKED_SINGLE"), p256 = get("FP_ARITH:256B_PACKED_SINGLE");
    if (auto arm = get("ASE_SPEC")) values["simd_instructions"] = *arm;
    else if (p128 || p256) values["simd_instructions"] = p128.value_or(0.0) + p256.value_or(0.0);
  }
  if (!values.count("memory_accesses")) {
    if (auto arm = get("BUS_ACCESS")) values["memory_accesses"] = *arm;
    else if (auto llc = get("LLC_MISSES")) values["memory_accesses"] = *llc;
  }
}

FeatureSet parse_feature_set(const std::string& name_or_spec, const std::vector<std::string>& extra) {
  // Pooling and the "other" layers have no MACs; their work is `ops` (comparisons, adds, element ops).
  std::string spec;
  if (name_or_spec == "macs") {
    spec = "conv=macs;fc=macs;pool=ops;other=ops";
  } else if (name_or_spec == "macs+1") {
    spec = "conv=macs,1;fc=macs,1;pool=ops,1;other=ops,1";
  } else if (name_or_spec == "macs+mem") {
    spec = "conv=macs,in_bytes,out_bytes,weight_bytes,1;fc=macs,in_bytes,out_bytes,weight_bytes,1;"
           "pool=ops,in_bytes,out_bytes,1;other=ops,in_bytes,out_bytes,1";
  } else if (name_or_spec == "compact") {
    // The terms of macs+mem where they carry weight on CPU backends, depthwise convolutions on their own (a
    // direct loop, not im2col + GEMM), fitted for whole-network accuracy (wls-network); see docs/report.md.
    spec =
        "conv=macs,in_bytes,out_bytes,weight_bytes,1;dwconv=macs,out_bytes,1;fc=weight_bytes,1;pool=in_bytes,"
        "1;"
        "other=in_bytes,out_bytes,1;method=wls-network";
  } else if (name_or_spec == "transfer") {
    // The default of `convergy fit`: terms shared by every layer class, with non-negative coefficients, so a
    // layer class the training data never had (pooling, element-wise, concat, SE) still costs its work and
    // its memory traffic at the rates learned from the classes that were seen, and no term can cancel another
    // (docs/models.md, "What extrapolates and why"). Both `exec_macs` and `macs` are offered: their
    // non-negative mix lets the data say how much of the Winograd saving its backend has (none on an
    // im2col + GEMM CPU backend, up to 2.25x for cuDNN/TensorRT) instead of assuming a GPU library.
    // `loop_ops` costs the work no backend runs as a GEMM (depthwise MACs, pooling windows, activations) at
    // one rate, which the pooling and activation layers of plain networks teach and depthwise layers use.
    // The outputs and weights of depthwise convolutions have rates of their own: fitted on dense
    // convolutions, the shared `out_bytes` rate also carries the per-output work of their GEMM kernels (on
    // the Nano, a byte rate more than 10x slower than its DRAM), which a depthwise kernel does not have;
    // priced by it, depthwise- separable networks were over-predicted by about 20% at every width and depth.
    // A network family without depthwise layers leaves those two rates at 0 (the fit names them), and
    // depthwise layers are then costed by the shared terms (their MACs, `in_bytes`, `loop_ops`).
    // `exp_elems` prices the exponential of a Sigmoid, Swish or TanH (about ten ReLUs each on a CPU), which
    // the operator probe (zoo/probe.h) teaches where the networks have none. `unfold_bytes` prices the
    // unfolded input a convolution's GEMM reads (im2col), whose elements take part in out_c / groups MACs
    // each: convolutions of few output channels per group (RegNet, ResNeXt) cost more per MAC than the wide
    // ones a plain network has (docs/models.md, "Unfolded input"). `unfold_rows` prices the rows that
    // unfolding writes, each a loop of its own: on small images in few channels per group they cost more than
    // their bytes (RegNet's 7x7 layers; docs/models.md, "Unfolded rows").
    spec =
        "net=1,layers,exec_macs,macs,in_bytes,out_bytes*[depthwise=0],out_bytes*[depthwise=1],"
        "weight_bytes*[depthwise=0],weight_bytes*[depthwise=1],loop_ops,exp_elems,unfold_bytes,unfold_rows;"
        "method=nnls";
  } else if (name_or_spec == "counters") {
    spec = "conv=simd_instructions,memory_accesses,1;fc=simd_instructions,memory_accesses,1;"
           "pool=simd_instructions,memory_accesses,1;other=simd_instructions,memory_accesses,1";
  } else if (name_or_spec == "neuralpower") {
    FeatureSet fs;
    fs.name = name_or_spec;
    fs.neuralpower = true;
    fs.method = Method::Lasso;
    return fs;
  } else if (name_or_spec.find('=') != std::string::npos) {
    spec = name_or_spec;
  } else {
    std::string names;
    for (const auto& n : named_feature_sets()) names += (names.empty() ? "" : ", ") + n;
    throw_bad_input("feature set \"{}\": unknown, expected one of {} or a spec such as "
                    "\"conv=macs,1;fc=macs,1\"",
                    name_or_spec, names);
  }
  // Measured counters may appear in any spec; a row without the column is refused when the design is built.
  std::vector<std::string> extras = extra;
  for (const auto& c : counter_columns()) extras.push_back(c);
  FeatureSet fs;
  fs.name = name_or_spec;
  for (std::string_view entry : split(spec, ';')) {
    entry = trim(entry);
    if (entry.empty()) continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos)
      throw_bad_input("feature set \"{}\": entry \"{}\", expected group=term,term,...", name_or_spec, entry);
    std::string_view key = trim(entry.substr(0, eq)), value = trim(entry.substr(eq + 1));
    if (key == "method") {
      auto m = method_from_name(value);
      if (!m) throw_bad_input("feature set \"{}\": method \"{}\", expected ols, wls, nnls, ridge, lasso, lad, loglinear "
                              "or wls-network",
                              name_or_spec, value);
      fs.method = *m;
      continue;
    }
    auto g = group_from_name(key);
    if (!g)
      throw_bad_input("feature set \"{}\": group \"{}\", expected conv, dwconv, fc, pool, other, net or method",
                      name_or_spec, key);
    if (!fs.of(*g).empty()) throw_bad_input("feature set \"{}\": group \"{}\" given twice", name_or_spec, key);
    for (std::string_view t : split(value, ','))
      fs.of(*g).push_back(parse_term(t, "feature set \"" + name_or_spec + "\"", extras));
  }
  return fs;
}

}  // namespace convergy::model

// Model terms and feature sets: a term is a product of layer features (optionally log2-transformed,
// standardised or raised to a power), a feature set assigns a list of terms to each layer group.
// Spec strings: "conv=macs,in_bytes,out_bytes,1;fc=macs,1;pool=out_elems,1" (see docs/models.md).
#pragma once
#include "features/features.h"
#include "model/regression.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convergy::model {

// Layer groups that carry one sub-model each. DwConv exists only when a feature set names it (otherwise
// depthwise convolutions belong to Conv); Network terms are counted once per network, not per layer.
enum class Group : uint8_t { Conv, DwConv, FC, Pool, Other, Network };
constexpr int kGroupCount = 6;
std::string_view group_name(Group g);  // "conv", "dwconv", "fc", "pool", "other", "net"
std::optional<Group> group_from_name(std::string_view name);
// The group of a layer; nullopt for layers that carry no cost (LayerClass::None: Input, Flatten, ...).
std::optional<Group> layer_group(const LayerFeatures& layer, bool depthwise_group);

struct Factor {
  // A name accepted by LayerFeatures::get or a measured column (counters); or, inside log2() and roundup(),
  // a product of such names ("out_h*out_w"); or "roundup(EXPR,M)": EXPR rounded up to a multiple of M, the
  // work a GEMM does when it pads a dimension to its tile size (cuDNN's implicit GEMM tiles out_c and
  // out_h*out_w). The string is the canonical expression (model JSON stores it); `product` and `round_to`
  // are its parsed form, filled by parse_term and set_feature_expr.
  std::string feature;
  std::vector<std::string> product;  // the names multiplied together
  int64_t round_to = 0;              // > 0: roundup(product, round_to)
  bool log2 = false;    // log2(max(x, 1)): 0 for features that are 0, as NeuralPower's log terms
  int power = 1;
  double center = 0.0, scale = 1.0;  // standardised: ((log2 ? log2 x : x) - center) / scale
  // An indicator "[kernel_h=3]": 1 when the feature equals this value, else 0 (e.g. MACs of the 3x3
  // convolutions that runtimes run with Winograd kernels).
  std::optional<double> equals;
  bool standardised() const { return center != 0.0 || scale != 1.0; }
};

struct Term {
  std::vector<Factor> factors;  // empty = the constant 1
  std::string name() const;
  bool is_constant() const { return factors.empty(); }
};

// Parses "1", "macs", "in_c*kernel_h*kernel_w", "log2(in_c)", "out_h^2", "macs*log2(kernel_h)",
// "macs*[kernel_h=3]".
// `where` prefixes messages. Feature names are checked against LayerFeatures::get unless `extra` lists them.
Term parse_term(std::string_view text, const std::string& where, const std::vector<std::string>& extra = {});

// Extra per-row measured values (e.g. hardware counters) a term may read when the layer has no such feature.
using ExtraValues = std::map<std::string, double, std::less<>>;

// Parses a factor's feature expression ("macs", "out_h*out_w", "roundup(out_c,32)") into `f` (feature,
// product, round_to). `where` and `term` prefix messages; names are checked as parse_term checks them.
void set_feature_expr(Factor& f, std::string_view expr, const std::string& where, std::string_view term,
                      const std::vector<std::string>& extra = {});

// Features the model derives from a layer (accepted in terms beside feature_names()): `layers` is 1 for every
// costed layer (as a `net` term: the network's layer count, a fixed cost per layer such as a kernel launch);
// `exec_macs` is the MACs a GPU library executes: macs / 2.25 for dense 3x3 stride-1 convolutions (Winograd
// F(2x2,3x3)), macs otherwise; `loop_ops` is the element operations run by plain loops, not a GEMM: `ops`
// plus, for a depthwise convolution, its MACs.
const std::vector<std::string>& derived_feature_names();
std::optional<double> derived_feature(std::string_view name, const LayerFeatures& layer);

// The value of a factor's feature expression for one layer (before log2, indicator, standardisation and
// power); nullopt if a name is neither a layer feature nor in `extra`.
std::optional<double> feature_expr_value(const Factor& f, const LayerFeatures& layer,
                                         const ExtraValues* extra);

// A name of a feature expression, looked up once so that reading it for a layer costs no string comparison:
// a layer feature (an index into feature_names()), a derived feature (an index into derived_feature_names()),
// or else a measured column, read from the row's extra values by name. The order is feature_expr_value's.
struct FeatureRef {
  enum class Source : uint8_t { Layer, Derived, Extra };
  Source source = Source::Extra;
  size_t index = 0;
  std::string name;  // Extra only
};
FeatureRef resolve_feature(std::string_view name);
// The value feature_expr_value would find for the name `ref` was resolved from; nullopt where it finds none.
std::optional<double> feature_value(const FeatureRef& ref, const LayerFeatures& layer,
                                    const ExtraValues* extra);

// The value of a term for one layer. Throws BadInput naming the feature if it is neither a layer feature
// nor present in `extra`.
double term_value(const Term& term, const LayerFeatures& layer, const ExtraValues* extra = nullptr);

// A feature set: terms per group, a regression method, and how it was named.
struct FeatureSet {
  std::string name;  // "macs", ..., or the spec string itself
  std::array<std::vector<Term>, kGroupCount> terms;
  Method method = Method::Wls;
  bool neuralpower = false;  // terms are generated from the data (polynomial expansion + Lasso)
  int neuralpower_degree = 3;
  bool neuralpower_log2 = true;
  bool depthwise_group() const { return !terms[static_cast<size_t>(Group::DwConv)].empty(); }
  const std::vector<Term>& of(Group g) const { return terms[static_cast<size_t>(g)]; }
  std::vector<Term>& of(Group g) { return terms[static_cast<size_t>(g)]; }
};

// The named sets ("macs", "macs+1", "macs+mem", "neuralpower", "counters") and every custom spec string.
// A spec may also hold "method=nnls" and "dwconv=..." entries. Throws BadInput on an unknown name.
FeatureSet parse_feature_set(const std::string& name_or_spec, const std::vector<std::string>& extra = {});
const std::vector<std::string>& named_feature_sets();

// Measured counter columns a CSV may hold, read into Sample::extra: the events the profiler records, named as
// it names them (measure/perf_counters.cpp: instructions, cycles, cache-references, cache-misses; ARMv8
// ASE_SPEC, BUS_ACCESS; x86 FP_ARITH:*, LLC_MISSES, LLC_REFERENCES), and the two derived values the
// `counters` set uses, simd_instructions and memory_accesses, which a CSV may also give directly.
const std::vector<std::string>& counter_columns();
// Fills simd_instructions (ARMv8 ASE_SPEC, else x86 FP_ARITH:128B_PACKED_SINGLE +
// FP_ARITH:256B_PACKED_SINGLE) and memory_accesses (ARMv8 BUS_ACCESS, else x86 LLC_MISSES) from the events
// present, unless given directly.
void derive_counter_values(ExtraValues& values);
// The message for a term feature a layer cannot supply, saying which CSV columns would.
std::string unavailable_feature_message(const std::string& layer, const std::string& feature);

}  // namespace convergy::model

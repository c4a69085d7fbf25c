// Generator of NAS-Bench-201-style networks as Caffe prototxt text (see nb201.h).
#include "zoo/nb201.h"

#include <fmt/core.h>

#include <optional>
#include <vector>

namespace convergy {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Writer {
 public:
  explicit Writer(const std::string& name) {
    text_ = fmt::format(
        "name: \"{}\"\ninput: \"data\"\n"
        "input_shape {{ dim: 1 dim: 3 dim: 32 dim: 32 }}\n",
        name);
  }

  // Convolution -> BatchNorm -> Scale -> ReLU, in place after the convolution; returns the top.
  std::string conv_bn_relu(const std::string& name, const std::string& bottom, int channels, int kernel,
                           int stride, bool relu = true) {
    text_ += fmt::format(
        "layer {{ name: \"{0}\" type: \"Convolution\" bottom: \"{1}\" top: \"{0}\"\n"
        "  convolution_param {{ num_output: {2} kernel_size: {3} stride: {4} pad: {5} bias_term: false }} "
        "}}\n"
        "layer {{ name: \"{0}/bn\" type: \"BatchNorm\" bottom: \"{0}\" top: \"{0}\" }}\n"
        "layer {{ name: \"{0}/scale\" type: \"Scale\" bottom: \"{0}\" top: \"{0}\" scale_param {{ bias_term: "
        "true }} }}\n",
        name, bottom, channels, kernel, stride, kernel / 2);
    if (relu)
      text_ +=
          fmt::format("layer {{ name: \"{0}/relu\" type: \"ReLU\" bottom: \"{0}\" top: \"{0}\" }}\n", name);
    return name;
  }
  std::string avg_pool(const std::string& name, const std::string& bottom, int kernel, int stride, int pad) {
    text_ += fmt::format(
        "layer {{ name: \"{0}\" type: \"Pooling\" bottom: \"{1}\" top: \"{0}\"\n"
        "  pooling_param {{ pool: AVE kernel_size: {2} stride: {3} pad: {4} }} }}\n",
        name, bottom, kernel, stride, pad);
    return name;
  }
  std::string sum(const std::string& name, const std::vector<std::string>& bottoms) {
    text_ += fmt::format("layer {{ name: \"{}\" type: \"Eltwise\"", name);
    for (const auto& b : bottoms) text_ += fmt::format(" bottom: \"{}\"", b);
    text_ += fmt::format(" top: \"{}\" eltwise_param {{ operation: SUM }} }}\n", name);
    return name;
  }
  void tail(const std::string& bottom) {
    text_ += fmt::format(
        "layer {{ name: \"gap\" type: \"Pooling\" bottom: \"{}\" top: \"gap\" pooling_param {{ pool: AVE "
        "global_pooling: true }} }}\n"
        "layer {{ name: \"fc\" type: \"InnerProduct\" bottom: \"gap\" top: \"fc\" inner_product_param {{ "
        "num_output: 10 }} }}\n",
        bottom);
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

// Node j of the cell sums op(node i) over the edges i -> j that are not None. A node without any edge
// would be all zeros; NB201 keeps such cells, and so do we by letting the cell pass its input through.
std::string cell(Writer& w, const Nb201Cell& ops, const std::string& prefix, const std::string& input,
                 int channels) {
  static constexpr int kFrom[kNb201Edges] = {0, 0, 1, 0, 1, 2};
  static constexpr int kTo[kNb201Edges] = {1, 2, 2, 3, 3, 3};
  std::vector<std::optional<std::string>> node(4);
  node[0] = input;
  for (int to = 1; to <= 3; ++to) {
    std::vector<std::string> terms;
    for (int e = 0; e < kNb201Edges; ++e) {
      if (kTo[e] != to || !node[static_cast<size_t>(kFrom[e])]) continue;
      const std::string& from = *node[static_cast<size_t>(kFrom[e])];
      const std::string edge = fmt::format("{}.e{}{}", prefix, kFrom[e], to);
      switch (ops[static_cast<size_t>(e)]) {
        case Nb201Op::None:
          break;
        case Nb201Op::Skip:
          terms.push_back(from);
          break;
        case Nb201Op::Conv1x1:
          terms.push_back(w.conv_bn_relu(edge, from, channels, 1, 1));
          break;
        case Nb201Op::Conv3x3:
          terms.push_back(w.conv_bn_relu(edge, from, channels, 3, 1));
          break;
        case Nb201Op::AvgPool3x3:
          terms.push_back(w.avg_pool(edge, from, 3, 1, 1));
          break;
      }
    }
    if (terms.size() == 1)
      node[static_cast<size_t>(to)] = terms[0];
    else if (terms.size() > 1)
      node[static_cast<size_t>(to)] = w.sum(fmt::format("{}.n{}", prefix, to), terms);
  }
  return node[3] ? *node[3] : input;
}

// NB201's residual reduction block: two 3x3 convolutions (the first with stride 2) plus an average-pooled
// 1x1 projection shortcut.
std::string reduction(Writer& w, const std::string& prefix, const std::string& input, int channels) {
  std::string a = w.conv_bn_relu(prefix + ".a", input, channels, 3, 2);
  std::string b = w.conv_bn_relu(prefix + ".b", a, channels, 3, 1, false);
  std::string p = w.avg_pool(prefix + ".pool", input, 2, 2, 0);
  std::string s = w.conv_bn_relu(prefix + ".proj", p, channels, 1, 1, false);
  return w.sum(prefix + ".add", {b, s});
}

}  // namespace

Nb201Cell nb201_cell(uint64_t index) {
  uint64_t state = index * 0x2545F4914F6CDD1Dull + 1;
  Nb201Cell c{};
  for (auto& op : c) op = static_cast<Nb201Op>(splitmix64(state) % 5);
  return c;
}

std::string nb201_prototxt(const Nb201Cell& ops, const std::string& name) {
  Writer w(name);
  std::string x = w.conv_bn_relu("stem", "data", 16, 3, 1);
  const int channels[3] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    if (stage > 0) x = reduction(w, fmt::format("reduce{}", stage), x, channels[stage]);
    for (int c = 0; c < 5; ++c) x = cell(w, ops, fmt::format("s{}c{}", stage, c), x, channels[stage]);
  }
  w.tail(x);
  return w.take();
}

}  // namespace convergy

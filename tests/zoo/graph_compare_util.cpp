#include "graph_compare.h"

#include <gtest/gtest.h>

#include <variant>

namespace convergy::testing {
namespace {

// The layer's parameter alternative, plus the convolution / inner-product fields the passes may change.
std::string params_text(const Layer& l) {
  std::string s = std::to_string(l.params.index());
  if (const auto* c = std::get_if<ConvParams>(&l.params))
    s += " conv " + std::to_string(c->num_output) + " bias " + std::to_string(c->bias);
  if (const auto* f = std::get_if<InnerProductParams>(&l.params))
    s += " fc " + std::to_string(f->num_output) + " bias " + std::to_string(f->bias);
  return s;
}

}  // namespace

void expect_same_graph(const Graph& want, const Graph& got, const std::string& what) {
  ASSERT_EQ(want.num_layers(), got.num_layers()) << what;
  ASSERT_EQ(want.num_blobs(), got.num_blobs()) << what;
  EXPECT_EQ(want.name(), got.name()) << what;
  EXPECT_EQ(want.source(), got.source()) << what;
  EXPECT_EQ(want.outputs(), got.outputs()) << what;
  EXPECT_EQ(want.inputs(), got.inputs()) << what;
  for (int i = 0; i < want.num_blobs(); ++i) {
    const Blob &x = want.blob(i), &y = got.blob(i);
    EXPECT_EQ(x.name, y.name) << what << " blob " << i;
    EXPECT_EQ(x.shape, y.shape) << what << " blob " << x.name << ": " << x.shape.str() << " vs "
                                << y.shape.str();
    EXPECT_EQ(x.dtype, y.dtype) << what << " blob " << x.name;
    EXPECT_EQ(x.producer, y.producer) << what << " blob " << x.name;
  }
  for (int i = 0; i < want.num_layers(); ++i) {
    const Layer &x = want.layer(i), &y = got.layer(i);
    const std::string at = what + " layer " + x.name;
    EXPECT_EQ(x.name, y.name) << at;
    EXPECT_EQ(x.kind, y.kind) << at;
    EXPECT_EQ(params_text(x), params_text(y)) << at;
    EXPECT_EQ(x.inputs, y.inputs) << at;
    EXPECT_EQ(x.outputs, y.outputs) << at;
    EXPECT_EQ(x.origin, y.origin) << at;
    ASSERT_EQ(x.weights.size(), y.weights.size()) << at;
    for (size_t w = 0; w < x.weights.size(); ++w) {
      EXPECT_EQ(x.weights[w].role, y.weights[w].role) << at;
      EXPECT_EQ(x.weights[w].shape, y.weights[w].shape) << at << " weight " << x.weights[w].role;
      EXPECT_EQ(x.weights[w].learnable, y.weights[w].learnable) << at;
    }
    ASSERT_EQ(x.fused_activation.has_value(), y.fused_activation.has_value()) << at;
    if (x.fused_activation) {
      EXPECT_EQ(x.fused_activation->kind, y.fused_activation->kind) << at;
      EXPECT_EQ(x.fused_activation->alpha, y.fused_activation->alpha) << at;
      EXPECT_EQ(x.fused_activation->beta, y.fused_activation->beta) << at;
      EXPECT_EQ(x.fused_activation->layer_name, y.fused_activation->layer_name) << at;
    }
    EXPECT_EQ(got.find_layer(x.name), i) << at;
  }
}

}  // namespace convergy::testing

// Every optimised backend against the reference kernels, layer type by layer type, on odd shapes (13,
// 127), groups, depthwise, padding, strides and dilation, with fixed seeds. A failing case names itself.
#include "runtime_util.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>

namespace convergy::test {
namespace {

struct Case {
  std::string name;
  std::function<Graph()> build;
  bool must_take = true;  // the optimised backends are expected to run it themselves (no fallback)
};

ConvParams conv(int64_t oc, int64_t k, int64_t stride, int64_t pad, int64_t dil = 1, int64_t groups = 1,
                bool bias = true) {
  ConvParams p;
  p.num_output = oc;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.dilation_h = p.dilation_w = dil;
  p.groups = groups;
  p.bias = bias;
  return p;
}

PoolParams pool(PoolMethod m, int64_t k, int64_t s, int64_t pad, PoolRounding r, bool include_pad = true) {
  PoolParams p;
  p.method = m;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = s;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.rounding = r;
  p.count_include_pad = include_pad;
  return p;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  auto add = [&](std::string name, std::function<Graph()> build, bool must_take = true) {
    c.push_back({std::move(name), std::move(build), must_take});
  };
  using K = LayerKind;
  // Convolution: plain, odd sizes, strides, asymmetric padding, dilation, groups, depthwise, 1x1 paths.
  add("conv 1x3x13x13 oc8 k3 s1 p1", [] {
    return one_layer_graph(K::Convolution, conv(8, 3, 1, 1), {{1, 3, 13, 13}});
  });
  add("conv 2x4x13x11 oc6 k3 s2 pad t0 l1 b1 r0", [] {
    ConvParams p = conv(6, 3, 2, 0);
    p.pad_left = 1;
    p.pad_bottom = 1;
    return one_layer_graph(K::Convolution, p, {{2, 4, 13, 11}});
  });
  add("conv 1x3x5x127 oc4 k3x5 s1x2 p1 nobias", [] {
    ConvParams p = conv(4, 3, 1, 1, 1, 1, false);
    p.kernel_w = 5;
    p.stride_w = 2;
    p.pad_left = p.pad_right = 2;
    return one_layer_graph(K::Convolution, p, {{1, 3, 5, 127}});
  });
  add("conv 1x8x12x12 oc16 k3 p1 groups4", [] {
    return one_layer_graph(K::Convolution, conv(16, 3, 1, 1, 1, 4), {{1, 8, 12, 12}});
  });
  add("conv 1x6x13x13 oc12 k3 s2 p2 dil2 groups3", [] {
    return one_layer_graph(K::Convolution, conv(12, 3, 2, 2, 2, 3), {{1, 6, 13, 13}});
  });
  add("conv 1x4x13x13 oc5 k3 s1 p3 dil3", [] {
    return one_layer_graph(K::Convolution, conv(5, 3, 1, 3, 3), {{1, 4, 13, 13}});
  });
  add("conv depthwise 1x16x13x13 k3 s1 p1", [] {
    return one_layer_graph(K::Convolution, conv(16, 3, 1, 1, 1, 16), {{1, 16, 13, 13}});
  });
  add("conv depthwise 2x8x13x13 k3 s2 p1 relu6", [] {
    return one_layer_graph(K::Convolution, conv(8, 3, 2, 1, 1, 8), {{2, 8, 13, 13}}, fused(K::Clip, 0, 6));
  });
  add("conv depthwise 1x8x9x9 k5 s1 p2", [] {
    return one_layer_graph(K::Convolution, conv(8, 5, 1, 2, 1, 8), {{1, 8, 9, 9}});
  });
  add("conv depthwise multiplier2 1x16x14x14 oc32 k3 s2 p1", [] {
    return one_layer_graph(K::Convolution, conv(32, 3, 2, 1, 1, 16), {{1, 16, 14, 14}});
  });
  add("conv 1x1 1x32x7x7 oc127 relu", [] {
    return one_layer_graph(K::Convolution, conv(127, 1, 1, 0), {{1, 32, 7, 7}}, fused(K::ReLU));
  });
  add("conv 1x1 s2 1x16x13x13 oc32", [] {
    return one_layer_graph(K::Convolution, conv(32, 1, 2, 0), {{1, 16, 13, 13}});
  });
  add("conv 1x1 batch3 3x13x5x5 oc7 hardswish", [] {
    return one_layer_graph(K::Convolution, conv(7, 1, 1, 0), {{3, 13, 5, 5}}, fused(K::HardSwish));
  });
  add("conv 7x7 s2 p3 1x3x31x31 oc16 leaky", [] {
    return one_layer_graph(K::Convolution, conv(16, 7, 2, 3), {{1, 3, 31, 31}}, fused(K::LeakyReLU, 0.1f));
  });
  add("conv 1x5x13x13 oc6 k3 sigmoid", [] {
    return one_layer_graph(K::Convolution, conv(6, 3, 1, 0), {{1, 5, 13, 13}}, fused(K::Sigmoid));
  });
  add("conv 1x5x13x13 oc6 k3 tanh", [] {
    return one_layer_graph(K::Convolution, conv(6, 3, 1, 0), {{1, 5, 13, 13}}, fused(K::TanH));
  });
  add("conv 1x5x13x13 oc6 k3 swish", [] {
    return one_layer_graph(K::Convolution, conv(6, 3, 1, 0), {{1, 5, 13, 13}}, fused(K::Swish));
  });
  add("conv 1x5x13x13 oc6 k3 hardsigmoid", [] {
    return one_layer_graph(K::Convolution, conv(6, 3, 1, 0), {{1, 5, 13, 13}},
                           fused(K::HardSigmoid, 0.2f, 0.5f));
  });
  // Fully connected.
  add("fc 1x127 -> 13", [] {
    return one_layer_graph(K::InnerProduct, InnerProductParams{13, true, 1}, {{1, 127}});
  });
  add("fc 2x8x3x3 -> 127 relu", [] {
    return one_layer_graph(K::InnerProduct, InnerProductParams{127, true, 1}, {{2, 8, 3, 3}}, fused(K::ReLU));
  });
  add("fc 3x13 -> 1 nobias", [] {
    return one_layer_graph(K::InnerProduct, InnerProductParams{1, false, 1}, {{3, 13}});
  });
  // Pooling: Caffe's ceil rounding, ONNX's floor, padding counted or not, global.
  // VGG-16's first pooling: on plain NCHW oneDNN 2.6 has only its generic loop for it, and the onednn backend
  // pools in a channel-blocked layout between reorders instead.
  add("pool max k2 s2 1x64x224x224 (VGG-16 pool1)", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Max, 2, 2, 0, PoolRounding::Floor),
                           {{1, 64, 224, 224}});
  });
  add("pool avg k3 s2 pad1 1x24x112x112", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Average, 3, 2, 1, PoolRounding::Floor, false),
                           {{1, 24, 112, 112}});
  });
  add("maxpool 3x3 s2 ceil 1x4x13x13", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Max, 3, 2, 0, PoolRounding::Ceil), {{1, 4, 13, 13}});
  });
  add("maxpool 2x2 s2 ceil 1x3x13x127 (last window partial)", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Max, 2, 2, 0, PoolRounding::Ceil), {{1, 3, 13, 127}});
  });
  add("maxpool 3x3 s2 p1 floor 2x5x13x13", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Max, 3, 2, 1, PoolRounding::Floor), {{2, 5, 13, 13}});
  });
  add("avgpool 3x3 s1 p1 floor include-pad 1x4x13x13", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Average, 3, 1, 1, PoolRounding::Floor),
                           {{1, 4, 13, 13}});
  });
  add("avgpool 3x3 s2 p1 floor exclude-pad 1x4x13x13", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Average, 3, 2, 1, PoolRounding::Floor, false),
                           {{1, 4, 13, 13}});
  });
  add("avgpool 2x2 s2 ceil exclude-pad 1x3x13x13", [] {
    return one_layer_graph(K::Pooling, pool(PoolMethod::Average, 2, 2, 0, PoolRounding::Ceil, false),
                           {{1, 3, 13, 13}});
  });
  // Caffe's ceil-rounded average over a partial last window: oneDNN cannot express its divisor.
  add(
      "avgpool 2x2 s2 ceil include-pad 1x3x13x13",
      [] {
        return one_layer_graph(K::Pooling, pool(PoolMethod::Average, 2, 2, 0, PoolRounding::Ceil),
                               {{1, 3, 13, 13}});
      },
      false);
  add("global avgpool 1x127x7x7", [] {
    PoolParams p;
    p.method = PoolMethod::Average;
    p.global = true;
    return one_layer_graph(K::Pooling, p, {{1, 127, 7, 7}});
  });
  add("global maxpool 2x13x5x3", [] {
    PoolParams p;
    p.global = true;
    return one_layer_graph(K::Pooling, p, {{2, 13, 5, 3}});
  });
  // Element-wise activations as standalone layers.
  add("relu 1x5x13x13", [] { return one_layer_graph(K::ReLU, NoParams{}, {{1, 5, 13, 13}}); });
  add("leakyrelu 1x5x13x13", [] {
    return one_layer_graph(K::LeakyReLU, LeakyReLUParams{0.2f}, {{1, 5, 13, 13}});
  });
  add("clip -0.5..0.5 1x5x13x13", [] {
    return one_layer_graph(K::Clip, ClipParams{-0.5f, 0.5f}, {{1, 5, 13, 13}});
  });
  add("sigmoid 2x127", [] { return one_layer_graph(K::Sigmoid, NoParams{}, {{2, 127}}); });
  add("tanh 1x5x13x13", [] { return one_layer_graph(K::TanH, NoParams{}, {{1, 5, 13, 13}}); });
  add("swish 1x5x13x13", [] { return one_layer_graph(K::Swish, NoParams{}, {{1, 5, 13, 13}}); });
  add("hardswish 1x5x13x13", [] { return one_layer_graph(K::HardSwish, NoParams{}, {{1, 5, 13, 13}}); });
  add("hardsigmoid 1x5x13x13", [] {
    return one_layer_graph(K::HardSigmoid, HardSigmoidParams{0.3f, 0.4f}, {{1, 5, 13, 13}});
  });
  add("gelu 1x5x13x13", [] { return one_layer_graph(K::GELU, NoParams{}, {{1, 5, 13, 13}}); });
  // ConvNeXt's pointwise layers: an InnerProduct over the last axis of an N x H x W x C tensor with a fused
  // GELU, and layer normalisation over that axis.
  add("fc axis 3 gelu 1x5x7x24 oc40", [] {
    return one_layer_graph(K::InnerProduct, InnerProductParams{40, true, 3}, {{1, 5, 7, 24}}, fused(K::GELU));
  });
  add("layernorm last axis 1x7x7x24", [] {
    return one_layer_graph(K::LayerNorm, LayerNormParams{-1, 1e-6f, true}, {{1, 7, 7, 24}});
  });
  add("layernorm two axes no affine 2x13x5x7", [] {
    return one_layer_graph(K::LayerNorm, LayerNormParams{2, 1e-5f, false}, {{2, 13, 5, 7}});
  });
  // Normalisation and the other common layers.
  add("batchnorm 2x13x5x5", [] {
    return one_layer_graph(K::BatchNorm, BatchNormParams{1e-5f, false}, {{2, 13, 5, 5}});
  });
  add("batchnorm affine 1x13x7x7", [] {
    return one_layer_graph(K::BatchNorm, BatchNormParams{1e-3f, true}, {{1, 13, 7, 7}});
  });
  add("eltwise sum coeffs 3 inputs 1x13x5x5", [] {
    EltwiseParams p;
    p.coeffs = {1.0f, -0.5f, 2.0f};
    return one_layer_graph(K::Eltwise, p, {{1, 13, 5, 5}, {1, 13, 5, 5}, {1, 13, 5, 5}});
  });
  add("eltwise sum relu 2x127", [] {
    return one_layer_graph(K::Eltwise, EltwiseParams{}, {{2, 127}, {2, 127}}, fused(K::ReLU));
  });
  add("eltwise prod 1x13x5x5", [] {
    EltwiseParams p;
    p.op = EltwiseOp::Prod;
    return one_layer_graph(K::Eltwise, p, {{1, 13, 5, 5}, {1, 13, 5, 5}});
  });
  add("eltwise max 1x13x5x5", [] {
    EltwiseParams p;
    p.op = EltwiseOp::Max;
    return one_layer_graph(K::Eltwise, p, {{1, 13, 5, 5}, {1, 13, 5, 5}});
  });
  add("eltwise prod squeeze-excitation 2x13x7x7 * 2x13x1x1", [] {
    EltwiseParams p;
    p.op = EltwiseOp::Prod;
    return one_layer_graph(K::Eltwise, p, {{2, 13, 7, 7}, {2, 13, 1, 1}});
  });
  // A second operand broadcast over leading axes: Swin's attention mask over the heads (rank 5, with
  // coefficients) and its position bias over the windows.
  add("eltwise sum broadcast 2x3x4x7x7 + 3x1x7x7 (Swin's mask)", [] {
    return one_layer_graph(K::Eltwise, EltwiseParams{}, {{2, 3, 4, 7, 7}, {3, 1, 7, 7}});
  });
  add(
      "eltwise sum coeffs broadcast 2x3x7x7 + 1x3x7x7",
      [] {
        EltwiseParams p;
        p.coeffs = {1.0f, -0.5f};
        return one_layer_graph(K::Eltwise, p, {{2, 3, 7, 7}, {1, 3, 7, 7}});
      },
      false);
  add("eltwise max broadcast 4x3x5x9 + 3x5x9", [] {
    EltwiseParams p;
    p.op = EltwiseOp::Max;
    return one_layer_graph(K::Eltwise, p, {{4, 3, 5, 9}, {3, 5, 9}}, fused(K::ReLU));
  });
  add("concat axis1 1x3x13x13 + 1x5x13x13 + 1x1x13x13", [] {
    return one_layer_graph(K::Concat, ConcatParams{1}, {{1, 3, 13, 13}, {1, 5, 13, 13}, {1, 1, 13, 13}});
  });
  // Each input lands in a strided slice of the output: batch 2, and the last axis.
  add("concat axis1 2x3x5x7 + 2x4x5x7", [] {
    return one_layer_graph(K::Concat, ConcatParams{1}, {{2, 3, 5, 7}, {2, 4, 5, 7}});
  });
  add("concat axis3 2x3x5x7 + 2x3x5x2", [] {
    return one_layer_graph(K::Concat, ConcatParams{3}, {{2, 3, 5, 7}, {2, 3, 5, 2}});
  });
  add("concat axis1 2x3 + 2x9 (fc outputs)", [] {
    return one_layer_graph(K::Concat, ConcatParams{1}, {{2, 3}, {2, 9}});
  });
  // Layers the issue does not require of every backend: compared wherever a backend takes them.
  add("scale bias 1x13x5x5", [] { return one_layer_graph(K::Scale, ScaleParams{1, true}, {{1, 13, 5, 5}}); });
  add("scale bias relu 2x13x3x3", [] {
    return one_layer_graph(K::Scale, ScaleParams{1, true}, {{2, 13, 3, 3}}, fused(K::ReLU));
  });
  add("scale nobias 2x13", [] { return one_layer_graph(K::Scale, ScaleParams{1, false}, {{2, 13}}); });
  add(
      "scale by second input 2x13x5x5 * 2x13",
      [] {
        return one_layer_graph(K::Scale, ScaleParams{0, false}, {{2, 13, 5, 5}, {2, 13}});
      },
      false);
  // Large enough that the GEMM backends build its im2col matrix in bands of output rows (21 MB in all, more
  // than any L2 cache; 95 rows do not divide into equal bands).
  add("conv 3x3 pad 1 1x64x95x95 oc16 (im2col in bands)", [] {
    return one_layer_graph(K::Convolution, conv(16, 3, 1, 1), {{1, 64, 95, 95}});
  });
  // Transposed convolution: GEMM + col2im on every CPU backend (overlapping taps add up; groups, dilation,
  // batch, no bias).
  add("deconv 1x8x7x7 oc6 k4 s2 p1", [] {
    return one_layer_graph(K::Deconvolution, conv(6, 4, 2, 1), {{1, 8, 7, 7}});
  });
  add("deconv 2x4x5x6 oc6 k3 s2 p1 d2 g2 nobias", [] {
    return one_layer_graph(K::Deconvolution, conv(6, 3, 2, 1, 2, 2, false), {{2, 4, 5, 6}});
  });
  add("deconv 1x3x13x13 oc5 k3 s1 p1", [] {
    return one_layer_graph(K::Deconvolution, conv(5, 3, 1, 1), {{1, 3, 13, 13}});
  });
  add("softmax axis1 2x127", [] { return one_layer_graph(K::Softmax, SoftmaxParams{1}, {{2, 127}}); });
  add("softmax axis1 1x13x3x3", [] {
    return one_layer_graph(K::Softmax, SoftmaxParams{1}, {{1, 13, 3, 3}});
  });
  add("lrn across 5 1x13x7x7", [] {
    return one_layer_graph(K::LRN, LRNParams{5, 1e-2f, 0.75f, 1.0f, true}, {{1, 13, 7, 7}});
  });
  add("lrn within 3 1x4x13x13", [] {
    return one_layer_graph(K::LRN, LRNParams{3, 1e-2f, 0.75f, 2.0f, false}, {{1, 4, 13, 13}});
  });
  add(
      "prelu 1x13x5x5",
      [] {
        return one_layer_graph(K::PReLU, PReLUParams{false}, {{1, 13, 5, 5}});
      },
      false);
  // Data movement: the CPU backends leave it to the reference, the cudnn backend's gather kernel takes it
  // (where its kernels are built).
  add(
      "channelshuffle 3 groups 2x12x5x7",
      [] {
        return one_layer_graph(K::ChannelShuffle, ChannelShuffleParams{3}, {{2, 12, 5, 7}});
      },
      false);
  // Permutations: batches of transposes (NCHW -> NHWC and back, as in ConvNeXt; tiles of 32 with remainders),
  // one around unit axes, one that keeps the memory order, and one that is no transpose (the reference loop).
  add("permute 0 2 3 1 2x3x13x7", [] {
    return one_layer_graph(K::Permute, PermuteParams{{0, 2, 3, 1}}, {{2, 3, 13, 7}});
  });
  add("permute 0 3 1 2 1x9x7x40", [] {
    return one_layer_graph(K::Permute, PermuteParams{{0, 3, 1, 2}}, {{1, 9, 7, 40}});
  });
  add("permute 2 0 1 3 1x33x1x70", [] {
    return one_layer_graph(K::Permute, PermuteParams{{2, 0, 1, 3}}, {{1, 33, 1, 70}});
  });
  add("permute 0 2 1 3 5x1x4x3 (memory order kept)", [] {
    return one_layer_graph(K::Permute, PermuteParams{{0, 2, 1, 3}}, {{5, 1, 4, 3}});
  });
  add("permute 1 0 3 2 2x3x5x7 (no transpose)", [] {
    return one_layer_graph(K::Permute, PermuteParams{{1, 0, 3, 2}}, {{2, 3, 5, 7}});
  });
  // Slices (ViT's queries, keys and values out of one projection) and Power (its scaled queries): every CPU
  // backend takes them with the reference loop, so they are not reported as fallbacks.
  add("slice axis 2 of 2x5x13x7 into 3", [] {
    return one_layer_graph(K::Slice, SliceParams{2, {{0, 4}, {4, 9}, {9, 13}}}, {{2, 5, 13, 7}}, std::nullopt,
                           3);
  });
  add("slice axis 1 step 2 of 2x9x5", [] {
    SliceParams p{1, {{1, 9}}};
    p.step = 2;
    return one_layer_graph(K::Slice, p, {{2, 9, 5}});
  });
  add("power 1x5x13x13 scale 0.25", [] {
    return one_layer_graph(K::Power, PowerParams{1.0f, 0.25f, 0.0f}, {{1, 5, 13, 13}});
  });
  add("power 1x5x13x13 squared", [] {
    return one_layer_graph(K::Power, PowerParams{2.0f, 0.5f, 0.1f}, {{1, 5, 13, 13}});
  });
  // Matrix products of two runtime tensors (attention): batch axes broadcast on either side.
  add("matmul 2x3x7x5 by 3x5x6", [] {
    return one_layer_graph(K::MatMul, NoParams{}, {{2, 3, 7, 5}, {3, 5, 6}});
  });
  add("matmul 4x7x5 by 1x5x9", [] { return one_layer_graph(K::MatMul, NoParams{}, {{4, 7, 5}, {1, 5, 9}}); });
  add("matmul 12x50x64 by 12x64x50 (attention scores)", [] {
    return one_layer_graph(K::MatMul, NoParams{}, {{12, 50, 64}, {12, 64, 50}});
  });
  add(
      "pad reflect t2 l1 b1 r3 1x3x13x7",
      [] {
        PadParams p;
        p.mode = PadMode::Reflect;
        p.begins = {0, 0, 2, 1};
        p.ends = {0, 0, 1, 3};
        return one_layer_graph(K::Pad, p, {{1, 3, 13, 7}});
      },
      false);
  return c;
}

class KernelsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelsTest, MatchesReferenceOnEveryCase) {
  const std::string backend = GetParam();
  for (const Case& c : cases()) {
    SCOPED_TRACE(fmt::format("backend {} case \"{}\"", backend, c.name));
    for (int threads : {1, 2}) {
      SCOPED_TRACE(fmt::format("threads {}", threads));
      const Graph g = c.build();
      // cuDNN's legacy API has no asymmetric padding, no ceil-rounded pooling and no HardSwish,
      // HardSigmoid or LeakyReLU: those cases run on the reference kernels in the cudnn backend (by design,
      // see runtime/device_plan.cpp), which the comparison below still checks; where the backend's own CUDA
      // kernels are built, only the asymmetric convolution does.
      // Left to the host by the cudnn backend whether or not its own CUDA kernels are built: the asymmetric
      // convolution, LRN within a channel, the transposed convolutions, GELU and LayerNorm.
      const std::set<std::string> host_always = {"conv 2x4x13x11 oc6 k3 s2 pad t0 l1 b1 r0",
                                                 "lrn within 3 1x4x13x13",
                                                 "deconv 1x8x7x7 oc6 k4 s2 p1",
                                                 "deconv 2x4x5x6 oc6 k3 s2 p1 d2 g2 nobias",
                                                 "deconv 1x3x13x13 oc5 k3 s1 p1",
                                                 "gelu 1x5x13x13",
                                                 "fc axis 3 gelu 1x5x7x24 oc40",
                                                 "layernorm last axis 1x7x7x24",
                                                 "layernorm two axes no affine 2x13x5x7",
                                                 "power 1x5x13x13 scale 0.25",
                                                 "power 1x5x13x13 squared",
                                                 "matmul 2x3x7x5 by 3x5x6",
                                                 "matmul 4x7x5 by 1x5x9",
                                                 "matmul 12x50x64 by 12x64x50 (attention scores)",
                                                 "eltwise sum broadcast 2x3x4x7x7 + 3x1x7x7 (Swin's mask)",
                                                 "slice axis 1 step 2 of 2x9x5"};
#ifdef CONVERGY_HAVE_CUDA_KERNELS
      const std::set<std::string>& cudnn_fallbacks = host_always;
      // And, beyond what the CPU backends must take, its own kernels take PReLU and the gathers.
      static const std::set<std::string> cudnn_takes = {"prelu 1x13x5x5", "channelshuffle 3 groups 2x12x5x7",
                                                        "permute 0 2 3 1 2x3x13x7",
                                                        "pad reflect t2 l1 b1 r3 1x3x13x7"};
#else
      static const std::set<std::string> cudnn_takes;
      // Without them also the activations and poolings cuDNN's legacy API lacks, and every permutation.
      std::set<std::string> cudnn_fallbacks = host_always;
      cudnn_fallbacks.insert({"conv 1x1 batch3 3x13x5x5 oc7 hardswish", "conv 7x7 s2 p3 1x3x31x31 oc16 leaky",
                              "conv 1x5x13x13 oc6 k3 hardsigmoid", "maxpool 3x3 s2 ceil 1x4x13x13",
                              "maxpool 2x2 s2 ceil 1x3x13x127 (last window partial)",
                              "avgpool 2x2 s2 ceil exclude-pad 1x3x13x13", "clip -0.5..0.5 1x5x13x13",
                              "hardsigmoid 1x5x13x13", "hardswish 1x5x13x13", "leakyrelu 1x5x13x13",
                              "permute 0 2 3 1 2x3x13x7", "permute 0 3 1 2 1x9x7x40",
                              "permute 2 0 1 3 1x33x1x70", "permute 0 2 1 3 5x1x4x3 (memory order kept)",
                              "permute 1 0 3 2 2x3x5x7 (no transpose)"});
#endif
      const bool must_take =
          backend == "cudnn" ? (c.must_take && !cudnn_fallbacks.count(c.name)) || cudnn_takes.count(c.name)
                             : c.must_take;
      if (must_take) {
        Executor e(g, {backend, threads, 7});
        EXPECT_TRUE(e.fallbacks().empty()) << e.fallbacks().front().reason;
        EXPECT_EQ(e.backend_of(g.find_layer("layer")), backend);
      }
      const Comparison r = compare_with_reference(g, backend, threads);
      EXPECT_GT(r.max_abs_ref, 0.0);
      EXPECT_LE(r.max_abs_diff, 1e-4 * std::max(1.0, r.max_abs_ref)) << r.worst;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, KernelsTest, ::testing::ValuesIn(optimised_backends()),
                         [](const auto& param_info) { return param_info.param; });

// The oracle itself, on values worked out by hand.
TEST(ReferenceKernels, ConvolutionOnHandComputedValues) {
  // A 2x2 kernel over a 2x3 image, no bias, gives two outputs; the weights are the generated ones.
  Graph g = one_layer_graph(LayerKind::Convolution, conv(1, 2, 1, 0, 1, 1, false), {{1, 1, 2, 3}});
  Executor e(g, {"reference", 1, 1});
  auto in = e.blob_data(g.inputs()[0]);
  const float x[] = {1, 2, 3, 4, 5, 6};
  std::copy(std::begin(x), std::end(x), in.begin());
  e.run();
  auto w = e.weight_data(g.find_layer("layer"), 0);
  ASSERT_EQ(w.size(), 4u);
  auto out = e.blob_data(g.outputs()[0]);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0], w[0] * 1 + w[1] * 2 + w[2] * 4 + w[3] * 5);
  EXPECT_FLOAT_EQ(out[1], w[0] * 2 + w[1] * 3 + w[2] * 5 + w[3] * 6);
}

TEST(ReferenceKernels, CeilPoolingDividesByTheClippedWindow) {
  // 1x1x3x3 average, kernel 2, stride 2, ceil: windows [0,2) and [2,3) per axis; Caffe's divisor clips to
  // the (zero) padded border, so the last window divides by its valid size.
  Graph g = one_layer_graph(LayerKind::Pooling, pool(PoolMethod::Average, 2, 2, 0, PoolRounding::Ceil),
                            {{1, 1, 3, 3}});
  Executor e(g, {"reference", 1, 1});
  auto in = e.blob_data(g.inputs()[0]);
  for (size_t i = 0; i < 9; ++i) in[i] = static_cast<float>(i + 1);
  e.run();
  auto out = e.blob_data(g.outputs()[0]);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_FLOAT_EQ(out[0], (1 + 2 + 4 + 5) / 4.0f);
  EXPECT_FLOAT_EQ(out[1], (3 + 6) / 2.0f);
  EXPECT_FLOAT_EQ(out[2], (7 + 8) / 2.0f);
  EXPECT_FLOAT_EQ(out[3], 9.0f);
}

// The pooling loop computes the windows that lie inside a row a row at a time; it must give, bit for bit,
// what one loop per window gives (rows then columns, from -inf or 0), borders, padding on either side,
// strides larger than the kernel and windows clipped by ceil rounding included.
TEST(ReferenceKernels, PoolingMatchesAPerWindowLoopBitForBit) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-3.0f, 3.0f);
  int checked = 0;
  for (int64_t k : {1, 2, 3, 5, 7})
    for (int64_t s : {1, 2, 3})
      for (int64_t pad_l : {0, 1, 2})
        for (int64_t extra_r : {0, 1})  // ceil rounding: a last window past the right/bottom padding
          for (bool max : {true, false})
            for (bool include_pad : {true, false}) {
              if (pad_l >= k) continue;
              runtime::PoolGeometry g{};
              g.n = 1, g.c = 3, g.in_h = 9 + s, g.in_w = 11 + k, g.kh = g.kw = k, g.sh = g.sw = s;
              g.pt = g.pl = pad_l, g.pb = g.pr = pad_l + extra_r;
              g.out_h = (g.in_h + g.pt + g.pb - k) / s + 1, g.out_w = (g.in_w + g.pl + g.pr - k) / s + 1;
              g.max = max, g.count_include_pad = include_pad;
              std::vector<float> x(static_cast<size_t>(g.c * g.in_h * g.in_w));
              for (float& v : x) v = value(rng);
              std::vector<float> got(static_cast<size_t>(g.c * g.out_h * g.out_w));
              runtime::pool_nchw_planes(x.data(), got.data(), g, 0, g.c);
              for (int64_t c = 0; c < g.c; ++c)
                for (int64_t oy = 0; oy < g.out_h; ++oy)
                  for (int64_t ox = 0; ox < g.out_w; ++ox) {
                    const int64_t y0 = oy * s - g.pt, x0 = ox * s - g.pl;
                    const int64_t y1 = std::min(y0 + k, g.in_h + g.pb), x1 = std::min(x0 + k, g.in_w + g.pr);
                    float acc = max ? -std::numeric_limits<float>::infinity() : 0.0f;
                    int64_t valid = 0;
                    for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, g.in_h); ++y)
                      for (int64_t xx = std::max<int64_t>(x0, 0); xx < std::min(x1, g.in_w); ++xx) {
                        const float v = x[static_cast<size_t>((c * g.in_h + y) * g.in_w + xx)];
                        acc = max ? std::max(acc, v) : acc + v;
                        ++valid;
                      }
                    if (!max) {
                      const int64_t count = include_pad ? (y1 - y0) * (x1 - x0) : valid;
                      acc = count > 0 ? acc / static_cast<float>(count) : 0.0f;
                    }
                    const float out = got[static_cast<size_t>((c * g.out_h + oy) * g.out_w + ox)];
                    ASSERT_EQ(out, acc)
                        << fmt::format("k {} s {} pad {}+{} {} include_pad {} at c {} y {} x {}", k, s, pad_l,
                                       extra_r, max ? "max" : "avg", include_pad, c, oy, ox);
                    ++checked;
                  }
            }
  EXPECT_GT(checked, 10000);
}

// The LRN loop (per-plane sums, beta 0.75 by square roots) against its definition evaluated per element in
// double precision, across channels and within a plane, at the edges of the window, for a range of planes
// that starts inside an image (as a thread's share does): only those planes are written.
TEST(ReferenceKernels, LrnMatchesItsDefinition) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> value(-40.0f, 40.0f);
  int checked = 0;
  for (bool across : {true, false})
    for (int64_t size : {1, 3, 5, 7})
      for (float beta : {0.75f, 0.5f, 1.3f}) {
        const runtime::LrnGeometry g{2, 9, 5, 6, size, 2e-3f, beta, across ? 1.0f : 2.0f, across};
        std::vector<float> x(static_cast<size_t>(g.n * g.c * g.h * g.w));
        for (float& v : x) v = value(rng);
        const int64_t first = 4, last = g.n * g.c - 3;  // planes 4 .. 14 of 18
        std::vector<float> y(x.size(), -1.0f);
        runtime::lrn_nchw_planes(x.data(), y.data(), g, first, last);
        const int64_t plane = g.h * g.w, half = (size - 1) / 2;
        for (int64_t pl = 0; pl < g.n * g.c; ++pl)
          for (int64_t q = 0; q < plane; ++q) {
            const float got = y[static_cast<size_t>(pl * plane + q)];
            if (pl < first || pl >= last) {
              ASSERT_EQ(got, -1.0f) << "plane " << pl << " outside the range was written";
              continue;
            }
            const int64_t img = pl / g.c, ch = pl % g.c, yy = q / g.w, xx = q % g.w;
            double sum = 0.0;
            for (int64_t d = -half; d <= half; ++d) {
              if (across) {
                if (ch + d < 0 || ch + d >= g.c) continue;
                const double v = x[static_cast<size_t>((img * g.c + ch + d) * plane + q)];
                sum += v * v;
              } else {
                for (int64_t e = -half; e <= half; ++e) {
                  if (yy + d < 0 || yy + d >= g.h || xx + e < 0 || xx + e >= g.w) continue;
                  const double v = x[static_cast<size_t>(pl * plane + (yy + d) * g.w + xx + e)];
                  sum += v * v;
                }
              }
            }
            const double a = g.alpha / static_cast<double>(across ? size : size * size);
            const double want =
                x[static_cast<size_t>(pl * plane + q)] * std::pow(g.k + a * sum, -double{beta});
            ASSERT_NEAR(got, want, 2e-6 * std::abs(want) + 1e-30) << fmt::format(
                "{} size {} beta {} plane {} at {}", across ? "across" : "within", size, beta, pl, q);
            ++checked;
          }
      }
  EXPECT_GT(checked, 5000);
}

// exp_fast (the exponential of Sigmoid and Swish) against std::exp in double over its whole range, and the
// two activations against their definitions, special values included.
TEST(ReferenceKernels, ExpFastAndTheSigmoidsMatchTheirDefinitions) {
  double worst = 0;
  for (int i = 0; i <= 2000000; ++i) {
    const float x = -87.3f + static_cast<float>(i) * (175.6f / 2000000.0f);
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(runtime::exp_fast(x) - want) / want);
  }
  EXPECT_LT(worst, 2.5e-7) << "relative error (2 ulp is 2.4e-7)";
  EXPECT_EQ(runtime::exp_fast(0.0f), 1.0f);
  EXPECT_EQ(runtime::exp_fast(1000.0f), runtime::exp_fast(88.3f));  // clamped, not infinite
  EXPECT_EQ(runtime::exp_fast(std::numeric_limits<float>::infinity()), runtime::exp_fast(88.3f));
  EXPECT_GT(runtime::exp_fast(-1000.0f), 0.0f);
  EXPECT_TRUE(std::isnan(runtime::exp_fast(std::numeric_limits<float>::quiet_NaN())));

  std::vector<float> xs;
  for (int i = -3000; i <= 3000; ++i) xs.push_back(static_cast<float>(i) * 0.037f);  // -111 .. 111
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f}) xs.push_back(v);
  for (LayerKind kind : {LayerKind::Sigmoid, LayerKind::Swish}) {
    std::vector<float> y = xs;
    FusedActivation act;
    act.kind = kind;
    runtime::apply_activation(act, y.data(), static_cast<int64_t>(y.size()));
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i], sig = 1.0 / (1.0 + std::exp(-x));
      const double want = kind == LayerKind::Sigmoid ? sig : x * sig;
      // Below x = -87.3 the exponential stays at its value there: Swish(-111) is -5e-37, not -7e-47.
      ASSERT_NEAR(y[i], want, 5e-7 * std::abs(want) + 1e-35) << layer_kind_name(kind) << " at " << xs[i];
    }
    std::vector<float> special = {std::numeric_limits<float>::infinity(),
                                  -std::numeric_limits<float>::infinity(),
                                  std::numeric_limits<float>::quiet_NaN()};
    runtime::apply_activation(act, special.data(), 3);
    if (kind == LayerKind::Sigmoid) {
      EXPECT_EQ(special[0], 1.0f);
      EXPECT_LT(special[1], 1e-37f);
      EXPECT_GE(special[1], 0.0f);
    } else {
      EXPECT_EQ(special[0], std::numeric_limits<float>::infinity());
    }
    EXPECT_TRUE(std::isnan(special[2])) << layer_kind_name(kind);
  }
}

TEST(ReferenceKernels, GeluMatchesItsDefinition) {
  std::vector<float> xs;
  for (int i = -4000; i <= 4000; ++i) xs.push_back(static_cast<float>(i) * 0.0051f);  // -20.4 .. 20.4
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f}) xs.push_back(v);
  std::vector<float> y = xs;
  FusedActivation act;
  act.kind = LayerKind::GELU;
  runtime::apply_activation(act, y.data(), static_cast<int64_t>(y.size()));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i], want = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    // Abramowitz and Stegun's erf is within 1.5e-7 of the true one (absolute).
    ASSERT_NEAR(y[i], want, 4e-7 + 1e-6 * std::abs(want)) << "GELU at " << xs[i];
  }
  std::vector<float> special = {std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::quiet_NaN()};
  runtime::apply_activation(act, special.data(), 3);
  EXPECT_EQ(special[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(special[1], 0.0f);
  EXPECT_TRUE(std::isnan(special[2]));
}

TEST(ReferenceKernels, LayerNormMatchesItsDefinition) {
  // Two rows of four: (x - mean) / sqrt(var + eps) * scale + bias, the variance over the row (not n - 1).
  const std::vector<float> x = {1, 2, 3, 4, 10, 10, 10, 14};
  const std::vector<float> scale = {1, 2, 0.5f, -1}, bias = {0, 1, 0, 3};
  std::vector<float> y(x.size());
  const float eps = 1e-5f;
  runtime::layer_norm_rows(x.data(), y.data(), {2, 4, eps, scale.data(), bias.data()}, 0, 2);
  const double inv0 = 1.0 / std::sqrt(1.25 + eps), inv1 = 1.0 / std::sqrt(3.0 + eps);
  const std::vector<double> want = {-1.5 * inv0, -0.5 * inv0 * 2 + 1, 0.5 * inv0 * 0.5,  -1.5 * inv0 + 3,
                                    -1.0 * inv1, -1.0 * inv1 * 2 + 1, -1.0 * inv1 * 0.5, -3.0 * inv1 + 3};
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-6) << i;
  // Without scale and shift, in place.
  std::vector<float> z = x;
  runtime::layer_norm_rows(z.data(), z.data(), {2, 4, eps, nullptr, nullptr}, 1, 2);
  EXPECT_EQ(z[0], 1.0f);  // row 0 untouched
  EXPECT_NEAR(z[7], 3.0 * inv1, 1e-6);
}

// im2col (the GEMM backends' convolution lowering) against its definition, element for element, over kernels,
// pads (asymmetric too), strides, dilations and rectangular planes, whole and in bands of output rows.
TEST(ReferenceKernels, Im2colMatchesItsDefinition) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  int checked = 0;
  for (int64_t k : {1, 3, 5})
    for (int64_t pad : {0, 1, 2, 3})
      for (int64_t extra : {0, 1})  // right/bottom padding beyond the left/top
        for (int64_t stride : {1, 2})
          for (int64_t dil : {1, 2}) {
            runtime::ConvGeometry g{};
            g.n = 1, g.in_c = 2, g.in_h = 7, g.in_w = 9, g.out_c = 1, g.kh = g.kw = k, g.sh = g.sw = stride;
            g.pt = g.pl = pad, g.pb = g.pr = pad + extra, g.dh = g.dw = dil, g.groups = 1;
            const int64_t span = dil * (k - 1) + 1;
            if (g.in_h + g.pt + g.pb < span || g.in_w + g.pl + g.pr < span) continue;
            g.out_h = (g.in_h + g.pt + g.pb - span) / stride + 1;
            g.out_w = (g.in_w + g.pl + g.pr - span) / stride + 1;
            std::vector<float> image(static_cast<size_t>(g.in_c * g.in_h * g.in_w));
            for (float& v : image) v = value(rng);
            const int64_t plane = g.out_h * g.out_w;
            std::vector<float> col(static_cast<size_t>(g.in_c * k * k * plane), 99.0f);
            runtime::im2col(image.data(), g, 0, col.data());
            // The same matrix built in bands of 2 output rows (the last one shorter when out_h is odd), each
            // band a matrix of its own, must hold the same columns.
            std::vector<float> band(col.size(), 77.0f);
            for (int64_t oy0 = 0; oy0 < g.out_h; oy0 += 2) {
              const int64_t oy1 = std::min(g.out_h, oy0 + 2), cols = (oy1 - oy0) * g.out_w;
              runtime::im2col_rows(image.data(), g, 0, 0, g.in_c, oy0, oy1, band.data());
              for (int64_t r = 0; r < g.in_c * k * k; ++r)
                for (int64_t q = 0; q < cols; ++q)
                  ASSERT_EQ(band[static_cast<size_t>(r * cols + q)],
                            col[static_cast<size_t>(r * plane + oy0 * g.out_w + q)])
                      << fmt::format("band from row {} of k {} pad {}+{} stride {} dilation {}", oy0, k, pad,
                                     extra, stride, dil);
            }
            for (int64_t c = 0; c < g.in_c; ++c)
              for (int64_t ky = 0; ky < k; ++ky)
                for (int64_t kx = 0; kx < k; ++kx)
                  for (int64_t oy = 0; oy < g.out_h; ++oy)
                    for (int64_t ox = 0; ox < g.out_w; ++ox) {
                      const int64_t iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
                      const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
                      const float want =
                          inside ? image[static_cast<size_t>((c * g.in_h + iy) * g.in_w + ix)] : 0.0f;
                      const float got =
                          col[static_cast<size_t>(((c * k + ky) * k + kx) * plane + oy * g.out_w + ox)];
                      ASSERT_EQ(got, want)
                          << fmt::format("k {} pad {}+{} stride {} dilation {} at c {} tap {},{} out {},{}",
                                         k, pad, extra, stride, dil, c, ky, kx, oy, ox);
                      ++checked;
                    }
          }
  EXPECT_GT(checked, 20000);
}

TEST(ReferenceKernels, ReshapingLayersMoveDataAsDocumented) {
  // ChannelShuffle with 2 groups of 2 channels: order 0 2 1 3.
  Graph g = one_layer_graph(LayerKind::ChannelShuffle, ChannelShuffleParams{2}, {{1, 4, 1, 1}});
  Executor e(g, {"reference", 1, 1});
  auto in = e.blob_data(g.inputs()[0]);
  for (size_t i = 0; i < 4; ++i) in[i] = static_cast<float>(i);
  e.run();
  auto out = e.blob_data(g.outputs()[0]);
  EXPECT_EQ(std::vector<float>(out.begin(), out.end()), (std::vector<float>{0, 2, 1, 3}));

  // Permute 2x3 -> 3x2.
  Graph gp = one_layer_graph(LayerKind::Permute, PermuteParams{{1, 0}}, {{2, 3}});
  Executor ep(gp, {"reference", 1, 1});
  auto pin = ep.blob_data(gp.inputs()[0]);
  for (size_t i = 0; i < 6; ++i) pin[i] = static_cast<float>(i);
  ep.run();
  auto pout = ep.blob_data(gp.outputs()[0]);
  EXPECT_EQ(std::vector<float>(pout.begin(), pout.end()), (std::vector<float>{0, 3, 1, 4, 2, 5}));

  // Reflect padding by 2 of [1 2 3] along the last axis: 3 2 1 2 3 2 1.
  PadParams pad;
  pad.begins = {0, 2};
  pad.ends = {0, 2};
  pad.mode = PadMode::Reflect;
  Graph gr = one_layer_graph(LayerKind::Pad, pad, {{1, 3}});
  Executor er(gr, {"reference", 1, 1});
  auto rin = er.blob_data(gr.inputs()[0]);
  rin[0] = 1;
  rin[1] = 2;
  rin[2] = 3;
  er.run();
  auto rout = er.blob_data(gr.outputs()[0]);
  EXPECT_EQ(std::vector<float>(rout.begin(), rout.end()), (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));

  // Slice axis 1 of 1x5 into [0,2) and [2,5).
  SliceParams sp;
  sp.axis = 1;
  sp.ranges = {{0, 2}, {2, 5}};
  Graph gs = one_layer_graph(LayerKind::Slice, sp, {{1, 5}}, std::nullopt, 2);
  Executor es(gs, {"reference", 1, 1});
  auto sin = es.blob_data(gs.inputs()[0]);
  for (size_t i = 0; i < 5; ++i) sin[i] = static_cast<float>(i);
  es.run();
  auto s1 = es.blob_data(gs.outputs()[1]);
  EXPECT_EQ(std::vector<float>(s1.begin(), s1.end()), (std::vector<float>{2, 3, 4}));

  // Every second row from 1 of a 1x5x2 tensor (Swin's patch merging): rows 1 and 3; the range [1, 4) holds
  // ceil(3 / 2) = 2 of them.
  SliceParams strided;
  strided.axis = 1;
  strided.ranges = {{1, 4}};
  strided.step = 2;
  Graph gt = one_layer_graph(LayerKind::Slice, strided, {{1, 5, 2}});
  EXPECT_EQ(gt.blob(gt.outputs()[0]).shape, (Shape{1, 2, 2}));
  Executor et(gt, {"reference", 1, 1});
  auto tin = et.blob_data(gt.inputs()[0]);
  for (size_t i = 0; i < 10; ++i) tin[i] = static_cast<float>(i);
  et.run();
  auto t0 = et.blob_data(gt.outputs()[0]);
  EXPECT_EQ(std::vector<float>(t0.begin(), t0.end()), (std::vector<float>{2, 3, 6, 7}));
}

TEST(ReferenceKernels, MatMulOnHandComputedValues) {
  // Two 2x2 matrices of A times one 2x3 matrix of B (broadcast over A's batch).
  Graph g = one_layer_graph(LayerKind::MatMul, NoParams{}, {{2, 2, 2}, {2, 3}});
  Executor e(g, {"reference", 1, 1});
  auto a = e.blob_data(g.inputs()[0]);
  auto b = e.blob_data(g.inputs()[1]);
  const std::vector<float> av = {1, 2, 3, 4, 0, 1, -1, 0.5f}, bv = {1, 0, 2, -1, 3, 0.5f};
  std::copy(av.begin(), av.end(), a.begin());
  std::copy(bv.begin(), bv.end(), b.begin());
  e.run();
  auto y = e.blob_data(g.outputs()[0]);
  // [[1,2],[3,4]] x B = [[-1,6,3],[-1,12,8]]; [[0,1],[-1,0.5]] x B = [[-1,3,0.5],[-1.5,1.5,-1.75]].
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()),
            (std::vector<float>{-1, 6, 3, -1, 12, 8, -1, 3, 0.5f, -1.5f, 1.5f, -1.75f}));
}

TEST(ReferenceKernels, ConstantIsItsValueBroadcastAndSurvivesRuns) {
  // A class token of 4 values expanded to 3 rows, added to a runtime tensor; the sum's buffer must never be
  // the constant's, or the second run would add to a changed token.
  Graph g("t");
  const BlobId x = g.add_input("x", Shape{3, 1, 4});
  const BlobId c =
      add_layer(g, "token", LayerKind::Constant, ConstantParams{Shape{3, 1, 4}, Shape{1, 1, 4}}, {});
  const BlobId y = add_layer(g, "sum", LayerKind::Eltwise, EltwiseParams{}, {x, c});
  const BlobId z = add_layer(g, "relu", LayerKind::ReLU, NoParams{}, {y});
  for (const std::string& backend : Executor::available_backends()) {
    SCOPED_TRACE(backend);
    Executor e(g, {backend, 1, 3});
    auto token = e.weight_data(g.find_layer("token"), 0);
    ASSERT_EQ(token.size(), 4u) << "stored once, not once per row";
    auto in = e.blob_data(x);
    std::fill(in.begin(), in.end(), 0.0f);
    for (int run = 0; run < 2; ++run) {
      e.run();
      auto out = e.blob_data(z);
      for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], std::max(token[i % 4], 0.0f)) << i;
    }
    EXPECT_TRUE(e.fallbacks().empty()) << e.fallbacks().front().layer;
  }
}

TEST(ReferenceKernels, EltwiseBroadcastsNumpyStyle) {
  EltwiseParams p;
  p.op = EltwiseOp::Sum;
  Graph g = one_layer_graph(LayerKind::Eltwise, p, {{2, 3}, {3}});
  Executor e(g, {"reference", 1, 1});
  auto a = e.blob_data(g.inputs()[0]);
  auto b = e.blob_data(g.inputs()[1]);
  for (size_t i = 0; i < 6; ++i) a[i] = static_cast<float>(10 * i);
  for (size_t i = 0; i < 3; ++i) b[i] = static_cast<float>(i);
  e.run();
  auto out = e.blob_data(g.outputs()[0]);
  EXPECT_EQ(std::vector<float>(out.begin(), out.end()), (std::vector<float>{0, 11, 22, 30, 41, 52}));
}

}  // namespace
}  // namespace convergy::test

namespace convergy::test {
namespace {

// The branch-free ReLU and LeakyReLU (sign-bit selects) give exactly what the textbook definitions give,
// signed zeros and infinities included.
TEST(ReferenceKernels, ReluAndLeakyReluAreExactOnSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> in = {-2.5f, -0.0f, 0.0f, 3.25f, inf, -inf, tiny, -tiny, 1e38f, -1e38f};
  FusedActivation relu;
  relu.kind = LayerKind::ReLU;
  std::vector<float> x = in;
  runtime::apply_activation(relu, x.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    const float want = in[i] > 0.0f ? in[i] : 0.0f;
    EXPECT_EQ(x[i], want) << "ReLU(" << in[i] << ")";
    EXPECT_FALSE(std::signbit(x[i])) << "ReLU(" << in[i] << ") must be +0 or positive";
  }
  FusedActivation leaky;
  leaky.kind = LayerKind::LeakyReLU;
  leaky.alpha = 0.1f;
  x = in;
  runtime::apply_activation(leaky, x.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    const float want = in[i] < 0.0f ? 0.1f * in[i] : in[i];
    EXPECT_EQ(x[i], want) << "LeakyReLU(" << in[i] << ")";
  }
}

}  // namespace
}  // namespace convergy::test

#!/usr/bin/env python3
"""Writes the small ONNX seed models of fuzz/corpus/onnx/ (each well under 20 KB, every importer rule used).

Usage: /usr/bin/python3 fuzz/corpus/make_onnx_seeds.py   (from the repository root)
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx")
rng = np.random.default_rng(8)


def weight(name, *shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def save(name, nodes, inputs, outputs, inits, opset):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="convergy-fuzz-seed")
    onnx.checker.check_model(model)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    print(path, os.path.getsize(path), "bytes")


def io(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


# Conv + BatchNorm + Relu + pools + Gemm; the conv weights (16x8x3x3 floats) exceed the reader's 4096-byte
# keep limit, so the wire-level stripping of large initializers runs.
def conv_bn_gemm():
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bias", "mean", "var"], ["bn"], epsilon=1e-5),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], kernel_shape=[3, 3], group=16, pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    inits = [weight("w1", 16, 8, 3, 3), weight("b1", 16), weight("s", 16), weight("bias", 16), weight("mean", 16),
             numpy_helper.from_array(np.abs(rng.standard_normal(16)).astype(np.float32) + 0.1, "var"),
             weight("w2", 16, 1, 3, 3), weight("wf", 10, 16), weight("bf", 10)]
    save("conv_bn_gemm_opset13", nodes, [io("x", [1, 8, 16, 16])], [io("y", [1, 10])], inits, 13)


# Shape arithmetic on a symbolic batch: Shape, Gather, Unsqueeze, Concat, Reshape, Slice, Transpose, MatMul.
def dynamic_reshape():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Shape", ["c"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["c", "newshape"], ["flat"]),
        helper.make_node("Constant", [], ["four"], value=helper.make_tensor("four", TensorProto.INT64, [1], [4])),
        helper.make_node("Mul", ["n1", "zero1"], ["z"]),
        helper.make_node("Sub", ["ends256", "four"], ["e252"]),
        helper.make_node("Div", ["e252", "four"], ["e63"]),
        helper.make_node("Add", ["e63", "one1"], ["e64"]),
        helper.make_node("Slice", ["flat", "z", "e64", "slice_axes"], ["sl"]),
        helper.make_node("MatMul", ["sl", "wm"], ["mm"]),
        helper.make_node("Softmax", ["mm"], ["y"], axis=-1),
        helper.make_node("Transpose", ["c"], ["t"], perm=[0, 1, 3, 2]),
        helper.make_node("ReduceMean", ["t"], ["y2"], axes=[2, 3], keepdims=0),
    ]
    inits = [weight("w", 4, 3, 1, 1), ints("zero", 0), ints("axes", [0]), ints("minus1", [-1]), ints("zero1", [0]),
             ints("ends256", [256]), ints("one1", [1]), ints("slice_axes", [1]), weight("wm", 64, 5)]
    save("dynamic_reshape_opset13", nodes, [io("x", ["N", 3, 8, 8])], [io("y", ["N", 5]), io("y2", ["N", 4])],
         inits, 13)


# Element-wise and activation rules at opset 9 (attribute forms of Pad, Clip, Squeeze, Unsqueeze, Split).
def eltwise_opset9():
    nodes = [
        helper.make_node("Pad", ["x"], ["pd"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="constant"),
        helper.make_node("AveragePool", ["pd"], ["ap"], kernel_shape=[3, 3], strides=[1, 1]),
        helper.make_node("LRN", ["ap"], ["lrn"], size=3),
        helper.make_node("Split", ["lrn"], ["a", "b"], axis=1, split=[2, 2]),
        helper.make_node("Add", ["a", "b"], ["s1"]),
        helper.make_node("Mul", ["s1", "b"], ["s2"]),
        helper.make_node("Max", ["s2", "a"], ["s4"]),
        helper.make_node("Sum", ["s4", "a", "b"], ["s5"]),
        helper.make_node("Sigmoid", ["s5"], ["e1"]),
        helper.make_node("Tanh", ["e1"], ["e2"]),
        helper.make_node("LeakyRelu", ["e2"], ["e3"], alpha=0.1),
        helper.make_node("PRelu", ["e3", "slope"], ["e4"]),
        helper.make_node("HardSigmoid", ["e4"], ["e5"]),
        helper.make_node("Clip", ["e5"], ["e6"], min=0.0, max=6.0),
        helper.make_node("Dropout", ["e6"], ["e7"], ratio=0.5),
        helper.make_node("Identity", ["e7"], ["e8"]),
        helper.make_node("Cast", ["e8"], ["e9"], to=TensorProto.FLOAT),
        helper.make_node("GlobalMaxPool", ["e9"], ["gm"]),
        helper.make_node("Squeeze", ["gm"], ["sq"], axes=[2, 3]),
        helper.make_node("Unsqueeze", ["sq"], ["y"], axes=[2]),
    ]
    inits = [weight("slope", 2, 1, 1)]
    save("eltwise_opset9", nodes, [io("x", [1, 4, 6, 6])], [io("y", [1, 2, 1])], inits, 9)


# Opset 14 forms: HardSwish, Clip with input bounds, Split with an input, ConstantOfShape in shape arithmetic.
def opset14_forms():
    nodes = [
        helper.make_node("HardSwish", ["x"], ["h"]),
        helper.make_node("Clip", ["h", "lo", "hi"], ["c"]),
        helper.make_node("Split", ["c", "parts"], ["a", "b"], axis=1),
        helper.make_node("Concat", ["b", "a"], ["cat"], axis=1),
        helper.make_node("ConstantOfShape", ["one"], ["k"],
                         value=helper.make_tensor("v", TensorProto.INT64, [1], [75])),
        helper.make_node("Concat", ["one", "k"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["cat", "newshape"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "lo"),
             numpy_helper.from_array(np.array(6.0, dtype=np.float32), "hi"), ints("parts", [1, 2]),
             ints("one", [1])]
    save("opset14_forms", nodes, [io("x", [1, 3, 5, 5])], [io("y", [1, 75])], inits, 14)


def scalar(name, value):
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name + "_v", TensorProto.FLOAT, [], [value]))


# A ConvNeXt block as torch writes it at opset 13: channels-last, LayerNorm as ReduceMean ... Sqrt -> Div ->
# Mul -> Add (its Constant nodes after the first ReduceMean), Linear as MatMul + Add, GELU as Div -> Erf -> Add
# -> Mul -> Mul, layer scale as a Mul by a C x 1 x 1 constant, and the residual Add.
def convnext_block():
    c, e = 8, 32
    nodes = [
        helper.make_node("Conv", ["x", "dw", "dwb"], ["d"], group=c, kernel_shape=[7, 7], pads=[3, 3, 3, 3]),
        helper.make_node("Transpose", ["d"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("ReduceMean", ["t"], ["mean"], axes=[-1]),
        helper.make_node("Sub", ["t", "mean"], ["dev"]),
        scalar("two", 2.0),
        helper.make_node("Pow", ["dev", "two"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1]),
        scalar("eps", 1e-6),
        helper.make_node("Add", ["var", "eps"], ["vareps"]),
        helper.make_node("Sqrt", ["vareps"], ["std"]),
        helper.make_node("Div", ["dev", "std"], ["normed"]),
        helper.make_node("Mul", ["normed", "gamma"], ["scaled"]),
        helper.make_node("Add", ["scaled", "beta"], ["ln"]),
        helper.make_node("MatMul", ["ln", "w1"], ["h"]),
        helper.make_node("Add", ["b1", "h"], ["hb"]),
        scalar("sqrt2", 1.4142135),
        helper.make_node("Div", ["hb", "sqrt2"], ["z"]),
        helper.make_node("Erf", ["z"], ["erf"]),
        scalar("one", 1.0),
        helper.make_node("Add", ["erf", "one"], ["phi2"]),
        helper.make_node("Mul", ["hb", "phi2"], ["g2"]),
        scalar("half", 0.5),
        helper.make_node("Mul", ["g2", "half"], ["g"]),
        helper.make_node("MatMul", ["g", "w2"], ["o"]),
        helper.make_node("Add", ["b2", "o"], ["ob"]),
        helper.make_node("Transpose", ["ob"], ["back"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["ls", "back"], ["lsb"]),
        helper.make_node("Add", ["lsb", "x"], ["y"]),
    ]
    inits = [weight("dw", c, 1, 7, 7), weight("dwb", c), weight("gamma", c), weight("beta", c), weight("w1", c, e),
             weight("b1", e), weight("w2", e, c), weight("b2", c), weight("ls", c, 1, 1)]
    save("convnext_block_opset13", nodes, [io("x", [1, c, 6, 6])], [io("y", [1, c, 6, 6])], inits, 13)


# Opset 17's LayerNormalization over the last two axes, without B.
def layer_normalization_opset17():
    nodes = [helper.make_node("LayerNormalization", ["x", "s"], ["y"], axis=-2, epsilon=1e-5)]
    save("layer_normalization_opset17", nodes, [io("x", [2, 3, 4, 5])], [io("y", [2, 3, 4, 5])], [weight("s", 4, 5)],
         17)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    conv_bn_gemm()
    dynamic_reshape()
    eltwise_opset9()
    opset14_forms()
    convnext_block()
    layer_normalization_opset17()

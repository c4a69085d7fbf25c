#!/usr/bin/python3
"""Writes the malformed and hostile ONNX files of the bad-input corpus (tests/bad_inputs/data/onnx/).

Every file is small and checked in; run this script again only to change them:
    /usr/bin/python3 tests/bad_inputs/make_onnx.py
The models are built with the onnx package but never checked by it: most of them are invalid on purpose.
"""
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "onnx")
FLOAT = TensorProto.FLOAT


def vi(name, dims, elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def model(nodes, inputs, outputs, initializers=(), opset=13, ir_version=7):
    graph = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="convergy-tests")
    m.ir_version = ir_version
    return m


def weight(name, dims, with_data=True):
    """A float initializer; with_data=False declares the dims only (no bytes), as a hostile file can."""
    t = TensorProto()
    t.name = name
    t.data_type = FLOAT
    t.dims.extend(dims)
    if with_data:
        n = 1
        for d in dims:
            n *= d
        t.raw_data = bytes(4 * n)
    return t


def conv_net(input_dims=(1, 3, 8, 8), w_dims=(4, 3, 3, 3), **conv_attrs):
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", **conv_attrs)
    return model([conv], [vi("x", list(input_dims))], [vi("y", None)], [weight("w", list(w_dims))])


def relu_net(input_dims, elem=FLOAT):
    relu = helper.make_node("Relu", ["x"], ["y"], name="relu1")
    return model([relu], [vi("x", input_dims, elem)], [vi("y", None)])


def write(name, m):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(m if isinstance(m, bytes) else m.SerializeToString())


def main():
    os.makedirs(OUT, exist_ok=True)
    good = conv_net().SerializeToString()

    # Broken bytes.
    write("truncated.onnx", good[: len(good) // 2])
    write("not_protobuf.onnx", b"this is a text file, not an ONNX model\n")
    write("empty.onnx", b"")
    # Field 7 (graph) announced with 2^40 bytes of payload in a tiny file.
    write("length_past_end.onnx", bytes([0x3A]) + bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]) + b"\x08")
    # A varint that never ends.
    write("endless_varint.onnx", bytes([0x08]) + bytes([0xFF]) * 16)

    # Model-level problems.
    write("no_opset.onnx", _no_opset())
    write("opset_99.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="relu1")], [vi("x", [1, 3, 8, 8])],
                                 [vi("y", None)], opset=99))
    write("no_graph_input.onnx", model([helper.make_node("Constant", [], ["y"], name="c",
                                                         value=helper.make_tensor("v", FLOAT, [1], [1.0]))],
                                       [], [vi("y", None)]))

    # Inputs: wrong types and absurd or impossible sizes.
    write("string_input.onnx", relu_net([1, 3, 8, 8], TensorProto.STRING))
    write("input_dim_2_pow_40.onnx", relu_net([1, 2 ** 40, 8, 8]))
    write("input_negative_dim.onnx", relu_net([1, -5, 8, 8]))
    write("input_elements_overflow.onnx", relu_net([1 << 20, 1 << 20, 1 << 20, 1 << 20]))
    write("input_without_shape.onnx", _input_without_shape())
    write("input_symbolic_channels.onnx", relu_net([1, "C", 8, 8]))

    # Graph structure.
    a = helper.make_node("Relu", ["x"], ["a"], name="first")
    cyc1 = helper.make_node("Add", ["a", "c"], ["b"], name="add_b")
    cyc2 = helper.make_node("Relu", ["b"], ["c"], name="relu_c")
    write("cycle.onnx", model([a, cyc1, cyc2], [vi("x", [1, 3, 8, 8])], [vi("c", None)]))
    write("self_loop.onnx", model([helper.make_node("Add", ["x", "y"], ["y"], name="self_add")],
                                  [vi("x", [1, 3, 8, 8])], [vi("y", None)]))
    write("duplicate_output.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r1"),
                                          helper.make_node("Sigmoid", ["x"], ["y"], name="r2")],
                                         [vi("x", [1, 3, 8, 8])], [vi("y", None)]))
    write("missing_initializer.onnx", model([helper.make_node("Conv", ["x", "w_absent"], ["y"], name="conv1")],
                                            [vi("x", [1, 3, 8, 8])], [vi("y", None)]))
    write("unsupported_op.onnx", model([helper.make_node("NonZero", ["x"], ["y"], name="nz")],
                                       [vi("x", [1, 3, 8, 8])], [vi("y", None)]))
    # A Conv with 30,000 inputs: a huge repeated field in a 90 kB file.
    write("huge_repeated_inputs.onnx", model([helper.make_node("Conv", ["x"] + ["w"] * 29999, ["y"], name="conv1")],
                                             [vi("x", [1, 3, 8, 8])], [vi("y", None)], [weight("w", [4, 3, 3, 3])]))
    # Constants whose shape is data: 2^60 elements (over the element limit) and 2^33 (under it, 32 GiB of
    # float32 if anything tried to hold it).
    write("constant_of_shape_2_pow_60.onnx", _constant_of_shape([1 << 20] * 3))
    write("constant_of_shape_2_pow_33.onnx", _constant_of_shape([1 << 11] * 3))
    write("pad_2_pow_40.onnx", _pad([0, 0, 0, 1 << 40, 0, 0, 0, 0]))

    # Weights and attributes.
    write("weight_dims_2_pow_40.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")],
                                             [vi("x", [1, 3, 8, 8])], [vi("y", None)],
                                             [weight("w", [2 ** 40, 3, 3, 3], with_data=False)]))
    write("weight_wrong_shape.onnx", conv_net(w_dims=(4, 5, 3, 3)))
    write("kernel_larger_than_input.onnx", conv_net(w_dims=(4, 3, 9, 9)))
    write("conv_group_zero.onnx", conv_net(group=0))
    write("conv_negative_pads.onnx", conv_net(pads=[-1, -1, -1, -1]))
    write("conv_kernel_shape_string.onnx", _kernel_shape_string())
    write("reshape_bad_count.onnx", _reshape_bad_count())
    # Folded ops of shifted-window attention: a Range of 2^40 values, a ScatterND past the end of its data.
    write("range_2_pow_40.onnx", _range(0, 1 << 40, 1))
    write("scatter_nd_index_past_end.onnx", _scatter_nd([9]))


def _no_opset():
    m = model([helper.make_node("Relu", ["x"], ["y"], name="relu1")], [vi("x", [1, 3, 8, 8])], [vi("y", None)])
    del m.opset_import[:]
    return m


def _input_without_shape():
    m = relu_net([1, 3, 8, 8])
    m.graph.input[0].type.tensor_type.ClearField("shape")
    return m


def _kernel_shape_string():
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")
    conv.attribute.append(helper.make_attribute("kernel_shape", "3x3"))
    return model([conv], [vi("x", [1, 3, 8, 8])], [vi("y", None)], [weight("w", [4, 3, 3, 3])])


def _constant_of_shape(dims):
    shape = helper.make_tensor("shape", TensorProto.INT64, [len(dims)], dims)
    c = helper.make_node("ConstantOfShape", ["shape"], ["big"], name="big_constant",
                         value=helper.make_tensor("v", FLOAT, [1], [1.0]))
    add = helper.make_node("Add", ["x", "big"], ["y"], name="add_big")
    return model([c, add], [vi("x", [1, 3, 8, 8])], [vi("y", None)], [shape])


def _pad(pads):
    p = helper.make_tensor("pads", TensorProto.INT64, [len(pads)], pads)
    node = helper.make_node("Pad", ["x", "pads"], ["y"], name="pad1")
    return model([node], [vi("x", [1, 3, 8, 8])], [vi("y", None)], [p])


def _reshape_bad_count():
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 1000])
    r = helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape1")
    return model([r], [vi("x", [1, 3, 8, 8])], [vi("y", None)], [shape])


def _range(start, limit, delta):
    ints = [helper.make_tensor(n, TensorProto.INT64, [], [v]) for n, v in
            (("start", start), ("limit", limit), ("delta", delta))]
    r = helper.make_node("Range", ["start", "limit", "delta"], ["shape"], name="range1")
    reshape = helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape1")
    return model([r, reshape], [vi("x", [1, 3, 8, 8])], [vi("y", None)], ints)


def _scatter_nd(index):
    data = helper.make_tensor("data", TensorProto.INT64, [3], [1, 3, 64])
    indices = helper.make_tensor("indices", TensorProto.INT64, [1, 1], index)
    updates = helper.make_tensor("updates", TensorProto.INT64, [1], [64])
    s = helper.make_node("ScatterND", ["data", "indices", "updates"], ["shape"], name="scatter1")
    reshape = helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape1")
    return model([s, reshape], [vi("x", [1, 3, 8, 8])], [vi("y", None)], [data, indices, updates])


if __name__ == "__main__":
    main()

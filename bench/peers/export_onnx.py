#!/usr/bin/python3
"""Exports the torchvision networks the runtime benchmark compares against (random weights) to ONNX,
for OpenCV's DNN module. Usage: export_onnx.py OUT_DIR [resnet50 mobilenet_v2 vgg16]"""
import os
import sys

import onnx
import torch
import torchvision


def remove_identities(model: onnx.ModelProto) -> int:
    """The clean-up OpenCV 4.6 needs: the exporter emits Identity nodes that copy an initializer (shared
    weights after constant folding), and OpenCV's importer rejects an Identity without a runtime input.
    Each such node becomes a copy of the initializer under the node's output name."""
    inits = {t.name: t for t in model.graph.initializer}
    keep, removed = [], 0
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            model.graph.initializer.append(copy)
            removed += 1
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return removed


def export(name: str, out_dir: str) -> str:
    path = os.path.join(out_dir, f"{name}.onnx")
    if os.path.exists(path):
        model = onnx.load(path)
        if any(n.op_type == "Identity" for n in model.graph.node):
            remove_identities(model)
            onnx.save(model, path)
        return path
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    # Opset 10 keeps Clip bounds as attributes: OpenCV 4.6 cannot read opset-11 Clip with Constant inputs.
    torch.onnx.export(model, x, path, opset_version=10, do_constant_folding=True,
                      input_names=["data"], output_names=["prob"])
    model = onnx.load(path)
    if remove_identities(model):
        onnx.save(model, path)
    return path


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name in sys.argv[2:] or ["resnet50", "mobilenet_v2", "vgg16"]:
        print(export(name, out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

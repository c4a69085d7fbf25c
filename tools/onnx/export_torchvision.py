#!/usr/bin/python3
"""Exports torchvision models to ONNX the way users do (torch.onnx.export, opset 13 unless named, eval mode) and writes
PyTorch's own module-by-module MAC and parameter counts next to each file, for convergy's import tests.

BatchNorm is kept (training=TrainingMode.PRESERVE on a model in eval mode): the default EVAL export folds
BatchNorm into the preceding convolution, which changes the parameter count PyTorch reports. Weight data is
written to an external file and then deleted unless --keep-weights: convergy must import without it.

    /usr/bin/python3 tools/onnx/export_torchvision.py --out DIR resnet50 vgg16 ...
    /usr/bin/python3 tools/onnx/export_torchvision.py --list
"""
import argparse
import io
import json
import os
import sys
import tempfile

import onnx
import torch
import torchvision.models as tvm

# name -> (constructor, input side). Auxiliary classifiers are off: they do not run in eval mode, so neither
# the exported graph nor the module-by-module count includes them. init_weights=False only skips the
# (slow, scipy-based) initialisation; shapes are the same.
MODELS = {
    "resnet18": (lambda: tvm.resnet18(), 224),
    "resnet50": (lambda: tvm.resnet50(), 224),
    "mobilenet_v2": (lambda: tvm.mobilenet_v2(), 224),
    "mobilenet_v3_large": (lambda: tvm.mobilenet_v3_large(), 224),
    "shufflenet_v2_x1_0": (lambda: tvm.shufflenet_v2_x1_0(), 224),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(), 224),
    "squeezenet1_1": (lambda: tvm.squeezenet1_1(), 224),
    "densenet121": (lambda: tvm.densenet121(), 224),
    "googlenet": (lambda: tvm.googlenet(aux_logits=False, init_weights=False), 224),
    "inception_v3": (lambda: tvm.inception_v3(aux_logits=False, init_weights=False), 299),
    "vgg16": (lambda: tvm.vgg16(), 224),
    # The real networks measured on the Jetson Nano (data/jetson-nano-real), all at 224x224 as measured.
    "vgg19": (lambda: tvm.vgg19(), 224),
    "efficientnet_b4": (lambda: tvm.efficientnet_b4(), 224),
    "efficientnet_v2_m": (lambda: tvm.efficientnet_v2_m(), 224),
    # Layer normalisation and GELU (ConvNeXt), squeeze-and-excitation with a sigmoid gate (RegNetY). At opset 13
    # torch writes LayerNorm and GELU as subgraphs of ReduceMean, Pow, Sqrt, Erf...; at opset 17 LayerNorm is
    # one LayerNormalization node.
    "convnext_tiny": (lambda: tvm.convnext_tiny(), 224),
    "convnext_tiny_opset17": (lambda: tvm.convnext_tiny(), 224),
    "regnet_y_400mf": (lambda: tvm.regnet_y_400mf(), 224),
    # Grouped convolutions (8 channels per group; 32 groups of 4 to 32 channels): with ConvNeXt-T and
    # RegNetY-400MF, the study's transfer to architectures the zoo lacks (data/architectures).
    "regnet_x_400mf": (lambda: tvm.regnet_x_400mf(), 224),
    "resnext50_32x4d": (lambda: tvm.resnext50_32x4d(), 224),
    # A vision transformer: patch embedding, multi-head self-attention (matrix products of two runtime tensors,
    # softmax over tokens), layer normalisation over tokens, GELU MLPs, a class token and a position embedding.
    "vit_b_32": (lambda: tvm.vit_b_32(), 224),
    "vit_b_16": (lambda: tvm.vit_b_16(), 224),
    # Shifted-window attention: windows of 7 x 7 tokens, the second block of each pair shifted by 3 with an
    # attention mask, a relative position bias per head, and patch merging (every second row and column).
    "swin_t": (lambda: tvm.swin_t(), 224),
}
OPSETS = {"convnext_tiny_opset17": 17}  # 13 for the others


try:  # torchvision 0.13 and later
    from torchvision.models.swin_transformer import ShiftedWindowAttention as SWIN_ATTENTION
except ImportError:
    SWIN_ATTENTION = None


def count(model, x):
    """MACs of Conv2d, Linear and multi-head attention and parameters of every module that ran, from forward
    hooks (batch 1). nn.MultiheadAttention calls its projections as functions, not modules, so its hook counts
    them: the input projection (3 E x E), the output projection (E x E), and the two matrix products of the
    attention itself, Q K^T and A V (L x L x E each per sample). Swin's shifted-window attention likewise."""
    macs = {"conv": 0, "fc": 0, "matmul": 0}
    ran = {}
    folded_bias = [0]

    def hook(module, inputs, output):
        ran[id(module)] = module
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            macs["conv"] += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, torch.nn.Linear):
            macs["fc"] += output.numel() * module.in_features
        elif SWIN_ATTENTION is not None and isinstance(module, SWIN_ATTENTION):
            # Swin calls its projections as functions on windows of the padded B x H x W x C input: qkv (C x 3C)
            # and proj (C x C) on every padded token, and Q K^T and A V over each window's N tokens.
            b, h, w, c = inputs[0].shape
            wh, ww = module.window_size
            tokens = b * (h + (wh - h % wh) % wh) * (w + (ww - w % ww) % ww)
            macs["fc"] += tokens * c * 3 * c + tokens * c * c
            macs["matmul"] += 2 * tokens * wh * ww * c
            ran[id(module.qkv)] = module.qkv
            ran[id(module.proj)] = module.proj
            # torch.onnx's constant folding stores the bias gathered from the table, N x N per head.
            table = module.relative_position_bias_table
            folded_bias[0] += table.shape[1] * (wh * ww) ** 2 - table.numel()
        elif isinstance(module, torch.nn.MultiheadAttention):
            attended = output[0]  # the query's shape; torchvision passes the inputs by keyword, unseen here
            e = module.embed_dim
            tokens = attended.shape[1] if module.batch_first else attended.shape[0]
            rows = attended.numel() // e  # batch x tokens
            macs["fc"] += rows * e * 3 * e + rows * e * e
            macs["matmul"] += 2 * rows * tokens * e
            ran[id(module.out_proj)] = module.out_proj

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    params = sum(p.numel() for m in ran.values() for p in m.parameters(recurse=False))
    return {
        "conv_macs": macs["conv"],
        "fc_macs": macs["fc"],
        "matmul_macs": macs["matmul"],
        "macs": macs["conv"] + macs["fc"] + macs["matmul"],
        "params": params,
        "all_params": sum(p.numel() for p in model.parameters()),
        # What an export with constant folding stores instead: Swin's relative position bias tables are read at
        # every pair of a window's tokens, and the folded result is an initializer of its own.
        "folded_params": params + folded_bias[0],
    }


def export(name, out_dir, keep_weights, dynamic_batch, softmax=False):
    make, side = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    if softmax:
        # The zoo's Caffe definitions end in a Softmax ("prob"); the importers-agree test compares against them.
        model = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()
        name = name + "-softmax"
    x = torch.zeros(1, 3, side, side)
    counts = count(model, x)
    buf = io.BytesIO()
    dynamic_axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    opset = OPSETS.get(name.removesuffix("-softmax"), 13)
    torch.onnx.export(model, x, buf, opset_version=opset, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=True, input_names=["input"], output_names=["output"],
                      dynamic_axes=dynamic_axes)
    proto = onnx.load_from_string(buf.getvalue())
    del buf
    path = os.path.join(out_dir, name + ".onnx")
    # Write to temporary names and rename, so a concurrent reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".onnx.tmp")
    os.close(fd)
    if keep_weights:
        onnx.save_model(proto, tmp)
    else:
        weights = name + ".weights"
        onnx.save_model(proto, tmp, save_as_external_data=True, all_tensors_to_one_file=True, location=weights,
                        size_threshold=1024)
        os.remove(os.path.join(out_dir, weights))
    os.replace(tmp, path)
    info = dict(counts, model=name, input=[1, 3, side, side], opset=opset, torch=torch.__version__,
                weights="inline" if keep_weights else "external file removed", dynamic_batch=dynamic_batch)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, name + ".json"))
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="model names (default: all)")
    ap.add_argument("--out", default=".", help="output folder")
    ap.add_argument("--keep-weights", action="store_true", help="keep the weights inline in the .onnx file")
    ap.add_argument("--static-batch", action="store_true", help="export batch 1 as a fixed dimension")
    ap.add_argument("--softmax", action="store_true",
                    help="append a Softmax and write <name>-softmax.onnx (for the importers-agree test)")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    args = ap.parse_args()
    if args.list:
        print("\n".join(MODELS))
        return 0
    names = args.models or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    for n in names:
        info = export(n, args.out, args.keep_weights, not args.static_batch, args.softmax)
        print(f"{n}: macs {info['macs']} params {info['params']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

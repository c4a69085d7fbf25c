#!/usr/bin/python3
"""Writes the small ONNX fixtures checked into tests/onnx/data/: one tiny network that uses most of the ops
the importer maps, exported by torch.onnx at several opsets, plus PyTorch's own counts in fixtures.json; and a
tiny vision transformer (torchvision's VisionTransformer: two encoder blocks of two heads on 32x32 images) at
opsets 13 and 17, with its counts in tinyvit.json; and a tiny Swin transformer (torchvision's SwinTransformer:
two stages of two blocks) at opsets 13 (constant folding on) and 17 (off), with its counts in tinyswin.json.

    /usr/bin/python3 tools/onnx/export_fixtures.py tests/onnx/data
"""
import io
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision import count  # noqa: E402  (same module-by-module counting as the big models)

OPSETS = [9, 11, 13, 14, 17]


class TinyNet(nn.Module):
    """Conv/BN/ReLU, depthwise dilated conv with ReLU6, Hardswish, a squeeze-and-excitation block with SiLU,
    a ceil-mode MaxPool, a channel shuffle, chunk + concat, a zero Pad folded into a conv, an average pool
    that excludes padding, PReLU, and a Linear head with Softmax."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False), nn.BatchNorm2d(8),
                                nn.ReLU6())
        self.expand = nn.Sequential(nn.Conv2d(8, 16, 1), nn.Hardswish())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 4, 1), nn.SiLU(), nn.Conv2d(4, 16, 1),
                                nn.Sigmoid())
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3), nn.LeakyReLU(0.1))
        self.avg = nn.AvgPool2d(3, stride=3, padding=1, count_include_pad=False)
        self.prelu = nn.PReLU(16)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(16 * 6 * 6, 10), nn.Softmax(dim=1))

    def forward(self, x):
        x = self.stem(x)
        x = self.dw(x)
        x = self.expand(x)
        x = x * self.se(x)
        x = self.pool(x)
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)
        a, b = x.chunk(2, dim=1)
        b = self.branch(F.pad(b, (1, 1, 1, 1)))
        x = torch.cat([a, b], dim=1)
        x = self.prelu(self.avg(x))
        return self.head(x)


VIT_OPSETS = [13, 17]
SWIN_OPSETS = [13, 17]


def export_at_opsets(model, prefix, opsets, counts_file, out_dir, **export_args):
    """Exports `model` (in eval mode, on a 1x3x32x32 input) as PREFIX_opsetN.onnx for each opset and writes
    PyTorch's counts with the file list to `counts_file`. `export_args(opset)` may vary the export per opset."""
    x = torch.zeros(1, 3, 32, 32)
    info = dict(count(model, x), input=[1, 3, 32, 32], torch=torch.__version__, files={})
    for opset in opsets:
        buf = io.BytesIO()
        torch.onnx.export(model, x, buf, opset_version=opset, input_names=["input"], output_names=["output"],
                          **{k: v(opset) for k, v in export_args.items()})
        name = f"{prefix}_opset{opset}.onnx"
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(buf.getvalue())
        info["files"][name] = opset
    with open(os.path.join(out_dir, counts_file), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info, indent=1))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    # Opset 9 cannot export chunk() of a tensor with a symbolic batch; its fixture has a fixed batch.
    batch = {"input": {0: "batch"}, "output": {0: "batch"}}
    export_at_opsets(TinyNet().eval(), "tinynet", OPSETS, "fixtures.json", out_dir,
                     training=lambda opset: torch.onnx.TrainingMode.PRESERVE,
                     dynamic_axes=lambda opset: batch if opset >= 11 else None)

    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=10).eval()
    export_at_opsets(vit, "tinyvit", VIT_OPSETS, "tinyvit.json", out_dir, dynamic_axes=lambda opset: batch)

    from torchvision.models.swin_transformer import SwinTransformer

    # Two stages of two blocks on 8x8 patches of 4x4 pixels, windows of 4x4 tokens: the second block of the
    # first stage is shifted (a mask), patch merging reads every second row and column, and the second stage's
    # 4x4 tokens fit one window (no shift). Exported with constant folding (each relative position bias folded
    # into an initializer of its own, as users export) and without it (gathered from the table at import).
    torch.manual_seed(0)
    swin = SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[1, 2], window_size=[4, 4],
                           num_classes=10).eval()
    export_at_opsets(swin, "tinyswin", SWIN_OPSETS, "tinyswin.json", out_dir,
                     do_constant_folding=lambda opset: opset == 13)


if __name__ == "__main__":
    main()

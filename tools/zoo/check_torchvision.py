#!/usr/bin/python3
# Cross-checks the zoo generator's parameter and MAC totals against torchvision's own models (built with
# random weights), so an error in a hand-written zoo file shows up as a mismatch with an independent source.
"""Usage: /usr/bin/python3 tools/zoo/check_torchvision.py [--markdown]

For every zoo network that torchvision also defines, builds the torchvision model (weights=None, eval mode),
counts parameters as sum(p.numel()) and Conv2d/Linear MACs with forward hooks on one input of the zoo's
input size, and compares with tools/zoo/gen_zoo.py. Exit code 1 if a network expected to agree does not.
Needs Debian's python3-torch and python3-torchvision (run with /usr/bin/python3).
"""

import argparse
import os
import sys

import torch
import torchvision.models as tvm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_zoo  # noqa: E402

# zoo name -> (torchvision constructor, expectation, note). Expectations: "same" (params and MACs agree
# exactly), "params" (same parameters, MACs differ by design), "differs" (a different variant; informative).
CASES = {
    "alexnet": (lambda: tvm.alexnet(weights=None), "differs",
                "torchvision's AlexNet is the one-tower 'one weird trick' variant (64/192/384/256/256 "
                "channels, no groups, no LRN), not BVLC's"),
    "vgg16": (lambda: tvm.vgg16(weights=None), "same", ""),
    "resnet18": (lambda: tvm.resnet18(weights=None), "same", ""),
    "resnet50": (lambda: tvm.resnet50(weights=None), "params",
                 "torchvision strides the 3x3 of each downsampling bottleneck (v1.5); Caffe strides the first "
                 "1x1, so it computes fewer MACs with the same weights"),
    "wrn50_2": (lambda: tvm.wide_resnet50_2(weights=None), "same", ""),
    "squeezenet1_0": (lambda: tvm.squeezenet1_0(weights=None), "same", ""),
    "squeezenet1_0_bypass": (lambda: tvm.squeezenet1_0(weights=None), "same",
                             "compared with plain squeezenet1_0: the bypass adds only element-wise sums"),
    "squeezenet1_1": (lambda: tvm.squeezenet1_1(weights=None), "same", ""),
    "googlenet": (lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=False), "differs",
                  "torchvision's GoogLeNet adds BatchNorm, uses 3x3 instead of 5x5 in the '5x5' branch and a "
                  "2x2 pool4; BVLC's has neither"),
    "inception_v3": (lambda: tvm.inception_v3(weights=None, aux_logits=False, init_weights=False), "same", ""),
    "mobilenet_v2": (lambda: tvm.mobilenet_v2(weights=None), "same", ""),
    "mobilenet_v3_large": (lambda: tvm.mobilenet_v3_large(weights=None), "same", ""),
    "shufflenet_v2_1_0": (lambda: tvm.shufflenet_v2_x1_0(weights=None), "same", ""),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(weights=None), "same", ""),
    "densenet121": (lambda: tvm.densenet121(weights=None), "same", ""),
}


def torch_totals(model, input_shape):
    macs = [0]

    def conv_hook(mod, _inp, out):
        kh, kw = mod.kernel_size
        macs[0] += out.numel() // out.shape[0] * (mod.in_channels // mod.groups) * kh * kw

    def linear_hook(mod, _inp, out):
        macs[0] += out.numel() // out.shape[0] * mod.in_features  # one input row per sample here

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear_hook)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    return sum(p.numel() for p in model.parameters()), macs[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table for docs/zoo.md")
    args = ap.parse_args()
    torch.manual_seed(0)
    nets = {n.name: n for n in gen_zoo.build_all()}
    failures = []
    rows = []
    for name, (make, expect, note) in CASES.items():
        zoo = nets[name]
        tv_params, tv_macs = torch_totals(make(), zoo.input_shape)
        same_params = tv_params == zoo.params
        same_macs = tv_macs == zoo.macs
        ok = {"same": same_params and same_macs, "params": same_params, "differs": True}[expect]
        if not ok:
            failures.append(name)
        rows.append((name, "x".join(map(str, zoo.input_shape)), zoo.params, tv_params, zoo.macs, tv_macs,
                     "agree" if same_params and same_macs else ("params agree" if same_params else "differ"),
                     note))
    if args.markdown:
        print("| network | input | zoo params | torchvision params | zoo MACs | torchvision MACs | result | note |")
        print("| --- | --- | ---: | ---: | ---: | ---: | --- | --- |")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]:,} | {r[3]:,} | {r[4]:,} | {r[5]:,} | {r[6]} | {r[7]} |")
    else:
        for r in rows:
            print(f"{r[0]:22s} {r[1]:>10s} params {r[2]:>12,} vs {r[3]:>12,}  MACs {r[4]:>15,} vs {r[5]:>15,}  "
                  f"{r[6]}")
    if failures:
        print("MISMATCH: " + ", ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# Writes zoo/<name>.prototxt for every network of the built-in model zoo, from the published architecture
# descriptions, and prints per-network totals (layers, Conv+FC MACs, parameters) computed while building.
"""Model-zoo generator.

Usage: /usr/bin/python3 tools/zoo/gen_zoo.py [--out DIR] [--check] [--layers NAME] [--json]

  --out DIR     where to write the .prototxt files (default: <repo>/zoo)
  --check       do not write; fail (exit 1) if a file in DIR differs from what would be written
  --layers NAME print the per-layer table (shape, params, MACs) of one network
  --json        print the totals as JSON instead of a table (used by check_torchvision.py)

Shapes follow Caffe's rules: convolution floors, pooling rounds up unless the layer says
`round_mode: FLOOR`, and a ceil-rounded pooling window that would start inside the padding is dropped.
Parameters are counted as PyTorch counts them: convolution/FC weights and biases, and the affine scale
and shift of batch normalisation (Caffe's Scale layer); BatchNorm running statistics are not parameters.
MACs are counted for Convolution and InnerProduct only (one multiply-accumulate per weight use).
"""

import argparse
import json
import math
import os
import sys


class Net:
    """Builds one prototxt while tracking every blob's shape, the parameters and the MACs."""

    def __init__(self, name, title, sources, published, c, h, w):
        self.name = name
        self.title = title
        self.sources = sources
        self.published = published
        self.input_shape = (c, h, w)
        self.shapes = {"data": (c, h, w)}
        self.blocks = []
        self.rows = []  # (layer name, type, output shape, params, macs)
        self.layer_names = set()
        self.params = 0
        self.macs = 0

    # ----- bookkeeping -----
    def _shape(self, blob):
        if blob not in self.shapes:
            raise ValueError(f"{self.name}: blob {blob!r} used before it is produced")
        return self.shapes[blob]

    def _emit(self, name, ltype, bottoms, tops, param_block="", params=0, macs=0):
        if name in self.layer_names:
            raise ValueError(f"{self.name}: duplicate layer name {name!r}")
        self.layer_names.add(name)
        lines = ["layer {", f'  name: "{name}"', f'  type: "{ltype}"']
        lines += [f'  bottom: "{b}"' for b in bottoms]
        lines += [f'  top: "{t}"' for t in tops]
        if param_block:
            lines.append(param_block)
        lines.append("}")
        self.blocks.append("\n".join(lines))
        self.params += params
        self.macs += macs
        self.rows.append((name, ltype, self.shapes[tops[0]], params, macs))

    @staticmethod
    def _block(key, fields):
        body = "\n".join(f"    {k}: {v}" for k, v in fields)
        return f"  {key} {{\n{body}\n  }}"

    @staticmethod
    def _pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    # ----- layers -----
    def conv(self, name, bottom, cout, k, s=1, p=0, g=1, bias=True, d=1, top=None):
        top = top or name
        cin, h, w = self._shape(bottom)
        kh, kw = self._pair(k)
        sh, sw = self._pair(s)
        ph, pw = self._pair(p)
        if cin % g or cout % g:
            raise ValueError(f"{self.name}/{name}: channels {cin}->{cout} not divisible by group {g}")
        oh = (h + 2 * ph - d * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - d * (kw - 1) - 1) // sw + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"{self.name}/{name}: output {oh}x{ow}")
        fields = [("num_output", cout)]
        fields += [("kernel_size", kh)] if kh == kw else [("kernel_h", kh), ("kernel_w", kw)]
        if (sh, sw) != (1, 1):
            fields += [("stride", sh)] if sh == sw else [("stride_h", sh), ("stride_w", sw)]
        if (ph, pw) != (0, 0):
            fields += [("pad", ph)] if ph == pw else [("pad_h", ph), ("pad_w", pw)]
        if d != 1:
            fields.append(("dilation", d))
        if g != 1:
            fields.append(("group", g))
        if not bias:
            fields.append(("bias_term", "false"))
        self.shapes[top] = (cout, oh, ow)
        weights = cout * (cin // g) * kh * kw
        params = weights + (cout if bias else 0)
        macs = weights * oh * ow
        self._emit(name, "Convolution", [bottom], [top], self._block("convolution_param", fields), params, macs)
        return top

    def fc(self, name, bottom, cout, bias=True, top=None):
        top = top or name
        cin = math.prod(self._shape(bottom))
        fields = [("num_output", cout)] + ([] if bias else [("bias_term", "false")])
        self.shapes[top] = (cout, 1, 1)
        params = cin * cout + (cout if bias else 0)
        self._emit(name, "InnerProduct", [bottom], [top], self._block("inner_product_param", fields), params,
                   cin * cout)
        return top

    def pool(self, name, bottom, method, k=None, s=1, p=0, global_pool=False, floor=False, top=None):
        top = top or name
        c, h, w = self._shape(bottom)
        fields = [("pool", method)]
        if global_pool:
            oh = ow = 1
            fields.append(("global_pooling", "true"))
        else:
            fields += [("kernel_size", k)]
            if s != 1:
                fields.append(("stride", s))
            if p:
                fields.append(("pad", p))
            oh, ow = self._pool_out(h, k, s, p, floor), self._pool_out(w, k, s, p, floor)
            if floor:
                fields.append(("round_mode", "FLOOR"))
        self.shapes[top] = (c, oh, ow)
        self._emit(name, "Pooling", [bottom], [top], self._block("pooling_param", fields))
        return top

    @staticmethod
    def _pool_out(size, k, s, p, floor):
        span = size + 2 * p - k
        out = (span // s if floor else -(-span // s)) + 1
        # Caffe (and PyTorch's ceil_mode) drop a last window that would start in the padding.
        if not floor and p > 0 and (out - 1) * s >= size + p:
            out -= 1
        return out

    def bn(self, name, bottom, eps=1e-5, inplace=True, scale_name=None):
        """Caffe BatchNorm (statistics only) followed by Scale (learned affine), as Caffe models write it."""
        c = self._shape(bottom)[0]
        top = bottom if inplace else name
        self.shapes[top] = self._shape(bottom)
        fields = [("eps", _fmt_float(eps))] if eps != 1e-5 else []
        self._emit(name, "BatchNorm", [bottom], [top], self._block("batch_norm_param", fields) if fields else "")
        self._emit(scale_name or name + "_scale", "Scale", [top], [top],
                   self._block("scale_param", [("bias_term", "true")]), 2 * c)
        return top

    def act(self, ltype, name, bottom, top=None, **kw):
        top = top or bottom
        self.shapes[top] = self._shape(bottom)
        block = ""
        if ltype == "HardSigmoid":
            block = self._block("hard_sigmoid_param", [("alpha", _fmt_float(kw["alpha"])),
                                                       ("beta", _fmt_float(kw["beta"]))])
        self._emit(name, ltype, [bottom], [top], block)
        return top

    def lrn(self, name, bottom, local_size=5, alpha=1e-4, beta=0.75, k=None, top=None):
        top = top or name
        self.shapes[top] = self._shape(bottom)
        fields = [("local_size", local_size), ("alpha", _fmt_float(alpha)), ("beta", _fmt_float(beta))]
        if k is not None:
            fields.append(("k", _fmt_float(k)))
        self._emit(name, "LRN", [bottom], [top], self._block("lrn_param", fields))
        return top

    def concat(self, name, bottoms, top=None):
        top = top or name
        shapes = [self._shape(b) for b in bottoms]
        if len({s[1:] for s in shapes}) != 1:
            raise ValueError(f"{self.name}/{name}: concat of spatial sizes {shapes}")
        self.shapes[top] = (sum(s[0] for s in shapes), shapes[0][1], shapes[0][2])
        self._emit(name, "Concat", bottoms, [top])
        return top

    def eltwise(self, name, bottoms, op="SUM", top=None):
        top = top or name
        shapes = [self._shape(b) for b in bottoms]
        full = max(shapes, key=lambda s: s[1] * s[2])
        for s in shapes:
            broadcast = op == "PROD" and s[0] == full[0] and s[1:] == (1, 1)
            if s != full and not broadcast:
                raise ValueError(f"{self.name}/{name}: eltwise of {shapes}")
        self.shapes[top] = full
        block = self._block("eltwise_param", [("operation", op)])
        self._emit(name, "Eltwise", bottoms, [top], block)
        return top

    def dropout(self, name, bottom, ratio):
        self.shapes[bottom] = self._shape(bottom)
        self._emit(name, "Dropout", [bottom], [bottom], self._block("dropout_param", [("dropout_ratio", ratio)]))
        return bottom

    def softmax(self, name, bottom, top=None):
        top = top or name
        self.shapes[top] = self._shape(bottom)
        self._emit(name, "Softmax", [bottom], [top])
        return top

    def slice(self, name, bottom, point, tops):
        c, h, w = self._shape(bottom)
        self.shapes[tops[0]] = (point, h, w)
        self.shapes[tops[1]] = (c - point, h, w)
        self._emit(name, "Slice", [bottom], tops, self._block("slice_param", [("axis", 1), ("slice_point", point)]))
        return tops

    def shuffle(self, name, bottom, group, top=None):
        top = top or name
        self.shapes[top] = self._shape(bottom)
        self._emit(name, "ShuffleChannel", [bottom], [top], self._block("shuffle_channel_param", [("group", group)]))
        return top

    # ----- output -----
    def text(self):
        c, h, w = self.input_shape
        head = [f"# title: {self.title}"]
        head += [f"# source: {s}" for s in self.sources]
        head += [f"# input: 1x{c}x{h}x{w}", f"# published: {self.published}",
                 f"# computed: params {self.params:,}; MACs {self.macs:,} (Conv + FC, tools/zoo/gen_zoo.py)",
                 "# Generated by tools/zoo/gen_zoo.py; edit the generator, not this file."]
        body = [f'name: "{self.name}"', 'input: "data"',
                f"input_shape {{ dim: 1 dim: {c} dim: {h} dim: {w} }}"]
        return "\n".join(head + body + self.blocks) + "\n"

    def output_shape(self):
        return self.rows[-1][2]


def _fmt_float(v):
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


# ===================================================================================================
# Shared building blocks
# ===================================================================================================

def conv_bn_act(n, name, bottom, cout, k, s=1, p=0, g=1, act="ReLU", eps=1e-5, top=None):
    """Convolution without bias + BatchNorm + Scale + activation, the PyTorch Conv-BN-act triple."""
    x = n.conv(name, bottom, cout, k, s, p, g, bias=False, top=top)
    n.bn(name + "/bn", x, eps, scale_name=name + "/scale")
    if act == "HardSwish":
        n.act("HardSwish", name + "/hswish", x)
    elif act == "Swish":
        n.act("Swish", name + "/swish", x)
    elif act == "ReLU6":
        n.act("ReLU6", name + "/relu6", x)
    elif act == "ReLU":
        n.act("ReLU", name + "/relu", x)
    elif act is not None:
        raise ValueError(act)
    return x


def classifier_tail(n, x, num_classes=1000, dropout=None, fc_name="fc", softmax=True):
    if dropout is not None:
        n.dropout(fc_name + "/drop", x, dropout)
    x = n.fc(fc_name, x, num_classes)
    if softmax:
        x = n.softmax("prob", x)
    return x


def make_divisible(v, divisor=8, min_value=None):
    """Channel rounding used by the MobileNet family (the TF reference implementation's rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# ===================================================================================================
# Networks. Each function returns a built Net. Comments name the description each one follows.
# ===================================================================================================

def alexnet():
    n = Net("alexnet", "AlexNet (BVLC Caffe, Krizhevsky et al. 2012, two groups)",
            ["Krizhevsky, Sutskever, Hinton, ImageNet Classification with Deep CNNs, NIPS 2012",
             "BVLC reference model bvlc_alexnet (Caffe model zoo): groups of 2 in conv2/4/5, LRN, 227x227"],
            "params 60,965,224; MACs 724.4 M (Sze et al., Efficient Processing of DNNs, Proc. IEEE 2017, "
            "Table III: 61 M weights, 724 M MACs)", 3, 227, 227)
    x = n.conv("conv1", "data", 96, 11, s=4)
    n.act("ReLU", "relu1", x)
    x = n.lrn("norm1", x)
    x = n.pool("pool1", x, "MAX", 3, 2)
    x = n.conv("conv2", x, 256, 5, p=2, g=2)
    n.act("ReLU", "relu2", x)
    x = n.lrn("norm2", x)
    x = n.pool("pool2", x, "MAX", 3, 2)
    x = n.conv("conv3", x, 384, 3, p=1)
    n.act("ReLU", "relu3", x)
    x = n.conv("conv4", x, 384, 3, p=1, g=2)
    n.act("ReLU", "relu4", x)
    x = n.conv("conv5", x, 256, 3, p=1, g=2)
    n.act("ReLU", "relu5", x)
    x = n.pool("pool5", x, "MAX", 3, 2)
    for i in (6, 7):
        x = n.fc(f"fc{i}", x, 4096)
        n.act("ReLU", f"relu{i}", x)
        n.dropout(f"drop{i}", x, 0.5)
    x = n.fc("fc8", x, 1000)
    n.softmax("prob", x)
    return n


def _vgg16(n, num_classes):
    x = "data"
    cfg = [(1, 64, 2), (2, 128, 2), (3, 256, 3), (4, 512, 3), (5, 512, 3)]
    for stage, width, reps in cfg:
        for r in range(1, reps + 1):
            x = n.conv(f"conv{stage}_{r}", x, width, 3, p=1)
            n.act("ReLU", f"relu{stage}_{r}", x)
        x = n.pool(f"pool{stage}", x, "MAX", 2, 2)
    for i in (6, 7):
        x = n.fc(f"fc{i}", x, 4096)
        n.act("ReLU", f"relu{i}", x)
        n.dropout(f"drop{i}", x, 0.5)
    x = n.fc("fc8", x, num_classes)
    n.softmax("prob", x)
    return n


def vgg16():
    n = Net("vgg16", "VGG-16 (configuration D, Simonyan & Zisserman 2015)",
            ["Simonyan, Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, "
             "ICLR 2015, Table 1 configuration D"],
            "params 138,357,544; MACs 15.47 G (torchvision vgg16 model card: 138,357,544 params, 15.47 GFLOPS "
            "counted as MACs)", 3, 224, 224)
    return _vgg16(n, 1000)


def vgg16_places365():
    n = Net("vgg16_places365", "VGG-16 for Places365 (Zhou et al. 2017)",
            ["Zhou, Lapedriza, Khosla, Oliva, Torralba, Places: A 10 Million Image Database for Scene "
             "Recognition, TPAMI 2017 (VGG16-places365: VGG-16 configuration D with 365 outputs)"],
            "params 135,755,949; MACs 15.47 G (VGG-16 with fc8 4096x365: 138,357,544 - 4,097,000 + 1,495,405 "
            "params)", 3, 224, 224)
    return _vgg16(n, 365)


def _fire(n, name, x, squeeze, expand):
    s = n.conv(f"{name}/squeeze1x1", x, squeeze, 1)
    n.act("ReLU", f"{name}/relu_squeeze1x1", s)
    e1 = n.conv(f"{name}/expand1x1", s, expand, 1)
    n.act("ReLU", f"{name}/relu_expand1x1", e1)
    e3 = n.conv(f"{name}/expand3x3", s, expand, 3, p=1)
    n.act("ReLU", f"{name}/relu_expand3x3", e3)
    return n.concat(f"{name}/concat", [e1, e3])


def _squeezenet_head(n, x):
    n.dropout("drop9", x, 0.5)
    x = n.conv("conv10", x, 1000, 1)
    n.act("ReLU", "relu_conv10", x)
    x = n.pool("pool10", x, "AVE", global_pool=True)
    n.softmax("prob", x)


def _squeezenet_v10(n, bypass):
    x = n.conv("conv1", "data", 96, 7, s=2)
    n.act("ReLU", "relu_conv1", x)
    x = n.pool("pool1", x, "MAX", 3, 2)
    fires = [(2, 16, 64), (3, 16, 64), (4, 32, 128), "pool4", (5, 32, 128), (6, 48, 192), (7, 48, 192),
             (8, 64, 256), "pool8", (9, 64, 256)]
    for f in fires:
        if isinstance(f, str):
            x = n.pool(f, x, "MAX", 3, 2)
            continue
        idx, sq, ex = f
        out = _fire(n, f"fire{idx}", x, sq, ex)
        # Simple bypass (Iandola et al. 2016, Fig. 2 middle): identity shortcuts around fire3/5/7/9,
        # the modules whose input and output have the same number of channels.
        if bypass and idx in (3, 5, 7, 9):
            out = n.eltwise(f"fire{idx}/bypass", [x, out], "SUM")
        x = out
    _squeezenet_head(n, x)
    return n


def squeezenet1_0():
    n = Net("squeezenet1_0", "SqueezeNet v1.0 (Iandola et al. 2016)",
            ["Iandola et al., SqueezeNet: AlexNet-level accuracy with 50x fewer parameters, arXiv 1602.07360, "
             "Table 1; DeepScale SqueezeNet_v1.0 deploy definition (227x227)"],
            "params 1,248,424 (SqueezeNet paper Table 1; torchvision squeezenet1_0 model card); MACs 0.82 G at "
            "224 (torchvision model card, GFLOPS counted as MACs), 832.7 M at 227 (computed, matched by "
            "torchvision at 227)", 3, 227, 227)
    return _squeezenet_v10(n, bypass=False)


def squeezenet1_0_bypass():
    n = Net("squeezenet1_0_bypass", "SqueezeNet v1.0 with simple bypass (Iandola et al. 2016)",
            ["Iandola et al., SqueezeNet, arXiv 1602.07360, Section 6 and Figure 2 (simple bypass around "
             "fire3, fire5, fire7, fire9); 227x227"],
            "params 1,248,424 (simple bypass adds no parameters, SqueezeNet paper Section 6); MACs as "
            "SqueezeNet v1.0 (832.7 M at 227)", 3, 227, 227)
    return _squeezenet_v10(n, bypass=True)


def squeezenet1_1():
    n = Net("squeezenet1_1", "SqueezeNet v1.1 (DeepScale 2016)",
            ["DeepScale SqueezeNet_v1.1 deploy definition and release notes (conv1 3x3/64, earlier pooling); "
             "227x227"],
            "params 1,235,496 (torchvision squeezenet1_1 model card); MACs 0.35 G at 224 (torchvision model "
            "card, GFLOPS counted as MACs), 387.7 M at 227 (computed, matched by torchvision at 227)",
            3, 227, 227)
    x = n.conv("conv1", "data", 64, 3, s=2)
    n.act("ReLU", "relu_conv1", x)
    x = n.pool("pool1", x, "MAX", 3, 2)
    x = _fire(n, "fire2", x, 16, 64)
    x = _fire(n, "fire3", x, 16, 64)
    x = n.pool("pool3", x, "MAX", 3, 2)
    x = _fire(n, "fire4", x, 32, 128)
    x = _fire(n, "fire5", x, 32, 128)
    x = n.pool("pool5", x, "MAX", 3, 2)
    for idx, sq, ex in [(6, 48, 192), (7, 48, 192), (8, 64, 256), (9, 64, 256)]:
        x = _fire(n, f"fire{idx}", x, sq, ex)
    _squeezenet_head(n, x)
    return n


def _caffe_conv_bn(n, conv_name, suffix, x, cout, k, s=1, p=0, relu=True):
    """Caffe ResNet naming: res<suffix> conv, bn<suffix> BatchNorm, scale<suffix> Scale."""
    y = n.conv(conv_name, x, cout, k, s, p, bias=False)
    n.bn("bn" + suffix, y, scale_name="scale" + suffix)
    if relu:
        n.act("ReLU", conv_name + "_relu", y)
    return y


def resnet50():
    n = Net("resnet50", "ResNet-50 (original Caffe, He et al. 2015)",
            ["He, Zhang, Ren, Sun, Deep Residual Learning for Image Recognition, CVPR 2016, Table 1 (50-layer)",
             "KaimingHe/deep-residual-networks ResNet-50-deploy: stride 2 on the first 1x1 of each "
             "downsampling block, BatchNorm + Scale, pool1 3x3/2 without padding (ceil)"],
            "params 25,557,032; MACs ~3.86 G (He et al. 2016 Table 1: 3.8 x 10^9 multiply-adds; "
            "Sze et al. 2017 Table III: 25.5 M weights, 3.9 G MACs)", 3, 224, 224)
    # The released deploy file also gives conv1 a bias; a bias right before BatchNorm is redundant and
    # PyTorch's count (25,557,032) has none, so it is left out here (see docs/zoo.md).
    x = n.conv("conv1", "data", 64, 7, s=2, p=3, bias=False)
    n.bn("bn_conv1", x, scale_name="scale_conv1")
    n.act("ReLU", "conv1_relu", x)
    x = n.pool("pool1", x, "MAX", 3, 2)
    stages = [(2, 3, 64, 1), (3, 4, 128, 2), (4, 6, 256, 2), (5, 3, 512, 2)]
    for stage, blocks, width, stride in stages:
        for b in range(blocks):
            tag = f"{stage}{chr(ord('a') + b)}"
            s = stride if b == 0 else 1
            if b == 0:
                short = _caffe_conv_bn(n, f"res{tag}_branch1", f"{tag}_branch1", x, width * 4, 1, s, relu=False)
            else:
                short = x
            y = _caffe_conv_bn(n, f"res{tag}_branch2a", f"{tag}_branch2a", x, width, 1, s)
            y = _caffe_conv_bn(n, f"res{tag}_branch2b", f"{tag}_branch2b", y, width, 3, 1, 1)
            y = _caffe_conv_bn(n, f"res{tag}_branch2c", f"{tag}_branch2c", y, width * 4, 1, relu=False)
            x = n.eltwise(f"res{tag}", [short, y])
            n.act("ReLU", f"res{tag}_relu", x)
    x = n.pool("pool5", x, "AVE", 7, 1)
    x = n.fc("fc1000", x, 1000)
    n.softmax("prob", x)
    return n


def _torch_resnet(n, block_counts, bottleneck, width_factor=1):
    """torchvision ResNet (v1.5: the stride sits on the 3x3 of a bottleneck)."""
    x = conv_bn_act(n, "conv1", "data", 64, 7, 2, 3)
    x = n.pool("maxpool", x, "MAX", 3, 2, 1, floor=True)
    cin = 64
    for stage, (blocks, planes) in enumerate(zip(block_counts, (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            s = 2 if (b == 0 and stage > 1) else 1
            pre = f"layer{stage}.{b}"
            cout = planes * (4 if bottleneck else 1)
            if b == 0 and (s != 1 or cin != cout):
                short = conv_bn_act(n, pre + ".downsample", x, cout, 1, s, act=None)
            else:
                short = x
            if bottleneck:
                width = planes * width_factor
                y = conv_bn_act(n, pre + ".conv1", x, width, 1)
                y = conv_bn_act(n, pre + ".conv2", y, width, 3, s, 1)
                y = conv_bn_act(n, pre + ".conv3", y, cout, 1, act=None)
            else:
                y = conv_bn_act(n, pre + ".conv1", x, planes, 3, s, 1)
                y = conv_bn_act(n, pre + ".conv2", y, planes, 3, 1, 1, act=None)
            x = n.eltwise(pre + ".add", [short, y])
            n.act("ReLU", pre + ".relu", x)
            cin = cout
    x = n.pool("avgpool", x, "AVE", global_pool=True)
    classifier_tail(n, x)
    return n


def resnet18():
    n = Net("resnet18", "ResNet-18 (He et al. 2015, torchvision definition)",
            ["He et al., Deep Residual Learning for Image Recognition, CVPR 2016, Table 1 (18-layer)",
             "torchvision.models.resnet18 (basic blocks, 1x1 projection shortcuts)"],
            "params 11,689,512; MACs 1.814 G (torchvision resnet18 model card: 11,689,512 params, "
            "1.81 GFLOPS counted as MACs)", 3, 224, 224)
    return _torch_resnet(n, (2, 2, 2, 2), bottleneck=False)


def wrn50_2():
    n = Net("wrn50_2", "Wide ResNet-50-2 (Zagoruyko & Komodakis 2016)",
            ["Zagoruyko, Komodakis, Wide Residual Networks, BMVC 2016 (WRN-50-2-bottleneck, ImageNet)",
             "torchvision.models.wide_resnet50_2 (bottleneck 3x3 twice as wide, stride on the 3x3)"],
            "params 68,883,240; MACs 11.4 G (torchvision wide_resnet50_2 model card: 68,883,240 params, "
            "11.4 GFLOPS counted as MACs)", 3, 224, 224)
    return _torch_resnet(n, (3, 4, 6, 3), bottleneck=True, width_factor=2)


def _googlenet_inception(n, name, x, c1, r3, c3, r5, c5, proj):
    b1 = n.conv(f"{name}/1x1", x, c1, 1)
    n.act("ReLU", f"{name}/relu_1x1", b1)
    b2 = n.conv(f"{name}/3x3_reduce", x, r3, 1)
    n.act("ReLU", f"{name}/relu_3x3_reduce", b2)
    b2 = n.conv(f"{name}/3x3", b2, c3, 3, p=1)
    n.act("ReLU", f"{name}/relu_3x3", b2)
    b3 = n.conv(f"{name}/5x5_reduce", x, r5, 1)
    n.act("ReLU", f"{name}/relu_5x5_reduce", b3)
    b3 = n.conv(f"{name}/5x5", b3, c5, 5, p=2)
    n.act("ReLU", f"{name}/relu_5x5", b3)
    b4 = n.pool(f"{name}/pool", x, "MAX", 3, 1, 1)
    b4 = n.conv(f"{name}/pool_proj", b4, proj, 1)
    n.act("ReLU", f"{name}/relu_pool_proj", b4)
    return n.concat(f"{name}/output", [b1, b2, b3, b4])


def googlenet():
    n = Net("googlenet", "GoogLeNet (BVLC Caffe, Szegedy et al. 2014)",
            ["Szegedy et al., Going Deeper with Convolutions, CVPR 2015, Table 1",
             "BVLC reference model bvlc_googlenet deploy definition (LRN after conv1 and conv2, "
             "no auxiliary classifiers at deploy)"],
            "params 7.0 M; MACs ~1.5 G (Sze et al. 2017 Table III: 7.0 M weights; Szegedy et al. 2015: "
            "a budget of 1.5 billion multiply-adds, rounded)", 3, 224, 224)
    x = n.conv("conv1/7x7_s2", "data", 64, 7, s=2, p=3)
    n.act("ReLU", "conv1/relu_7x7", x)
    x = n.pool("pool1/3x3_s2", x, "MAX", 3, 2)
    x = n.lrn("pool1/norm1", x)
    x = n.conv("conv2/3x3_reduce", x, 64, 1)
    n.act("ReLU", "conv2/relu_3x3_reduce", x)
    x = n.conv("conv2/3x3", x, 192, 3, p=1)
    n.act("ReLU", "conv2/relu_3x3", x)
    x = n.lrn("conv2/norm2", x)
    x = n.pool("pool2/3x3_s2", x, "MAX", 3, 2)
    table = [("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64), "pool3/3x3_s2",
             ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
             ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
             ("4e", 256, 160, 320, 32, 128, 128), "pool4/3x3_s2",
             ("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128)]
    for row in table:
        if isinstance(row, str):
            x = n.pool(row, x, "MAX", 3, 2)
        else:
            x = _googlenet_inception(n, f"inception_{row[0]}", x, *row[1:])
    x = n.pool("pool5/7x7_s1", x, "AVE", 7, 1)
    n.dropout("pool5/drop_7x7_s1", x, 0.4)
    x = n.fc("loss3/classifier", x, 1000)
    n.softmax("prob", x)
    return n


def vgg_cnn_s():
    n = Net("vgg_cnn_s", "VGG_CNN_S (Chatfield et al. 2014)",
            ["Chatfield, Simonyan, Vedaldi, Zisserman, Return of the Devil in the Details: Delving Deep into "
             "Convolutional Nets, BMVC 2014, Table 1 (CNN-S)",
             "VGG_CNN_S deploy definition (Caffe model zoo): LRN k=2 alpha 5e-4 after conv1, 224x224"],
            "params 102,908,520; MACs 2.64 G (computed from the Table 1 layer sizes; the paper gives no "
            "totals)", 3, 224, 224)
    x = n.conv("conv1", "data", 96, 7, s=2)
    n.act("ReLU", "relu1", x)
    x = n.lrn("norm1", x, 5, 0.0005, 0.75, k=2)
    x = n.pool("pool1", x, "MAX", 3, 3)
    x = n.conv("conv2", x, 256, 5)
    n.act("ReLU", "relu2", x)
    x = n.pool("pool2", x, "MAX", 2, 2)
    for i in (3, 4, 5):
        x = n.conv(f"conv{i}", x, 512, 3, p=1)
        n.act("ReLU", f"relu{i}", x)
    x = n.pool("pool5", x, "MAX", 3, 3)
    for i in (6, 7):
        x = n.fc(f"fc{i}", x, 4096)
        n.act("ReLU", f"relu{i}", x)
        n.dropout(f"drop{i}", x, 0.5)
    x = n.fc("fc8", x, 1000)
    n.softmax("prob", x)
    return n


def inception_bn():
    n = Net("inception_bn", "Inception-BN (BN-Inception, Ioffe & Szegedy 2015)",
            ["Ioffe, Szegedy, Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
             "Covariate Shift, ICML 2015, Section 4.2 and Figure 5 (inception 3a-5b, double 3x3 branches, "
             "stride-2 blocks 3c/4e with max-pool pass-through); BatchNorm + Scale after every convolution"],
            "params 11,285,224; MACs 2.03 G (computed; the paper gives no totals. Its Figure 5 lists 576 "
            "channels after 4c/4d, but its own branch widths give 608, as in public Caffe definitions such as "
            "lim0606/caffe-googlenet-bn, which this file follows: convolutions without bias, BatchNorm + Scale)",
            3, 224, 224)

    def cbr(name, x, cout, k, s=1, p=0):
        return conv_bn_act(n, name, x, cout, k, s, p)

    x = cbr("conv1/7x7_s2", "data", 64, 7, 2, 3)
    x = n.pool("pool1/3x3_s2", x, "MAX", 3, 2)
    x = cbr("conv2/3x3_reduce", x, 64, 1)
    x = cbr("conv2/3x3", x, 192, 3, 1, 1)
    x = n.pool("pool2/3x3_s2", x, "MAX", 3, 2)
    # (name, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool kind, pool proj, stride)
    table = [("3a", 64, 64, 64, 64, 96, "AVE", 32, 1), ("3b", 64, 64, 96, 64, 96, "AVE", 64, 1),
             ("3c", 0, 128, 160, 64, 96, "MAX", 0, 2),
             ("4a", 224, 64, 96, 96, 128, "AVE", 128, 1), ("4b", 192, 96, 128, 96, 128, "AVE", 128, 1),
             ("4c", 160, 128, 160, 128, 160, "AVE", 128, 1), ("4d", 96, 128, 192, 160, 192, "AVE", 128, 1),
             ("4e", 0, 128, 192, 192, 256, "MAX", 0, 2),
             ("5a", 352, 192, 320, 160, 224, "AVE", 128, 1), ("5b", 352, 192, 320, 192, 224, "MAX", 128, 1)]
    for tag, c1, r3, c3, rd, cd, pool_kind, proj, s in table:
        name = f"inception_{tag}"
        outs = []
        if c1:
            outs.append(cbr(f"{name}/1x1", x, c1, 1))
        b = cbr(f"{name}/3x3_reduce", x, r3, 1)
        outs.append(cbr(f"{name}/3x3", b, c3, 3, s, 1))
        b = cbr(f"{name}/double_3x3_reduce", x, rd, 1)
        b = cbr(f"{name}/double_3x3_1", b, cd, 3, 1, 1)
        outs.append(cbr(f"{name}/double_3x3_2", b, cd, 3, s, 1))
        if s == 2:
            outs.append(n.pool(f"{name}/pool", x, "MAX", 3, 2))  # pass-through, no projection
        else:
            b = n.pool(f"{name}/pool", x, pool_kind, 3, 1, 1)
            outs.append(cbr(f"{name}/pool_proj", b, proj, 1))
        x = n.concat(f"{name}/output", outs)
    x = n.pool("pool5/7x7_s1", x, "AVE", 7, 1)
    x = n.fc("fc", x, 1000)
    n.softmax("prob", x)
    return n


def inception_v3():
    n = Net("inception_v3", "Inception-v3 (Szegedy et al. 2016, torchvision definition)",
            ["Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016",
             "torchvision.models.inception_v3 (no auxiliary classifier at deploy, BatchNorm eps 0.001), 299x299"],
            "params 23,834,568; MACs 5.71 G (torchvision inception_v3 model card: 27,161,264 params with the "
            "auxiliary head of 3,326,696, 5.71 GFLOPS counted as MACs)", 3, 299, 299)

    def c(name, x, cout, k, s=1, p=0):
        return conv_bn_act(n, name, x, cout, k, s, p, eps=0.001)

    x = c("Conv2d_1a_3x3", "data", 32, 3, 2)
    x = c("Conv2d_2a_3x3", x, 32, 3)
    x = c("Conv2d_2b_3x3", x, 64, 3, 1, 1)
    x = n.pool("maxpool1", x, "MAX", 3, 2, floor=True)
    x = c("Conv2d_3b_1x1", x, 80, 1)
    x = c("Conv2d_4a_3x3", x, 192, 3)
    x = n.pool("maxpool2", x, "MAX", 3, 2, floor=True)

    def block_a(name, x, pool_features):
        b1 = c(f"{name}.branch1x1", x, 64, 1)
        b5 = c(f"{name}.branch5x5_1", x, 48, 1)
        b5 = c(f"{name}.branch5x5_2", b5, 64, 5, 1, 2)
        bd = c(f"{name}.branch3x3dbl_1", x, 64, 1)
        bd = c(f"{name}.branch3x3dbl_2", bd, 96, 3, 1, 1)
        bd = c(f"{name}.branch3x3dbl_3", bd, 96, 3, 1, 1)
        bp = n.pool(f"{name}.avgpool", x, "AVE", 3, 1, 1, floor=True)
        bp = c(f"{name}.branch_pool", bp, pool_features, 1)
        return n.concat(f"{name}.concat", [b1, b5, bd, bp])

    def block_b(name, x):
        b3 = c(f"{name}.branch3x3", x, 384, 3, 2)
        bd = c(f"{name}.branch3x3dbl_1", x, 64, 1)
        bd = c(f"{name}.branch3x3dbl_2", bd, 96, 3, 1, 1)
        bd = c(f"{name}.branch3x3dbl_3", bd, 96, 3, 2)
        bp = n.pool(f"{name}.maxpool", x, "MAX", 3, 2, floor=True)
        return n.concat(f"{name}.concat", [b3, bd, bp])

    def block_c(name, x, c7):
        b1 = c(f"{name}.branch1x1", x, 192, 1)
        b7 = c(f"{name}.branch7x7_1", x, c7, 1)
        b7 = c(f"{name}.branch7x7_2", b7, c7, (1, 7), 1, (0, 3))
        b7 = c(f"{name}.branch7x7_3", b7, 192, (7, 1), 1, (3, 0))
        bd = c(f"{name}.branch7x7dbl_1", x, c7, 1)
        bd = c(f"{name}.branch7x7dbl_2", bd, c7, (7, 1), 1, (3, 0))
        bd = c(f"{name}.branch7x7dbl_3", bd, c7, (1, 7), 1, (0, 3))
        bd = c(f"{name}.branch7x7dbl_4", bd, c7, (7, 1), 1, (3, 0))
        bd = c(f"{name}.branch7x7dbl_5", bd, 192, (1, 7), 1, (0, 3))
        bp = n.pool(f"{name}.avgpool", x, "AVE", 3, 1, 1, floor=True)
        bp = c(f"{name}.branch_pool", bp, 192, 1)
        return n.concat(f"{name}.concat", [b1, b7, bd, bp])

    def block_d(name, x):
        b3 = c(f"{name}.branch3x3_1", x, 192, 1)
        b3 = c(f"{name}.branch3x3_2", b3, 320, 3, 2)
        b7 = c(f"{name}.branch7x7x3_1", x, 192, 1)
        b7 = c(f"{name}.branch7x7x3_2", b7, 192, (1, 7), 1, (0, 3))
        b7 = c(f"{name}.branch7x7x3_3", b7, 192, (7, 1), 1, (3, 0))
        b7 = c(f"{name}.branch7x7x3_4", b7, 192, 3, 2)
        bp = n.pool(f"{name}.maxpool", x, "MAX", 3, 2, floor=True)
        return n.concat(f"{name}.concat", [b3, b7, bp])

    def block_e(name, x):
        b1 = c(f"{name}.branch1x1", x, 320, 1)
        b3 = c(f"{name}.branch3x3_1", x, 384, 1)
        b3a = c(f"{name}.branch3x3_2a", b3, 384, (1, 3), 1, (0, 1))
        b3b = c(f"{name}.branch3x3_2b", b3, 384, (3, 1), 1, (1, 0))
        b3 = n.concat(f"{name}.branch3x3", [b3a, b3b])
        bd = c(f"{name}.branch3x3dbl_1", x, 448, 1)
        bd = c(f"{name}.branch3x3dbl_2", bd, 384, 3, 1, 1)
        bda = c(f"{name}.branch3x3dbl_3a", bd, 384, (1, 3), 1, (0, 1))
        bdb = c(f"{name}.branch3x3dbl_3b", bd, 384, (3, 1), 1, (1, 0))
        bd = n.concat(f"{name}.branch3x3dbl", [bda, bdb])
        bp = n.pool(f"{name}.avgpool", x, "AVE", 3, 1, 1, floor=True)
        bp = c(f"{name}.branch_pool", bp, 192, 1)
        return n.concat(f"{name}.concat", [b1, b3, bd, bp])

    x = block_a("Mixed_5b", x, 32)
    x = block_a("Mixed_5c", x, 64)
    x = block_a("Mixed_5d", x, 64)
    x = block_b("Mixed_6a", x)
    for name, c7 in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
        x = block_c(name, x, c7)
    x = block_d("Mixed_7a", x)
    x = block_e("Mixed_7b", x)
    x = block_e("Mixed_7c", x)
    x = n.pool("avgpool", x, "AVE", global_pool=True)
    classifier_tail(n, x, dropout=0.5)
    return n


def allcnn_c():
    n = Net("allcnn_c", "ALL-CNN-C (Springenberg et al. 2015, CIFAR-10)",
            ["Springenberg, Dosovitskiy, Brox, Riedmiller, Striving for Simplicity: The All Convolutional Net, "
             "ICLR 2015 workshop, Table 2 (model C with stride-2 convolutions instead of pooling), 32x32"],
            "params 1,369,738; MACs 270.8 M (computed from Table 2; the paper reports only a rounded "
            "parameter count)", 3, 32, 32)
    # 'same' padding for the 3x3 layers except the single 'valid' 3x3 of the head (8x8 -> 6x6).
    layers = [("conv1", 96, 3, 1, 1), ("conv2", 96, 3, 1, 1), ("conv3", 96, 3, 2, 1),
              ("conv4", 192, 3, 1, 1), ("conv5", 192, 3, 1, 1), ("conv6", 192, 3, 2, 1),
              ("conv7", 192, 3, 1, 0), ("conv8", 192, 1, 1, 0), ("conv9", 10, 1, 1, 0)]
    x = "data"
    for name, cout, k, s, p in layers:
        x = n.conv(name, x, cout, k, s, p)
        n.act("ReLU", f"relu{name[4:]}", x)
    x = n.pool("pool", x, "AVE", global_pool=True)
    n.softmax("prob", x)
    return n


def mobilenet_v1():
    n = Net("mobilenet_v1", "MobileNet v1 1.0-224 (Howard et al. 2017)",
            ["Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision "
             "Applications, arXiv 1704.04861, Table 1 (BatchNorm + ReLU after every convolution)"],
            "params 4,231,976; MACs 569 M (Howard et al. 2017 Table 8: 569 million Mult-Adds, 4.2 M params)",
            3, 224, 224)
    x = conv_bn_act(n, "conv1", "data", 32, 3, 2, 1)
    cin = 32
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for i, (cout, s) in enumerate(plan, start=2):
        x = conv_bn_act(n, f"conv{i}_dw", x, cin, 3, s, 1, g=cin)
        x = conv_bn_act(n, f"conv{i}_pw", x, cout, 1)
        cin = cout
    x = n.pool("pool6", x, "AVE", global_pool=True)
    classifier_tail(n, x)
    return n


def mobilenet_v2():
    n = Net("mobilenet_v2", "MobileNetV2 1.0-224 (Sandler et al. 2018, torchvision definition)",
            ["Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, CVPR 2018, Table 2",
             "torchvision.models.mobilenet_v2"],
            "params 3,504,872; MACs 300.8 M (torchvision mobilenet_v2 model card: 3,504,872 params; Sandler "
            "et al. 2018, ImageNet comparison: 300 M MAdds)", 3, 224, 224)
    x = conv_bn_act(n, "features.0", "data", 32, 3, 2, 1, act="ReLU6")
    cin, idx = 32, 1
    for t, c, reps, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1)]:
        for r in range(reps):
            stride = s if r == 0 else 1
            pre = f"features.{idx}"
            hidden = cin * t
            y = x
            if t != 1:
                y = conv_bn_act(n, pre + ".expand", y, hidden, 1, act="ReLU6")
            y = conv_bn_act(n, pre + ".dw", y, hidden, 3, stride, 1, g=hidden, act="ReLU6")
            y = conv_bn_act(n, pre + ".project", y, c, 1, act=None)
            if stride == 1 and cin == c:
                y = n.eltwise(pre + ".add", [x, y])
            x, cin, idx = y, c, idx + 1
    x = conv_bn_act(n, f"features.{idx}", x, 1280, 1, act="ReLU6")
    x = n.pool("avgpool", x, "AVE", global_pool=True)
    classifier_tail(n, x, dropout=0.2, fc_name="classifier")
    return n


def _squeeze_excite(n, name, x, squeeze, inner_act, gate):
    """Squeeze-and-excitation: global average, two 1x1 convolutions, gate, channel-wise product."""
    ch = n.shapes[x][0]
    s = n.pool(f"{name}.avgpool", x, "AVE", global_pool=True)
    s = n.conv(f"{name}.fc1", s, squeeze, 1)
    n.act(inner_act, f"{name}.act", s)
    s = n.conv(f"{name}.fc2", s, ch, 1)
    if gate == "HardSigmoid":
        n.act("HardSigmoid", f"{name}.gate", s, alpha=1 / 6, beta=0.5)
    else:
        n.act("Sigmoid", f"{name}.gate", s)
    return n.eltwise(f"{name}.scale", [x, s], "PROD")


def mobilenet_v3_large():
    n = Net("mobilenet_v3_large", "MobileNetV3-Large 1.0-224 (Howard et al. 2019, torchvision definition)",
            ["Howard et al., Searching for MobileNetV3, ICCV 2019, Table 1",
             "torchvision.models.mobilenet_v3_large (SE squeeze = make_divisible(expanded/4, 8), "
             "hardsigmoid gate, BatchNorm eps 0.001)"],
            "params 5,483,032; MACs 217 M (torchvision mobilenet_v3_large model card: 5,483,032 params, "
            "0.22 GFLOPS counted as MACs; Howard et al. 2019, ImageNet results: 219 M MAdds)", 3, 224, 224)
    eps = 0.001
    x = conv_bn_act(n, "features.0", "data", 16, 3, 2, 1, act="HardSwish", eps=eps)
    cin = 16
    # (kernel, expanded, out, use SE, activation, stride) per torchvision's bneck_conf for the large model
    cfg = [(3, 16, 16, False, "ReLU", 1), (3, 64, 24, False, "ReLU", 2), (3, 72, 24, False, "ReLU", 1),
           (5, 72, 40, True, "ReLU", 2), (5, 120, 40, True, "ReLU", 1), (5, 120, 40, True, "ReLU", 1),
           (3, 240, 80, False, "HardSwish", 2), (3, 200, 80, False, "HardSwish", 1),
           (3, 184, 80, False, "HardSwish", 1), (3, 184, 80, False, "HardSwish", 1),
           (3, 480, 112, True, "HardSwish", 1), (3, 672, 112, True, "HardSwish", 1),
           (5, 672, 160, True, "HardSwish", 2), (5, 960, 160, True, "HardSwish", 1),
           (5, 960, 160, True, "HardSwish", 1)]
    for i, (k, exp, cout, se, act, s) in enumerate(cfg, start=1):
        pre = f"features.{i}"
        y = x
        if exp != cin:
            y = conv_bn_act(n, pre + ".expand", y, exp, 1, act=act, eps=eps)
        y = conv_bn_act(n, pre + ".dw", y, exp, k, s, (k - 1) // 2, g=exp, act=act, eps=eps)
        if se:
            y = _squeeze_excite(n, pre + ".se", y, make_divisible(exp // 4, 8), "ReLU", "HardSigmoid")
        y = conv_bn_act(n, pre + ".project", y, cout, 1, act=None, eps=eps)
        if s == 1 and cin == cout:
            y = n.eltwise(pre + ".add", [x, y])
        x, cin = y, cout
    x = conv_bn_act(n, "features.16", x, 6 * cin, 1, act="HardSwish", eps=eps)
    x = n.pool("avgpool", x, "AVE", global_pool=True)
    x = n.fc("classifier.0", x, 1280)
    n.act("HardSwish", "classifier.1", x)
    classifier_tail(n, x, dropout=0.2, fc_name="classifier.3")
    return n


def shufflenet_v2_1_0():
    n = Net("shufflenet_v2_1_0", "ShuffleNetV2 1.0x (Ma et al. 2018, torchvision definition)",
            ["Ma, Zhang, Zheng, Sun, ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design, "
             "ECCV 2018, Table 5 (1.0x: 116/232/464 channels)", "torchvision.models.shufflenet_v2_x1_0"],
            "params 2,278,604; MACs 146 M (torchvision shufflenet_v2_x1_0 model card: 2,278,604 params; "
            "Ma et al. 2018: 146 M FLOPs, counted as multiply-adds)", 3, 224, 224)
    x = conv_bn_act(n, "conv1", "data", 24, 3, 2, 1)
    x = n.pool("maxpool", x, "MAX", 3, 2, 1, floor=True)
    cin = 24
    for stage, (reps, cout) in enumerate(zip((4, 8, 4), (116, 232, 464)), start=2):
        half = cout // 2
        for r in range(reps):
            pre = f"stage{stage}.{r}"
            if r == 0:
                b1 = conv_bn_act(n, pre + ".branch1.dw", x, cin, 3, 2, 1, g=cin, act=None)
                b1 = conv_bn_act(n, pre + ".branch1.pw", b1, half, 1)
                b2_in = x
                stride = 2
            else:
                b1, b2_in = n.slice(pre + ".split", x, half, [pre + ".x1", pre + ".x2"])
                stride = 1
            b2 = conv_bn_act(n, pre + ".branch2.pw1", b2_in, half, 1)
            b2 = conv_bn_act(n, pre + ".branch2.dw", b2, half, 3, stride, 1, g=half, act=None)
            b2 = conv_bn_act(n, pre + ".branch2.pw2", b2, half, 1)
            x = n.concat(pre + ".concat", [b1, b2])
            x = n.shuffle(pre + ".shuffle", x, 2)
            cin = cout
    x = conv_bn_act(n, "conv5", x, 1024, 1)
    x = n.pool("globalpool", x, "AVE", global_pool=True)
    classifier_tail(n, x)
    return n


def efficientnet_b0():
    n = Net("efficientnet_b0", "EfficientNet-B0 (Tan & Le 2019, torchvision definition)",
            ["Tan, Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, ICML 2019, "
             "Table 1", "torchvision.models.efficientnet_b0 (SE squeeze = block input channels / 4, SiLU)"],
            "params 5,288,548; MACs 0.39 G (torchvision efficientnet_b0 model card: 5,288,548 params, "
            "0.39 GFLOPS counted as MACs; Tan & Le 2019 Table 2: 5.3 M params, 0.39 B FLOPs)", 3, 224, 224)
    x = conv_bn_act(n, "features.0", "data", 32, 3, 2, 1, act="Swish")
    cin, stage_idx = 32, 1
    for t, k, s, _, cout, reps in [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                                   (6, 3, 1, 192, 320, 1)]:
        for r in range(reps):
            stride = s if r == 0 else 1
            pre = f"features.{stage_idx}.{r}"
            exp = cin * t
            y = x
            if exp != cin:
                y = conv_bn_act(n, pre + ".expand", y, exp, 1, act="Swish")
            y = conv_bn_act(n, pre + ".dw", y, exp, k, stride, (k - 1) // 2, g=exp, act="Swish")
            y = _squeeze_excite(n, pre + ".se", y, max(1, cin // 4), "Swish", "Sigmoid")
            y = conv_bn_act(n, pre + ".project", y, cout, 1, act=None)
            if stride == 1 and cin == cout:
                y = n.eltwise(pre + ".add", [x, y])  # stochastic depth is the identity at inference
            x, cin = y, cout
        stage_idx += 1
    x = conv_bn_act(n, "features.8", x, 1280, 1, act="Swish")
    x = n.pool("avgpool", x, "AVE", global_pool=True)
    classifier_tail(n, x, dropout=0.2, fc_name="classifier")
    return n


def densenet121():
    n = Net("densenet121", "DenseNet-121 (Huang et al. 2017, torchvision definition)",
            ["Huang, Liu, van der Maaten, Weinberger, Densely Connected Convolutional Networks, CVPR 2017, "
             "Table 1 (DenseNet-BC, k=32)", "torchvision.models.densenet121"],
            "params 7,978,856; MACs 2.834 G (torchvision densenet121 model card: 7,978,856 params, "
            "2.83 GFLOPS counted as MACs)", 3, 224, 224)
    x = conv_bn_act(n, "features.conv0", "data", 64, 7, 2, 3)
    x = n.pool("features.pool0", x, "MAX", 3, 2, 1, floor=True)
    growth, bn_size = 32, 4
    for b, layers in enumerate((6, 12, 24, 16), start=1):
        feats = [x]
        for i in range(1, layers + 1):
            pre = f"features.denseblock{b}.denselayer{i}"
            inp = feats[0] if len(feats) == 1 else n.concat(pre + ".concat", feats)
            # Pre-activation: BatchNorm writes a new blob because the concatenated input is read again by
            # every later layer of the block.
            y = n.bn(pre + ".norm1", inp, inplace=False, scale_name=pre + ".norm1/scale")
            n.act("ReLU", pre + ".relu1", y)
            y = n.conv(pre + ".conv1", y, bn_size * growth, 1, bias=False)
            n.bn(pre + ".norm2", y, scale_name=pre + ".norm2/scale")
            n.act("ReLU", pre + ".relu2", y)
            y = n.conv(pre + ".conv2", y, growth, 3, p=1, bias=False)
            feats.append(y)
        x = n.concat(f"features.denseblock{b}.concat", feats)
        if b < 4:
            pre = f"features.transition{b}"
            cin = n.shapes[x][0]
            y = n.bn(pre + ".norm", x, inplace=False, scale_name=pre + ".norm/scale")
            n.act("ReLU", pre + ".relu", y)
            y = n.conv(pre + ".conv", y, cin // 2, 1, bias=False)
            x = n.pool(pre + ".pool", y, "AVE", 2, 2, floor=True)
    x = n.bn("features.norm5", x, inplace=False, scale_name="features.norm5/scale")
    n.act("ReLU", "features.relu5", x)
    x = n.pool("avgpool", x, "AVE", global_pool=True)
    classifier_tail(n, x, fc_name="classifier")
    return n


NETWORKS = [alexnet, squeezenet1_0, squeezenet1_1, squeezenet1_0_bypass, resnet50, googlenet, vgg_cnn_s,
            inception_bn, inception_v3, vgg16_places365, allcnn_c, wrn50_2, mobilenet_v1, densenet121,
            mobilenet_v2, mobilenet_v3_large, shufflenet_v2_1_0, efficientnet_b0, resnet18, vgg16]


def build_all():
    return [f() for f in NETWORKS]


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(repo, "zoo"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--layers")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    nets = build_all()
    if args.layers:
        net = next((x for x in nets if x.name == args.layers), None)
        if net is None:
            sys.exit(f"unknown network {args.layers!r}")
        for name, ltype, shape, params, macs in net.rows:
            print(f"{name:55s} {ltype:13s} {'x'.join(map(str, shape)):>14s} {params:>11,} {macs:>15,}")
        return 0

    stale = []
    for net in nets:
        path = os.path.join(args.out, net.name + ".prototxt")
        text = net.text()
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
        else:
            os.makedirs(args.out, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)

    if args.json:
        print(json.dumps({x.name: {"input": list(x.input_shape), "layers": len(x.rows), "macs": x.macs,
                                   "params": x.params, "output": list(x.output_shape())} for x in nets},
                         indent=1))
    else:
        print(f"{'network':22s} {'input':>11s} {'layers':>6s} {'MACs':>15s} {'params':>13s}  output")
        for x in nets:
            c, h, w = x.input_shape
            print(f"{x.name:22s} {f'{c}x{h}x{w}':>11s} {len(x.rows):>6d} {x.macs:>15,} {x.params:>13,}  "
                  f"{'x'.join(map(str, x.output_shape()))}")
    if stale:
        print("out of date (rerun tools/zoo/gen_zoo.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

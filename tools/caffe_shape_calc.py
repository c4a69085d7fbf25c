#!/usr/bin/env python3
"""A second, independent reading of Caffe prototxt files: output shapes and learnable parameters, computed in
plain Python from Caffe's own formulas without any convergy code, to check the expectations in
tools/caffe_corpus.tsv (and convergy) against something else than convergy.

  tools/caffe_shape_calc.py FILE [--input-shape NAME=NxCxHxW ...] [--layer NAME]
      prints the output shape of NAME's first top (if given) and the parameter count
  tools/caffe_shape_calc.py --manifest tools/caffe_corpus.tsv FOLDER
      compares every manifest row's expected shape and parameter count with this calculator's

It knows the common layer types only (no V0 files, no layers that read only labels, no private forks' types);
a file it cannot read is reported as such. Parameters count as convergy counts them (BatchNorm statistics are
not parameters; weights shared by name are counted per layer)."""
import re, sys, math
TOK = re.compile(r'\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{}:\[\],;<>]|[^\s{}:\[\],;<>#"\']+')
def parse(text):
    toks = [t for t in TOK.findall(text) if t.strip() and not t.startswith('#')]
    pos = 0
    def block(end):
        nonlocal pos
        d = []
        while pos < len(toks) and toks[pos] != end:
            key = toks[pos]; pos += 1
            if toks[pos] == ':': pos += 1
            if toks[pos] in ('{', '<'):
                close = '}' if toks[pos] == '{' else '>'
                pos += 1; d.append((key, block(close))); pos += 1
            elif toks[pos] == '[':
                pos += 1
                while toks[pos] != ']':
                    if toks[pos] != ',': d.append((key, val(toks[pos])))
                    pos += 1
                pos += 1
            else:
                d.append((key, val(toks[pos]))); pos += 1
            if pos < len(toks) and toks[pos] in (',', ';'): pos += 1
        return d
    def val(t):
        if t[0] in '"\'': return t[1:-1]
        try: return int(t)
        except ValueError:
            try: return float(t)
            except ValueError: return t
    return block(None)
def get(d, k, default=None):
    for kk, v in d:
        if kk == k: return v
    return default
def getall(d, k): return [v for kk, v in d if kk == k]
V1 = {'CONVOLUTION':'Convolution','POOLING':'Pooling','RELU':'ReLU','INNER_PRODUCT':'InnerProduct','SOFTMAX':'Softmax','LRN':'LRN','DROPOUT':'Dropout',
      'DATA':'Data','CONCAT':'Concat','ELTWISE':'Eltwise','SOFTMAX_LOSS':'SoftmaxWithLoss','ACCURACY':'Accuracy','SIGMOID':'Sigmoid','TANH':'TanH',
      'DECONVOLUTION':'Deconvolution','FLATTEN':'Flatten','SPLIT':'Split','SLICE':'Slice','POWER':'Power','IMAGE_DATA':'ImageData','MEMORY_DATA':'MemoryData',
      'EUCLIDEAN_LOSS':'EuclideanLoss','HDF5_DATA':'HDF5Data','SILENCE':'Silence','ABSVAL':'AbsVal','BNLL':'BNLL','THRESHOLD':'Threshold','EXP':'Exp','ARGMAX':'ArgMax'}
DATA = {'Data','ImageData','MemoryData','AnnotatedData','WindowData','DenseImageData','HDF5Data','DummyData','VideoData','Input'}
LOSS = lambda t: t.endswith('Loss') or t in ('Accuracy','Silence','HDF5Output')
def conv_out(i, k, p, s, d): return (i + 2*p - (d*(k-1)+1)) // s + 1
def pool_out(i, k, p, s, ceil=True):
    o = (math.ceil if ceil else math.floor)((i + 2*p - k) / s) + 1
    if p > 0 and (o-1)*s >= i + p: o -= 1
    return o
def hw(cp, name, default=None, alt=None):
    v = getall(cp, name)
    if alt:
        h, w = get(cp, alt+'_h'), get(cp, alt+'_w')
        if h is not None: return h, w
    if not v: return default, default
    return v[0], (v[1] if len(v) > 1 else v[0])
def run(net, inputs, phase='TEST'):
    shapes, params = {}, 0
    names = getall(net, 'input'); dims = getall(net, 'input_dim'); ishapes = getall(net, 'input_shape')
    for i, n in enumerate(names):
        shapes[n] = inputs.get(n) or (list(dims[4*i:4*i+4]) if dims else getall(ishapes[i], 'dim'))
    layers = getall(net, 'layer') or getall(net, 'layers')
    per = {}
    for L in layers:
        t = get(L, 'type'); t = V1.get(t, t); nm = get(L, 'name')
        if t is None: raise SystemExit('calc: V0 layer, not handled')
        inc = get(L, 'include')
        if inc is not None and get(inc, 'phase', phase) != phase: continue
        bots, tops = getall(L, 'bottom'), getall(L, 'top')
        if LOSS(t): continue
        b = [shapes[x] for x in bots]
        x = b[0] if b else None
        p = 0
        if t in DATA or (t == 'Python' and not bots):
            if tops[0] in inputs: out = inputs[tops[0]]
            elif t == 'Input': out = getall(getall(get(L, 'input_param'), 'shape')[0], 'dim')
            else:
                tp = get(L, 'transform_param', []); dp = get(L, 'data_param', []) or get(L, 'image_data_param', [])
                cs = get(tp, 'crop_size'); out = [get(dp, 'batch_size', 1), 3, cs, cs]
                mp = get(L, 'memory_data_param')
                if mp is not None:
                    out = [get(mp, 'batch_size', 1), get(mp, 'channels'), get(mp, 'height'), get(mp, 'width')]
            shapes[tops[0]] = list(out); per[nm] = (list(out), 0); continue
        if t in ('Convolution', 'Deconvolution', 'ConvolutionDepthwise', 'DepthwiseConvolution'):
            cp = get(L, 'convolution_param'); n = get(cp, 'num_output')
            kh, kw = hw(cp, 'kernel_size', alt='kernel'); ph, pw = hw(cp, 'pad', 0, alt='pad'); sh, sw = hw(cp, 'stride', 1, alt='stride')
            dh, dw = hw(cp, 'dilation', 1); g = get(cp, 'group', 1)
            if t in ('ConvolutionDepthwise', 'DepthwiseConvolution'): g = x[1]
            bias = str(get(cp, 'bias_term', 'true')).lower() != 'false'
            if t == 'Deconvolution':
                oh = sh*(x[2]-1) + dh*(kh-1) + 1 - 2*ph; ow = sw*(x[3]-1) + dw*(kw-1) + 1 - 2*pw
                p = x[1] * (n // g) * kh * kw + (n if bias else 0)
            else:
                oh, ow = conv_out(x[2], kh, ph, sh, dh), conv_out(x[3], kw, pw, sw, dw)
                p = n * (x[1] // g) * kh * kw + (n if bias else 0)
            out = [x[0], n, oh, ow]
        elif t == 'Pooling':
            pp = get(L, 'pooling_param', [])
            if str(get(pp, 'global_pooling', 'false')).lower() == 'true': out = [x[0], x[1], 1, 1]
            else:
                kh, kw = hw(pp, 'kernel_size', alt='kernel'); ph, pw = hw(pp, 'pad', 0, alt='pad'); sh, sw = hw(pp, 'stride', 1, alt='stride')
                ceil = get(pp, 'round_mode', 'CEIL') != 'FLOOR'
                out = [x[0], x[1], pool_out(x[2], kh, ph, sh, ceil), pool_out(x[3], kw, pw, sw, ceil)]
        elif t == 'InnerProduct':
            ip = get(L, 'inner_product_param'); n = get(ip, 'num_output'); ax = get(ip, 'axis', 1)
            k = 1
            for v in x[ax:]: k *= v
            bias = str(get(ip, 'bias_term', 'true')).lower() != 'false'
            p = k * n + (n if bias else 0); out = x[:ax] + [n]
        elif t in ('ReLU','Sigmoid','TanH','Dropout','BatchNorm','LRN','Softmax','Power','AbsVal','BNLL','ELU','Exp','Log','ReLU6','Clip','Swish','Threshold','Split','MVN'):
            out = list(x)
        elif t == 'PReLU':
            out = list(x); sh_ = str(get(get(L, 'prelu_param', []), 'channel_shared', 'false')).lower() == 'true'; p = 1 if sh_ else x[1]
        elif t == 'Scale':
            sp = get(L, 'scale_param', []); out = list(x)
            if len(bots) == 1: p = x[1] + (x[1] if str(get(sp, 'bias_term', 'false')).lower() == 'true' else 0)
        elif t == 'Bias': out = list(x); p = x[1] if len(bots) == 1 else 0
        elif t == 'BN': out = list(x); p = 2 * x[1]
        elif t == 'Normalize':
            out = list(x); p = 1 if str(get(get(L, 'norm_param', []), 'channel_shared', 'true')).lower() == 'true' else x[1]
        elif t == 'Concat':
            cp = get(L, 'concat_param', []); ax = get(cp, 'axis', get(cp, 'concat_dim', 1)); ax = ax % len(x)
            out = list(x); out[ax] = sum(v[ax] for v in b)
        elif t == 'Eltwise': out = list(x)
        elif t == 'Axpy': out = list(b[1])
        elif t == 'Flatten':
            ax = get(get(L, 'flatten_param', []), 'axis', 1); k = 1
            for v in x[ax:]: k *= v
            out = x[:ax] + [k]
        elif t == 'Reshape':
            dims_ = getall(get(get(L, 'reshape_param'), 'shape'), 'dim'); out = []
            tot = 1
            for v in x: tot *= v
            for i, dd in enumerate(dims_): out.append(x[i] if dd == 0 else dd)
            if -1 in out:
                k = 1
                for v in out:
                    if v != -1: k *= v
                out[out.index(-1)] = tot // k
        elif t == 'Permute':
            order = getall(get(L, 'permute_param'), 'order'); out = [x[o] for o in order] + [x[i] for i in range(len(x)) if i not in order]
        elif t == 'PriorBox':
            pp = get(L, 'prior_box_param'); ars = [1.0]
            for a in getall(pp, 'aspect_ratio'):
                if all(abs(a - r) > 1e-6 for r in ars):
                    ars.append(a)
                    if str(get(pp, 'flip', 'true')).lower() == 'true': ars.append(1.0 / a)
            npri = len(ars) * len(getall(pp, 'min_size')) + len(getall(pp, 'max_size'))
            out = [1, 2, x[2] * x[3] * npri * 4]
        elif t == 'DetectionOutput':
            dp = get(L, 'detection_output_param'); out = [1, 1, x[0] * get(dp, 'keep_top_k', -1), 7]
        elif t == 'Upsample':
            up = get(L, 'upsample_param'); s_ = get(up, 'scale', 2)
            if get(up, 'upsample_h') is not None: out = [x[0], x[1], get(up, 'upsample_h'), get(up, 'upsample_w')]
            else:
                oh, ow = x[2] * get(up, 'scale_h', s_), x[3] * get(up, 'scale_w', s_)
                if str(get(up, 'pad_out_h', 'false')).lower() == 'true': oh -= 1
                if str(get(up, 'pad_out_w', 'false')).lower() == 'true': ow -= 1
                out = [x[0], x[1], oh, ow]
        elif t == 'Interp':
            ip = get(L, 'interp_param', []); h, w = x[2], x[3]
            if get(ip, 'height') is not None: oh, ow = get(ip, 'height'), get(ip, 'width')
            elif len(b) > 1: oh, ow = b[1][2], b[1][3]
            else:
                h = h + get(ip, 'pad_beg', 0) + get(ip, 'pad_end', 0); w = w + get(ip, 'pad_beg', 0) + get(ip, 'pad_end', 0)
                oh, ow = h, w
                if get(ip, 'shrink_factor') is not None: oh = (oh - 1) // get(ip, 'shrink_factor') + 1; ow = (ow - 1) // get(ip, 'shrink_factor') + 1
                if get(ip, 'zoom_factor') is not None: z = get(ip, 'zoom_factor'); oh = oh + (oh - 1) * (z - 1); ow = ow + (ow - 1) * (z - 1)
            out = [x[0], x[1], oh, ow]
        elif t == 'Crop':
            ax = get(get(L, 'crop_param', []), 'axis', 2); out = x[:ax] + b[1][ax:]
        elif t == 'Slice':
            sp = get(L, 'slice_param', []); ax = get(sp, 'axis', get(sp, 'slice_dim', 1)); pts = getall(sp, 'slice_point')
            edges = [0] + pts + [x[ax]]; outs = []
            if not pts: edges = [x[ax] // len(tops) * i for i in range(len(tops) + 1)]
            for i, tp in enumerate(tops):
                o = list(x); o[ax] = edges[i+1] - edges[i]; shapes[tp] = o
            per[nm] = (shapes[tops[0]], 0); continue
        elif t in ('ROIPooling',):
            rp = get(L, 'roi_pooling_param'); out = [b[1][0], x[1], get(rp, 'pooled_h'), get(rp, 'pooled_w')]
        elif t == 'ArgMax':
            ap = get(L, 'argmax_param', []); out = [x[0], 2 if str(get(ap, 'out_max_val', 'false')).lower() == 'true' else 1, get(ap, 'top_k', 1)]
        elif t == 'Python': out = inputs.get(tops[0]) or list(x)
        elif t == 'Unpooling':
            pp = get(L, 'pooling_param'); k = get(pp, 'kernel_size'); st = get(pp, 'stride', 1); pd = get(pp, 'pad', 0)
            out = [x[0], x[1], (x[2]-1)*st + k - 2*pd, (x[3]-1)*st + k - 2*pd]
        elif t == 'ShuffleChannel': out = list(x)
        else:
            raise SystemExit(f'calc: layer {nm}: type {t} not handled')
        params += p
        for tp in tops: shapes[tp] = out
        if t == 'Pooling' and len(tops) > 1: shapes[tops[1]] = out
        per[nm] = (out, p)
    return per, params
def check_manifest(manifest, folder):
    rows, header = [], None
    for line in open(manifest).read().splitlines():
        if not line.strip() or line.startswith('#'): continue
        c = line.split('\t')
        if header is None: header = c; continue
        rows.append(dict(zip(header, c)))
    differ = 0
    for r in rows:
        a = r['args'].split(); inputs = {}
        for i, x in enumerate(a):
            if x == '--input-shape': k, v = a[i+1].split('='); inputs[k] = [int(z) for z in v.split('x')]
        try:
            per, params = run(parse(open(f"{folder}/{r['file']}.prototxt").read()), inputs)
        except BaseException as e:
            print(f"{r['file']}: not read here ({e})"); continue
        shp = 'x'.join(str(v) for v in per[r['check_layer']][0]) if r['check_layer'] in per else None
        bad = (r['check_layer'] and shp != r['expected_shape']) or (r['expected_params'] and int(r['expected_params']) != params)
        differ += bool(bad)
        print(f"{r['file']}: shape {shp} (manifest {r['expected_shape'] or '-'}), params {params} "
              f"(manifest {r['expected_params'] or '-'}){'  DIFFERS' if bad else ''}")
    print(f"{differ} row(s) differ")
    return 1 if differ else 0
if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == '--manifest': sys.exit(check_manifest(sys.argv[2], sys.argv[3]))
    args = sys.argv[1:]; path = args[0]; inputs = {}; layer = None
    i = 1
    while i < len(args):
        if args[i] in ('--input', '--input-shape'): k, v = args[i+1].split('='); inputs[k] = [int(z) for z in v.split('x')]; i += 2
        elif args[i] == '--layer': layer = args[i+1]; i += 2
        else: i += 1
    per, params = run(parse(open(path).read()), inputs)
    if layer: print('x'.join(str(v) for v in per[layer][0]), params)
    else: print(params)

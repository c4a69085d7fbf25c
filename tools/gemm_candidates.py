#!/usr/bin/env python3
"""Prints a candidate pool for `convergy evaluate --select-terms N --candidates SPEC` that adds GEMM tile
padding to the convolution terms: a GPU runs a convolution as an implicit GEMM of M = out_c rows, N =
out_h*out_w columns and K = in_c*kernel_h*kernel_w, in tiles, so a layer costs about as much as one whose
out_c and out_h*out_w are rounded up to the tile sizes. The pool holds, for tile sizes 8 to 128 (out_c) and
16 to 256 (out_h*out_w), the padded MACs and padded output size, the plain size features, each alone, times
an indicator of kernel size 1, 3 or 11, and times log2 of a size, and log2 of the sizes. docs/models.md
shows the search on the TX2 GPU rail.

Usage: tools/gemm_candidates.py [--group conv] [--method lad]
"""
import argparse

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--group", default="conv")
ap.add_argument("--method", default="lad")
a = ap.parse_args()

GEMM_K = "in_c*kernel_h*kernel_w"
plain = ["macs", "in_elems", "out_elems", "weight_elems", f"{GEMM_K}*out_h*out_w", "in_h*in_w", "out_h*out_w",
         "in_c", "out_c", "in_c*out_c"]
padded = []
for m in (1, 8, 16, 32, 64, 128):
    for n in (1, 16, 32, 64, 128, 256):
        if m == 1 and n == 1:
            continue
        oc = "out_c" if m == 1 else f"roundup(out_c,{m})"
        hw = "out_h*out_w" if n == 1 else f"roundup(out_h*out_w,{n})"
        padded.append(f"{GEMM_K}*{oc}*{hw}")
    if m > 1:
        padded += [f"roundup(out_c,{m})*out_h*out_w", f"{GEMM_K}*roundup(out_c,{m})"]
logs = ["macs", "in_elems", "out_elems", "weight_elems", "out_h*out_w", "in_c", "out_c", "in_h*in_w", "kernel_h"]

terms = ["1"]
for base in plain + padded:
    terms.append(base)
    terms += [f"{base}*[kernel_h={k}]" for k in (1, 3, 11)]
    terms += [f"{base}*log2({x})" for x in logs]
terms += [f"log2({x})" for x in logs]
print(f"{a.group}={','.join(terms)};method={a.method}")

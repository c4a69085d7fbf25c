#!/usr/bin/env python3
"""Runs `convergy info` on every .prototxt in a folder and reports which import and which are refused.

A file NAME.prototxt.args next to a network holds extra arguments for it (e.g. `--input-shape
data=1x3x360x480` for a data layer whose parameters give no size), as a user would pass them.

For each file: imported (inputs, last layer's output shapes, params, MACs) or refused (exit code and the
one-line message). A summary line gives the import rate. Exit 0 unless a file crashed convergy (a signal,
an exit code other than 0 or 2) or hung past --timeout: those are bugs whatever the input.

  tools/caffe_corpus_check.py /tmp/i16corpus --convergy build/convergy [--json out.json] [-- extra args]

With --manifest (tools/caffe_corpus.tsv), the files named there are checked against what the manifest expects:
imported or refused, the output shape of one layer, and the parameter count where a published figure exists.
The manifest's args column replaces .args files. Exit 1 also when a manifest expectation does not hold.
"""
import re
import argparse
import json
import pathlib
import subprocess
import sys


def shapes_with_fused(info):
    """Output shapes by layer name; an activation fused into its producer (fuse-act pass) has the producer's."""
    shapes = {l["name"]: l.get("output_shapes") for l in info["layers"]}
    for p in info.get("passes", []):
        detail = p.get("detail", "")
        if p.get("pass") == "fuse-act" and detail.startswith("fused into "):
            shapes.setdefault(p["layer"], shapes.get(detail[len("fused into "):]))
    return shapes


def check(convergy, path, timeout, extra, own=None):
    if own is None:
        args_file = path.with_name(path.name + ".args")
        own = args_file.read_text().split() if args_file.exists() else []
    cmd = [convergy, "info", str(path), "--format", "json", *extra, *own]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"file": path.name, "status": "hang", "message": f"no answer in {timeout} s"}
    notes = [l for l in p.stderr.splitlines() if l.startswith("convergy: note") or l.startswith("convergy: warning")]
    if p.returncode == 0:
        info = json.loads(p.stdout)
        last = info["layers"][-1] if info["layers"] else {}
        return {"file": path.name, "status": "imported", "inputs": info["input_shapes"],
                "last_layer": last.get("name"), "last_output_shapes": last.get("output_shapes"),
                "shapes": shapes_with_fused(info),
                "params": info["totals"]["params"], "macs": info["totals"]["macs"], "notes": notes}
    status = "refused" if p.returncode == 2 else "crashed"
    lines = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith("convergy: note")]
    return {"file": path.name, "status": status, "exit": p.returncode, "message": lines[-1] if lines else ""}


def read_manifest(path):
    rows = []
    header = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            continue
        if len(cells) != len(header):
            sys.exit(f"{path}: row for {cells[0]!r} has {len(cells)} columns, expected {len(header)}")
        rows.append(dict(zip(header, cells)))
    return rows


def judge(row, r):
    """What the manifest expects of one result: a list of failed expectations (empty when all hold)."""
    bad = []
    if r["status"] != row["expect"]:
        bad.append(f"expected {row['expect']}, got {r['status']}")
        return bad
    if r["status"] == "refused" and not re.search(r"\.prototxt:\d+", r.get("message", "")):
        bad.append("refusal names no line")
    if r["status"] != "imported":
        return bad
    if row["check_layer"]:
        shapes = r["shapes"].get(row["check_layer"])
        got = "x".join(str(d) for d in shapes[0]) if shapes else None
        if got != row["expected_shape"]:
            bad.append(f"{row['check_layer']} shape {got}, expected {row['expected_shape']}")
    if row["expected_params"] and int(row["expected_params"]) != r["params"]:
        bad.append(f"params {r['params']}, expected {row['expected_params']} ({row['params_source']})")
    return bad


def run_manifest(a):
    rows = read_manifest(a.manifest)
    results, failures = [], 0
    n_caffe_ok = n_imported = n_shape = n_shape_ok = n_params = n_params_ok = 0
    for row in rows:
        path = a.folder / (row["file"] + ".prototxt")
        if not path.exists():
            print(f"missing   {path.name} ({row['repo']} {row['path']})")
            continue
        r = check(a.convergy, path, a.timeout, a.extra, row["args"].split())
        r["manifest"] = row
        bad = judge(row, r)
        r["failed"] = bad
        results.append(r)
        failures += bool(bad)
        if row["expect"] == "imported":
            n_caffe_ok += 1
            n_imported += r["status"] == "imported"
            if row["check_layer"]:
                n_shape += 1
                n_shape_ok += r["status"] == "imported" and not any("shape" in b for b in bad)
            if row["expected_params"]:
                n_params += 1
                n_params_ok += r["status"] == "imported" and not any("params" in b for b in bad)
        state = "ok" if not bad else "FAILED: " + "; ".join(bad)
        detail = (f"params {r['params']}" if r["status"] == "imported" else r.get("message", ""))
        print(f"{r['status']:9} {path.name}: {state}; {detail}")
    n = len(results)
    repos = len({r["manifest"]["repo"] for r in results})
    crashed = sum(r["status"] in ("crashed", "hang") for r in results)
    print(f"{n} files from {repos} repositories: {sum(r['status'] == 'imported' for r in results)} imported, "
          f"{n - crashed - sum(r['status'] == 'imported' for r in results)} refused, {crashed} crashed or hung")
    if n_caffe_ok:
        print(f"files Caffe itself reads: {n_imported}/{n_caffe_ok} imported ({100.0 * n_imported / n_caffe_ok:.1f}%), "
              f"shapes as expected {n_shape_ok}/{n_shape}, published parameter counts matched {n_params_ok}/{n_params}")
    print(f"{failures} manifest expectation(s) failed")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 1 if failures or crashed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--convergy", default="build/convergy")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json", type=pathlib.Path, help="write every result here")
    ap.add_argument("--manifest", type=pathlib.Path, help="TSV of files and what to expect (tools/caffe_corpus.tsv)")
    ap.add_argument("extra", nargs="*", help="more arguments for convergy info (after --)")
    a = ap.parse_args()
    if a.manifest:
        return run_manifest(a)
    files = sorted(a.folder.glob("*.prototxt"))
    if not files:
        print(f"{a.folder}: no .prototxt files", file=sys.stderr)
        return 2
    results = [check(a.convergy, f, a.timeout, a.extra) for f in files]
    for r in results:
        if r["status"] == "imported":
            print(f"imported  {r['file']}: inputs {r['inputs']}, {r['last_layer']} -> {r['last_output_shapes']}, "
                  f"params {r['params']}, macs {r['macs']}")
        else:
            print(f"{r['status']:9} {r['file']}: {r.get('message', '')}")
    n = len(results)
    ok = sum(r["status"] == "imported" for r in results)
    bad = [r for r in results if r["status"] in ("crashed", "hang")]
    print(f"{ok}/{n} imported ({100.0 * ok / n:.1f}%), {n - ok - len(bad)} refused, {len(bad)} crashed or hung")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Runs `convergy info` on every .prototxt in a folder and reports which import and which are refused.

A file NAME.prototxt.args next to a network holds extra arguments for it (e.g. `--input-shape
data=1x3x360x480` for a data layer whose parameters give no size), as a user would pass them.

For each file: imported (inputs, last layer's output shapes, params, MACs) or refused (exit code and the
one-line message). A summary line gives the import rate. Exit 0 unless a file crashed convergy (a signal,
an exit code other than 0 or 2) or hung past --timeout: those are bugs whatever the input.

  tools/caffe_corpus_check.py /tmp/i16corpus --convergy build/convergy [--json out.json] [-- extra args]
"""
import argparse
import json
import pathlib
import subprocess
import sys


def check(convergy, path, timeout, extra):
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
                "params": info["totals"]["params"], "macs": info["totals"]["macs"], "notes": notes}
    status = "refused" if p.returncode == 2 else "crashed"
    lines = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith("convergy: note")]
    return {"file": path.name, "status": status, "exit": p.returncode, "message": lines[-1] if lines else ""}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--convergy", default="build/convergy")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json", type=pathlib.Path, help="write every result here")
    ap.add_argument("extra", nargs="*", help="more arguments for convergy info (after --)")
    a = ap.parse_args()
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

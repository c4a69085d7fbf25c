#!/usr/bin/env python3
"""Throughput of convergy's Python predict against the C++ path, on the same generated NB201 candidates.

    PYTHONPATH=build/python python3 bench/python_predict_bench.py [--count 10000] [--repeat 5]

Times model.predict(list_of_prototxt_texts) (import, passes, features and model in C++, GIL released, both
cores) and, for reference, one predict per candidate in a Python loop; compare networks/s with
build/bench/nb201_predict_bench (BM_Nb201List, run with NB201_BENCH_MODEL set to the same model). Reports
the median of the repeats; `layers=False` is the totals-only case (BM_Nb201List/.../layers:0).
"""
import argparse
import json
import os
import statistics
import time

import convergy

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", required=True, help="model JSON (e.g. one written by `convergy fit`)")
    args = ap.parse_args()
    model = convergy.Model.load(args.model)
    texts = [convergy.nb201_prototxt(i % 1000) for i in range(args.count)]
    print(json.dumps({"heap": convergy.heap_settings()["detail"]}))
    for layers in (True, False):
        for threads in (1, 2):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                preds = model.predict(texts, threads=threads, layers=layers)
                times.append(time.perf_counter() - t)
            assert len(preds) == len(texts)
            med = statistics.median(times)
            print(json.dumps({"case": f"predict(list of {args.count} texts), threads={threads}, layers={layers}",
                              "median_s": round(med, 4), "networks_per_s": round(args.count / med, 1),
                              "runs_s": [round(x, 4) for x in times]}))
    t = time.perf_counter()
    for text in texts[:1000]:
        model.predict(text)
    dt = time.perf_counter() - t
    print(json.dumps({"case": "predict(text) in a Python loop, 1000 texts", "s": round(dt, 4),
                      "networks_per_s": round(1000 / dt, 1)}))


if __name__ == "__main__":
    main()

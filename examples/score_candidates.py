#!/usr/bin/env python3
"""Scores 1,000 generated NAS-Bench-201-style candidates with a fitted energy model and prints the best.

    PYTHONPATH=build/python python3 examples/score_candidates.py [--model MODEL.json] [--count N]

Without --model, a model is first fitted on every 25th network of the Jetson Nano data (../shared/data) with
the default `transfer` features: non-negative rates shared by every layer class, so the pooling and
element-wise layers of NB201 cells, which the Nano networks never had, still get a cost. (A `macs+mem` model
fitted the same way predicts negative energy for some NB201 candidates and would crown one of them.)
"""
import argparse
import os
import sys

import convergy


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model JSON written by `convergy fit` (default: fit one on the Nano data)")
    parser.add_argument("--count", type=int, default=1000, help="candidates to score")
    parser.add_argument("--shared-data", default=os.path.join(here, "..", "..", "shared", "data"))
    args = parser.parse_args()

    if args.model:
        model = convergy.Model.load(args.model)
    else:
        csv = os.path.join(args.shared_data, "jetson-nano", "networks.csv")
        with open(csv) as f:
            lines = f.read().splitlines()
        header = lines[0].split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1::25]]
        for r in rows:  # the CSV names networks relative to its own folder
            r["network"] = os.path.join(os.path.dirname(csv), r["network"])
        model = convergy.Model.fit([{"network": r["network"], "energy_mj": r["energy_mj"]} for r in rows],
                                   target="energy_mj")

    # One call for the whole list: imported and predicted in C++ on every core, results in order.
    predictions = model.predict([convergy.nb201_prototxt(i) for i in range(args.count)])
    i = min(range(args.count), key=lambda k: predictions[k].predicted)
    p = predictions[i]
    net = convergy.load(convergy.nb201_prototxt(i))
    interval = "" if p.lower is None else f" (interval {p.lower:.4g} to {p.upper:.4g})"
    print(f"scored {args.count} candidates with {model.id}")
    print(f"best: candidate {i}, {p.predicted:.4g} {model.unit}{interval}, {net.totals['macs']} MACs, "
          f"{net.totals['layers']} layers")
    if p.extrapolation:
        print(f"outside the training data ({len(p.extrapolation)} flags, interval widened "
              f"{p.interval_widening:.2f}x), e.g. {p.extrapolation[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes the power-meter trace seeds of fuzz/corpus/trace/: the header styles convergy reads, each with the two
sync pulses and layer intervals of fuzz_trace's fixed marker log (host 1.0 s and 1.6 s, layers from 2.0 s), on
the meter's own clock, so that alignment and per-layer attribution run.

Usage: /usr/bin/python3 fuzz/corpus/make_trace_seeds.py   (from the repository root)
"""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trace")
BUSY = [(1.0, 1.2, 7.0), (1.6, 1.8, 7.0)] + [(2.0 + 0.1 * i, 2.1 + 0.1 * i, 4.0 + i) for i in range(4)]
IDLE_W = 2.0


def power(host_t):
    for start, end, watts in BUSY:
        if start <= host_t < end:
            return watts
    return IDLE_W


def samples(offset_s, step_s, seed):
    rng = random.Random(seed)
    t = 0.5 + offset_s + 0.00007
    while t < 2.6 + offset_s:
        yield t, power(t - offset_s) * (1 + rng.gauss(0, 0.003))
        t += step_s


def write(name, text):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(text)
    print(path, len(text), "bytes")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    # Monsoon: milliseconds, milliamps, volts.
    rows = ["Time(ms),Main(mA),Main Voltage(V)"]
    rows += ["%.3f,%.3f,4.2" % (t * 1e3, p / 4.2 * 1e3) for t, p in samples(3.217, 0.01, 1)]
    write("monsoon.csv", "\n".join(rows) + "\n")
    # Joulescope export: seconds, amps, volts, watts; a '#' on the header.
    rows = ["#time,current,voltage,power"]
    rows += ["%.5f,%.6f,5.0,%.6f" % (t, p / 5.0, p) for t, p in samples(-0.75, 0.01, 2)]
    write("joulescope.csv", "\n".join(rows) + "\n")
    # ARM energy probe: a comment line, then seconds and milliwatts, CRLF line ends.
    rows = ["# ARM energy probe", "Time (s),Power (mW)"]
    rows += ["%.4f,%.1f" % (t, p * 1e3) for t, p in samples(12.5, 0.01, 3)]
    write("arm_probe.csv", "\r\n".join(rows) + "\r\n")
    # Microsecond timestamps, milliamps and millivolts with unit suffixes.
    rows = ["timestamp_us,current_ma,voltage_mv"]
    rows += ["%d,%.3f,5000" % (round(t * 1e6), p / 5.0 * 1e3) for t, p in samples(0.0, 0.01, 4)]
    write("suffix_units.csv", "\n".join(rows) + "\n")

#!/usr/bin/python3
"""PyTorch eager CPU inference as a benchmark peer. Usage: torch_peer.py NET THREADS
Loads torchvision NET (random weights), runs two warm-up passes, prints "ready", then answers each stdin
line "run" with the wall time of one forward pass in milliseconds; "quit" or end of input stops it."""
import sys
import time

import torch
import torchvision


def main() -> int:
    name, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            t0 = time.perf_counter()
            model(x)
            print(f"{(time.perf_counter() - t0) * 1e3:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

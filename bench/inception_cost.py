"""Cost of InceptionV3 features per protocol on this machine: --num random uint8 images of --size px through each
protocol's preprocessing and the network, scaled to seconds per 10 000 images (wall and CPU time), with the load.

    python bench/inception_cost.py [--num 64] [--size 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from ganforge.metrics.inception import load_inception
from ganforge.metrics.protocols import PROTOCOLS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    extractor = load_inception()
    images = torch.randint(0, 256, (args.num, 3, args.size, args.size), dtype=torch.uint8)
    print(
        f"{extractor.description}; {args.num} images of {args.size} px, batch {args.batch}, "
        f"{args.threads} thread(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    extractor(images[:2])  # warm-up
    for protocol in PROTOCOLS.values():
        if protocol.preprocessing is not None:
            extractor.use_preprocessing(protocol.preprocessing)
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in images.split(args.batch):
            extractor(batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        scale = 10_000 / args.num
        print(
            f"{protocol.name:>18}: {wall * scale:8.0f} s wall, {cpu * scale:8.0f} s CPU per 10k images "
            f"(load {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()

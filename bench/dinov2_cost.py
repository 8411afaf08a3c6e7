"""Cost of DINOv2 features (FD-DINOv2): seconds per 10k images for a DINOv2 extractor on this machine, measured on
a few batches and scaled. Random weights of the real architecture (the cost does not depend on the values), so it
runs offline; the input images are --size px (resized to 224 by the extractor, as for any size).

Reports wall-clock seconds and CPU seconds of this process (time.process_time: with one thread, what an otherwise
idle core would take, which a shared machine's load does not inflate), with the load average.

    python bench/dinov2_cost.py [--arch vitb14] [--images 16] [--batch 8] [--size 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from ganforge.metrics.dinov2 import ARCHITECTURES, Dinov2Extractor, DinoViT, preprocess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vitb14", choices=sorted(ARCHITECTURES))
    parser.add_argument("--images", type=int, default=16, help="images timed (after one warm-up batch)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=32, help="side of the input images in pixels")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    extractor = Dinov2Extractor(DinoViT(ARCHITECTURES[args.arch]), "random weights", "").eval()
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    extractor(images)  # warm-up
    batches = max(1, args.images // args.batch)
    timings = {}
    for name, step in {
        "preprocessing (PIL bicubic to 224)": lambda: preprocess(images),
        "extractor (preprocessing + ViT)": lambda: extractor(images),
    }.items():
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            for _ in range(batches):
                step()
        timings[name] = ((time.perf_counter() - wall), (time.process_time() - cpu))
    count = batches * args.batch
    print(
        f"DINOv2 {ARCHITECTURES[args.arch].label}, {count} images of {args.size} px in batches of {args.batch}, "
        f"{args.threads} thread(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    for name, (wall, cpu) in timings.items():
        print(f"  {name:<36} wall {wall / count * 1e4:8.0f} s per 10k images   CPU {cpu / count * 1e4:8.0f} s per 10k")


if __name__ == "__main__":
    main()

"""Data loading at 256x256: img/s of one loader worker for decode + resize + augment from a folder of JPEG photos, a
prepared zip and prepared tar shards, against what one GPU consumes, and the worker count that keeps it fed.

One worker = one process running the dataset's reads (DataLoader workers scale this by their count, CPU cores
permitting). "decode + resize" is what a worker does (`batches` with workers=0, i.e. in this process); "+ augment"
adds the host-side equivalent of the loop's per-batch work: uint8 -> float and the --mirror flip (ganforge runs
these, and ADA / DiffAugment, on the GPU, so a real worker does only the first column).

    python bench/data_loading.py [--images 256] [--rounds 3] [--gpu-img-per-s 46,500]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from ganforge.data.folder import FolderDataset  # noqa: E402
from ganforge.data.prepare import prepare_dataset  # noqa: E402
from ganforge.data.sampler import batches  # noqa: E402
from ganforge.data.shards import ShardDataset  # noqa: E402
from ganforge.imaging import to_float  # noqa: E402
from ganforge.training.joint_augment import flip_and_jitter  # noqa: E402

RESOLUTION = 256
PHOTO_SIZE = (512, 384)  # the source folder's JPEGs: a typical downscaled photo
BATCH = 32
V100_IMG_PER_S = 1000 / 21.6  # NVIDIA's stylegan2-ada-pytorch, 256x256, batch 32, one V100 (see stylegan2_throughput)


def photo(rng: np.random.Generator) -> Image.Image:
    """A photo-like image: smooth colour fields plus fine noise (so JPEG/PNG sizes and decode costs are realistic)."""
    width, height = PHOTO_SIZE
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    grain = rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(coarse, dtype=np.float64) + grain, 0, 255).astype(np.uint8))


def make_sources(root: Path, count: int) -> dict[str, object]:
    """The three sources of the same `count` photos: JPEG folder, prepared zip, prepared shards (256x256 PNG)."""
    rng = np.random.default_rng(0)
    folder = root / "photos"
    folder.mkdir()
    for i in range(count):
        photo(rng).save(folder / f"{i:05d}.jpg", quality=90)
    prepare_dataset(folder, root / "photos.zip", RESOLUTION, 3, workers=1)
    prepare_dataset(folder, root / "shards", RESOLUTION, 3, workers=1, format="shards", shard_bytes=10**7)
    return {
        "folder (JPEG 512x384)": FolderDataset(folder, RESOLUTION, 3),
        "zip (PNG 256)": FolderDataset(root / "photos.zip", RESOLUTION, 3),
        "shards (PNG 256, tar)": ShardDataset(str(root / "shards")),
    }


def rates(dataset, count: int, augment: bool) -> tuple[float, float]:
    """(img per wall-clock second, img per CPU second) of reading `count` images in batches of BATCH in this process
    (one worker's work); the CPU-second rate is what a worker does on a core of its own, whatever the load."""
    stream = batches(dataset, BATCH, seed=0, start_batch=0)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count // BATCH):
        images, _ = next(stream)
        if augment:
            flip_and_jitter(to_float(images), mirror=True, jitter=False)
    done = count // BATCH * BATCH
    return done / (time.perf_counter() - wall), done / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256, help="photos per source (a multiple of 32)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is printed")
    parser.add_argument(
        "--gpu-img-per-s",
        default=f"{V100_IMG_PER_S:.0f},500",
        help="GPU consumption rates (img/s) to size the worker count for",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    targets = [float(v) for v in args.gpu_img_per_s.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        sources = make_sources(Path(tmp), args.images)
        sizes = {
            "folder (JPEG 512x384)": sum(p.stat().st_size for p in (Path(tmp) / "photos").iterdir()),
            "zip (PNG 256)": (Path(tmp) / "photos.zip").stat().st_size,
            "shards (PNG 256, tar)": sum(p.stat().st_size for p in (Path(tmp) / "shards").iterdir()),
        }
        measured: dict[tuple[str, bool], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):  # interleaved, so that load changes hit every source alike
            for name, dataset in sources.items():
                for augment in (False, True):
                    measured.setdefault((name, augment), []).append(rates(dataset, args.images, augment))
        results = {key: tuple(statistics.median(v) for v in zip(*values)) for key, values in measured.items()}
    load = os.getloadavg()
    print(
        f"data loading at {RESOLUTION}x{RESOLUTION}, {args.images} photos, batch {BATCH}, one worker (1 thread); "
        f"load average {load[0]:.1f} on {os.cpu_count()} CPUs; torch {torch.__version__}"
    )
    print(
        "img/s per worker: per CPU-second (a worker on a core of its own), then per wall-clock second (this "
        "loaded machine); workers needed from the CPU-second rate of decode + resize"
    )
    header = (
        "| source | kB/image | decode+resize (CPU s) | + augment (CPU s) | decode+resize (wall) | "
        + " | ".join(f"workers for {t:.0f} img/s" for t in targets)
        + " |"
    )
    print(header)
    print("|---|" + "---:|" * (4 + len(targets)))
    for name in sources:
        (wall, cpu), (_, augmented) = results[(name, False)], results[(name, True)]
        needed = " | ".join(str(math.ceil(t / cpu)) for t in targets)
        print(
            f"| {name} | {sizes[name] / args.images / 1000:.0f} | {cpu:.0f} | {augmented:.0f} | {wall:.0f} | {needed} |"
        )
    print(
        f"GPU consumption: {V100_IMG_PER_S:.0f} img/s = NVIDIA's published StyleGAN2 256x256 on one V100 "
        f"(21.6 s/kimg); ganforge's own StyleGAN2-256 img/s on a GPU (bench/gpu_suite.py) is not measured yet."
    )


if __name__ == "__main__":
    main()

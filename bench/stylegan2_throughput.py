"""StyleGAN2 (preset stylegan2-32, the CPU-sized one) training and sampling throughput on this machine.

    python bench/stylegan2_throughput.py [--batch 32] [--steps 4] [--rounds 3]

Prints training img/s (full iterations: D step with lazy R1 every 16th, G step, EMA; FLOPs of a step without R1) and sampling img/s of the EMA generator
(eval mode, constant noise), with FLOPs per image and the fraction of the fp32 matmul roofline.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import flops_of, images_per_second, interleaved, matmul_gflops  # noqa: E402

from ganforge.config import resolve  # noqa: E402
from ganforge.data.base import DatasetInfo, TensorImageDataset  # noqa: E402
from ganforge.data.sampler import batches  # noqa: E402
from ganforge.train.dist import DistInfo  # noqa: E402
from ganforge.train.loop import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="stylegan2-32")
    args = parser.parse_args()
    cfg = resolve({"data.source": "shapes", "train.batch": args.batch}, preset=args.preset)
    resolution = cfg.data.resolution
    info = DatasetInfo("bench", resolution, 3)
    images = torch.randint(0, 256, (512, 3, resolution, resolution), dtype=torch.uint8)
    dataset = TensorImageDataset(images, torch.zeros(512, dtype=torch.long), info)
    trainer = Trainer(cfg, dataset, torch.device("cpu"), DistInfo(), Path("/nonexistent"), None)
    stream = batches(dataset, args.batch, 0, 0)
    z = torch.randn(args.batch, cfg.model.z_dim)

    def train_step():
        trainer._iteration(stream)

    @torch.inference_mode()
    def sample_step():
        trainer.G_ema(z)

    train_step()  # step 0 runs lazy R1 (double backward), which the FLOP counter cannot trace; count a plain step
    train_flops = flops_of(train_step) / args.batch
    sample_flops = flops_of(sample_step) / args.batch
    rates = interleaved({"train": lambda: images_per_second(train_step, args.batch, args.steps),
                         "sample": lambda: images_per_second(sample_step, args.batch, args.steps * 4)}, args.rounds)
    roofline = matmul_gflops()
    print(f"{args.preset} ({resolution}x{resolution}, batch {args.batch}), {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; fp32 matmul roofline {roofline:.1f} GFLOP/s")
    for name, flops in (("train", train_flops), ("sample", sample_flops)):
        achieved = flops * rates[name] / 1e9
        print(f"{name:>8}: {rates[name]:8.1f} img/s  {flops / 1e9:6.3f} GFLOP/img  {achieved:6.1f} GFLOP/s "
              f"= {achieved / roofline:5.1%} of roofline")


if __name__ == "__main__":
    main()

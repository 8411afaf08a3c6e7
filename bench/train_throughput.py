"""DCGAN-64 training throughput: ganforge's training step vs a plain reference DCGAN step (Radford et al.
architecture, the PyTorch-example update order) in the same run, plus the fraction of the fp32 matmul roofline.

    python bench/train_throughput.py [--batch 64] [--steps 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import flops_of, images_per_second, interleaved, matmul_gflops  # noqa: E402

from ganforge.config import resolve  # noqa: E402
from ganforge.data.base import DatasetInfo, TensorImageDataset  # noqa: E402
from ganforge.data.sampler import batches  # noqa: E402
from ganforge.dist import DistInfo  # noqa: E402
from ganforge.training.loop import Trainer  # noqa: E402


class ReferenceGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False),
            nn.BatchNorm2d(512),
            nn.ReLU(True),
            nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class ReferenceDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(128, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(256, 512, 4, 2, 1, bias=False),
            nn.BatchNorm2d(512),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(512, 1, 4, 1, 0, bias=False),
        )

    def forward(self, x):
        return self.main(x).view(-1)


def reference_step_fn(batch: int, real: torch.Tensor):
    """The plain loop: D on real, D on detached fake, step D; then G through D (D's grads computed too), step G."""
    G, D = ReferenceGenerator(), ReferenceDiscriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(batch), torch.zeros(batch)

    def step():
        D.zero_grad()
        criterion(D(real), ones).backward()
        fake = G(torch.randn(batch, 100, 1, 1))
        criterion(D(fake.detach()), zeros).backward()
        opt_d.step()
        G.zero_grad()
        criterion(D(fake), ones).backward()
        opt_g.step()

    return step


def ganforge_step_fn(batch: int, channels_last: bool):
    """ganforge's full iteration (data fetch, D step, G step, EMA, per-step seeding) on in-memory data."""
    info = DatasetInfo("bench", 64, 3)
    images = torch.randint(0, 256, (1024, 3, 64, 64), dtype=torch.uint8)
    dataset = TensorImageDataset(images, torch.zeros(1024, dtype=torch.long), info)
    cfg = resolve({"data.resolution": 64, "train.batch": batch, "train.channels_last": channels_last})
    trainer = Trainer(cfg, dataset, torch.device("cpu"), DistInfo(), Path("/nonexistent"), None)
    stream = batches(dataset, batch, 0, 0)
    return lambda: trainer.iteration(stream)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved measurements (median reported)")
    args = parser.parse_args()
    torch.manual_seed(0)
    real = torch.randn(args.batch, 3, 64, 64)
    steps = {
        "reference": reference_step_fn(args.batch, real),
        "ganforge": ganforge_step_fn(args.batch, channels_last=True),
        "ganforge-contiguous": ganforge_step_fn(args.batch, channels_last=False),
    }
    rates = interleaved(
        {name: (lambda s=s: images_per_second(s, args.batch, args.steps)) for name, s in steps.items()}, args.rounds
    )
    flops = {name: flops_of(step) / args.batch for name, step in steps.items()}
    roofline = matmul_gflops()
    print(
        f"DCGAN-64 training, batch {args.batch}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"fp32 matmul roofline: {roofline:.1f} GFLOP/s")
    for name, rate in rates.items():
        achieved = flops[name] * rate / 1e9
        print(
            f"{name:>20}: {rate:7.1f} img/s  {flops[name] / 1e9:6.3f} GFLOP/img  {achieved:6.1f} GFLOP/s "
            f"= {achieved / roofline:5.1%} of roofline"
        )
    print(
        f"ratio ganforge / reference: {rates['ganforge'] / rates['reference']:.2f} "
        f"(contiguous memory format: {rates['ganforge-contiguous'] / rates['reference']:.2f})"
    )


if __name__ == "__main__":
    main()

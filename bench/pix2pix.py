"""pix2pix on this CPU: the latency of one 256x256 translation (the U-Net directly and through translate_array,
channels_last vs contiguous, FLOPs and the fraction of the fp32 matmul roofline), batch throughput, and training
img/s of ganforge's pix2pix iteration vs a plain reference U-Net + PatchGAN step (Isola et al. 2017, the original
update order) in the same run.

    python bench/pix2pix.py [--resolution 128] [--batch 4] [--steps 2] [--rounds 3] [--runs 15] [--batches 8,16]
                            [--train-channels-last] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import flops_of, images_per_second, interleaved, matmul_gflops  # noqa: E402

from ganforge.config import resolve  # noqa: E402
from ganforge.data.base import DatasetInfo  # noqa: E402
from ganforge.data.paired import TensorPairDataset  # noqa: E402
from ganforge.data.sampler import batches  # noqa: E402
from ganforge.dist import DistInfo  # noqa: E402
from ganforge.models.pix2pix import UNetGenerator  # noqa: E402
from ganforge.tiling import translate_array  # noqa: E402
from ganforge.training.loop import Trainer  # noqa: E402

INFERENCE_RESOLUTION = 256
FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


# ---- the plain reference: U-Net generator and 70x70 PatchGAN as in the pix2pix authors' code -------------------
class ReferenceUNetBlock(nn.Module):
    """One U-Net level: down conv, the inner levels, up conv; the input is concatenated to the output (skip)."""

    def __init__(
        self,
        outer: int,
        inner: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        down = nn.Conv2d(input_nc or outer, inner, 4, 2, 1, bias=False)
        if outermost:
            layers = [down, submodule, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False),
                nn.BatchNorm2d(outer),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                nn.BatchNorm2d(inner),
                submodule,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False),
                nn.BatchNorm2d(outer),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def reference_unet(resolution: int, ngf: int = 64) -> nn.Module:
    """log2(resolution) downsamplings (8 for 256): C64-C128-C256-C512-C512-..., dropout 0.5 in the 512-wide levels."""
    num_downs = int(math.log2(resolution))
    block = ReferenceUNetBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(num_downs - 5):
        block = ReferenceUNetBlock(ngf * 8, ngf * 8, submodule=block, dropout=True)
    block = ReferenceUNetBlock(ngf * 4, ngf * 8, submodule=block)
    block = ReferenceUNetBlock(ngf * 2, ngf * 4, submodule=block)
    block = ReferenceUNetBlock(ngf, ngf * 2, submodule=block)
    return ReferenceUNetBlock(3, ngf, input_nc=3, submodule=block, outermost=True)


def reference_patchgan(ndf: int = 64) -> nn.Module:
    """70x70 PatchGAN on cat(A, B): C64-C128-C256-C512 (the last with stride 1), then one logit per patch."""
    return nn.Sequential(
        nn.Conv2d(6, ndf, 4, 2, 1),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1, bias=False),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 1),
    )


def init_weights(module: nn.Module) -> nn.Module:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module


def reference_step_fn(resolution: int, batch: int):
    """The plain loop: D on the real pair, D on the detached fake pair, step D; then G through D (D's grads
    computed too) + 100 * L1, step G."""
    G, D = init_weights(reference_unet(resolution)), init_weights(reference_patchgan())
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
    a, b = torch.rand(batch, 3, resolution, resolution) * 2 - 1, torch.rand(batch, 3, resolution, resolution) * 2 - 1

    def step():
        D.zero_grad()
        real_logits = D(torch.cat([a, b], 1))
        criterion(real_logits, torch.ones_like(real_logits)).backward()
        fake = G(a)
        fake_logits = D(torch.cat([a, fake.detach()], 1))
        criterion(fake_logits, torch.zeros_like(fake_logits)).backward()
        opt_d.step()
        G.zero_grad()
        fake_logits = D(torch.cat([a, fake], 1))
        (criterion(fake_logits, torch.ones_like(fake_logits)) + 100 * l1(fake, b)).backward()
        opt_g.step()

    return step


def ganforge_step_fn(resolution: int, batch: int, channels_last: bool | None):
    """ganforge's full pix2pix iteration (data fetch, D step, G step + L1, EMA, per-step seeding) on in-memory pairs."""
    info = DatasetInfo("bench", resolution, 3, (), 3)
    count = max(64, 4 * batch)
    pairs = [torch.randint(0, 256, (count, 3, resolution, resolution), dtype=torch.uint8) for _ in range(2)]
    dataset = TensorPairDataset(pairs[0], pairs[1], info)
    cfg = resolve(
        {
            "model.name": "pix2pix",
            "data.resolution": resolution,
            "train.batch": batch,
            "train.channels_last": channels_last,
        }
    )
    trainer = Trainer(cfg, dataset, torch.device("cpu"), DistInfo(), Path("/nonexistent"), None)
    stream = batches(dataset, batch, 0, 0)
    return lambda: trainer.iteration(stream)


# ---- inference ------------------------------------------------------------------------------------------------
def seconds_of(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def inference_latency(runs: int, roofline: float) -> tuple[dict[str, nn.Module], int]:
    """Latency of one 256x256 translation, directly and through translate_array, in both memory formats."""
    torch.manual_seed(0)
    generators = {"contiguous": UNetGenerator(INFERENCE_RESOLUTION, 3, 3).eval()}
    generators["channels_last"] = copy.deepcopy(generators["contiguous"]).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, INFERENCE_RESOLUTION, INFERENCE_RESOLUTION) * 2 - 1
    image = np.random.default_rng(0).integers(0, 256, (INFERENCE_RESOLUTION, INFERENCE_RESOLUTION, 3), dtype=np.uint8)
    calls = {}
    for name, fmt in FORMATS.items():
        G = generators[name]

        def model_fn(t, G=G, fmt=fmt):
            return G(t.contiguous(memory_format=fmt))

        calls[f"U-Net {name}"] = lambda f=model_fn: f(x)
        calls[f"translate_array {name}"] = lambda f=model_fn: translate_array(f, image, INFERENCE_RESOLUTION)
    with torch.inference_mode():
        flops = flops_of(calls["U-Net contiguous"])  # also a warm-up
        for call in calls.values():
            call()
            call()
        latency = interleaved({name: (lambda c=c: seconds_of(c)) for name, c in calls.items()}, runs)
    params = sum(p.numel() for p in generators["contiguous"].parameters())
    print(
        f"pix2pix U-Net {INFERENCE_RESOLUTION}x{INFERENCE_RESOLUTION}, 3 -> 3 channels, base 64 / cap 512, "
        f"batch norm, eval, inference_mode: {params / 1e6:.1f} M params, {flops / 1e9:.2f} GFLOP/image"
    )
    print(f"latency of one image (median of {runs}):")
    for name, seconds in latency.items():
        achieved = flops / seconds / 1e9
        print(f"{name:>30}: {seconds * 1e3:8.1f} ms  {achieved:6.1f} GFLOP/s = {achieved / roofline:5.1%} of roofline")
    faster = min(FORMATS, key=lambda name: latency[f"U-Net {name}"])
    slower = next(name for name in FORMATS if name != faster)
    print(
        f"faster memory format for inference: {faster} "
        f"({latency[f'U-Net {slower}'] / latency[f'U-Net {faster}']:.2f}x {slower}); translate_array overhead "
        f"{(latency[f'translate_array {faster}'] - latency[f'U-Net {faster}']) * 1e3:+.1f} ms"
    )
    return generators, flops


def batch_throughput(generators: dict[str, nn.Module], sizes: list[int], flops: int, roofline: float) -> None:
    with torch.inference_mode():
        for size in sizes:
            x = torch.rand(size, 3, INFERENCE_RESOLUTION, INFERENCE_RESOLUTION) * 2 - 1
            calls = {
                name: (lambda G=generators[name], fmt=fmt: G(x.contiguous(memory_format=fmt)))
                for name, fmt in FORMATS.items()
            }
            rates = interleaved(
                {name: (lambda c=c: images_per_second(c, size, steps=1, warmup=1)) for name, c in calls.items()},
                rounds=1,
            )
            for name, rate in rates.items():
                achieved = flops * rate / 1e9
                print(
                    f"{f'batch {size} {name}':>30}: {rate:8.2f} img/s  {achieved:6.1f} GFLOP/s "
                    f"= {achieved / roofline:5.1%} of roofline"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=128, help="training resolution")
    parser.add_argument("--batch", type=int, default=4, help="training batch")
    parser.add_argument("--steps", type=int, default=2, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved training measurements (median reported)")
    parser.add_argument("--runs", type=int, default=15, help="interleaved single-image latency runs (median reported)")
    parser.add_argument("--batches", default="8,16", help="comma-separated inference batch sizes (e.g. 8,16)")
    parser.add_argument(
        "--train-channels-last",
        action="store_true",
        help="also train ganforge in channels_last (its CPU default for pix2pix is contiguous)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    roofline = matmul_gflops()
    print(
        f"pix2pix on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )
    print(f"fp32 matmul roofline: {roofline:.1f} GFLOP/s")

    generators, flops = inference_latency(args.runs, roofline)
    sizes = [int(size) for size in args.batches.split(",") if size]
    if sizes:
        print(f"batch throughput at {INFERENCE_RESOLUTION}x{INFERENCE_RESOLUTION} (one timed call after one warm-up):")
        batch_throughput(generators, sizes, flops, roofline)
    del generators

    torch.manual_seed(0)
    steps = {
        "reference": reference_step_fn(args.resolution, args.batch),
        "ganforge": ganforge_step_fn(args.resolution, args.batch, channels_last=None),
    }  # ganforge's default
    if args.train_channels_last:
        steps["ganforge-channels_last"] = ganforge_step_fn(args.resolution, args.batch, channels_last=True)
    train_flops = {name: flops_of(step) / args.batch for name, step in steps.items()}  # also the warm-up
    rates = interleaved(
        {name: (lambda s=s: images_per_second(s, args.batch, args.steps, warmup=0)) for name, s in steps.items()},
        args.rounds,
    )
    print(
        f"pix2pix training {args.resolution}x{args.resolution}, batch {args.batch} "
        f"(median of {args.rounds} interleaved rounds of {args.steps} steps):"
    )
    for name, rate in rates.items():
        achieved = train_flops[name] * rate / 1e9
        print(
            f"{name:>30}: {rate:8.2f} img/s  {train_flops[name] / 1e9:6.2f} GFLOP/img  {achieved:6.1f} GFLOP/s "
            f"= {achieved / roofline:5.1%} of roofline"
        )
    line = f"ratio ganforge / reference: {rates['ganforge'] / rates['reference']:.2f}"
    if "ganforge-channels_last" in rates:
        line += f" (channels_last: {rates['ganforge-channels_last'] / rates['reference']:.2f})"
    print(line)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

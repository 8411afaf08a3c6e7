"""CycleGAN (Zhu et al. 2017) measured: training img/s of ganforge's iteration vs a plain reference implementation
of the same networks and update (written here after the paper and the authors' code's update order) in the same
run, and the quality of a short CPU training run on the built-in `digits-stylized` demo:

- what `ganforge eval` reports for a CycleGAN model (metrics/unpaired.py), A -> B and B -> A, each beside its
  identity baseline (the untranslated inputs): label survival (the `digits` classifier's reading of the class),
  the target-domain share (both views of a small domain classifier, colour histogram and grey texture, trained on
  the two real training sets, place the translation in the target domain) and cycle reconstruction PSNR;
- FID (digits-classifier features, and InceptionV3 with --inception) of the translated images to the target
  domain's training images, vs the identity baseline (the untranslated inputs, channels matched).

    python bench/cyclegan.py [--speed-only | --quality-only] [--resolution 64] [--batch 4] [--steps 2] [--rounds 3]
                             [--kimg 20] [--g-channels 32] [--d-channels 32] [--inception] [--threads N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import images_per_second, interleaved  # noqa: E402


# ---- the plain reference: ResNet generators, 70x70 PatchGANs, history pools, one G step then one D step -------
class ReferenceResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return x + self.block(x)


def reference_generator(channels: int, ngf: int, blocks: int) -> nn.Module:
    """c7s1-ngf, d2ngf, d4ngf, R4ngf x blocks, u2ngf, ungf, c7s1-channels, tanh."""
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for mult in (1, 2):
        layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
    layers += [ReferenceResnetBlock(ngf * 4) for _ in range(blocks)]
    for mult in (4, 2):
        layers += [
            nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1),
            nn.InstanceNorm2d(ngf * mult // 2),
            nn.ReLU(True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def reference_patchgan(channels: int, ndf: int) -> nn.Module:
    """70x70 PatchGAN: C64-C128-C256-C512 (the last with stride 1), one logit per patch."""
    return nn.Sequential(
        nn.Conv2d(channels, ndf, 4, 2, 1),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1),
        nn.InstanceNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1),
        nn.InstanceNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1),
        nn.InstanceNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 1),
    )


class ReferencePool:
    """Shrivastava et al.'s history: 50 old fakes; each new fake is returned, or swapped for an old one (p 0.5)."""

    def __init__(self, size: int = 50):
        self.size, self.images = size, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for image in images:
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) > 0.5:
                index = int(torch.randint(0, self.size, ()))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.cat(out)


def init_weights(module: nn.Module) -> nn.Module:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module


def reference_step_fn(resolution: int, batch: int, ngf: int, ndf: int, blocks: int, channels: int = 3):
    """The authors' update: G_A, G_B forward; G step (LSGAN + 10 * cycle + 5 * identity) with D frozen; then the
    D step on reals vs pooled fakes, 0.5 * (MSE(real, 1) + MSE(fake, 0)) per D; one Adam for both Gs, one for both Ds."""
    G_A, G_B = (init_weights(reference_generator(channels, ngf, blocks)) for _ in range(2))
    D_A, D_B = (init_weights(reference_patchgan(channels, ndf)) for _ in range(2))
    opt_g = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = ReferencePool(), ReferencePool()
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    a, b = (torch.rand(batch, channels, resolution, resolution) * 2 - 1 for _ in range(2))

    def gan(logits, target: float):
        return mse(logits, torch.full_like(logits, target))

    def step():
        fake_b, fake_a = G_A(a), G_B(b)
        rec_a, rec_b = G_B(fake_b), G_A(fake_a)
        for net in (D_A, D_B):
            net.requires_grad_(False)
        opt_g.zero_grad()
        loss_g = (
            gan(D_A(fake_b), 1.0)
            + gan(D_B(fake_a), 1.0)
            + 10 * (l1(rec_a, a) + l1(rec_b, b))
            + 5 * (l1(G_A(b), b) + l1(G_B(a), a))
        )
        loss_g.backward()
        opt_g.step()
        for net in (D_A, D_B):
            net.requires_grad_(True)
        opt_d.zero_grad()
        for net, real, fake in ((D_A, b, pool_b.query(fake_b.detach())), (D_B, a, pool_a.query(fake_a.detach()))):
            (0.5 * (gan(net(real), 1.0) + gan(net(fake), 0.0))).backward()
        opt_d.step()

    return step


def ganforge_step_fn(resolution: int, batch: int, g_channels: int, d_channels: int):
    """ganforge's full CycleGAN iteration (data fetch, D step with history pools, G step, EMA, per-step seeding)
    on in-memory unpaired images, through the one loop's Trainer."""
    from ganforge.config import resolve
    from ganforge.data.base import DatasetInfo, TensorImageDataset
    from ganforge.data.sampler import batches
    from ganforge.data.unpaired import UnpairedDataset
    from ganforge.dist import DistInfo
    from ganforge.training.loop import Trainer

    count = max(64, 4 * batch)
    sides = [
        TensorImageDataset(
            torch.randint(0, 256, (count, 3, resolution, resolution), dtype=torch.uint8),
            torch.zeros(count),
            DatasetInfo(name, resolution, 3),
        )
        for name in ("a", "b")
    ]
    dataset = UnpairedDataset(*sides, name="bench")
    cfg = resolve(
        {
            "model.name": "cyclegan",
            "data.resolution": resolution,
            "train.batch": batch,
            "model.g_channels": g_channels,
            "model.d_channels": d_channels,
            "train.total_kimg": 1e6,
        }
    )
    trainer = Trainer(cfg, dataset, torch.device("cpu"), DistInfo(), Path("/nonexistent"), None)
    stream = batches(dataset, batch, 0, 0)
    return lambda: trainer.iteration(stream)


def speed(args) -> None:
    """Training img/s, ganforge vs the plain reference, interleaved rounds in one process."""
    from ganforge.models.cyclegan import residual_blocks

    torch.manual_seed(0)
    steps = {
        "reference": reference_step_fn(
            args.resolution, args.batch, args.g_channels, args.d_channels, residual_blocks(args.resolution)
        ),
        "ganforge": ganforge_step_fn(args.resolution, args.batch, args.g_channels, args.d_channels),
    }
    for step in steps.values():  # warm-up
        step()
    rates = interleaved(
        {name: (lambda s=s: images_per_second(s, args.batch, args.steps, warmup=0)) for name, s in steps.items()},
        args.rounds,
    )
    print(
        f"CycleGAN training {args.resolution}x{args.resolution}, batch {args.batch}, widths G {args.g_channels} / "
        f"D {args.d_channels}, {residual_blocks(args.resolution)} residual blocks "
        f"(median of {args.rounds} interleaved rounds of {args.steps} steps):"
    )
    for name, rate in rates.items():
        print(f"{name:>12}: {rate:8.2f} img/s")
    print(f"ratio ganforge / reference: {rates['ganforge'] / rates['reference']:.2f}")


# ---- quality on the built-in demo ------------------------------------------------------------------------------
def frechet(extractor, images: torch.Tensor, reference: torch.Tensor) -> float:
    from ganforge.metrics.frechet import GaussianStats, frechet_distance

    def stats(x):
        return GaussianStats.of(torch.cat([extractor(x[i : i + 64])[0] for i in range(0, len(x), 64)]))

    return frechet_distance(stats(images), stats(reference))


def quality(args) -> dict:
    """Train on digits-stylized, then score held-out digits (testA -> B, testB -> A) as `ganforge eval` does
    (metrics/unpaired.py), plus FID of the translations to the other domain's training images."""
    import ganforge
    from ganforge.artifacts.generator import load
    from ganforge.data.unpaired import digits_stylized
    from ganforge.metrics.digits_classifier import DigitsExtractor
    from ganforge.metrics.unpaired import DIRECTIONS, UNPAIRED, evaluate_unpaired, sides, translate_all

    if args.checkpoint:  # score an existing run instead of training one
        generator, minutes = load(args.checkpoint), None
    else:
        out = args.out or tempfile.mkdtemp(prefix="cyclegan-bench-")
        settings = {
            "model.name": "cyclegan",
            "data.source": "digits-stylized",
            "data.resolution": args.quality_resolution,
            "model.g_channels": args.g_channels,
            "model.d_channels": args.d_channels,
            "train.batch": args.quality_batch,
            "train.total_kimg": args.kimg,
            "train.snapshot_every_kimg": args.kimg / 4,
            "train.out": out,
            "train.seed": 0,
        }
        started = time.perf_counter()
        result = ganforge.train(overrides=settings, progress=False)
        minutes = (time.perf_counter() - started) / 60
        generator = load(result.checkpoint)
    scores = {
        "kimg": round(generator.kimg, 3),
        "train_minutes": minutes and round(minutes, 2),
        "checkpoint": generator.source,
    } | evaluate_unpaired("digits-stylized", generator)
    train = digits_stylized(args.quality_resolution)
    test = digits_stylized(args.quality_resolution, split="test")
    real, reference = sides(test, len(test)), sides(train, len(train))  # reference: the target domains
    extractors = {"digits": DigitsExtractor()}
    if args.inception:
        from ganforge.metrics import build_extractor

        extractors["inception"] = build_extractor("inception")
    for direction, (source, target, _) in DIRECTIONS.items():
        translated = translate_all(generator, real[source][0], direction, 64)
        row = scores[UNPAIRED][direction]
        for name, extractor in extractors.items():
            row[f"fid_{name}_translated"] = frechet(extractor, translated, reference[target][0])
            row[f"fid_{name}_identity_baseline"] = frechet(extractor, real[source][0], reference[target][0])
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-only", action="store_true", help="only the training throughput ratio")
    parser.add_argument("--quality-only", action="store_true", help="only the digits-stylized quality run")
    parser.add_argument("--resolution", type=int, default=64, help="throughput: training resolution")
    parser.add_argument("--batch", type=int, default=4, help="throughput: training batch")
    parser.add_argument("--steps", type=int, default=2, help="throughput: steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="throughput: interleaved measurements (median)")
    parser.add_argument("--kimg", type=float, default=20.0, help="quality: training length")
    parser.add_argument("--quality-resolution", type=int, default=32, help="quality: digits side")
    parser.add_argument("--quality-batch", type=int, default=8, help="quality: training batch")
    parser.add_argument("--g-channels", type=int, default=64, help="width of each generator's first layer (paper: 64)")
    parser.add_argument("--d-channels", type=int, default=64, help="width of each PatchGAN's first layer (paper: 64)")
    parser.add_argument("--inception", action="store_true", help="also FID with InceptionV3 features")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--out", help="run folder parent for the quality run (default: a temporary folder)")
    parser.add_argument("--checkpoint", help="quality: score this digits-stylized run instead of training one")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"CycleGAN on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )
    if not args.quality_only:
        speed(args)
    if not args.speed_only:
        print(json.dumps(quality(args), indent=1))


if __name__ == "__main__":
    main()

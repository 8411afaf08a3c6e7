"""Train the shipped `digits` feature-extractor classifier and write its safetensors weights.

Deterministic for a given seed and thread count (CPU, a few minutes on 2 cores). Trains on the built-in digits
at 32x32 with the fixed stratified split of `ganforge.metrics.digits_classifier.digits_split`, with augmentation
that imitates what a generator's digits look like, so its samples are classified with honest confidence:
shifts, scale/rotation, stroke thickening/thinning, blur, down-and-up resampling, lifted and noisy backgrounds,
low contrast, checkerboard artefacts and a faint ghost of another digit (a neighbouring channel bleeding in).
No label smoothing (it caps every confidence near 0.95, so small artefacts pushed real digits under 0.9).

Then: (1) temperature calibration, one scalar fitted by NLL on the held-out split, clean and corrupted copies
(argmax is unchanged, so accuracy is too); (2) memorisation thresholds for the `digits` and `digits-per-channel`
extractors: the 1st percentile of the cosine distance from held-out real images to their nearest training image
(so a fresh real image falls under it 1% of the time). Reports accuracy, calibration (ECE, share of confident
predictions), the confidence on real stacked digits and their real-vs-real FID floor, and stores them, with the
seed, date and script name, as JSON in the safetensors metadata.

    .venv/bin/python scripts/train_digits_classifier.py [--epochs 40] [--seed 0] [--threads 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save

from ganforge.atomic import atomic_open
from ganforge.data.builtin import StackedDigits, digit_images
from ganforge.metrics.digits_classifier import (
    FEATURE_DIM,
    MEMORIZATION_THRESHOLDS_KEY,
    METADATA_KEY,
    RESOLUTION,
    WEIGHTS_PATH,
    DigitsClassifier,
    digits_split,
    to_classifier_input,
)
from ganforge.metrics.frechet import GaussianStats, frechet_distance
from ganforge.metrics.memorization import nearest_real

CONFIDENT = 0.9  # the mode metrics' confidence level
THRESHOLD_QUANTILE = 0.01


def _blur(pixels: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image separable Gaussian blur, 5x5 taps: pixels [N, 1, H, W], sigma [N, 1]."""
    n = pixels.shape[0]
    taps = torch.exp(-(torch.arange(-2.0, 3.0) ** 2) / (2 * sigma**2))  # [N, 5]
    taps = taps / taps.sum(1, keepdim=True)
    kernels = (taps[:, :, None] * taps[:, None, :])[:, None]  # [N, 1, 5, 5]
    return F.conv2d(pixels.transpose(0, 1), kernels, padding=2, groups=n).transpose(0, 1)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Float [N, 1, 32, 32] in [-1, 1] -> copies with the geometry changes and artefacts of generated digits."""
    n = x.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=generator)

    def some(share: float) -> torch.Tensor:  # [N, 1, 1, 1] bool: this share of the images
        return (torch.rand(n, generator=generator) < share)[:, None, None, None]

    pixels = (x + 1) / 2  # [0, 1], background 0
    # Affine: scale 0.85-1.15, rotation +-10 degrees, integer shift of up to 3 px each way.
    scale, angle = uniform(0.85, 1.15), uniform(-math.pi / 18, math.pi / 18)
    shift = torch.randint(-3, 4, (n, 2), generator=generator).float() * (2 / RESOLUTION)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, -shift[:, 0]], 1), torch.stack([sin, cos, -shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    pixels = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Strokes thickened (3x3 max) or thinned (3x3 min) for a sixth of the images each.
    thick, thin = F.max_pool2d(pixels, 3, 1, 1), -F.max_pool2d(-pixels, 3, 1, 1)
    pixels = torch.where(some(1 / 6), thick, torch.where(some(1 / 5), thin, pixels))
    # A ghost of another digit (a neighbouring channel bleeding in), alpha up to 0.3, for a quarter.
    ghost = pixels[torch.randperm(n, generator=generator)]
    pixels = torch.where(some(0.25), torch.maximum(pixels, ghost * uniform(0.05, 0.3, 1, 1, 1)), pixels)
    # Down-and-up resampling (from 16x16 or 8x8) for a quarter of the images.
    for side, share in ((16, 0.2), (8, 0.05)):
        small = F.interpolate(pixels, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        pixels = torch.where(
            some(share),
            F.interpolate(small, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False),
            pixels,
        )
    # Gaussian blur (sigma 0.4-1.4) for a third of the images.
    pixels = torch.where(some(1 / 3), _blur(pixels, uniform(0.4, 1.4, 1)), pixels)
    # Checkerboard artefact (transposed-convolution style), amplitude up to 0.08, for a sixth.
    checker = ((torch.arange(RESOLUTION)[:, None] + torch.arange(RESOLUTION)[None]) % 2).float() * 2 - 1
    pixels = pixels + some(1 / 6) * uniform(0.0, 0.08, 1, 1, 1) * checker
    # Contrast 0.55-1.3, background lifted by up to 0.15, noise std up to 0.1, then uint8 quantisation.
    pixels = pixels * uniform(0.55, 1.3, 1, 1, 1) + uniform(-0.05, 0.15, 1, 1, 1)
    pixels = pixels + uniform(0.0, 0.1, 1, 1, 1) * torch.randn(pixels.shape, generator=generator)
    pixels = (pixels.clamp(0, 1) * 255).round() / 255
    return pixels * 2 - 1


@torch.no_grad()
def accuracy(model: DigitsClassifier, x: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    return (model(x)[1].argmax(1) == labels).float().mean().item()


def calibrate_temperature(model: DigitsClassifier, x: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (Guo et al. 2017), by a log-spaced search."""
    with torch.no_grad():
        model.eval()
        logits = model(x)[1] * model.temperature
    candidates = torch.logspace(-1, 1, 401)  # 0.1 .. 10
    losses = torch.stack([F.cross_entropy(logits / t, labels) for t in candidates])
    return float(candidates[losses.argmin()])


@torch.no_grad()
def confidence_report(model: DigitsClassifier, x: torch.Tensor, labels: torch.Tensor) -> dict:
    """Accuracy, share of predictions with top probability > 0.9, their accuracy, and the expected calibration
    error over 10 confidence bins."""
    model.eval()
    probabilities = model(x)[1].softmax(1)
    confidence, predicted = probabilities.max(1)
    correct = (predicted == labels).float()
    confident = confidence > CONFIDENT
    bins = torch.clamp((confidence * 10).long(), max=9)
    ece = sum(
        float((bins == b).float().mean() * (correct[bins == b].mean() - confidence[bins == b].mean()).abs())
        for b in range(10)
        if (bins == b).any()
    )
    return {
        "accuracy": round(float(correct.mean()), 4),
        "confident_share": round(float(confident.float().mean()), 4),
        "confident_accuracy": round(float(correct[confident].mean()), 4) if confident.any() else None,
        "ece": round(ece, 4),
    }


@torch.no_grad()
def memorization_thresholds(
    model: DigitsClassifier, x_train: torch.Tensor, x_test: torch.Tensor, generator: torch.Generator, stacks: int = 4000
) -> dict:
    """Per extractor: the THRESHOLD_QUANTILE quantile of held-out -> nearest training cosine distances. For
    `digits-per-channel`, stacks of three held-out digits against `stacks` stacks of three training digits."""
    model.eval()
    train_features, test_features = model(x_train)[0], model(x_test)[0]
    single = nearest_real(test_features, train_features).cosine_distance

    def stacked(features: torch.Tensor, count: int) -> torch.Tensor:  # [count, 3 * FEATURE_DIM]
        picks = torch.randint(0, len(features), (count, 3), generator=generator)
        return features[picks].reshape(count, 3 * FEATURE_DIM)

    triple = nearest_real(stacked(test_features, 1000), stacked(train_features, stacks)).cosine_distance
    return {
        name: round(float(torch.quantile(d, THRESHOLD_QUANTILE)), 5)
        for name, d in (("digits", single), ("digits-per-channel", triple))
    }


@torch.no_grad()
def stacked_report(model: DigitsClassifier, count: int = 10000) -> dict:
    """On two independent sets of `count` real stacked digits: the share of channels classified with confidence
    > 0.9, and the real-vs-real FID floor with per-channel features (`digits-per-channel`) and with the grey
    average of the three channels (what `digits` sees)."""
    model.eval()
    sets = [StackedDigits(RESOLUTION, size=count, seed=seed).batch(torch.arange(count))[0] for seed in (0, 1)]
    per_channel, grey, confident = [], [], []
    for images in sets:  # uint8 [count, 3, 32, 32]
        features, logits = model(to_classifier_input(images.reshape(count * 3, 1, RESOLUTION, RESOLUTION)))
        per_channel.append(GaussianStats.of(features.reshape(count, 3 * FEATURE_DIM)))
        confident.append(logits.softmax(1).max(1).values > CONFIDENT)
        grey.append(GaussianStats.of(model(to_classifier_input(images))[0]))
    return {
        "count": count,
        "confident_channels": round(float(torch.cat(confident).float().mean()), 4),
        "fid_floor_per_channel": round(frechet_distance(*per_channel), 5),
        "fid_floor_grey": round(frechet_distance(*grey), 5),
    }


def fit(
    model: DigitsClassifier,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int,
    generator: torch.Generator,
    report_every: int,
) -> None:
    """Train `model` on augmented batches of 64 (AdamW, one-cycle lr 3e-3), printing the test accuracy every
    `report_every` epochs; shared by the digits and shapes scripts."""
    batch = 64
    steps = epochs * math.ceil(len(x_train) / batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            _, logits = model(augment(x_train[index], generator))
            loss = F.cross_entropy(logits, y_train[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % report_every == 0:
            print(f"epoch {epoch + 1:3d}  loss {loss.item():.4f}  test accuracy {accuracy(model, x_test, y_test):.4f}")


def write_weights(model: DigitsClassifier, record: dict, path: Path) -> None:
    """Write `model`'s weights as safetensors, atomically, with `record` as JSON in the metadata."""
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    with atomic_open(path) as handle:
        handle.write(save(state, metadata={METADATA_KEY: json.dumps(record)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()

    images, labels = digit_images(RESOLUTION)  # uint8 [1797, 32, 32], [1797]
    train_idx, test_idx = digits_split(labels)
    x = to_classifier_input(torch.from_numpy(images)[:, None])  # [1797, 1, 32, 32] in [-1, 1]
    y = torch.from_numpy(labels)
    x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]

    model = DigitsClassifier()
    fit(model, x_train, y_train, x_test, y_test, args.epochs, generator, report_every=10)

    train_accuracy, test_accuracy = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
    clean_held_out = torch.cat([x_test, x_test])
    corrupted = torch.cat([x_test, augment(clean_held_out, generator)])  # clean + two corrupted copies
    corrupted_labels = torch.cat([y_test] * 3)
    temperature = calibrate_temperature(model, corrupted, corrupted_labels)
    model.temperature.fill_(temperature)
    calibration = {
        name: confidence_report(model, images, targets)
        for name, images, targets in (
            ("clean", x_test, y_test),
            ("corrupted", corrupted[len(x_test) :], corrupted_labels[len(x_test) :]),
        )
    }
    thresholds = memorization_thresholds(model, x_train, x_test, generator)
    stacked = stacked_report(model)
    seconds = time.perf_counter() - started
    record = {
        "test_accuracy": round(test_accuracy, 4),
        "train_accuracy": round(train_accuracy, 4),
        "train_size": len(train_idx),
        "test_size": len(test_idx),
        "seed": args.seed,
        "epochs": args.epochs,
        "temperature": round(temperature, 4),
        "held_out_calibration": calibration,
        "real_stacked_digits": stacked,
        MEMORIZATION_THRESHOLDS_KEY: thresholds,
        "memorization_threshold_rule": f"{THRESHOLD_QUANTILE:.0%} quantile of held-out real -> nearest training image cosine distance",
        "date": datetime.date.today().isoformat(),
        "script": "scripts/train_digits_classifier.py",
        "torch": torch.__version__,
        "threads": args.threads,
        "seconds": round(seconds, 1),
    }
    write_weights(model, record, args.out)
    print(f"train accuracy {train_accuracy:.4f}  test accuracy {test_accuracy:.4f}  ({seconds:.1f} s)")
    print(f"temperature {temperature:.3f}; held-out calibration {json.dumps(calibration)}")
    print(f"memorisation thresholds {json.dumps(thresholds)}")
    print(f"real stacked digits {json.dumps(stacked)}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

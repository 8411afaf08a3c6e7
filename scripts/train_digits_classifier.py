"""Train the shipped `digits` feature-extractor classifier and write its safetensors weights.

Deterministic for a given seed and thread count (CPU, under a minute on 2 cores). Trains on the built-in digits
at 32x32 with the fixed stratified split of `ganforge.metrics.digits_classifier.digits_split`, using light
augmentation so GAN samples are classified robustly: integer shifts, scale/rotation, brightness, blur,
down-and-up resampling and noise. Reports train and held-out test accuracy and stores them, with the seed, date
and script name, as JSON in the safetensors metadata.

    .venv/bin/python scripts/train_digits_classifier.py [--epochs 30] [--seed 0] [--out PATH]
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save

from ganforge.atomic import atomic_open
from ganforge.data.builtin import digit_images
from ganforge.metrics.digits_classifier import (METADATA_KEY, RESOLUTION, WEIGHTS_PATH, DigitsClassifier,
                                                digits_split, to_classifier_input)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Float [N, 1, 32, 32] in [-1, 1] -> randomly shifted, scaled, rotated, re-lit, blurred, noisy copies."""
    n = x.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=generator)

    pixels = (x + 1) / 2  # [0, 1], background 0
    # Affine: scale 0.85-1.15, rotation +-10 degrees, integer shift of up to 3 px each way.
    scale, angle = uniform(0.85, 1.15), uniform(-math.pi / 18, math.pi / 18)
    shift = torch.randint(-3, 4, (n, 2), generator=generator).float() * (2 / RESOLUTION)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, -shift[:, 0]], 1), torch.stack([sin, cos, -shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    pixels = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Down-and-up resampling for a quarter of the images (inputs from 16x16 or blurry generators).
    low_res = torch.rand(n, generator=generator) < 0.25
    if low_res.any():
        small = F.interpolate(pixels[low_res], size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
        pixels[low_res] = F.interpolate(small, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
    # Gaussian blur (3x3, sigma 0.3-1.0) for a quarter of the images.
    sigma = uniform(0.3, 1.0, 1)  # [N, 1]
    taps = torch.exp(-torch.tensor([1.0, 0.0, 1.0]) ** 2 / (2 * sigma ** 2))  # [N, 3]
    taps = taps / taps.sum(1, keepdim=True)
    kernels = (taps[:, :, None] * taps[:, None, :])[:, None]  # [N, 1, 3, 3]
    blurred = F.conv2d(pixels.transpose(0, 1), kernels, padding=1, groups=n).transpose(0, 1)
    blur = (torch.rand(n, generator=generator) < 0.25)[:, None, None, None]
    pixels = torch.where(blur, blurred, pixels)
    # Brightness/contrast 0.7-1.3, small offset, noise std up to 0.05, then uint8 quantisation.
    pixels = pixels * uniform(0.7, 1.3, 1, 1, 1) + uniform(-0.05, 0.05, 1, 1, 1)
    pixels = pixels + uniform(0.0, 0.05, 1, 1, 1) * torch.randn(pixels.shape, generator=generator)
    pixels = (pixels.clamp(0, 1) * 255).round() / 255
    return pixels * 2 - 1


@torch.no_grad()
def accuracy(model: DigitsClassifier, x: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    return (model(x)[1].argmax(1) == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()

    images, labels = digit_images(RESOLUTION)  # uint8 [1797, 32, 32], [1797]
    train_idx, test_idx = digits_split(labels)
    x = to_classifier_input(torch.from_numpy(images)[:, None])  # [1797, 1, 32, 32] in [-1, 1]
    y = torch.from_numpy(labels)
    x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]

    model = DigitsClassifier()
    batch = 64
    steps = args.epochs * math.ceil(len(x_train) / batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), batch):
            index = order[start:start + batch]
            _, logits = model(augment(x_train[index], generator))
            loss = F.cross_entropy(logits, y_train[index], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  loss {loss.item():.4f}  test accuracy {accuracy(model, x_test, y_test):.4f}")

    train_accuracy, test_accuracy = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
    seconds = time.perf_counter() - started
    record = {
        "test_accuracy": round(test_accuracy, 4), "train_accuracy": round(train_accuracy, 4),
        "train_size": len(train_idx), "test_size": len(test_idx), "seed": args.seed, "epochs": args.epochs,
        "date": datetime.date.today().isoformat(), "script": "scripts/train_digits_classifier.py",
        "torch": torch.__version__, "seconds": round(seconds, 1),
    }
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    with atomic_open(args.out) as handle:
        handle.write(save(state, metadata={METADATA_KEY: json.dumps(record)}))
    print(f"train accuracy {train_accuracy:.4f}  test accuracy {test_accuracy:.4f}  ({seconds:.1f} s)")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

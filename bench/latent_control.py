"""Latent control measured: projection quality vs steps (z, w, w+) on held-out images, seconds per image, and how
cleanly the directions of each method (sefa, ganspace, supervised) change one known factor of generated images.

    PYTHONPATH=src OMP_NUM_THREADS=1 python bench/latent_control.py --out bench/results/latent

Stages (each reuses what earlier runs left in --out): `train` trains three small CPU models (digits DCGAN and
StyleGAN2 on the train split of the built-in digits, StyleGAN2 on `shapes`), `project` projects held-out images
(the digits test split; shapes drawn with another seed), `directions` finds and scores directions and writes the
strips. Figures are printed as Markdown tables and saved to --out/results.json.

Factors on generated shapes are read off the images: kind by a small classifier trained here on `shapes` (its
held-out accuracy is printed), colour as the mean foreground RGB, size as the foreground area, position as its
centroid (foreground: pixels whose brightest channel is >= 100; the dataset draws backgrounds < 90 and shapes
>= 110). An edit "changes" a factor when, against the unedited image of the same seed: the kind differs; the
colour moves > 40 (RGB distance, 0..255); the area changes > 25%; the centroid moves > 10% of the side. On digits
the factor is the class the shipped digits classifier reads.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import ganforge
from ganforge.data.builtin import SHAPE_NAMES, digit_images, shapes
from ganforge.imaging import make_grid, save_png
from ganforge.latent import edit_strip, find_directions, project_many, save_directions
from ganforge.metrics.digits_classifier import digits_split
from ganforge.metrics.extractors import build_extractor

RESOLUTION = 16  # small enough to train usable models in a few loaded-CPU minutes
SMALL_STYLEGAN = {
    "model.g_channels": 16,
    "model.d_channels": 16,
    "model.z_dim": 64,
    "model.w_dim": 64,
    "model.mapping_layers": 2,
}
MODELS = {  # name -> (data, preset, overrides)
    "digits-dcgan": (
        "digits",
        None,
        {"model.name": "dcgan", "model.z_dim": 32, "model.g_channels": 32, "model.d_channels": 32, "train.batch": 32},
    ),
    "digits-stylegan2": ("digits", "stylegan2-32", SMALL_STYLEGAN),
    "shapes-stylegan2": ("shapes", "stylegan2-32", SMALL_STYLEGAN),
}
SUPERVISED_FACTOR = {"digit-3": "digit", "circle": "kind", "size": "size", "position-x": "position", "red": "colour"}
FOREGROUND, COLOUR_CHANGE, AREA_CHANGE, MOVE_CHANGE = 100, 40.0, 0.25, 0.10


def digits_train_zip(root: Path) -> Path:
    """The digits classifier's train split as a zip of PNGs (the test split stays held out for projection)."""
    path = root / f"digits-train-{RESOLUTION}.zip"
    if not path.is_file():
        images, labels = digit_images(RESOLUTION)
        train, _ = digits_split(labels)
        root.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            for index in train:
                buffer = io.BytesIO()
                Image.fromarray(images[index]).save(buffer, format="PNG")
                archive.writestr(f"{labels[index]}/{index:04d}.png", buffer.getvalue())
    return path


def train_models(root: Path, kimg: float, minutes: float) -> dict[str, Path]:
    checkpoints = {}
    for name, (data, preset, overrides) in MODELS.items():
        run = root / "runs" / name
        found = sorted(run.glob("*/checkpoint-*.pt"))
        if not found:
            source = str(digits_train_zip(root)) if data == "digits" else data
            start = time.perf_counter()
            result = ganforge.train(
                overrides={
                    **overrides,
                    "data.source": source,
                    "data.resolution": RESOLUTION,
                    "train.total_kimg": kimg,
                    "train.minutes": minutes,
                    "train.snapshot_every_kimg": kimg,
                    "train.out": str(run),
                    "train.grid_size": 8,
                },
                preset=preset,
                progress=False,
            )
            print(f"trained {name}: {time.perf_counter() - start:.0f} s")
            found = [Path(result.checkpoint)]
        checkpoints[name] = found[-1]
    return checkpoints


def held_out(data: str, count: int) -> torch.Tensor:
    """uint8 [count, C, R, R] images the models never saw: the digits test split (classes spread), or shapes
    drawn with another seed."""
    if data == "digits":
        images, labels = digit_images(RESOLUTION)
        _, test = digits_split(labels)
        picks = test[np.linspace(0, len(test) - 1, count).round().astype(int)]
        return torch.from_numpy(images[picks])[:, None]
    return shapes(RESOLUTION, size=count, seed=999).images


def enlarge(tiles: torch.Tensor, columns: int, path: Path, factor: int = 3) -> Path:
    """A grid of uint8 tiles [N, C, H, W], scaled up `factor` times (nearest) so small images can be looked at."""
    grid = make_grid(tiles, columns=columns)
    big = np.asarray(
        Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).resize(
            (grid.shape[1] * factor, grid.shape[0] * factor), Image.Resampling.NEAREST
        )
    )
    return save_png(big[:, :, None] if big.ndim == 2 else big, path)


def measure_projection(checkpoints: dict[str, Path], root: Path, count: int, step_counts: list[int]) -> list[dict]:
    rows = []
    print("\n| model | space | start | steps | PSNR dB | SSIM | s / image |\n|---|---|---|---|---|---|---|")
    for name, checkpoint in checkpoints.items():
        generator = ganforge.load(checkpoint)
        targets = held_out(name.split("-")[0], count)
        spaces = ["w", "w+"] if generator.has_styles else ["z"]
        runs = [(space, steps, 0) for space in spaces for steps in step_counts]
        runs.append((spaces[0], step_counts[len(step_counts) // 2], 256))  # the search start, at the middle count
        final = {}
        for space, steps, init in runs:
            start = time.perf_counter()
            fits = project_many(generator, list(targets), space=space, steps=steps, init_samples=init)
            seconds = (time.perf_counter() - start) / count
            row = {
                "model": name,
                "space": space,
                "start": f"best of {init}" if init else "mean",
                "steps": steps,
                "psnr": float(np.mean([f.scores["psnr"] for f in fits])),
                "ssim": float(np.mean([f.scores["ssim"] for f in fits])),
                "seconds_per_image": seconds,
                "loss": fits[0].loss,
            }
            rows.append(row)
            print(
                f"| {name} | {space} | {row['start']} | {steps} | {row['psnr']:.2f} | {row['ssim']:.3f} | "
                f"{seconds:.2f} |",
                flush=True,
            )
            if steps == step_counts[-1] and not init:
                final[space] = torch.stack([f.image for f in fits])
        tiles = torch.stack([targets, *final.values()], dim=1).flatten(0, 1)  # per image: target, then each space
        enlarge(tiles, columns=len(tiles) // count * 4, path=root / f"projection-{name}.png")
    return rows


class ShapeKind(nn.Module):
    """A small CNN that reads the kind of a generated shape (trained here on `shapes`)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, len(SHAPE_NAMES)),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, 32, 32] -> logits [N, kinds]."""
        return self.body(images.float() / 127.5 - 1)


def train_kind_classifier(epochs: int = 4) -> tuple[ShapeKind, float]:
    torch.manual_seed(0)
    train, test = shapes(RESOLUTION, size=6000, seed=0), shapes(RESOLUTION, size=1000, seed=7)
    model = ShapeKind()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(train.images)).split(64):
            loss = F.cross_entropy(model(train.images[batch]), train.labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(test.images).argmax(1) == test.labels).float().mean())
    return model, accuracy


def shape_factors(images: torch.Tensor, kind: ShapeKind) -> dict[str, torch.Tensor]:
    """uint8 [N, 3, H, W] -> kind [N], colour [N, 3], area [N], centre [N, 2] (fractions of the side)."""
    mask = (images.max(1).values >= FOREGROUND).float()  # [N, H, W]
    area = mask.mean((1, 2))
    weight = mask / mask.sum((1, 2), keepdim=True).clamp_min(1)
    side = images.shape[-1]
    coords = (torch.arange(side).float() + 0.5) / side
    centre = torch.stack([(weight.sum(1) * coords).sum(1), (weight.sum(2) * coords).sum(1)], 1)  # [N, (x, y)]
    colour = (images.float() * weight[:, None]).sum((2, 3))
    with torch.no_grad():
        return {"kind": kind(images).argmax(1), "colour": colour, "size": area, "position": centre}


def shape_changes(before: dict, after: dict) -> dict[str, torch.Tensor]:
    """Which factors an edit changed, per image: bool [N] each."""
    return {
        "kind": after["kind"] != before["kind"],
        "colour": (after["colour"] - before["colour"]).norm(dim=1) > COLOUR_CHANGE,
        "size": (after["size"] - before["size"]).abs() > AREA_CHANGE * before["size"].clamp_min(1e-3),
        "position": (after["position"] - before["position"]).norm(dim=1) > MOVE_CHANGE,
    }


def edited(generator, seeds: range, vector: torch.Tensor, strengths: list[float]) -> torch.Tensor:
    """uint8 [S, len(strengths), C, H, W]: each seed's image edited at each strength."""
    return torch.stack([edit_strip(generator, generator.latents([seed]), "z", vector, strengths) for seed in seeds])


def find_all(generator, classifiers: dict) -> list:
    found = [find_directions(generator, "sefa", num=8), find_directions(generator, "ganspace", num=8, samples=5000)]
    for label, classifier in classifiers.items():
        found.append(
            find_directions(generator, "supervised", classifier=classifier, samples=2000, keep=0.1, name=label)
        )
    return found


def measure_directions(checkpoints: dict[str, Path], root: Path, seed_count: int) -> dict:
    seeds = range(10_000, 10_000 + seed_count)  # not the seeds the supervised methods sampled
    report: dict = {"rows": [], "supervised": []}
    digits = build_extractor("digits")
    read_digit = lambda images: digits(images)[1].argmax(1)  # noqa: E731
    kind, kind_accuracy = train_kind_classifier()
    report["kind_classifier_accuracy"] = kind_accuracy
    print(f"\nshape-kind classifier, held-out accuracy {kind_accuracy:.3f}")
    print(
        "\n| model | method | factor | best direction | target changes | others change (max) |\n|---|---|---|---|---|---|"
    )
    for name, checkpoint in checkpoints.items():
        generator = ganforge.load(checkpoint)
        if name.startswith("digits"):
            classifiers = {"digit-3": lambda images: digits(images)[1].log_softmax(1)[:, 3]}
        else:
            classifiers = {
                "circle": lambda images: kind(images).log_softmax(1)[:, 0].detach(),
                "size": lambda images: shape_factors(images, kind)["size"],
                "position-x": lambda images: shape_factors(images, kind)["position"][:, 0],
                "red": lambda images: shape_factors(images, kind)["colour"] @ torch.tensor([1.0, -0.5, -0.5]),
            }
        for directions in find_all(generator, classifiers):
            tag = directions.method if directions.method != "supervised" else f"supervised-{directions.names[0]}"
            save_directions(root / f"directions-{name}-{tag}.npz", directions)
            if directions.method == "supervised":
                report["supervised"].append({"model": name, "name": directions.names[0], **directions.scores})
            effects = []
            for vector, label in zip(directions.vectors, directions.names):
                images = edited(generator, seeds, vector, [-3.0, 0.0, 3.0])  # [S, 3, C, H, W]
                if name.startswith("digits"):
                    classes = read_digit(images.flatten(0, 1)).view(len(seeds), 3)
                    changed = {"digit": torch.cat([classes[:, 0] != classes[:, 1], classes[:, 2] != classes[:, 1]])}
                    if label == "digit-3":
                        changed["to-3"] = classes[:, 2][classes[:, 1] != 3] == 3
                else:
                    factors = [shape_factors(images[:, k], kind) for k in range(3)]
                    plus, minus = shape_changes(factors[1], factors[2]), shape_changes(factors[1], factors[0])
                    changed = {factor: torch.cat([minus[factor], plus[factor]]) for factor in plus}
                effects.append((label, {factor: float(flags.float().mean()) for factor, flags in changed.items()}))
            report["rows"] += report_best(name, directions, effects, SUPERVISED_FACTOR.get(directions.names[0]))
            strip_rows = [
                edited(generator, range(8), directions.pick(label)[0], [-3, -2, -1, 0, 1, 2, 3])
                for label, _ in effects[:4]
            ]
            enlarge(torch.cat(strip_rows).flatten(0, 1), columns=7, path=root / f"edits-{name}-{tag}.png")
    return report


def report_best(model: str, directions, effects: list[tuple[str, dict]], only: str | None) -> list[dict]:
    """For each factor (or `only` the one a supervised boundary is for), the direction that changes it most cleanly
    (target rate minus the largest other rate)."""
    rows = []
    factors = [only] if only else [factor for factor in effects[0][1] if factor != "to-3"]
    for factor in factors:

        def margin(effect):
            others = [rate for other, rate in effect[1].items() if other not in (factor, "to-3")]
            return effect[1][factor] - max(others, default=0.0)

        label, rates = max(effects, key=margin)
        others = max([rate for other, rate in rates.items() if other not in (factor, "to-3")], default=0.0)
        row = {
            "model": model,
            "method": directions.method,
            "factor": factor,
            "direction": label,
            "target": rates[factor],
            "others_max": others,
            **({"to_3": rates["to-3"]} if "to-3" in rates else {}),
        }
        rows.append(row)
        extra = f" (non-3 -> 3 at +3: {row['to_3']:.2f})" if "to_3" in row else ""
        other_text = f"{others:.2f}" if len(rates) > 1 + ("to-3" in rates) else "-"
        print(
            f"| {model} | {directions.method} | {factor} | {label} | {rates[factor]:.2f}{extra} | {other_text} |",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/results/latent"))
    parser.add_argument("--stages", default="train,project,directions")
    parser.add_argument("--kimg", type=float, default=30.0, help="training length of each model")
    parser.add_argument("--minutes", type=float, default=6.0, help="training time cap of each model")
    parser.add_argument("--images", type=int, default=8, help="held-out images projected per model")
    parser.add_argument("--steps", default="50,150,400", help="projection step counts")
    parser.add_argument("--seeds", type=int, default=200, help="seeds edited per direction")
    args = parser.parse_args()
    torch.set_num_threads(1)
    stages = args.stages.split(",")
    checkpoints = train_models(args.out, args.kimg, args.minutes)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if "project" in stages:
        results["projection"] = measure_projection(
            checkpoints, args.out, args.images, [int(s) for s in args.steps.split(",")]
        )
    if "directions" in stages:
        results["directions"] = measure_directions(checkpoints, args.out, args.seeds)
    results_path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

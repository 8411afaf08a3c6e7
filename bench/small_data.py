"""Small data: FID against ALL of a dataset's images vs kimg, for a DCGAN (or --preset: StyleGAN2, R3GAN) trained on
a subset of 100 / 500 / 2000 of them with no augmentation, DiffAugment or ADA, several seeds; shows where the
unaugmented discriminator overfits (its FID stops improving or rises while r_t = E[sign(D(real))] climbs) and what
augmentation buys.

    python bench/small_data.py --data digits --images 100,500,1797 --seeds 2 --kimg 40 --out bench-small
    python bench/small_data.py --data shapes --images 100,500,2000 ...     # two processes on two cores: two --data
    python bench/small_data.py --data lfw ...                             # scikit-image's 100 face photos
    python bench/small_data.py --data shapes --images 500 --preset r3gan-32-cpu --augment diffaug ...
    python bench/small_data.py --data shapes --images 500 --preset stylegan2-32 --augment ada ...  # same OUT: one table

As in Karras et al. 2020 (ADA), FID compares the generator with every available image of the dataset, not only the
subset it saw, so copying the subset does not score well; the report gives what it does score ('copy', the subset's
own FID against all images), the floor a memorising generator would reach. Feature space: the shipped `digits`
classifier for digits; for shapes and lfw a SmallCNN classifier trained here on the dataset's own labels (shapes: 5
kinds, 10 000 images; lfw: face / non-face, 200 photos), its pooled 128-d features. No Inception here (no download on
this machine), so these FIDs compare runs with each other, not with published numbers.

Each run writes its curve to OUT/curves/<data>-<model>-<images>-<augment>-s<seed>.json (<model>: the preset, or
dcgan); finished runs are skipped on a re-run, and OUT/<data>.md (best FID per run, mean ± 95% t-interval over seeds,
none/augmented ratio within a model) and OUT/<data>.png (FID vs kimg, one panel per subset size, one line per model
and augmentation, mean over seeds) are rewritten from all curves.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import ganforge
from ganforge.artifacts import load
from ganforge.artifacts.checkpoint import list_checkpoints
from ganforge.atomic import write_text
from ganforge.classifier import SmallCNN, TrainSpec, train_classifier
from ganforge.config import PRESETS, DataConfig
from ganforge.data import build
from ganforge.experiments.plot import line_plot
from ganforge.experiments.report import mean_interval
from ganforge.imaging import save_png
from ganforge.metrics import Evaluator
from ganforge.metrics.evaluate import generator_batches
from ganforge.metrics.extractors import register_extractor
from ganforge.studio.runs import read_jsonl

RESOLUTION = 32
GAN = {  # the default model; with --preset only the resolution stays
    "model.name": "dcgan",
    "model.g_channels": 32,
    "model.d_channels": 32,
    "train.batch": 32,
    "data.resolution": RESOLUTION,
}
AUGMENTS = ("none", "diffaug", "ada")


class PooledFeatures(nn.Module):
    """A trained SmallCNN's body, globally average-pooled: float images in [-1, 1] -> [N, 128] features."""

    def __init__(self, model: SmallCNN):
        super().__init__()
        self.body = model.body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


def reference(data: str, out: Path) -> tuple[str, object, str]:
    """(training source, the full reference dataset, extractor name) of a bench dataset."""
    if data == "digits":
        return "digits", build(DataConfig(source="digits", resolution=RESOLUTION)), "digits"
    labelled = build(DataConfig(source=data, resolution=RESOLUTION, cond=True), cache=False)
    images, labels = labelled.batch(torch.arange(len(labelled)))
    classifier = train_classifier(
        (images, labels),
        None,
        labelled.info.num_classes,
        augment=False,
        seed=0,
        spec=TrainSpec(steps=1500 if data == "shapes" else 600, width=32),
    )
    register_extractor(
        f"{data}-classifier",
        PooledFeatures(classifier),
        128,
        description=f"SmallCNN trained on {data}'s labels by bench/small_data.py",
    )
    if data != "lfw":
        return data, labelled, f"{data}-classifier"
    faces = out / "lfw-faces"  # the GAN learns faces only: scikit-image's 100 face photos
    if not faces.is_dir():
        for index in torch.nonzero(labels == 0).flatten().tolist():
            save_png(images[index].permute(1, 2, 0).numpy(), faces / f"{index:03d}.png")
    face_set = build(DataConfig(source=str(faces), resolution=RESOLUTION, channels=1))
    return str(faces), face_set, "lfw-classifier"


def stats_at(rows: list[dict], kimg: float) -> dict:
    """The last stats.jsonl row at or before `kimg` (r_t, augment_p, losses)."""
    before = [row for row in rows if row.get("kimg", 0) <= kimg + 1e-6]
    return before[-1] if before else {}


def copy_fid(source: str, images: int, evaluator: Evaluator, num: int) -> float:
    """FID of the training subset itself (cycled to `num` images) against all images: what a generator that only
    memorised the subset would score."""
    subset = build(DataConfig(source=source, resolution=RESOLUTION, subset=images))
    order = torch.arange(num) % len(subset)
    return float(evaluator(subset.batch(order[start : start + 250])[0] for start in range(0, num, 250))["fid"])


def curve_path(out: Path, data: str, model: str, images: int, augment: str, seed: int) -> Path:
    return out / "curves" / f"{data}-{model}-{images}-{augment}-s{seed}.json"


def run_one(
    data: str, source: str, images: int, full: int, augment: str, seed: int, args, evaluator: Evaluator, out: Path
) -> None:
    """Train one run, score each of its snapshots, write its curve to OUT/curves and delete the run folder."""
    model = args.preset or "dcgan"
    path = curve_path(out, data, model, images, augment, seed)
    runs = out / "runs"
    overrides = {
        **({"data.resolution": RESOLUTION} if args.preset else GAN),
        "data.source": source,
        "data.subset": images if images < full else 0,
        "augment.policy": augment,
        "augment.ada_kimg": args.ada_kimg,
        "train.total_kimg": args.kimg,
        "train.snapshot_every_kimg": args.eval_kimg,
        "train.keep_checkpoints": 10_000,
        "train.seed": seed,
        "train.out": str(runs),
        "train.name": path.stem,
    }
    started = time.process_time()
    result = ganforge.train(overrides=overrides, preset=args.preset, progress=False)
    train_cpu = time.process_time() - started
    stats = read_jsonl(result.run_dir / "stats.jsonl")
    curve = []
    for checkpoint in list_checkpoints(result.run_dir):
        generator = load(checkpoint)
        with torch.no_grad():
            fid = evaluator(generator_batches(generator, args.num, batch_size=250))["fid"]
        row = stats_at(stats, generator.kimg)
        curve.append(
            {
                "kimg": round(generator.kimg, 3),
                "fid": round(float(fid), 4),
                "r_t": row.get("r_t"),
                "augment_p": row.get("augment_p"),
            }
        )
    record = {
        "data": data,
        "model": model,
        "images": images,
        "augment": augment,
        "seed": seed,
        "curve": curve,
        "train_cpu_s": round(train_cpu, 1),
        "eval_cpu_s": round(time.process_time() - started - train_cpu, 1),
        "settings": {k: v for k, v in overrides.items() if k not in ("train.out", "train.name")},
    }
    shutil.rmtree(result.run_dir)  # checkpoints of every snapshot: gigabytes over a whole grid
    write_text(path, json.dumps(record, indent=1) + "\n")
    best = min(curve, key=lambda p: p["fid"])
    print(
        f"{path.stem}: best FID {best['fid']:.3f} at {best['kimg']:g} kimg, last {curve[-1]['fid']:.3f} "
        f"(r_t {curve[-1]['r_t']}, p {curve[-1]['augment_p']}); {train_cpu:.0f} CPU-s training",
        flush=True,
    )


def _mean(values: list[float]) -> str:
    return f"{np.mean(values):.2f}" if values else "–"


def report(data: str, out: Path, copies: dict[int, float]) -> None:
    """OUT/<data>.md and OUT/<data>.png from every curve of `data` found under OUT/curves; `copies`: subset size ->
    FID of the subset itself (a line in the plot, the 'copy' column)."""
    records = [json.loads(p.read_text()) for p in sorted((out / "curves").glob(f"{data}-*.json"))]
    records = [r | {"model": r.get("model", "dcgan")} for r in records if r["data"] == data]  # older curves: DCGAN
    if not records:
        return
    models = sorted({r["model"] for r in records})
    sizes = sorted({r["images"] for r in records})
    lines = [
        f"# Small data: {data}",
        "",
        "Best FID over the run (against all of the dataset's images; lower is better), mean ± 95% t-interval "
        "over seeds, the kimg where it was reached, and the last evaluation's FID and r_t. 'copy': the FID of "
        "the training subset itself, what a generator that memorised it would score.",
        "",
        "| images | model | augment | seeds | best FID | at kimg | last FID | last r_t | ADA p | none / this | copy |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    panels = []
    for size in sizes:
        series = {}
        for model, augment in ((m, a) for m in models for a in AUGMENTS):
            runs = [r for r in records if (r["images"], r["model"], r["augment"]) == (size, model, augment)]
            if not runs:
                continue
            best_none = [
                min(p["fid"] for p in r["curve"])
                for r in records
                if (r["images"], r["model"], r["augment"]) == (size, model, "none")
            ]
            bests = [min(p["fid"] for p in r["curve"]) for r in runs]
            at = [min(r["curve"], key=lambda p: p["fid"])["kimg"] for r in runs]
            last = [r["curve"][-1] for r in runs]
            mean, half, n = mean_interval(bests)
            ratio = f"{np.mean(best_none) / mean:.2f}×" if best_none and augment != "none" else ""
            r_t = [p["r_t"] for p in last if p["r_t"] is not None]
            p_ada = [p["augment_p"] for p in last if p["augment_p"] is not None]
            copy = f"{copies[size]:.3f}" if size in copies else "–"
            best = f"{mean:.3f} ± {half:.3f}" if n > 1 else f"{mean:.3f}"  # one seed: no interval
            lines.append(
                f"| {size} | {model} | {augment} | {n} | {best} | {np.mean(at):.0f} | "
                f"{np.mean([p['fid'] for p in last]):.3f} | {_mean(r_t)} | {_mean(p_ada)} | {ratio} | "
                f"{copy} |"
            )
            kimgs = sorted({round(p["kimg"]) for r in runs for p in r["curve"]})  # snapshots land a batch apart
            series[augment if len(models) == 1 else f"{model}, {augment}"] = {
                k: mean_interval([p["fid"] for r in runs for p in r["curve"] if round(p["kimg"]) == k])[:2]
                for k in kimgs
            }
        if size in copies:  # a flat line: the memorising generator's score
            kimgs = sorted({k for points in series.values() for k in points})
            series["copy of the subset"] = {k: (copies[size], 0.0) for k in kimgs}
        panel = out / f".{data}-{size}.png"
        line_plot(
            series,
            panel,
            title=f"{data}: {size} training images",
            x_label="kimg",
            y_label="FID (log scale)",
            y_max=None,
            log_y=True,
        )
        panels.append(panel)
    write_text(out / f"{data}.md", "\n".join(lines) + "\n")
    tiles = [Image.open(p) for p in panels]
    sheet = Image.new("RGB", (sum(t.width for t in tiles), max(t.height for t in tiles)), "white")
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width
    sheet.save(out / f"{data}.png")
    for panel in panels:
        panel.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, choices=("digits", "shapes", "lfw"))
    parser.add_argument("--images", default="100,500,2000", help="subset sizes (capped at the dataset's size)")
    parser.add_argument("--augment", default=",".join(AUGMENTS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--kimg", type=float, default=40.0, help="training length of every run")
    parser.add_argument("--eval-kimg", type=float, default=4.0, help="FID every this many kimg")
    parser.add_argument(
        "--ada-kimg",
        type=float,
        default=20.0,
        help="ADA speed (kimg for p to go 0 -> 1): the default 500 cannot move p in a 40-kimg run",
    )
    parser.add_argument("--num", type=int, default=2000, help="generated images per FID")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="train this preset's model instead of the DCGAN-32 (e.g. stylegan2-32, r3gan-32-cpu)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench-small")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    source, full_set, extractor = reference(args.data, out)
    evaluator = Evaluator(full_set, ("fid",), extractor=extractor, num_real=10000)
    full = len(full_set)
    copies = {}
    for images in sorted({min(int(n), full) for n in args.images.split(",")}):
        if images < full:
            copies[images] = copy_fid(source, images, evaluator, args.num)
            print(f"{args.data}-{images}: the subset itself scores FID {copies[images]:.3f} against all {full} images")
        for augment in args.augment.split(","):
            for seed in range(args.seeds):
                if curve_path(out, args.data, args.preset or "dcgan", images, augment, seed).is_file():
                    continue
                run_one(args.data, source, images, full, augment, seed, args, evaluator, out)
                report(args.data, out, copies)
    report(args.data, out, copies)
    print(f"report: {out / (args.data + '.md')}, {out / (args.data + '.png')}")


if __name__ == "__main__":
    sys.exit(main())

"""`ganforge experiment augment`: does synthetic data from a class-conditional GAN help a classifier trained on a
small labelled set? (Frid-Adar et al. 2018 report that it does for liver lesions; Ravuri & Vinyals 2019 find that
classifiers trained on samples alone lose accuracy, the Classification Accuracy Score.)

For every images-per-class size and seed: a stratified subset is drawn (the rest is the test set), a conditional
GAN is trained on that subset only, and the same small classifier is trained for the same number of steps on
(a) real, (b) real + classic augmentation, (c) real + synthetic, (d) real + classic + synthetic, (e) synthetic only,
then scored on the test set. The confident-sample filter uses arm (b)'s classifier, which saw the subset only.
Rows go to results.csv as each cell finishes; results.md and plot.png are rewritten after every cell.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_text
from ..classifier import TrainSpec, accuracy, train_classifier
from ..config import DataConfig
from ..errors import ConfigError
from ..imaging import save_png
from ..synth import KeepFn, check_confidence, confident_filter, generate_labelled
from .report import ARMS, write_report
from .split import check_class_sizes, stratified_split

CSV_FIELDS = (
    "dataset",
    "per_class",
    "seed",
    "arm",
    "accuracy",
    "real_images",
    "synthetic_images",
    "synthetic_dropped",
    "test_images",
    "gan_kimg",
    "gan_label_acc",
    "gan_cpu_s",
    "arm_cpu_s",
)
MODELS = ("dcgan", "stylegan2")
SYNTH_SEED = 10**8  # synthetic latents come from seeds far from anything the GAN saw in training
LABEL_ACC_PER_CLASS = 100  # unfiltered samples per class behind each GAN's label fidelity

# Small-data GAN settings per --model, chosen to train in about a minute per subset on one CPU core at 16-32 px.
GAN_SETTINGS = {
    "dcgan": {
        "model.g_channels": 32,
        "model.d_channels": 32,
        "model.d_norm": "spectral",
        "loss.name": "hinge",
        "train.batch": 32,
    },
    "stylegan2": {
        "model.name": "stylegan2",
        "model.g_channels": 32,
        "model.d_channels": 32,
        "model.z_dim": 64,
        "model.w_dim": 64,
        "model.mapping_layers": 2,
        "loss.r1_gamma": 0.01,
        "loss.r1_interval": 16,
        "optim.lr": 0.0025,
        "optim.betas": (0.0, 0.99),
        "train.batch": 32,
    },
}


@dataclass(frozen=True)
class AugmentSettings:
    """Everything that defines the experiment; saved as settings.json so a re-run continues only the same one."""

    data: str  # built-in name or labelled folder
    sizes: tuple[int, ...]  # training images per class
    seeds: int  # repetitions per size (seeds 0..seeds-1)
    model: str = "dcgan"  # conditional GAN: dcgan | stylegan2
    resolution: int = 16  # images are read at this side length
    gan_kimg: float = 20.0  # GAN training length per subset, thousands of images shown to D
    minutes: float = 0.0  # also stop each GAN after this many minutes (0: no limit)
    gan_augment: str = "diffaug"  # DiffAugment/ADA policy for D on the tiny subset
    synthetic_per_class: int = 100  # synthetic images per class
    synthetic_fraction: float = 0.25  # share of each classifier batch that is synthetic in arms (c), (d)
    filter: str = "confident"  # confident | none: keep only samples arm (b)'s classifier is sure about
    confidence: float = 0.8  # probability threshold of the confident filter
    classifier_steps: int = 300  # optimiser steps of every classifier
    classifier_width: int = 16  # SmallCNN width

    def spec(self) -> TrainSpec:
        return TrainSpec(
            steps=self.classifier_steps, width=self.classifier_width, synthetic_fraction=self.synthetic_fraction
        )

    def validate(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"--model {self.model!r}: choose one of {', '.join(MODELS)}")
        if self.seeds < 1:
            raise ConfigError(f"--seeds {self.seeds}: must be >= 1")
        if self.filter not in ("none", "confident"):
            raise ConfigError(f"--filter {self.filter!r}: choose confident or none")
        if not 0 < self.synthetic_fraction < 1:
            raise ConfigError(f"--synthetic-fraction {self.synthetic_fraction}: must be between 0 and 1")
        if self.synthetic_per_class < 1:
            raise ConfigError(f"--synthetic-per-class {self.synthetic_per_class}: must be >= 1")
        if self.gan_kimg <= 0 or self.minutes < 0:
            raise ConfigError("--kimg must be > 0 and --minutes >= 0")
        if self.classifier_steps < 1:
            raise ConfigError(f"--classifier-steps {self.classifier_steps}: must be >= 1")
        if self.filter == "confident":
            check_confidence(self.confidence)


def load_labelled(source: str, resolution: int) -> tuple[torch.Tensor, np.ndarray, tuple[str, ...]]:
    """All images of a labelled dataset as uint8 [N, C, H, W], labels [N] and class names."""
    from ..data import build

    dataset = build(DataConfig(source=source, resolution=resolution, cond=True))
    images, labels = dataset.batch(torch.arange(len(dataset)))
    return images, labels.numpy(), dataset.info.class_names


def write_subset(images: torch.Tensor, labels: np.ndarray, class_names: tuple[str, ...], folder: Path) -> Path:
    """The training subset as a labelled folder (one sub-folder per class): the only data the GAN is given."""
    if folder.exists():
        shutil.rmtree(folder)
    for index, (image, label) in enumerate(zip(images, labels)):
        save_png(image.permute(1, 2, 0).numpy(), folder / class_names[label] / f"{index:05d}.png")
    return folder


def gan_overrides(
    settings: AugmentSettings, subset: str, channels: int | None, out: str, seed: int, device: str
) -> dict:
    """The training settings of one cell's GAN (on the subset folder, into `out`)."""
    return {
        **GAN_SETTINGS[settings.model],
        "data.source": subset,
        "data.resolution": settings.resolution,
        "data.channels": channels,
        "data.cond": True,
        "augment.policy": settings.gan_augment,
        "train.total_kimg": settings.gan_kimg,
        "train.minutes": settings.minutes,
        "train.snapshot_every_kimg": settings.gan_kimg,
        "train.keep_checkpoints": 1,
        "train.grid_size": 100,
        "train.seed": seed,
        "train.out": out,
        "train.name": "gan",
        "train.device": device,
    }


def check_gan_settings(settings: AugmentSettings, device: str) -> None:
    """The GANs' config checked as `train` will check it (values, --gan-augment, --resolution for the model, --device)
    before the experiment writes anything."""
    from ..config import resolve
    from ..training.setup import check_model_resolution, check_registered

    cfg = resolve(gan_overrides(settings, settings.data, None, ".", 0, device))
    check_registered(cfg)
    check_model_resolution(cfg)


def train_gan(settings: AugmentSettings, subset: Path, channels: int, out: Path, seed: int, device: str):
    """A class-conditional GAN trained on the subset folder only; returns the loaded EMA generator."""
    from .. import train
    from ..artifacts import load

    result = train(overrides=gan_overrides(settings, str(subset), channels, str(out), seed, device), progress=False)
    return load(result.checkpoint, "cpu"), result.kimg


def gan_label_fidelity(generator) -> float | None:
    """Label fidelity of a cell's generator (the `label_acc` metric): the share of LABEL_ACC_PER_CLASS unfiltered
    samples per class that the shipped classifier of the data's domain reads as their class; None where no shipped
    classifier knows the classes (e.g. your own folders)."""
    from ..metrics.label_fidelity import label_classifier, label_fidelity
    from ..metrics.measures import LABEL_ACC

    names = tuple(generator.dataset.class_names)
    try:
        classifier = label_classifier(names)
    except ConfigError:
        return None
    samples = generate_labelled(generator, LABEL_ACC_PER_CLASS, seed=SYNTH_SEED)
    return label_fidelity(classifier.predict(samples.images), samples.labels, names, classifier.class_names)[LABEL_ACC]


def data_labels(generator_names: tuple[str, ...], data_names: tuple[str, ...]) -> torch.Tensor:
    """[num_classes] data class index of each generator class: the subset folder's classes are sorted by name,
    the data's need not be (built-in shapes are not)."""
    return torch.tensor([data_names.index(name) for name in generator_names])


def in_generator_labels(keep: KeepFn, to_data: torch.Tensor) -> KeepFn:
    """A filter judging in data labels (a classifier trained on the data), called with generator labels."""
    return lambda images, labels: keep(images, to_data[labels])


def run_cell(
    settings: AugmentSettings,
    images: torch.Tensor,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    per_class: int,
    seed: int,
    workdir: Path,
    device: str = "cpu",
) -> list[dict]:
    """One (size, seed) cell: split, GAN on the subset, synthetic set, five classifiers; one CSV row per arm."""
    train_idx, test_idx = stratified_split(labels, per_class, seed)
    labels_t = torch.from_numpy(labels)
    real = (images[train_idx], labels_t[train_idx])
    test = (images[test_idx], labels_t[test_idx])
    num_classes, spec = len(class_names), settings.spec()

    start = time.process_time()
    subset = write_subset(*real, class_names, workdir / "subset")
    generator, kimg = train_gan(settings, subset, images.shape[1], workdir, seed, device)
    label_acc = gan_label_fidelity(generator)
    gan_cpu = time.process_time() - start

    scores, cpu = {}, {}

    def arm(name: str, real_part, synthetic_part, augment: bool):
        begin = time.process_time()
        model = train_classifier(real_part, synthetic_part, num_classes, augment=augment, seed=seed, spec=spec)
        scores[name], cpu[name] = accuracy(model, *test), time.process_time() - begin
        return model

    arm("a", real, None, False)
    classic = arm("b", real, None, True)
    begin = time.process_time()
    to_data = data_labels(generator.dataset.class_names, class_names)
    keep = None
    if settings.filter == "confident":
        keep = in_generator_labels(confident_filter(classic, settings.confidence), to_data)
    synthetic = generate_labelled(generator, settings.synthetic_per_class, seed=SYNTH_SEED, keep=keep)
    fake = (synthetic.images, to_data[synthetic.labels])
    gan_cpu += time.process_time() - begin
    arm("c", real, fake, False)  # with no surviving synthetic image, (c) and (d) train on the real images alone
    arm("d", real, fake, True)
    if len(fake[0]):
        arm("e", None, fake, False)
    else:
        scores["e"], cpu["e"] = float("nan"), 0.0
    return [
        {
            "dataset": settings.data,
            "per_class": per_class,
            "seed": seed,
            "arm": name,
            "accuracy": round(scores[name], 5),
            "real_images": len(train_idx),
            "synthetic_images": 0 if name in "ab" else len(fake[0]),
            "synthetic_dropped": sum(synthetic.dropped),
            "test_images": len(test_idx),
            "gan_kimg": round(kimg, 3),
            "gan_label_acc": "" if label_acc is None else round(label_acc, 4),
            "gan_cpu_s": round(gan_cpu, 1),
            "arm_cpu_s": round(cpu[name], 1),
        }
        for name in ARMS
    ]


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def _check_settings(settings: AugmentSettings, out: Path) -> None:
    """A folder holds one experiment: continuing it with other settings would mix incomparable rows."""
    saved_path = out / "settings.json"
    current = json.loads(json.dumps(dataclasses.asdict(settings)))
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text())
        changed = sorted(key for key in current if key != "sizes" and key != "seeds" and saved.get(key) != current[key])
        if changed:
            raise ConfigError(
                f"--out {out}: holds an experiment with other settings ({', '.join(changed)}); "
                f"choose a new --out folder"
            )
    write_text(saved_path, json.dumps(current, indent=2) + "\n")


def run_augment_experiment(
    settings: AugmentSettings, out: str | Path, *, device: str = "cpu", log: Callable[[str], None] = print
) -> Path:
    """Run every (size, seed) cell not yet in out/results.csv; rewrite results.md and plot.png after each cell.

    Returns the folder. Re-running with more sizes or seeds adds only the missing cells."""
    settings.validate()
    check_gan_settings(settings, device)  # everything is checked before anything is written
    images, labels, class_names = load_labelled(settings.data, settings.resolution)
    for size in settings.sizes:  # all bad sizes fail before any training
        check_class_sizes(labels, class_names, size, settings.data)
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(settings, out)
    csv_path = out / "results.csv"
    rows = read_rows(csv_path)
    done = {(int(r["per_class"]), int(r["seed"])) for r in rows}
    for per_class in settings.sizes:
        for seed in range(settings.seeds):
            if (per_class, seed) in done:
                continue
            began = time.time()
            cell = run_cell(
                settings,
                images,
                labels,
                class_names,
                per_class,
                seed,
                out / "cells" / f"{per_class:03d}-per-class-seed{seed}",
                device,
            )
            rows += cell
            write_rows(rows, csv_path)
            write_report(rows, out, settings)
            summary = ", ".join(f"{r['arm']} {float(r['accuracy']):.3f}" for r in cell)
            log(f"{settings.data} {per_class}/class seed {seed}: {summary} ({time.time() - began:.0f} s)")
    if not (out / "results.md").is_file():
        write_report(rows, out, settings)
    return out

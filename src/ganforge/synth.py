"""Labelled synthetic data from a class-conditional generator: `per_class` images of every class, optionally only
those a classifier trained on the real data assigns to their class with high confidence (the sample filtering of
e.g. Frid-Adar et al. 2018 / classification-accuracy-score style checks of Ravuri & Vinyals 2019), written as a
folder with one sub-folder per class and a labels.json that `--data DIR` reads back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import limits
from .artifacts import LoadedGenerator, load
from .atomic import atomic_folder, write_text
from .errors import CheckpointError, ConfigError, DataError
from .imaging import save_png

FILTERS = ("none", "confident")
DEFAULT_CONFIDENCE = 0.9  # probability threshold of the confident filter
MAX_CANDIDATES = 20  # the filter may look at up to this many candidates per image asked for, per class
CLASS_SEED_STRIDE = 1_000_000  # class k draws its latents from seeds seed + k * stride + 0, 1, 2, ...

# keep(images uint8 [N, C, H, W], labels [N]) -> bool [N]: which candidates to keep
KeepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class SyntheticSet:
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # [N] class indices of the generator
    class_names: tuple[str, ...]
    dropped: list[int] = field(default_factory=list)  # per class: candidates the filter rejected

    def counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=len(self.class_names)).tolist()

    def summary(self) -> str:
        """One line per class: kept and dropped counts."""
        return "\n".join(
            f"  {name}: {kept} kept, {dropped} dropped"
            for name, kept, dropped in zip(self.class_names, self.counts(), self.dropped)
        )


def require_conditional(generator: LoadedGenerator) -> None:
    if not generator.num_classes:
        raise CheckpointError(
            f"{generator.source} is an unconditional generator: synthetic labelled data needs a "
            f"class-conditional model (train it with --cond on labelled data)"
        )


def generate_labelled(
    generator: LoadedGenerator, per_class: int, *, seed: int = 0, truncation: float = 1.0, keep: KeepFn | None = None
) -> SyntheticSet:
    """`per_class` images of every class of a conditional generator. With `keep`, rejected candidates are replaced
    by fresh ones until each class is full or MAX_CANDIDATES x per_class candidates were tried (then the class keeps
    fewer images; `dropped` counts the rejects)."""
    require_conditional(generator)
    limits.check(per_class, limits.SYNTH_PER_CLASS, "--per-class")
    info = generator.dataset
    limits.check_in_memory(
        per_class * generator.num_classes,
        info,
        f"--per-class {per_class} x {generator.num_classes} classes",
        "ask for fewer images per class",
    )
    images, labels, dropped = [], [], []
    for label in range(generator.num_classes):
        kept = torch.empty(0, info.channels, info.resolution, info.resolution, dtype=torch.uint8)
        tried = rejected = 0
        while len(kept) < per_class and tried < MAX_CANDIDATES * per_class:
            missing = per_class - len(kept)
            count = missing if keep is None else min(max(2 * missing, 16), MAX_CANDIDATES * per_class - tried)
            first = seed + label * CLASS_SEED_STRIDE + tried
            candidates = torch.from_numpy(generator.generate(count, first, [label] * count, truncation=truncation))
            candidates = candidates.permute(0, 3, 1, 2).contiguous()  # [count, C, H, W]
            tried += count
            if keep is not None:
                mask = keep(candidates, torch.full((count,), label))
                rejected += int((~mask).sum())
                candidates = candidates[mask]
            kept = torch.cat([kept, candidates[:missing]])
        images.append(kept)
        labels.append(torch.full((len(kept),), label))
        dropped.append(rejected)
    return SyntheticSet(torch.cat(images), torch.cat(labels), generator.dataset.class_names, dropped)


def check_confidence(confidence: float) -> None:
    """A probability threshold of the confident filter: above 0, at most 1 (1 keeps only certain images)."""
    if not 0 < confidence <= 1:
        raise ConfigError(f"--confidence {confidence}: must be above 0 and at most 1")


def confident_filter(classifier: torch.nn.Module, confidence: float) -> KeepFn:
    """Keep a candidate when the classifier's most probable class is its label, with probability >= confidence."""
    from .classifier import predict

    check_confidence(confidence)

    def keep(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probabilities = predict(classifier, images)  # [N, classes]
        best, predicted = probabilities.max(dim=1)
        return (predicted == labels) & (best >= confidence)

    return keep


def write_folder(synthetic: SyntheticSet, out: str | Path) -> Path:
    """One PNG per image in out/<class name>/, and out/labels.json mapping each file to its class name; `out`
    appears only once complete (a killed or failed write leaves no partial `out` to block a rerun)."""
    out = check_new_folder(out)
    mapping = {}
    per_class_index = [0] * len(synthetic.class_names)
    with atomic_folder(out) as partial:
        for image, label in zip(synthetic.images, synthetic.labels.tolist()):
            name = f"{synthetic.class_names[label]}/{per_class_index[label]:06d}.png"
            per_class_index[label] += 1
            save_png(image.permute(1, 2, 0).numpy(), partial / name)
            mapping[name] = synthetic.class_names[label]
        write_text(partial / "labels.json", json.dumps(mapping, indent=1) + "\n")
    return out


def check_new_folder(out: str | Path) -> Path:
    """`out` as a Path; DataError unless it is absent or an empty folder."""
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"--out {out}: exists and is not an empty folder; choose a new folder")
    return out


def real_data_classifier(generator: LoadedGenerator, real: str, *, steps: int, seed: int) -> torch.nn.Module:
    """A SmallCNN trained (with classic augmentation) on the real data `real`, read at the generator's size."""
    from .classifier import TrainSpec, train_classifier
    from .config import DataConfig
    from .data import build

    info = generator.dataset
    try:
        dataset = build(DataConfig(source=real, resolution=info.resolution, channels=info.channels))
    except ConfigError as error:
        raise DataError(f"--real {real}: does not fit the generator ({error})") from None
    if dataset.info.class_names != info.class_names:
        raise DataError(
            f"--real {real}: its classes {list(dataset.info.class_names)[:10]} differ from the "
            f"generator's {list(info.class_names)[:10]}"
        )
    images, labels = dataset.batch(torch.arange(len(dataset)))  # [N, C, H, W], [N]
    return train_classifier(
        (images, labels), None, info.num_classes, augment=True, seed=seed, spec=TrainSpec(steps=steps)
    )


def synth(
    checkpoint: str | Path,
    per_class: int,
    out: str | Path,
    *,
    truncation: float = 1.0,
    filter: str = "none",
    real: str | None = None,
    confidence: float | None = None,
    seed: int = 0,
    classifier_steps: int = 400,
    device: str | torch.device = "cpu",
) -> SyntheticSet:
    """Write `per_class` synthetic images of every class of a conditional checkpoint to a labelled folder `out`.

    `filter="confident"` keeps only images that a classifier trained on the real data `real` (default: the data the
    generator was trained on) labels as their class with probability >= `confidence` (default DEFAULT_CONFIDENCE;
    only with that filter). Every setting is checked before the model is loaded or the classifier trained."""
    if filter not in FILTERS:
        raise ConfigError(f"--filter {filter!r}: choose one of {', '.join(FILTERS)}")
    if confidence is not None and filter != "confident":
        raise ConfigError(f"--confidence {confidence}: only applies with --filter confident")
    confidence = DEFAULT_CONFIDENCE if confidence is None else confidence
    check_confidence(confidence)
    check_new_folder(out)
    generator = load(checkpoint, device)
    require_conditional(generator)
    keep = None
    if filter == "confident":
        classifier = real_data_classifier(generator, real or generator.dataset.name, steps=classifier_steps, seed=seed)
        keep = confident_filter(classifier, confidence)
    synthetic = generate_labelled(generator, per_class, seed=seed, truncation=truncation, keep=keep)
    write_folder(synthetic, out)
    return synthetic

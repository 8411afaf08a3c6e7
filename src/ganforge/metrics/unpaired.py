"""`ganforge eval` for unpaired translation models (CycleGAN, Zhu et al. 2017): each direction translates the held-out
images of one domain (testA -> B, testB -> A), and every figure is shown beside its identity baseline, the same
figure for the untranslated inputs:

- target-domain share: the share of translations that the colour and texture views of a domain classifier trained
  on the two real training sets place in the target domain (domain.py), with each view's share;
- label survival, where both domains carry the same ten digit labels (digits-stylized): the share of translations
  whose class the shipped digits classifier still reads as the input's (the identity baseline is its accuracy on
  the inputs, the ceiling);
- cycle PSNR: A -> B -> A (and B -> A -> B) against the input.

There are no pairs, so PSNR of a translation against "its" target means nothing; the share and the survival are
read together, since each alone is met by a useless model (a copy keeps every label; noise can look like a domain).
"""

from __future__ import annotations

import torch

from ..artifacts.generator import LoadedGenerator
from ..config import DataConfig
from ..data.base import TensorImageDataset
from ..data.builtin import DIGIT_NAMES
from ..data.sampler import preview_indices
from ..data.unpaired import UnpairedDataset, build_unpaired
from ..errors import ConfigError
from ..imaging import to_float, to_uint8
from .domain import train_domain_judge
from .pixel import psnr

DIRECTIONS = {"a2b": ("A", "B", "b2a"), "b2a": ("B", "A", "a2b")}  # direction -> (source, target, way back)
UNPAIRED = "unpaired"  # result key: {direction: {figure: value}}
HELD_OUT_ACCURACY = "domain_held_out_accuracy"  # {view: accuracy of the domain classifier on real test images}
JUDGE_IMAGES = 2000  # real training images per side that the domain classifier learns from


def sides(dataset: UnpairedDataset, count: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"A": (uint8 images [N, C, H, W] with the dataset's channels, labels [N]), "B": ...}: a seeded sample of at
    most `count` images per side."""
    out = {}
    for name, side in (("A", dataset.side_a), ("B", dataset.side_b)):
        images, labels = side.batch(preview_indices(len(side), count))
        out[name] = (images.expand(-1, dataset.info.channels, -1, -1).contiguous(), labels)  # grey side as colour
    return out


def translate_all(generator: LoadedGenerator, images: torch.Tensor, direction: str, batch_size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, H, W] through one direction of a CycleGAN generator."""
    with torch.no_grad():
        return torch.cat(
            [
                to_uint8(generator.module(to_float(part.to(generator.device)), direction=direction)).cpu()
                for part in images.split(batch_size)
            ]
        )


def evaluate_unpaired(
    real: str, generator: LoadedGenerator, num: int = 10000, batch_size: int = 64, device: str = "cpu", seed: int = 0
) -> dict:
    """Score a CycleGAN model on `real` (the built-in digits-stylized or a folder with trainA/, trainB/, testA/,
    testB/): per direction the target-domain share, label survival (digit data) and cycle PSNR, each with its
    identity baseline; at most `num` held-out images per side."""
    if not generator.dataset.unpaired:
        raise ConfigError(f"--fake {generator.source}: not an unpaired translation model (CycleGAN)")
    generator.to(device)
    config = DataConfig(source=real, resolution=generator.dataset.resolution)
    try:
        train, test = build_unpaired(config), build_unpaired(config, split="test")
    except ConfigError as error:
        raise ConfigError(
            f"--real {real}: {error}; a CycleGAN model is scored on a folder with trainA/, trainB/, "
            f"testA/ and testB/ (as `ganforge pairs --task cartoon --holdout N` writes) or on "
            f"digits-stylized"
        ) from None
    if train.info.channels != generator.dataset.channels:
        raise ConfigError(
            f"--real {real}: {train.info.channels}-channel images, but the model translates "
            f"{generator.dataset.channels}-channel ones"
        )
    held_out, reference = sides(test, num), sides(train, JUDGE_IMAGES)
    judge = train_domain_judge(reference["A"][0], reference["B"][0], held_out["A"][0], held_out["B"][0], seed=seed)
    digits = _digit_classifier(train, device)
    results: dict = {HELD_OUT_ACCURACY: judge.held_out_accuracy, UNPAIRED: {}}
    for direction, (source, target, back) in DIRECTIONS.items():
        inputs, labels = held_out[source]
        translated = translate_all(generator, inputs, direction, batch_size)
        domain = "AB".index(target)
        row = {
            "images": len(inputs),
            "target_domain_share": judge.share(translated, domain),
            "target_domain_share_identity": judge.share(inputs, domain),
            "target_domain_share_by_view": judge.view_shares(translated, domain),
            "cycle_psnr": psnr(translate_all(generator, translated, back, batch_size), inputs),
        }
        if digits is not None:
            row["label_survival"] = _accuracy(digits, translated, labels, batch_size)
            row["label_survival_identity"] = _accuracy(digits, inputs, labels, batch_size)
        results[UNPAIRED][direction] = row
    return results


def _digit_classifier(train: UnpairedDataset, device: str):
    """The shipped digits classifier when both domains are labelled with the ten digits, else None."""
    if any(
        not isinstance(side, TensorImageDataset) or side.info.class_names != DIGIT_NAMES
        for side in (train.side_a, train.side_b)
    ):
        return None
    from .extractors import build_extractor

    return build_extractor("digits", device)


def _accuracy(classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> float:
    """Share of uint8 images [N, C, H, W] whose class the classifier reads as `labels` [N]."""
    with torch.no_grad():
        read = torch.cat(
            [
                classifier(part.to(next(classifier.parameters()).device))[1].argmax(1).cpu()
                for part in images.split(batch_size)
            ]
        )
    return float((read == labels).float().mean())


def unpaired_lines(results: dict) -> list[str]:
    """The report table: one block per direction, each figure beside its identity baseline."""
    accuracy = ", ".join(f"{view} {value:.1%}" for view, value in results[HELD_OUT_ACCURACY].items())
    lines = [f"domain classifier held-out accuracy: {accuracy} (a view under 90% has no vote)"]
    for direction, row in results[UNPAIRED].items():
        source, target, _ = DIRECTIONS[direction]
        views = ", ".join(f"{view} {share:.1%}" for view, share in row["target_domain_share_by_view"].items())
        lines.append(f"{source} -> {target} ({row['images']} held-out images):")
        lines.append(
            f"  {'target-domain share':>22}  {row['target_domain_share']:<8.1%} identity "
            f"{row['target_domain_share_identity']:<8.1%} share of translations that look like domain "
            f"{target} (views: {views})"
        )
        if "label_survival" in row:
            lines.append(
                f"  {'label survival':>22}  {row['label_survival']:<8.1%} identity "
                f"{row['label_survival_identity']:<8.1%} digits whose class survives the translation"
            )
        lines.append(
            f"  {'cycle PSNR':>22}  {row['cycle_psnr']:<8.4g} dB  {source} -> {target} -> {source} against the input"
        )
    return lines

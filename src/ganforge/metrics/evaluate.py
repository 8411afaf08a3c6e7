"""`ganforge eval` / `ganforge.evaluate`: images from a generator or a folder, features from one extractor, then the
registered metrics (measures.py) that were asked for.

Everything that can be checked is checked before any image is generated or read: the metric names, each metric's
needs (logits, a calibrated memorisation threshold, 3-channel images, paired data), and whether the real and
generated sets can be compared (channels, sizes). A metric that cannot run is named with its reason in the results
(`not_computed`) while the others are computed; numbers that cannot be trusted (too few images) come with warnings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .. import data as data_lib
from .. import limits
from ..artifacts import foreign
from ..artifacts.checkpoint import list_checkpoints
from ..artifacts.exported import is_export
from ..artifacts.generator import LoadedGenerator, load
from ..config import DataConfig
from ..errors import ConfigError, DataError, GanforgeError
from ..families import Task
from ..imaging import to_uint8
from .cache import FeatureCache, content_key
from .extractors import EXTRACTORS, FeatureExtractor, build_extractor
from .frechet import GaussianStats
from .measures import (
    CHANNEL_DIGITS,
    DINOV2_FEATURES,
    EXTRACTOR,
    EXTRACTOR_NAME,
    FEATURES,
    LABEL_ACC,
    LABELS,
    METRICS,
    NOT_COMPUTED,
    NUM_FAKE,
    NUM_PAIRS,
    NUM_REAL,
    RESOLUTION,
    WARNINGS,
    WEIGHTS_SHA256,
    Inputs,
    Setup,
    needs_extractor,
    parse_metrics,
    plan,
)
from .pixel import input_as_output
from .protocols import PROTOCOLS, Protocol, get_protocol
from .reference_stats import ReferenceStats

PROTOCOL, REAL_STATS = "protocol", "real_stats"  # result keys of the set-up
FROM_STATS_ONLY = frozenset({"fid"})  # metrics computable from the real features' mean and covariance alone

DIGIT_DATASETS = ("digits", "mnist")
STACKED_DATASETS = ("stacked-digits",)

__all__ = [
    "METRICS",
    "Evaluator",
    "check_metrics",
    "default_extractor",
    "evaluate",
    "generator_batches",
    "parse_metrics",
]


def default_extractor(data_source: str, metrics: str | tuple[str, ...] = (), training: bool = False) -> str:
    """A DINOv2 extractor when one of `metrics` is defined on DINOv2 features (ViT-B/14 while `training`, else the
    `dinov2` default, ViT-L/14); otherwise `digits-per-channel` for stacked digits (each channel's digit scored),
    `digits` for digit data, else the standard `inception`."""
    from .dinov2 import EVAL_DEFAULT, TRAINING_DEFAULT

    if metrics and any(DINOV2_FEATURES in METRICS.get(name).needs for name in parse_metrics(metrics)):
        return TRAINING_DEFAULT if training else EVAL_DEFAULT
    name = data_source.partition(":")[0]
    return "digits-per-channel" if name in STACKED_DATASETS else "digits" if name in DIGIT_DATASETS else "inception"


def check_metrics(
    metrics: str | tuple[str, ...], extractor: str, channels: int, paired: bool = False, classes: tuple[str, ...] = ()
) -> dict[str, str]:
    """For run setup, before any work: ConfigError when none of `metrics` can run with `extractor` on images of
    `channels` channels (of a generator conditioned on `classes`); else {metric: reason} for those that cannot
    (empty when all can)."""
    names = parse_metrics(metrics)
    return plan(names, setup_for(names, extractor, channels, paired, classes=classes)).not_computed


def setup_for(
    names: tuple[str, ...],
    extractor: str,
    channels: int,
    paired: bool,
    device: torch.device | str = "cpu",
    classes: tuple[str, ...] = (),
    protocol: Protocol = PROTOCOLS["ganforge"],
) -> Setup:
    """The metrics' `Setup`, loading the feature extractor only when one of `names` reads it (pixel metrics need no
    network, so they run offline); weights that cannot be found leave it None with the reason, so the metrics that
    need it are named as not computed while the others run. An unknown extractor name, or a protocol that fixes
    Inception's preprocessing with another extractor, is still an error."""
    EXTRACTORS.get(extractor)
    if protocol.preprocessing is not None and extractor != "inception":
        raise ConfigError(
            f"--protocol {protocol.name} defines how images reach InceptionV3; --extractor {extractor} "
            f"is another network: use --extractor inception or --protocol ganforge"
        )
    if not needs_extractor(names):
        return Setup(extractor, None, channels, paired, classes=classes)
    try:
        network = build_extractor(extractor, device)
        if protocol.preprocessing is not None:
            network.use_preprocessing(protocol.preprocessing)
        return Setup(extractor, network, channels, paired, classes=classes)
    except DataError as error:
        reason = " ".join(line.strip() for line in str(error).splitlines())
        return Setup(
            extractor, None, channels, paired, extractor_error=f"extractor {extractor!r}: {reason}", classes=classes
        )


class Evaluator:
    """Checks the metrics' needs, then computes real features once (or reads them from the cache); `__call__`
    scores a stream of generated images. `paired`: `real` is an image-to-image model's held-out pairs (its images
    are the targets) and `__call__` also receives the (outputs, targets) pairs. `classes`: a conditional
    generator's class names; `__call__` then receives the class each generated image was asked for.
    `protocol`: how images reach the network (protocols.py); `mirror`: real features also of mirrored real images;
    `real_stats`: precomputed statistics of the real features instead of `real` (only FID can then be computed),
    `channels` then giving the generated images' channel count."""

    def __init__(
        self,
        real: data_lib.ImageDataset | None,
        metrics: tuple[str, ...],
        extractor: str = "inception",
        num_real: int = 10000,
        device: torch.device | str = "cpu",
        batch_size: int = 64,
        seed: int = 0,
        cache: FeatureCache | None = None,
        paired: bool = False,
        classes: tuple[str, ...] = (),
        protocol: str = "ganforge",
        real_stats: ReferenceStats | None = None,
        channels: int | None = None,
        mirror: bool = False,
    ):
        self.device, self.batch_size, self.classes = torch.device(device), batch_size, classes
        self.protocol = dataclasses.replace(get_protocol(protocol), mirror=mirror)
        setup = setup_for(
            metrics,
            extractor,
            real.info.channels if real is not None else channels,
            paired,
            self.device,
            classes=classes,
            protocol=self.protocol,
        )
        self.extractor: FeatureExtractor | None = setup.extractor
        self.extractor_name = extractor
        self.plan = plan(metrics, setup, str(self.device))
        self.reference = real_stats
        if real_stats is not None:
            self._only_from_stats(real_stats.source)
            self.real, self.real_features, self.real_channel_probabilities = None, None, None
            self.real_indices = torch.zeros(0, dtype=torch.long)
            self.uses_features, self.digits, self._real_stats = True, None, real_stats.stats
            return
        self.uses_features = FEATURES in self.plan.needs
        self.digits = build_extractor("digits", self.device) if CHANNEL_DIGITS in self.plan.needs else None
        self.real = real
        count = min(num_real, len(real))
        self.real_indices = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:count]
        cache = cache or FeatureCache()
        self.real_features = self._cached("features", cache, self.extractor) if self.uses_features else None
        self.real_channel_probabilities = (
            self._cached("channel_probabilities", cache, self.digits) if self.digits is not None else None
        )
        self._real_stats: GaussianStats | None = None

    def _only_from_stats(self, source: str) -> None:
        """Move the planned metrics that need the real features themselves to `not_computed`."""
        for metric in [m for m in self.plan.runnable if m.name not in FROM_STATS_ONLY]:
            self.plan.runnable.remove(metric)
            self.plan.not_computed[metric.name] = (
                f"needs the real images' features; --real-stats {source} holds only their mean and covariance"
            )
        if not self.plan.runnable:
            raise ConfigError(
                f"--real-stats {source}: only {', '.join(sorted(FROM_STATS_ONLY))} can be computed "
                f"from reference statistics; give --real DATA for the others"
            )

    def _real_batches(self) -> Iterator[torch.Tensor]:
        """uint8 real images in batches; when mirroring, then all of them again mirrored."""
        for flip in (False, True) if self.protocol.mirror else (False,):
            for start in range(0, len(self.real_indices), self.batch_size):
                images = self.real.batch(self.real_indices[start : start + self.batch_size])[0]
                yield images.flip(3) if flip else images

    def real_image(self, feature_index: int) -> torch.Tensor:
        """uint8 [C, H, W] real image behind real feature `feature_index` (past the originals: their mirrors)."""
        flip, index = divmod(feature_index, len(self.real_indices))
        image = self.real[int(self.real_indices[index])][0]
        return image.flip(2) if flip else image

    def real_stats(self) -> GaussianStats:
        if self._real_stats is None:
            self._real_stats = GaussianStats.of(self.real_features)
        return self._real_stats

    def _cached(self, kind: str, cache: FeatureCache, extractor: FeatureExtractor) -> torch.Tensor:
        """Real `features` ([N, D]) or `channel_probabilities` ([N, 3, 10]), from the cache when present."""
        digest = hashlib.sha256()
        for images in self._real_batches():
            digest.update(images.numpy().tobytes())
        info = self.real.info
        name = self.extractor_name if kind == "features" else "digits"
        key = content_key(
            {
                "extractor": name,
                "weights": extractor.description,
                "kind": kind,
                "resolution": info.resolution,
                "channels": info.channels,
                "count": len(self.real_indices),
                "protocol": self.protocol.record(),
            },
            digest.hexdigest(),
        )
        cached = cache.get(key)
        if cached is not None:
            return cached[kind]
        compute = (lambda x: extractor(x)[0]) if kind == "features" else extractor.channel_probabilities
        values = torch.cat([compute(images.to(self.device)).cpu() for images in self._real_batches()])
        cache.put(key, {kind: values})
        return values

    @torch.no_grad()
    def __call__(
        self,
        fake_batches: Iterator[torch.Tensor],
        fake_image: Callable[[int], torch.Tensor] | None = None,
        memorization_png: Path | None = None,
        pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
        input_baseline: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict:
        """Score uint8 [B, C, H, W] batches; `fake_image(i)` re-creates generated image i for the memorisation PNG;
        `pairs`: uint8 (outputs, targets) [N, C, H, W] of an image-to-image model, `input_baseline` its inputs as
        outputs [N, C, H, W] (pixel metrics report both); `labels` [N]: the class each generated image was asked for
        (conditional generators)."""
        features, logits, channel_probabilities, read_labels, count = [], [], [], [], 0
        label_reader = self.plan.prepared.get(LABEL_ACC) if LABELS in self.plan.needs else None
        for images in fake_batches:
            images = images.to(self.device)
            count += len(images)
            if label_reader is not None:
                read_labels.append(label_reader.predict(images).cpu())
            if self.uses_features:
                f, lg = self.extractor(images)
                features.append(f.cpu())
                if lg is not None:
                    logits.append(lg.cpu())
            if self.digits is not None:
                channel_probabilities.append(self.digits.channel_probabilities(images).cpu())
        inputs = Inputs(
            torch.cat(features) if features else None,
            torch.cat(logits) if logits else None,
            torch.cat(channel_probabilities) if channel_probabilities else None,
            self,
            self.plan.prepared,
            pairs,
            fake_image,
            memorization_png,
            input_baseline,
            labels=(labels[:count], torch.cat(read_labels)) if label_reader is not None else None,
        )
        results: dict = {}
        if self.uses_features:
            num_real = len(self.real_features) if self.real_features is not None else self.reference.stats.count
            results |= {
                EXTRACTOR: self.extractor.description,
                EXTRACTOR_NAME: self.extractor_name,
                NUM_REAL: num_real or None,
                NUM_FAKE: count,
                PROTOCOL: self.protocol.record(),
            }
            if self.extractor.weights_sha256:
                results[WEIGHTS_SHA256] = self.extractor.weights_sha256
        if self.reference is not None:
            results[REAL_STATS] = self.reference.record()
        not_computed = dict(self.plan.not_computed)
        for metric in self.plan.runnable:
            try:
                results |= metric.compute(inputs)
            except GanforgeError as error:  # e.g. too few images for its neighbourhoods
                not_computed[metric.name] = str(error)
        if len(not_computed) == len(self.plan.runnable) + len(self.plan.not_computed):
            name, reason = next((n, r) for n, r in not_computed.items() if n not in self.plan.not_computed)
            raise ConfigError(f"--metrics {name}: {reason}")
        if not_computed:
            results[NOT_COMPUTED] = not_computed
        if inputs.warnings:
            results[WARNINGS] = inputs.warnings
        return results


def generator_labels(generator: LoadedGenerator, num: int) -> torch.Tensor | None:
    """[num] classes that `generator_batches` asks a conditional generator for (cycling); None if unconditional."""
    return torch.arange(num) % generator.num_classes if generator.num_classes else None


def generator_classes(generator: LoadedGenerator) -> tuple[str, ...]:
    """The class names a conditional generator's labels mean; () for an unconditional one."""
    return tuple(generator.dataset.class_names) if generator.num_classes else ()


def generator_batches(generator: LoadedGenerator, num: int, batch_size: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """uint8 [B, C, H, W] images for seeds seed..seed+num-1 (classes cycle for conditional generators)."""
    labels = generator_labels(generator, num)
    for start in range(0, num, batch_size):
        count = min(batch_size, num - start)
        z = generator.latents(range(seed + start, seed + start + count))
        yield to_uint8(generator.synthesize(z, None if labels is None else labels[start : start + count], batch_size))


def evaluate(
    real: str | None,
    fake: str | Path | LoadedGenerator,
    metrics: str | tuple[str, ...] = "fid",
    extractor: str | None = None,
    num: int | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    seed: int = 0,
    resolution: int | None = None,
    memorization_png: str | Path | None = None,
    protocol: str = "ganforge",
    real_stats: str | Path | None = None,
    mirror: bool = False,
) -> dict:
    """Compare generated images (a checkpoint, run folder, export, or a folder of images) with real data, or with
    reference statistics (`real_stats`: a `ganforge stats` file or clean-fid's .npz; FID only).

    Image folders are compared at their images' own size unless `resolution` is given. `protocol` (protocols.py)
    fixes the preprocessing and, for nvlabs, the counts (`num` defaults to the protocol's, else 10000); `mirror`
    adds mirrored real images. Returns a dict of metric values plus the extractor's description and weights hash,
    the protocol's settings, the image counts, `not_computed` (metric -> reason) and `warnings`.
    """
    names = parse_metrics(metrics)
    chosen = get_protocol(protocol)
    num = num or chosen.num_fake or 10000
    limits.check(num, limits.EVAL_IMAGES, "--num")
    limits.check(seed, limits.SEED, "--seed")
    if real is None and real_stats is None:
        raise ConfigError("give --real DATA or --real-stats FILE")
    extractor = extractor or ("inception" if chosen.preprocessing else default_extractor(real or "", names))
    generator = fake if isinstance(fake, LoadedGenerator) else _generator_or_none(Path(fake))
    translates = generator is not None and generator.dataset.task.translates
    if translates and (real_stats is not None or chosen.name != "ganforge" or mirror):
        raise ConfigError(
            "--real-stats, --protocol and --mirror apply to generators of images from noise; an "
            "image-to-image model is scored on its held-out pairs (give --real PAIRS only)"
        )
    if generator is not None and generator.dataset.unpaired:  # CycleGAN: no pairs; its own figures (unpaired.py)
        from .unpaired import evaluate_unpaired

        return evaluate_unpaired(real, generator, num, batch_size, device, seed)
    if generator is not None and generator.dataset.paired:
        return evaluate_pairs(real, generator, names, extractor, num, batch_size, device)
    if generator is not None:
        generator.to(device)
        fake_resolution, fake_channels = resolution or generator.dataset.resolution, generator.dataset.channels
        fake_folder = None
    else:
        with _errors_name("--fake"):
            fake_resolution = resolution or _own_size(str(fake), "--fake")
            fake_folder = data_lib.build(DataConfig(source=str(fake), resolution=fake_resolution), cache=False)
        fake_channels, fake_resolution = fake_folder.info.channels, fake_folder.info.resolution
    classes = generator_classes(generator) if generator is not None else ()
    if real_stats is not None:
        from . import reference_stats

        reference = reference_stats.load(real_stats)
        warnings = reference.check(chosen.name, fake_resolution, extractor, "--real-stats")
        evaluator = Evaluator(
            None,
            names,
            extractor,
            0,
            device,
            batch_size,
            seed,
            classes=classes,
            protocol=protocol,
            real_stats=reference,
            channels=fake_channels,
            mirror=mirror,
        )
    else:
        real_set = _real_set(real, fake, fake_resolution, fake_channels, resolution is None and generator is None)
        warnings = []
        evaluator = Evaluator(
            real_set,
            names,
            extractor,
            len(real_set) if chosen.full_real else num,
            device,
            batch_size,
            seed,
            classes=classes,
            protocol=protocol,
            mirror=mirror,
        )
    labels = generator_labels(generator, num) if generator is not None else None
    if generator is not None:
        batches = generator_batches(generator, num, batch_size, seed)
        remake = lambda i: next(generator_batches(generator, 1, 1, seed + i))[0]  # noqa: E731
    else:
        count = min(num, len(fake_folder))
        batches = (
            fake_folder.batch(torch.arange(s, min(s + batch_size, count)))[0] for s in range(0, count, batch_size)
        )
        remake = lambda i: fake_folder[i][0]  # noqa: E731
    png = Path(memorization_png) if memorization_png else None
    results = {RESOLUTION: fake_resolution} | evaluator(batches, remake, png, labels=labels)
    if chosen.num_fake is not None and results.get(NUM_FAKE) != chosen.num_fake:
        warnings.append(
            f"--protocol {chosen.name} compares {chosen.num_fake} generated images, these numbers "
            f"{results.get(NUM_FAKE)}: not comparable with published ones"
        )
    if warnings:
        results[WARNINGS] = warnings + results.get(WARNINGS, [])
    return results


def _real_set(
    real: str, fake: str | Path | LoadedGenerator, fake_resolution: int, fake_channels: int, own_size: bool
) -> data_lib.ImageDataset:
    """The real images at the generated images' size; `own_size`: two folders, which must agree in size."""
    with _errors_name("--real"):
        real_size = _own_size(real, "--real") if own_size else None
        if real_size is not None and real_size != fake_resolution:
            raise ConfigError(
                f"--real {real} holds {real_size} px images, --fake {fake} {fake_resolution} px: "
                f"pass --resolution to compare both at one size"
            )
        real_set = data_lib.build(DataConfig(source=real, resolution=fake_resolution))
    if real_set.info.channels != fake_channels:
        raise ConfigError(
            f"--real {real} has {real_set.info.channels}-channel images, --fake {fake} "
            f"{fake_channels}-channel: the sets cannot be compared"
        )
    return real_set


def compute_reference_stats(
    data: str,
    protocol: str = "ganforge",
    extractor: str = "inception",
    resolution: int | None = None,
    num: int | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    seed: int = 0,
    mirror: bool = False,
) -> ReferenceStats:
    """Mean and covariance of `data`'s features under `protocol` (all images unless `num` is given), with what they
    were computed with, for `ganforge eval --real-stats`."""
    dataset = data_lib.build(DataConfig(source=data, resolution=resolution or _own_size(data, "DATA")))
    evaluator = Evaluator(
        dataset, ("fid",), extractor, num or len(dataset), device, batch_size, seed, protocol=protocol, mirror=mirror
    )
    return ReferenceStats(
        evaluator.real_stats(),
        protocol,
        dataset.info.resolution,
        extractor,
        getattr(evaluator.extractor, "weights_sha256", None),
        data,
    )


@contextlib.contextmanager
def _errors_name(flag: str) -> Iterator[None]:
    """Data errors say `--data`, the training flag; here the folder came from `flag` (--real or --fake)."""
    try:
        yield
    except GanforgeError as error:
        text = str(error)
        if text.startswith("--data "):
            raise type(error)(flag + text[len("--data") :]) from None
        raise


def _own_size(source: str, flag: str) -> int | None:
    """Side of the images of a folder or zip (the shorter side, as loading crops to a square), None for built-in
    datasets, prepared zips and tar shards (which carry their resolution). Refuses folders of several sizes."""
    name, _, path = source.partition(":")
    if (
        data_lib.is_shards(source)
        or name in data_lib.DATASETS
        and (path or not Path(source).exists())
        or not Path(source).expanduser().exists()
    ):
        return None
    from ..data.folder import ImageSource

    images = ImageSource(source)
    if not images.names:
        raise ConfigError(f"{flag} {source}: no images found (png/jpg/jpeg/webp/bmp)")
    if (images.read_meta("dataset.json") or {}).get("resolution"):
        return None
    sides: dict[int, str] = {}
    for image_name in images.names:
        try:
            file = io.BytesIO(images.read(image_name)) if images.is_zip else images.path / image_name
            with Image.open(file) as image:  # decodes the header only
                sides.setdefault(min(image.size), image_name)
        except (UnidentifiedImageError, OSError):
            continue  # unreadable files are skipped (with a warning) when the images are loaded
    if len(sides) > 1:
        shown = ", ".join(f"{side} px ({example})" for side, example in list(sorted(sides.items()))[:4])
        raise ConfigError(
            f"{flag} {source}: images of several sizes ({shown}); pass --resolution to compare at one size"
        )
    return next(iter(sides), None)


def _generator_or_none(path: Path) -> LoadedGenerator | None:
    """A generator when `path` is a checkpoint, run folder, export or foreign model file; None when it is a folder/zip of images."""
    if (
        path.is_file()
        and (path.suffix == ".pt" or foreign.is_foreign(path))
        or is_export(path)
        or (path.is_dir() and list_checkpoints(path))
    ):
        return load(path)
    if not path.exists():
        raise ConfigError(f"--fake {path}: no such checkpoint, export, or image folder")
    return None


def evaluate_pairs(
    pairs: str,
    generator: LoadedGenerator,
    metrics: tuple[str, ...],
    extractor: str,
    num: int,
    batch_size: int,
    device: str,
) -> dict:
    """Translate held-out inputs A and compare the outputs with their targets B: PSNR, SSIM, L1 (each also for the
    inputs themselves as outputs, the baseline), LPIPS, and FID/KID of outputs vs targets with the chosen extractor."""
    generator.to(device)
    with _errors_name("--real"):
        dataset = data_lib.build(DataConfig(source=pairs, resolution=generator.dataset.resolution), task=Task.PAIRED)
    if (
        dataset.info.input_channels != generator.dataset.input_channels
        or dataset.info.channels != generator.dataset.channels
    ):
        raise ConfigError(
            f"--real {pairs}: pairs of {dataset.info.input_channels}->{dataset.info.channels} channels, "
            f"but the model translates {generator.dataset.input_channels}->{generator.dataset.channels}"
        )
    count = min(num, len(dataset))
    ordered = data_lib.SubsetDataset(dataset, torch.arange(count))
    evaluator = Evaluator(ordered, metrics, extractor, count, device, batch_size, paired=True)  # checks come first
    outputs, targets, baselines = [], [], []
    for start in range(0, count, batch_size):
        target, inputs = dataset.batch(torch.arange(start, min(start + batch_size, count)))
        with torch.no_grad():
            outputs.append(to_uint8(generator.module(inputs.to(generator.device).float() / 127.5 - 1)).cpu())
        targets.append(target)
        baselines.append(input_as_output(inputs, dataset.info.channels))
    output, target = torch.cat(outputs), torch.cat(targets)
    return {NUM_PAIRS: count} | evaluator(
        iter(torch.split(output, batch_size)), pairs=(output, target), input_baseline=torch.cat(baselines)
    )

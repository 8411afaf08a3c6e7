"""`ganforge eval` / `ganforge.evaluate`: images from a generator or a folder, features from one extractor, then
the chosen metrics (FID, KID, IS, precision/recall, density/coverage, MiFID, memorisation, stacked-digit modes)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Iterator

import torch

from .. import data as data_lib
from ..config import DataConfig
from ..errors import ConfigError
from ..artifacts.checkpoint import list_checkpoints
from ..artifacts.exported import is_export
from ..artifacts.generator import LoadedGenerator, load
from ..imaging import to_uint8
from .cache import FeatureCache, content_key
from .extractors import FeatureExtractor, build_extractor
from .frechet import GaussianStats, frechet_distance, kernel_distance
from .inception_score import inception_score
from .manifold import density_coverage, precision_recall
from .memorization import memorization_distance, memorization_report, mifid, nearest_real
from .modes import mode_coverage

METRICS = ("fid", "kid", "is", "pr", "dc", "mifid", "memorization", "modes", "psnr", "ssim", "l1", "lpips")
PAIRED_METRICS = ("psnr", "ssim", "l1", "lpips", "fid", "kid")  # what an image-to-image model is scored with
DIGIT_DATASETS = ("digits", "stacked-digits", "mnist")


def parse_metrics(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip())
    names = tuple("memorization" if n == "memorisation" else n for n in names)
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics: unknown metric {unknown[0] if unknown else '(none)'!r}; "
                          f"choose from {', '.join(METRICS)}")
    return names


def default_extractor(data_source: str) -> str:
    """`digits` for digit data (fast, meaningful), else the standard `inception`."""
    return "digits" if data_source.partition(":")[0] in DIGIT_DATASETS else "inception"


class Evaluator:
    """Real features computed once (or read from the cache); `__call__` scores a stream of generated images."""

    def __init__(self, real: data_lib.ImageDataset, metrics: tuple[str, ...], extractor: str = "inception",
                 num_real: int = 10000, device: torch.device | str = "cpu", batch_size: int = 64, seed: int = 0,
                 cache: FeatureCache | None = None):
        self.metrics, self.device, self.batch_size = metrics, torch.device(device), batch_size
        self.extractor: FeatureExtractor = build_extractor(extractor, self.device)
        self.extractor_name = extractor
        self.digits = build_extractor("digits", self.device) if "modes" in metrics else None
        self.real = real
        count = min(num_real, len(real))
        self.real_indices = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:count]
        self.real_features = self._real_features(cache or FeatureCache())
        self.real_stats = GaussianStats.of(self.real_features) if {"fid", "mifid"} & set(metrics) else None

    def _real_batches(self) -> Iterator[torch.Tensor]:
        for start in range(0, len(self.real_indices), self.batch_size):
            yield self.real.batch(self.real_indices[start:start + self.batch_size])[0]

    def real_image(self, feature_index: int) -> torch.Tensor:
        """uint8 [C, H, W] real image behind real feature `feature_index`."""
        return self.real[int(self.real_indices[feature_index])][0]

    def _real_features(self, cache: FeatureCache) -> torch.Tensor:
        digest = hashlib.sha256()
        for images in self._real_batches():
            digest.update(images.numpy().tobytes())
        info = self.real.info
        key = content_key({"extractor": self.extractor_name, "weights": self.extractor.description,
                           "resolution": info.resolution, "channels": info.channels, "count": len(self.real_indices)},
                          digest.hexdigest())
        cached = cache.get(key)
        if cached is not None:
            return cached["features"]
        features = torch.cat([self.extractor(images.to(self.device))[0].cpu() for images in self._real_batches()])
        cache.put(key, {"features": features})
        return features

    @torch.no_grad()
    def __call__(self, fake_batches: Iterator[torch.Tensor], fake_image: Callable[[int], torch.Tensor] | None = None,
                 memorization_png: Path | None = None) -> dict:
        """Score uint8 [B, C, H, W] batches; `fake_image(i)` re-creates generated image i for the memorisation PNG."""
        features, logits, channel_digits = [], [], []
        for images in fake_batches:
            images = images.to(self.device)
            f, lg = self.extractor(images)
            features.append(f.cpu())
            if lg is not None:
                logits.append(lg.cpu())
            if self.digits is not None:
                if images.shape[1] != 3:
                    raise ConfigError("--metrics modes needs 3-channel (stacked-digits) images")
                channel_digits.append(self.digits.classify_channels(images).cpu())
        fake = torch.cat(features)
        results: dict = {"extractor": self.extractor.description, "num_real": len(self.real_features),
                         "num_fake": len(fake)}
        fid = None
        if {"fid", "mifid"} & set(self.metrics):
            fid = frechet_distance(self.real_stats, GaussianStats.of(fake))
        if "fid" in self.metrics:
            results["fid"] = fid
        if "kid" in self.metrics:
            mean, std = kernel_distance(self.real_features.numpy(), fake.numpy())
            results["kid"], results["kid_std"] = mean, std
        if "is" in self.metrics:
            if not logits:
                raise ConfigError(f"--metrics is: extractor {self.extractor_name!r} gives no class logits")
            results["is"], results["is_std"] = inception_score(torch.cat(logits))
        if "pr" in self.metrics:
            results["precision"], results["recall"] = precision_recall(self.real_features, fake)
        if "dc" in self.metrics:
            results["density"], results["coverage"] = density_coverage(self.real_features, fake)
        if {"mifid", "memorization"} & set(self.metrics):
            neighbours = nearest_real(fake, self.real_features)
            if "mifid" in self.metrics:
                results["memorization_distance"] = memorization_distance(neighbours)
                results["mifid"] = mifid(fid, results["memorization_distance"])
            if "memorization" in self.metrics:
                results["memorization"] = memorization_report(neighbours, memorization_png, fake_image,
                                                              self.real_image)
        if "modes" in self.metrics:
            results["modes"] = mode_coverage(torch.cat(channel_digits))
        return results


def generator_batches(generator: LoadedGenerator, num: int, batch_size: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """uint8 [B, C, H, W] images for seeds seed..seed+num-1 (classes cycle for conditional generators)."""
    for start in range(0, num, batch_size):
        count = min(batch_size, num - start)
        z = generator.latents(range(seed + start, seed + start + count))
        labels = (torch.arange(start, start + count) % generator.num_classes) if generator.num_classes else None
        yield to_uint8(generator.synthesize(z, labels, batch_size))


def evaluate(real: str, fake: str | Path | LoadedGenerator, metrics: str | tuple[str, ...] = "fid",
             extractor: str | None = None, num: int = 10000, batch_size: int = 64, device: str = "cpu",
             seed: int = 0, resolution: int | None = None, memorization_png: str | Path | None = None) -> dict:
    """Compare generated images (a checkpoint, run folder, export, or a folder of images) with real data.

    Returns a dict of metric values plus the extractor's description and the image counts.
    """
    names = parse_metrics(metrics)
    extractor = extractor or default_extractor(real)
    generator = fake if isinstance(fake, LoadedGenerator) else _generator_or_none(Path(fake))
    if generator is not None and generator.dataset.paired:
        return evaluate_pairs(real, generator, names, extractor, num, batch_size, device)
    if {"psnr", "ssim", "l1", "lpips"} & set(names):
        raise ConfigError("--metrics psnr/ssim/l1/lpips compare an image-to-image model's outputs with held-out "
                          "targets; --fake must be such a model (pix2pix) and --real its held-out pairs")
    if generator is not None:
        generator.to(device)
        resolution = resolution or generator.dataset.resolution
    fake_folder = None
    if generator is None:
        fake_folder = data_lib.build(DataConfig(source=str(fake), resolution=resolution), cache=False)
        resolution = fake_folder.info.resolution
    real_set = data_lib.build(DataConfig(source=real, resolution=resolution))
    evaluator = Evaluator(real_set, names, extractor, num, device, batch_size, seed)
    if generator is not None:
        batches = generator_batches(generator, num, batch_size, seed)
        remake = lambda i: next(generator_batches(generator, 1, 1, seed + i))[0]  # noqa: E731
    else:
        count = min(num, len(fake_folder))
        batches = (fake_folder.batch(torch.arange(s, min(s + batch_size, count)))[0] for s in range(0, count, batch_size))
        remake = lambda i: fake_folder[i][0]  # noqa: E731
    png = Path(memorization_png) if memorization_png else None
    return evaluator(batches, remake, png)


def _generator_or_none(path: Path) -> LoadedGenerator | None:
    """A generator when `path` is a checkpoint, run folder or export; None when it is a folder/zip of images."""
    if path.is_file() and path.suffix == ".pt" or is_export(path) or (path.is_dir() and list_checkpoints(path)):
        return load(path)
    if not path.exists():
        raise ConfigError(f"--fake {path}: no such checkpoint, export, or image folder")
    return None


def evaluate_pairs(pairs: str, generator: LoadedGenerator, metrics: tuple[str, ...], extractor: str, num: int,
                   batch_size: int, device: str) -> dict:
    """Translate held-out inputs A and compare the outputs with their targets B: PSNR, SSIM, L1, LPIPS, and FID/KID
    of outputs vs targets with the chosen extractor."""
    from .lpips import load_lpips, lpips
    from .paired import l1, psnr, ssim

    unknown = [m for m in metrics if m not in PAIRED_METRICS]
    if unknown:
        raise ConfigError(f"--metrics {unknown[0]}: an image-to-image model is scored with {', '.join(PAIRED_METRICS)}")
    lpips_net = load_lpips(device=device) if "lpips" in metrics else None  # missing weights fail before translating
    generator.to(device)
    dataset = data_lib.build(DataConfig(source=pairs, resolution=generator.dataset.resolution), paired=True)
    if dataset.info.input_channels != generator.dataset.input_channels or dataset.info.channels != generator.dataset.channels:
        raise ConfigError(f"--real {pairs}: pairs of {dataset.info.input_channels}->{dataset.info.channels} channels, "
                          f"but the model translates {generator.dataset.input_channels}->{generator.dataset.channels}")
    count = min(num, len(dataset))
    outputs, targets = [], []
    for start in range(0, count, batch_size):
        target, inputs = dataset.batch(torch.arange(start, min(start + batch_size, count)))
        with torch.no_grad():
            outputs.append(to_uint8(generator.module(inputs.to(generator.device).float() / 127.5 - 1)).cpu())
        targets.append(target)
    output, target = torch.cat(outputs), torch.cat(targets)
    results: dict = {"num_pairs": count}
    if "psnr" in metrics:
        results["psnr"] = psnr(output, target)
    if "ssim" in metrics:
        results["ssim"] = ssim(output, target)
    if "l1" in metrics:
        results["l1"] = l1(output, target)
    if lpips_net is not None:
        results["lpips"] = lpips(output, target, lpips_net, batch_size)
    if {"fid", "kid"} & set(metrics):
        reference = data_lib.TensorImageDataset(target, torch.zeros(count, dtype=torch.long), dataset.info)
        evaluator = Evaluator(reference, tuple(m for m in metrics if m in ("fid", "kid")), extractor, count, device,
                              batch_size)
        results |= evaluator(iter(torch.split(output, batch_size)))
    return results

"""The metric registry: every metric declared once, by decorator, with its name, what it needs, its result keys
with their meanings, and how it is computed from the shared `Inputs`. Adding a metric touches this file only;
`Evaluator` (evaluate.py), the report table, `ganforge eval --help` and the `--metrics` error read the registry.

A need is checked before any image is generated or read (`unmet`), so a metric that cannot run is named with its
reason while the others are computed. The formulas live in their own modules (frechet.py, manifold.py, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, GanforgeError
from ..registry import Registry
from .extractors import FeatureExtractor
from .label_fidelity import LABEL_ACC, LABEL_ACC_PER_CLASS
from .pixel import l1, psnr, ssim

# ---- needs: what a metric reads ------------------------------------------------------------------------------------
FEATURES = "features"  # extractor features of generated and real images
LOGITS = "logits"  # the extractor's class logits for generated images
NEIGHBOURS = "neighbours"  # nearest real feature of each generated one, judged by the extractor's calibrated threshold
CHANNEL_DIGITS = "channel digits"  # the digit in each of R, G, B (stacked digits), read by the digits classifier
SAMPLES = "samples"  # generated samples compared with the training distribution (not an image-to-image model)
PAIRED = "paired"  # an image-to-image model's outputs beside their held-out targets
LABELS = "labels"  # the class each generated image was asked for (a class-conditional generator)
DINOV2_FEATURES = "dinov2 features"  # the features come from a DINOv2 extractor (dinov2.py)
NEEDS = (PAIRED, SAMPLES, LABELS, FEATURES, DINOV2_FEATURES, LOGITS, NEIGHBOURS, CHANNEL_DIGITS)  # first unmet named
EXTRACTOR_NEEDS = frozenset({FEATURES, DINOV2_FEATURES, LOGITS, NEIGHBOURS})  # needs read from the extractor (weights)

# ---- result keys ---------------------------------------------------------------------------------------------------
FID, KID, KID_STD, IS, IS_STD, FD_DINOV2 = "fid", "kid", "kid_std", "is", "is_std", "fd_dinov2"
PRECISION, RECALL, DENSITY, COVERAGE = "precision", "recall", "density", "coverage"
MIFID, MEMORIZATION_DISTANCE, MEMORIZATION, MODES = "mifid", "memorization_distance", "memorization", "modes"
PSNR, SSIM, L1, LPIPS = "psnr", "ssim", "l1", "lpips"
INPUT_SUFFIX = "_input"  # "psnr_input": the same metric for the held-out input itself used as the output (no model)
LABEL_CLASSIFIER = "label_classifier"
EXTRACTOR, NUM_REAL, NUM_FAKE, NUM_PAIRS = "extractor", "num_real", "num_fake", "num_pairs"
EXTRACTOR_NAME, WEIGHTS_SHA256 = "extractor_name", "weights_sha256"  # the registered name; its weight file's SHA-256
RESOLUTION = "resolution"  # the side, in pixels, at which the sets were compared
NOT_COMPUTED = "not_computed"  # metric name -> why it could not run
WARNINGS = "warnings"  # lines about how far the numbers can be trusted
ALIASES = {"memorisation": "memorization"}
# Which way is better for the result keys a run can keep best.pt by (--best-by); keys absent here (density, whose
# ideal is ~1, spreads, counts) have no direction.
BETTER = {
    FID: "lower",
    KID: "lower",
    FD_DINOV2: "lower",
    MIFID: "lower",
    L1: "lower",
    LPIPS: "lower",
    IS: "higher",
    PRECISION: "higher",
    RECALL: "higher",
    COVERAGE: "higher",
    PSNR: "higher",
    SSIM: "higher",
    LABEL_ACC: "higher",
}


@dataclass(frozen=True)
class Setup:
    """What is known before any work: the extractor, the images' channel count, and the kind of model."""

    extractor_name: str
    extractor: FeatureExtractor | None  # None: not needed by the metrics asked for, or could not be loaded
    channels: int  # of the real (and generated) images
    paired: bool  # an image-to-image model scored on held-out pairs
    extractor_error: str | None = None  # why the extractor could not be loaded (e.g. weights not found offline)
    classes: tuple[str, ...] = ()  # class names of a conditional generator's labels (empty: no labels)


@dataclass(frozen=True)
class Metric:
    name: str
    needs: frozenset[str]
    keys: dict[str, str]  # result key -> one-line meaning, for the report table (and JSON readers)
    compute: Callable[[Inputs], dict]
    summary: str  # for --help
    prepare: Callable[[Setup, str], Any] | None = None  # (setup, device) -> ready state, e.g. loaded weights; may raise
    lines: Callable[[dict], list[str]] | None = None  # table lines for nested results (modes, memorisation)


class MetricRegistry(Registry[Metric]):
    def entries(self) -> list[Metric]:
        """The metrics in the order they were declared (the report's order)."""
        return list(self._entries.values())


METRICS = MetricRegistry("metric")


def register_metric(
    name: str,
    needs: set[str],
    keys: dict[str, str],
    summary: str,
    prepare: Callable[[Setup, str], Any] | None = None,
    lines: Callable[[dict], list[str]] | None = None,
) -> Callable:
    """Declare `compute(inputs) -> {key: value}` as metric `name`."""
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"metric {name!r}: unknown need {sorted(unknown)[0]!r}; choose from {', '.join(NEEDS)}")

    def decorator(compute: Callable[[Inputs], dict]) -> Callable[[Inputs], dict]:
        METRICS.register(name)(Metric(name, frozenset(needs), keys, compute, summary, prepare, lines))
        return compute

    return decorator


def parse_metrics(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """'fid, KID,memorisation' -> ('fid', 'kid', 'memorization'); unknown or no names: ConfigError naming --metrics."""
    names = tuple(n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip())
    names = tuple(dict.fromkeys(ALIASES.get(n, n) for n in names))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConfigError(
            f"--metrics: unknown metric {unknown[0] if unknown else '(none)'!r}; "
            f"choose from {', '.join(METRICS.names())}"
        )
    return names


def needs_extractor(names: tuple[str, ...]) -> bool:
    """Whether any of the metrics `names` reads the feature extractor (pixel metrics such as PSNR need none)."""
    return any(METRICS.get(name).needs & EXTRACTOR_NEEDS for name in names)


def best_key(best_by: str, names: tuple[str, ...], not_computed: dict[str, str]) -> str | None:
    """The result key best.pt follows for --best-by `best_by` when the metrics `names` are computed (except those in
    `not_computed`): `auto` is fid if computed, else the first computed key with a direction (None if there is
    none); a named key that no computed metric gives is a ConfigError naming it."""
    computed = [key for name in names if name not in not_computed for key in METRICS.get(name).keys if key in BETTER]
    if best_by == "auto":
        return FID if FID in computed else next(iter(computed), None)
    if best_by not in BETTER:
        raise ConfigError(f"--best-by {best_by}: not a result with a better direction; choose from {', '.join(BETTER)}")
    if best_by not in computed:
        owner = next((m.name for m in METRICS.entries() if best_by in m.keys), best_by)
        reason = f" ({not_computed[owner]})" if owner in not_computed else ""
        raise ConfigError(
            f"--best-by {best_by}: metric {owner!r} is not computed during training{reason}; "
            f"--metrics is {','.join(names)}"
        )
    return best_by


def improves(key: str, value: float, best: float | None) -> bool:
    """Whether `value` of result `key` beats `best` (None: nothing yet), by the key's direction in BETTER."""
    return best is None or (value < best if BETTER[key] == "lower" else value > best)


def metrics_help() -> str:
    """One line per registered metric, for `ganforge eval --help`."""
    return "; ".join(f"{m.name}: {m.summary}" for m in METRICS.entries())


def unmet(need: str, setup: Setup) -> str | None:
    """Why `need` cannot be met in `setup`, or None when it can."""
    extractor, name = setup.extractor, setup.extractor_name
    if need in EXTRACTOR_NEEDS and extractor is None:
        return setup.extractor_error or f"extractor {name!r} was not loaded"
    if need == FEATURES and setup.channels not in extractor.input_channels:
        return (
            f"extractor {name!r} reads {' or '.join(map(str, extractor.input_channels))}-channel images, "
            f"these have {setup.channels}"
        )
    if need == DINOV2_FEATURES and extractor.family != "dinov2":
        return (
            f"is the Fréchet distance of DINOv2 features; extractor {name!r} is not DINOv2 "
            f"({extractor.description}); pass --extractor dinov2 (or dinov2-vitb14 / dinov2-vitl14), or leave it "
            f"unset"
        )
    if need == LOGITS and not extractor.has_logits:
        return f"extractor {name!r} gives no class logits ({extractor.description})"
    if need == NEIGHBOURS and extractor.memorization_threshold is None:
        return (
            f"extractor {name!r} has no calibrated memorisation threshold (a distance calibrated for Inception "
            f"features means nothing for others); register it with memorization_threshold=..."
        )
    if need == CHANNEL_DIGITS and setup.channels != 3:
        return f"counts stacked-digit modes in 3-channel images; these have {setup.channels} channel(s)"
    if need == SAMPLES and setup.paired:
        pair_metrics = [m.name for m in METRICS.entries() if SAMPLES not in m.needs]
        return f"an image-to-image model is scored with {', '.join(pair_metrics)} (outputs vs held-out targets)"
    if need == LABELS and not setup.classes:
        return "needs a class-conditional generator (images generated for requested classes)"
    if need == PAIRED and not setup.paired:
        return (
            "compares an image-to-image model's outputs with held-out targets; --fake must be such a model "
            "(pix2pix) and --real its held-out pairs"
        )
    return None


@dataclass
class Plan:
    """The requested metrics split into those that will run (with their prepared state) and those that cannot."""

    runnable: list[Metric]
    prepared: dict[str, Any] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)  # name -> reason

    @property
    def needs(self) -> set[str]:
        return set().union(*(m.needs for m in self.runnable))


def plan(names: tuple[str, ...], setup: Setup, device: str = "cpu") -> Plan:
    """Check every requested metric's needs (and prepare it) before any work; ConfigError if none can run."""
    result = Plan([])
    for name in names:
        metric = METRICS.get(name)
        reason = next((r for need in NEEDS if need in metric.needs and (r := unmet(need, setup))), None)
        if reason is None and metric.prepare is not None:
            try:
                result.prepared[name] = metric.prepare(setup, device)
            except GanforgeError as error:
                reason = str(error)
        if reason is None:
            result.runnable.append(metric)
        else:
            result.not_computed[name] = reason
    if not result.runnable:
        name, reason = next(iter(result.not_computed.items()))
        raise ConfigError(f"--metrics {name}: {reason}")
    return result


class Inputs:
    """What metrics read, each derived once on first use: features, logits and channel digits of the generated
    images, the real features and channel digits, Gaussian statistics, nearest neighbours, and for image-to-image
    models the outputs and targets."""

    def __init__(
        self,
        fake_features: torch.Tensor,
        fake_logits: torch.Tensor | None,
        fake_channel_probabilities: torch.Tensor | None,
        evaluator: Any,
        prepared: dict[str, Any],
        pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
        fake_image: Callable[[int], torch.Tensor] | None = None,
        memorization_png: Path | None = None,
        input_baseline: torch.Tensor | None = None,
        labels: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        self.fake_features = fake_features  # [M, D]
        self.fake_logits = fake_logits  # [M, K] or None
        self.fake_channel_probabilities = fake_channel_probabilities  # [M, 3, 10] or None
        self.real_features = evaluator.real_features  # [N, D]
        self.real_channel_probabilities = evaluator.real_channel_probabilities  # [N, 3, 10] or None
        self.extractor: FeatureExtractor = evaluator.extractor
        self.real_image = evaluator.real_image
        self.evaluator, self.prepared, self.pairs = evaluator, prepared, pairs  # pairs: uint8 (outputs, targets)
        self.fake_image, self.memorization_png = fake_image, memorization_png
        self.input_baseline = input_baseline  # uint8 [N, C, H, W]: the held-out inputs as outputs, or None
        self.labels = labels  # (requested classes [M], the label classifier's reading [M]) of generated images
        self.warnings: list[str] = []

    @cached_property
    def fid(self) -> float:
        from .frechet import GaussianStats, frechet_distance

        real_stats = self.evaluator.real_stats()
        count = min(real_stats.count or len(self.fake_features), len(self.fake_features))
        if count < self.extractor.dim:
            name = "FD-DINOv2" if self.extractor.family == "dinov2" else "FID"
            self.warnings.append(
                f"{name} from {len(self.fake_features)} generated and {real_stats.count} real images, fewer than "
                f"the {self.extractor.dim} feature dimensions: the covariance is rank-deficient and {name} is "
                f"biased upward; use at least {self.extractor.dim} images and compare {name}s only at equal counts"
            )
        return frechet_distance(real_stats, GaussianStats.of(self.fake_features))

    @cached_property
    def neighbours(self):
        from .memorization import nearest_real

        return nearest_real(self.fake_features, self.real_features)


# ---- the metrics ---------------------------------------------------------------------------------------------------
@register_metric(
    "fid",
    {FEATURES},
    {FID: "Fréchet distance of feature Gaussians; lower is better, 0 = same statistics"},
    "Fréchet distance (Heusel et al. 2017)",
)
def _fid(inputs: Inputs) -> dict:
    return {FID: inputs.fid}


@register_metric(
    "fd_dinov2",
    {FEATURES, DINOV2_FEATURES},
    {FD_DINOV2: "Fréchet distance of DINOv2 feature Gaussians (FD-DINOv2); lower is better"},
    "FD-DINOv2 (Stein et al. 2023; needs a DINOv2 extractor, the default when it is asked for)",
)
def _fd_dinov2(inputs: Inputs) -> dict:
    return {FD_DINOV2: inputs.fid}


@register_metric(
    "kid",
    {FEATURES},
    {KID: "kernel (MMD^2) distance, unbiased; lower is better, ~0 = same distribution"},
    "kernel distance (Bińkowski et al. 2018)",
)
def _kid(inputs: Inputs) -> dict:
    from .frechet import kernel_distance

    mean, std = kernel_distance(inputs.real_features.numpy(), inputs.fake_features.numpy())
    if min(len(inputs.real_features), len(inputs.fake_features)) < 100:
        inputs.warnings.append(
            f"KID from fewer than 100 images per set ({len(inputs.fake_features)} generated): "
            "its spread over subsets is large; read it with the ± value"
        )
    return {KID: mean, KID_STD: std}


@register_metric(
    "is",
    {FEATURES, LOGITS, SAMPLES},
    {IS: "Inception Score; higher = confident and varied classes"},
    "Inception Score (needs an extractor with logits)",
)
def _inception_score(inputs: Inputs) -> dict:
    from .inception_score import inception_score

    mean, std = inception_score(inputs.fake_logits)
    return {IS: mean, IS_STD: std}


@register_metric(
    "pr",
    {FEATURES, SAMPLES},
    {
        PRECISION: "share of generated images on the real manifold (quality)",
        RECALL: "share of real images on the generated manifold (variety)",
    },
    "precision/recall (Kynkäänniemi et al. 2019)",
)
def _precision_recall(inputs: Inputs) -> dict:
    from .manifold import precision_recall

    precision, recall = precision_recall(inputs.real_features, inputs.fake_features, k=inputs.extractor.manifold_k or 3)
    return {PRECISION: precision, RECALL: recall}


@register_metric(
    "dc",
    {FEATURES, SAMPLES},
    {
        DENSITY: "how densely generated images sit among real neighbours (~1 for matching sets)",
        COVERAGE: "share of real neighbourhoods holding a generated image",
    },
    "density/coverage (Naeem et al. 2020)",
)
def _density_coverage(inputs: Inputs) -> dict:
    from .manifold import density_coverage

    density, coverage = density_coverage(inputs.real_features, inputs.fake_features, k=inputs.extractor.manifold_k or 5)
    return {DENSITY: density, COVERAGE: coverage}


@register_metric(
    "mifid",
    {FEATURES, NEIGHBOURS, SAMPLES},
    {
        MEMORIZATION_DISTANCE: "mean min cosine distance generated -> real (lower = closer copies)",
        MIFID: "FID divided by the thresholded memorisation distance (Kaggle dog-generation metric)",
    },
    "memorisation-informed FID",
)
def _mifid(inputs: Inputs) -> dict:
    from .memorization import memorization_distance, mifid

    distance = memorization_distance(inputs.neighbours)
    return {
        MEMORIZATION_DISTANCE: distance,
        MIFID: mifid(inputs.fid, distance, eps=inputs.extractor.memorization_threshold),
    }


def _memorization_lines(results: dict) -> list[str]:
    report = results[MEMORIZATION]
    return [
        f"  {'memorization':>22}  median {report['median']:.4f}, min {report['min']:.4f}, "
        f"{report['share_below_threshold']:.1%} below {report['threshold']:.4g} (this extractor's threshold)"
        + (f"; closest pairs: {report['closest_pairs_png']}" if "closest_pairs_png" in report else "")
    ]


@register_metric(
    "memorization",
    {FEATURES, NEIGHBOURS, SAMPLES},
    {MEMORIZATION: "nearest real image of each generated one: distance quantiles, closest pairs"},
    "nearest real image of each generated one",
    lines=_memorization_lines,
)
def _memorization(inputs: Inputs) -> dict:
    from .memorization import memorization_report

    return {
        MEMORIZATION: memorization_report(
            inputs.neighbours,
            inputs.extractor.memorization_threshold,
            inputs.memorization_png,
            inputs.fake_image,
            inputs.real_image,
        )
    }


def _modes_lines(results: dict) -> list[str]:
    from .modes import describe

    modes = results[MODES]
    lines = [f"  {'modes':>22}  {describe(modes)}  (Stacked-MNIST DCGAN: 99 modes, KL 3.4)"]
    if "real" in modes:
        lines.append(f"  {'modes of real data':>22}  {describe(modes['real'])}")
    return lines


@register_metric(
    "modes",
    {CHANNEL_DIGITS, SAMPLES},
    {MODES: "stacked-digit modes covered, KL to uniform, confidence"},
    "stacked-digit modes, KL to uniform and classifier confidence",
    lines=_modes_lines,
)
def _modes(inputs: Inputs) -> dict:
    from .modes import mode_report

    report = mode_report(inputs.fake_channel_probabilities)
    if inputs.real_channel_probabilities is not None:
        report["real"] = mode_report(inputs.real_channel_probabilities)
    return {MODES: report}


def _register_pixel_metric(
    key: str, formula: Callable[[torch.Tensor, torch.Tensor], float], meaning: str, summary: str
) -> None:
    """Register pixel metric `key` = formula(outputs, targets), reported beside the same formula for the held-out
    input used as the output (`key` + INPUT_SUFFIX, the baseline: bicubic for super-resolution, the damaged photo
    for repair), which needs no network."""
    baseline = key + INPUT_SUFFIX

    def compute(inputs: Inputs) -> dict:
        result = {key: formula(*inputs.pairs)}
        if inputs.input_baseline is not None:
            result[baseline] = formula(inputs.input_baseline, inputs.pairs[1])
        return result

    def lines(results: dict) -> list[str]:
        shown = f"{results[key]:<9.5g}" + (
            f" input as output: {results[baseline]:<9.5g}" if baseline in results else ""
        )
        return [f"  {key:>22}  {shown:<18} {meaning}"]

    keys = {
        key: meaning,
        baseline: f"{key} of the held-out input itself as the output (channels matched): "
        f"the baseline the model must beat",
    }
    register_metric(key, {PAIRED}, keys, summary, lines=lines)(compute)


_register_pixel_metric(
    PSNR,
    psnr,
    "peak signal-to-noise ratio of outputs vs targets, dB; higher is better",
    "peak signal-to-noise ratio (pix2pix)",
)
_register_pixel_metric(
    SSIM,
    ssim,
    "structural similarity of outputs vs targets (Wang et al. 2004); 1 = identical",
    "structural similarity (pix2pix)",
)
_register_pixel_metric(
    L1, l1, "mean absolute error of outputs vs targets in [-1, 1] units (pix2pix's L1)", "mean absolute error (pix2pix)"
)


def _prepare_lpips(setup: Setup, device: str):
    from .lpips import load_lpips

    return load_lpips(device=device)


@register_metric(
    "lpips",
    {PAIRED},
    {LPIPS: "learned perceptual distance (AlexNet LPIPS v0.1); lower is better"},
    "learned perceptual distance (pix2pix)",
    prepare=_prepare_lpips,
)
def _lpips(inputs: Inputs) -> dict:
    from .lpips import lpips

    return {LPIPS: lpips(*inputs.pairs, inputs.prepared["lpips"], inputs.evaluator.batch_size)}


def _prepare_label_classifier(setup: Setup, device: str):
    from .label_fidelity import label_classifier

    return label_classifier(setup.classes, device)


def _label_acc_lines(results: dict) -> list[str]:
    per_class = ", ".join(f"{name} {value:.2f}" for name, value in results[LABEL_ACC_PER_CLASS].items())
    return [
        f"  {LABEL_ACC:>22}  {results[LABEL_ACC]:<18.5g} {METRICS.get(LABEL_ACC).keys[LABEL_ACC]}",
        f"  {'per class':>22}  {per_class}",
        f"  {'':>22}  read by the {results[LABEL_CLASSIFIER]}; chance = {1 / len(results[LABEL_ACC_PER_CLASS]):.2f}",
    ]


@register_metric(
    "label_acc",
    {SAMPLES, LABELS},
    {
        LABEL_ACC: "label fidelity: share of images generated for class k that a fixed classifier reads as k "
        "(mean over classes); chance = 1 / classes",
        LABEL_ACC_PER_CLASS: "label fidelity of each requested class",
        LABEL_CLASSIFIER: "the classifier that read the generated images",
    },
    "label fidelity of a class-conditional generator (digits or shapes classes)",
    prepare=_prepare_label_classifier,
    lines=_label_acc_lines,
)
def _label_acc(inputs: Inputs) -> dict:
    from .label_fidelity import label_fidelity

    classifier = inputs.prepared["label_acc"]
    requested, predicted = inputs.labels
    return label_fidelity(predicted, requested, inputs.evaluator.classes, classifier.class_names) | {
        LABEL_CLASSIFIER: classifier.description
    }

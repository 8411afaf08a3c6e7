"""Image-generation metrics: feature extractors (registry), the metric registry (measures.py: FID/KID/IS,
precision/recall, density/coverage, MiFID, memorisation, stacked-digit modes, paired PSNR/SSIM/L1/LPIPS), and
`evaluate` which ties them together."""

from . import digits_classifier, dinov2, inception  # noqa: F401  (register the built-in extractors)
from .evaluate import Evaluator, check_metrics, default_extractor, evaluate
from .extractors import EXTRACTORS, FeatureExtractor, build_extractor, register_extractor
from .measures import METRICS, parse_metrics, register_metric

__all__ = [
    "EXTRACTORS",
    "METRICS",
    "Evaluator",
    "FeatureExtractor",
    "build_extractor",
    "check_metrics",
    "default_extractor",
    "evaluate",
    "parse_metrics",
    "register_extractor",
    "register_metric",
]

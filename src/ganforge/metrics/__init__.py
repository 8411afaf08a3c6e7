"""Image-generation metrics: feature extractors (registry), FID/KID/IS, precision/recall, density/coverage,
MiFID, memorisation and stacked-digit mode coverage, and `evaluate` which ties them together."""
from . import digits_classifier, inception  # noqa: F401  (register the built-in extractors)
from .evaluate import METRICS, Evaluator, default_extractor, evaluate, parse_metrics
from .extractors import EXTRACTORS, FeatureExtractor, build_extractor, register_extractor

__all__ = ["EXTRACTORS", "METRICS", "Evaluator", "FeatureExtractor", "build_extractor", "default_extractor",
           "evaluate", "parse_metrics", "register_extractor"]

"""The `digits` and `digits-per-channel` feature extractors: a small CNN trained on the built-in digits, shipped as
safetensors weights with a calibrated temperature.

Owns the architecture, the fixed train/test split the shipped weights were trained and scored on (shared with
scripts/train_digits_classifier.py and the tests), weight loading, and per-channel classification for counting
modes on stacked digits. `digits` reads one gray image (RGB averaged): 128-d penultimate features for FID/KID and
10 logits for Inception-Score-like scores. `digits-per-channel` reads R, G and B as three digits: their features
concatenated (384-d, so FID on stacked digits scores each channel's digit, not a blend of three) and the
1000-way joint logits of the three independent channel classifications.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from ..errors import CheckpointError
from .extractors import EXTRACTORS, FeatureExtractor

WEIGHTS_PATH = Path(__file__).parent / "weights" / "digits_classifier.safetensors"
METADATA_KEY = "ganforge"  # safetensors metadata entry holding the JSON training record
RESOLUTION = 32  # the classifier's input size; other sizes are resized to it
FEATURE_DIM = 128
MEMORIZATION_THRESHOLDS_KEY = "memorization_threshold"  # metadata: extractor name -> calibrated threshold
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def digits_split(
    labels: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of the built-in digits: (train indices, test indices), each sorted."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(len(members) * test_fraction))
        test.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class DigitsClassifier(nn.Module):
    """Three conv blocks (32 -> 16 -> 8 -> 4 px), global average pooling, 128-d features, 10 logits divided by a
    calibrated temperature (a buffer saved with the weights; 1 until calibrated)."""

    def __init__(
        self,
        width: int = 16,  # channels of the first block, doubled per block
        num_classes: int = 10,
    ):  # logits (the shapes classifier of label_fidelity.py reuses the net with 5)
        super().__init__()
        layers, channels = [], 1
        for block in range(3):
            out = width * 2**block
            layers += [
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.body = nn.Sequential(*layers)
        self.features = nn.Sequential(nn.Linear(channels, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, num_classes)
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float [N, 1, 32, 32] in [-1, 1] -> (features [N, 128], calibrated logits [N, num_classes])."""
        features = self.features(self.body(x).mean(dim=(2, 3)))
        return features, self.head(features) / self.temperature


def to_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float [N, 1, 32, 32] in [-1, 1].

    RGB is reduced to one channel by averaging R, G and B (the classifier is grayscale); other sizes are resized
    to 32x32 bilinearly (antialiased when shrinking; non-square images are stretched).
    """
    x = images.float().mean(dim=1, keepdim=True)  # [N, 1, H, W]
    height, width = x.shape[-2:]
    if (height, width) != (RESOLUTION, RESOLUTION):
        x = F.interpolate(
            x,
            size=(RESOLUTION, RESOLUTION),
            mode="bilinear",
            align_corners=False,
            antialias=height > RESOLUTION or width > RESOLUTION,
        )
    return x / 127.5 - 1.0


def read_metadata(path: Path = WEIGHTS_PATH) -> dict:
    """The JSON training record stored in the weights file (test accuracy, seed, date, script)."""
    with safe_open(str(path), framework="pt") as handle:
        return json.loads((handle.metadata() or {}).get(METADATA_KEY, "{}"))


def load_classifier(path: Path = WEIGHTS_PATH, script: str = "scripts/train_digits_classifier.py") -> DigitsClassifier:
    """The classifier with the shipped (or given) weights, in eval mode; its class count is read from the weights.
    `script` is named when the file is missing (the script that writes it)."""
    if not path.is_file():
        raise CheckpointError(f"classifier weights not found at {path}; run {script} to create them")
    weights = load_file(str(path))
    model = DigitsClassifier(num_classes=weights["head.weight"].shape[0])
    model.load_state_dict(weights)
    return model.eval()


def memorization_threshold(name: str, path: Path = WEIGHTS_PATH) -> float | None:
    """The calibrated memorisation threshold of extractor `name` stored with the weights (None when absent)."""
    value = read_metadata(path).get(MEMORIZATION_THRESHOLDS_KEY, {}).get(name)
    return None if value is None else float(value)


class DigitsExtractor(FeatureExtractor):
    """uint8 digit images (1 or 3 channels, any size; RGB averaged to gray) -> (128-d features, 10 digit logits)."""

    name, kind = "digits", "digits classifier"  # registry name (selects the threshold) and report wording
    dim = FEATURE_DIM
    has_logits = True

    def __init__(self, path: Path = WEIGHTS_PATH):  # path: safetensors weights written by the training script
        super().__init__()
        self.model = load_classifier(path)
        accuracy = read_metadata(path).get("test_accuracy")
        score = "unknown" if accuracy is None else f"{accuracy:.4f}"
        self.description = f"{self.kind} ({path.name}, held-out test accuracy {score})"
        self.memorization_threshold = memorization_threshold(self.name, path)

    @torch.inference_mode()
    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(to_classifier_input(images))

    @torch.inference_mode()
    def channel_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 [N, C, H, W] -> (features [N, C, 128], logits [N, C, 10]), each channel read as its own gray image."""
        count, channels, height, width = images.shape
        features, logits = self.model(to_classifier_input(images.reshape(count * channels, 1, height, width)))
        return features.reshape(count, channels, FEATURE_DIM), logits.float().reshape(count, channels, 10)

    def channel_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, H, W] -> [N, 3, 10]: digit probabilities of R, G and B."""
        assert images.ndim == 4 and images.shape[1] == 3 and images.dtype == torch.uint8, (
            f"expected uint8 [N, 3, H, W], got {images.dtype} {tuple(images.shape)}"
        )
        return self.channel_logits(images)[1].softmax(dim=2)

    def classify_channels(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, H, W] -> LongTensor [N, 3]: the most likely digit in each of R, G, B."""
        return self.channel_probabilities(images).argmax(dim=2)


class PerChannelDigitsExtractor(DigitsExtractor):
    """uint8 [N, 3, H, W] stacked digits -> (features of R, G, B concatenated [N, 384], joint logits [N, 1000]).

    Joint logit of mode 100 r + 10 g + b = log p_R(r) + log p_G(g) + log p_B(b) (channels classified independently).
    """

    name, kind = "digits-per-channel", "digits classifier per channel"
    dim = 3 * FEATURE_DIM
    input_channels = (3,)

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, logits = self.channel_logits(images)  # [N, 3, 128], [N, 3, 10]
        log_p = logits.log_softmax(dim=2)
        joint = log_p[:, 0, :, None, None] + log_p[:, 1, None, :, None] + log_p[:, 2, None, None, :]  # [N, 10, 10, 10]
        return features.reshape(len(images), self.dim), joint.reshape(len(images), 1000)


@EXTRACTORS.register("digits")
def digits_extractor(device: torch.device) -> DigitsExtractor:
    return DigitsExtractor().to(device)


@EXTRACTORS.register("digits-per-channel")
def per_channel_digits_extractor(device: torch.device) -> PerChannelDigitsExtractor:
    return PerChannelDigitsExtractor().to(device)

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.data.builtin import StackedDigits, digit_images
from ganforge.metrics.digits_classifier import WEIGHTS_PATH, DigitsExtractor, digits_split, read_metadata
from ganforge.metrics.extractors import EXTRACTORS, build_extractor
from ganforge.metrics.modes import mode_report


@pytest.fixture(scope="module")
def extractor() -> DigitsExtractor:
    return build_extractor("digits")


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, np.ndarray]:
    images, labels = digit_images(32)
    return torch.from_numpy(images)[:, None], labels  # uint8 [1797, 1, 32, 32], [1797]


def test_shipped_weights_load_and_are_small(extractor):
    assert WEIGHTS_PATH.is_file() and WEIGHTS_PATH.stat().st_size < 1_000_000
    assert isinstance(extractor, DigitsExtractor) and "digits" in EXTRACTORS
    meta = read_metadata()
    assert meta["test_accuracy"] >= 0.99 and "seed" in meta and "date" in meta
    assert 0.1 < meta["temperature"] < 10 and float(extractor.model.temperature) == pytest.approx(
        meta["temperature"], abs=1e-4
    )
    assert set(meta["memorization_threshold"]) == {"digits", "digits-per-channel"}
    assert WEIGHTS_PATH.name in extractor.description and f"{meta['test_accuracy']:.4f}" in extractor.description


def test_split_is_fixed_stratified_and_disjoint(digits):
    _, labels = digits
    train, test = digits_split(labels)
    again_train, again_test = digits_split(labels)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    assert abs(len(test) / len(labels) - 0.2) < 0.01
    assert np.all(np.abs(np.bincount(labels[test]) / np.bincount(labels) - 0.2) < 0.02)


def test_held_out_accuracy(extractor, digits):
    images, labels = digits
    _, test = digits_split(labels)
    _, logits = extractor(images[test])
    accuracy = (logits.argmax(1).numpy() == labels[test]).mean()
    assert accuracy >= 0.99, accuracy


def test_classify_channels_recovers_stacked_digits(extractor):
    stacked = StackedDigits(32, size=300, seed=1)
    images, modes = stacked.batch(torch.arange(300))  # uint8 [300, 3, 32, 32], 100*r + 10*g + b
    truth = torch.stack([modes // 100, modes // 10 % 10, modes % 10], dim=1)
    predicted = extractor.classify_channels(images)
    assert predicted.shape == (300, 3) and predicted.dtype == torch.long
    assert (predicted == truth).float().mean() >= 0.95


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [16, 32, 64])
def test_features_for_any_channel_count_and_size(extractor, digits, channels, size):
    images = digits[0][:20].float()
    if size != 32:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=size < 32).round()
    images = images.clamp(0, 255).to(torch.uint8).expand(-1, channels, -1, -1)
    features, logits = extractor(images)
    assert features.shape == (20, 128) and features.dtype == torch.float32 and torch.isfinite(features).all()
    assert logits.shape == (20, 10) and logits.dtype == torch.float32
    agreement = (logits.argmax(1).numpy() == digits[1][:20]).mean()
    assert agreement >= 0.9, agreement


def test_gray_rgb_equals_one_channel(extractor, digits):
    gray = digits[0][:8]
    one, _ = extractor(gray)
    three, _ = extractor(gray.expand(-1, 3, -1, -1))
    torch.testing.assert_close(one, three)


@pytest.mark.slow
def test_real_stacked_digits_are_classified_confidently(extractor):
    images, _ = StackedDigits(32, size=1000, seed=2).batch(torch.arange(1000))
    report = mode_report(extractor.channel_probabilities(images))
    assert report["confident_channels"] >= 0.97  # the old label-smoothed weights gave 0.91
    assert report["confident"]["num"] >= 900


def test_confidence_drops_on_images_that_are_no_digit(extractor):
    noise = torch.randint(0, 256, (200, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    assert mode_report(extractor.channel_probabilities(noise))["confident_channels"] < 0.5


def test_mode_report_counts_confident_channels_and_images():
    probabilities = torch.full((4, 3, 10), 0.01)
    probabilities[:, :, 0] = 0.91  # confident zeros ...
    probabilities[3, 2] = 0.1  # ... except the last image's blue channel, which is unsure (argmax 0 by ties)
    report = mode_report(probabilities)
    assert report["covered"] == 1 and report["num"] == 4
    assert report["confident_channels"] == pytest.approx(11 / 12)
    assert report["confident"]["num"] == 3 and report["confident"]["covered"] == 1


def test_per_channel_extractor_concatenates_each_channel(extractor):
    per_channel = build_extractor("digits-per-channel")
    stacked = StackedDigits(32, size=8, seed=3)
    images, modes = stacked.batch(torch.arange(8))
    features, joint = per_channel(images)
    assert features.shape == (8, 384) and joint.shape == (8, 1000)
    for channel in range(3):
        alone, _ = extractor(images[:, channel : channel + 1])
        torch.testing.assert_close(features[:, 128 * channel : 128 * (channel + 1)], alone)
    assert (joint.argmax(1) == modes).float().mean() >= 0.85
    torch.testing.assert_close(joint.exp().sum(1), torch.ones(8))  # a distribution over the 1000 modes


@pytest.mark.slow
def test_per_channel_fid_floor_is_small_and_blends_score_badly(tmp_path):
    from ganforge.data.base import SubsetDataset
    from ganforge.metrics.cache import FeatureCache
    from ganforge.metrics.evaluate import Evaluator

    stacks = StackedDigits(32, size=1600, seed=0)
    real = SubsetDataset(stacks, torch.arange(800))
    fresh, _ = stacks.batch(torch.arange(800, 1600))
    evaluator = Evaluator(real, ("fid",), "digits-per-channel", 800, cache=FeatureCache(tmp_path))
    floor = evaluator(iter([fresh]))["fid"]
    grey = fresh.float().mean(1, keepdim=True).expand(-1, 3, -1, -1).to(torch.uint8)  # the old metric's view
    assert evaluator(iter([grey]))["fid"] > 20 * floor

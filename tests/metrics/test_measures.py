"""The metric registry and what `evaluate` checks before any work: needs, per-extractor memorisation thresholds,
sample-size warnings, folder sizes and channels, and the flag named in errors (issues 9, 15, 16)."""

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from ganforge.cli import main
from ganforge.data.base import DatasetInfo, TensorImageDataset
from ganforge.data.builtin import digit_images
from ganforge.errors import ConfigError
from ganforge.metrics import METRICS, build_extractor, evaluate, parse_metrics, register_extractor
from ganforge.metrics.cache import FeatureCache
from ganforge.metrics.digits_classifier import digits_split
from ganforge.metrics.evaluate import Evaluator
from ganforge.metrics.measures import NOT_COMPUTED, WARNINGS, metrics_help, register_metric
from ganforge.metrics.memorization import memorization_report, nearest_real
from ganforge.metrics.report import format_table


class Flatten(nn.Module):
    def forward(self, x):
        return x.mean(1).flatten(1)[:, :16]


@pytest.fixture(scope="module")
def plain():
    """A user extractor without logits and without a memorisation threshold."""
    register_extractor("test-plain", Flatten(), 16)
    return "test-plain"


def _images(seed, n=40, channels=1, size=8):
    return torch.randint(
        0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def _dataset(seed, n=40, channels=1):
    return TensorImageDataset(
        _images(seed, n, channels), torch.zeros(n, dtype=torch.long), DatasetInfo("t", 8, channels)
    )


def test_registry_lists_every_metric_once_and_rejects_duplicates():
    assert set(METRICS.names()) >= {
        "fid",
        "fd_dinov2",
        "kid",
        "is",
        "pr",
        "dc",
        "mifid",
        "memorization",
        "modes",
        "psnr",
        "ssim",
        "l1",
        "lpips",
    }
    assert all(f"{name}:" in metrics_help() for name in METRICS.names())
    with pytest.raises(ValueError, match="already registered"):
        register_metric("fid", set(), {}, "again")(lambda inputs: {})
    assert parse_metrics("fid,memorisation,fid") == ("fid", "memorization")
    with pytest.raises(ConfigError, match=r"--metrics: unknown metric 'sharpness'; choose from dc, fd_dinov2, fid"):
        parse_metrics("sharpness")


def test_a_metric_that_cannot_run_is_named_and_the_others_are_reported(plain, monkeypatch):
    real, fake = _dataset(0), _dataset(1)
    evaluator = Evaluator(real, ("fid", "is", "memorization", "modes"), plain, 40)
    results = evaluator(iter([fake.images]))
    assert results["fid"] > 0 and results["num_fake"] == 40
    assert set(results[NOT_COMPUTED]) == {"is", "memorization", "modes"}
    assert "no class logits" in results[NOT_COMPUTED]["is"]
    assert "memorisation threshold" in results[NOT_COMPUTED]["memorization"]
    assert "3-channel" in results[NOT_COMPUTED]["modes"]
    table = format_table(results)
    assert "is  not computed: extractor 'test-plain' gives no class logits" in table
    # Nothing runnable: refused before a single feature is computed.
    extractor = build_extractor(plain)
    monkeypatch.setattr(type(extractor), "extract", lambda *a: pytest.fail("no work before the needs are checked"))
    with pytest.raises(ConfigError, match="--metrics is: extractor 'test-plain' gives no class logits"):
        Evaluator(real, ("is", "psnr"), plain, 40)


def test_check_metrics_for_run_setup(plain):
    from ganforge.metrics import check_metrics

    assert check_metrics("fid,modes", "digits", channels=3) == {}
    assert set(check_metrics("fid,modes", "digits", channels=1)) == {"modes"}
    with pytest.raises(ConfigError, match="--metrics modes: counts stacked-digit modes in 3-channel images"):
        check_metrics("modes", "digits", channels=1)


def test_fid_warns_under_the_feature_dimension(plain):
    results = Evaluator(_dataset(0, 20), ("fid", "kid"), plain, 20)(iter([_images(1, 12)]))
    assert any("fewer than the 16 feature dimensions" in w for w in results[WARNINGS])
    assert any("KID from fewer than 100" in w for w in results[WARNINGS])
    assert "warning: FID from 12 generated and 20 real images" in format_table(results)
    quiet = Evaluator(_dataset(0, 200), ("fid",), plain, 200)(iter([_images(1, 200)]))
    assert WARNINGS not in quiet


@pytest.fixture(scope="module")
def digit_split_features():
    images, labels = digit_images(32)
    train, test = digits_split(labels)
    extractor = build_extractor("digits")
    features, _ = extractor(torch.from_numpy(images)[:, None])
    return features[train], features[test], extractor


@pytest.mark.slow
def test_digits_memorisation_threshold_is_calibrated_on_held_out_reals(digit_split_features):
    train, test, extractor = digit_split_features
    threshold = extractor.memorization_threshold
    assert threshold is not None and threshold < 0.1  # not Inception's 0.1
    fresh = memorization_report(nearest_real(test, train), threshold)
    assert fresh["threshold"] == threshold and fresh["share_below_threshold"] <= 0.03  # 1% by calibration
    copies = memorization_report(nearest_real(train[:100] * 1.0001, train), threshold)
    assert copies["share_below_threshold"] == 1.0


@pytest.mark.slow
def test_noise_is_not_called_memorised_by_the_digits_extractor(tmp_path):
    digits = TensorImageDataset(
        torch.from_numpy(digit_images(32)[0])[:, None],
        torch.zeros(1797, dtype=torch.long),
        DatasetInfo("digits", 32, 1),
    )
    noise = torch.randint(0, 256, (100, 1, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    blobs = torch.nn.functional.interpolate(noise.float(), scale_factor=0.25)
    blobs = torch.nn.functional.interpolate(blobs, size=32, mode="bilinear").to(torch.uint8)  # smooth blobs
    results = Evaluator(digits, ("memorization", "mifid"), "digits", 500, cache=FeatureCache(tmp_path))(
        iter([noise, blobs])
    )
    assert results["memorization"]["share_below_threshold"] < 0.05
    assert results["mifid"] > 0


def _png_folder(folder, images):
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        array = image.permute(1, 2, 0).numpy()
        Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(folder / f"{i:03d}.png")
    return folder


def test_image_folders_are_compared_at_their_own_size(plain, tmp_path):
    real = _png_folder(tmp_path / "real", _images(0, 24, 3, 32))
    fake = _png_folder(tmp_path / "fake", _images(1, 24, 3, 32))
    results = evaluate(str(real), fake, "fid", extractor=plain, num=24)
    assert results["resolution"] == 32
    direct = Evaluator(
        TensorImageDataset(_images(0, 24, 3, 32), torch.zeros(24, dtype=torch.long), DatasetInfo("r", 32, 3)),
        ("fid",),
        plain,
        24,
    )(iter([_images(1, 24, 3, 32)]))
    assert results["fid"] == pytest.approx(direct["fid"], rel=1e-6)
    assert evaluate(str(real), fake, "fid", extractor=plain, num=24, resolution=16)["resolution"] == 16


def test_mismatched_or_mixed_folders_are_refused(plain, tmp_path):
    rgb64 = _png_folder(tmp_path / "rgb64", _images(0, 4, 3, 64))
    gray32 = _png_folder(tmp_path / "gray32", _images(1, 4, 1, 32))
    gray64 = _png_folder(tmp_path / "gray64", _images(2, 4, 1, 64))
    with pytest.raises(ConfigError, match="--real .*rgb64 holds 64 px images, --fake .*gray32 32 px"):
        evaluate(str(rgb64), gray32, "fid", extractor=plain)
    with pytest.raises(ConfigError, match="3-channel images, --fake .*gray64 1-channel"):
        evaluate(str(rgb64), gray64, "fid", extractor=plain)
    mixed = _png_folder(tmp_path / "mixed", _images(3, 2, 1, 32))
    Image.new("L", (64, 64)).save(mixed / "big.png")
    with pytest.raises(ConfigError, match="--fake .*mixed: images of several sizes.*--resolution"):
        evaluate(str(gray32), mixed, "fid", extractor=plain)


def test_cli_names_fake_for_an_empty_folder_and_reports_skipped_metrics(plain, tmp_path):
    (tmp_path / "empty").mkdir()
    real = _png_folder(tmp_path / "real", _images(0, 8, 1, 16))
    result = CliRunner().invoke(main, ["eval", "--real", str(real), "--fake", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "error: --fake" in result.output and "no images" in result.output
    assert "--data" not in result.output
    fake = _png_folder(tmp_path / "fake", _images(1, 8, 1, 16))
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--real",
            str(real),
            "--fake",
            str(fake),
            "--metrics",
            "fid,is",
            "--extractor",
            plain,
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "is  not computed: extractor 'test-plain' gives no class logits" in result.output
    assert "warning: FID from 8 generated" in result.output
    saved = json.loads(out.read_text())
    assert saved["fid"] > 0 and "is" in saved["not_computed"] and saved["warnings"]


def test_eval_help_lists_the_registry():
    result = CliRunner().invoke(main, ["eval", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert all(f"{name}:" in text for name in METRICS.names()) and "digits-per-channel" in text

"""Evaluation protocols and reference statistics: the clean-fid resize, the protocol table and its checks, saving
and reading statistics (ganforge's and clean-fid's .npz), mismatches named on both sides, and `ganforge stats` +
`eval --real-stats` giving the FID of the real data itself. (Parity with the reference packages:
test_protocol_parity.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge.cli import main
from ganforge.cli.evaluate import PROTOCOL_NAMES
from ganforge.errors import ConfigError, DataError
from ganforge.metrics import evaluate, reference_stats
from ganforge.metrics.evaluate import setup_for
from ganforge.metrics.frechet import GaussianStats
from ganforge.metrics.inception import preprocess
from ganforge.metrics.protocols import PROTOCOLS, get_protocol, pil_bicubic_resize


def test_clean_preprocessing_is_pil_bicubic_on_floats_per_channel():
    images = torch.randint(0, 256, (2, 3, 20, 28), dtype=torch.uint8)
    x = preprocess(images, "clean")
    assert x.shape == (2, 3, 299, 299)
    plane = Image.fromarray(images[1, 2].numpy().astype(np.float32), mode="F").resize((299, 299), Image.BICUBIC)
    expected = np.asarray(plane).clip(0, 255) / 128 - 1
    assert np.abs(x[1, 2].numpy() - expected).max() < 1e-6
    assert (preprocess(images, "tf") - x).abs().max() > 0.01  # bicubic is not the TF bilinear
    grey = torch.randint(0, 256, (1, 1, 16, 16), dtype=torch.uint8)
    assert torch.equal(preprocess(grey, "clean")[0, 0], preprocess(grey, "clean")[0, 2])
    assert pil_bicubic_resize(torch.full((1, 1, 4, 4), 255.0), 9).max() <= 255  # overshoot clipped


def test_protocol_table():
    assert PROTOCOL_NAMES == tuple(PROTOCOLS)
    nvlabs = get_protocol("nvlabs")
    assert (nvlabs.num_fake, nvlabs.full_real, nvlabs.mirror, nvlabs.preprocessing) == (50_000, True, False, "tf")
    assert (
        get_protocol("clean").preprocessing == "clean"
        and get_protocol("legacy-pytorch").preprocessing == "pytorch-fid"
        and get_protocol("ganforge").preprocessing is None
    )
    assert set(nvlabs.record()) >= {"name", "resize_filter", "reference", "num_fake", "full_real", "mirror"}
    with pytest.raises(ConfigError, match="--protocol: unknown protocol 'cleanfid'"):
        get_protocol("cleanfid")


def test_a_preprocessing_protocol_needs_inception():
    with pytest.raises(ConfigError, match="--protocol clean .* --extractor digits"):
        setup_for(("fid",), "digits", 1, False, protocol=get_protocol("clean"))


def _stats(dim=4, seed=0) -> GaussianStats:
    return GaussianStats.of(np.random.default_rng(seed).normal(size=(50, dim)))


def test_own_statistics_round_trip(tmp_path):
    path = tmp_path / "ref.safetensors"
    stats = _stats()
    reference_stats.save(path, reference_stats.ReferenceStats(stats, "clean", 64, "inception", "ab12", "~/faces"))
    loaded = reference_stats.load(path)
    assert np.array_equal(loaded.stats.mean, stats.mean) and np.array_equal(loaded.stats.cov, stats.cov)
    assert (loaded.protocol, loaded.resolution, loaded.extractor, loaded.weights_sha256, loaded.stats.count) == (
        "clean",
        64,
        "inception",
        "ab12",
        50,
    )
    assert loaded.check("clean", 64, "inception", "--real-stats") == []
    with pytest.raises(
        ConfigError, match=r"computed with protocol 'clean', but this evaluation uses protocol 'nvlabs'"
    ):
        loaded.check("nvlabs", 64, "inception", "--real-stats")
    with pytest.raises(ConfigError, match=r"resolution 64, but .* resolution 32"):
        loaded.check("clean", 32, "inception", "--real-stats")
    with pytest.raises(ConfigError, match=r"extractor 'inception', but .* extractor 'dinov2'"):
        loaded.check("clean", 64, "dinov2", "--real-stats")


def test_clean_fid_npz_takes_protocol_and_resolution_from_its_name(tmp_path):
    stats = _stats()
    named = tmp_path / "cifar10_legacy_tensorflow_train_32.npz"
    np.savez(named, mu=stats.mean, sigma=stats.cov)
    loaded = reference_stats.load(named)
    assert (loaded.protocol, loaded.resolution, loaded.extractor) == ("legacy-tensorflow", 32, "inception")
    assert np.allclose(loaded.stats.cov, stats.cov)
    with pytest.raises(ConfigError, match="protocol 'legacy-tensorflow', but this evaluation uses protocol 'clean'"):
        loaded.check("clean", 32, "inception", "--real-stats")
    clip = tmp_path / "ffhq_clean_clip_vit_b_32_trainval70k_1024.npz"
    np.savez(clip, mu=stats.mean, sigma=stats.cov)
    assert reference_stats.load(clip).extractor == "clip_vit_b_32"
    custom = tmp_path / "mine.npz"
    np.savez(custom, mu=stats.mean, sigma=stats.cov)
    warnings = reference_stats.load(custom).check("clean", 32, "inception", "--real-stats")
    assert len(warnings) == 1 and "does not record its protocol, resolution, extractor" in warnings[0]


def test_bad_statistics_files_name_the_flag(tmp_path):
    with pytest.raises(DataError, match="--real-stats .*absent.npz: no such file"):
        reference_stats.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "wrong.npz", mean=np.zeros(3))
    with pytest.raises(DataError, match="not clean-fid statistics with arrays mu and sigma"):
        reference_stats.load(tmp_path / "wrong.npz")
    np.savez(tmp_path / "shapes.npz", mu=np.zeros(3), sigma=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"do not fit together"):
        reference_stats.load(tmp_path / "shapes.npz")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match="--real-stats .*junk.safetensors"):
        reference_stats.load(tmp_path / "junk.safetensors")
    # a feature dimension past limits.FEATURE_DIM is refused from the mean's shape, before the D x D covariance
    # (here 10000 x 10000 float64 = 800 MB, were it stored) is read
    np.savez(tmp_path / "huge.npz", mu=np.zeros(10_000), sigma=np.zeros((1, 1)))
    with pytest.raises(DataError, match=r"huge.npz: feature dimension: must be in 1..8192, got 10000"):
        reference_stats.load(tmp_path / "huge.npz")
    from safetensors.numpy import save_file

    save_file(
        {"mean": np.zeros(10_000), "cov": np.zeros((1, 1))},
        str(tmp_path / "huge.safetensors"),
        metadata={"format": reference_stats.FORMAT},
    )
    with pytest.raises(DataError, match=r"huge.safetensors: feature dimension: must be in 1..8192"):
        reference_stats.load(tmp_path / "huge.safetensors")


@pytest.mark.slow
def test_stats_command_then_eval_real_stats(tmp_path, monkeypatch):
    """`ganforge stats` of real digits, then `eval --real-stats` of the same images as a folder: FID ~ 0, equal to
    the FID against the real data itself; KID cannot come from statistics and says why."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    runner, out = CliRunner(), tmp_path / "digits.safetensors"
    result = runner.invoke(
        main, ["stats", "digits", "--out", str(out), "--extractor", "digits", "--num", "64", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    saved = reference_stats.load(out)
    assert (saved.protocol, saved.resolution, saved.extractor, saved.stats.count) == ("ganforge", 32, "digits", 64)
    from ganforge import data as data_lib
    from ganforge.config import DataConfig

    digits = data_lib.build(DataConfig(source="digits"))
    indices = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))[:64]  # the Evaluator's subset
    folder = tmp_path / "fake"
    folder.mkdir()
    for index, image in enumerate(digits.batch(indices)[0]):
        Image.fromarray(image[0].numpy()).save(folder / f"{index:03d}.png")
    report = tmp_path / "scores.json"
    result = runner.invoke(
        main,
        [
            "eval",
            "--real-stats",
            str(out),
            "--fake",
            str(folder),
            "--extractor",
            "digits",
            "--metrics",
            "fid,kid",
            "--num",
            "64",
            "--device",
            "cpu",
            "--json",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(report.read_text())
    assert scores["fid"] < 1e-6 and "kid" in scores["not_computed"]
    assert scores["real_stats"]["file"] == str(out) and scores["protocol"]["name"] == "ganforge"
    direct = evaluate("digits", folder, "fid", extractor="digits", num=64)
    assert direct["fid"] == pytest.approx(scores["fid"], abs=1e-6)
    result = runner.invoke(
        main,
        [
            "eval",
            "--real-stats",
            str(out),
            "--fake",
            str(folder),
            "--extractor",
            "digits",
            "--metrics",
            "fid",
            "--resolution",
            "64",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code != 0 and "resolution 32, but this evaluation uses resolution 64" in result.output


def test_mirror_adds_the_mirrored_real_images(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    from ganforge import data as data_lib
    from ganforge.config import DataConfig
    from ganforge.metrics.evaluate import Evaluator

    digits = data_lib.build(DataConfig(source="digits"))
    plain = Evaluator(digits, ("fid",), "digits", 20)
    mirrored = Evaluator(digits, ("fid",), "digits", 20, mirror=True)
    assert len(mirrored.real_features) == 40 and mirrored.protocol.mirror and not plain.protocol.mirror
    assert torch.allclose(mirrored.real_features[:20], plain.real_features)
    flipped = plain.real_image(3).flip(2)
    assert torch.equal(mirrored.real_image(23), flipped)
    assert torch.allclose(mirrored.real_features[23], mirrored.extractor(flipped[None])[0][0], atol=1e-5)

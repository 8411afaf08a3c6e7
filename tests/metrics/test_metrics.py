"""Metric formulas against independent computations, invariances, and the evaluation pipeline end to end."""

import json

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from ganforge.data.base import DatasetInfo, TensorImageDataset
from ganforge.errors import ConfigError
from ganforge.metrics import build_extractor, evaluate, parse_metrics, register_extractor
from ganforge.metrics.cache import FeatureCache
from ganforge.metrics.evaluate import Evaluator
from ganforge.metrics.frechet import GaussianStats, frechet_distance, kernel_distance
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.manifold import density_coverage, precision_recall
from ganforge.metrics.memorization import memorization_distance, mifid, nearest_real
from ganforge.metrics.modes import mode_coverage


def _features(n, d=16, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3 + shift


def test_fid_of_a_set_with_itself_is_zero_and_matches_scipy():
    x, y = _features(500), _features(400, shift=0.5, seed=1)
    assert frechet_distance(GaussianStats.of(x), GaussianStats.of(x)) == pytest.approx(0.0, abs=1e-6)
    mu1, mu2, s1, s2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    reference = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(GaussianStats.of(x), GaussianStats.of(y)) == pytest.approx(reference, rel=1e-6)


def test_kid_matches_a_direct_computation_and_is_unbiased():
    x, y = _features(60), _features(60, shift=0.3, seed=1)
    mean, std = kernel_distance(x, y, subsets=1, subset_size=60)
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    direct = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (60 * 59) - 2 * kxy.mean()
    assert mean == pytest.approx(direct, rel=1e-9) and std == 0
    # Two independent samples of one distribution: the unbiased estimate centres on zero.
    rng = np.random.default_rng(5)
    estimates = [
        kernel_distance(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), subsets=1, subset_size=100)[0]
        for _ in range(40)
    ]
    assert abs(np.mean(estimates)) < 3 * np.std(estimates) / np.sqrt(len(estimates))
    assert (
        kernel_distance(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 1, subsets=3, subset_size=100)[0] > 0.05
    )


def test_inception_score_extremes():
    assert inception_score(torch.zeros(100, 10), splits=5)[0] == pytest.approx(1.0)
    confident = torch.full((100, 10), -30.0)
    confident[torch.arange(100), torch.arange(100) % 10] = 30.0
    assert inception_score(confident, splits=5)[0] == pytest.approx(10.0, rel=1e-4)


def test_precision_recall_density_coverage():
    real = torch.as_tensor(_features(300))
    assert precision_recall(real, real) == (1.0, 1.0)
    density, coverage = density_coverage(real, real)
    assert coverage == 1.0 and density >= 1.0
    far = real + 100
    assert precision_recall(real, far) == (0.0, 0.0)
    assert density_coverage(real, far) == (0.0, 0.0)
    half = real[real[:, 0] < real[:, 0].median()]  # a generator covering one side of the data: precise, low recall
    precision, recall = precision_recall(real, half)
    assert precision == 1.0 and recall < 0.9


def test_mifid_penalises_a_memorised_set():
    real = torch.as_tensor(_features(300, seed=3)) + 2
    copied = real[:200] + 1e-4  # memorised copies
    fresh = torch.as_tensor(_features(200, seed=4)) + 2
    for fake in (copied, fresh):
        neighbours = nearest_real(fake, real)
        assert neighbours.index.shape == (200,)
    d_copied = memorization_distance(nearest_real(copied, real))
    d_fresh = memorization_distance(nearest_real(fresh, real))
    assert d_copied < 1e-6 and d_fresh > d_copied  # copies sit on real points
    fid = 10.0
    assert mifid(fid, d_copied) > 1e3 * fid  # memorisation is punished
    assert mifid(fid, 0.5) == pytest.approx(fid)  # above the threshold MiFID equals FID
    assert torch.equal(nearest_real(copied, real).index, torch.arange(200))


def test_mode_counting_on_known_inputs():
    digits = torch.tensor([[d, d, d] for d in range(10)] * 5)  # 10 modes, 5 each
    result = mode_coverage(digits)
    assert result["covered"] == 10 and result["num"] == 50
    assert result["kl"] == pytest.approx(np.log(100))  # uniform over 10 of 1000 modes
    every = torch.tensor([[m // 100, m // 10 % 10, m % 10] for m in range(1000)])
    assert mode_coverage(every)["covered"] == 1000 and mode_coverage(every)["kl"] == pytest.approx(0.0, abs=1e-12)


class Projection(nn.Module):
    """A fixed random projection as a user feature extractor."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, 12)
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x):
        return self.linear(x.flatten(1))


@pytest.fixture(scope="module")
def projection():
    register_extractor("test-projection", Projection(), 12)
    return "test-projection"


def _dataset(seed, n=120):
    images = torch.randint(0, 256, (n, 3, 8, 8), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    return TensorImageDataset(images, torch.zeros(n, dtype=torch.long), DatasetInfo("t", 8, 3))


def test_evaluator_is_batch_size_independent_and_caches(projection, tmp_path, monkeypatch):
    real, fake = _dataset(0), _dataset(1)
    cache = FeatureCache(tmp_path)
    results = []
    for batch in (7, 64):
        evaluator = Evaluator(real, ("fid", "kid"), projection, 100, batch_size=batch, cache=cache)
        batches = (fake.images[s : min(s + batch, 100)] for s in range(0, 100, batch))
        results.append(evaluator(batches))
    assert results[0]["fid"] == pytest.approx(results[1]["fid"], rel=1e-6)
    assert results[0]["kid"] == pytest.approx(results[1]["kid"], rel=1e-6)
    assert len(list(tmp_path.iterdir())) == 1  # one cache entry for the same real set and extractor
    extractor = build_extractor(projection)
    monkeypatch.setattr(type(extractor), "extract", lambda *a: pytest.fail("real features must come from the cache"))
    Evaluator(real, ("fid",), projection, 100, cache=cache)
    monkeypatch.undo()
    self_score = Evaluator(real, ("fid",), projection, 120, cache=cache)(iter([real.images]))
    assert self_score["fid"] == pytest.approx(0.0, abs=1e-6)


def test_parse_metrics():
    assert parse_metrics("fid, KID,memorisation") == ("fid", "kid", "memorization")
    with pytest.raises(ConfigError, match="--metrics"):
        parse_metrics("fid,sharpness")


@pytest.fixture(scope="module")
def digit_run(tmp_path_factory):
    from ganforge import train

    out = tmp_path_factory.mktemp("eval")
    return train(
        overrides={
            "data.source": "stacked-digits",
            "data.resolution": 16,
            "model.g_channels": 8,
            "model.d_channels": 8,
            "train.batch": 16,
            "train.total_kimg": 0.064,
            "train.snapshot_every_kimg": 1,
            "train.metrics_every_kimg": 0.032,
            "train.metrics": "fid,modes",
            "train.metrics_num": 64,
            "train.out": str(out),
        },
        progress=False,
    )


@pytest.mark.slow
def test_metrics_during_training_and_best_checkpoint(digit_run):
    rows = [json.loads(line) for line in (digit_run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in rows] == [0.032, 0.064]
    assert all(r["fid"] >= 0 and 1 <= r["modes_covered"] <= 64 for r in rows)
    assert (digit_run.run_dir / "best.pt").exists()
    from ganforge.artifacts import checkpoint as ckpt

    best = ckpt.load(digit_run.run_dir / "best.pt")
    assert best["best"] == {"key": "fid", "value": min(r["fid"] for r in rows)}  # --best-by auto: fid


@pytest.mark.slow
def test_evaluate_end_to_end(digit_run, tmp_path):
    png = tmp_path / "pairs.png"
    results = evaluate(
        "stacked-digits",
        digit_run.checkpoint,
        "fid,kid,is,pr,dc,mifid,memorization,modes",
        num=96,
        batch_size=32,
        memorization_png=png,
    )
    assert results["num_fake"] == 96 and results["num_real"] == 96 and "digit" in results["extractor"].lower()
    for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "mifid"):
        assert np.isfinite(results[key]), key
    assert 1 <= results["modes"]["covered"] <= 96
    assert png.exists() and results["memorization"]["closest_pairs_png"] == str(png)
    again = evaluate("stacked-digits", digit_run.checkpoint, "fid", num=96, batch_size=32)
    assert again["fid"] == pytest.approx(results["fid"], rel=1e-6)  # reproducible

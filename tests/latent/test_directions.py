"""Directions: SeFa's unit vectors are the eigenvectors of the normalised weights, GANSpace finds the axis of largest
spread, and a supervised boundary separates labelled latents (held-out accuracy); files refuse other models."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import ganforge
from ganforge.artifacts import LoadedGenerator
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo
from ganforge.latent import find_directions, load_directions, save_directions
from ganforge.latent.directions import fit_boundary, warn_if_foreign

from .conftest import STYLE, random_generator


def reference_sefa(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SeFa as its paper writes it, in numpy: eigen-decomposition of A^T A, rows of A made unit, sorted down."""
    weights = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    values, vectors = np.linalg.eig(weights.T @ weights)
    order = np.argsort(-values.real)
    return values.real[order], vectors.real[:, order].T


def test_sefa_matches_an_eigen_decomposition(stylegan, dcgan_z):
    layers = stylegan.module.layers
    style_weights = torch.cat([layer.conv.affine.weight * layer.conv.affine.scale for layer in layers]).numpy()
    stem = dcgan_z.module.stem.weight
    for generator, weights in ((stylegan, style_weights), (dcgan_z, stem.reshape(stem.shape[0], -1).t().numpy())):
        found = find_directions(generator, "sefa", num=4)
        values, vectors = reference_sefa(weights.astype(np.float64))
        assert found.vectors.shape == (4, weights.shape[1]) and found.names == ["sefa0", "sefa1", "sefa2", "sefa3"]
        assert torch.allclose(found.vectors.norm(dim=1), torch.ones(4), atol=1e-5)
        assert np.allclose(found.scores["eigenvalues"], values[:4], rtol=1e-6)
        assert np.allclose(np.abs((found.vectors.double().numpy() * vectors[:4]).sum(1)), 1, atol=1e-4)  # up to sign
    coarse = find_directions(stylegan, "sefa", num=2, layers=[0, 1])
    assert not torch.allclose(coarse.vectors, find_directions(stylegan, "sefa", num=2).vectors)
    with pytest.raises(ganforge.ConfigError, match="--layers"):
        find_directions(stylegan, "sefa", num=2, layers=[0, 99])
    with pytest.raises(ganforge.ConfigError, match="--num 17"):
        find_directions(stylegan, "sefa", num=17)
    with pytest.raises(ganforge.ConfigError, match="--method"):
        find_directions(stylegan, "pca")


class StretchedStyles(nn.Module):
    """A style generator whose w is z stretched along known axes: w = z * scales (axis 2 the widest, then 0)."""

    z_dim = w_dim = 4
    num_ws, resolution, channels = 2, 8, 1

    def __init__(self):
        super().__init__()
        self.scales = nn.Parameter(torch.tensor([2.0, 0.5, 5.0, 1.0]), requires_grad=False)

    def map(self, z, labels=None, psi=1.0, cutoff=None):
        return (z * self.scales)[:, None].repeat(1, self.num_ws, 1)

    def synthesis(self, ws, noise_mode="const"):
        return ws[:, :1, :1, :1].expand(-1, 1, 8, 8).tanh()


def test_ganspace_finds_the_widest_axes_in_order():
    generator = LoadedGenerator(
        StretchedStyles(), ModelConfig(name="stretched", z_dim=4), DatasetInfo("t", 8, 1), 0, 0.0, {}, "stretched"
    )
    found = find_directions(generator, "ganspace", num=3, samples=4000, batch_size=500)
    assert found.space == "w" and found.names == ["pc0", "pc1", "pc2"]
    assert torch.allclose(found.vectors.abs(), torch.eye(4)[[2, 0, 3]], atol=0.05)
    variance = found.scores["explained_variance"]
    assert variance == sorted(variance, reverse=True) and variance[0] == pytest.approx(25, rel=0.1)
    assert sum(found.scores["explained_variance_ratio"]) <= 1 + 1e-9


def test_ganspace_on_dcgan_regresses_back_to_z(dcgan_z):
    found = find_directions(dcgan_z, "ganspace", num=3, samples=600, batch_size=200)
    assert found.space == "z" and found.vectors.shape == (3, dcgan_z.z_dim)
    assert torch.allclose(found.vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    ratio = found.scores["explained_variance_ratio"]
    assert ratio == sorted(ratio, reverse=True)


def test_boundary_separates_a_synthetic_attribute():
    rng = torch.Generator().manual_seed(0)
    latents = torch.randn(400, 6, generator=rng)
    truth = torch.nn.functional.normalize(torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0, 0.0]), dim=0)
    labels = (latents @ truth > 0).float()
    normal, scores = fit_boundary(latents, labels)
    assert scores["accuracy"] > 0.93 and scores["held_out"] == 100
    assert float(normal @ truth) > 0.95
    with pytest.raises(ganforge.DataError, match="at least 4"):
        fit_boundary(latents[:10], torch.tensor([1.0] * 2 + [0.0] * 8))


@pytest.mark.slow
def test_supervised_from_a_classifier_and_from_seed_labels(stylegan, tmp_path):
    def brightness(images):  # uint8 [N, C, H, W] -> [N]
        return images.float().mean((1, 2, 3))

    found = find_directions(stylegan, "supervised", classifier=brightness, samples=200, keep=0.2)
    assert found.vectors.shape == (1, 16) and found.names == ["brightness"] and found.scores["accuracy"] > 0.8
    strip = ganforge.edit(stylegan, found.vectors[0], [-2.0, 2.0], seed=11)
    assert brightness(strip)[1] > brightness(strip)[0]  # the direction brightens
    seeds = {str(seed): int(seed % 2) for seed in range(16)}
    (tmp_path / "labels.json").write_text(json.dumps(seeds))
    labelled = find_directions(stylegan, "supervised", labels=str(tmp_path / "labels.json"), name="odd")
    assert labelled.names == ["odd"] and 0 <= labelled.scores["accuracy"] <= 1
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(ganforge.DataError, match="--labels"):
        find_directions(stylegan, "supervised", labels=str(tmp_path / "bad.json"))
    with pytest.raises(ganforge.ConfigError, match="exactly one label source"):
        find_directions(stylegan, "supervised")
    with pytest.raises(ganforge.ConfigError, match="--classifier"):
        find_directions(stylegan, "supervised", classifier="digits")


def test_directions_file_round_trip_and_refusal(stylegan, tmp_path):
    found = find_directions(stylegan, "sefa", num=3)
    path = save_directions(tmp_path / "dirs.npz", found)
    again = load_directions(path, stylegan)
    assert torch.equal(again.vectors, found.vectors) and again.names == found.names and again.method == "sefa"
    assert again.pick("sefa1")[1] == "sefa1" and torch.equal(again.pick(2)[0], found.vectors[2])
    with pytest.raises(ganforge.ConfigError, match="no such direction"):
        again.pick("smile")
    with pytest.raises(ganforge.CheckpointError, match="another model"):
        load_directions(path, random_generator("stylegan2", seed=3, **STYLE))


def test_a_digits_classifier_on_a_non_digit_model_warns(stylegan):
    with pytest.warns(
        UserWarning,
        match=r"--classifier digits:3: the digits classifier was trained on digits, but "
        r"this model was trained on 'test'",
    ):
        warn_if_foreign("digits:3", stylegan)
    digit_model = dataclasses.replace(stylegan, dataset=dataclasses.replace(stylegan.dataset, name="digits"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_foreign("digits:3", digit_model)  # digit data: no warning
        warn_if_foreign("inception:3", stylegan)  # a general classifier: no warning

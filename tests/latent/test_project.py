"""Projection: it reconstructs generated images from their own latents (DCGAN z, StyleGAN2 w and w+), fits photos of
any size and mode, picks LPIPS only when its weights are on disk, and latent files refuse other models."""

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.imaging import to_float, to_uint8
from ganforge.latent import load_latent, project, project_many, save_latent
from ganforge.latent.project import fit_image, lr_schedule, pixel_ssim_loss, starting_latents
from ganforge.latent.spaces import mean_latent, render, sampled_vectors
from ganforge.metrics import lpips as lpips_module
from ganforge.metrics.pixel import psnr

from .conftest import DCGAN, STYLE, random_generator


def own_images(generator, seeds):
    return list(generator.generate(len(seeds), seed=seeds[0]))  # uint8 [H, W, C] each


@pytest.mark.slow
def test_dcgan_projection_recovers_the_seed_image(dcgan_z):
    (projection,) = project_many(dcgan_z, own_images(dcgan_z, [7]), space="z", steps=60)
    assert projection.space == "z" and projection.latent.shape == (1, dcgan_z.z_dim)
    assert projection.image.shape == projection.target.shape == (3, 16, 16)
    assert projection.scores["psnr"] > 35 and projection.scores["ssim"] > 0.98
    assert projection.loss == "pixel-ssim" and "lpips" not in projection.scores


@pytest.mark.slow
def test_stylegan_projection_in_w_and_w_plus_improves_on_the_start(stylegan):
    target = own_images(stylegan, [5])
    start_image, _ = mean_latent(stylegan, "w")
    with torch.no_grad():
        start = psnr(to_uint8(render(stylegan, start_image, "w")), torch.from_numpy(target[0]).permute(2, 0, 1)[None])
    steps_seen = []
    (w_fit,) = project_many(
        stylegan,
        target,
        space="w",
        steps=40,
        callback=lambda step, total, images: steps_seen.append((step, total, images.shape)),
    )
    (plus_fit,) = project_many(stylegan, target, space="w+", steps=40)
    assert steps_seen[-1][:2] == (40, 40) and steps_seen[0][2] == (1, 3, 16, 16)
    assert [step for step, _, _ in steps_seen] == sorted(step for step, _, _ in steps_seen)
    assert w_fit.latent.shape == (1, 16) and plus_fit.latent.shape == (1, stylegan.module.num_ws, 16)
    assert w_fit.scores["psnr"] > start + 2 and plus_fit.scores["psnr"] > start + 2
    with torch.no_grad():  # the stored image is what the stored latent renders
        assert torch.equal(to_uint8(render(stylegan, plus_fit.latent, "w+"))[0], plus_fit.image)


def test_search_start_picks_the_closest_sample(stylegan):
    pool = sampled_vectors(stylegan, "w")[:8]
    with torch.no_grad():
        targets = to_uint8(render(stylegan, pool[[5, 2]], "w"))  # two of the candidates themselves
    start, _ = starting_latents(stylegan, to_float(targets), "w+", pixel_ssim_loss, init_samples=8)
    assert start.shape == (2, stylegan.module.num_ws, 16) and torch.equal(start[:, 0], start[:, -1])
    with torch.no_grad():
        images = render(stylegan, pool, "w").clamp(-1, 1)  # [8, C, H, W] as the targets were saved
        for target, chosen in zip(to_float(targets), start[:, 0]):
            losses = pixel_ssim_loss(images, target[None].expand_as(images))
            assert torch.equal(chosen, pool[losses.argmin()]) and losses.min() < 0.01


def test_photos_of_any_size_and_mode_are_fitted(tmp_path, stylegan):
    gray = random_generator("dcgan", channels=1, **DCGAN)
    rgba = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA").save(rgba)
    assert fit_image(rgba, stylegan).shape == (3, 16, 16)
    assert fit_image(rgba, gray).shape == (1, 16, 16)
    assert fit_image(np.zeros((50, 20), np.uint8), stylegan).shape == (3, 16, 16)
    assert fit_image(Image.new("L", (9, 9)), stylegan).dtype == torch.uint8
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ganforge.DataError, match="notes.txt"):
        fit_image(tmp_path / "notes.txt", stylegan)
    with pytest.raises(ganforge.DataError, match="no such image"):
        fit_image(tmp_path / "missing.png", stylegan)
    with pytest.raises(ganforge.DataError, match="uint8"):
        fit_image(np.zeros((8, 8, 3), np.float32), stylegan)


def test_learning_rate_ramps_up_and_down():
    assert lr_schedule(0.0) == 0 and lr_schedule(0.5) == pytest.approx(1.0)
    assert 0 < lr_schedule(0.01) < lr_schedule(0.04) < 1 and 0 < lr_schedule(0.95) < lr_schedule(0.8) < 1


def test_lpips_is_used_when_its_weights_are_on_disk(tmp_path, monkeypatch, dcgan_z):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))  # nothing cached: the fallback
    monkeypatch.delenv(lpips_module.TRUNK_ENV, raising=False)
    assert project(dcgan_z, own_images(dcgan_z, [1])[0], steps=2).loss == "pixel-ssim"
    net = lpips_module.LPIPS()  # stand-in weights with the real layout
    torch.manual_seed(0)
    trunk = {name: torch.randn_like(value) * 0.05 for name, value in net.trunk.state_dict().items()}
    heads = {f"lin{index}.model.1.weight": torch.rand_like(head) for index, head in enumerate(net.heads)}
    torch.save(trunk, tmp_path / "alexnet.pth")
    torch.save(heads, tmp_path / "heads.pth")
    monkeypatch.setenv(lpips_module.TRUNK_ENV, str(tmp_path / "alexnet.pth"))
    monkeypatch.setenv(lpips_module.HEADS_ENV, str(tmp_path / "heads.pth"))
    projection = project(dcgan_z, own_images(dcgan_z, [1])[0], steps=3)
    assert projection.loss == "lpips" and projection.scores["lpips"] >= 0


def test_latent_file_round_trip_and_refusal(tmp_path, stylegan, dcgan_z):
    projection = project(stylegan, own_images(stylegan, [3])[0], space="w+", steps=2)
    path = save_latent(tmp_path / "latent.npz", projection)
    latent, space = load_latent(path, stylegan)
    assert space == "w+" and torch.equal(latent, projection.latent)
    save_latent(tmp_path / "z.npz", torch.ones(1, 16), space="z", generator=stylegan)
    assert load_latent(tmp_path / "z.npz", stylegan)[1] == "z"
    other = random_generator("stylegan2", seed=1, **STYLE)  # same architecture, other weights
    with pytest.raises(ganforge.CheckpointError, match="another model"):
        load_latent(path, other)
    with pytest.raises(ganforge.CheckpointError, match="another model"):
        load_latent(path, dcgan_z)
    (tmp_path / "fake.npz").write_bytes(b"not a zip")
    with pytest.raises(ganforge.DataError, match="not a ganforge latent"):
        load_latent(tmp_path / "fake.npz", stylegan)
    with pytest.raises(ganforge.DataError, match="no such file"):
        load_latent(tmp_path / "missing.npz", stylegan)


def test_spaces_and_models_without_latents_are_refused(stylegan, dcgan_z):
    with pytest.raises(ganforge.ConfigError, match="--space w"):
        project(dcgan_z, np.zeros((16, 16, 3), np.uint8), space="w", steps=1)
    with pytest.raises(ganforge.ConfigError, match="--space q"):
        project(stylegan, np.zeros((16, 16, 3), np.uint8), space="q", steps=1)
    with pytest.raises(ganforge.ConfigError, match="--steps"):
        project(stylegan, np.zeros((16, 16, 3), np.uint8), steps=0)
    with pytest.raises(ganforge.ConfigError, match="image-to-image"):
        project(random_generator("pix2pix", g_channels=4), np.zeros((16, 16, 3), np.uint8), steps=1)


@pytest.mark.slow
def test_each_image_projects_as_if_alone(stylegan):
    """A photo's projection does not depend on what else is in the batch (exploration noise per image)."""
    targets = own_images(stylegan, [3, 4])
    (alone,) = project_many(stylegan, targets[1:], space="w", steps=12)
    batch = project_many(stylegan, targets, space="w", steps=12)
    assert torch.allclose(batch[1].latent, alone.latent, atol=1e-4)
    assert batch[1].scores["psnr"] == pytest.approx(alone.scores["psnr"], abs=0.05)

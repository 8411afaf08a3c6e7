"""Latent tools: slerp/lerp, looping walks and their GIFs, style mixing, truncation, and the mix/interpolate commands."""

import importlib
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

import ganforge
from ganforge import models
from ganforge.artifacts import LoadedGenerator
from ganforge.cli import main
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo
from ganforge.imaging import to_uint8
from ganforge.latent import (
    default_crossover,
    interpolation_frames,
    lerp,
    mix_styles,
    save_walk,
    slerp,
    style_mixing_grid,
    walk,
)


class FakeStyles(nn.Module):
    """The StyleGAN2 generator contract in miniature: pixel row i of an image shows ws[:, i, 0]."""

    z_dim, w_dim, num_ws, resolution, channels, num_classes = 4, 3, 8, 8, 1, 0

    def __init__(self):
        super().__init__()
        self.mapping = nn.Linear(self.z_dim, self.w_dim)
        nn.init.normal_(self.mapping.weight, std=1.0, generator=torch.Generator().manual_seed(0))
        self.register_buffer("w_avg", torch.full((self.w_dim,), 0.25))

    def map(self, z, labels=None, psi=1.0, cutoff=None):
        shift = 0.1 * torch.arange(self.num_ws)[None, :, None]  # a different w per layer
        ws = torch.tanh(self.mapping(z)[:, None] + shift)  # [N, num_ws, w_dim]
        cutoff = self.num_ws if cutoff is None else cutoff
        ws[:, :cutoff] = self.w_avg + psi * (ws[:, :cutoff] - self.w_avg)
        return ws

    def synthesis(self, ws, noise_mode="const"):
        images = ws[:, :, None, :1].expand(-1, -1, self.resolution, 1).permute(0, 3, 1, 2)  # [N, 1, R, R]
        if noise_mode == "random":
            images = images + torch.rand_like(images)
        return images.clamp(-1, 1)

    def forward(self, z, labels=None, psi=1.0, cutoff=None, noise_mode="random"):
        return self.synthesis(self.map(z, labels, psi, cutoff), noise_mode)


def loaded(module: nn.Module, model: ModelConfig, resolution: int, channels: int) -> LoadedGenerator:
    info = DatasetInfo("test", resolution, channels)
    return LoadedGenerator(module.eval().requires_grad_(False), model, info, 0, 0.0, {}, model.name)


@pytest.fixture
def styled() -> LoadedGenerator:
    return loaded(FakeStyles(), ModelConfig(name="fake-stylegan2", z_dim=4), 8, 1)


@pytest.fixture(scope="module")
def dcgan() -> LoadedGenerator:
    torch.manual_seed(0)
    cfg = ModelConfig(z_dim=8, g_channels=4)
    module = models.build_generator(cfg, DatasetInfo("test", 16, 3))
    for parameter in module.parameters():  # DCGAN's N(0, 0.02) init draws nearly flat grey images
        nn.init.normal_(parameter, std=0.3)
    return loaded(module, cfg, 16, 3)


def image_of(generator: LoadedGenerator, seed: int) -> torch.Tensor:
    """uint8 [C, H, W]: what `generate` gives for this seed."""
    return torch.from_numpy(generator.generate(1, seed)[0]).permute(2, 0, 1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    settings = {
        "data.source": "shapes",
        "data.resolution": 16,
        "model.g_channels": 4,
        "model.d_channels": 4,
        "train.batch": 8,
        "train.total_kimg": 0.008,
        "train.grid_size": 4,
        "train.out": str(tmp_path_factory.mktemp("runs")),
    }
    return ganforge.train(overrides=settings, progress=False).checkpoint


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_lerp_and_slerp_endpoints_are_exact():
    a, b = torch.randn(5, 16), torch.randn(5, 16)
    for interpolate in (lerp, slerp):
        assert torch.equal(interpolate(a, b, torch.zeros(5)), a)
        assert torch.equal(interpolate(a, b, torch.ones(5)), b)
    assert torch.allclose(lerp(a, b, torch.full((5,), 0.5)), (a + b) / 2)
    ws_a, ws_b = torch.randn(3, 4, 2), torch.randn(3, 4, 2)  # [N, num_ws, w_dim]
    assert torch.allclose(lerp(ws_a, ws_b, torch.tensor([0.0, 0.25, 1.0]))[1], 0.75 * ws_a[1] + 0.25 * ws_b[1])


def test_slerp_follows_the_great_arc():
    a, b = nn.functional.normalize(torch.randn(2, 32), dim=1).unbind()
    t = torch.linspace(0, 1, 11)
    path = slerp(a.expand(11, -1), b.expand(11, -1), t)  # [11, 32]
    omega = torch.arccos(a @ b)
    assert torch.allclose(path.norm(dim=1), torch.ones(11), atol=1e-5)
    assert torch.allclose(path @ a, torch.cos(t * omega), atol=1e-5)  # constant angular speed
    assert torch.equal(slerp(a[None], a[None], torch.tensor([0.3])), a[None])  # parallel: no NaN


def test_slerp_keeps_gaussian_latents_typical():
    a, b = torch.randn(2, 1, 512, generator=torch.Generator().manual_seed(1)).unbind()
    half = torch.tensor([0.5])
    assert slerp(a, b, half).norm() == pytest.approx(math.sqrt(512), rel=0.1)
    assert lerp(a, b, half).norm() == pytest.approx(math.sqrt(256), rel=0.1)  # the straight line cuts inside


def test_walk_loops_back_to_the_first_key():
    keys = torch.tensor([[0.0], [1.0], [3.0]])
    assert walk(keys, 6, spherical=False).flatten().tolist() == [0.0, 0.5, 1.0, 2.0, 3.0, 1.5]


def test_dcgan_walk_starts_at_the_seed_image_and_passes_each_seed(dcgan):
    frames = interpolation_frames(dcgan, [3, 7, 11], frames=9, batch_size=4)
    assert frames.shape == (9, 3, 16, 16) and frames.dtype == torch.uint8
    for index, seed in ((0, 3), (3, 7), (6, 11)):
        assert torch.equal(frames[index], image_of(dcgan, seed))
    assert not torch.equal(frames[0], frames[1])


def test_style_walk_is_linear_in_w(styled):
    frames = interpolation_frames(styled, [1, 2], frames=4)
    first, second = image_of(styled, 1), image_of(styled, 2)
    assert torch.equal(frames[0], first) and torch.equal(frames[2], second)
    assert (frames[1].int() - (first.int() + second.int()) / 2).abs().max() <= 1


def test_walk_errors_name_the_flag(dcgan, tmp_path):
    with pytest.raises(ganforge.ConfigError, match="--seeds"):
        interpolation_frames(dcgan, [3], frames=9)
    with pytest.raises(ganforge.ConfigError, match="--frames"):
        interpolation_frames(dcgan, [3, 4], frames=1)
    with pytest.raises(ganforge.ConfigError, match="--out"):
        save_walk(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), tmp_path / "walk.mp4")


def test_gif_and_png_outputs(dcgan, tmp_path):
    frames = interpolation_frames(dcgan, [0, 1, 2], frames=5)
    with Image.open(save_walk(frames, tmp_path / "walk.gif", fps=10)) as gif:
        assert gif.n_frames == 5 and gif.size == (16, 16)
        assert gif.info["loop"] == 0 and gif.info["duration"] == 100
    with Image.open(save_walk(frames, tmp_path / "walk.png")) as grid:
        assert grid.size == (3 * 18 + 2, 2 * 18 + 2)  # 5 tiles in 3 columns, 2-pixel padding
    assert not list(tmp_path.glob(".*.tmp"))


def test_mixing_takes_coarse_styles_from_rows_and_fine_from_columns(styled):
    rows, cols, crossover = [1, 2, 3], [4, 5], 3
    grid = style_mixing_grid(styled, rows, cols, crossover).unflatten(0, (4, 3))  # [R+1, C+1, 1, 8, 8]
    assert (grid[0, 0] == 255).all()  # blank corner
    for c, seed in enumerate(cols):
        assert torch.equal(grid[0, c + 1], image_of(styled, seed))
    for r, row_seed in enumerate(rows):
        row_image = image_of(styled, row_seed)
        assert torch.equal(grid[r + 1, 0], row_image)
        for c, col_seed in enumerate(cols):
            col_image = image_of(styled, col_seed)  # pixel row i shows w i
            assert not torch.equal(row_image[:, crossover], col_image[:, crossover])
            assert torch.equal(grid[r + 1, c + 1][:, :crossover], row_image[:, :crossover])
            assert torch.equal(grid[r + 1, c + 1][:, crossover:], col_image[:, crossover:])


def test_mix_styles_and_default_crossover():
    row_ws, col_ws = torch.zeros(2, 6, 1), torch.ones(3, 6, 1)
    mixed = mix_styles(row_ws, col_ws, 2)
    assert mixed.shape == (2, 3, 6, 1) and mixed[..., 0].tolist()[1][2] == [0, 0, 1, 1, 1, 1]
    assert [default_crossover(n) for n in (18, 14, 10, 8, 6, 2)] == [6, 6, 5, 4, 3, 1]


def test_mixing_errors(styled, dcgan):
    with pytest.raises(ganforge.ConfigError, match="--crossover 8: must be in 1..7"):
        style_mixing_grid(styled, [1], [2], crossover=8)
    with pytest.raises(ganforge.ConfigError, match="--cols"):
        style_mixing_grid(styled, [1], [])
    with pytest.raises(ganforge.ConfigError, match="ganforge interpolate"):
        style_mixing_grid(dcgan, [1], [2])


def test_truncation_zero_gives_the_average_image(styled, dcgan):
    average = to_uint8(styled.module.synthesis(styled.module.w_avg.expand(1, 8, 3)))[0].permute(1, 2, 0).numpy()
    assert (styled.generate(4, seed=0, truncation=0.0) == average).all()
    assert np.array_equal(styled.generate(3, seed=5), styled.generate(3, seed=5))  # constant noise
    dc = dcgan.generate(4, seed=0, truncation=0.0)
    assert (dc == dc[:1]).all()
    assert np.array_equal(dcgan.generate(4, seed=0, truncation=1.0), dcgan.generate(4, seed=0))
    assert styled.has_styles and not dcgan.has_styles


@pytest.mark.slow
def test_cli_interpolate_sample_and_mix(checkpoint, styled, tmp_path, monkeypatch):
    result = run(
        "interpolate", checkpoint, "--seeds", "1-3", "--frames", "6", "--fps", "10", "--out", tmp_path / "w.gif"
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "w.gif") as gif:
        assert gif.n_frames == 6 and gif.size == (16, 16)
    result = run("sample", checkpoint, "--num", "3", "--truncation", "0", "--outdir", tmp_path / "each")
    assert result.exit_code == 0, result.output
    images = [np.asarray(Image.open(path)) for path in sorted((tmp_path / "each").iterdir())]
    assert len(images) == 3 and all(np.array_equal(images[0], image) for image in images)
    result = run("mix", checkpoint, "--rows", "1,2", "--cols", "3", "--out", tmp_path / "mix.png")
    assert result.exit_code == 1 and "style-based" in result.output and "ganforge interpolate" in result.output
    monkeypatch.setattr(importlib.import_module("ganforge.artifacts"), "load", lambda path, device: styled)
    result = run("mix", "fake", "--rows", "1,2", "--cols", "3-5", "--out", tmp_path / "mix.png")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "mix.png").size == (4 * 10 + 2, 3 * 10 + 2)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "1,x"], "--seeds"),
        (["--seeds", "5-2"], "--seeds"),
        (["--seeds", "5"], "--seeds"),
        (["--seeds", "1,2", "--frames", "1"], "--frames"),
        (["--seeds", "1,2", "--out", "walk.mp4"], "--out"),
    ],
)
def test_cli_interpolate_errors(checkpoint, tmp_path, args, message):
    if "--out" not in args:
        args = [*args, "--out", tmp_path / "walk.gif"]
    result = run("interpolate", checkpoint, *args)
    assert result.exit_code != 0 and message in result.output

"""Progressive growing: the schedule, continuous fade-ins in G and D, the reals' fade, and training through it."""

import json

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.artifacts import checkpoint as ckpt
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator, upsample2x
from ganforge.training.growth import Growth, GrowthSchedule, reals_at

TINY = {
    "z_dim": 16,
    "w_dim": 16,
    "resolution": 32,
    "channels": 3,
    "base_channels": 8,
    "max_channels": 16,
    "mapping_layers": 2,
}


def _pair(start: int = 8):
    torch.manual_seed(0)
    G = StyleGAN2Generator(**TINY, start_resolution=start).eval()
    D = StyleGAN2Discriminator(32, 3, base_channels=8, max_channels=16, start_resolution=start)
    return G, D


def test_schedule_stabilises_then_fades_in_each_resolution():
    schedule = GrowthSchedule(start=8, final=32, phase_kimg=10)
    assert schedule.at(0) == Growth(8, 1.0) and schedule.at(9.9) == Growth(8, 1.0)
    assert schedule.at(10) == Growth(16, 0.0)
    assert schedule.at(12.5) == Growth(16, 0.25)
    assert schedule.at(25) == Growth(16, 1.0)
    assert schedule.at(35) == Growth(32, 0.5)
    assert schedule.full_kimg == 40 and schedule.at(40) == schedule.at(1e6) == Growth(32, 1.0)
    assert "8 -> 16 -> 32 px" in schedule.describe()


def test_reals_fade_like_the_generator():
    images = torch.rand(2, 3, 32, 32)
    assert torch.allclose(reals_at(images, Growth(16, 1.0)), F.avg_pool2d(images, 2))
    at_zero = reals_at(images, Growth(16, 0.0))  # only the 8 px content, carried up as G carries its image
    assert torch.allclose(at_zero, upsample2x(F.avg_pool2d(images, 4)), atol=1e-6)
    halfway = reals_at(images, Growth(16, 0.5))
    assert torch.allclose(halfway, (at_zero + F.avg_pool2d(images, 2)) / 2, atol=1e-6)
    assert torch.equal(reals_at(images, Growth(32, 1.0)), images)


def test_fade_in_starts_where_the_previous_stage_ended():
    """alpha = 0 of a new resolution reproduces the previous stage exactly, in G and in D."""
    G, D = _pair()
    z = torch.randn(3, 16)
    with torch.no_grad():
        G.set_growth(8, 1.0)
        small = G(z)
        G.set_growth(16, 0.0)
        assert small.shape == (3, 3, 8, 8)
        assert torch.allclose(G(z), upsample2x(small), atol=1e-6)
        G.set_growth(16, 0.5)
        assert not torch.allclose(G(z), upsample2x(small), atol=1e-3)  # the new layers now contribute
        images = torch.randn(3, 3, 16, 16)
        D.set_growth(8, 1.0)
        low = D(F.avg_pool2d(images, 2))
        D.set_growth(16, 0.0)
        assert torch.allclose(D(images), low, atol=1e-5)


def test_grown_networks_equal_the_plain_ones():
    """Once fully grown, a progressive G/D computes exactly what a non-progressive one with its weights does."""
    G, D = _pair()
    G.set_growth(32, 1.0)
    D.set_growth(32, 1.0)
    torch.manual_seed(0)
    plain_G = StyleGAN2Generator(**TINY).eval()
    plain_D = StyleGAN2Discriminator(32, 3, base_channels=8, max_channels=16)
    plain_G.load_state_dict({k: v for k, v in G.state_dict().items() if k != "growth"})
    plain_D.load_state_dict(
        {k: v for k, v in D.state_dict().items() if k != "growth" and not k.startswith("grow_from_rgbs")}
    )
    z, images = torch.randn(2, 16), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(G(z), plain_G(z)) and torch.equal(D(images), plain_D(images))


def test_growth_stage_travels_with_the_state_dict():
    G, _ = _pair()
    G.set_growth(16, 0.25)
    fresh, _ = _pair()
    assert fresh.stage == 8
    fresh.load_state_dict(G.state_dict())
    assert fresh.stage == 16 and fresh.fading and float(fresh.alpha) == 0.25
    with pytest.raises(ValueError, match="outside 8..32"):
        G.set_growth(64, 1.0)


def test_growth_gradients_reach_only_the_active_layers():
    G, D = _pair()
    G.train()
    G.set_growth(16, 0.5)
    D.set_growth(16, 0.5)
    D(G(torch.randn(4, 16))).mean().backward()
    assert G.to_rgbs[2].conv.weight.grad is not None  # 16 px toRGB, fading in
    assert G.to_rgbs[3].conv.weight.grad is None  # 32 px: not grown yet
    assert D.grow_from_rgbs["16"].weight.grad is not None and D.grow_from_rgbs["8"].weight.grad is not None
    assert D.from_rgb.weight.grad is None


def test_progressive_needs_stylegan2_and_a_lower_start():
    with pytest.raises(ConfigError, match="--progressive"):
        resolve({"model.progressive": True})  # DCGAN
    with pytest.raises(ConfigError, match="--start-resolution"):
        resolve(
            {"model.name": "stylegan2", "model.progressive": True, "data.resolution": 16, "model.start_resolution": 16}
        )
    with pytest.raises(ConfigError, match="--start-resolution"):
        resolve({"model.start_resolution": 12})
    with pytest.raises(ConfigError, match="--phase-kimg"):
        resolve({"train.phase_kimg": 0})


@pytest.mark.slow
def test_training_grows_to_full_resolution(tmp_path):
    result = ganforge.train(
        overrides={
            "data.source": "shapes",
            "data.resolution": 32,
            "model.name": "stylegan2",
            "model.g_channels": 8,
            "model.d_channels": 8,
            "model.w_dim": 16,
            "model.z_dim": 16,
            "model.mapping_layers": 2,
            "model.progressive": True,
            "train.phase_kimg": 0.048,
            "train.batch": 8,
            "train.total_kimg": 0.224,
            "train.snapshot_every_kimg": 0.064,
            "train.keep_checkpoints": 10,
            "augment.policy": "ada",
            "loss.r1_gamma": 0.1,
            "loss.r1_interval": 4,
            "train.grid_size": 4,
            "train.out": str(tmp_path),
        },
        progress=False,
    )
    rows = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    assert rows[0]["growth_resolution"] == 16 and rows[-1]["growth_resolution"] == 32
    assert rows[-1]["growth_alpha"] == 1.0
    assert any(0 < row["growth_alpha"] < 1 for row in rows)  # a fade-in was logged
    schedule = GrowthSchedule(8, 32, phase_kimg=0.048)
    for row in rows:  # each row logs the stage reached at its kimg, not the one its last step began in
        stage = schedule.at(row["kimg"])
        assert (row["growth_resolution"], row["growth_alpha"]) == pytest.approx(
            (stage.resolution, stage.alpha), abs=1e-5
        )
    early = ckpt.list_checkpoints(result.run_dir)[0]  # at 0.064 kimg; its last step began at 0.056: fading in 16 px
    assert ckpt.load(early)["G_ema"]["growth"].tolist() == pytest.approx([16.0, 0.056 / 0.048 - 1], abs=1e-6)
    generator = ganforge.load(early)
    images = generator.generate(2, seed=0)
    assert images.shape == (2, 32, 32, 3)  # drawn at 16 px, shown at the dataset's size
    assert (images[:, ::2, ::2] == images[:, 1::2, 1::2]).all()  # nearest-neighbour: 2x2 blocks
    exported = ganforge.load(ganforge.export(early, tmp_path / "exported"))  # safetensors keep the stage too
    assert exported.module.stage == 16 and (exported.generate(2, seed=0) == images).all()
    final = ganforge.load(result.checkpoint).generate(2, seed=0)
    assert not (final[:, ::2, ::2] == final[:, 1::2, 1::2]).all()
    assert "now 16 px" in ganforge.describe(early)["growth"]

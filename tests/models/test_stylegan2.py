"""StyleGAN2-style generator: truncation, style mixing, path-length regularisation, presets, training."""

import pytest
import torch

import ganforge
from ganforge.artifacts import checkpoint as ckpt
from ganforge.config import PRESETS, resolve
from ganforge.errors import ConfigError
from ganforge.models.stylegan2 import ModulatedConv2d, StyleGAN2Discriminator, StyleGAN2Generator, minibatch_stddev


def _generator(**kwargs):
    torch.manual_seed(0)
    return StyleGAN2Generator(
        z_dim=16, w_dim=16, resolution=16, channels=3, base_channels=8, max_channels=16, mapping_layers=2, **kwargs
    )


def test_truncation_psi_zero_returns_the_average_image():
    G = _generator()
    G.train()
    for _ in range(20):  # track w_avg
        G.map(torch.randn(8, 16))
    G.eval()
    with torch.no_grad():
        images = G(torch.randn(5, 16), psi=0.0)
        average = G.synthesis(G.w_avg[None, None].repeat(1, G.num_ws, 1))
    assert torch.allclose(images, average.expand_as(images), atol=1e-6)
    assert G.w_avg.abs().sum() > 0  # the average was tracked, not left at zero
    with torch.no_grad():
        assert not torch.allclose(G(torch.randn(2, 16), psi=1.0)[0], G(torch.randn(2, 16), psi=1.0)[1])


def test_style_mixing_uses_both_latents():
    G = _generator(style_mixing=1.0)
    G.train()
    z = torch.randn(4, 16)
    torch.manual_seed(3)
    _, ws = G(z, return_ws=True)
    own = G.map(z)
    first_differing = next(i for i in range(G.num_ws) if not torch.allclose(ws[:, i], own[:, i]))
    assert 1 <= first_differing < G.num_ws  # the first styles are z's own ...
    assert not torch.allclose(ws[:, -1], own[:, -1])  # ... and the rest come from the second latent
    assert torch.allclose(ws[:, first_differing:], ws[:, -1:].expand_as(ws[:, first_differing:]))


def test_demodulation_normalises_output_channels():
    conv = ModulatedConv2d(8, 4, 3, w_dim=6)
    x = torch.randn(16, 8, 12, 12)
    out = conv(x, torch.randn(16, 6) * 5)  # large styles are cancelled by demodulation
    assert 0.5 < out[:, :, 2:-2, 2:-2].std() < 2.0


def test_minibatch_stddev_adds_a_channel_even_for_odd_batches():
    assert minibatch_stddev(torch.randn(6, 4, 4, 4)).shape == (6, 5, 4, 4)
    assert minibatch_stddev(torch.randn(3, 4, 4, 4)).shape == (3, 5, 4, 4)
    D = StyleGAN2Discriminator(16, 3, num_classes=2, base_channels=8, max_channels=16)
    assert D(torch.randn(5, 3, 16, 16), torch.tensor([0, 1, 0, 1, 1])).shape == (5,)


def test_noise_is_random_in_training_and_fixed_in_eval():
    G = _generator()
    z = torch.randn(2, 16)
    G.eval()
    with torch.no_grad():
        assert torch.equal(G(z), G(z))
    for layer in G.layers:
        torch.nn.init.constant_(layer.noise_strength, 1.0)
    G.train()
    with torch.no_grad():
        assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))


def test_presets_resolve_and_follow_the_papers():
    for name in [n for n in PRESETS if n.startswith("stylegan2")]:  # r3gan's presets: tests/train/test_r3gan.py
        config = resolve({"data.source": "shapes"}, preset=name)
        assert config.model.name == "stylegan2" and config.loss.r1_interval == 16
        assert config.optim.betas == (0.0, 0.99)
    assert resolve(preset="stylegan2-1024").loss.r1_gamma > resolve(preset="stylegan2-64").loss.r1_gamma
    with pytest.raises(ConfigError, match="--preset"):
        resolve(preset="stylegan9")
    with pytest.raises(ConfigError, match="--pl-weight"):
        resolve({"loss.pl_weight": 2.0})  # DCGAN has no styles


@pytest.mark.slow
def test_training_with_lazy_r1_path_length_and_mixing(tmp_path):
    result = ganforge.train(
        preset="stylegan2-32",
        overrides={
            "data.source": "shapes",
            "data.resolution": 16,
            "model.g_channels": 8,
            "model.d_channels": 8,
            "model.w_dim": 16,
            "model.z_dim": 16,
            "train.batch": 8,
            "train.total_kimg": 0.064,
            "loss.pl_weight": 2.0,
            "loss.pl_interval": 2,
            "loss.r1_interval": 4,
            "model.style_mixing": 0.9,
            "train.snapshot_every_kimg": 1,
            "train.out": str(tmp_path),
        },
        progress=False,
    )
    state = ckpt.load(result.checkpoint)
    assert state["pl_mean"] > 0  # path lengths were measured
    assert state["opt_D"]["param_groups"][0]["lr"] == pytest.approx(0.0025 * 4 / 5)  # lazy R1 Adam correction
    assert ganforge.load(result.checkpoint).generate(4, seed=1).shape == (4, 16, 16, 3)


@pytest.mark.slow
def test_ada_p_rises_when_d_overfits_a_tiny_dataset(tmp_path):
    from PIL import Image

    folder = tmp_path / "tiny"
    folder.mkdir()
    for index in range(8):  # 8 images: D memorises them quickly
        Image.fromarray((torch.rand(16, 16, 3) * 255).byte().numpy()).save(folder / f"{index}.png")
    result = ganforge.train(
        overrides={
            "data.source": str(folder),
            "data.resolution": 16,
            "model.g_channels": 8,
            "model.d_channels": 8,
            "train.batch": 16,
            "train.total_kimg": 1.0,
            "augment.policy": "ada",
            "augment.ada_kimg": 2.0,
            "train.snapshot_every_kimg": 0.5,
            "optim.lr": 2e-3,
            "train.out": str(tmp_path / "runs"),
        },
        progress=False,
    )
    rows = [__import__("json").loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["augment_p"] > 0.1  # D is right about reals far more than the target: p went up
    assert rows[-1]["r_t"] > 0.6  # the heuristic that drove it, averaged over the log interval
    assert -1 <= rows[-1]["augment_rt"] <= 1  # ADA's own estimate over its last adjustment interval (4 steps)
    state = ckpt.load(result.checkpoint)
    assert state["augment"]["p"] == pytest.approx(rows[-1]["augment_p"], abs=1e-4)  # saved for resume

"""Every registered model: tiny forward/backward, conditional variant, and a safetensors save/load round trip."""

import math

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ganforge import models
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo
from ganforge.errors import ConfigError
from ganforge.families import Task

TINY_WIDTH = {"g_channels": 8, "d_channels": 8, "max_channels": 32}


def _info(name: str, channels: int = 3, classes=("a", "b", "c")) -> DatasetInfo:
    """Data shaped for the model: paired (1-channel inputs) for image-to-image models; two sets alike for unpaired."""
    task = models.MODELS.get(name).task
    if task is Task.UNPAIRED:
        return DatasetInfo("t", 16, channels, (), channels, unpaired=True)
    paired = task is Task.PAIRED
    return DatasetInfo("t", 16, channels, () if paired else classes, 1 if paired else 0)


def _inputs(G, count: int, labels=None):
    """G's inputs: (A images, None) for image-to-image models, else (z, labels)."""
    if getattr(G, "in_channels", 0):
        return torch.rand(count, G.in_channels, G.resolution, G.resolution) * 2 - 1, None
    return torch.randn(count, G.z_dim), labels


@pytest.mark.parametrize("name", models.MODELS.names())
@pytest.mark.parametrize("num_classes", [0, 3])
@pytest.mark.slow
def test_forward_backward(name, num_classes):
    info = _info(name)
    if info.paired and num_classes:
        pytest.skip("image-to-image models are conditioned on images, not classes")
    if not models.MODELS.get(name).trainable:
        with pytest.raises(ConfigError, match="not supported"):
            models.build(ModelConfig(name=name, **TINY_WIDTH), info, num_classes)
        pytest.skip(f"{name} is not trained in ganforge (refused above); its generator: test_save_load_round_trip")
    G, D = models.build(ModelConfig(name=name, **TINY_WIDTH), info, num_classes)
    inputs, labels = _inputs(G, 4, torch.tensor([0, 1, 2, 0]) if num_classes else None)
    images = G(inputs, labels)
    if name == "cyclegan":  # a pair of generators: run the way back too, so every parameter gets a gradient
        images = (images + G(inputs, direction="b2a")) / 2
    assert images.shape == (4, 3, 16, 16) and torch.isfinite(images).all()
    if not name.startswith(("stylegan", "r3gan")):  # tanh outputs; StyleGAN2's and R3GAN's are unbounded like their
        # authors', clamped when saved
        assert images.abs().max() <= 1
    logits = D(images, inputs if info.paired else labels)
    assert logits.shape[0] == 4 and logits.ndim in (1, 2)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    assert all(p.grad is not None for p in D.parameters())


@pytest.mark.parametrize("name", models.MODELS.names())
@pytest.mark.slow
def test_save_load_round_trip(name):
    info = _info(name, channels=1, classes=())
    G = models.build_generator(ModelConfig(name=name, **TINY_WIDTH), info).eval()
    restored = models.build_generator(ModelConfig(name=name, **TINY_WIDTH), info).eval()
    restored.load_state_dict(st_load(st_save({k: v.contiguous() for k, v in G.state_dict().items()})))
    inputs, _ = _inputs(G, 3)
    assert torch.equal(G(inputs), restored(inputs))


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
def test_dcgan_resolutions(resolution):
    G, D = models.build(ModelConfig(g_channels=4, d_channels=4), DatasetInfo("t", resolution, 3))
    assert G(torch.randn(2, 100)).shape == (2, 3, resolution, resolution)
    assert D(torch.zeros(2, 3, resolution, resolution)).shape == (2,)


def test_dcgan_follows_radford_widths_and_noise_length():
    G, D = models.build(ModelConfig(), DatasetInfo("t", 64, 3))
    assert G.z_dim == 100
    assert [m.out_channels for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [512, 256, 128, 64, 3]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in D.modules())


@pytest.mark.parametrize("norm", ["batch", "instance", "layer", "spectral", "none"])
def test_discriminator_norms(norm):
    _, D = models.build(ModelConfig(d_norm=norm, **TINY_WIDTH), DatasetInfo("t", 16, 3))
    assert D(torch.randn(2, 3, 16, 16)).shape == (2,)


def test_auto_d_norm_avoids_batch_norm_for_wgan_gp():
    _, D = models.build(ModelConfig(**TINY_WIDTH), DatasetInfo("t", 16, 3), loss_name="wgan-gp")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())


@pytest.mark.parametrize("resolution", [32, 64, 256])
def test_unet_and_patchgan_shapes(resolution):
    from ganforge.models.pix2pix import PatchDiscriminator, UNetGenerator, receptive_field

    G = UNetGenerator(resolution, 1, 3, base_channels=4, max_channels=16)
    D = PatchDiscriminator(resolution, 1, 3, base_channels=4, max_channels=16)
    a = torch.randn(2, 1, resolution, resolution)
    assert len(G.downs) == int(math.log2(resolution))  # down to a 1x1 bottleneck
    b = G(a)
    assert b.shape == (2, 3, resolution, resolution)
    side = resolution // 8 - 2  # three stride-2 convs, then two 4x4 stride-1 convs with padding 1
    assert D(b, a).shape == (2, side * side)
    assert receptive_field(3) == 70 and receptive_field(1) == 16
    small = PatchDiscriminator(16, 1, 3, base_channels=4)  # too small for 70x70 patches: fewer layers
    assert small(torch.randn(2, 3, 16, 16), torch.randn(2, 1, 16, 16)).shape == (2, 4)


def test_unet_skips_carry_detail():
    """With the skips, the untrained U-Net's output depends on fine input detail (not only on the bottleneck)."""
    from ganforge.models.pix2pix import UNetGenerator

    torch.manual_seed(0)
    G = UNetGenerator(32, 3, 3, base_channels=8, max_channels=32).eval()
    a = torch.zeros(1, 3, 32, 32)
    b = a.clone()
    b[0, :, 5, 5] = 1.0  # one pixel differs
    difference = (G(a) - G(b)).abs()[0].sum(0)
    assert difference[3:8, 3:8].sum() > difference.sum() * 0.5  # the change stays local


@pytest.mark.parametrize("name", [n for n in models.MODELS.names() if models.MODELS.get(n).task is Task.NOISE_TO_IMAGE])
@pytest.mark.slow
def test_a_conditional_generator_reads_its_label_from_the_start(name):
    """Issue 27: the label must move the image from the first step (the old DCGAN's label entered only through
    per-class batch-norm scales initialised to one, so at first it did nothing, and it stayed near nothing)."""
    G = models.build_generator(ModelConfig(name=name, **TINY_WIDTH), _info(name, classes=tuple("abcdefghij")), 10)
    G.train()  # batch statistics, as in training
    z = torch.randn(1, G.z_dim).expand(10, -1)  # one latent, ten labels
    images = G(z, torch.arange(10))
    by_class = (images - images.mean(0, keepdim=True)).abs().mean()
    by_seed = (G(torch.randn(10, G.z_dim), torch.zeros(10, dtype=torch.long)) - images[:1]).abs().mean()
    assert by_class > 0.05 * by_seed, (float(by_class), float(by_seed))

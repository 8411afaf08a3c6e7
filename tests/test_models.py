"""Every registered model: tiny forward/backward, conditional variant, and a safetensors save/load round trip."""
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ganforge import models
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo

TINY_WIDTH = {"g_channels": 8, "d_channels": 8, "max_channels": 32}


@pytest.mark.parametrize("name", models.MODELS.names())
@pytest.mark.parametrize("num_classes", [0, 3])
def test_forward_backward(name, num_classes):
    info = DatasetInfo("t", 16, 3, ("a", "b", "c"))
    G, D = models.build(ModelConfig(name=name, **TINY_WIDTH), info, num_classes)
    z = torch.randn(4, G.z_dim)
    labels = torch.tensor([0, 1, 2, 0]) if num_classes else None
    images = G(z, labels)
    assert images.shape == (4, 3, 16, 16)
    assert images.abs().max() <= 1
    logits = D(images, labels)
    assert logits.shape == (4,)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    assert all(p.grad is not None for p in D.parameters())


@pytest.mark.parametrize("name", models.MODELS.names())
def test_save_load_round_trip(name):
    info = DatasetInfo("t", 16, 1)
    G, _ = models.build(ModelConfig(name=name, **TINY_WIDTH), info)
    G.eval()
    restored = models.build_generator(ModelConfig(name=name, **TINY_WIDTH), info).eval()
    restored.load_state_dict(st_load(st_save({k: v.contiguous() for k, v in G.state_dict().items()})))
    z = torch.randn(3, G.z_dim)
    assert torch.equal(G(z), restored(z))


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

"""CycleGAN networks: the paper's ResNet generator layout, both directions, unconditional 70x70 PatchGANs."""

import pytest
import torch
from torch import nn

from ganforge import models
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo
from ganforge.models.cyclegan import CycleGenerators, ResidualBlock, ResNetGenerator
from ganforge.models.pix2pix import PatchDiscriminator, receptive_field


@pytest.mark.parametrize("resolution, blocks", [(32, 6), (128, 6), (256, 9)])
def test_resnet_generator_follows_the_paper(resolution, blocks):
    G = ResNetGenerator(resolution, 3, 3)
    assert sum(isinstance(m, ResidualBlock) for m in G.modules()) == blocks
    convs = [m for m in G.net if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    # c7s1-64, d128, d256, (R256 inside the blocks), u128, u64, c7s1-3
    assert [(m.kernel_size[0], m.stride[0], m.out_channels) for m in convs] == [
        (7, 1, 64),
        (3, 2, 128),
        (3, 2, 256),
        (3, 2, 128),
        (3, 2, 64),
        (7, 1, 3),
    ]
    assert isinstance(G.net[0], nn.ReflectionPad2d) and isinstance(G.net[-1], nn.Tanh)
    assert any(isinstance(m, nn.InstanceNorm2d) for m in G.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.modules())


def test_the_two_directions_are_different_networks_with_one_interface():
    torch.manual_seed(0)
    G = CycleGenerators(16, 3, base_channels=8).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    a2b, b2a = G(x), G(x, direction="b2a")
    assert a2b.shape == b2a.shape == (2, 3, 16, 16) and a2b.abs().max() <= 1
    assert not torch.allclose(a2b, b2a)
    assert torch.equal(G(x, direction="a2b"), a2b)
    with pytest.raises(ValueError, match="direction"):
        G(x, direction="sideways")


def test_unconditional_patchgan_judges_one_image_with_70px_patches():
    D = PatchDiscriminator(64, 0, 3, base_channels=8)
    assert D.net[0].in_channels == 3  # no condition channels
    assert D(torch.randn(2, 3, 64, 64)).shape == (2, 36)  # 6x6 patch logits
    assert receptive_field(3) == 70
    conditional = PatchDiscriminator(64, 1, 3, base_channels=8)  # pix2pix: A concatenated to B
    assert conditional.net[0].in_channels == 4
    assert conditional(torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64)).shape == (2, 36)


def test_registry_builds_the_pairs_with_instance_norm():
    info = DatasetInfo("t", 32, 3, (), 3, unpaired=True)
    G, D = models.build(ModelConfig(name="cyclegan", g_channels=8, d_channels=8), info)
    assert isinstance(G, CycleGenerators) and G.a2b.resolution == 32
    b, a = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    logits = D(b, a)
    per_domain = D.judge_b(b).shape[1]
    assert logits.shape == (2, 2 * per_domain)
    assert torch.equal(logits.chunk(2, dim=1)[1], D.judge_a(a))
    assert any(isinstance(m, nn.InstanceNorm2d) for m in D.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in list(G.modules()) + list(D.modules()))

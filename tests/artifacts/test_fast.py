"""Inference rewrites (artifacts/fast.py): the rewritten generator computes the same images as the original."""

import copy

import pytest
import torch
from torch import nn

from ganforge.artifacts.fast import SubpixelTransposedConv, fold_batchnorm, optimize_for_inference
from ganforge.models.dcgan import DCGANGenerator
from ganforge.models.pix2pix import UNetGenerator


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (8, 8)])
def test_subpixel_convs_equal_the_transposed_conv(bias, size):
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1, bias=bias)
    x = torch.randn(2, 6, *size)
    with torch.no_grad():
        expected = conv(x)
        actual = SubpixelTransposedConv(conv)(x)
    assert actual.shape == expected.shape == (2, 4, 2 * size[0], 2 * size[1])
    assert (actual - expected).abs().max() < 1e-5


def randomised_statistics(module: nn.Module) -> nn.Module:
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
    return module.eval()


def test_rewritten_generators_draw_the_same_images():
    torch.manual_seed(0)
    unet = randomised_statistics(UNetGenerator(32, 3, 3, base_channels=8, max_channels=32))
    dcgan = randomised_statistics(DCGANGenerator(16, 16, 3, num_classes=3, base_channels=8))
    source, z, labels = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(3, 16), torch.tensor([0, 2, 1])
    with torch.no_grad():
        for module, inputs in ((unet, (source,)), (dcgan, (z, labels))):
            fast = optimize_for_inference(copy.deepcopy(module))
            kinds = {type(layer) for layer in fast.modules()}
            assert nn.BatchNorm2d not in kinds and SubpixelTransposedConv in kinds
            assert (fast(*inputs) - module(*inputs)).abs().max() < 1e-5
    assert fold_batchnorm(unet.train()) == 0  # training mode: batch statistics cannot be folded

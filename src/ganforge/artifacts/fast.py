"""Inference-only rewrites of a trained generator that compute the same function (up to float rounding) faster on
CPUs, for the fast PyTorch path and the ONNX export:

- `fold_batchnorm`: an eval-mode BatchNorm2d right after a conv is a per-channel affine map; it is folded into the
  conv's weights and bias (conditional batch norm keeps its per-class scale and shift).
- `subpixel_transposed_convs`: a 4x4, stride-2, padding-1 transposed convolution (DCGAN, pix2pix decoders) equals
  one 2x2 convolution with four times the output channels, one group per output phase (even/odd row x even/odd
  column), followed by a depth-to-space interleave: the sub-pixel view of Shi et al. 2016 ("Real-Time Single Image
  and Video Super-Resolution Using an Efficient Sub-Pixel CNN"). One large plain convolution, which CPU libraries
  run near their matmul rate, instead of a transposed one; the interleave is ONNX's DepthToSpace.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.dcgan import DCGANGenerator
from ..models.pix2pix import UNetGenerator

# Output phase a (0: even rows, 1: odd rows) of a k=4, s=2, p=1 transposed conv reads input rows (i - 1 + a, i + a)
# through kernel rows PHASE_TAPS[a]; the same holds for columns.
PHASE_TAPS = ((3, 1), (2, 0))


class SubpixelTransposedConv(nn.Module):
    """nn.ConvTranspose2d(C_in, C_out, 4, stride=2, padding=1) as one 2x2 convolution, pixel shuffle and a crop.

    Output phase a reads input rows (i - 1 + a, i + a); a 2x2 convolution over the input padded by one reads rows
    (p - 1, p) at its output row p, so phase a is its row p = i + a. Put in pixel-shuffle slot 1 - a, that row lands
    at 2p + 1 - a = (2i + a) + 1: one row below the transposed conv's row 2i + a, for every phase alike, so cropping
    one row and column on each side gives the transposed conv's output exactly. The padding costs
    (H + 1)(W + 1) / (H W) more FLOPs, which is small on the large maps where the time goes."""

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        weight = conv.weight.detach()  # [C_in, C_out, 4, 4]
        # slot [1 - a][1 - b] holds phase (a, b): kernel rows PHASE_TAPS[a], columns PHASE_TAPS[b]
        slots = [
            [weight[:, :, list(PHASE_TAPS[1 - s])][:, :, :, list(PHASE_TAPS[1 - t])] for t in (0, 1)] for s in (0, 1)
        ]
        stacked = torch.stack([torch.stack(row, dim=2) for row in slots], dim=2)  # [C_in, C_out, 2, 2, 2, 2]
        # pixel shuffle reads output channel c * 4 + slot_row * 2 + slot_col
        self.weight = nn.Parameter(stacked.flatten(1, 3).transpose(0, 1).contiguous(), requires_grad=False)
        self.bias = (
            nn.Parameter(conv.bias.detach().repeat_interleave(4), requires_grad=False)
            if conv.bias is not None
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C_in, H, W] -> [N, C_out, 2H, 2W]."""
        height, width = x.shape[-2:]
        y = F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, padding=1), 2)  # [N, C_out, 2H + 2, 2W + 2]
        return y[:, :, 1 : 1 + 2 * height, 1 : 1 + 2 * width]


def _is_subpixel_case(layer: nn.Module) -> bool:
    return (
        isinstance(layer, nn.ConvTranspose2d)
        and layer.kernel_size == (4, 4)
        and layer.stride == (2, 2)
        and layer.padding == (1, 1)
        and layer.output_padding == (0, 0)
        and layer.dilation == (1, 1)
        and layer.groups == 1
    )


@torch.no_grad()
def subpixel_transposed_convs(module: nn.Module) -> int:
    """Replace, in place, every 4x4 stride-2 padding-1 ConvTranspose2d by a `SubpixelTransposedConv`; returns how
    many. Run it after `fold_batchnorm`, which needs the original layers."""
    replaced = 0
    for name, child in module.named_children():
        if _is_subpixel_case(child):
            setattr(module, name, SubpixelTransposedConv(child))
            replaced += 1
        else:
            replaced += subpixel_transposed_convs(child)
    return replaced


def conv_norm_pairs(module: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """(conv, Norm2d) pairs where the norm directly follows the conv, in the generators that have batch norm."""
    if isinstance(module, UNetGenerator):
        return list(zip(module.downs, module.down_norms)) + list(zip(module.ups, module.up_norms))
    if isinstance(module, DCGANGenerator):
        return list(zip([module.stem, *module.ups], module.norms))
    return []


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> int:
    """Fold each eval-mode BatchNorm2d into the conv before it, in place; returns how many were folded."""
    folded = 0
    for conv, norm in conv_norm_pairs(module):
        holder = norm.norm if norm.conditional else norm  # the module whose `.norm` is the BatchNorm2d
        bn = holder.norm
        if not isinstance(bn, nn.BatchNorm2d) or bn.training:
            continue
        scale = torch.rsqrt(bn.running_var + bn.eps) * (bn.weight if bn.affine else 1.0)  # [C_out]
        shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale  # [C_out]
        transposed = isinstance(conv, nn.ConvTranspose2d)  # weight [C_in, C_out, k, k] vs [C_out, C_in, k, k]
        conv.weight.mul_(scale[None, :, None, None] if transposed else scale[:, None, None, None])
        bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)
        holder.norm = nn.Identity()
        folded += 1
    return folded


def optimize_for_inference(module: nn.Module) -> nn.Module:
    """Both rewrites, in place, on an eval-mode generator (which must not be trained afterwards)."""
    fold_batchnorm(module)
    subpixel_transposed_convs(module)
    return module

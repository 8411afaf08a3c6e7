"""StyleGAN2-style networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"), in pure
PyTorch: a mapping network z -> w with a tracked w average (truncation), a synthesis network from a learned constant
with modulated/demodulated convolutions, per-pixel noise inputs and skip (toRGB) outputs, style mixing, and a
residual discriminator with minibatch standard deviation; equalised learning rate throughout. Class conditioning:
a label embedding into the mapping network, and a projection discriminator (Miyato & Koyama 2018).

Resampling uses bilinear 2x upsampling (the [1, 3, 3, 1] filter of the paper, edges replicated) and 2x2 average
pooling; there are no compiled ops.

Progressive growing (ProGAN, Karras et al. 2018) is an option: both networks then hold a growth stage (resolution,
alpha) that the training loop sets; G draws at the stage's resolution, fading its newest toRGB in by alpha, and D
reads that resolution, fading its newest block in against a half-resolution fromRGB path.

Mixed precision (as stylegan2-ada-pytorch's fp16 layers): under an enclosing torch.autocast only the
`mixed_resolutions` highest resolutions run in reduced precision; the small low-resolution layers stay in fp32. In
fp16 their activations are clamped to +-256, as NVIDIA's code does, so they cannot overflow.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
FP16_CLAMP = 256.0  # activation bound of fp16 layers (NVIDIA's conv_clamp)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling [N, C, H, W] -> [N, C, 2H, 2W] (the [1, 3, 3, 1] filter, edges replicated)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def precision_for(x: torch.Tensor, reduced: bool):
    """Context for one block: inherits an enclosing autocast when `reduced`, else runs in fp32 (autocast off)."""
    if reduced or not torch.is_autocast_enabled(x.device.type):
        return contextlib.nullcontext()
    return torch.autocast(x.device.type, enabled=False)


def clamp_fp16(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-FP16_CLAMP, FP16_CLAMP) if x.dtype == torch.float16 else x


def style_forward(
    generator: nn.Module,
    z: torch.Tensor,
    labels: torch.Tensor | None,
    psi: float,
    cutoff: int | None,
    noise_mode: str | None,
    return_ws: bool,
    ws_offset: torch.Tensor | None,
    mixable_ws: int,
):
    """z [N, z_dim] -> images through a style generator's `map` and `synthesis` (ganforge's StyleGAN2 and the
    NVIDIA-exact ones): noise random in training and constant otherwise; in training, with probability
    `style_mixing`, the ws after a random one of the first `mixable_ws` come from a second z; `ws_offset` added."""
    noise_mode = noise_mode or ("random" if generator.training else "const")
    ws = generator.map(z, labels, psi, cutoff)
    if generator.training and generator.style_mixing > 0 and torch.rand(()) < generator.style_mixing:
        crossover = int(torch.randint(1, mixable_ws, ()))
        other = generator.map(torch.randn_like(z), labels, psi, cutoff)
        ws = torch.cat([ws[:, :crossover], other[:, crossover:]], dim=1)
    if ws_offset is not None:
        ws = ws + ws_offset
    images = generator.synthesis(ws, noise_mode)
    return (images, ws) if return_ws else images


class ResolutionStages(nn.Module):
    """What G and D decide per resolution: which sides run in reduced precision under autocast, and the
    progressive-growing stage: its resolution (a Python int: it selects layers) and alpha (a tensor, so changing it
    needs no host sync and no recompilation), both kept in the `growth` buffer so that checkpoints restore them.
    Without growing (start 0) the stage is the full resolution."""

    def _init_stages(self, resolution: int, start_resolution: int, mixed_resolutions: int) -> None:
        self.resolution, self.start_resolution = resolution, start_resolution
        self.stage, self.fading = resolution, False
        # sides >= this run in reduced precision under autocast (never the 4x4 block)
        self.mixed_from = max(resolution >> max(mixed_resolutions - 1, 0), 8) if mixed_resolutions else resolution * 2
        if start_resolution:
            self.register_buffer("growth", torch.tensor([float(start_resolution), 1.0]))
            self.register_load_state_dict_post_hook(lambda module, keys: module._read_growth())
            self.stage = start_resolution

    def set_growth(self, resolution: int, alpha: float) -> None:
        """Train at `resolution` (start..full, a power of two) with its newest layers weighted by `alpha`."""
        if not self.start_resolution or not self.start_resolution <= resolution <= self.resolution:
            raise ValueError(f"growth stage {resolution} outside {self.start_resolution}..{self.resolution}")
        self.growth[0].fill_(resolution)
        self.growth[1].fill_(alpha)
        self.stage, self.fading = resolution, alpha < 1

    def _read_growth(self) -> None:
        resolution, alpha = self.growth.tolist()
        self.stage, self.fading = int(resolution), alpha < 1

    @property
    def alpha(self) -> torch.Tensor:
        return self.growth[1]


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with the sqrt(2) gain that keeps equalised-lr activations at unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights ~ N(0, 1) scaled at run time by lr_mul / sqrt(fan_in)."""

    def __init__(
        self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(in_features), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return _lrelu(x) if self.activate else x


class EqualConv2d(nn.Module):
    """Conv with equalised learning rate; 'same' padding. `gain` multiplies the weights (so the input or the output
    of the product, which is linear), letting callers fold a constant factor into it instead of a pass over a tensor."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True, gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel * kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled by a style from w, with optional demodulation (weight normalisation per
    output channel and sample). Computed as scale-input, shared conv, scale-output: the same result as per-sample
    weights, without grouped convolutions. `input_gain` is a constant factor of the input folded into the styles
    (demodulation is computed from the styles without it, as it would be for the scaled input)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        w_dim: int,
        demodulate: bool = True,
        up: bool = False,
        input_gain: float = 1.0,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # w -> per-input-channel style
        self.scale = 1 / math.sqrt(in_channels * kernel * kernel)
        self.demodulate, self.up, self.input_gain = demodulate, up, input_gain

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [N, C_in, H, W], w [N, w_dim] -> [N, C_out, H', W'] (H' = 2H when up)."""
        x, coefficients = self.undemodulated(x, w)
        return x if coefficients is None else x * coefficients

    def undemodulated(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The convolution before demodulation [N, C_out, H', W'] and the demodulation coefficients [N, C_out, 1, 1]
        (None without demodulation), so that a caller can fuse their product with what follows."""
        styles = self.affine(w)  # [N, C_in]
        weight = self.weight * self.scale  # [C_out, C_in, k, k]
        if self.up:
            x = upsample2x(x)
        gained = styles * self.input_gain if self.input_gain != 1.0 else styles
        x = F.conv2d(x * gained[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if not self.demodulate:
            return x, None
        with precision_for(x, reduced=False):  # sigma_j = sqrt(sum_{i,k} (s_i w_ijk)^2): [N, C_out], in fp32
            coefficients = torch.rsqrt(styles.float().square() @ weight.square().sum((2, 3)).t() + 1e-8)
        return x, coefficients[:, :, None, None].to(x.dtype)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv + per-pixel noise (learned strength) + bias + leaky ReLU. The activation's sqrt(2) gain is
    left to the consumers (the next modulated convolutions take it as their `input_gain`), so the output is the
    usual one divided by sqrt(2): one pass fewer over it forward and backward."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        input_gain: float = 1.0,
    ):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up, input_gain=input_gain)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))  # for noise_mode="const"
        self.resolution = resolution

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        """x [N, C_in, H, W] -> [N, C_out, S, S], the activation without its sqrt(2) gain."""
        x, coefficients = self.conv.undemodulated(x, w)
        if noise_mode == "random":
            noise = (
                torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
                * self.noise_strength
            )
        elif noise_mode == "const":
            noise = (self.noise_const * self.noise_strength).to(x.dtype)
        else:
            noise = torch.zeros((), device=x.device, dtype=x.dtype)
        x = F.leaky_relu(torch.addcmul(noise, x, coefficients) + self.bias[None, :, None, None].to(x.dtype), 0.2)
        return x.clamp(-FP16_CLAMP / SQRT2, FP16_CLAMP / SQRT2) if x.dtype == torch.float16 else x


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation; its input is a SynthesisLayer's output, whose sqrt(2)
    activation gain it applies."""

    def __init__(self, in_channels: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, channels, 1, w_dim, demodulate=False, input_gain=SQRT2)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return clamp_fp16(self.conv(x, w) + self.bias[None, :, None, None].to(x.dtype))


def stylegan_widths(resolution: int, base: int, cap: int) -> dict[int, int]:
    """Channels at each side 4..resolution: `base` at full resolution, doubling per halving, capped."""
    return {4 * 2**i: min(cap, base * resolution // (4 * 2**i)) for i in range(int(math.log2(resolution)) - 1)}


class MappingNetwork(nn.Module):
    """z (and label embedding) -> w through `layers` leaky-ReLU equal-lr linear layers with a reduced lr."""

    def __init__(self, z_dim: int, w_dim: int, num_classes: int, layers: int = 8, lr_mul: float = 0.01):
        super().__init__()
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True) for a, b in zip(dims, dims[1:])])
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)  # normalise the 2nd moment
        if self.embed is not None:
            y = self.embed(F.one_hot(labels, self.num_classes).to(z.dtype))
            x = torch.cat([x, y * torch.rsqrt(y.square().mean(1, keepdim=True) + 1e-8)], dim=1)
        return self.net(x)


class StyleGAN2Generator(ResolutionStages):
    def __init__(
        self,
        z_dim: int,  # length of z ~ N(0, I)
        w_dim: int,  # length of the intermediate latent w
        resolution: int,  # output side, a power of two >= 8
        channels: int,  # output channels (1 or 3)
        num_classes: int = 0,  # > 0: labels are embedded into the mapping network
        base_channels: int = 64,  # width at full resolution (doubles per halving)
        max_channels: int = 512,  # width cap
        mapping_layers: int = 8,  # depth of the mapping network
        style_mixing: float = 0.0,  # training: probability of mixing two latents at a random layer
        w_avg_beta: float = 0.995,  # decay of the tracked w average (for truncation)
        start_resolution: int = 0,  # > 0: progressive growing from this resolution
        mixed_resolutions: int = 4,
    ):  # highest resolutions that may run in reduced precision (autocast)
        super().__init__()
        self.z_dim, self.w_dim, self.channels = z_dim, w_dim, channels
        self.num_classes, self.style_mixing, self.w_avg_beta = num_classes, style_mixing, w_avg_beta
        self._init_stages(resolution, start_resolution, mixed_resolutions)
        widths = stylegan_widths(resolution, base_channels, max_channels)
        sides = sorted(widths)
        self.mapping = MappingNetwork(z_dim, w_dim, num_classes, mapping_layers)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.const = nn.Parameter(torch.randn(widths[4], 4, 4))
        self.layers = nn.ModuleList([SynthesisLayer(widths[4], widths[4], w_dim, 4)])
        self.to_rgbs = nn.ModuleList([ToRGB(widths[4], channels, w_dim)])
        for low, high in zip(sides, sides[1:]):
            self.layers.append(SynthesisLayer(widths[low], widths[high], w_dim, high, up=True, input_gain=SQRT2))
            self.layers.append(SynthesisLayer(widths[high], widths[high], w_dim, high, input_gain=SQRT2))
            self.to_rgbs.append(ToRGB(widths[high], channels, w_dim))
        self.num_ws = 2 * int(math.log2(resolution)) - 2  # conv layers + the last toRGB

    @property
    def stage_ws(self) -> int:
        """How many of the ws the current growth stage uses."""
        return 2 * int(math.log2(self.stage)) - 2

    def map(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        """z [N, z_dim] -> ws [N, num_ws, w_dim]; truncation pulls the first `cutoff` ws towards w_avg by psi."""
        with precision_for(z, reduced=False):
            w = self.mapping(z.float(), labels)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        ws = w[:, None].repeat(1, self.num_ws, 1)
        if psi != 1.0:
            cutoff = self.num_ws if cutoff is None else cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws

    def style_weights(self) -> list[torch.Tensor]:
        """The style affines' weights as applied ([C_in, w_dim], equalised-lr scale included), one per synthesis
        convolution in ws order (SeFa reads them)."""
        return [layer.conv.affine.weight * layer.conv.affine.scale for layer in self.layers]

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> images [N, C, S, S] (unbounded, ~[-1, 1]), S the growth stage's side (the full
        resolution unless growing)."""
        assert ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        with precision_for(x, reduced=False):
            x = self.layers[0](x, ws[:, 0], noise_mode)
            image = self.to_rgbs[0](x, ws[:, 1]).float()
        for index, to_rgb in enumerate(self.to_rgbs[1:]):
            side = 8 * 2**index
            if side > self.stage:
                break
            first = 1 + 2 * index  # ws index of this block's upsampling conv
            with precision_for(x, reduced=side >= self.mixed_from):
                x = x if side >= self.mixed_from else x.float()
                x = self.layers[1 + 2 * index](x, ws[:, first], noise_mode)
                x = self.layers[2 + 2 * index](x, ws[:, first + 1], noise_mode)
                rgb = to_rgb(x, ws[:, first + 2]).float()
            if side == self.stage and self.fading:  # progressive growing: fade the newest resolution in
                rgb = rgb * self.alpha
            image = upsample2x(image) + rgb
        return image

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        psi: float = 1.0,
        cutoff: int | None = None,
        noise_mode: str | None = None,
        return_ws: bool = False,
        ws_offset: torch.Tensor | None = None,
    ):
        """z [N, z_dim] -> images [N, C, S, S]; in training mode, with probability `style_mixing` the ws after a
        random layer (of those the growth stage uses) come from a second z (style-mixing regularisation).
        `noise_mode` defaults to "random" in training and "const" in eval mode (deterministic samples).
        `return_ws`: also the ws used. `ws_offset` [N, num_ws, w_dim] is added to the ws: differentiating at a zero
        offset gives d images / d ws even through DistributedDataParallel, which wraps returned tensors."""
        return style_forward(self, z, labels, psi, cutoff, noise_mode, return_ws, ws_offset, self.stage_ws)


class ResidualBlock(nn.Module):
    """Discriminator block: two 3x3 convs then 2x average pooling, plus a pooled 1x1 skip, summed / sqrt(2).
    The activations' sqrt(2) gains and the final 1 / sqrt(2) are folded into the weights (leaky ReLU and pooling are
    positively homogeneous): conv1 takes the gain of conv0's activation, and the sum's 1 / sqrt(2) cancels conv1's
    activation gain and scales the skip weights; the result is the same up to float rounding, with three fewer
    passes over the block's activations forward and backward."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, gain=SQRT2)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, gain=1 / SQRT2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(F.leaky_relu(self.conv1(F.leaky_relu(self.conv0(x), 0.2)), 0.2), 2)
        return x + skip


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the std over groups of samples (averaged over features and pixels) as one extra channel."""
    n, c, h, w = x.shape
    group = math.gcd(group, n)
    y = x.reshape(group, -1, c, h, w)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # [N / group]
    y = y.reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, y], dim=1)


class StyleGAN2Discriminator(ResolutionStages):
    gives_class_scores = True  # forward(..., class_scores=True) also returns every class's projection score

    def __init__(
        self,
        resolution: int,  # input side
        channels: int,  # input channels
        num_classes: int = 0,  # > 0: projection discriminator
        base_channels: int = 64,  # width at full resolution
        max_channels: int = 512,  # width cap
        start_resolution: int = 0,  # > 0: progressive growing from this resolution (adds a fromRGB per side)
        mixed_resolutions: int = 4,
    ):  # highest resolutions that may run in reduced precision (autocast)
        super().__init__()
        self.channels, self.num_classes = channels, num_classes
        self._init_stages(resolution, start_resolution, mixed_resolutions)
        widths = stylegan_widths(resolution, base_channels, max_channels)
        sides = sorted(widths, reverse=True)
        self.from_rgb = EqualConv2d(channels, widths[resolution], 1)
        if start_resolution:  # the inputs of the lower stages
            self.grow_from_rgbs = nn.ModuleDict(
                {
                    str(side): EqualConv2d(channels, widths[side], 1)
                    for side in sides
                    if start_resolution <= side < resolution
                }
            )
        self.blocks = nn.ModuleList([ResidualBlock(widths[a], widths[b]) for a, b in zip(sides, sides[1:])])
        self.block_sides = sides[:-1]  # input side of each block
        self.conv = EqualConv2d(widths[4] + 1, widths[4], 3)
        self.fc = EqualLinear(widths[4] * 16, widths[4], activate=True)
        self.out = EqualLinear(widths[4], 1)
        self.embed = EqualLinear(num_classes, widths[4]) if num_classes else None

    def _from_rgb(self, images: torch.Tensor) -> torch.Tensor:
        side = images.shape[-1]
        layer = self.from_rgb if side == self.resolution else self.grow_from_rgbs[str(side)]
        return _lrelu(layer(images))

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, class_scores: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """images [N, C, S, S] -> logits [N]; S is the growth stage's side (the full resolution unless growing); with
        `class_scores` also the projection term of every class, [N, classes]."""
        assert images.shape[1:] == (self.channels, self.stage, self.stage), images.shape
        first = self.block_sides.index(self.stage)
        x = None
        for side, block in zip(self.block_sides[first:], self.blocks[first:]):
            with precision_for(images, reduced=side >= self.mixed_from):
                if x is None:
                    x = self._from_rgb(images if side >= self.mixed_from else images.float())
                x = block(x if side >= self.mixed_from else x.float())
            if side == self.stage and self.fading:  # progressive growing: the newest block fades in
                x = self._from_rgb(F.avg_pool2d(images, 2)).float().lerp(x.float(), self.alpha)
        with precision_for(x, reduced=False):
            x = self.fc(_lrelu(self.conv(minibatch_stddev(x.float()))).flatten(1))  # [N, C]
            logits = self.out(x).flatten()
            if self.embed is None:
                return logits
            classes = self.embed(torch.eye(self.num_classes, dtype=x.dtype, device=x.device))  # [K, C]
            scores = x @ classes.t() / math.sqrt(x.shape[1])  # projection on each class's embedding, [N, K]
            logits = logits + scores.gather(1, labels[:, None]).flatten()
        return (logits, scores) if class_scores else logits

"""StyleGAN2-ADA networks exactly as NVlabs' stylegan2-ada-pytorch computes them (Karras et al. 2020, "Training
Generative Adversarial Networks with Limited Data"), in plain PyTorch: the model family "stylegan2-ada".

The modules carry NVIDIA's parameter and buffer names, so that the state dict of an imported network pickle loads
unchanged, and their constructors take NVIDIA's keyword arguments (stored in such pickles), so that the architecture
is rebuilt from them. The arithmetic follows NVIDIA's reference (non-CUDA) path: FIR [1, 3, 3, 1] up/downsampling
(`upfirdn2d`), upsampling convolutions as transposed convolutions followed by the filter, equalised learning rate
with the mapping network's lr multiplier, weight demodulation, noise with learned strength (constant noise
buffers for deterministic images), toRGB without demodulation, activation clamping (conv_clamp), skip / resnet /
orig architectures, minibatch standard deviation and a conditioning projection in D. Modulated convolutions use
NVIDIA's non-fused form (scale the input, shared convolution, scale the output), which also exports to ONNX with a
dynamic batch. Everything runs in fp32 unless an enclosing autocast is on; then only NVIDIA's fp16 resolutions
(num_fp16_res) run in reduced precision.

ganforge's own "stylegan2" family (models/stylegan2.py, bilinear resampling, progressive growing) is separate, so
that its trained checkpoints keep producing the same images.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .stylegan2 import precision_for, style_forward

LRELU_GAIN = math.sqrt(2.0)  # bias_act's default gain of 'lrelu' (and 'relu')
ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), LRELU_GAIN),
    "relu": (F.relu, LRELU_GAIN),
}


# ---- NVIDIA's reference ops ----------------------------------------------------------------------------------------
def fir_filter(taps: list[float]) -> torch.Tensor:
    """A normalised 2-D low-pass filter [k, k] from 1-D taps (outer product, sum 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f) if f.ndim == 1 else f
    return f / f.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative: crop), convolve with the 2-D filter `f`, keep every `down`-th pixel.
    x [N, C, H, W]; pad = (x0, x1, y0, y1)."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    if min(pad) < 0:
        x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    # a depthwise convolution; the channel count is a constant of the network (int(): static kernel shape in ONNX)
    weight = (f * gain).to(x.dtype).flip([0, 1])[None, None].repeat(int(c), 1, 1, 1)  # convolution, not correlation
    x = F.conv2d(x, weight, groups=int(c))
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x FIR upsampling [N, C, H, W] -> [N, C, 2H, 2W] (gain 4 keeps the signal's magnitude)."""
    k = f.shape[-1]
    return upfirdn2d(x, f, up=2, pad=((k + 1) // 2, (k - 2) // 2, (k + 1) // 2, (k - 2) // 2), gain=4.0)


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x FIR downsampling [N, C, H, W] -> [N, C, H/2, W/2]."""
    k = f.shape[-1]
    return upfirdn2d(x, f, down=2, pad=((k - 1) // 2, (k - 2) // 2, (k - 1) // 2, (k - 2) // 2))


def conv2d_resample(
    x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding: int = 0
) -> torch.Tensor:
    """Convolution (correlation with `w` [O, I, k, k]) with optional 2x FIR up- or downsampling, as NVIDIA's
    conv2d_resample computes it for groups=1: upsampling is a stride-2 transposed convolution followed by the
    filter; downsampling filters first and then strides; 1x1 kernels resample on the cheaper side."""
    kh = w.shape[-1]
    fk = f.shape[-1] if f is not None else 1
    p0 = p1 = padding
    if up > 1:
        p0, p1 = p0 + (fk + up - 1) // 2, p1 + (fk - up) // 2
    if down > 1:
        p0, p1 = p0 + (fk - down + 1) // 2, p1 + (fk - down) // 2
    if kh == 1 and down > 1 and up == 1:
        return F.conv2d(upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1)), w)
    if kh == 1 and up > 1 and down == 1:
        return upfirdn2d(F.conv2d(x, w), f, up=up, pad=(p0, p1, p0, p1), gain=up**2)
    if down > 1 and up == 1:
        return F.conv2d(upfirdn2d(x, f, pad=(p0, p1, p0, p1)), w, stride=down)
    if up > 1:  # w is applied as a convolution here (NVIDIA's flip_weight=False for up > 1)
        p0, p1 = p0 - (kh - 1), p1 - (kh - up)
        trim = max(min(-p0, -p1), 0)
        x = F.conv_transpose2d(x, w.transpose(0, 1), stride=up, padding=trim)
        return upfirdn2d(x, f, pad=(p0 + trim, p1 + trim, p0 + trim, p1 + trim), gain=up**2)
    return F.conv2d(x, w, padding=padding)


def bias_act(
    x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float = 1.0, clamp: float | None = None
) -> torch.Tensor:
    """x + b (per channel, dim 1), activation, times its gain (and `gain`), clamped to +-clamp."""
    if b is not None:
        x = x + b.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    func, act_gain = ACTIVATIONS[act]
    x = func(x)
    total = act_gain * gain
    if total != 1:
        x = x * total
    return x.clamp(-clamp, clamp) if clamp is not None else x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


# ---- layers -------------------------------------------------------------------------------------------------------
class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate and a learning-rate multiplier (weights stored / lr_multiplier)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class Conv2dLayer(nn.Module):
    """Equalised-lr convolution with optional FIR resampling, bias, activation and clamp (D and resnet skips)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", fir_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, self.up, self.down, self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=gain, clamp=clamp)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
) -> torch.Tensor:
    """x [N, I, H, W] scaled by styles [N, I], convolved with weight [O, I, k, k] (resampled), demodulated per sample
    and output channel, plus noise: NVIDIA's non-fused modulated convolution."""
    n = x.shape[0]
    if demodulate:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, k, k]
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
    x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding)
    if demodulate:
        x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up) + noise with learned strength + bias + leaky ReLU, clamped."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", fir_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", gain: float = 1.0) -> torch.Tensor:
        """x [N, I, R/up, R/up], w [N, w_dim] -> [N, O, R, R]."""
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x, self.weight, styles, noise, up=self.up, padding=self.padding, resample_filter=self.resample_filter
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation; bias, clamp."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1, conv_clamp: float | None = None
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


# ---- generator ------------------------------------------------------------------------------------------------------
class MappingNetwork(nn.Module):
    """z (2nd-moment normalised) and an embedded, normalised label -> w through `num_layers` lr-multiplied layers;
    tracks w_avg (for truncation) while training."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for index in range(num_layers):
            setattr(
                self,
                f"fc{index}",
                FullyConnectedLayer(
                    features[index], features[index + 1], activation=activation, lr_multiplier=lr_multiplier
                ),
            )
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """z [N, z_dim], c [N, c_dim] (one-hot) -> w [N, w_dim], or ws [N, num_ws, w_dim] when num_ws is set."""
        x = normalize_2nd_moment(z.float()) if self.z_dim > 0 else None
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.float()))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x)
        if self.w_avg_beta is not None and self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = torch.cat(
                    [self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi), x[:, truncation_cutoff:]], dim=1
                )
        return x


class SynthesisBlock(nn.Module):
    """One resolution: (const input | 2x-up conv0) + conv1, and toRGB (skip: every block; orig/resnet: the last),
    the running image upsampled with the FIR filter; resnet adds a 1x1 upsampling skip."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        **layer_kwargs: Any,
    ):
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture {architecture!r}: orig, skip or resnet")
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture, self.use_fp16 = (
            img_channels,
            is_last,
            architecture,
            use_fp16,
        )
        self.register_buffer("resample_filter", fir_filter(list(resample_filter)))
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(
                in_channels,
                out_channels,
                w_dim,
                resolution,
                up=2,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                **layer_kwargs,
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp, **layer_kwargs
        )
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels, out_channels, kernel_size=1, bias=False, up=2, resample_filter=resample_filter
            )

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str = "random"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [N, I, R/2, R/2] (None for the first block), img [N, C, R/2, R/2] or None, ws [N, num_conv + num_torgb,
        w_dim] -> (x [N, O, R, R], img [N, C, R, R] or None)."""
        assert ws.shape[1] == self.num_conv + self.num_torgb, ws.shape
        w_iter = iter(ws.unbind(dim=1))
        with precision_for(ws, reduced=self.use_fp16):
            if self.in_channels == 0:
                x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
                x = self.conv1(x, next(w_iter), noise_mode)
            elif self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, next(w_iter), noise_mode)
                x = self.conv1(x, next(w_iter), noise_mode, gain=math.sqrt(0.5))
                x = y + x
            else:
                x = self.conv0(x, next(w_iter), noise_mode)
                x = self.conv1(x, next(w_iter), noise_mode)
            if img is not None:
                img = upsample2d(img, self.resample_filter)
            if self.is_last or self.architecture == "skip":
                y = self.torgb(x, next(w_iter)).float()
                img = img + y if img is not None else y
        return x, img


def channels_per_resolution(resolutions: list[int], channel_base: int, channel_max: int) -> dict[int, int]:
    """NVIDIA's widths: channel_base / resolution, capped at channel_max."""
    return {res: min(channel_base // res, channel_max) for res in resolutions}


def fp16_from(img_resolution: int, num_fp16_res: int) -> int:
    """The lowest resolution of the `num_fp16_res` highest ones (never below 8)."""
    return max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, C, R, R]: blocks b4 .. bR, each consuming num_conv (+ toRGB) ws."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        **block_kwargs: Any,
    ):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution {img_resolution}: a power of two >= 4")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = channels_per_resolution(self.block_resolutions, channel_base, channel_max)
        fp16_resolution = fp16_from(img_resolution, num_fp16_res)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim=w_dim,
                resolution=res,
                img_channels=img_channels,
                is_last=res == img_resolution,
                use_fp16=res >= fp16_resolution,
                **block_kwargs,
            )
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        assert ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        ws = ws.float()
        x = img = None
        index = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, index, block.num_conv + block.num_torgb), noise_mode)
            index += block.num_conv
        return img


class NvidiaGenerator(nn.Module):
    """stylegan2-ada-pytorch's Generator with ganforge's style interface: `map` (z, class indices -> ws),
    `synthesis` (ws -> images), truncation toward `w_avg`, style mixing while training."""

    def __init__(
        self,
        z_dim: int,  # length of z
        c_dim: int,  # classes (NVIDIA: label dimension; ganforge passes class indices, one-hot here)
        w_dim: int,  # length of w
        img_resolution: int,  # output side
        img_channels: int,  # output channels
        mapping_kwargs: dict | None = None,  # MappingNetwork's keyword arguments
        synthesis_kwargs: dict | None = None,  # SynthesisNetwork's (and its blocks') keyword arguments
        style_mixing: float = 0.0,
    ):  # training: probability of mixing two latents (ganforge's setting)
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels, self.style_mixing = img_resolution, img_channels, style_mixing
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **(synthesis_kwargs or {})
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **(mapping_kwargs or {})
        )

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    def style_weights(self) -> list[torch.Tensor]:
        """The style affines' weights as applied ([C_in, w_dim], lr gain included), one per synthesis convolution in
        ws order (b4.conv1, b8.conv0, b8.conv1, ...; SeFa reads them)."""
        layers = [
            getattr(getattr(self.synthesis, f"b{res}"), name)
            for res in self.synthesis.block_resolutions
            for name in ("conv0", "conv1")
            if hasattr(getattr(self.synthesis, f"b{res}"), name)
        ]
        return [layer.affine.weight * layer.affine.weight_gain for layer in layers]

    def one_hot(self, labels: torch.Tensor | None, count: int, device: torch.device) -> torch.Tensor | None:
        """Class indices [N] -> NVIDIA's label vectors c [N, c_dim]; None without classes."""
        if not self.c_dim:
            return None
        if labels is None:
            raise ValueError("a class-conditional generator needs labels")
        return F.one_hot(labels.long().to(device), self.c_dim).float()

    def map(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        """z [N, z_dim] -> ws [N, num_ws, w_dim]; truncation pulls the first `cutoff` ws toward w_avg by psi."""
        return self.mapping(z, self.one_hot(labels, len(z), z.device), truncation_psi=psi, truncation_cutoff=cutoff)

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
        """z [N, z_dim] -> images [N, C, R, R]. `noise_mode` defaults to random while training, const otherwise;
        `ws_offset` [N, num_ws, w_dim] is added to the ws (path-length regularisation)."""
        return style_forward(self, z, labels, psi, cutoff, noise_mode, return_ws, ws_offset, self.num_ws)


# ---- discriminator --------------------------------------------------------------------------------------------------
class DiscriminatorBlock(nn.Module):
    """One resolution of D: fromRGB (first block; every block in skip), conv0, 2x-down conv1, and a 1x1 downsampling
    skip in resnet (both paths scaled by sqrt(1/2))."""

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        first_layer_idx: int,
        architecture: str = "resnet",
        activation: str = "lrelu",
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        freeze_layers: int = 0,
    ):
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture {architecture!r}: orig, skip or resnet")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.first_layer_idx, self.architecture, self.use_fp16 = first_layer_idx, architecture, use_fp16
        self.register_buffer("resample_filter", fir_filter(list(resample_filter)))
        layers = []
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(
                img_channels, tmp_channels, kernel_size=1, activation=activation, conv_clamp=conv_clamp
            )
            layers.append(self.fromrgb)
        self.conv0 = Conv2dLayer(
            tmp_channels, tmp_channels, kernel_size=3, activation=activation, conv_clamp=conv_clamp
        )
        self.conv1 = Conv2dLayer(
            tmp_channels,
            out_channels,
            kernel_size=3,
            activation=activation,
            down=2,
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
        )
        layers += [self.conv0, self.conv1]
        if architecture == "resnet":
            self.skip = Conv2dLayer(
                tmp_channels, out_channels, kernel_size=1, bias=False, down=2, resample_filter=resample_filter
            )
            layers.append(self.skip)
        self.num_layers = len(layers)
        for index, layer in enumerate(layers):  # NVIDIA's freeze_layers counts layers from the first block on
            layer.requires_grad_(first_layer_idx + index >= freeze_layers)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [N, tmp, R, R] (None for the first block), img [N, C, R, R] -> x [N, out, R/2, R/2], img at R/2 (skip)."""
        with precision_for(img if img is not None else x, reduced=self.use_fp16):
            if self.in_channels == 0 or self.architecture == "skip":
                y = self.fromrgb(img)
                x = x + y if x is not None else y
                img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
                x = y + x
            else:
                x = self.conv1(self.conv0(x))
        return x, img


def minibatch_std(x: torch.Tensor, group_size: int | None, num_channels: int = 1) -> torch.Tensor:
    """Append the standard deviation over groups of `group_size` samples (averaged over channel groups and pixels)
    as `num_channels` extra feature maps: [N, C, H, W] -> [N, C + num_channels, H, W]."""
    n, c, h, w = x.shape
    g = min(group_size, n) if group_size is not None else n
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, num_channels, 1, 1)
    return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 end of D: (skip: fromRGB), minibatch std, conv, fc, out; conditional: projection onto the mapped
    label, scaled by 1/sqrt(cmap_dim)."""

    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        mbstd_group_size: int | None = 4,
        mbstd_num_channels: int = 1,
        activation: str = "lrelu",
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution, self.architecture = (
            in_channels,
            cmap_dim,
            resolution,
            architecture,
        )
        self.mbstd_group_size, self.mbstd_num_channels = mbstd_group_size, mbstd_num_channels
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation, conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        """x [N, C, 4, 4] -> logits [N, 1]."""
        x = x.float()
        if self.architecture == "skip":
            x = x + self.fromrgb(img.float())
        if self.mbstd_num_channels > 0:
            x = minibatch_std(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class NvidiaDiscriminator(nn.Module):
    """stylegan2-ada-pytorch's Discriminator: blocks bR .. b8, a label mapping network (conditional), epilogue b4.
    Takes ganforge's (images, class indices) and returns logits [N]."""

    def __init__(
        self,
        c_dim: int,
        img_resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        cmap_dim: int | None = None,
        block_kwargs: dict | None = None,
        mapping_kwargs: dict | None = None,
        epilogue_kwargs: dict | None = None,
    ):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(int(math.log2(img_resolution)), 2, -1)]
        channels = channels_per_resolution(self.block_resolutions + [4], channel_base, channel_max)
        fp16_resolution = fp16_from(img_resolution, num_fp16_res)
        cmap_dim = 0 if c_dim == 0 else (channels[4] if cmap_dim is None else cmap_dim)
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_index = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels[res] if res < img_resolution else 0,
                channels[res],
                channels[res // 2],
                resolution=res,
                first_layer_idx=layer_index,
                use_fp16=res >= fp16_resolution,
                **(block_kwargs or {}),
                **common,
            )
            setattr(self, f"b{res}", block)
            layer_index += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(
                z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None, **(mapping_kwargs or {})
            )
        self.b4 = DiscriminatorEpilogue(
            channels[4], cmap_dim=cmap_dim, resolution=4, **(epilogue_kwargs or {}), **common
        )

    def blocks(self) -> list[nn.Module]:
        """D's blocks from the input side (bR first), the epilogue last: what --freeze-d counts."""
        return [getattr(self, f"b{res}") for res in self.block_resolutions] + [self.b4]

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images [N, C, R, R], class indices [N] -> logits [N]."""
        x, img = None, images
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img)
        cmap = None
        if self.c_dim > 0:
            if labels is None:
                raise ValueError("a class-conditional discriminator needs labels")
            cmap = self.mapping(None, F.one_hot(labels.long(), self.c_dim).float())
        return self.b4(x, img, cmap).squeeze(1)


def stored_kwargs(arch_kwargs: str, network: str) -> dict[str, Any] | None:
    """The constructor kwargs of `network` ("G" or "D") that cfg.arch_kwargs holds for an imported model, or None."""
    return json.loads(arch_kwargs).get(network) if arch_kwargs else None

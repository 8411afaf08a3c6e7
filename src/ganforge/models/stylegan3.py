"""StyleGAN3's alias-free generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), configs -T
(translation equivariant: 3x3 convolutions, separable Kaiser filters) and -R (rotation equivariant: 1x1
convolutions, radially symmetric jinc downsampling filters), in plain PyTorch.

The network computes what NVlabs' stylegan3 code computes on its reference path (their `filtered_lrelu` built from
`upfirdn2d` and `bias_act`, rather than their CUDA kernels), so that their trained pickles give the same images here;
parameter and buffer names are NVIDIA's (`mapping.fc0.weight`, `synthesis.input.freqs`,
`synthesis.L3_36_512.magnitude_ema`, ...), so a state dict read from their files loads as is. It runs in fp32
(their fp16 layers are a CUDA speed-up that does not change the architecture).

The pieces, in the order an image is drawn:
- mapping: z (and a label embedding) -> w, normalised, through leaky-ReLU layers with a reduced learning rate,
  w_avg tracked for truncation; every layer gets the same w unless ws are given (style mixing, projection).
- SynthesisInput: Fourier features of a fixed set of random frequencies, rotated and translated by a learned
  affine of the first w (and a user transform buffer), then mixed by a learned channel matrix.
- SynthesisLayer (x num_layers, then a 1x1 toRGB): modulated convolution with input gain 1/sqrt(magnitude EMA), then
  a "filtered leaky ReLU": bias, upsampling with a low-pass FIR filter, leaky ReLU and clamp at the higher rate,
  low-pass filtering and downsampling to the layer's output rate. Cutoffs, stopbands and sampling rates follow a
  geometric schedule from the first to the last layer; the last `num_critical` layers are critically sampled.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

from .nvidia_sg2 import FullyConnectedLayer, MappingNetwork, NvidiaGenerator, bias_act, upfirdn2d

NOISE_MODES = ("random", "const", "none")  # accepted for the common interface; StyleGAN3 has no noise


def filtered_lrelu(
    x: torch.Tensor,
    up_filter: torch.Tensor | None,
    down_filter: torch.Tensor | None,
    bias: torch.Tensor,
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
    is_torgb: bool,
    clamp: float | None,
) -> torch.Tensor:
    """Bias; upsample by `up` (zero insertion, padding, FIR `up_filter`, gain up^2); leaky ReLU times sqrt(2)
    (toRGB: linear); clamp to +-clamp; low-pass `down_filter` and keep every `down`-th pixel. Filters are 1-D
    (separable: width, then height) or 2-D (radial); None is the identity."""
    x = bias_act(x, bias)
    x = fir(x, up_filter, up=up, pad=padding, gain=up**2)
    x = bias_act(x, None, act="linear" if is_torgb else "lrelu", clamp=clamp)
    return fir(x, down_filter, down=down)


def fir(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """`upfirdn2d` with NVIDIA's filter conventions: None = a single unit tap; a 1-D filter [K] runs separably
    (along the width, then the height) with gain^(1/2) each; a 2-D filter [K, K] as is."""
    if f is None:
        f = torch.ones(1, 1, device=x.device)
    if f.ndim == 2:
        return upfirdn2d(x, f, up=up, down=down, pad=pad, gain=gain)
    x = upfirdn2d(x, f[None, :], up=up, pad=pad, gain=gain**0.5)
    return upfirdn2d(x, f[:, None], down=down, gain=gain**0.5)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    padding: int,
    input_gain: torch.Tensor,
) -> torch.Tensor:
    """x [N, I, H, W] convolved with per-sample weights weight [O, I, k, k] * styles [N, I] * input_gain, demodulated
    per sample and output channel when asked (weights and styles are first normalised to unit mean square, as
    NVIDIA does for fp16 safety). Computed in the non-fused form (scale the input, one shared convolution, scale
    the output): the same values as their grouped convolution, and an ONNX graph with a dynamic batch."""
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    x = x * (styles * input_gain)[:, :, None, None]
    x = F.conv2d(x, weight, padding=padding)
    if demodulate:
        w = weight[None] * styles[:, None, :, None, None]  # [N, O, I, k, k]
        x = x * (w.square().sum([2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None]
    return x


def lowpass_filter(taps: int, cutoff: float, width: float, rate: float, radial: bool = False) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass FIR filter (separable, [taps]) or its radially symmetric jinc version
    ([taps, taps]); None for a single tap (identity)."""
    if taps == 1:
        return None
    if not radial:
        taps_1d = scipy.signal.firwin(numtaps=taps, cutoff=cutoff, width=width, fs=rate)
        return torch.as_tensor(taps_1d, dtype=torch.float32)
    x = (np.arange(taps) - (taps - 1) / 2) / rate
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    window = np.kaiser(taps, scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(taps, width / (rate / 2))))
    f = f * np.outer(window, window)
    return torch.as_tensor(f / np.sum(f), dtype=torch.float32)


class SynthesisInput(nn.Module):
    """w [N, w_dim] -> Fourier features [N, channels, size, size] of random frequencies within `bandwidth`,
    rotated/translated by an affine of w and the `transform` buffer (a user's inverse transform of the image)."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, size, sampling_rate, bandwidth
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth  # uniform in the disc
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4)  # starts as the identity transform: no rotation, no shift
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def sampling_grid(self, device: torch.device) -> torch.Tensor:
        """[1, S, S, (x, y)]: the pixel centres in units of the sampling rate, centred on the image; the values of
        F.affine_grid with a diagonal theta of 0.5 S / rate, computed in the same order (ONNX has no affine_grid
        before opset 20)."""
        scale = torch.tensor(0.5 * self.size / self.sampling_rate, dtype=torch.float32)
        line = torch.linspace(-1, 1, self.size, device=device) * (self.size - 1) / self.size * scale.to(device)
        return torch.stack([line[None, :].expand(self.size, -1), line[:, None].expand(-1, self.size)], dim=-1)[None]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)  # (cos, sin, tx, ty), rotation normalised to unit length
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotation = torch.eye(3, device=w.device).repeat(n, 1, 1)
        rotation[:, 0, 0], rotation[:, 0, 1], rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device).repeat(n, 1, 1)
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = rotation @ translation @ self.transform[None]  # [N, 3, 3]
        freqs = self.freqs[None]  # [1, C, 2]
        phases = self.phases[None] + (freqs @ transforms[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = freqs @ transforms[:, :2, :2]  # [N, C, 2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        grid = self.sampling_grid(w.device)  # [1, S, S, 2]
        x = (grid[:, :, :, None] @ freqs.transpose(1, 2)[:, None, None]).squeeze(3)  # [N, S, S, C]
        x = torch.sin((x + phases[:, None, None]) * (np.pi * 2)) * amplitudes[:, None, None]
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)  # [N, C, S, S]


class SynthesisLayer(nn.Module):
    """One alias-free layer: modulated conv at the input rate, filtered leaky ReLU through a higher temporary rate,
    output at `out_rate` (the final toRGB: a 1x1 conv without demodulation, no nonlinearity, no resampling)."""

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        in_channels: int,
        out_channels: int,
        in_size: int,
        out_size: int,
        in_rate: int,
        out_rate: int,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
    ):
        super().__init__()
        self.is_torgb, self.in_channels, self.out_channels = is_torgb, in_channels, out_channels
        self.in_size, self.out_size = in_size, out_size
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta  # the EMA: NVIDIA's training
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))

        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up_factor, self.down_factor = round(tmp_rate / in_rate), round(tmp_rate / out_rate)
        assert in_rate * self.up_factor == tmp_rate and out_rate * self.down_factor == tmp_rate
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate))
        self.register_buffer(
            "down_filter",
            lowpass_filter(
                down_taps,
                out_cutoff,
                out_half_width * 2,
                tmp_rate,
                radial=use_radial_filters and not is_critically_sampled,
            ),
        )
        # pad so that the output holds out_size samples, centred (the symmetric interpretation, their Appendix C.3)
        pad_total = (out_size - 1) * self.down_factor + 1 - (in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        self.padding = (pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [N, in_channels, in_size, in_size], w [N, w_dim] -> [N, out_channels, out_size, out_size]."""
        assert x.shape[1:] == (self.in_channels, self.in_size, self.in_size), x.shape
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / np.sqrt(self.in_channels * self.conv_kernel**2)
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            demodulate=not self.is_torgb,
            padding=self.conv_kernel - 1,
            input_gain=self.magnitude_ema.rsqrt(),
        )
        return filtered_lrelu(
            x,
            self.up_filter,
            self.down_filter,
            self.bias,
            self.up_factor,
            self.down_factor,
            self.padding,
            self.is_torgb,
            self.conv_clamp,
        )


def layer_schedule(
    resolution: int,
    channels: int,
    channel_base: int,
    channel_max: int,
    num_layers: int,
    num_critical: int,
    first_cutoff: float,
    first_stopband: float,
    last_stopband_rel: float,
    margin_size: int,
) -> dict[str, np.ndarray]:
    """Per layer 0..num_layers (the input features first, toRGB last): cutoff f_c, half-width f_h, sampling rate
    s, size (with margin) and channels: a geometric progression of cutoffs and stopbands (their Section 3.2)."""
    last_cutoff = resolution / 2
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
    sizes = rates + margin_size * 2
    sizes[-2:] = resolution
    widths = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    widths[-1] = channels
    return {
        "cutoffs": cutoffs,
        "half_widths": np.maximum(stopbands, rates / 2) - cutoffs,
        "rates": rates,
        "sizes": sizes,
        "channels": widths,
    }


class SynthesisNetwork(nn.Module):
    """ws [N, num_layers + 2, w_dim] -> images [N, img_channels, resolution, resolution] (times output_scale)."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        first_cutoff: float = 2,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        **layer_kwargs,
    ):
        super().__init__()
        self.w_dim, self.num_ws, self.output_scale = w_dim, num_layers + 2, output_scale
        self.img_resolution, self.img_channels = img_resolution, img_channels
        s = layer_schedule(
            img_resolution,
            img_channels,
            channel_base,
            channel_max,
            num_layers,
            num_critical,
            first_cutoff,
            first_stopband,
            last_stopband_rel,
            margin_size,
        )
        self.input = SynthesisInput(w_dim, int(s["channels"][0]), int(s["sizes"][0]), s["rates"][0], s["cutoffs"][0])
        self.layer_names = []
        for index in range(num_layers + 1):
            prev = max(index - 1, 0)
            layer = SynthesisLayer(
                w_dim,
                is_torgb=index == num_layers,
                is_critically_sampled=index >= num_layers - num_critical,
                in_channels=int(s["channels"][prev]),
                out_channels=int(s["channels"][index]),
                in_size=int(s["sizes"][prev]),
                out_size=int(s["sizes"][index]),
                in_rate=int(s["rates"][prev]),
                out_rate=int(s["rates"][index]),
                in_cutoff=s["cutoffs"][prev],
                out_cutoff=s["cutoffs"][index],
                in_half_width=s["half_widths"][prev],
                out_half_width=s["half_widths"][index],
                **layer_kwargs,
            )
            name = f"L{index}_{layer.out_size}_{layer.out_channels}"  # NVIDIA's module names
            self.add_module(name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> images; there are no noise inputs, `noise_mode` is the common interface's."""
        assert ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        assert noise_mode in NOISE_MODES, noise_mode
        ws = ws.float().unbind(1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w)
        return x * self.output_scale if self.output_scale != 1 else x


class StyleGAN3Generator(NvidiaGenerator):
    """z [N, z_dim] (+ class indices) -> images [N, C, S, S] (~[-1, 1]). The style interface (`map`: z -> ws with
    truncation toward w_avg; `synthesis`: ws -> images; `forward`) and the mapping network are StyleGAN2-ADA's
    (NvidiaGenerator); the synthesis network is the alias-free one."""

    def __init__(
        self,
        z_dim: int,  # length of z ~ N(0, I)
        c_dim: int,  # number of classes (one-hot conditioning), 0 = unconditional
        w_dim: int,  # length of the intermediate latent w
        img_resolution: int,  # output side
        img_channels: int,  # output channels (1 or 3)
        mapping_kwargs: dict | None = None,  # MappingNetwork: num_layers, lr_multiplier, w_avg_beta
        num_fp16_res: int = 0,  # NVIDIA's fp16 layers (a CUDA speed-up): recorded, computed in fp32 here
        **synthesis_kwargs,
    ):  # SynthesisNetwork / SynthesisLayer settings, NVIDIA's names and defaults
        """The arguments are NVIDIA's `Generator` constructor's, so a pickle's stored kwargs build it as they are."""
        nn.Module.__init__(self)  # NvidiaGenerator's own __init__ builds StyleGAN2's synthesis network
        self.z_dim, self.c_dim, self.w_dim, self.num_fp16_res = z_dim, c_dim, w_dim, num_fp16_res
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.style_mixing = 0.0  # not trained in ganforge (see the model registry)
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        mapping = {"num_layers": 2, "w_avg_beta": 0.998, **(mapping_kwargs or {})}  # StyleGAN3's defaults
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping)

    def style_weights(self) -> list[torch.Tensor]:
        """The affines' weights as applied ([outputs, w_dim], gain included), one per ws in order (SeFa reads them):
        ws 0 sets the Fourier input's rotation and shift (4 outputs), ws 1.. the styles of L0.., toRGB last."""
        layers = [self.synthesis.input] + [getattr(self.synthesis, name) for name in self.synthesis.layer_names]
        return [layer.affine.weight * layer.affine.weight_gain for layer in layers]

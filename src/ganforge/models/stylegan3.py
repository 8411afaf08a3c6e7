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

import math

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
NOISE_MODES = ("random", "const", "none")  # accepted for the common interface; StyleGAN3 has no noise


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate (NVIDIA's names and init): y = x W^T lr/sqrt(fan_in) + b lr,
    optionally leaky ReLU (slope 0.2) times sqrt(2)."""

    def __init__(self, in_features: int, out_features: int, lrelu: bool = False, lr_multiplier: float = 1.0,
                 weight_init: float = 1.0, bias_init: float | list[float] = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_multiplier))
        bias = torch.as_tensor(np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]).copy())
        self.bias = nn.Parameter(bias / lr_multiplier)
        self.weight_gain, self.bias_gain, self.lrelu = lr_multiplier / math.sqrt(in_features), lr_multiplier, lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, in] -> [N, out]."""
        bias = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if not self.lrelu:
            return torch.addmm(bias[None], x, (self.weight * self.weight_gain).t())
        return F.leaky_relu(x.matmul((self.weight * self.weight_gain).t()) + bias, 0.2) * SQRT2


def normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    """Scale each row [N, C] to unit mean square."""
    return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()


class MappingNetwork(nn.Module):
    """z [N, z_dim] (+ one-hot class [N, c_dim] embedded and normalised) -> w [N, w_dim]; tracks w_avg."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_layers: int = 2, lr_multiplier: float = 0.01,
                 w_avg_beta: float = 0.998):
        super().__init__()
        self.c_dim, self.num_layers, self.w_avg_beta = c_dim, num_layers, w_avg_beta
        self.embed = FullyConnectedLayer(c_dim, w_dim) if c_dim else None
        features = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * num_layers
        for index, (inputs, outputs) in enumerate(zip(features, features[1:])):
            self.add_module(f"fc{index}", FullyConnectedLayer(inputs, outputs, lrelu=True, lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = normalize_2nd_moment(z.float())
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(c.float()))], dim=1)
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return x


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative: crop) [x0, x1, y0, y1], convolve each channel with the FIR filter
    `f` (1-D: separable, [K]; 2-D: [K, K]; None: identity) scaled by `gain`, keep every `down`-th pixel."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    if f is None:
        return x[:, :, ::down, ::down]
    f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
    if f.ndim == 2:
        return F.conv2d(x, f[None, None].expand(c, 1, -1, -1), stride=down, groups=c)
    x = F.conv2d(x, f[None, None, None].expand(c, 1, 1, -1), stride=(1, down), groups=c)  # along the width
    return F.conv2d(x, f[None, None, :, None].expand(c, 1, -1, 1), stride=(down, 1), groups=c)  # along the height


def filtered_lrelu(x: torch.Tensor, up_filter: torch.Tensor | None, down_filter: torch.Tensor | None,
                   bias: torch.Tensor, up: int, down: int, padding: tuple[int, int, int, int], gain: float,
                   slope: float, clamp: float | None) -> torch.Tensor:
    """Bias, upsample (FIR, gain up^2), leaky ReLU times `gain`, clamp to +-clamp, low-pass and downsample."""
    x = upfirdn2d(x + bias[None, :, None, None], up_filter, up=up, padding=padding, gain=up ** 2)
    x = F.leaky_relu(x, slope) if slope != 1 else x
    x = x * gain if gain != 1 else x
    x = x.clamp(-clamp, clamp) if clamp is not None else x
    return upfirdn2d(x, down_filter, down=down)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     padding: int, input_gain: torch.Tensor) -> torch.Tensor:
    """x [N, I, H, W] convolved with per-sample weights [O, I, k, k] * styles [N, I] (* input_gain), demodulated
    per output channel when asked; weights and styles are first normalised to unit mean square (fp16 safety)."""
    n, in_channels = styles.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight[None] * styles[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        w = w * (w.square().sum([2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    w = w * input_gain.expand(n, in_channels)[:, None, :, None, None]
    x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_channels, *w.shape[3:]), padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


def lowpass_filter(taps: int, cutoff: float, width: float, rate: float, radial: bool = False) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass FIR filter (separable, [taps]) or its radially symmetric jinc version
    ([taps, taps]); None for a single tap (identity)."""
    if taps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=taps, cutoff=cutoff, width=width, fs=rate), dtype=torch.float32)
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
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0.0, bias_init=[1.0, 0.0, 0.0, 0.0])
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

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
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = F.affine_grid(theta[None], [1, 1, self.size, self.size], align_corners=False)  # [1, S, S, 2]
        x = (grid[:, :, :, None] @ freqs.transpose(1, 2)[:, None, None]).squeeze(3)  # [N, S, S, C]
        x = torch.sin((x + phases[:, None, None]) * (np.pi * 2)) * amplitudes[:, None, None]
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)  # [N, C, S, S]


class SynthesisLayer(nn.Module):
    """One alias-free layer: modulated conv at the input rate, filtered leaky ReLU through a higher temporary rate,
    output at `out_rate` (the final toRGB: a 1x1 conv without demodulation, no nonlinearity, no resampling)."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, in_channels: int,
                 out_channels: int, in_size: int, out_size: int, in_rate: int, out_rate: int, in_cutoff: float,
                 out_cutoff: float, in_half_width: float, out_half_width: float, conv_kernel: int = 3,
                 filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False,
                 conv_clamp: float | None = 256, magnitude_ema_beta: float = 0.999):
        super().__init__()
        self.is_torgb, self.in_channels, self.out_channels = is_torgb, in_channels, out_channels
        self.in_size, self.out_size = in_size, out_size
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta
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
        self.register_buffer("down_filter", lowpass_filter(down_taps, out_cutoff, out_half_width * 2, tmp_rate,
                                                           radial=use_radial_filters and not is_critically_sampled))
        # pad so that the output holds out_size samples, centred (the symmetric interpretation, their Appendix C.3)
        pad_total = (out_size - 1) * self.down_factor + 1 - (in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        self.padding = (pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [N, in_channels, in_size, in_size], w [N, w_dim] -> [N, out_channels, out_size, out_size]."""
        assert x.shape[1:] == (self.in_channels, self.in_size, self.in_size), x.shape
        if self.training:
            with torch.no_grad():
                self.magnitude_ema.copy_(x.detach().float().square().mean().lerp(self.magnitude_ema,
                                                                                 self.magnitude_ema_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / np.sqrt(self.in_channels * self.conv_kernel ** 2)
        x = modulated_conv2d(x, self.weight, styles, demodulate=not self.is_torgb, padding=self.conv_kernel - 1,
                             input_gain=self.magnitude_ema.rsqrt())
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, self.up_factor, self.down_factor,
                              self.padding, gain=1 if self.is_torgb else SQRT2, slope=1 if self.is_torgb else 0.2,
                              clamp=self.conv_clamp)


def layer_schedule(resolution: int, channels: int, channel_base: int, channel_max: int, num_layers: int,
                   num_critical: int, first_cutoff: float, first_stopband: float, last_stopband_rel: float,
                   margin_size: int) -> dict[str, np.ndarray]:
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
    return {"cutoffs": cutoffs, "half_widths": np.maximum(stopbands, rates / 2) - cutoffs, "rates": rates,
            "sizes": sizes, "channels": widths}


class SynthesisNetwork(nn.Module):
    """ws [N, num_layers + 2, w_dim] -> images [N, img_channels, resolution, resolution] (times output_scale)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, **layer_kwargs):
        super().__init__()
        self.w_dim, self.num_ws, self.output_scale = w_dim, num_layers + 2, output_scale
        self.img_resolution, self.img_channels = img_resolution, img_channels
        s = layer_schedule(img_resolution, img_channels, channel_base, channel_max, num_layers, num_critical,
                           first_cutoff, first_stopband, last_stopband_rel, margin_size)
        self.input = SynthesisInput(w_dim, int(s["channels"][0]), int(s["sizes"][0]), s["rates"][0], s["cutoffs"][0])
        self.layer_names = []
        for index in range(num_layers + 1):
            prev = max(index - 1, 0)
            layer = SynthesisLayer(
                w_dim, is_torgb=index == num_layers, is_critically_sampled=index >= num_layers - num_critical,
                in_channels=int(s["channels"][prev]), out_channels=int(s["channels"][index]),
                in_size=int(s["sizes"][prev]), out_size=int(s["sizes"][index]),
                in_rate=int(s["rates"][prev]), out_rate=int(s["rates"][index]),
                in_cutoff=s["cutoffs"][prev], out_cutoff=s["cutoffs"][index],
                in_half_width=s["half_widths"][prev], out_half_width=s["half_widths"][index], **layer_kwargs)
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


class StyleGAN3Generator(nn.Module):
    """z [N, z_dim] (+ class indices) -> images [N, C, S, S] (~[-1, 1]), with ganforge's style interface:
    `map` (z -> ws, truncation toward w_avg) and `synthesis` (ws -> images)."""

    def __init__(self, z_dim: int,  # length of z ~ N(0, I)
                 c_dim: int,  # number of classes (one-hot conditioning), 0 = unconditional
                 w_dim: int,  # length of the intermediate latent w
                 img_resolution: int,  # output side
                 img_channels: int,  # output channels (1 or 3)
                 mapping_layers: int = 2,  # depth of the mapping network
                 mapping_lr_multiplier: float = 0.01,  # learning-rate multiplier of the mapping layers
                 w_avg_beta: float = 0.998,  # decay of the tracked w average (for truncation)
                 **synthesis_kwargs):  # SynthesisNetwork / SynthesisLayer settings, NVIDIA's names and defaults
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, mapping_layers, mapping_lr_multiplier, w_avg_beta)

    def map(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0,
            cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] (labels [N] class indices) -> ws [N, num_ws, w_dim]; truncation pulls the first `cutoff`
        ws toward the tracked w_avg by psi."""
        c = F.one_hot(labels.long(), self.c_dim).float() if self.c_dim else None
        ws = self.mapping(z, c)[:, None].repeat(1, self.num_ws, 1)
        if psi != 1:
            cutoff = self.num_ws if cutoff is None else cutoff
            ws[:, :cutoff] = self.mapping.w_avg.lerp(ws[:, :cutoff], psi)
        return ws

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0,
                cutoff: int | None = None, noise_mode: str = "const", return_ws: bool = False,
                ws_offset: torch.Tensor | None = None):
        """z [N, z_dim] -> images [N, C, S, S]; `ws_offset` [N, num_ws, w_dim] is added to the ws (gradients with
        respect to the ws); `return_ws` also returns them. StyleGAN3 has no noise inputs: `noise_mode` is accepted
        for the common interface and changes nothing."""
        ws = self.map(z, labels, psi, cutoff)
        if ws_offset is not None:
            ws = ws + ws_offset
        images = self.synthesis(ws, noise_mode)
        return (images, ws) if return_ws else images

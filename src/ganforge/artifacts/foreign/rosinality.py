"""rosinality/stylegan2-pytorch checkpoints: torch.save'd dicts of state dicts, `g_ema` (and `g`, `d`, optimiser
states, `args`, `ada_aug_p` from their train.py; `g_ema` and `latent_avg` from their convert_weight.py).

Their StyleGAN2 (config-f) computes NVIDIA's functions with other parameter names, so a checkpoint becomes the
NVIDIA-exact "stylegan2-ada" family (models/nvidia_sg2.py), key by key:

- mapping: `style.{i}` (after their PixelNorm) -> `mapping.fc{i-1}`: both store weight / lr_mul and bias / lr_mul
  and apply lr_mul / sqrt(fan_in) and lr_mul at run time (their `lr_mlp` is fixed at NVIDIA's 0.01).
- synthesis: `input.input` [1, C, 4, 4] -> `b4.const`; `conv1` / `to_rgb1` -> `b4.conv1` / `b4.torgb`;
  `convs.{2k}`, `convs.{2k+1}`, `to_rgbs.{k}` -> `b{2^(k+3)}.conv0`, `.conv1`, `.torgb`; in each layer
  `conv.weight` [1, O, I, k, k] -> `weight`, `conv.modulation` -> `affine`, `noise.weight` -> `noise_strength`,
  `activate.bias` (FusedLeakyReLU) -> `bias`; `noises.noise_{i}` [1, 1, R, R] -> the i-th layer's `noise_const`.
  Their ws are consumed in NVIDIA's order (conv, conv, toRGB sharing the next block's first w), num_ws = 2 log2 R - 2.
- The ops agree: their upsampling conv (transposed stride-2 conv, then a [1,3,3,1] blur x4 padded (1, 1)) is
  NVIDIA's conv2d_resample for up=2; the skip upsampling and D's blur-then-stride downsampling likewise. One
  difference, below float32 resolution: they demodulate the weight after scaling it by 1/sqrt(fan_in), so their
  epsilon 1e-8 acts as 1e-8 * fan_in on NVIDIA's scale (a relative change of ~1e-8 / fan_in).
- D: `convs.0` -> `b{R}.fromrgb`; ResBlock `convs.{k}` (conv1, conv2 with blur, skip) -> `b{R/2^(k-1)}.conv0`,
  `.conv1`, `.skip`; `final_conv`, `final_linear.0`, `final_linear.1` -> `b4.conv`, `b4.fc`, `b4.out`; minibatch
  standard deviation with groups of 4 and 1 feature, as NVIDIA's.
- Widths: their table (512 up to 32 px, then 256 * channel_multiplier * 64 / R) is NVIDIA's min(channel_base / R,
  channel_max) with channel_base = 16384 * channel_multiplier, channel_max = 512; any table of that form is read.

Truncation: NVIDIA pulls toward a stored w_avg; rosinality computes a mean latent when sampling
(`mean_latent(4096)`, random). A converted checkpoint's `latent_avg` becomes w_avg; otherwise w_avg is the mean of
W_AVG_SAMPLES mapped z drawn from seed W_AVG_SEED, so it is reproducible. Constant noise: their
`randomize_noise=False` uses the stored `noises` buffers, which are ganforge's `noise_mode="const"`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ... import models
from ...config import ModelConfig
from ...data.base import DatasetInfo
from ...errors import CheckpointError
from ...models.nvidia_sg2 import channels_per_resolution, fir_filter
from . import ForeignModel, Reader
from .torchfile import load, peek, tensor_dict

FAMILY = "stylegan2-ada"
BLUR = fir_filter([1, 3, 3, 1])  # their only blur kernel (stored with every resampling layer; checked)
W_AVG_SAMPLES, W_AVG_SEED = 4096, 0  # their generate.py's --truncation_mean default
MBSTD = {"mbstd_group_size": 4, "mbstd_num_channels": 1}  # their Discriminator's stddev_group, stddev_feat
Rename = list[tuple[str, str, Callable[[torch.Tensor], torch.Tensor]]]  # (their key, our key, reshape)


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


def _generator_widths(g: dict[str, torch.Tensor]) -> dict[int, int]:
    """Resolution -> channels of their generator, from its conv weights."""
    widths = {4: int(g["input.input"].shape[1])}
    k = 0
    while f"convs.{2 * k}.conv.weight" in g:
        widths[2 ** (k + 3)] = int(g[f"convs.{2 * k}.conv.weight"].shape[1])
        k += 1
    return widths


def _discriminator_widths(d: dict[str, torch.Tensor], resolution: int) -> dict[int, int]:
    widths = {resolution: int(d["convs.0.0.weight"].shape[0])}
    k = 1
    while f"convs.{k}.conv2.1.weight" in d:
        widths[resolution // 2**k] = int(d[f"convs.{k}.conv2.1.weight"].shape[0])
        k += 1
    return widths


def _nvidia_widths(path: Path, widths: dict[int, int], what: str) -> dict[str, int]:
    """channel_base / channel_max reproducing their widths (NVIDIA's min(base / R, max)); an error when none does."""
    channel_max = max(widths.values())
    below = [res for res, width in widths.items() if width < channel_max]
    channel_base = widths[max(below)] * max(below) if below else channel_max * max(widths)
    if channels_per_resolution(list(widths), channel_base, channel_max) != widths:
        raise CheckpointError(
            f"{path}: {what} widths {dict(sorted(widths.items()))} do not follow StyleGAN2's "
            f"min(base / resolution, max) rule"
        )
    return {"channel_base": channel_base, "channel_max": channel_max}


def _layer(theirs: str, ours: str, noise: str | None) -> Rename:
    """One StyledConv -> SynthesisLayer."""
    renames = [
        (f"{theirs}.conv.weight", f"{ours}.weight", lambda w: w[0]),
        (f"{theirs}.conv.modulation.weight", f"{ours}.affine.weight", _same),
        (f"{theirs}.conv.modulation.bias", f"{ours}.affine.bias", _same),
        (f"{theirs}.noise.weight", f"{ours}.noise_strength", lambda w: w.reshape(())),
        (f"{theirs}.activate.bias", f"{ours}.bias", _same),
    ]
    return renames + ([(noise, f"{ours}.noise_const", lambda n: n[0, 0])] if noise else [])


def _to_rgb(theirs: str, ours: str) -> Rename:
    return [
        (f"{theirs}.conv.weight", f"{ours}.weight", lambda w: w[0]),
        (f"{theirs}.conv.modulation.weight", f"{ours}.affine.weight", _same),
        (f"{theirs}.conv.modulation.bias", f"{ours}.affine.bias", _same),
        (f"{theirs}.bias", f"{ours}.bias", lambda b: b.reshape(-1)),
    ]


def _generator_renames(resolution: int, mapping_layers: int) -> tuple[Rename, list[str]]:
    """(renames, their blur-kernel keys) of a generator of `resolution`."""
    renames: Rename = []
    for i in range(1, mapping_layers + 1):
        renames += [(f"style.{i}.{p}", f"mapping.fc{i - 1}.{p}", _same) for p in ("weight", "bias")]
    renames.append(("input.input", "synthesis.b4.const", lambda c: c[0]))
    renames += _layer("conv1", "synthesis.b4.conv1", "noises.noise_0") + _to_rgb("to_rgb1", "synthesis.b4.torgb")
    kernels = []
    for k in range(int(math.log2(resolution)) - 2):
        block = f"synthesis.b{2 ** (k + 3)}"
        renames += _layer(f"convs.{2 * k}", f"{block}.conv0", f"noises.noise_{2 * k + 1}")
        renames += _layer(f"convs.{2 * k + 1}", f"{block}.conv1", f"noises.noise_{2 * k + 2}")
        renames += _to_rgb(f"to_rgbs.{k}", f"{block}.torgb")
        kernels += [f"convs.{2 * k}.conv.blur.kernel", f"to_rgbs.{k}.upsample.kernel"]
    return renames, kernels


def _discriminator_renames(resolution: int) -> tuple[Rename, list[str]]:
    renames: Rename = [
        ("convs.0.0.weight", f"b{resolution}.fromrgb.weight", _same),
        ("convs.0.1.bias", f"b{resolution}.fromrgb.bias", _same),
    ]
    kernels = []
    for k in range(1, int(math.log2(resolution)) - 1):
        block, theirs = f"b{resolution // 2 ** (k - 1)}", f"convs.{k}"
        renames += [
            (f"{theirs}.conv1.0.weight", f"{block}.conv0.weight", _same),
            (f"{theirs}.conv1.1.bias", f"{block}.conv0.bias", _same),
            (f"{theirs}.conv2.1.weight", f"{block}.conv1.weight", _same),
            (f"{theirs}.conv2.2.bias", f"{block}.conv1.bias", _same),
            (f"{theirs}.skip.1.weight", f"{block}.skip.weight", _same),
        ]
        kernels += [f"{theirs}.conv2.0.kernel", f"{theirs}.skip.0.kernel"]
    renames += [("final_conv.0.weight", "b4.conv.weight", _same), ("final_conv.1.bias", "b4.conv.bias", _same)]
    for index, layer in enumerate(("fc", "out")):
        renames += [(f"final_linear.{index}.{p}", f"b4.{layer}.{p}", _same) for p in ("weight", "bias")]
    return renames, kernels


def _convert(
    path: Path,
    name: str,
    state: dict[str, torch.Tensor],
    renames: Rename,
    kernels: list[str],
    target: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Their state dict `name` -> ours (`target`: names, shapes and the buffers theirs lacks: FIR filters, w_avg);
    every key of theirs must be renamed or a standard blur kernel."""
    out = {}
    for theirs, ours, reshape in renames:
        if theirs not in state:
            raise CheckpointError(f"{path}: {name} lacks {theirs}, which a StyleGAN2 of this size has")
        value = reshape(state[theirs])
        if value.shape != target[ours].shape:
            raise CheckpointError(
                f"{path}: {name}.{theirs} has shape {tuple(state[theirs].shape)}, which does not fit "
                f"the rest of the network (as {ours}: {tuple(target[ours].shape)} expected)"
            )
        out[ours] = value.float()
    for key in kernels:
        kernel = state.get(key)
        if kernel is None or kernel.shape != BLUR.shape or not torch.allclose(kernel / kernel.sum(), BLUR):
            raise CheckpointError(f"{path}: {name}.{key} is missing or not the [1, 3, 3, 1] blur kernel")
    unknown = sorted(set(state) - {theirs for theirs, _, _ in renames} - set(kernels))
    if unknown:
        raise CheckpointError(
            f"{path}: {name} has keys that do not fit a StyleGAN2 of this size: "
            f"{', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''}"
        )
    for key, tensor in target.items():  # NVIDIA's buffers: resample filters, w_avg (set by the caller)
        out.setdefault(key, tensor)
    return out


def _checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint dict, with `g_ema` (or `g`) a generator state dict; an error naming the file otherwise."""
    data = load(path)
    if not isinstance(data, dict) or not ({"g_ema", "g"} & set(data)):
        keys = sorted(map(str, data))[:6] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{path}: not a rosinality stylegan2-pytorch checkpoint (a dict with g_ema / g / d); found {keys}"
        )
    return data


def _networks(path: Path, data: dict[str, Any]) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: tensor_dict(path, data[name], f"{name} of a rosinality checkpoint")
        for name in ("g_ema", "g", "d")
        if data.get(name) is not None
    }


class _Shape:
    """A checkpoint's architecture, in NVIDIA's constructor terms."""

    def __init__(self, path: Path, networks: dict[str, dict[str, torch.Tensor]]):
        g = networks.get("g_ema", networks.get("g"))
        try:
            self.mapping_layers = sum(1 for key in g if key.startswith("style.") and key.endswith(".weight"))
            self.w_dim = int(g["style.1.weight"].shape[0])
            self.resolution = 2 ** (2 + sum(1 for key in g if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", key)))
            self.g_widths = _nvidia_widths(path, _generator_widths(g), "generator")
            d = networks.get("d")
            self.d_widths = (
                _nvidia_widths(path, _discriminator_widths(d, self.resolution), "discriminator") if d else None
            )
        except (KeyError, IndexError) as error:
            raise CheckpointError(
                f"{path}: its generator lacks {error}; not a rosinality StyleGAN2 generator (their SWAGAN is not read)"
            ) from None

    def arch_kwargs(self) -> dict[str, Any]:
        common = {"c_dim": 0, "img_resolution": self.resolution, "img_channels": 3}
        layers = {"num_fp16_res": 0, "conv_clamp": None}
        g = {
            **common,
            "z_dim": self.w_dim,
            "w_dim": self.w_dim,
            "mapping_kwargs": {"num_layers": self.mapping_layers},
            "synthesis_kwargs": {**self.g_widths, **layers, "architecture": "skip"},
        }
        kwargs = {"G": g}
        if self.d_widths:
            kwargs["D"] = {**common, **self.d_widths, **layers, "architecture": "resnet", "epilogue_kwargs": MBSTD}
        return kwargs

    def model(self) -> ModelConfig:
        return ModelConfig(
            name=FAMILY,
            z_dim=self.w_dim,
            w_dim=self.w_dim,
            mapping_layers=self.mapping_layers,
            arch_kwargs=json.dumps(self.arch_kwargs(), sort_keys=True),
        )

    def dataset(self, path: Path, args: Any) -> DatasetInfo:
        source = getattr(args, "path", None) if isinstance(args, argparse.Namespace) else None
        return DatasetInfo(Path(str(source)).name if source else path.stem, self.resolution, 3)

    def architecture(self) -> str:
        return (
            f"StyleGAN2 config-f (rosinality), {self.resolution} px, w {self.w_dim}, "
            f"{self.mapping_layers} mapping layers, widths up to {self.g_widths['channel_max']}"
        )


def _mean_w(module: torch.nn.Module) -> torch.Tensor:
    """The mean of W_AVG_SAMPLES mapped z from seed W_AVG_SEED: a reproducible stand-in for their mean_latent."""
    z = torch.randn(W_AVG_SAMPLES, module.z_dim, generator=torch.Generator().manual_seed(W_AVG_SEED))
    with torch.no_grad():
        return module.mapping.eval()(z, None)[:, 0].mean(dim=0)


def _generator_state(
    path: Path,
    name: str,
    state: dict[str, torch.Tensor],
    model: ModelConfig,
    dataset: DatasetInfo,
    shape: _Shape,
    latent_avg: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    module = models.build_generator(model, dataset)
    renames, kernels = _generator_renames(shape.resolution, shape.mapping_layers)
    converted = _convert(path, name, state, renames, kernels, module.state_dict())
    module.load_state_dict(converted)
    if latent_avg is not None:
        converted["mapping.w_avg"] = latent_avg.reshape(-1).float()
    else:
        converted["mapping.w_avg"] = _mean_w(module)
    return converted


def read(path: Path, arch: str | None = None) -> ForeignModel:
    """A rosinality checkpoint as the "stylegan2-ada" family: g_ema (or g), g beside it, d where present."""
    if arch not in (None, FAMILY):
        raise CheckpointError(f"--arch {arch}: rosinality StyleGAN2 checkpoints import as {FAMILY}")
    data = _checkpoint(path)
    networks = _networks(path, data)
    shape = _Shape(path, networks)
    model, dataset = shape.model(), shape.dataset(path, data.get("args"))
    latent_avg = data.get("latent_avg") if isinstance(data.get("latent_avg"), torch.Tensor) else None
    if latent_avg is not None and latent_avg.numel() != shape.w_dim:
        raise CheckpointError(f"{path}: latent_avg has {latent_avg.numel()} values; w has {shape.w_dim}")
    g_name = "g_ema" if "g_ema" in networks else "g"
    generator = _generator_state(path, g_name, networks[g_name], model, dataset, shape, latent_avg)
    raw = (
        _generator_state(path, "g", networks["g"], model, dataset, shape, latent_avg)
        if g_name == "g_ema" and "g" in networks
        else None
    )
    discriminator = None
    if "d" in networks:
        target = models.MODELS.get(FAMILY).discriminator(model, dataset, 0, "auto").state_dict()
        renames, kernels = _discriminator_renames(shape.resolution)
        discriminator = _convert(path, "d", networks["d"], renames, kernels, target)
    augment_p = data.get("ada_aug_p")
    return ForeignModel(
        format=READER.name,
        architecture=shape.architecture(),
        model=dataclasses.asdict(model),
        dataset=dataset.to_dict(),
        num_classes=0,
        generator=generator,
        discriminator=discriminator,
        generator_raw=raw,
        augment_p=float(augment_p) if isinstance(augment_p, (int, float)) else None,
        contents=_contents(data),
    )


def _contents(data: dict[str, Any]) -> dict[str, str]:
    """What the checkpoint holds, for `info`: networks with their parameter counts, the rest by type."""
    out = {}
    for key, value in data.items():
        if key in ("g_ema", "g", "d") and isinstance(value, dict):
            kind = "Discriminator" if key == "d" else "Generator"
            count = sum(
                int(v.numel())
                for k, v in value.items()
                if isinstance(v, torch.Tensor) and not k.startswith("noises.") and not k.endswith("kernel")
            )
            out[str(key)] = f"{kind}, {count:,} parameters"
        else:
            out[str(key)] = type(value).__name__
    return out


def describe(path: Path) -> dict[str, Any]:
    """Format, architecture, resolution, dimensions and contents of a rosinality checkpoint; no network built."""
    data = _checkpoint(path)
    networks = _networks(path, data)
    shape = _Shape(path, networks)
    g = networks.get("g_ema", networks.get("g"))
    details = {
        "architecture": shape.architecture(),
        "family": FAMILY,
        "resolution": shape.resolution,
        "channels": 3,
        "classes": "unconditional",
        "z_dim": shape.w_dim,
        "w_dim": shape.w_dim,
        "parameters": sum(
            int(v.numel()) for k, v in g.items() if not k.startswith("noises.") and not k.endswith("kernel")
        ),
        "contents": _contents(data),
        "truncation": "toward the stored latent_avg"
        if "latent_avg" in data
        else f"toward the mean of {W_AVG_SAMPLES} mapped z (seed {W_AVG_SEED}; the file stores no average)",
    }
    if isinstance(data.get("ada_aug_p"), (int, float)):
        details["augment_p"] = round(float(data["ada_aug_p"]), 6)
    args = data.get("args")
    if isinstance(args, argparse.Namespace):
        details["training_args"] = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
    return details


def _sniff(path: Path, head: bytes) -> bool:
    """A torch.save file holding a dict with a `g_ema` or `g` state dict of their Generator."""
    data = peek(path, head)
    g = data.get("g_ema", data.get("g")) if data is not None else None
    return isinstance(g, dict) and "style.1.weight" in g and "input.input" in g


READER = Reader(name="rosinality", sniff=_sniff, describe=describe, read=read)

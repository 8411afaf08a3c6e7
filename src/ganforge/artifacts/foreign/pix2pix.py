"""Generators saved by the pix2pix/CycleGAN authors' code (junyanz/pytorch-CycleGAN-and-pix2pix): `*_net_G.pth`,
`*_net_G_A.pth`, `*_net_G_B.pth`, each a torch.save'd state dict of one generator (their `--netG`):

- unet_128 / unet_256 (pix2pix; batch norm, dropout): nested `UnetSkipConnectionBlock`s, keys `model.model.0...`,
  one block per downsampling (7 or 8), widths ngf, 2ngf, 4ngf, 8ngf, 8ngf, ... Ganforge's own `UNetGenerator`
  computes the same function: the same layers, with two bookkeeping differences the conversion absorbs: their
  skip concatenation puts the skip first (ours last: the input halves of each later transposed conv swap), and
  ours has a zero bias on the outermost and innermost down-convolutions. Their in-place LeakyReLU also rewrites
  the skip tensor, but every consumer of a skip applies ReLU first, which gives the same value.
- resnet_6blocks / resnet_9blocks (CycleGAN; instance norm): a flat `model.N` sequence, identical layer for layer
  to ganforge's `ResNetGenerator` (pix2pix family, `--g-arch resnet_Nblocks`). Their instance norm has no affine
  parameters (ours: weight 1, bias 0). Files from 2018 carry `running_mean`/`running_var`/`num_batches_tracked`
  for every instance norm (torch 0.4 tracked them); their loader drops those, and so does this one.

The architecture is read from the keys: U-Net depth, ngf, input/output channels, norm (batch: affine weights and
running statistics; instance: conv biases, no norm keys; none: neither), residual blocks and dropout (which shifts
the residual block's second conv from index 5 to 6). Every key of the file must be used and every layer filled,
shapes checked, or the file is refused with one line naming it.

Outputs equal their network's in eval mode (`test.py --eval`: batch norm with its running statistics, dropout
off), which is what ganforge runs. Their default `test.py` leaves the network in training mode: batch norm then
normalises each test batch with its own statistics (instance norm, for their batch size 1) and dropout stays on,
so its pix2pix outputs are random; ganforge's are deterministic.

Dropout only acts in training (`train --init`), where ganforge's layers place it as ganforge trains pix2pix: on its
U-Net's three innermost decoder layers (theirs: the num_downs - 5 decoder blocks after the innermost one), and not
in the ResNet's blocks (theirs: with `--netG resnet_*` under pix2pix's default `use_dropout`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ... import models
from ...config import ModelConfig
from ...data.base import DatasetInfo
from ...errors import CheckpointError
from ...families import Task
from ...models.cyclegan import RESNET_BLOCKS
from . import ForeignModel, Reader
from .torchfile import load, peek, tensor_dict

RESNET_TILE = 256  # their --crop_size default: the tile `translate` feeds a (fully convolutional) ResNet
NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")
MIN_UNET_DEPTH = 5  # their UnetGenerator's fixed blocks: outermost, ngf->2ngf->4ngf->8ngf, innermost
DATASET_NAME = "pytorch-CycleGAN-and-pix2pix"


@dataclass(frozen=True)
class Layout:
    """A generator file's architecture, read from its keys."""

    arch: str  # their --netG: unet_128, unet_256, resnet_6blocks, resnet_9blocks (unet_N for other depths)
    ngf: int  # width of the first layer (their --ngf)
    in_channels: int  # their --input_nc
    out_channels: int  # their --output_nc
    norm: str  # their --norm: batch | instance | none
    depth: int  # U-Net: downsamplings; ResNet: residual blocks
    dropout: bool  # ResNet: dropout in the residual blocks (shifts keys); U-Nets do not show it in their keys

    @property
    def is_unet(self) -> bool:
        return self.arch.startswith("unet")

    @property
    def resolution(self) -> int:
        """The U-Net's input side (its bottleneck is 1x1); a ResNet's translate tile."""
        return 2**self.depth if self.is_unet else RESNET_TILE


@dataclass(frozen=True)
class Layer:
    """One of their conv or norm layers and the ganforge module that takes its tensors."""

    theirs: str  # module path in their state dict
    ours: str  # module path in ganforge's generator
    kind: str  # conv | conv_after_cat (input channels: their [skip, up] -> our [up, skip]) | norm
    bias: bool = False  # a conv: does their code give it a bias whatever the norm (the last conv)


def _norm_kind(state: dict[str, torch.Tensor], norm_layer: str, first_conv: str) -> str:
    """batch (affine norm weights), instance (biased convs, no affine weights) or none."""
    if f"{norm_layer}.weight" in state:
        return "batch"
    return "instance" if f"{first_conv}.bias" in state else "none"


def _unet_prefixes(state: dict[str, torch.Tensor]) -> list[str]:
    """Module prefixes of their nested blocks, outermost first: model.model., model.model.1.model., ...3.model."""
    prefixes = ["model.model.", "model.model.1.model."]
    while f"{prefixes[-1]}3.model.1.weight" in state:
        prefixes.append(prefixes[-1] + "3.model.")
    return prefixes


def _unet_layout(state: dict[str, torch.Tensor]) -> Layout:
    depth = len(_unet_prefixes(state))
    first, last = state["model.model.0.weight"], state.get("model.model.3.weight")
    if last is None or first.ndim != 4 or last.ndim != 4:
        raise KeyError("model.model.3.weight")
    norm = _norm_kind(state, "model.model.1.model.2", "model.model.1.model.1")
    return Layout(
        f"unet_{2**depth}", int(first.shape[0]), int(first.shape[1]), int(last.shape[1]), norm, depth, dropout=False
    )


def _resnet_layout(state: dict[str, torch.Tensor]) -> Layout:
    blocks = 0
    while f"model.{10 + blocks}.conv_block.1.weight" in state:
        blocks += 1
    first, last = state["model.1.weight"], state[f"model.{17 + blocks}.weight"]
    norm = _norm_kind(state, "model.2", "model.1")
    return Layout(
        f"resnet_{blocks}blocks",
        int(first.shape[0]),
        int(first.shape[1]),
        int(last.shape[0]),
        norm,
        blocks,
        dropout="model.10.conv_block.6.weight" in state,
    )


def layout_of(state: dict[str, torch.Tensor]) -> Layout | None:
    """The architecture of one of their generator state dicts, or None when the keys are not theirs."""
    try:
        if "model.model.0.weight" in state:
            return _unet_layout(state)
        if "model.1.weight" in state and "model.10.conv_block.1.weight" in state:
            return _resnet_layout(state)
    except (KeyError, IndexError, AttributeError):
        return None
    return None


def _unet_layers(depth: int) -> list[Layer]:
    """Their block at level L (0 outermost) holds our downs[L] and down_norms[L], and the up-convolution that our
    decoder runs as ups[depth-1-L] (to_image for L = 0)."""
    prefixes = ["model.model."]
    for level in range(1, depth):
        prefixes.append(prefixes[-1] + ("1.model." if level == 1 else "3.model."))
    layers = [
        Layer("model.model.0", "downs.0", "conv"),
        Layer("model.model.3", "to_image", "conv_after_cat", bias=True),
    ]
    for level in range(1, depth):
        p, up = prefixes[level], depth - 1 - level
        layers.append(Layer(f"{p}1", f"downs.{level}", "conv"))
        if level == depth - 1:  # innermost: [LeakyReLU, down, ReLU, up, norm]
            layers += [Layer(f"{p}3", f"ups.{up}", "conv"), Layer(f"{p}4", f"up_norms.{up}.norm", "norm")]
        else:  # [LeakyReLU, down, norm, submodule, ReLU, up, norm(, Dropout)]
            layers += [
                Layer(f"{p}2", f"down_norms.{level}.norm", "norm"),
                Layer(f"{p}5", f"ups.{up}", "conv_after_cat"),
                Layer(f"{p}6", f"up_norms.{up}.norm", "norm"),
            ]
    return layers


def _resnet_layers(blocks: int, dropout: bool) -> list[Layer]:
    """Same indices on both sides; a residual block's second conv is at 6 with dropout (5 without) in theirs."""
    second = 6 if dropout else 5
    layers = [Layer(f"model.{i}", f"net.{i}", "conv") for i in (1, 4, 7)]
    layers += [Layer(f"model.{i}", f"net.{i}.norm", "norm") for i in (2, 5, 8)]
    for index in range(10, 10 + blocks):
        theirs, ours = f"model.{index}.conv_block", f"net.{index}.body"
        layers += [
            Layer(f"{theirs}.1", f"{ours}.1", "conv"),
            Layer(f"{theirs}.2", f"{ours}.2.norm", "norm"),
            Layer(f"{theirs}.{second}", f"{ours}.5", "conv"),
            Layer(f"{theirs}.{second + 1}", f"{ours}.6.norm", "norm"),
        ]
    up = 10 + blocks
    layers += [Layer(f"model.{i}", f"net.{i}", "conv") for i in (up, up + 3)]
    layers += [Layer(f"model.{i}", f"net.{i}.norm", "norm") for i in (up + 1, up + 4)]
    return layers + [Layer(f"model.{up + 7}", f"net.{up + 7}", "conv", bias=True)]


def _expected(layer: Layer, norm: str) -> tuple[set[str], set[str]]:
    """(tensor names their layer must have, names it may have besides) under their norm choice."""
    if layer.kind == "norm":
        if norm == "batch":
            return {"weight", "bias", "running_mean", "running_var"}, {"num_batches_tracked"}  # (absent before 0.4.1)
        return set(), set(NORM_STATS) if norm == "instance" else set()  # stale stats of 2018 files
    return ({"weight", "bias"} if layer.bias or norm == "instance" else {"weight"}), set()


def _convert(
    path: Path, state: dict[str, torch.Tensor], layout: Layout, target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Their state dict -> ganforge's (`target` gives names and shapes), every key of theirs used or known stale."""
    layers = _unet_layers(layout.depth) if layout.is_unet else _resnet_layers(layout.depth, layout.dropout)
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for layer in layers:
        required, optional = _expected(layer, layout.norm)
        missing = sorted(f"{layer.theirs}.{name}" for name in required if f"{layer.theirs}.{name}" not in state)
        if missing:
            raise CheckpointError(
                f"{path}: missing {', '.join(missing[:3])} for a {layout.arch} ({layout.norm} norm) generator"
            )
        for name in sorted(required | optional):
            key = f"{layer.theirs}.{name}"
            if key not in state:
                continue
            used.add(key)
            ours = f"{layer.ours}.{name}"
            if ours not in target:  # instance norm: stale running statistics, or a conv bias that the following
                continue  # instance norm subtracts again (our conv has none)
            value = state[key]
            if layer.kind == "conv_after_cat" and name == "weight":  # [in, out, k, k]: their [skip, up] halves
                value = torch.cat(value.chunk(2, dim=0)[::-1])
            if value.shape != target[ours].shape:
                raise CheckpointError(
                    f"{path}: {key} has shape {tuple(value.shape)}; a {layout.arch} generator with "
                    f"ngf {layout.ngf} needs {tuple(target[ours].shape)}"
                )
            out[ours] = value.to(target[ours].dtype)
    unexpected = sorted(set(state) - used)
    if unexpected:
        raise CheckpointError(
            f"{path}: keys that do not fit a {layout.arch} ({layout.norm} norm, ngf {layout.ngf}) "
            f"generator: {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}"
        )
    for name, tensor in target.items():  # what their layers lack: our extra biases (0), instance-norm affine (1, 0)
        if name not in out:
            fill = torch.ones if name.endswith("norm.weight") else torch.zeros
            out[name] = fill(tensor.shape, dtype=tensor.dtype)
    return out


def _model_config(layout: Layout) -> ModelConfig:
    g_arch = "unet" if layout.is_unet else layout.arch
    return ModelConfig(
        name="pix2pix", g_arch=g_arch, g_channels=layout.ngf, max_channels=8 * layout.ngf, g_norm=layout.norm
    )


def _dataset(layout: Layout) -> DatasetInfo:
    return DatasetInfo(DATASET_NAME, layout.resolution, layout.out_channels, input_channels=layout.in_channels)


def is_discriminator(state: dict[str, torch.Tensor]) -> bool:
    """Their PatchGAN (`NLayerDiscriminator`: `model.0` a 4x4 conv) or `PixelDiscriminator` (`net.0` a 1x1 conv),
    whose last conv has one output channel: a `*_net_D*.pth` file, given where a generator was meant."""
    convs = [v for v in state.values() if v.ndim == 4]
    first = state.get("model.0.weight", state.get("net.0.weight"))
    return first is not None and first.ndim == 4 and first.shape[-1] in (1, 4) and convs[-1].shape[0] == 1


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], Layout]:
    state = tensor_dict(path, load(path), "a pix2pix/CycleGAN generator")
    layout = layout_of(state)
    if layout is None and is_discriminator(state):
        raise CheckpointError(
            f"{path}: a pix2pix/CycleGAN discriminator (their net_D); ganforge reads their generator "
            f"files (*_net_G.pth, *_net_G_A.pth, *_net_G_B.pth)"
        )
    if layout is None:
        raise CheckpointError(
            f"{path}: a state dict whose keys ({', '.join(list(state)[:3])} ...) are not those of a "
            f"pix2pix/CycleGAN generator (unet_128/256, resnet_6/9blocks)"
        )
    if layout.is_unet and layout.depth < MIN_UNET_DEPTH:
        raise CheckpointError(
            f"{path}: a U-Net of {layout.depth} levels; their UnetGenerator has at least {MIN_UNET_DEPTH}"
        )
    if not layout.is_unet and layout.arch not in RESNET_BLOCKS:
        raise CheckpointError(
            f"{path}: a ResNet generator with {layout.depth} residual blocks; ganforge reads "
            f"{' and '.join(RESNET_BLOCKS)}"
        )
    return state, layout


def _describe_layout(layout: Layout) -> str:
    dropout = ", dropout" if layout.dropout else ""
    return (
        f"{layout.arch} ({layout.norm} norm{dropout}, ngf {layout.ngf}, {layout.in_channels} -> "
        f"{layout.out_channels} channels)"
    )


def describe(path: Path) -> dict[str, Any]:
    """Format, architecture, resolution, channels, parameters of one of their generator files."""
    state, layout = _read_state(path)
    stale = [k for k in state if layout.norm == "instance" and k.rsplit(".", 1)[-1] in NORM_STATS]
    details = {
        "architecture": _describe_layout(layout),
        "resolution": layout.resolution,
        "channels": layout.out_channels,
        "input_channels": layout.in_channels,
        "classes": "unconditional",
        "parameters": sum(int(v.numel()) for k, v in state.items() if k.rsplit(".", 1)[-1] not in NORM_STATS),
        "contents": {"G": "UnetGenerator" if layout.is_unet else "ResnetGenerator"},
    }
    if not layout.is_unet:
        details["resolution_note"] = f"fully convolutional; translate tiles at {RESNET_TILE} px (their --crop_size)"
    if stale:
        details["stale_keys"] = f"{len(stale)} instance-norm running statistics (torch 0.4 files), ignored"
    return details


def read(path: Path, arch: str | None = None) -> ForeignModel:
    """One of their generator files as a ganforge pix2pix model (`arch` must agree with the file, if given)."""
    state, layout = _read_state(path)
    if arch is not None and arch != layout.arch:
        raise CheckpointError(f"--arch {arch}: {path} holds a {_describe_layout(layout)} generator")
    model, dataset = _model_config(layout), _dataset(layout)
    with torch.device("meta"):  # names and shapes only; nothing allocated
        target = models.build_generator(model, dataset).state_dict()
    generator = _convert(path, state, layout, target)
    return ForeignModel(
        format="pix2pix",
        architecture=_describe_layout(layout),
        model=dataclasses.asdict(model),
        dataset=dataset.to_dict(),
        num_classes=0,
        generator=generator,
        contents={"G": "UnetGenerator" if layout.is_unet else "ResnetGenerator"},
    )


def _sniff(path: Path, head: bytes) -> bool:
    """A torch.save file of one state dict whose keys are their generator's (or discriminator's: `read` then says
    which file to give instead)."""
    state = peek(path, head)
    return (
        state is not None
        and bool(state)
        and all(isinstance(v, torch.Tensor) for v in state.values())
        and (layout_of(state) is not None or is_discriminator(state))
    )


READER = Reader(name="pix2pix", sniff=_sniff, describe=describe, read=read, task=Task.PAIRED)

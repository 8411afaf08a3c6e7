"""LPIPS, the learned perceptual distance of Zhang et al. 2018 ("The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric"), AlexNet variant v0.1: scores translated outputs against their targets (pix2pix).

Owns the AlexNet feature trunk (written here in torchvision's `features` layout, so torchvision's ImageNet state dict
loads into it), the distance as the `lpips` package computes it, and finding the two weight files:

  distance(x, y) = sum over the 5 ReLU taps l of the spatial mean of  w_l . (u_l(x) - u_l(y))^2,

x, y in [-1, 1] shifted and scaled per channel first (the package's ScalingLayer), u_l the tap's features divided by
their L2 norm over channels (+ 1e-10), w_l >= 0 the learned 1x1 linear head (no bias). 0 for identical images.

Weights, first found wins:
  the ImageNet AlexNet trunk, torchvision's `alexnet-owt-7be5be79.pth` (its classifier tensors are ignored):
    1. an explicit path; 2. $GANFORGE_ALEXNET (a file path); 3. the cache, cache_dir("lpips");
    4. a download into the cache (SHA-256 must start 7be5be79).
  the linear heads, `lpips/weights/v0.1/alex.pth` of the `lpips` package (`lin{l}.model.1.weight`, [1, C_l, 1, 1];
  version 0.1.4's file has SHA-256 df73285e...):
    1. an explicit path; 2. $GANFORGE_LPIPS_HEADS (a file path); 3. the file inside an installed `lpips` package,
    found without importing it (`pip install --no-deps lpips` is enough).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..download import DownloadUnavailable, cache_dir, existing_file, fetch, packaged_file
from ..errors import DataError

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URLS = ["https://download.pytorch.org/models/" + ALEXNET_FILE]
ALEXNET_SHA256_PREFIX = "7be5be79"
TRUNK_ENV, HEADS_ENV = "GANFORGE_ALEXNET", "GANFORGE_LPIPS_HEADS"
HEADS_IN_PACKAGE = Path("weights") / "v0.1" / "alex.pth"
TAPS = (1, 4, 7, 9, 11)  # indices in `features` of the ReLUs whose outputs LPIPS compares
CHANNELS = (64, 192, 384, 256, 256)  # at those taps
MIN_SIZE = 31  # the smallest side AlexNet's two 3x3 stride-2 max pools accept
SHIFT, SCALE = (-0.030, -0.088, -0.188), (0.458, 0.448, 0.450)  # the ScalingLayer, per RGB channel
EPS = 1e-10


class AlexNetFeatures(nn.Module):
    """torchvision's AlexNet `features` up to its last ReLU (the final max pool is not needed)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[N, 3, H, W] -> the 5 tapped ReLU outputs [N, C_l, H_l, W_l], C_l in CHANNELS; for H = 256 the sides are
        63, 31, 15, 15, 15."""
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                taps.append(x)
        return taps


class LPIPS(nn.Module):
    """The AlexNet trunk, the ScalingLayer and the 5 linear heads; `forward` gives per-image distances."""

    def __init__(self):
        super().__init__()
        self.trunk = AlexNetFeatures()
        self.heads = nn.ParameterList(nn.Parameter(torch.zeros(1, c, 1, 1), requires_grad=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y float [N, 3, H, W] in [-1, 1], both sides >= MIN_SIZE -> distances [N]."""
        count = len(x)
        taps = self.trunk((torch.cat([x, y]) - self.shift) / self.scale)  # one pass for both
        distance = x.new_zeros(count)
        for features, head in zip(taps, self.heads):  # features [2N, C_l, H_l, W_l]
            unit = features / (features.square().sum(1, keepdim=True).sqrt() + EPS)
            difference = (unit[:count] - unit[count:]).square()
            distance = distance + F.conv2d(difference, head).mean((1, 2, 3))  # [N, 1, H_l, W_l] -> [N]
        return distance


@torch.inference_mode()
def lpips(output: torch.Tensor, target: torch.Tensor, net: LPIPS, batch_size: int = 32) -> float:
    """Mean LPIPS over images of uint8 [N, C, H, W] outputs vs targets (1 channel is repeated to 3), on `net`'s
    device in batches of `batch_size`."""
    if output.shape != target.shape or output.ndim != 4 or output.shape[1] not in (1, 3):
        raise ValueError(
            f"need outputs and targets of one shape [N, 1|3, H, W], got {tuple(output.shape)} and {tuple(target.shape)}"
        )
    if min(output.shape[2:]) < MIN_SIZE:
        raise ValueError(
            f"LPIPS (AlexNet) needs images of at least {MIN_SIZE} x {MIN_SIZE}, "
            f"got {output.shape[2]} x {output.shape[3]}"
        )
    device = net.shift.device
    distances = []
    for start in range(0, len(output), batch_size):
        x, y = (
            images[start : start + batch_size].to(device).float().expand(-1, 3, -1, -1) / 127.5 - 1
            for images in (output, target)
        )
        distances.append(net(x, y).double().cpu())
    return float(torch.cat(distances).mean())


def _unavailable(problem: str) -> DataError:
    return DataError(
        f"LPIPS weights unavailable: {problem}.\nLPIPS (AlexNet, v0.1) needs two files:\n"
        f"  1. the ImageNet AlexNet trunk, torchvision's {ALEXNET_FILE} from {ALEXNET_URLS[0]}: set ${TRUNK_ENV} "
        f"to it, or copy it to {cache_dir('lpips') / ALEXNET_FILE} (where it is downloaded when online);\n"
        f"  2. the linear heads, lpips/weights/v0.1/alex.pth of the `lpips` package: pip install --no-deps lpips "
        f"(the file is read, the package never imported), or set ${HEADS_ENV} to a copy of it."
    )


def _package_heads() -> Path | None:
    """The heads file inside an installed `lpips` package (read, never imported)."""
    return packaged_file("lpips", HEADS_IN_PACKAGE)


def locate_weights(trunk: str | Path | None = None, heads: str | Path | None = None) -> tuple[Path, Path]:
    """(trunk file, heads file) by the orders in the module docstring; the heads are looked for first, so nothing is
    downloaded when they are missing."""
    if heads is not None:
        heads_path = existing_file(Path(heads), "LPIPS heads", "the path given")
    elif os.environ.get(HEADS_ENV):
        heads_path = existing_file(Path(os.environ[HEADS_ENV]), "LPIPS heads", f"${HEADS_ENV}")
    else:
        heads_path = _package_heads()
        if heads_path is None:
            raise _unavailable("the linear heads were not found")
    if trunk is not None:
        return existing_file(Path(trunk), "AlexNet weights", "the path given"), heads_path
    if os.environ.get(TRUNK_ENV):
        return existing_file(Path(os.environ[TRUNK_ENV]), "AlexNet weights", f"${TRUNK_ENV}"), heads_path
    try:
        return fetch(ALEXNET_URLS, cache_dir("lpips") / ALEXNET_FILE, ALEXNET_SHA256_PREFIX, prefix=True), heads_path
    except DownloadUnavailable as error:
        raise _unavailable(f"the AlexNet trunk could not be had ({error})") from None


def _read(path: Path, what: str, wanted: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """The tensors `wanted` (name -> shape) of a state dict file; other tensors in it are ignored."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many kinds on a file of another format
        raise DataError(f"cannot read {what} {path}: {error}") from None
    if not isinstance(state, dict):
        raise DataError(f"{path} holds a {type(state).__name__}, not {what}")
    missing = [name for name in wanted if name not in state]
    if missing:
        raise DataError(f"{path} is not {what}: it lacks {missing[:3]} ({len(missing)} of {len(wanted)} tensors)")
    wrong = [
        f"{name} {tuple(state[name].shape)} (want {tuple(shape)})"
        for name, shape in wanted.items()
        if state[name].shape != shape
    ]
    if wrong:
        raise DataError(f"{path} is not {what}: {', '.join(wrong[:3])}")
    return {name: state[name] for name in wanted}


def load_lpips(
    trunk: str | Path | None = None, heads: str | Path | None = None, device: torch.device | str = "cpu"
) -> LPIPS:
    """LPIPS with weights from the given files or the usual sources (see the module docstring), in eval mode."""
    trunk_path, heads_path = locate_weights(trunk, heads)
    net = LPIPS()
    trunk_shapes = {name: value.shape for name, value in net.trunk.state_dict().items()}
    net.trunk.load_state_dict(_read(trunk_path, "torchvision AlexNet weights", trunk_shapes))
    head_names = {f"lin{index}.model.1.weight": head.shape for index, head in enumerate(net.heads)}
    for head, value in zip(net.heads, _read(heads_path, "LPIPS v0.1 AlexNet heads", head_names).values()):
        head.copy_(value)
    return net.to(device).eval()

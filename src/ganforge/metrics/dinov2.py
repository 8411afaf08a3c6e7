"""DINOv2 features for FD-DINOv2 and k-NN metrics (Oquab et al. 2023; as a metric: Stein et al. 2023, "Exposing
flaws of generative model evaluation metrics", whose dgm-eval code sets the protocol followed here).

Owns the network (a plain ViT written here with DINOv2's details: 14 px patches, a class token, LayerNorm eps 1e-6,
LayerScale after attention and MLP, exact GELU, the final norm's class token as the feature, and position embeddings
of the 518 px pretraining grid (37 x 37) resized bicubically to the input's grid with DINOv2's +0.1 offset; no
registers), reading its weights, and dgm-eval's preprocessing: each image as 8-bit RGB resized to 224 x 224 by PIL's
bicubic filter (what torchvision's Resize does to a PIL image), then x / 255 normalised by the ImageNet mean and std.

Registered extractors: `dinov2-vitb14` (768-d, for tracking during training), `dinov2-vitl14` (1024-d, for final
numbers; dgm-eval's default) and `dinov2`, the same as `dinov2-vitl14`.

Weights for architecture ARCH (vitb14, vitl14), first found wins:
  1. an explicit path; 2. $GANFORGE_DINOV2_<ARCH> (e.g. $GANFORGE_DINOV2_VITB14, a file path);
  3. the cache, cache_dir("dinov2")/dinov2_<arch>_pretrain.pth; 4. torch.hub's cache, where `torch.hub.load(
  "facebookresearch/dinov2", ...)` left it (<hub dir>/checkpoints/dinov2_<arch>_pretrain.pth);
  5. a download of that file from dl.fbaipublicfiles.com into the cache.
Files read: facebookresearch's state dicts (.pth, torch.load with weights_only=True; our parameter names are theirs)
and Hugging Face `transformers` Dinov2Model weights (.safetensors or .pth, renamed by `from_transformers`). The
publisher gives no checksums, so every result records the file's SHA-256 (`weights_sha256`) instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..download import cache_dir, existing_file, fetch, file_digest
from ..errors import DataError
from .extractors import EXTRACTORS, FeatureExtractor

SIZE = 224  # dgm-eval's input side
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POSITION_OFFSET = 0.1  # DINOv2 resizes position embeddings to (grid + 0.1) / old grid, a floating-point guard
URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_{arch}/dinov2_{arch}_pretrain.pth"
KNN_K = 5  # dgm-eval's --nearest_k for precision, recall, density and coverage


@dataclass(frozen=True)
class ViTSpec:
    """One DINOv2 backbone's shape."""

    label: str  # as papers write it, e.g. "ViT-B/14"
    width: int  # embedding dimension (the feature length)
    depth: int  # transformer blocks
    heads: int  # attention heads
    patch: int = 14  # patch side in pixels
    grid: int = 37  # side of the position-embedding grid in the checkpoint (518 px pretraining / 14)


ARCHITECTURES = {
    "vitb14": ViTSpec("ViT-B/14", width=768, depth=12, heads=12),
    "vitl14": ViTSpec("ViT-L/14", width=1024, depth=24, heads=16),
}
TRAINING_DEFAULT = "dinov2-vitb14"  # the extractor in-training fd_dinov2 uses unless --metrics-extractor names one
EVAL_DEFAULT = "dinov2"  # `ganforge eval` with fd_dinov2 and no --extractor: ViT-L/14, the published protocol


class PatchEmbed(nn.Module):
    def __init__(self, width: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(3, width, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [N, 3, H, W] -> [N, H*W/patch^2, width]


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, tokens, width = x.shape
        q, k, v = self.qkv(x).reshape(n, tokens, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, tokens, width))


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch (CaiT's LayerScale)."""

    def __init__(self, width: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(width, eps=1e-6), Attention(width, heads), LayerScale(width)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(width, eps=1e-6), Mlp(width, 4 * width), LayerScale(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoViT(nn.Module):
    """DINOv2 backbone: normalised float images [N, 3, H, W] (H, W multiples of the patch) -> class token [N, width]."""

    def __init__(self, spec: ViTSpec):
        super().__init__()
        self.spec = spec
        self.patch_embed = PatchEmbed(spec.width, spec.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, spec.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + spec.grid**2, spec.width))
        self.blocks = nn.ModuleList(Block(spec.width, spec.heads) for _ in range(spec.depth))
        self.norm = nn.LayerNorm(spec.width, eps=1e-6)

    def positions(self, grid: int) -> torch.Tensor:
        """[1, 1 + grid^2, width] position embeddings for a grid x grid patch input (DINOv2's interpolation)."""
        if grid == self.spec.grid:
            return self.pos_embed
        old = self.spec.grid
        patches = self.pos_embed[:, 1:].float().reshape(1, old, old, -1).permute(0, 3, 1, 2)  # [1, width, old, old]
        scale = (grid + POSITION_OFFSET) / old
        patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic", align_corners=False)
        assert patches.shape[-2:] == (grid, grid), patches.shape
        patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(self.pos_embed.dtype)
        return torch.cat([self.pos_embed[:, :1], patches], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4 and x.shape[2] == x.shape[3] and x.shape[2] % self.spec.patch == 0, x.shape
        tokens = self.patch_embed(x)  # [N, grid^2, width]
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        tokens = tokens + self.positions(x.shape[2] // self.spec.patch)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]  # [N, width]


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1|3, H, W] -> float [N, 3, 224, 224] as dgm-eval feeds DINOv2: RGB, PIL bicubic resize, ImageNet
    normalisation."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    pixels = images.permute(0, 2, 3, 1).cpu().numpy()  # [N, H, W, 3]
    resized = np.stack([np.asarray(Image.fromarray(p).resize((SIZE, SIZE), Image.BICUBIC)) for p in pixels])
    x = torch.from_numpy(resized).to(images.device).permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(v, device=x.device).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return (x - mean) / std


class Dinov2Extractor(FeatureExtractor):
    """DinoViT plus dgm-eval's preprocessing: uint8 images -> class-token features [N, width]; no logits."""

    family = "dinov2"
    manifold_k = KNN_K

    def __init__(self, net: DinoViT, description: str, weights_sha256: str):
        super().__init__()
        self.net, self.dim = net, net.spec.width
        self.description, self.weights_sha256 = description, weights_sha256

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.net(preprocess(images)), None


# ---- weights --------------------------------------------------------------------------------------------------------
def weights_file(arch: str) -> str:
    return f"dinov2_{arch}_pretrain.pth"


def env_var(arch: str) -> str:
    return f"GANFORGE_DINOV2_{arch.upper()}"


def _hub_checkpoint(arch: str) -> Path:
    """Where torch.hub keeps downloaded checkpoints (torch.hub.load('facebookresearch/dinov2', ...) puts it there)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / weights_file(arch)


def locate_weights(arch: str, path: str | Path | None = None) -> Path:
    """The weight file for `arch`, by the order in the module docstring."""
    what = f"DINOv2 {ARCHITECTURES[arch].label} weights"
    if path is not None:
        return existing_file(Path(path), what, "the path given")
    if os.environ.get(env_var(arch)):
        return existing_file(Path(os.environ[env_var(arch)]), what, f"${env_var(arch)}")
    cached, hub = cache_dir("dinov2") / weights_file(arch), _hub_checkpoint(arch)
    for candidate in (cached, hub):
        if candidate.is_file():
            return candidate
    try:
        return fetch([URL.format(arch=arch)], cached, checksum=None)
    except DataError as error:
        raise DataError(
            f"no {what} available ({error}).\nProvide them one of two ways:\n"
            f"  1. set ${env_var(arch)} to facebookresearch's {weights_file(arch)} (or a transformers "
            f"Dinov2Model .safetensors);\n  2. copy {weights_file(arch)} to {cached} or {hub}."
        ) from None


# transformers' Dinov2Model names; query/key/value/output.dense in its hub files and before v5, q/k/v/o_proj in v5's
# modules (it renames on load)
_TRANSFORMERS_NAMES = [  # (transformers' name pattern, facebookresearch's name)
    (r"embeddings\.cls_token", "cls_token"),
    (r"embeddings\.position_embeddings", "pos_embed"),
    (r"embeddings\.patch_embeddings\.projection\.(\w+)", r"patch_embed.proj.\1"),
    (r"encoder\.layer\.(\d+)\.norm([12])\.(\w+)", r"blocks.\1.norm\2.\3"),
    (r"encoder\.layer\.(\d+)\.attention\.(?:output\.dense|o_proj)\.(\w+)", r"blocks.\1.attn.proj.\2"),
    (r"encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1", r"blocks.\1.ls\2.gamma"),
    (r"encoder\.layer\.(\d+)\.mlp\.(fc[12])\.(\w+)", r"blocks.\1.mlp.\2.\3"),
    (r"layernorm\.(\w+)", r"norm.\1"),
]
_TRANSFORMERS_QKV = re.compile(r"encoder\.layer\.(\d+)\.attention\.(?:attention\.)?(query|key|value|[qkv]_proj)\.(\w+)")
_QKV_ORDER = {"query": 0, "key": 1, "value": 2, "q_proj": 0, "k_proj": 1, "v_proj": 2}


def from_transformers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hugging Face Dinov2Model tensor names -> facebookresearch's (query/key/value stacked into one qkv layer);
    tensors that inference does not use (the mask token) and unknown names are left out (the strict load names
    what is missing)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[int, torch.Tensor]] = {}  # (layer, weight|bias) -> {0: q, 1: k, 2: v}
    for name, value in state.items():
        name = name.removeprefix("dinov2.")  # the backbone inside a transformers classification model
        match = _TRANSFORMERS_QKV.fullmatch(name)
        if match:
            layer, part, kind = match.groups()
            qkv.setdefault((layer, kind), {})[_QKV_ORDER[part]] = value
            continue
        for pattern, replacement in _TRANSFORMERS_NAMES:
            if re.fullmatch(pattern, name):
                out[re.sub(pattern, replacement, name)] = value
                break
    for (layer, kind), parts in qkv.items():
        if len(parts) == 3:
            out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts[i] for i in range(3)])
    return out


def _read(path: Path) -> dict[str, torch.Tensor]:
    """A weight file's tensors in facebookresearch's names."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load and safetensors raise many kinds on a file of another format
        raise DataError(f"cannot read DINOv2 weights {path}: {error}") from None
    if not isinstance(state, dict):
        raise DataError(f"{path} holds a {type(state).__name__}, not a DINOv2 state dict")
    if any(name.removeprefix("dinov2.").startswith("embeddings.") for name in state):
        state = from_transformers(state)
    return state


def load_state(net: DinoViT, state: dict[str, torch.Tensor], path: Path | str) -> None:
    """Strict load, except the mask token (used in training only); a mismatch names the file and the first names."""
    state = {name: value for name, value in state.items() if name != "mask_token"}
    wanted, given = set(net.state_dict()), set(state)
    missing, unexpected = sorted(wanted - given), sorted(given - wanted)
    if missing or unexpected:
        raise DataError(
            f"{path} is not a DINOv2 {net.spec.label} state dict: missing {missing[:4]}, unexpected "
            f"{unexpected[:4]} ({len(missing)} and {len(unexpected)} in all); registers are not supported"
        )
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        raise DataError(f"{path}: tensor shapes do not fit DINOv2 {net.spec.label}: {error}") from None


def load_dinov2(arch: str, path: str | Path | None = None, device: torch.device | str = "cpu") -> Dinov2Extractor:
    """The DINOv2 extractor for `arch` (a key of ARCHITECTURES) with weights from `path` or the usual sources."""
    path = locate_weights(arch, path)
    spec = ARCHITECTURES[arch]
    net = DinoViT(spec)
    load_state(net, _read(path), path)
    digest = file_digest(path, "sha256")
    description = (
        f"DINOv2 {spec.label} weights {path} (sha256 {digest[:12]}), class token, {SIZE} px PIL bicubic, "
        f"ImageNet normalisation (dgm-eval)"
    )
    return Dinov2Extractor(net, description, digest).to(device).eval()


def _register(name: str, arch: str) -> None:
    EXTRACTORS.register(name)(lambda device: load_dinov2(arch, device=device))


_register("dinov2-vitb14", "vitb14")
_register("dinov2-vitl14", "vitl14")
_register("dinov2", "vitl14")

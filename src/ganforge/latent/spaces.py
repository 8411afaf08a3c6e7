"""The latent spaces of a noise-to-image generator, shared by projection, directions and edits.

Spaces: "z" (the input noise; the only one of DCGAN), "w" (StyleGAN2's intermediate latent, one vector used by every
layer) and "w+" (one w per layer, [num_ws, w_dim]; Abdal et al. 2019, "Image2StyleGAN"). Owns: which spaces a
generator has, rendering a latent of any space (with gradients), the statistics of sampled latents (mean, spread,
the per-direction standard deviation that edit strengths are measured in), the identity of a model (so that a latent
or direction file made for one model is refused by another) and the .npz files that carry latents and directions.
"""

from __future__ import annotations

import hashlib
import json
import weakref
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..artifacts.generator import LoadedGenerator, load
from ..atomic import atomic_open
from ..errors import CheckpointError, ConfigError, DataError

SPACES = ("z", "w", "w+")
STATS_SAMPLES = 4096  # latents sampled for the mean latent and the spreads (NVlabs' projector uses 10000)
STATS_SEED = 123456789  # their seeds: fixed, so the statistics of a model never change

_stats_cache: weakref.WeakKeyDictionary[torch.nn.Module, dict] = weakref.WeakKeyDictionary()


def as_generator(source: LoadedGenerator | str | Path, device: str | torch.device = "cpu") -> LoadedGenerator:
    """A LoadedGenerator as is, or the one a checkpoint / exported folder holds; only noise-to-image,
    unconditional generators have the latent spaces these tools work in."""
    generator = source if isinstance(source, LoadedGenerator) else load(source, device)
    if generator.dataset.paired:
        raise ConfigError(
            f"{generator.source} is an image-to-image model ({generator.model.name}): it has no latent "
            f"space to project into or edit; use a noise-to-image model (dcgan, stylegan2)"
        )
    if generator.num_classes:
        raise ConfigError(
            f"{generator.source} is class-conditional: latent control supports unconditional generators only"
        )
    return generator


def default_space(generator: LoadedGenerator) -> str:
    return "w" if generator.has_styles else "z"


def check_space(generator: LoadedGenerator, space: str | None, flag: str = "--space") -> str:
    """The space to work in ("z" | "w" | "w+"); DCGAN has only z."""
    space = default_space(generator) if space is None else space
    if space not in SPACES:
        raise ConfigError(f"{flag} {space}: choose one of {', '.join(SPACES)}")
    if space != "z" and not generator.has_styles:
        raise ConfigError(
            f"{flag} {space}: {generator.model.name} maps z straight to images and has no w; use {flag} z"
        )
    return space


def vector_space(space: str) -> str:
    """The space a single direction vector lives in: w+ latents are edited with w directions."""
    return "w" if space == "w+" else space


def latent_shape(generator: LoadedGenerator, space: str) -> tuple[int, ...]:
    """[1, z_dim] | [1, w_dim] | [1, num_ws, w_dim]."""
    if space == "z":
        return (1, generator.z_dim)
    module = generator.module
    return (1, module.w_dim) if space == "w" else (1, module.num_ws, module.w_dim)


def to_ws(generator: LoadedGenerator, latent: torch.Tensor, space: str) -> torch.Tensor:
    """Style-based generators: a latent [N, ...] of any space -> ws [N, num_ws, w_dim] (differentiable)."""
    if space == "z":
        return generator.styles(latent)
    if space == "w":
        return latent[:, None].expand(-1, generator.module.num_ws, -1)
    return latent


def render(generator: LoadedGenerator, latent: torch.Tensor, space: str) -> torch.Tensor:
    """latent [N, ...] in `space` -> float images [N, C, H, W] in ~[-1, 1], constant noise, with gradients."""
    if generator.has_styles:
        return generator.synthesize_styles(to_ws(generator, latent, space))
    return generator.synthesize(latent)


def sampled_vectors(generator: LoadedGenerator, space: str) -> torch.Tensor:
    """STATS_SAMPLES latents of sampled seeds as vectors of `space` ("z" or "w"): [S, D], cached per model."""
    cache = _stats_cache.setdefault(generator.module, {})
    if space not in cache:
        z = torch.randn(STATS_SAMPLES, generator.z_dim, generator=torch.Generator().manual_seed(STATS_SEED))
        if space == "z":
            cache[space] = z
        else:
            with torch.no_grad():
                cache[space] = generator.styles(z, batch_size=1024)[:, 0]  # [S, w_dim]
    return cache[space]


def mean_latent(generator: LoadedGenerator, space: str) -> tuple[torch.Tensor, float]:
    """(the mean latent in `space`'s shape [1, ...], its spread sqrt(E ||v - mean||^2)) as NVlabs' projector: for w
    the mean of mapped samples; for z the distribution's mean 0 and sqrt(z_dim)."""
    if space == "z":
        return torch.zeros(latent_shape(generator, space)), float(generator.z_dim) ** 0.5
    samples = sampled_vectors(generator, "w")
    mean = samples.mean(0)  # [w_dim]
    spread = float((samples - mean).square().sum(1).mean().sqrt())
    return mean.expand(latent_shape(generator, space)).clone(), spread


def direction_std(generator: LoadedGenerator, direction: torch.Tensor, space: str) -> float:
    """Standard deviation of sampled latents along a unit `direction` of `space` ("z" or "w"): one unit of edit
    strength (1 for z)."""
    if space == "z":
        return 1.0
    return float((sampled_vectors(generator, space) @ direction.float()).std())


def fingerprint(generator: LoadedGenerator) -> str:
    """SHA-256 (first 16 hex digits) over the generator's tensors by name: equal for a checkpoint and its export."""
    cache = _stats_cache.setdefault(generator.module, {})
    if "fingerprint" not in cache:
        digest = hashlib.sha256()
        for name, tensor in sorted(generator.module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        cache["fingerprint"] = digest.hexdigest()[:16]
    return cache["fingerprint"]


def identity(generator: LoadedGenerator) -> dict[str, Any]:
    """What a latent or direction file records about the model it belongs to."""
    module = generator.module
    return {
        "model": generator.model.name,
        "resolution": generator.dataset.resolution,
        "channels": generator.dataset.channels,
        "z_dim": generator.z_dim,
        "w_dim": getattr(module, "w_dim", None),
        "num_ws": getattr(module, "num_ws", None),
        "fingerprint": fingerprint(generator),
        "source": str(generator.source),
    }


def _describe(model: dict) -> str:
    return (
        f"{model.get('model')} {model.get('resolution')} px, weights {model.get('fingerprint')} ({model.get('source')})"
    )


def write_npz(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Arrays plus a JSON `meta` record (kind, space, model identity, ...) as one .npz file, atomically."""
    path = Path(path)
    with atomic_open(path) as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
    return path


def read_npz(path: str | Path, kind: str, flag: str, generator: LoadedGenerator) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a file `write_npz` wrote with meta["kind"] == kind, for this very model: anything else (a
    missing file, another format, another model) is an error naming `flag` and the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{flag} {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        raise DataError(f"{flag} {path}: not a ganforge {kind} file (.npz written by ganforge)") from None
    if meta.get("kind") != kind:
        raise DataError(f"{flag} {path}: holds {meta.get('kind') or 'something else'}, not {kind}")
    model = meta.get("model", {})
    if model.get("fingerprint") != fingerprint(generator):
        raise CheckpointError(
            f"{flag} {path}: made for another model ({_describe(model)}), not for {_describe(identity(generator))}"
        )
    return arrays, meta

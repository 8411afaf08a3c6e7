"""Reference statistics: the mean and covariance of real features, saved once and compared against later
(`ganforge stats DATA --out FILE`, `ganforge eval --real-stats FILE`).

Two formats are read:
  - ganforge's own: safetensors `mean` [D] and `cov` [D, D] (float64) with metadata naming the protocol, resolution,
    extractor, its weights' SHA-256, the image count and the data they came from;
  - clean-fid's precomputed `.npz` (`mu`, `sigma`; read with allow_pickle=False). It records nothing but its name,
    `{dataset}_{mode}[_{model}]_{split}_{resolution}.npz`, from which the protocol, extractor and resolution are taken
    (a name that does not follow it leaves them unknown, and the evaluation says so in its warnings).
A protocol, resolution or extractor that differs between the file and the evaluation is an error naming both.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from ..atomic import atomic_open
from ..errors import ConfigError, DataError
from ..limits import FEATURE_DIM, check
from .frechet import GaussianStats

FORMAT = "ganforge-reference-stats"
CLEANFID_MODES = {"clean": "clean", "legacy_tensorflow": "legacy-tensorflow", "legacy_pytorch": "legacy-pytorch"}
CLEANFID_NAME = re.compile(r"_(clean|legacy_tensorflow|legacy_pytorch)(_clip_vit_b_32)?_[a-z0-9]+_(\d+|na)\.npz$")


@dataclass(frozen=True)
class ReferenceStats:
    stats: GaussianStats  # count 0 when the file does not record it (clean-fid's .npz)
    protocol: str | None  # None: not recorded
    resolution: int | None
    extractor: str | None
    weights_sha256: str | None = None
    source: str = ""  # the data they were computed from, or the file they were read from

    def record(self) -> dict:
        """What the evaluation's JSON says about the statistics it compared against."""
        return {
            "file": self.source,
            "protocol": self.protocol,
            "resolution": self.resolution,
            "extractor": self.extractor,
            "weights_sha256": self.weights_sha256,
            "count": self.stats.count or None,
        }

    def check(self, protocol: str, resolution: int, extractor: str, flag: str) -> list[str]:
        """ConfigError naming both sides when the protocol, resolution or extractor differ; warnings (lines) for
        what the file does not record."""
        ours = {"protocol": protocol, "resolution": resolution, "extractor": extractor}
        theirs = {"protocol": self.protocol, "resolution": self.resolution, "extractor": self.extractor}
        for what, value in ours.items():
            if theirs[what] is not None and theirs[what] != value:
                raise ConfigError(
                    f"{flag} {self.source}: computed with {what} {theirs[what]!r}, but this evaluation "
                    f"uses {what} {value!r}; use statistics computed with the same {what}"
                )
        unknown = [what for what, value in theirs.items() if value is None]
        if not unknown:
            return []
        assumed = ", ".join(f"{what} {ours[what]!r}" for what in unknown)
        return [
            f"{flag} {self.source} does not record its {', '.join(unknown)}: assumed to match this "
            + f"evaluation's ({assumed})"
        ]


def save(path: str | Path, reference: ReferenceStats) -> None:
    """Write `reference` in ganforge's format (atomically)."""
    metadata = {
        "format": FORMAT,
        "version": "1",
        "protocol": reference.protocol or "",
        "resolution": str(reference.resolution or ""),
        "extractor": reference.extractor or "",
        "weights_sha256": reference.weights_sha256 or "",
        "count": str(reference.stats.count),
        "source": reference.source,
    }
    tensors = {"mean": torch.from_numpy(reference.stats.mean), "cov": torch.from_numpy(reference.stats.cov)}
    with atomic_open(Path(path)) as handle:
        handle.write(save_safetensors(tensors, metadata=metadata))


def load(path: str | Path, flag: str = "--real-stats") -> ReferenceStats:
    """Read ganforge's safetensors statistics or clean-fid's `.npz`; DataError naming `flag` and the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{flag} {path}: no such file")
    if path.suffix == ".npz":
        return _load_cleanfid(path, flag)
    try:
        with safe_open(str(path), "np") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise DataError(
                    f"{flag} {path}: not ganforge reference statistics (no format {FORMAT!r} in its "
                    f"metadata); write them with `ganforge stats`, or give clean-fid's .npz"
                )
            _check_dim(handle.get_slice("mean").get_shape(), path, flag)
            mean, cov = handle.get_tensor("mean"), handle.get_tensor("cov")
    except (SafetensorError, OSError, json.JSONDecodeError) as error:
        raise DataError(f"{flag} {path}: cannot read reference statistics ({error})") from None
    return ReferenceStats(
        _gaussian(mean, cov, int(metadata.get("count") or 0), path, flag),
        metadata.get("protocol") or None,
        int(metadata["resolution"]) if metadata.get("resolution") else None,
        metadata.get("extractor") or None,
        metadata.get("weights_sha256") or None,
        str(path),
    )


def _load_cleanfid(path: Path, flag: str) -> ReferenceStats:
    try:
        with zipfile.ZipFile(path) as archive, archive.open("mu.npy") as member:  # its shape, before reading sigma
            header = np.lib.format.read_array_header_1_0
            if np.lib.format.read_magic(member) != (1, 0):
                header = np.lib.format.read_array_header_2_0
            _check_dim(header(member)[0], path, flag)
        with np.load(path, allow_pickle=False) as archive:
            mean, cov = archive["mu"], archive["sigma"]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise DataError(f"{flag} {path}: not clean-fid statistics with arrays mu and sigma ({error})") from None
    match = CLEANFID_NAME.search(path.name.lower())
    protocol = CLEANFID_MODES[match.group(1)] if match else None
    extractor = (match.group(2)[1:] if match.group(2) else "inception") if match else None
    resolution = int(match.group(3)) if match and match.group(3).isdigit() else None
    return ReferenceStats(_gaussian(mean, cov, 0, path, flag), protocol, resolution, extractor, None, str(path))


def _check_dim(mean_shape, path: Path, flag: str) -> None:
    """DataError unless the mean is a vector within FEATURE_DIM: the covariance read next is its square."""
    if len(mean_shape) != 1:
        raise DataError(f"{flag} {path}: the mean has shape {tuple(mean_shape)}, expected [D]")
    check(mean_shape[0], FEATURE_DIM, f"{flag} {path}: feature dimension", DataError)


def _gaussian(mean: np.ndarray, cov: np.ndarray, count: int, path: Path, flag: str) -> GaussianStats:
    """GaussianStats in float64 after checking the shapes: mean [D], cov [D, D]."""
    mean, cov = np.asarray(mean, dtype=np.float64), np.asarray(cov, dtype=np.float64)
    if mean.ndim != 1 or cov.shape != (len(mean), len(mean)):
        raise DataError(
            f"{flag} {path}: mean {mean.shape} and covariance {cov.shape} do not fit together (expected [D] and [D, D])"
        )
    return GaussianStats(mean, cov, count)

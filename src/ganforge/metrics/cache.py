"""Cache of real-data features per (dataset content, extractor weights, resolution, count), keyed by a content hash."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ..atomic import atomic_open
from ..download import cache_dir


def content_key(parts: dict, images_digest: str) -> str:
    """sha256 over the settings (extractor, weights, resolution, count, ...) and the real images' bytes digest."""
    text = json.dumps(parts, sort_keys=True) + images_digest
    return hashlib.sha256(text.encode()).hexdigest()


class FeatureCache:
    """Real features stored as safetensors under $GANFORGE_CACHE/stats (or a given folder)."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder else cache_dir("stats")

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return load_safetensors(path.read_bytes())
        except (SafetensorError, OSError):  # a damaged entry is recomputed, not fatal
            return None

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        if os.environ.get("GANFORGE_NO_STATS_CACHE"):
            return
        with atomic_open(self.path(key)) as handle:
            handle.write(save_safetensors({k: v.contiguous().cpu() for k, v in tensors.items()}))

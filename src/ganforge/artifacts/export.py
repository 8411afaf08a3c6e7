"""`ganforge export`: write a trained generator in a portable format (safetensors + JSON)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .exported import write_export
from .generator import load


def export(source: str | Path, out: str | Path) -> Path:
    """Write `out`/config.json + `out`/generator.safetensors for the EMA generator of a checkpoint (or export)."""
    generator = load(source)
    meta = {"model": dataclasses.asdict(generator.model), "dataset": generator.dataset.to_dict(),
            "num_classes": generator.num_classes, "kimg": generator.kimg, "stats": generator.stats,
            "source": generator.source}
    return write_export(Path(out).expanduser(), generator.module.state_dict(), meta)

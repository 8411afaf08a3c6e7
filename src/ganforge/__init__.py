"""ganforge: train, evaluate, explore and serve GANs on your own images.

Public API::

    import ganforge
    result = ganforge.train(overrides={"data.source": "digits", "train.total_kimg": 40})
    generator = ganforge.load(result.checkpoint)          # or an exported folder
    images = generator.generate(16, seed=0)               # uint8 [16, H, W, C]
    scores = ganforge.evaluate("digits", result.checkpoint, "fid,kid", num=2000)
    projection = ganforge.project(result.checkpoint, "photo.png")        # latent, reconstruction, PSNR/SSIM
    found = ganforge.directions(result.checkpoint, method="sefa", num=5)  # unit vectors [5, D]
    strip = ganforge.edit(result.checkpoint, (found, 0), "-3:3:7", seed=1)  # uint8 [7, C, H, W]

The public names are imported on first use (PEP 562), so `import ganforge` and the `ganforge` command start
without torch: `ganforge --help` and flag errors answer at once.
"""

from __future__ import annotations

import importlib

from .errors import CheckpointError, ConfigError, DataError, GanforgeError, TrainingDiverged

# public name -> the module (relative to this package) that defines it, and the name there if it differs; a new
# public name is one more entry
_LAZY = {
    "Config": ".config",
    "resolve": ".config",
    "prepare_dataset": ".data.prepare",
    "LoadedGenerator": ".artifacts",
    "describe": ".artifacts",
    "export": ".artifacts",
    "import_model": ".artifacts",
    "load": ".artifacts",
    "evaluate": ".metrics",
    "register_extractor": ".metrics",
    "TrainResult": ".training",
    "train": ".training",
    "translate": ".translation",
    "Directions": ".latent",
    "Projection": ".latent",
    "edit": ".latent",
    "project": ".latent",
    "directions": ".latent:find_directions",
}

__all__ = sorted(["CheckpointError", "ConfigError", "DataError", "GanforgeError", "TrainingDiverged", *_LAZY])


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = _LAZY[name].partition(":")
    value = getattr(importlib.import_module(module, __name__), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

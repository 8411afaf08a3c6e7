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
"""
from .config import Config, resolve
from .data.prepare import prepare_dataset
from .errors import CheckpointError, ConfigError, DataError, GanforgeError, TrainingDiverged
from .artifacts import LoadedGenerator, describe, export, load
from .latent import Directions, Projection, edit, project
from .latent import find_directions as directions
from .metrics import evaluate, register_extractor
from .train import TrainResult, train
from .translate import translate

__all__ = [
    "CheckpointError", "Config", "ConfigError", "DataError", "Directions", "GanforgeError", "LoadedGenerator",
    "Projection", "TrainResult", "TrainingDiverged", "describe", "directions", "edit", "evaluate", "export", "load",
    "prepare_dataset", "project", "register_extractor", "resolve", "train", "translate",
]

"""ganforge: train, evaluate, explore and serve GANs on your own images.

Public API::

    import ganforge
    result = ganforge.train(overrides={"data.source": "digits", "train.total_kimg": 40})
    generator = ganforge.load(result.checkpoint)          # or an exported folder
    images = generator.generate(16, seed=0)               # uint8 [16, H, W, C]
    scores = ganforge.evaluate("digits", result.checkpoint, "fid,kid", num=2000)
"""
from .config import Config, resolve
from .data.prepare import prepare_dataset
from .errors import CheckpointError, ConfigError, DataError, GanforgeError, TrainingDiverged
from .artifacts import LoadedGenerator, describe, export, load
from .metrics import evaluate, register_extractor
from .train import TrainResult, train
from .translate import translate

__all__ = [
    "CheckpointError", "Config", "ConfigError", "DataError", "GanforgeError", "LoadedGenerator", "TrainResult",
    "TrainingDiverged", "describe", "evaluate", "export", "load", "prepare_dataset", "register_extractor", "resolve",
    "train", "translate",
]

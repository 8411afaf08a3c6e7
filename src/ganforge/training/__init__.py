"""Training: objectives per model family, the one loop, set-up (config, data, run folder), EMA, growth and stats."""

from . import unpaired  # noqa: F401  (registers the unpaired family: CycleGAN)
from .loop import TrainResult
from .setup import train

__all__ = ["TrainResult", "train"]

"""Training: objectives per model family, the one loop, set-up (config, data, run folder), EMA, growth and stats."""
from .loop import TrainResult
from .setup import train

__all__ = ["TrainResult", "train"]

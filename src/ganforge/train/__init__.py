"""Training: the one loop, torchrun/DDP plumbing, EMA, checkpoints, run directories and progress statistics."""
from .loop import TrainResult, train

__all__ = ["TrainResult", "train"]

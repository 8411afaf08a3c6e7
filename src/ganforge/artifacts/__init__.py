"""What training leaves behind and inference reads: checkpoints, run folders, exported generators, and
`LoadedGenerator`, the one way to run a trained generator. Imports neither training nor metrics."""

from .export import export, import_model
from .generator import LoadedGenerator, describe, load

__all__ = ["LoadedGenerator", "describe", "export", "import_model", "load"]

"""Latent-space tools: looping walks through seeds (`interpolate`), style-mixing grids (`mixing`), projection of
photos into the latent space (`project`), attribute directions (`directions`) and edits along them (`edit`)."""

from .directions import Directions, find_directions, load_directions, save_directions
from .edit import edit, edit_strip, parse_layers, parse_strengths
from .interpolate import interpolation_frames, lerp, save_walk, slerp, walk, walk_format
from .mixing import default_crossover, mix_styles, style_mixing_grid
from .project import Projection, load_latent, project, project_many, save_latent, save_projection

__all__ = [
    "Directions",
    "Projection",
    "default_crossover",
    "edit",
    "edit_strip",
    "find_directions",
    "interpolation_frames",
    "lerp",
    "load_directions",
    "load_latent",
    "mix_styles",
    "parse_layers",
    "parse_strengths",
    "project",
    "project_many",
    "save_directions",
    "save_latent",
    "save_projection",
    "save_walk",
    "slerp",
    "style_mixing_grid",
    "walk",
    "walk_format",
]

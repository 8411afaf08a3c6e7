"""Latent-space tools: looping walks through seeds (`interpolate`) and style-mixing grids (`mixing`)."""
from .interpolate import interpolation_frames, lerp, save_walk, slerp, walk, walk_format
from .mixing import default_crossover, mix_styles, style_mixing_grid

__all__ = ["default_crossover", "interpolation_frames", "lerp", "mix_styles", "save_walk", "slerp",
           "style_mixing_grid", "walk", "walk_format"]

"""Generators with random weights written as exports (no training): fast stand-ins for the CLI's inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ganforge import models
from ganforge.artifacts.exported import write_export
from ganforge.config import resolve
from ganforge.data.base import DatasetInfo

SHAPES = ("circle", "square", "triangle", "star", "ring")


def random_export(
    folder: Path,
    model: str = "dcgan",
    resolution: int = 16,
    class_names: tuple[str, ...] = (),
    input_channels: int = 0,
    **model_settings,
) -> Path:
    """An export of an untrained generator: class-conditional when `class_names` is given, pix2pix-style when
    `input_channels` > 0."""
    torch.manual_seed(0)
    cfg = resolve({"model.name": model, **{f"model.{k}": v for k, v in model_settings.items()}}).model
    info = DatasetInfo("probe", resolution, 3, class_names, input_channels)
    module = models.build_generator(cfg, info, len(class_names))
    for weight in module.parameters():  # weights of unit gain, so that images vary with seed and class
        if weight.dim() > 1:
            torch.nn.init.normal_(weight, std=weight[0].numel() ** -0.5)
    meta = {
        "model": dataclasses.asdict(cfg),
        "dataset": info.to_dict(),
        "num_classes": len(class_names),
        "kimg": 0.0,
        "stats": {},
        "source": "random",
    }
    return write_export(folder, module.state_dict(), meta)


def standard_exports(root: Path) -> dict[str, Path]:
    """cond: DCGAN with the 5 shape classes; plain: unconditional DCGAN; styles: a tiny StyleGAN2; p2p: pix2pix."""
    return {
        "cond": random_export(root / "cond", g_channels=8, class_names=SHAPES),
        "plain": random_export(root / "plain", g_channels=8),
        "styles": random_export(
            root / "styles", "stylegan2", g_channels=8, max_channels=16, w_dim=16, mapping_layers=1, z_dim=16
        ),
        "p2p": random_export(root / "p2p", "pix2pix", g_channels=8, input_channels=1),
    }

"""Fixtures for the latent-control tests: small generators with random weights (no training), and exports of them
that the commands can load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge import models
from ganforge.artifacts import LoadedGenerator
from ganforge.artifacts.exported import write_export
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo


def random_generator(name: str, resolution: int = 16, channels: int = 3, seed: int = 0, **model) -> LoadedGenerator:
    """A generator with seeded random weights; DCGAN's are drawn wider than its N(0, 0.02) init so that its images
    are not flat grey."""
    torch.manual_seed(seed)
    cfg = ModelConfig(name=name, **model)
    info = DatasetInfo("test", resolution, channels, input_channels=3 if name == "pix2pix" else 0)
    module = models.build_generator(cfg, info)
    if name == "dcgan":
        for parameter in module.parameters():
            nn.init.normal_(parameter, std=0.3)
    return LoadedGenerator(module.eval().requires_grad_(False), cfg, info, 0, 0.0, {}, f"random-{name}-{seed}")


def save_export(generator: LoadedGenerator, folder: Path) -> Path:
    """Write the generator as an exported folder (what `ganforge export` writes)."""
    meta = {
        "model": dataclasses.asdict(generator.model),
        "dataset": generator.dataset.to_dict(),
        "num_classes": generator.num_classes,
        "kimg": 0.0,
        "stats": {},
        "source": generator.source,
    }
    return write_export(folder, generator.module.state_dict(), meta)


STYLE = {"z_dim": 16, "w_dim": 16, "mapping_layers": 2, "g_channels": 8, "max_channels": 16}
DCGAN = {"z_dim": 8, "g_channels": 4}


@pytest.fixture(scope="module")
def stylegan() -> LoadedGenerator:
    return random_generator("stylegan2", **STYLE)


@pytest.fixture(scope="module")
def dcgan_z() -> LoadedGenerator:
    return random_generator("dcgan", **DCGAN)

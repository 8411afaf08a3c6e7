"""Checkpoints written before the restructuring (tests/data/dcgan16-v1.pt, format version 1) still load, sample
the same images, and resume."""

import hashlib
import shutil
from pathlib import Path

import pytest

import ganforge
from ganforge.artifacts import checkpoint as ckpt
from ganforge.training import train

OLD = Path(__file__).parents[1] / "data" / "dcgan16-v1.pt"
SAMPLES_SHA256 = "f85007ede07392f0ff522589979a66490cf2d7c5b05753f8a908b2263c96e7cd"  # generate(4, seed=3) then


def test_an_old_checkpoint_samples_the_same_images():
    images = ganforge.load(OLD).generate(4, seed=3)
    assert hashlib.sha256(images.tobytes()).hexdigest() == SAMPLES_SHA256


@pytest.mark.slow
def test_an_old_checkpoint_resumes(tmp_path):
    run = tmp_path / "runs" / "00000-old"
    run.mkdir(parents=True)
    shutil.copy(OLD, run / OLD.name.replace("dcgan16-v1", "checkpoint-00000002"))
    result = train(
        resume=run, overrides={"train.total_kimg": 0.064, "train.out": str(tmp_path / "runs")}, progress=False
    )
    state = ckpt.load(result.checkpoint)
    assert state["images_seen"] == 64 and state["augment"]["policy"] == "ada"

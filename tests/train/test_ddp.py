"""Two CPU processes under torchrun with gloo: DistributedDataParallel keeps ranks' weights identical."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganforge import models
from ganforge.artifacts import checkpoint as ckpt
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dcgan", "pix2pix", "stylegan2", "stylegan2-progressive", "cyclegan"])
def test_two_gloo_ranks_hold_identical_weights(tmp_path, variant):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(worker),
        str(tmp_path),
        variant,
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert rank0.keys() == rank1.keys() and len(rank0) > 10
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    runs = list(tmp_path.glob("0000*"))
    assert len(runs) == 1  # only rank 0 creates the run directory
    state = ckpt.load(ckpt.list_checkpoints(runs[0])[-1])
    assert state["images_seen"] == 64  # the global batch counts once, not per rank
    for key, value in state["G"].items():  # rank 0 saved what it holds
        if value.is_floating_point() and f"G.{key}" in rank0:
            assert torch.equal(value, rank0[f"G.{key}"]), key
    if variant == "stylegan2-progressive":  # grew 8 -> 16 px on both ranks alike
        assert state["G"]["growth"].tolist() == [16.0, 1.0]
    model = variant.split("-")[0]
    torch.manual_seed(0)  # the run's initial weights
    info = DatasetInfo("t", 16, 3, (), {"pix2pix": 1, "cyclegan": 3}.get(model, 0), unpaired=model == "cyclegan")
    extra = {"w_dim": 16, "z_dim": 16, "mapping_layers": 2} if model == "stylegan2" else {}
    extra |= {"progressive": True} if variant == "stylegan2-progressive" else {}
    initial, _ = models.build(ModelConfig(name=model, g_channels=8, d_channels=8, **extra), info)
    first = next(iter(initial.state_dict()))
    assert not torch.equal(initial.state_dict()[first], rank0[f"G.{first}"])  # training moved the weights

"""GPU checks (`pytest -m cuda`; skipped without a CUDA GPU, so never run by CI): a training step of every family in
every precision with finite losses and no host sync (torch.cuda.set_sync_debug_mode("error")), exact resume on the
same GPU, and compiled generators matching eager ones.

Same-device determinism: resume is compared under torch.use_deterministic_algorithms(True) with cuDNN's
deterministic kernels and CUBLAS_WORKSPACE_CONFIG set (torch's reproducibility notes); without them atomic-add
kernels (e.g. grid_sample's and index_add's backward, used by ADA and the CycleGAN pool) may change the last bits."""

from __future__ import annotations

import pytest
import torch

from ganforge.artifacts import checkpoint as ckpt
from ganforge.config import resolve
from ganforge.training import train
from ganforge.training.flops import synthetic_trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (pytest -m cuda on one)"),
]

STYLE = {
    "model.name": "stylegan2",
    "model.w_dim": 16,
    "model.z_dim": 16,
    "model.mapping_layers": 2,
    "model.g_channels": 16,
    "model.d_channels": 16,
    "loss.r1_gamma": 0.1,
    "loss.r1_interval": 2,
    "loss.pl_weight": 2.0,
    "loss.pl_interval": 2,
    "model.style_mixing": 0.9,
}
FAMILIES = {
    "dcgan": {"model.name": "dcgan", "augment.policy": "diffaug", "loss.r1_gamma": 1.0},
    "stylegan2": STYLE,
    "stylegan2-ada": {**STYLE, "augment.policy": "ada"},
    "pix2pix": {"model.name": "pix2pix", "augment.policy": "diffaug", "data.jitter": True, "data.mirror": True},
    "cyclegan": {"model.name": "cyclegan", "model.g_channels": 4, "model.d_channels": 4, "data.jitter": True},
}
BASE = {"data.resolution": 32, "train.batch": 8, "model.g_channels": 16, "model.d_channels": 16}
PRECISIONS = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else [])


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("family", FAMILIES)
def test_a_step_of_every_family_is_finite_and_never_syncs(family, precision):
    cfg = resolve({**BASE, **FAMILIES[family], "train.precision": precision, "train.device": "cuda"})
    trainer, stream = synthetic_trainer(cfg, torch.device("cuda"))
    trainer.iteration(stream)  # the first step creates optimiser state (host step counters)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [trainer.iteration(stream) for _ in range(3)]  # R1, path length and ADA's adjust included
    finally:
        torch.cuda.set_sync_debug_mode("default")
    values = torch.stack([value.float() for row in losses for value in row.values()])
    assert torch.isfinite(values).all()


def test_resume_is_exact_on_the_same_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    try:
        settings = {
            **BASE,
            **FAMILIES["dcgan"],
            "data.source": "shapes",
            "data.resolution": 16,
            "train.device": "cuda",
            "train.total_kimg": 0.064,
            "train.snapshot_every_kimg": 0.5,
            "train.grid_size": 4,
        }
        whole = train(overrides={**settings, "train.out": str(tmp_path / "a")}, progress=False, tensorboard=False)
        train(
            overrides={**settings, "train.out": str(tmp_path / "b"), "train.total_kimg": 0.032},
            progress=False,
            tensorboard=False,
        )
        resumed = train(
            resume="auto",
            overrides={"train.out": str(tmp_path / "b"), "train.total_kimg": 0.064},
            progress=False,
            tensorboard=False,
        )
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    a, b = ckpt.load(whole.checkpoint), ckpt.load(resumed.checkpoint)
    for key in ("G", "D", "G_ema"):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key]), key


@pytest.mark.parametrize("family", ["dcgan", "stylegan2", "pix2pix"])
def test_compiled_generator_matches_eager(family):
    cfg = resolve({**BASE, **FAMILIES[family], "train.device": "cuda", "train.tf32": False})
    trainer, _ = synthetic_trainer(cfg, torch.device("cuda"))
    G = trainer.ema["G"].eval()
    torch.manual_seed(0)
    x = (
        torch.randn(4, cfg.model.z_dim, device="cuda")
        if family != "pix2pix"
        else torch.rand(4, 3, 32, 32, device="cuda") * 2 - 1
    )
    with torch.no_grad():
        eager, compiled = G(x), torch.compile(G)(x)
    assert torch.allclose(eager, compiled, atol=1e-4, rtol=1e-4)

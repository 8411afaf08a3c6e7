"""R3GAN's lr and Adam beta2 schedules (issue 22): cosine from the start value to the end one over --schedule-kimg as
the authors' configs do (lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99), set by the r3gan presets, applied by the loop to every
optimiser (lazy regularisation compensated), and resumed exactly from the checkpoint's kimg."""

import math

import pytest
import torch

from ganforge.artifacts import checkpoint as ckpt
from ganforge.config import PRESETS, resolve
from ganforge.data.base import DatasetInfo
from ganforge.training import train
from ganforge.training.objectives import NoiseToImage

SCHEDULES = {
    "optim.lr": 2e-4,
    "optim.betas": (0.0, 0.99),
    "optim.lr_schedule": "cosine",
    "optim.lr_final_ratio": 0.25,
    "optim.beta2_schedule": "cosine",
    "optim.beta2_start": 0.9,
}


def _paper(kimg: float, start: float, end: float, total_kimg: float) -> float:
    """The authors' cosine_decay_with_warmup (no warm-up, no hold), written from its definition."""
    if kimg > total_kimg:
        return end
    decay = 0.5 * (1 + math.cos(math.pi * kimg / total_kimg))
    return start + (1 - decay) * (end - start)


def _objective(overrides: dict) -> NoiseToImage:
    cfg = resolve(overrides)
    return NoiseToImage(cfg, DatasetInfo("shapes", 16, 3), 0, torch.device("cpu"), torch.contiguous_format)


@pytest.mark.parametrize("kimg", [0.0, 2.5, 5.0, 7.5, 10.0, 30.0])
def test_lr_and_beta2_follow_the_papers_cosine(tiny, kimg):
    objective = _objective({**tiny, **SCHEDULES, "optim.schedule_kimg": 10.0})
    assert 2e-4 * objective.lr_scale(kimg) == pytest.approx(_paper(kimg, 2e-4, 5e-5, 10.0))
    assert objective.adam_beta2(kimg) == pytest.approx(_paper(kimg, 0.9, 0.99, 10.0))


def test_constant_schedules_leave_lr_and_betas_alone(tiny):
    objective = _objective({**tiny, "optim.betas": (0.0, 0.99)})
    assert objective.lr_scale(50.0) == 1.0 and objective.adam_beta2(50.0) is None


def test_the_schedules_span_the_run_unless_given(tiny):
    objective = _objective({**tiny, **SCHEDULES, "train.total_kimg": 4.0})
    assert objective.lr_scale(2.0) == pytest.approx(0.625) and objective.adam_beta2(2.0) == pytest.approx(0.945)


@pytest.mark.parametrize("preset", [name for name in PRESETS if name.startswith("r3gan")])
def test_r3gan_presets_schedule_lr_and_beta2_as_the_paper(preset):
    """The schedules' shapes are the paper's in every preset; the starting lr is per preset (tests/train/test_r3gan.py)."""
    optim = resolve(preset=preset).optim
    assert (optim.lr_schedule, optim.lr_final_ratio) == ("cosine", 0.25)
    assert (optim.betas, optim.beta2_schedule, optim.beta2_start) == ((0.0, 0.99), "cosine", 0.9)


@pytest.mark.slow
def test_the_loop_applies_them_and_resume_is_exact(tiny, tmp_path):
    """2N kimg in one go == N, then N more resumed: identical networks and Adam state (so the schedule position came
    from the checkpoint's kimg); the optimisers' lr and beta2 are the schedule's at the last step, D's compensated for
    lazy regularisation every 2 steps."""
    settings = {
        **tiny,
        **SCHEDULES,
        "model.name": "r3gan",
        "model.max_channels": 32,
        "model.z_dim": 16,
        "loss.name": "rpgan",
        "loss.r1_gamma": 0.1,
        "loss.r2_gamma": 0.1,
        "loss.r1_interval": 2,
        "optim.schedule_kimg": 0.2,
        "train.total_kimg": 0.192,
        "train.snapshot_every_kimg": 0.5,
    }
    whole = train(overrides={**settings, "train.out": str(tmp_path / "a")}, progress=False)
    train(overrides={**settings, "train.out": str(tmp_path / "b"), "train.total_kimg": 0.096}, progress=False)
    resumed = train(
        resume="auto", overrides={"train.out": str(tmp_path / "b"), "train.total_kimg": 0.192}, progress=False
    )
    a, b = ckpt.load(whole.checkpoint), ckpt.load(resumed.checkpoint)
    for key in ("G", "D", "G_ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    for name in ("opt_G", "opt_D"):
        assert all(
            torch.equal(x["exp_avg_sq"], y["exp_avg_sq"])
            for x, y in zip(a[name]["state"].values(), b[name]["state"].values())
        ), name
    last = (192 - 16) / 1000  # the kimg at which the last iteration set them
    ratio = 2 / 3  # lazy regularisation every 2 D steps
    (g_group,), (d_group,) = a["opt_G"]["param_groups"], a["opt_D"]["param_groups"]
    assert g_group["lr"] == pytest.approx(_paper(last, 2e-4, 5e-5, 0.2))
    assert g_group["betas"][1] == pytest.approx(_paper(last, 0.9, 0.99, 0.2))
    assert d_group["lr"] == pytest.approx(_paper(last, 2e-4, 5e-5, 0.2) * ratio)
    assert d_group["betas"][1] == pytest.approx(_paper(last, 0.9, 0.99, 0.2) ** ratio)
    assert b["opt_D"]["param_groups"][0]["betas"] == d_group["betas"]

"""Short class-conditional runs follow their label (issue 27): the shipped digits classifier reads the images
generated for each digit as that digit far more often than chance (0.10). The DCGAN before the fix scored 0.145
on its run (its label entered only through per-class batch-norm parameters that barely moved); a StyleGAN2 whose
mapping network is handed one label for every class scores chance on its run (0.115, checked by hand)."""

import pytest

import ganforge
from ganforge.metrics import evaluate

CHANCE = 0.1


def _label_fidelity(tmp_path, overrides: dict, preset: str | None = None) -> dict:
    """Train a short conditional run on digits at 16 px and score its label fidelity on 200 images."""
    result = ganforge.train(
        overrides={
            "data.source": "digits",
            "data.cond": True,
            "data.resolution": 16,
            "train.ema_kimg": 0,
            "train.grid_size": 10,
            "train.out": str(tmp_path / "runs"),
            **overrides,
        },
        preset=preset,
        progress=False,
        tensorboard=False,
    )
    return evaluate("digits", result.checkpoint, metrics="label_acc", num=200)


@pytest.mark.slow
def test_a_short_conditional_dcgan_run_follows_its_label(tmp_path):
    scores = _label_fidelity(
        tmp_path,
        {
            "model.g_channels": 32,
            "model.d_channels": 32,
            "train.batch": 32,
            "train.total_kimg": 4,
            "optim.lr": 1e-3,
            "train.snapshot_every_kimg": 4,
        },
    )
    # measured: 0.78 (0.305 before the matching-aware D; the pre-fix model: 0.145)
    assert scores["label_acc"] > 2 * CHANCE, scores
    assert sum(value > CHANCE for value in scores["label_acc_per_class"].values()) >= 8  # most classes, not one


@pytest.mark.slow
def test_a_short_conditional_stylegan2_run_follows_its_label(tmp_path):
    """The CPU preset, narrowed to width 16, with the dual-projection class term so that 3 kimg is enough."""
    scores = _label_fidelity(
        tmp_path,
        {
            "model.g_channels": 16,
            "model.d_channels": 16,
            "train.batch": 32,
            "train.total_kimg": 3,
            "train.snapshot_every_kimg": 3,
            "loss.class_weight": 1.0,
        },
        preset="stylegan2-32",
    )
    assert scores["label_acc"] > 2 * CHANCE, scores  # measured: 0.42, 0.36, 0.30 for seeds 0-2 (no class term: 0.145)
    assert sum(value > CHANCE for value in scores["label_acc_per_class"].values()) >= 6, scores

"""The training loop end to end on tiny configs: outputs, exact resume, NaN handling, resume rules."""

import json
from pathlib import Path

import pytest
import torch

from ganforge import losses
from ganforge.artifacts import checkpoint as ckpt
from ganforge.config import resolve
from ganforge.errors import ConfigError, TrainingDiverged
from ganforge.losses import GANLoss
from ganforge.training import train
from ganforge.training.objectives import NoiseToImage


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_run_writes_config_samples_checkpoints_stats(tiny):
    result = train(overrides={**tiny, "train.keep_checkpoints": 1}, progress=False)
    run = result.run_dir
    assert run.name.startswith("00000-")
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["resolution"] == 16 and config["train"]["batch"] == 16
    assert (run / "samples" / "reals.png").exists() and result.grid == run / "samples" / "final.png"
    assert [p.name for p in ckpt.list_checkpoints(run)] == [result.checkpoint.name]  # only the newest kept
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["kimg"] == pytest.approx(0.096) and {"loss_D", "loss_G", "img_per_s"} <= rows[-1].keys()
    assert all(-1 <= row["r_t"] <= 1 for row in rows)  # E[sign(D(real))], logged with or without augmentation
    assert list(run.glob("events.out.tfevents.*"))  # TensorBoard log
    assert not list(run.glob(".*.tmp"))  # no temp files left behind
    state = ckpt.load(result.checkpoint)
    assert state["images_seen"] == 96 and state["step"] == 6
    assert {"G", "D", "G_ema", "opt_G", "opt_D", "augment", "rng", "config", "dataset"} <= state.keys()


def test_dry_run_writes_only_the_config(tiny):
    result = train(overrides=tiny, dry_run=True)
    assert [p.name for p in result.run_dir.iterdir()] == ["config.json"]
    assert result.checkpoint is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        {"augment.policy": "diffaug", "data.mirror": True, "loss.r1_gamma": 1.0},
        {"loss.name": "wgan-gp", "optim.d_steps": 2, "data.cond": True},
        {
            "model.name": "pix2pix",
            "data.source": "shapes-edges",
            "data.jitter": True,
            "data.mirror": True,
            "augment.policy": "diffaug",
            "train.batch": 8,
        },
        {
            "model.name": "stylegan2",
            "model.w_dim": 16,
            "model.z_dim": 16,
            "model.mapping_layers": 2,
            "model.style_mixing": 0.9,
            "loss.pl_weight": 2.0,
            "loss.pl_interval": 2,
            "loss.r1_gamma": 0.1,
            "loss.r1_interval": 4,
            "augment.policy": "ada",
            "augment.ada_kimg": 1.0,
        },
        {
            "model.name": "stylegan2",
            "model.w_dim": 16,
            "model.z_dim": 16,
            "model.mapping_layers": 2,  # split mid-fade-in
            "model.progressive": True,
            "train.phase_kimg": 0.064,
            "model.style_mixing": 0.9,
            "loss.r1_gamma": 0.1,
            "loss.r1_interval": 4,
            "augment.policy": "ada",
            "augment.ada_kimg": 1.0,
        },
    ],
)
def test_resume_is_exact(tiny, tmp_path, extra):
    """2N kimg in one go == N kimg, then resumed for N more: identical weights, optimizers and EMA."""
    settings = {**tiny, **extra, "train.total_kimg": 0.192, "train.snapshot_every_kimg": 0.5}
    whole = train(overrides={**settings, "train.out": str(tmp_path / "a")}, progress=False)
    half = train(overrides={**settings, "train.out": str(tmp_path / "b"), "train.total_kimg": 0.096}, progress=False)
    resumed = train(
        resume="auto", overrides={"train.out": str(tmp_path / "b"), "train.total_kimg": 0.192}, progress=False
    )
    assert resumed.run_dir == half.run_dir
    a, b = ckpt.load(whole.checkpoint), ckpt.load(resumed.checkpoint)
    assert a["step"] == b["step"] and a["images_seen"] == b["images_seen"] == 192
    for key in ("G", "D", "G_ema"):
        assert _states_equal(a[key], b[key]), key
    assert a["augment"] == b["augment"]  # ADA's p and pending counts too
    if extra.get("model.progressive"):  # the split fell inside the 8 -> 16 px fade-in; both end fully grown
        assert 0 < ckpt.load(half.checkpoint)["G"]["growth"][1] < 1 and b["G"]["growth"].tolist() == [16.0, 1.0]
    assert all(
        torch.equal(x["exp_avg"], y["exp_avg"])
        for x, y in zip(a["opt_D"]["state"].values(), b["opt_D"]["state"].values())
    )


def test_lr_decay_kimg_lowers_every_learning_rate_linearly_to_zero(tiny):
    """--lr-decay-kimg: constant, then linear to 0 at --kimg, applied to both optimisers by the loop."""
    cfg = resolve({**tiny, "train.total_kimg": 0.128, "optim.lr_decay_kimg": 0.064})
    objective = NoiseToImage.__new__(NoiseToImage)
    objective.cfg = cfg
    assert [objective.lr_scale(k) for k in (0, 0.064, 0.096, 0.128, 0.2)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    state = ckpt.load(train(cfg, progress=False).checkpoint)
    last_step_kimg = (128 - cfg.train.batch) / 1000  # the last update's rate was set before its batch was seen
    for key in ("opt_G", "opt_D"):
        assert state[key]["param_groups"][0]["lr"] == pytest.approx(2e-4 * (0.128 - last_step_kimg) / 0.064), key


def test_resume_refuses_changing_the_run(tiny):
    train(overrides=tiny, progress=False)
    with pytest.raises(ConfigError, match="--lr cannot change"):
        train(resume="auto", overrides={"train.out": tiny["train.out"], "optim.lr": 0.1})


def test_nan_loss_stops_with_last_checkpoint_intact(tiny, monkeypatch):
    calls = {"n": 0}
    bce = losses.LOSSES.get("bce")

    def poisoned(real, fake):
        calls["n"] += 1
        value = bce.d_loss(real, fake)
        return value * float("nan") if calls["n"] > 4 else value

    monkeypatch.setitem(losses.LOSSES._entries, "bce", GANLoss(poisoned, bce.g_loss))
    settings = {**tiny, "train.snapshot_every_kimg": 0.032, "train.total_kimg": 0.5}
    with pytest.raises(TrainingDiverged, match="NaN") as error:
        train(overrides=settings, progress=False)
    good = ckpt.list_checkpoints(next(Path(tiny["train.out"]).iterdir()))
    assert good, "the checkpoint written before the NaN must remain"
    state = ckpt.load(good[-1])
    assert state["images_seen"] <= 64
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
    assert str(good[-1]) in str(error.value)


@pytest.mark.slow
def test_training_learns_the_data_distribution(tmp_path):
    """A short run on shapes moves generated colour statistics towards the data's (not a frozen/collapsed G)."""
    from ganforge import data, load
    from ganforge.config import DataConfig

    settings = {
        "data.source": "shapes",
        "data.resolution": 16,
        "model.g_channels": 16,
        "model.d_channels": 16,
        "train.batch": 32,
        "train.total_kimg": 3,
        "train.snapshot_every_kimg": 3,
        "train.out": str(tmp_path),
        "optim.lr": 1e-3,
    }  # a higher rate so that a 2-second run shows learning
    result = train(overrides=settings, progress=False)
    real = data.build(DataConfig(source="shapes", resolution=16)).images[:256].float()
    fake = torch.from_numpy(load(result.checkpoint).generate(256)).permute(0, 3, 1, 2).float()
    # Backgrounds are dark (< 90) and shapes bright: the generated mean and spread approach the data's.
    assert abs(fake.mean() - real.mean()) < 25, (fake.mean(), real.mean())
    assert fake.std(0).mean() > 0.5 * real.std(0).mean()  # samples differ from one another


def test_pacgan_packing_feeds_d_several_samples_at_once(tiny):
    result = train(overrides={**tiny, "model.pack": 2, "loss.r1_gamma": 1.0}, progress=False)
    D = result.modules["D"]
    assert D.from_image.in_channels == 2 * 3  # two RGB samples stacked along channels
    state = ckpt.load(result.checkpoint)
    assert state["config"]["model"]["pack"] == 2
    with pytest.raises(ConfigError, match="--pack"):
        train(overrides={**tiny, "model.pack": 3})  # batch 16 is not a multiple of 3

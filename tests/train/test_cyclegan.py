"""CycleGAN through the one loop: the history pool, the lr schedule, exact resume, translate both ways, export,
and clear errors."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge.artifacts import checkpoint as ckpt
from ganforge.artifacts.generator import LoadedGenerator
from ganforge.cli import main
from ganforge.config import ModelConfig, resolve
from ganforge.data.base import DatasetInfo
from ganforge.errors import ConfigError
from ganforge.models.pix2pix import UNetGenerator
from ganforge.training import train, unpaired
from ganforge.training.unpaired import ImagePool, Unpaired
from ganforge.translation import translator

TINY_CYCLE = {
    "model.name": "cyclegan",
    "data.source": "digits-stylized",
    "data.resolution": 16,
    "model.g_channels": 4,
    "model.d_channels": 4,
    "train.batch": 4,
    "train.total_kimg": 0.024,
    "train.snapshot_every_kimg": 1,
    "train.grid_size": 12,
}


def test_history_pool_fills_then_swaps_half_the_time_and_round_trips():
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(3.0).reshape(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and len(pool) == 3  # filling: shown as they come
    later = torch.arange(10.0, 210.0).reshape(200, 1, 1, 1)
    shown = pool.query(later)
    swapped = (shown != later).flatten()
    assert 0.35 < swapped.float().mean() < 0.65  # about half are exchanged for older fakes
    assert set(shown[swapped].flatten().tolist()) <= set(first.flatten().tolist()) | set(later.flatten().tolist())
    restored = ImagePool(3)
    restored.load_state_dict(pool.state_dict(), torch.device("cpu"))
    torch.manual_seed(1)
    a = pool.query(later[:20])
    torch.manual_seed(1)
    assert torch.equal(restored.query(later[:20]), a)


def test_learning_rate_constant_then_linear_to_zero():
    objective = Unpaired.__new__(Unpaired)
    objective.cfg = resolve({"model.name": "cyclegan", "train.total_kimg": 200})
    assert [objective.lr_scale(k) for k in (0, 50, 100, 150, 200)] == [1.0, 1.0, 1.0, 0.5, 0.0]


@pytest.fixture(scope="module")
def cycle_runs(tmp_path_factory):
    """The same tiny run whole, and stopped after 3 of its 6 steps then resumed (history pool of 6, so the pool's
    swapping and the lr decay both cross the interruption)."""
    root = tmp_path_factory.mktemp("cycle")
    patch = pytest.MonkeyPatch()
    patch.setattr(unpaired, "POOL_SIZE", 6)
    try:
        whole = train(overrides={**TINY_CYCLE, "train.out": str(root / "a")}, progress=False, tensorboard=False)
        calls = iter(range(100))
        half = train(
            overrides={**TINY_CYCLE, "train.out": str(root / "b")},
            progress=False,
            tensorboard=False,
            should_stop=lambda: next(calls) >= 2,
        )
        resumed = train(resume="auto", overrides={"train.out": str(root / "b")}, progress=False, tensorboard=False)
    finally:
        patch.undo()
    return whole, half, resumed


@pytest.mark.slow
def test_resume_is_exact(cycle_runs):
    whole, half, resumed = cycle_runs
    assert ckpt.load(half.checkpoint)["step"] == 3 and resumed.run_dir == half.run_dir
    a, b = ckpt.load(whole.checkpoint), ckpt.load(resumed.checkpoint)
    assert a["step"] == b["step"] == 6 and len(a["history_a"]) == 6
    for key in ("G", "D", "G_ema", "history_a", "history_b"):
        values = a[key].values() if isinstance(a[key], dict) else [a[key]]
        others = b[key].values() if isinstance(b[key], dict) else [b[key]]
        assert all(torch.equal(x, y) for x, y in zip(values, others)), key
    for name in ("opt_G", "opt_D"):
        assert a[name]["param_groups"][0]["lr"] == b[name]["param_groups"][0]["lr"] < 2e-4 / 2  # decayed
        assert all(
            torch.equal(x["exp_avg"], y["exp_avg"])
            for x, y in zip(a[name]["state"].values(), b[name]["state"].values())
        )
    assert any(k.startswith("b2a.") for k in a["G_ema"]) and any(k.startswith("judge_a.") for k in a["D"])


@pytest.mark.slow
def test_grid_translate_both_ways_and_export(cycle_runs, tmp_path):
    whole, _, _ = cycle_runs
    grid = np.asarray(Image.open(whole.grid))
    assert grid.shape[1] > grid.shape[0] * 2  # rows of six: A | G(A) | F(G(A)) | B | F(B) | G(F(B))
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(source / "x.png")
    runner = CliRunner()
    outputs = {}
    for direction in ("a2b", "b2a"):
        result = runner.invoke(
            main,
            [
                "translate",
                str(whole.run_dir),
                str(source),
                "--out",
                str(tmp_path / direction),
                "--direction",
                direction,
                "--device",
                "cpu",
            ],
        )
        assert result.exit_code == 0, result.output
        outputs[direction] = np.asarray(Image.open(tmp_path / direction / "x.png"))
        assert outputs[direction].shape == (20, 28, 3)
    assert not np.array_equal(outputs["a2b"], outputs["b2a"])
    result = runner.invoke(main, ["export", str(whole.run_dir), "--out", str(tmp_path / "exported")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        [
            "translate",
            str(tmp_path / "exported"),
            str(source),
            "--out",
            str(tmp_path / "from-export"),
            "--direction",
            "b2a",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "from-export" / "x.png")), outputs["b2a"])


def test_direction_on_a_one_way_model_is_refused():
    pix2pix = LoadedGenerator(
        UNetGenerator(16, 1, 3, base_channels=4),
        ModelConfig(name="pix2pix"),
        DatasetInfo("pairs", 16, 3, (), 1),
        0,
        0.0,
        {},
        "p2p.pt",
    )
    with pytest.raises(ConfigError, match="--direction b2a: p2p.pt is a pix2pix model that translates one way"):
        translator(pix2pix, "b2a")
    assert translator(pix2pix, None)(torch.zeros(1, 1, 16, 16)).shape == (1, 3, 16, 16)


def test_bad_training_input_is_one_clear_line(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(good / "a.png")
    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    cases = [
        (["--data-a", str(tmp_path / "missing"), "--data-b", str(good)], "--data-a", "no such file or folder"),
        (["--data-a", str(good), "--data-b", str(tmp_path / "empty")], "--data-b", "no images found"),
        (["--data-a", str(good)], "--data-a needs --data-b", ""),
        (["--data", "digits"], "unpaired translation needs two image sets", ""),
        (["--data", "digits-stylized", "--augment", "diffaug"], "--augment: not available for --model cyclegan", ""),
    ]
    for args, first, second in cases:
        result = runner.invoke(main, ["train", "--model", "cyclegan", "--out", str(tmp_path / "runs"), *args])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error: ") and first in result.output and second in result.output
        assert "Traceback" not in result.output
    result = runner.invoke(main, ["train", "--model", "pix2pix", "--data", "digits-stylized", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "--model cyclegan" in result.output

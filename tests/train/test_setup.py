"""Run set-up and control: hooks for host programs, clean stops, resume rules, the run-directory lock, and sizes
checked before any data is built."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganforge.artifacts import checkpoint as ckpt
from ganforge.artifacts.rundir import LOCK_NAME, run_dir_lock
from ganforge.errors import ConfigError
from ganforge.training import loop, train

from ..conftest import tiny_cli_flags

SRC = Path(__file__).parents[2] / "src"


def test_progress_hook_and_should_stop_end_the_run_cleanly(tiny):
    rows = []
    result = train(
        overrides={**tiny, "train.total_kimg": 10},
        progress=False,
        progress_fn=rows.append,
        should_stop=lambda: len(rows) >= 2,
    )
    assert 0 < result.kimg < 10 and result.grid.name == "final.png" and result.checkpoint.exists()
    assert rows[-1]["done"] and Path(rows[-1]["grid"]).exists() and "loss_G" in rows[-1]


def test_training_leaves_the_host_random_state_alone(tiny):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(overrides=tiny, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_resume_auto_with_nothing_to_resume_starts_fresh(tiny):
    with pytest.warns(UserWarning, match="starting a new run"):
        result = train(
            resume="auto",
            overrides={
                "train.out": tiny["train.out"],
                "train.total_kimg": 0.032,
                "data.source": "shapes",
                "data.resolution": 16,
                "model.g_channels": 8,
                "model.d_channels": 8,
                "train.batch": 16,
            },
            progress=False,
        )
    assert result.checkpoint.exists()


@pytest.mark.slow
def test_resume_past_the_target_reports_the_existing_samples(tiny):
    first = train(overrides=tiny, progress=False)
    again = train(resume="auto", overrides={"train.out": tiny["train.out"]}, progress=False)
    assert again.grid == first.grid and again.checkpoint == first.checkpoint


def test_a_second_writer_is_refused_and_a_stale_lock_taken_over(tmp_path):
    with run_dir_lock(tmp_path):
        with pytest.raises(ConfigError, match=f"being written by process {os.getpid()}"):
            with run_dir_lock(tmp_path):
                pass
    (tmp_path / LOCK_NAME).write_text(f"{os.uname().nodename} 999999999")  # a process that is gone
    with run_dir_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[1] == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


def test_sizes_are_checked_before_data_is_built(tmp_path):
    started = time.monotonic()
    with pytest.raises(ConfigError, match="--resolution 512: model 'dcgan' supports 8..256"):
        train(overrides={"data.resolution": 512, "train.out": str(tmp_path)}, progress=False)
    assert time.monotonic() - started < 5 and not list(tmp_path.iterdir())


def test_built_in_sets_that_would_not_fit_in_memory_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sysconf", lambda name: 2**18 if name == "SC_PHYS_PAGES" else 4096)  # a 1 GiB machine
    with pytest.raises(ConfigError, match="would take .* GiB of memory"):
        train(
            overrides={
                "model.name": "pix2pix",
                "data.source": "shapes-edges",
                "data.resolution": 2048,
                "train.out": str(tmp_path),
            },
            progress=False,
        )
    assert not list(tmp_path.iterdir())


def test_a_failed_start_leaves_no_run_folder(tiny):
    with pytest.raises(ConfigError, match="--pl-weight"):
        train(overrides={**tiny, "loss.pl_weight": 2.0, "model.name": "dcgan"}, progress=False)
    assert not Path(tiny["train.out"]).exists() or not list(Path(tiny["train.out"]).iterdir())


@pytest.mark.slow
def test_minutes_budget_holds(tiny):
    started = time.monotonic()
    result = train(overrides={**tiny, "train.total_kimg": 1000, "train.minutes": 0.05}, progress=False)
    assert time.monotonic() - started < 3 + 20  # 3 s of training, then the final snapshot
    assert result.grid.name == "final.png"


def _clock(step_s: float):
    """A fake clock that moves `step_s` seconds per reading."""
    readings = iter(range(10**6))
    return lambda: next(readings) * step_s


@pytest.mark.parametrize("which, other", [("cpu", "wall"), ("wall", "cpu")])
def test_minutes_counts_the_chosen_clock(tiny, monkeypatch, which, other):
    # the chosen clock passes a minute per reading, the other one stands still: only the chosen one can stop the run,
    # after its first iteration; reading the other would train all 20 iterations of --kimg
    monkeypatch.setitem(loop.CLOCKS, which, _clock(60.0))
    monkeypatch.setitem(loop.CLOCKS, other, _clock(0.0))
    overrides = {**tiny, "train.total_kimg": 0.32, "train.minutes": 1.0, "train.minutes_clock": which}
    result = train(overrides=overrides, progress=False, tensorboard=False)
    assert result.kimg == pytest.approx(tiny["train.batch"] / 1000)
    assert result.grid.name == "final.png"
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["train"]["minutes_clock"] == which


def test_minutes_clock_refuses_other_clocks(tiny):
    with pytest.raises(ConfigError, match="--minutes-clock: choose one of wall, cpu, got 'gpu'"):
        train(overrides={**tiny, "train.minutes_clock": "gpu"}, dry_run=True, progress=False)


@pytest.mark.slow
def test_sigterm_stops_the_cli_run_with_a_final_snapshot(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ganforge",
            "train",
            *tiny_cli_flags(),
            "--kimg",
            "1000",
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*/stats.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err  # 143: stopped by SIGTERM, not finished
    run = next(tmp_path.iterdir())
    assert (run / "samples" / "final.png").exists() and ckpt.list_checkpoints(run)
    assert "stopping after this step" in err and not (run / LOCK_NAME).exists()
    assert json.loads((run / "stats.jsonl").read_text().splitlines()[-1])["kimg"] < 1000


def test_out_that_is_a_file_is_a_clear_error(tiny, tmp_path):
    blocker = tmp_path / "runs-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="--out .*runs-file: exists and is not a folder"):
        train(overrides={**tiny, "train.out": str(blocker)}, progress=False)
    assert blocker.read_text() == "not a folder"


def test_no_tensorboard_and_no_empty_event_files(tiny, tmp_path):
    from ganforge.training.stats import RunReporter

    result = train(overrides=tiny, progress=False, tensorboard=False)
    assert not list(result.run_dir.glob("events.out.tfevents.*")) and (result.run_dir / "stats.jsonl").exists()
    RunReporter(tmp_path, 100, start_images=0).close()  # a run stopped before its first row
    assert not list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_full_width_stylegan2_on_a_cpu_points_to_the_preset(tmp_path):
    with pytest.warns(UserWarning, match="--preset stylegan2-32"):
        train(
            overrides={
                "model.name": "stylegan2",
                "data.source": "shapes",
                "train.out": str(tmp_path),
                "train.device": "cpu",
            },
            dry_run=True,
        )


def test_in_training_metrics_that_cannot_run_are_named_before_training(tiny):
    overrides = {**tiny, "data.source": "digits", "train.metrics_every_kimg": 1.0}
    with pytest.warns(UserWarning, match="--metrics modes: will not be computed during training"):
        train(overrides={**overrides, "train.metrics": "fid,modes", "train.metrics_extractor": "digits"}, dry_run=True)
    with pytest.raises(ConfigError, match="--metrics"):
        train(overrides={**overrides, "train.metrics": "modes", "train.metrics_extractor": "digits"}, dry_run=True)

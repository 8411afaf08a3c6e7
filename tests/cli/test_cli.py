"""The `ganforge` command: the main flows on tiny data, and clear non-zero exits for bad input."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ganforge.cli import main

from ..conftest import tiny_cli_flags

TINY_FLAGS = [*tiny_cli_flags(), "--kimg", "0.032", "--snapshot-kimg", "1", "--grid", "4", "--no-progress"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    result = run("train", *TINY_FLAGS, "--cond", "--out", out)
    assert result.exit_code == 0, result.output
    return next(out.iterdir())


@pytest.mark.slow
def test_train_sample_info_export(run_dir, tmp_path):
    grid = tmp_path / "grid.png"
    result = run(
        "sample", run_dir, "--num", "6", "--seed", "2", "--grid", grid, "--outdir", tmp_path / "each", "--class", "1"
    )
    assert result.exit_code == 0, result.output
    assert grid.exists() and sorted(p.name for p in (tmp_path / "each").iterdir())[0] == "seed000002.png"
    assert len(list((tmp_path / "each").iterdir())) == 6
    info = run("info", run_dir, "--json")
    assert json.loads(info.output)["model"] == "dcgan"
    exported = run("export", run_dir, "--out", tmp_path / "exp")
    assert exported.exit_code == 0 and (tmp_path / "exp" / "generator.safetensors").exists()
    assert run("info", tmp_path / "exp").exit_code == 0


@pytest.mark.slow
def test_resume_auto_extends_a_run(run_dir):
    result = run("train", "--resume", "auto", "--out", run_dir.parent, "--kimg", "0.064", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "checkpoint-00000004.pt" in result.output


def test_dry_run_prints_config(tmp_path):
    result = run("train", *TINY_FLAGS, "--out", tmp_path, "--dry-run")
    assert result.exit_code == 0 and '"total_kimg": 0.032' in result.output
    assert not list(next(tmp_path.iterdir()).glob("checkpoint-*"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "digits", "--resolution", "48"], "--resolution"),
        (["train", "--data", "no/such/folder"], "no/such/folder"),
        (["train", "--data", "digits", "--loss", "magic"], "--loss"),
        (["train", "--data", "digits", "--augment", "sparkles"], "--augment"),
        (["train", "--data", "digits", "--kimg", "-1"], "--kimg"),
        (["sample", "missing.pt", "--grid", "x.png"], "missing.pt"),
        (["info", "missing.pt"], "missing.pt"),
        (["prepare", "no-such-dir", "--out", "x.zip"], "no-such-dir"),
    ],
)
def test_errors_are_clear_and_non_zero(args, message):
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_resume_auto_with_nothing_to_resume_starts_a_new_run(tmp_path):
    """Cluster requeue scripts run `--resume auto` from the first submission on."""
    result = run("train", "--resume", "auto", "--out", tmp_path / "empty", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "warning: --resume auto: no run with a checkpoint under" in result.output
    assert "starting a new run" in result.output
    assert list((tmp_path / "empty").glob("00000-*/config.json"))


def test_usage_errors(run_dir):
    assert run("train", "--kimg", "lots").exit_code == 2  # click's own type check
    result = run("sample", run_dir)
    assert result.exit_code != 0 and "--grid" in result.output


def test_prepare_command(photo_folder, tmp_path):
    result = run("prepare", photo_folder, "--out", tmp_path / "d.zip", "--resolution", "16", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert "skipped dogs/broken.png: corrupt" in result.output and "wrote" in result.output


def test_module_entry_point_and_help():
    completed = subprocess.run([sys.executable, "-m", "ganforge", "train", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0 and "ganforge train --data digits" in completed.stdout


@pytest.mark.slow
def test_train_help_lists_every_registered_dataset_and_model():
    """--help lists config.py's names without torch; they must be exactly what the package registers (read in a
    fresh interpreter, so test-only registrations of other test modules do not count)."""
    from ganforge.config import DATASET_NAMES, MODEL_NAMES

    registered = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ganforge.models import MODELS; from ganforge.data import "
            "DATASETS; print(' '.join(MODELS.names())); print(' '.join(DATASETS.names()))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert sorted(MODEL_NAMES) == sorted(registered[0].split())
    assert sorted(DATASET_NAMES) == sorted(registered[1].split())
    text = " ".join(CliRunner().invoke(main, ["train", "--help"], terminal_width=400).output.split())
    for name in [*DATASET_NAMES, *MODEL_NAMES, "digits-stylized"]:
        assert name in text
    assert "lfw" in text and "cyclegan" in text


def test_global_threads_option_sets_torch_threads(monkeypatch, tmp_path):
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    result = CliRunner().invoke(main, ["--threads", "1", "eval", "--human", str(tmp_path)])
    assert calls == [1], result.output
    refused = CliRunner().invoke(main, ["--threads", "0", "eval", "--human", str(tmp_path)])
    assert refused.exit_code == 2 and "--threads" in refused.output and calls == [1]  # at least 1

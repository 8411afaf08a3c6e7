"""`ganforge synth`: a labelled folder with the right counts per class, the confident filter's drops, and errors."""

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import ganforge
from ganforge.cli import main
from ganforge.data import FolderDataset
from ganforge.errors import CheckpointError, DataError
from ganforge.synth import MAX_CANDIDATES, confident_filter, generate_labelled, synth
from tests.conftest import TINY


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    digits = {**TINY, "data.source": "digits", "train.out": str(out)}  # digits load in well under a second
    conditional = ganforge.train(overrides={**digits, "data.cond": True}, progress=False)
    unconditional = ganforge.train(overrides=digits, progress=False)
    return conditional.checkpoint, unconditional.checkpoint


@pytest.mark.slow
def test_synth_writes_folder_and_labels_json(checkpoints, tmp_path):
    result = synth(checkpoints[0], 3, tmp_path / "syn")
    names = tuple(str(digit) for digit in range(10))
    assert result.counts() == [3] * 10 and result.dropped == [0] * 10
    for name in names:
        assert len(list((tmp_path / "syn" / name).glob("*.png"))) == 3
    mapping = json.loads((tmp_path / "syn" / "labels.json").read_text())
    assert len(mapping) == 30 and mapping["7/000002.png"] == "7"
    back = FolderDataset(tmp_path / "syn")  # readable as labelled data
    assert back.info.class_names == names and back.info.channels == 1
    assert torch.bincount(torch.tensor(back.labels)).tolist() == [3] * 10


@pytest.mark.slow
def test_same_seed_same_images(checkpoints):
    generator = ganforge.load(checkpoints[0])
    first, second = (generate_labelled(generator, 2, seed=7) for _ in range(2))
    assert torch.equal(first.images, second.images) and first.labels.tolist() == [k // 2 for k in range(20)]


@pytest.mark.slow
def test_filter_drops_rejects_and_refills(checkpoints):
    generator = ganforge.load(checkpoints[0])
    calls = []

    def keep_some(images, labels):  # rejects class 1 entirely, every other candidate of the rest
        calls.append(len(images))
        mask = torch.arange(len(images)) % 2 == 0
        return mask & (labels != 1)

    result = generate_labelled(generator, 4, keep=keep_some)
    assert result.counts() == [4, 0] + [4] * 8
    assert result.dropped[1] == MAX_CANDIDATES * 4  # gave up after the candidate budget
    assert all(0 < dropped < MAX_CANDIDATES * 4 for k, dropped in enumerate(result.dropped) if k != 1)
    assert "1: 0 kept" in result.summary()


class FixedClassifier(nn.Module):
    """Says 'class 2' with probability ~0.94 for every image."""

    def forward(self, x):
        logits = torch.zeros(len(x), 10)
        logits[:, 2] = 5.0
        return logits


def test_confident_filter_keeps_only_sure_matching_labels():
    images = torch.zeros(4, 1, 16, 16, dtype=torch.uint8)
    keep = confident_filter(FixedClassifier(), 0.9)
    assert keep(images, torch.tensor([2, 0, 2, 4])).tolist() == [True, False, True, False]
    assert not confident_filter(FixedClassifier(), 0.99)(images, torch.tensor([2, 2, 2, 2])).any()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.slow
def test_cli_filter_reports_drops(checkpoints, tmp_path):
    result = run(
        "synth",
        checkpoints[0],
        "--per-class",
        "2",
        "--out",
        tmp_path / "kept",
        "--filter",
        "confident",
        "--classifier-steps",
        "3",
        "--confidence",
        "0.5",
    )
    assert result.exit_code == 0, result.output
    assert "filter kept" in result.output and "dropped" in result.output
    assert (tmp_path / "kept" / "labels.json").is_file()


@pytest.mark.slow
def test_cli_errors(checkpoints, tmp_path, photo_folder):
    unconditional = run("synth", checkpoints[1], "--per-class", "2", "--out", tmp_path / "a")
    assert unconditional.exit_code == 1 and "unconditional" in unconditional.output
    assert not (tmp_path / "a").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    busy = run("synth", checkpoints[0], "--per-class", "2", "--out", tmp_path / "full")
    assert busy.exit_code == 1 and "not an empty folder" in busy.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert run("synth", checkpoints[0], "--per-class", "0", "--out", tmp_path / "b").exit_code == 2
    with pytest.raises(CheckpointError, match="unconditional"):
        generate_labelled(ganforge.load(checkpoints[1]), 2)
    with pytest.raises(DataError, match="--real"):
        synth(checkpoints[0], 2, tmp_path / "c", filter="confident", real=str(photo_folder), classifier_steps=1)

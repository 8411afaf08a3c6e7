"""`ganforge experiment augment` on a micro budget: results.csv, results.md and plot.png are written, the GAN is
trained on the training subset only, re-runs continue, and bad input fails clearly."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge.cli import main
from ganforge.data import FolderDataset
from ganforge.errors import ConfigError
from ganforge.experiments.augment import (
    AugmentSettings,
    data_labels,
    gan_label_fidelity,
    in_generator_labels,
    load_labelled,
    run_augment_experiment,
)
from ganforge.experiments.report import markdown, mean_interval, paired_difference
from ganforge.experiments.split import stratified_split

MICRO = [
    "--per-class",
    "2",
    "--seeds",
    "1",
    "--kimg",
    "0.064",
    "--classifier-steps",
    "4",
    "--synthetic-per-class",
    "3",
    "--filter",
    "none",
]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    out = tmp_path_factory.mktemp("augment") / "exp"
    result = run("experiment", "augment", "--data", "digits", *MICRO, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_micro_run_writes_csv_markdown_and_plot(micro):
    out, output = micro
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["arm"] for r in rows] == list("abcde")
    assert {r["per_class"] for r in rows} == {"2"} and {r["real_images"] for r in rows} == {"20"}
    assert int(rows[0]["test_images"]) == 1797 - 20
    assert [int(r["synthetic_images"]) for r in rows] == [0, 0, 30, 30, 30]
    assert all(0 <= float(r["accuracy"]) <= 1 for r in rows)
    assert len({r["gan_label_acc"] for r in rows}) == 1 and 0 <= float(rows[0]["gan_label_acc"]) <= 1
    markdown = (out / "results.md").read_text()
    assert "| per class |" in markdown and "(e) synthetic only" in markdown and "c − a" in markdown
    assert "Goal" not in markdown and "| 2 | 1 |" in output  # the table is echoed; no internal target
    with Image.open(out / "plot.png") as plot:
        assert plot.size == (900, 560) and len(plot.getcolors(100000)) > 10  # drawn, not blank


@pytest.mark.slow
def test_gan_sees_only_the_training_subset(micro):
    out, _ = micro
    cell = out / "cells" / "002-per-class-seed0"
    config = json.loads(next(cell.glob("*-gan/config.json")).read_text())
    assert config["data"]["source"] == str(cell / "subset") and config["data"]["cond"]
    subset = FolderDataset(cell / "subset", resolution=16)
    images, labels, _ = load_labelled("digits", 16)
    train_idx, test_idx = stratified_split(labels, 2, 0)
    seen, _ = subset.batch(torch.arange(len(subset)))
    assert len(subset) == 20 and np.bincount(subset.labels).tolist() == [2] * 10
    # the folder holds exactly the training images, and none of the test images (digits has a few exact duplicates,
    # which are in both sets only when one copy was drawn for training)
    shown = {bytes(image.numpy()) for image in seen}
    training = {bytes(image.numpy()) for image in images[train_idx]}
    test_only = {bytes(image.numpy()) for image in images[test_idx]} - training
    assert shown == training and not shown & test_only


@pytest.mark.slow
def test_rerun_continues_and_other_settings_are_refused(micro):
    out, _ = micro
    before = (out / "results.csv").read_text()
    again = run("experiment", "augment", "--data", "digits", *MICRO, "--out", out)
    assert again.exit_code == 0 and (out / "results.csv").read_text() == before  # nothing left to run
    with pytest.raises(ConfigError, match="other settings"):
        run_augment_experiment(AugmentSettings("digits", (2,), 1, gan_kimg=0.1), out)


def test_bad_input_fails_clearly(tmp_path):
    bad_sizes = run("experiment", "augment", "--data", "digits", "--per-class", "5,ten", "--out", tmp_path / "a")
    assert bad_sizes.exit_code == 2 and "--per-class" in bad_sizes.output
    too_many = run("experiment", "augment", "--data", "digits", "--per-class", "5,500", "--out", tmp_path / "b")
    assert too_many.exit_code == 1 and "--per-class 500" in too_many.output and "too few images" in too_many.output
    assert not (tmp_path / "b").exists()  # refused before anything was trained or written
    unknown = run("experiment", "augment", "--data", tmp_path / "nowhere", "--out", tmp_path / "c")
    assert unknown.exit_code == 1 and "no such file" in unknown.output


def test_unlabelled_folder_is_refused(tmp_path):
    from tests.conftest import write_image

    for k in range(3):
        write_image(tmp_path / "plain" / f"{k}.png", "RGB", seed=k)
    result = run("experiment", "augment", "--data", tmp_path / "plain", "--per-class", "1", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "labels" in result.output


def test_intervals_and_paired_differences():
    mean, half, n = mean_interval([90.0, 92.0, 94.0])
    assert (mean, n) == (92.0, 3) and math.isclose(half, 4.303 * 2.0 / math.sqrt(3), rel_tol=1e-3)
    rows = [
        {"per_class": "10", "seed": str(s), "arm": arm, "accuracy": str(acc)}
        for s in range(3)
        for arm, acc in (("b", 0.80), ("d", 0.84 + 0.005 * s))
    ]
    difference = paired_difference(rows, "d", "b")[10]
    assert math.isclose(difference[0], 4.5) and difference[2] == 3


def _rows(per_class: int, seed: int, synthetic: int, accuracy: dict[str, float], label_acc: str = "") -> list[dict]:
    """CSV-like rows of one cell; the synthetic arms are (c), (d), (e) (as run_cell writes them)."""
    nan_e = synthetic == 0  # run_cell writes NaN for (e) when there was nothing to train on
    return [
        {
            "per_class": str(per_class),
            "seed": str(seed),
            "arm": arm,
            "accuracy": "nan" if arm == "e" and nan_e else str(accuracy[arm]),
            "synthetic_images": str(0 if arm in "ab" else synthetic),
            "gan_label_acc": label_acc,
            "gan_cpu_s": "1",
            "arm_cpu_s": "1",
        }
        for arm in "abcde"
    ]


def test_report_counts_seeds_and_marks_cells_without_synthetic_images():
    from types import SimpleNamespace

    same = {"a": 0.90, "b": 0.92, "c": 0.90, "d": 0.92}  # no synthetic data: (c), (d) equal (a), (b)
    rows = (
        _rows(10, 0, 30, {"a": 0.90, "b": 0.92, "c": 0.80, "d": 0.82, "e": 0.30}, "0.5")
        + _rows(10, 1, 30, {"a": 0.90, "b": 0.92, "c": 0.84, "d": 0.86, "e": 0.40}, "0.7")
        + _rows(10, 2, 0, same, "0.6")
    )
    difference = paired_difference(rows, "c", "a")[10]
    assert math.isclose(difference[0], -8.0) and difference[2] == 2  # the empty cell's 0 is not averaged in
    settings = SimpleNamespace(
        data="digits",
        model="dcgan",
        gan_kimg=1,
        minutes=0,
        resolution=16,
        gan_augment="none",
        synthetic_per_class=3,
        filter="confident",
        confidence=0.8,
        synthetic_fraction=0.25,
        classifier_steps=4,
    )
    text = markdown(rows, settings)
    row = next(line for line in text.splitlines() if line.startswith("| 10 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "3"  # seeds run in this row
    assert cells[2] == "90.0 ± 0.0" and "(n=" not in cells[2]  # (a) over all three seeds
    assert cells[4].endswith("(n=2)") and cells[6].startswith("35.0") and cells[6].endswith("(n=2)")
    assert cells[9].startswith("60.0 ± ") and "(n=" not in cells[9]  # GAN label fidelity, every seed's generator
    assert "10/class seed 2" in text and "equal (a) and (b)" in text
    assert "c − a: -8.0 ± " in text and "over 2 seeds" in text
    assert "Goal" not in text and "MET" not in text
    only_empty = markdown(_rows(5, 0, 0, same), settings)
    assert "no data" in only_empty and "no cell with synthetic images" in only_empty
    no_classifier = next(line for line in only_empty.splitlines() if line.startswith("| 5 |"))
    assert no_classifier.rstrip(" |").endswith("no data")  # no label fidelity without a shipped classifier


class _DigitsPhotographer:
    """A stand-in conditional generator that returns held-out real digits: of the requested class when it
    `follows` its label, of a class unrelated to it otherwise."""

    def __init__(self, follows: bool, class_names=tuple("0123456789")):
        from types import SimpleNamespace

        from ganforge.data.builtin import digit_images
        from ganforge.metrics.digits_classifier import digits_split

        images, labels = digit_images(16)
        _, test = digits_split(labels)
        self.images, self.labels, self.follows = images[test], labels[test], follows
        self.num_classes, self.source = len(class_names), "photographer"
        self.dataset = SimpleNamespace(class_names=class_names, channels=1, resolution=16)

    def generate(self, count, first, labels, truncation=1.0):
        wanted = [label if self.follows else (first + i) % 10 for i, label in enumerate(labels)]
        picks = [np.flatnonzero(self.labels == k)[(first + i) % 20] for i, k in enumerate(wanted)]
        return self.images[picks][..., None]  # [count, 16, 16, 1] uint8


def test_gan_label_fidelity_is_high_for_a_faithful_generator_and_chance_for_one_that_ignores_its_label():
    assert gan_label_fidelity(_DigitsPhotographer(follows=True)) > 0.85
    assert gan_label_fidelity(_DigitsPhotographer(follows=False)) < 0.3
    assert gan_label_fidelity(_DigitsPhotographer(True, class_names=("cats", "dogs"))) is None


@pytest.mark.slow
def test_runs_on_a_labelled_folder(tmp_path):
    from tests.conftest import write_image

    for k in range(8):
        write_image(tmp_path / "photos" / ("cats" if k % 2 else "dogs") / f"{k}.jpg", "RGB", (48, 40), seed=k)
    out = tmp_path / "exp"
    result = run(
        "experiment",
        "augment",
        "--data",
        tmp_path / "photos",
        "--per-class",
        "2",
        "--seeds",
        "1",
        "--kimg",
        "0.032",
        "--classifier-steps",
        "2",
        "--synthetic-per-class",
        "2",
        "--filter",
        "none",
        "--resolution",
        "8",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 5 and {r["test_images"] for r in rows} == {"4"}


def test_filter_judges_generator_samples_in_the_data_label_order():
    # built-in shapes list classes unsorted; the GAN trained on the subset folder knows them sorted by name
    data_names, generator_names = ("circle", "square", "ring"), ("circle", "ring", "square")
    to_data = data_labels(generator_names, data_names)
    assert to_data.tolist() == [0, 2, 1]

    def says_square(images, labels):  # a data-label filter that accepts only "square" (data 1)
        return labels == 1

    keep = in_generator_labels(says_square, to_data)
    assert keep(None, torch.tensor([0, 1, 2])).tolist() == [False, False, True]  # generator 2 is "square"

"""Summaries of the augmentation experiment: mean accuracy with a 95% Student-t interval over seeds per arm and size,
the paired per-seed differences (c - a, d - b), the Markdown table (results.md) and the plot (plot.png).

A cell (size, seed) whose filter kept no synthetic image has no synthetic-data result: its (c) and (d) classifiers
trained on the real images alone (equal to (a) and (b) by construction) and (e) has nothing to train on. Such cells
are left out of the synthetic arms' means and of the paired differences, listed under the table, and every mean
shows how many seeds it rests on when that is fewer than the row's."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from ..atomic import write_text
from .plot import line_plot

ARMS = {
    "a": "real",
    "b": "real + classic",
    "c": "real + synthetic",
    "d": "real + classic + synthetic",
    "e": "synthetic only",
}
PAIRS = (("c", "a"), ("d", "b"))  # synthetic added vs not, without and with classic augmentation
SYNTHETIC_ARMS = "cde"  # arms whose result depends on synthetic images


def mean_interval(values: list[float]) -> tuple[float, float, int]:
    """(mean, half-width of the 95% t-interval, n) over the finite values; the half-width is nan for n < 2."""
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if not len(finite):
        return math.nan, math.nan, 0
    if len(finite) < 2:
        return float(finite[0]), math.nan, 1
    half = stats.t.ppf(0.975, len(finite) - 1) * finite.std(ddof=1) / math.sqrt(len(finite))
    return float(finite.mean()), float(half), len(finite)


def without_synthetic(rows: list[dict]) -> list[tuple[int, int]]:
    """Sorted (per_class, seed) cells whose synthetic set was empty (the filter kept no image)."""
    return sorted(
        {
            (int(r["per_class"]), int(r["seed"]))
            for r in rows
            if r["arm"] in SYNTHETIC_ARMS and int(r.get("synthetic_images", 1)) == 0
        }
    )


def accuracies(rows: list[dict]) -> dict[tuple[int, str], dict[int, float]]:
    """(per_class, arm) -> {seed: accuracy in points (percent)}; synthetic arms of cells without synthetic images
    are left out (they measured no synthetic data)."""
    empty = set(without_synthetic(rows))
    table: dict[tuple[int, str], dict[int, float]] = {}
    for row in rows:
        size, seed = int(row["per_class"]), int(row["seed"])
        if row["arm"] in SYNTHETIC_ARMS and (size, seed) in empty:
            continue
        table.setdefault((size, row["arm"]), {})[seed] = 100 * float(row["accuracy"])
    return table


def label_fidelity_summary(rows: list[dict]) -> dict[int, tuple[float, float, int]]:
    """per_class -> (mean, 95% half-width, n) of the cells' GAN label fidelity in %, over the seeds that have one
    (none where no shipped classifier knows the classes, or for rows written before the column existed)."""
    cells = {(int(r["per_class"]), int(r["seed"])): r.get("gan_label_acc") or "" for r in rows}
    sizes = sorted({size for size, _ in cells})
    return {
        size: mean_interval([100 * float(value) for (s, _), value in cells.items() if s == size and value])
        for size in sizes
    }


def arm_summary(rows: list[dict]) -> dict[tuple[int, str], tuple[float, float, int]]:
    return {key: mean_interval(list(seeds.values())) for key, seeds in accuracies(rows).items()}


def paired_difference(rows: list[dict], minuend: str, subtrahend: str) -> dict[int, tuple[float, float, int]]:
    """per_class -> (mean, 95% half-width, n) of the per-seed differences minuend - subtrahend, in points."""
    table = accuracies(rows)
    sizes = sorted({size for size, _ in table})
    out = {}
    for size in sizes:
        first, second = table.get((size, minuend), {}), table.get((size, subtrahend), {})
        out[size] = mean_interval([first[seed] - second[seed] for seed in sorted(set(first) & set(second))])
    return out


def _cell(mean: float, half: float, n: int | None = None, seeds: int | None = None, signed: bool = False) -> str:
    """'92.1 ± 1.8'; '(n=2)' appended when the mean rests on fewer than the row's `seeds`; 'no data' for none."""
    if n == 0 or math.isnan(mean):
        return "no data"
    text = f"{mean:+.1f}" if signed else f"{mean:.1f}"
    text = text if math.isnan(half) else f"{text} ± {half:.1f}"
    return text if n is None or seeds is None or n >= seeds else f"{text} (n={n})"


def verdict(mean: float, half: float, n: int) -> str:
    if n == 0:
        return "no cell with synthetic images"
    if n < 2 or math.isnan(half):
        return "one seed: no interval"
    if mean - half > 0:
        return "gain (interval above 0)"
    if mean + half < 0:
        return "loss (interval below 0)"
    return "no significant difference"


def markdown(rows: list[dict], settings) -> str:
    """The results table: accuracy per arm (mean ± 95% interval over seeds, in %) and the paired differences."""
    summary = arm_summary(rows)
    sizes = sorted({size for size, _ in summary})
    differences = {pair: paired_difference(rows, *pair) for pair in PAIRS}
    cells = {(int(r["per_class"]), int(r["seed"])): float(r["gan_cpu_s"]) for r in rows}
    cpu_minutes = (sum(cells.values()) + sum(float(r["arm_cpu_s"]) for r in rows)) / 60
    lines = [
        f"# Synthetic data for a small labelled set: {settings.data}",
        "",
        f"Test accuracy in % (mean ± 95% t-interval over seeds; the test set is every image not in the "
        f"training subset). Conditional {settings.model} trained on each subset only for {settings.gan_kimg:g} "
        f"kimg{f' or {settings.minutes:g} min' if settings.minutes else ''} at {settings.resolution} px "
        f"(D augmentation: {settings.gan_augment}); {settings.synthetic_per_class} synthetic images per class"
        f"{f', filter: confident >= {settings.confidence:g}' if settings.filter == 'confident' else ''}; "
        f"synthetic share of each batch {settings.synthetic_fraction:g}; every classifier: "
        f"{settings.classifier_steps} steps. {len(cells)} cells, {cpu_minutes:.0f} CPU minutes.",
        "",
        "| per class | seeds | "
        + " | ".join(f"({arm}) {name}" for arm, name in ARMS.items())
        + " | c − a | d − b | GAN label fidelity |",
        "|---:|---:|" + "---:|" * (len(ARMS) + 3),
    ]
    fidelity = label_fidelity_summary(rows)
    seeds_run = {size: len({int(r["seed"]) for r in rows if int(r["per_class"]) == size}) for size in sizes}
    for size in sizes:
        seeds = seeds_run[size]
        arms = [_cell(*summary.get((size, arm), (math.nan, math.nan, 0)), seeds) for arm in ARMS]
        diffs = [_cell(*differences[pair][size], seeds, signed=True) for pair in PAIRS]
        lines.append(f"| {size} | {seeds} | " + " | ".join(arms + diffs + [_cell(*fidelity[size], seeds)]) + " |")
    lines += [
        "",
        "GAN label fidelity: share of unfiltered samples of each class that the shipped classifier of the "
        "domain (digits or shapes) reads as that class, mean over classes, in % (the `label_acc` metric; "
        "chance = 100 / classes); 'no data' where no shipped classifier knows the classes.",
    ]
    empty = without_synthetic(rows)
    if empty:
        shown = ", ".join(f"{size}/class seed {seed}" for size, seed in empty)
        lines += [
            "",
            f"No synthetic image survived the filter in {len(empty)} cell(s): {shown}. There (c) and (d) "
            f"equal (a) and (b) by construction and (e) has no data, so those cells are left out of "
            f"(c), (d), (e), c − a and d − b; (n=k) marks a mean over fewer seeds than the row's.",
        ]
    lines += ["", "Paired differences (same subset and seed), in accuracy points:"]
    for size in sizes:
        for minuend, subtrahend in PAIRS:
            mean, half, n = differences[(minuend, subtrahend)][size]
            lines.append(
                f"- {size}/class, {minuend} − {subtrahend}: {_cell(mean, half, signed=True)} over {n} "
                f"seed{'s' if n != 1 else ''} ({verdict(mean, half, n)})"
            )
    return "\n".join(lines + [""])


def write_report(rows: list[dict], out: Path, settings) -> None:
    """results.md and plot.png in `out` from the rows so far."""
    write_text(out / "results.md", markdown(rows, settings))
    summary = arm_summary(rows)
    series = {
        f"({arm}) {name}": {size: summary[(size, a)][:2] for (size, a) in summary if a == arm}
        for arm, name in ARMS.items()
    }
    seeds = max((n for _, _, n in summary.values()), default=0)
    line_plot(
        series,
        out / "plot.png",
        title=f"{settings.data}: test accuracy vs training images per class "
        f"(mean ± 95% interval, {seeds} seed{'s' if seeds != 1 else ''})",
    )

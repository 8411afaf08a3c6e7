"""Readable tables of metric results: a line per value with its meaning (from the metric registry), nested reports
(modes, memorisation), metrics that could not run with the reason, and warnings."""

from __future__ import annotations

from .measures import EXTRACTOR, METRICS, NOT_COMPUTED, NUM_FAKE, NUM_PAIRS, NUM_REAL, RESOLUTION, WARNINGS
from .unpaired import UNPAIRED, unpaired_lines


def format_table(results: dict) -> str:
    """Metric | value | meaning lines in the registry's order, then what was not computed and the warnings (an
    unpaired translation model's results: its own table, unpaired.unpaired_lines)."""
    if UNPAIRED in results:
        return "\n".join(unpaired_lines(results))
    lines = []
    if NUM_PAIRS in results:
        lines.append(f"held-out pairs: {results[NUM_PAIRS]}")
    if EXTRACTOR in results:
        size = f", at {results[RESOLUTION]} px" if RESOLUTION in results else ""
        lines.append(
            f"extractor: {results[EXTRACTOR]}  (real {results.get(NUM_REAL)}, generated {results.get(NUM_FAKE)}{size})"
        )
    for metric in METRICS.entries():
        present = [key for key in metric.keys if key in results]
        if present and metric.lines is not None:
            lines.extend(metric.lines(results))
            continue
        for key in present:
            spread = results.get(f"{key}_std")
            value = f"{results[key]:.5g}" + (f" ± {spread:.2g}" if spread is not None else "")
            lines.append(f"  {key:>22}  {value:<18} {metric.keys[key]}")
    for name, reason in results.get(NOT_COMPUTED, {}).items():
        lines.append(f"  {name:>22}  not computed: {reason}")
    lines.extend(f"warning: {text}" for text in results.get(WARNINGS, []))
    return "\n".join(lines)

"""Human judgements of realism, the HYPE-infinity-style metric (Zhou et al. 2019): in each round a person sees one
real and one generated image and picks the one they think is real. The fool rate is the fraction of rounds in which
they picked the generated image (chance is 50%), reported with a 95% Wilson score interval (Wilson 1927), per
checkpoint and truncation (a pooled rate would mix different generators).

Judgements live in RUN_DIR/human_eval.jsonl, one JSON object a line; each new line is written by rewriting the file
atomically (a crash never leaves half a line), under a lock so concurrent players never lose a line."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_open
from ..errors import DataError

FILE_NAME = "human_eval.jsonl"
Z_95 = 1.959963984540054  # two-sided 95% quantile of the standard normal
_append_lock = threading.Lock()


def append_judgement(run_dir: Path, record: dict[str, Any]) -> Path:
    """Add one judgement line to run_dir/human_eval.jsonl (atomic replace of the whole file)."""
    path = Path(run_dir) / FILE_NAME
    line = json.dumps(record, sort_keys=True) + "\n"
    with _append_lock:
        old = path.read_bytes() if path.exists() else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        with atomic_open(path, "wb") as handle:
            handle.write(old + line.encode())
    return path


def read_judgements(run_dir: Path) -> list[dict[str, Any]]:
    """All judgements of a run; a line that is not a JSON object is an error naming the file and line."""
    path = Path(run_dir) / FILE_NAME
    if not path.is_file():
        raise DataError(f"{path}: no such file; play the studio's 'Which is real?' game on this run first")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("fooled"), bool):
            raise DataError(f"{path}:{number}: a judgement needs a true/false 'fooled' field")
        records.append(record)
    return records


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) for no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    denominator = 1 + z * z / trials
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


@dataclass(frozen=True)
class FoolRate:
    fooled: int  # judgements in which the generated image was taken for the real one
    total: int  # all judgements
    low: float  # 95% Wilson interval
    high: float

    @property
    def rate(self) -> float:
        return self.fooled / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"fooled": self.fooled, "total": self.total, "fool_rate": self.rate, "low": self.low, "high": self.high}

    def __str__(self) -> str:
        return (
            f"fool rate {100 * self.rate:.1f}% ({self.fooled}/{self.total} judgements; 95% Wilson interval "
            f"{100 * self.low:.1f}-{100 * self.high:.1f}%; chance is 50%)"
        )


def fool_rate(records: list[dict[str, Any]]) -> FoolRate:
    fooled = sum(1 for record in records if record["fooled"])
    return FoolRate(fooled, len(records), *wilson_interval(fooled, len(records)))


def group_key(record: dict[str, Any]) -> tuple[str, float]:
    """(checkpoint, truncation) a judgement belongs to; lines written before checkpoints were logged use kimg."""
    checkpoint = record.get("checkpoint") or f"kimg {record.get('kimg', '?')}"
    return str(checkpoint), float(record.get("truncation", 1.0))


def fool_rates_by_group(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One fool rate per (checkpoint, truncation): pooling them would mix different generators."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(group_key(record), []).append(record)
    return [
        {"checkpoint": checkpoint, "truncation": truncation, **fool_rate(members).to_dict()}
        for (checkpoint, truncation), members in sorted(groups.items())
    ]


def archive(run_dir: Path) -> Path | None:
    """Start a fresh log: rename human_eval.jsonl to human_eval-<UTC time>.jsonl (nothing is deleted); None when
    there was no log."""
    path = Path(run_dir) / FILE_NAME
    with _append_lock:
        if not path.is_file():
            return None
        target = path.with_name(f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}{path.suffix}")
        number = 1
        while target.exists():
            number += 1
            target = target.with_name(
                f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{number}{path.suffix}"
            )
        path.rename(target)
        return target

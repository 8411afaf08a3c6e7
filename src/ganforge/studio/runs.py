"""What the Train page shows about a run folder, whoever started it: config, stats.jsonl rows (losses, img/s),
metrics.jsonl rows, the newest sample grid, progress in kimg, an ETA and whether it is training, finished or stopped
early."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..artifacts.checkpoint import list_checkpoints
from ..artifacts.rundir import LOCK_NAME, RUN_PATTERN

MAX_ROWS = 2000  # rows of stats.jsonl sent to the page (evenly thinned beyond this)


def list_runs(runs: Path) -> list[Path]:
    """Numbered run folders under `runs`, newest first."""
    if not runs.is_dir():
        return []
    return sorted((p for p in runs.iterdir() if p.is_dir() and RUN_PATTERN.match(p.name)), reverse=True)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """JSON-object lines of a file that may be being appended to (a torn last line is skipped)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def newest_grid(run: Path) -> Path | None:
    samples = run / "samples"
    if (samples / "final.png").is_file():
        return samples / "final.png"
    grids = sorted(samples.glob("fakes-*.png"))
    return grids[-1] if grids else None


def run_state(run: Path, kimg: float, total_kimg: float) -> str:
    """training (a process holds the run's lock), finished (reached --kimg), stopped (final samples written before
    --kimg: Stop, --minutes), or incomplete (ended without final samples: crashed or killed)."""
    if (run / LOCK_NAME).exists():
        return "training"
    if not (run / "samples" / "final.png").is_file():
        return "incomplete"
    return "finished" if total_kimg and kimg >= total_kimg * 0.999 else "stopped"


def run_summary(run: Path) -> dict[str, Any]:
    """The Train page's view of one run (no images: the grid is fetched by path)."""
    try:
        config = json.loads((run / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        config = {}
    stats_file = run / "stats.jsonl"
    stats = read_jsonl(stats_file)
    updated_s_ago = time.time() - stats_file.stat().st_mtime if stats_file.is_file() else None
    last = stats[-1] if stats else {}
    total_kimg = float(config.get("train", {}).get("total_kimg") or 0)
    kimg = float(last.get("kimg", 0.0))
    rate = float(last.get("img_per_s", 0.0))
    eta_s = (total_kimg - kimg) * 1000 / rate if rate > 0 and total_kimg > kimg else 0.0
    if len(stats) > MAX_ROWS:
        stats = stats[:: len(stats) // MAX_ROWS + 1] + [last]
    return {
        "name": run.name,
        "model": config.get("model", {}).get("name"),
        "data": config.get("data", {}).get("source"),
        "resolution": config.get("data", {}).get("resolution"),
        "total_kimg": total_kimg,
        "kimg": kimg,
        "img_per_s": rate,
        "eta_s": round(eta_s, 1),
        "updated_s_ago": None if updated_s_ago is None else round(updated_s_ago, 1),
        "last": last,
        "stats": stats,
        "metrics": read_jsonl(run / "metrics.jsonl"),
        "checkpoints": len(list_checkpoints(run)),
        "finished": (run / "samples" / "final.png").is_file(),
        "state": run_state(run, kimg, total_kimg),
        "grid": newest_grid(run),
    }

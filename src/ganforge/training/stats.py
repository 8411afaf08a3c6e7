"""What a run reports while it trains: a progress bar, stats.jsonl rows and TensorBoard scalars/images (rank 0).

A resumed run continues its logs from the checkpoint: rows and events a killed process wrote after its last
checkpoint are dropped, and TensorBoard's events move into the resumed process's event file, one stream per run."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import write_text

LOGS = ("stats.jsonl", "metrics.jsonl")
EVENTS_GLOB = "events.out.tfevents.*"


def _row_kimg(line: str) -> float | None:
    """The kimg of a jsonl row, None for a line that is not a complete row (a write cut short by a kill)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row.get("kimg") if isinstance(row, dict) and isinstance(row.get("kimg"), (int, float)) else None


def trim_logs(run_dir: Path, images_seen: int) -> None:
    """Rewrite stats.jsonl and metrics.jsonl without the rows after `images_seen` (and torn lines), so a resumed
    run does not repeat the rows of the steps it trains again."""
    kimg = round(images_seen / 1000, 3)
    for name in LOGS:
        path = run_dir / name
        if not path.is_file():
            continue
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if (row_kimg := _row_kimg(line)) is not None and row_kimg <= kimg]
        if len(kept) != len(lines):
            write_text(path, "".join(line if line.endswith("\n") else line + "\n" for line in kept))


def _carry_events(writer, old: list[Path], images_seen: int) -> None:
    """Copy the events of the run's earlier event files `old` (oldest first) up to step `images_seen` into `writer`'s
    new file, the newest value of each (tag, step) once, then delete those files: TensorBoard shows one stream,
    without the steps a killed process logged and the resumed one repeats. Two passes, so that sample images are
    never all held in memory at once."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    def summaries():
        for file_index, path in enumerate(old):
            for event_index, event in enumerate(EventFileLoader(str(path)).Load()):
                if event.HasField("summary") and event.step <= images_seen:
                    yield (file_index, event_index), event

    latest = {(event.step, tuple(value.tag for value in event.summary.value)): where for where, event in summaries()}
    chosen = set(latest.values())
    for where, event in summaries():
        if where in chosen:
            writer.file_writer.add_event(event, step=event.step, walltime=event.wall_time)
    writer.flush()
    for path in old:
        path.unlink(missing_ok=True)


class RunReporter:
    """Progress bar in images (shows img/s and ETA) with kimg and losses; appends stats.jsonl; TensorBoard."""

    def __init__(
        self,
        run_dir: Path,
        total_images: int,
        start_images: int,
        enabled: bool = True,
        show_bar: bool = True,
        tensorboard: bool = True,
    ):
        self.run_dir = run_dir
        self.enabled = enabled  # False on ranks other than 0: nothing is written or shown
        self.bar = tqdm(
            total=total_images,
            initial=start_images,
            unit="img",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not (enabled and show_bar),
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
            smoothing=0.1,
            desc="train",
        )
        self.tensorboard = enabled and tensorboard
        self._writer = None  # made at the first write, so a run killed at start-up leaves no empty event file
        self.start_images = start_images
        self.last_time, self.last_images = time.perf_counter(), start_images
        if enabled and start_images > 0:
            trim_logs(run_dir, start_images)

    @property
    def writer(self):
        """The TensorBoard writer (None when TensorBoard logs are off)."""
        if self.tensorboard and self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            old = sorted(self.run_dir.glob(EVENTS_GLOB))
            self._writer = SummaryWriter(str(self.run_dir))
            if self.start_images > 0 and old:
                _carry_events(self._writer, old, self.start_images)
        return self._writer

    def advance(self, images: int) -> None:
        self.bar.update(images)

    def log(self, images_seen: int, scalars: dict[str, float]) -> dict[str, float]:
        """Record one row of averaged statistics; returns it with kimg and img/s added."""
        now = time.perf_counter()
        rate = (images_seen - self.last_images) / max(now - self.last_time, 1e-9)
        self.last_time, self.last_images = now, images_seen
        row = {
            "kimg": round(images_seen / 1000, 3),
            **{k: round(v, 5) for k, v in scalars.items()},
            "img_per_s": round(rate, 1),
        }
        if not self.enabled:
            return row
        self.bar.set_postfix(
            {k: f"{v:.3f}" for k, v in scalars.items()} | {"kimg": f"{images_seen / 1000:.1f}"}, refresh=False
        )
        with open(self.run_dir / "stats.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if key != "kimg":
                    self.writer.add_scalar(
                        key.replace("_", "/", 1) if key.startswith("loss") else f"progress/{key}",
                        value,
                        global_step=images_seen,
                    )
        return row

    def metrics(self, images_seen: int, values: dict[str, float]) -> None:
        """Append an evaluation row to metrics.jsonl and TensorBoard (metrics/NAME)."""
        if not self.enabled:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps({"kimg": round(images_seen / 1000, 3), **values}) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"metrics/{key}", value, global_step=images_seen)

    def image(self, tag: str, grid: np.ndarray, images_seen: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, grid, global_step=images_seen, dataformats="HWC")

    def message(self, text: str) -> None:
        if self.enabled:
            self.bar.write(text)

    def close(self) -> None:
        self.bar.close()
        if self._writer is not None:
            self._writer.close()

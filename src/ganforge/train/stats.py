"""What a run reports while it trains: a progress bar, stats.jsonl rows and TensorBoard scalars/images (rank 0)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm


class RunReporter:
    """Progress bar in images (shows img/s and ETA) with kimg and losses; appends stats.jsonl; TensorBoard."""

    def __init__(self, run_dir: Path, total_images: int, start_images: int, enabled: bool = True,
                 show_bar: bool = True, tensorboard: bool = True):
        self.run_dir = run_dir
        self.enabled = enabled  # False on ranks other than 0: nothing is written or shown
        self.bar = tqdm(total=total_images, initial=start_images, unit="img", unit_scale=True, dynamic_ncols=True,
                        disable=not (enabled and show_bar), mininterval=1.0 if sys.stderr.isatty() else 30.0, smoothing=0.1,
                        desc="train")
        self.tensorboard = enabled and tensorboard
        self._writer = None  # made at the first write, so a run killed at start-up leaves no empty event file
        self.last_time, self.last_images = time.perf_counter(), start_images

    @property
    def writer(self):
        """The TensorBoard writer (None when TensorBoard logs are off)."""
        if self.tensorboard and self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir))
        return self._writer

    def advance(self, images: int) -> None:
        self.bar.update(images)

    def log(self, images_seen: int, scalars: dict[str, float]) -> dict[str, float]:
        """Record one row of averaged statistics; returns it with kimg and img/s added."""
        now = time.perf_counter()
        rate = (images_seen - self.last_images) / max(now - self.last_time, 1e-9)
        self.last_time, self.last_images = now, images_seen
        row = {"kimg": round(images_seen / 1000, 3), **{k: round(v, 5) for k, v in scalars.items()},
               "img_per_s": round(rate, 1)}
        if not self.enabled:
            return row
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in scalars.items()} | {"kimg": f"{images_seen / 1000:.1f}"},
                             refresh=False)
        with open(self.run_dir / "stats.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if key != "kimg":
                    self.writer.add_scalar(key.replace("_", "/", 1) if key.startswith("loss") else f"progress/{key}",
                                           value, global_step=images_seen)
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

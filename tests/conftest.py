"""Shared fixtures: small thread counts, tiny training configs, and image folders with every awkward file kind."""

from __future__ import annotations

import builtins
import errno
import json
import os
import resource
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(2)

# The fast tier's guard: a test not marked slow may spend at most this many CPU seconds (this process and the
# children it waited for) in its set-up and body. CPU time, not wall time, so a loaded machine does not trip it.
SLOW_LIMIT_CPU_S = float(os.environ.get("GANFORGE_SLOW_LIMIT", "5"))
TIMINGS_FILE = os.environ.get("GANFORGE_TIMINGS")  # where to write every test's CPU seconds, as JSON lines


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    start = _cpu_seconds()
    yield
    item.cpu_seconds = _cpu_seconds() - start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    start = _cpu_seconds()
    yield
    item.cpu_seconds = getattr(item, "cpu_seconds", 0.0) + _cpu_seconds() - start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail a passing test that is not marked slow but took more CPU time than the fast tier allows."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call":
        return
    spent = getattr(item, "cpu_seconds", 0.0)
    if TIMINGS_FILE:
        with open(TIMINGS_FILE, "a") as log:
            log.write(
                json.dumps({"test": item.nodeid, "cpu_s": round(spent, 2), "slow": "slow" in item.keywords}) + "\n"
            )
    if report.passed and "slow" not in item.keywords and spent > SLOW_LIMIT_CPU_S:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} took {spent:.1f} CPU s, over the fast tier's {SLOW_LIMIT_CPU_S:g} s: "
            "mark it @pytest.mark.slow or make it faster"
        )


# A training config small enough for a few seconds on a 2-core CPU.
TINY = {
    "data.source": "shapes",
    "data.resolution": 16,
    "model.g_channels": 16,
    "model.d_channels": 16,
    "train.batch": 16,
    "train.total_kimg": 0.096,
    "train.snapshot_every_kimg": 0.048,
    "train.grid_size": 8,
}


def tiny_cli_flags(data: str = "shapes") -> list[str]:
    """`ganforge train` flags of a tiny DCGAN (16 px, widths 8, batch 16) on `data`; callers add length and output."""
    return ["--data", data, "--resolution", "16", "--g-channels", "8", "--d-channels", "8", "--batch", "16"]


@pytest.fixture
def tiny(tmp_path) -> dict:
    return {**TINY, "train.out": str(tmp_path / "runs")}


def write_image(path: Path, mode: str, size=(40, 30), seed: int = 0) -> Path:
    """An image file of the given PIL mode with random content."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    if mode in ("RGB", "CMYK", "RGBA"):
        image = Image.fromarray(rng.integers(0, 256, (h, w, len(mode)), dtype=np.uint8), mode=mode)
    elif mode == "L":
        image = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), mode="L")
    elif mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    elif mode == "P":
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert("P")
    else:
        raise ValueError(mode)
    image.save(path)
    return path


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    """Two classes in sub-folders, mixed formats and modes, plus a corrupt file and a non-image."""
    root = tmp_path / "photos"
    write_image(root / "cats" / "a.png", "RGB", seed=1)
    write_image(root / "cats" / "b.jpg", "RGB", (64, 48), seed=2)
    write_image(root / "cats" / "c.png", "RGBA", seed=3)
    write_image(root / "dogs" / "d.png", "P", seed=4)
    write_image(root / "dogs" / "e.png", "L", seed=5)
    write_image(root / "dogs" / "f.bmp", "RGB", seed=6)
    write_image(root / "dogs" / "g.webp", "RGB", seed=7)
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


def labels_json(root: Path, mapping: dict) -> None:
    (root / "labels.json").write_text(json.dumps(mapping))


class _FullDiskFile:
    """A file whose writes fail with ENOSPC once `room` bytes were written, as on a full disk."""

    def __init__(self, handle, room: int):
        self._handle, self._room = handle, room

    def write(self, data) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self._handle.__exit__(*exc_info)


@pytest.fixture
def disk_full(monkeypatch):
    """disk_full(part, room=0): from then on, files opened for writing (atomic writes open their temp file with
    open() or os.fdopen) whose path contains `part` fail with ENOSPC after `room` bytes."""

    def fill(part: str, room: int = 0) -> None:
        real_fdopen, real_open = os.fdopen, builtins.open

        def fdopen(fd, *args, **kwargs):
            handle = real_fdopen(fd, *args, **kwargs)
            return _FullDiskFile(handle, room) if part in os.readlink(f"/proc/self/fd/{fd}") else handle

        def open_(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            writing = any(flag in mode for flag in "wax+")
            return _FullDiskFile(handle, room) if writing and part in str(file) else handle

        monkeypatch.setattr(os, "fdopen", fdopen)
        monkeypatch.setattr(builtins, "open", open_)

    return fill

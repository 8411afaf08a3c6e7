"""Training runs started from the studio: each a separate `python -m ganforge train ... --out RUNS --name NAME`
process whose stderr goes to RUNS/.studio-logs/NAME.log; stopped with SIGTERM (ganforge train then writes a final
snapshot), killed if it has not exited after a grace period. A run that exits non-zero keeps its error for the page."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StudioError

NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
ERROR_TAIL_CHARS = 4000  # stderr shown for a failed run
# form field -> (train flag, type); the form may send only these
FORM_FLAGS = {"data": ("--data", str), "model": ("--model", str), "preset": ("--preset", str),
              "kimg": ("--kimg", float), "resolution": ("--resolution", int), "batch": ("--batch", int),
              "snapshot_kimg": ("--snapshot-kimg", float), "augment": ("--augment", str),
              "g_channels": ("--g-channels", int), "d_channels": ("--d-channels", int), "grid": ("--grid", int),
              "seed": ("--seed", int)}


@dataclass
class Job:
    id: str
    name: str  # run-folder suffix: the run is RUNS/NNNNN-<name>
    command: list[str]
    log: Path  # the process's stdout and stderr
    process: subprocess.Popen
    started: float = field(default_factory=time.time)
    stop_requested: bool = False

    @property
    def state(self) -> str:
        code = self.process.poll()
        if code is None:
            return "stopping" if self.stop_requested else "running"
        if self.stop_requested:
            return "stopped"
        return "finished" if code == 0 else "failed"

    def run_dir(self, runs: Path) -> Path | None:
        found = sorted(p for p in runs.glob(f"[0-9][0-9][0-9][0-9][0-9]-{self.name}") if p.is_dir())
        return found[-1] if found else None

    def error_text(self) -> str:
        if self.state != "failed" or not self.log.is_file():
            return ""
        text = self.log.read_text(errors="replace")
        return text[-ERROR_TAIL_CHARS:]


def train_command(form: dict[str, Any], runs: Path, name: str) -> list[str]:
    """The `ganforge train` command line for a form; unknown or mistyped fields are a 400 naming the field."""
    command = [sys.executable, "-m", "ganforge", "train", "--out", str(runs), "--name", name, "--no-progress"]
    for key, value in form.items():
        if key == "name" or value in (None, ""):
            continue
        if key not in FORM_FLAGS:
            raise StudioError(400, f"training form: unknown field {key!r} (known: {', '.join(FORM_FLAGS)})")
        flag, kind = FORM_FLAGS[key]
        try:
            typed = kind(value)
        except (TypeError, ValueError):
            raise StudioError(400, f"training form: {key} must be a {kind.__name__}, got {value!r}") from None
        if isinstance(typed, str) and (typed.startswith("-") or "\n" in typed):
            raise StudioError(400, f"training form: {key} {typed!r} is not a valid value")
        command += [flag, str(typed)]
    if "data" not in form or not form["data"]:
        raise StudioError(400, "training form: data is required (e.g. shapes, digits, or a folder)")
    return command


class Jobs:
    """The studio's training processes, by id."""

    def __init__(self, runs: Path, grace_s: float = 30.0, max_running: int = 2):
        self.runs = runs
        self.grace_s = grace_s  # after SIGTERM, wait this long for the final snapshot before SIGKILL
        self.max_running = max_running
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, form: dict[str, Any]) -> Job:
        with self._lock:
            if sum(job.process.poll() is None for job in self._jobs.values()) >= self.max_running:
                raise StudioError(429, f"{self.max_running} training runs are already running; stop one first")
            job_id = uuid.uuid4().hex[:8]
            base = NAME_UNSAFE.sub("_", str(form.get("name") or "studio")).strip("_.")[:40] or "studio"
            name = f"{base}-{job_id}"
            command = train_command(form, self.runs, name)
            log = self.runs / ".studio-logs" / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "wb") as handle:
                process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
            job = self._jobs[job_id] = Job(job_id, name, command, log, process)
            return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise StudioError(404, f"training job {job_id!r}: no such job")
        return job

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def stop(self, job_id: str) -> Job:
        """SIGTERM now; a watcher thread kills the process if it outlives the grace period."""
        job = self.get(job_id)
        if job.process.poll() is None:
            job.stop_requested = True
            job.process.send_signal(signal.SIGTERM)
            threading.Thread(target=self._kill_after_grace, args=(job,), daemon=True).start()
        return job

    def _kill_after_grace(self, job: Job) -> None:
        try:
            job.process.wait(self.grace_s)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()

    def shutdown(self) -> None:
        """Stop every running job (the studio is exiting) and wait for them."""
        for job in self.all():
            if job.process.poll() is None:
                self.stop(job.id)
        for job in self.all():
            try:
                job.process.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()

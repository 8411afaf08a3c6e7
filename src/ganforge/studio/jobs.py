"""Training runs started from the studio: each a separate `python -m ganforge train ... --out RUNS --name NAME`
process whose stderr goes to RUNS/.studio-logs/NAME.log; stopped with SIGTERM (ganforge train then writes a final
snapshot), killed if it has not exited after a grace period. A run that exits non-zero keeps its error for the page.

A form is checked before any process starts: its fields by the same config checks `ganforge train` runs, the
studio's caps on size, and its data against the built-in sets and the data roots (`--data-root`); at most
`max_running` runs at once and `max_starts_per_minute` starts a minute."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text
from .errors import StudioError
from .paths import SafeRoots

NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
ERROR_TAIL_CHARS = 4000  # stderr shown for a failed run
MAX_TEXT = 500  # characters of any text field of the form
# form field -> config key; the form may send only these (and name, preset); the flag comes from config.flag
FORM_KEYS = {
    "data": "data.source",
    "model": "model.name",
    "kimg": "train.total_kimg",
    "resolution": "data.resolution",
    "batch": "train.batch",
    "snapshot_kimg": "train.snapshot_every_kimg",
    "augment": "augment.policy",
    "g_channels": "model.g_channels",
    "d_channels": "model.d_channels",
    "grid": "train.grid_size",
    "seed": "train.seed",
    "minutes": "train.minutes",
}
# what a run started from the browser may ask for, beyond what `ganforge train` itself checks
STUDIO_CAPS = {
    "train.total_kimg": 100_000.0,
    "train.batch": 1024,
    "data.resolution": 1024,
    "model.g_channels": 1024,
    "model.d_channels": 1024,
}
PATH_DATASETS = ("pairs", "celeba", "ffhq", "mnist")  # built-in loaders that may read a NAME:PATH folder
TERMINATED = -signal.SIGTERM  # return code of a process that SIGTERM ended
MAX_STARTS_PER_MINUTE = 6  # spawns, failed ones included: a looping script cannot fill the machine with processes


@dataclass
class Job:
    id: str
    name: str  # run-folder suffix: the run is RUNS/NNNNN-<name>
    command: list[str]
    log: Path  # the process's stdout and stderr
    process: subprocess.Popen | None  # None: started by an earlier studio session (read back from its record)
    started: float = field(default_factory=time.time)
    stop_requested: bool = False
    run: Path | None = None  # the run folder, when known up front (a resumed run)
    returncode: int | None = None  # of a job of an earlier session

    def poll(self) -> int | None:
        return self.process.poll() if self.process is not None else self.returncode

    @property
    def state(self) -> str:
        code = self.poll()
        if code is None:
            return "stopping" if self.stop_requested else "running"
        if self.stop_requested or code == TERMINATED:
            return "stopped"
        return "finished" if code == 0 else "failed"

    def run_dir(self, runs: Path) -> Path | None:
        if self.run is not None:
            return self.run if self.run.is_dir() else None
        found = sorted(p for p in runs.glob(f"[0-9][0-9][0-9][0-9][0-9]-{self.name}") if p.is_dir())
        return found[-1] if found else None

    def record(self) -> dict[str, Any]:
        """What RUNS/.studio-logs/NAME.json keeps of the job, so that a restarted studio lists it."""
        return {
            "id": self.id,
            "name": self.name,
            "command": self.command,
            "started": self.started,
            "run": str(self.run) if self.run else None,
            "returncode": self.poll(),
            "stop_requested": self.stop_requested,
        }

    def error_text(self) -> str:
        if self.state != "failed" or not self.log.is_file():
            return ""
        text = self.log.read_text(errors="replace")
        return text[-ERROR_TAIL_CHARS:]


class DataAccess:
    """What a run started from the studio may train on: the built-in sets, and folders or zips under the data roots
    (`--data-root`; the runs folder is always one). Anything else is refused before a process is started."""

    def __init__(self, roots: list[Path]):
        self.roots = SafeRoots(roots)

    @staticmethod
    def builtin() -> list[str]:
        from ..data import DATASETS

        return [name for name in DATASETS.names() if name not in PATH_DATASETS[:3]] + ["digits-stylized"]

    def resolve(self, source: str) -> str:
        """The --data value for a form's data: a built-in name, NAME:PATH or a path, the path inside a data root."""
        if source in self.builtin():
            return source
        name, colon, rest = source.partition(":")
        if colon and name in PATH_DATASETS:
            return f"{name}:{self._inside(rest)}"
        return str(self._inside(source))

    def _inside(self, text: str) -> Path:
        path = Path(text).expanduser()
        if not path.is_absolute() and path.parts and path.parts[0] in self.roots.roots:
            return self.roots.resolve(text, "training form: data")  # '<root label>/<path>', as the picker lists
        real = path.resolve()
        if not path.is_absolute() or not any(
            real == root.path or real.is_relative_to(root.path) for root in self.roots.roots.values()
        ):
            raise StudioError(
                403,
                f"training form: data {text!r} is not a built-in set ({', '.join(self.builtin())}) "
                f"nor a folder under the data roots ({', '.join(self.roots.roots)}); start the "
                f"studio with --data-root FOLDER to train on FOLDER",
            )
        if not real.exists():
            raise StudioError(404, f"training form: data {text!r}: no such file or folder")
        return real

    def choices(self) -> list[str]:
        """The data picker: built-in sets, then the folders and zips directly inside each data root."""
        found = list(self.builtin())
        for root in self.roots.roots.values():
            for child in sorted(root.path.iterdir()) if root.path.is_dir() else []:
                if not child.name.startswith(".") and (child.is_dir() or child.suffix.lower() == ".zip"):
                    found.append(f"{root.label}/{child.name}")
        return found


def _form_value(key: str, value: Any) -> Any:
    """A form value as `ganforge train` would parse its flag (text -> number for number settings); the config's own
    checks then judge it."""
    from .. import config

    kind = dict(config.settings())[key].type.partition(" | ")[0]
    if isinstance(value, str) and kind in ("int", "float"):
        try:
            return int(value) if kind == "int" else float(value)
        except ValueError:
            pass  # the config check names the flag and the expected type
    return value


def resume_command(run: Path, form: dict[str, Any], runs: Path) -> list[str]:
    """`ganforge train --resume RUN` with the form's kimg / minutes, checked against the run's saved config."""
    from .. import config
    from ..errors import ConfigError

    allowed = {key: FORM_KEYS[key] for key in ("kimg", "minutes")}
    unknown = set(form) - set(allowed)
    if unknown:
        raise StudioError(400, f"resume: only {', '.join(allowed)} may change (got {', '.join(sorted(unknown))})")
    overrides = {
        allowed[key]: _form_value(allowed[key], value) for key, value in form.items() if value not in (None, "")
    }
    try:
        config.from_dict(config.load_file(run / "config.json")).replace(**overrides)
    except ConfigError as error:
        raise StudioError(400, f"resume {run.name}: {error}") from None
    for key, value in overrides.items():
        if key in STUDIO_CAPS and value > STUDIO_CAPS[key]:
            raise StudioError(
                400, f"resume: {config.flag(key)} {value} is over the studio's limit of {STUDIO_CAPS[key]}"
            )
    return [
        sys.executable,
        "-m",
        "ganforge",
        "train",
        "--out",
        str(runs),
        f"--resume={run}",
        "--no-progress",
        *(f"{config.flag(key)}={value}" for key, value in overrides.items()),
    ]


def train_command(form: dict[str, Any], runs: Path, name: str, data: DataAccess) -> list[str]:
    """The `ganforge train` command line for a form, validated by the checks `ganforge train` runs (a 400 naming
    the field or flag), the studio's caps and the data roots."""
    from .. import config
    from ..errors import ConfigError
    from ..models import MODELS

    if not isinstance(form, dict):
        raise StudioError(400, "training form: send a JSON object of fields")
    overrides, preset = {}, form.get("preset") or None
    for key, value in form.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise StudioError(400, f"training form: {key} is over {MAX_TEXT} characters")
        if key in ("name", "preset") or value in (None, ""):
            continue
        if key not in FORM_KEYS:
            raise StudioError(400, f"training form: unknown field {key!r} (known: {', '.join(FORM_KEYS)})")
        overrides[FORM_KEYS[key]] = _form_value(FORM_KEYS[key], value)
    if "data.source" not in overrides:
        raise StudioError(400, "training form: data is required (e.g. shapes, digits, or a folder)")
    try:
        if preset is not None and not isinstance(preset, str):
            raise ConfigError(f"--preset: expected a string, got {preset!r}")
        cfg = config.resolve(overrides, preset=preset)
    except ConfigError as error:
        raise StudioError(400, f"training form: {error}") from None
    if cfg.model.name not in MODELS:
        raise StudioError(400, f"training form: model {cfg.model.name!r}: choose one of {', '.join(MODELS.names())}")
    for key, cap in STUDIO_CAPS.items():
        section, field_name = key.split(".")
        value = getattr(getattr(cfg, section), field_name)
        if value is not None and value > cap:
            raise StudioError(
                400,
                f"training form: {config.flag(key)} {value} is over the studio's limit of {cap}; "
                f"run `ganforge train` from a shell for more",
            )
    overrides["data.source"] = data.resolve(cfg.data.source)
    command = [sys.executable, "-m", "ganforge", "train", "--out", str(runs), "--name", name, "--no-progress"]
    command += [f"--preset={preset}"] if preset else []
    command += [f"{config.flag(key)}={value}" for key, value in overrides.items()]  # '=': a value is never a flag
    return command


class Jobs:
    """The studio's training processes, by id."""

    def __init__(
        self,
        runs: Path,
        data: DataAccess,
        grace_s: float = 30.0,
        max_running: int = 2,
        max_starts_per_minute: int = MAX_STARTS_PER_MINUTE,
    ):
        self.runs, self.data = runs, data
        self.grace_s = grace_s  # after SIGTERM, wait this long for the final snapshot before SIGKILL
        self.max_running = max_running
        self.max_starts_per_minute = max_starts_per_minute
        self._starts: deque[float] = deque()  # time.monotonic() of recent spawns
        self._jobs: dict[str, Job] = {}
        self.logs = runs / ".studio-logs"
        self._read_records()
        self._lock = threading.Lock()

    def _read_records(self) -> None:
        """The jobs of earlier studio sessions, from their records (a process that was still running when that studio
        exited was stopped by it)."""
        for path in sorted(self.logs.glob("*.json")) if self.logs.is_dir() else []:
            try:
                record = json.loads(path.read_text())
                job = Job(
                    str(record["id"]),
                    str(record["name"]),
                    list(record["command"]),
                    path.with_suffix(".log"),
                    None,
                    float(record["started"]),
                    bool(record.get("stop_requested")),
                    Path(record["run"]) if record.get("run") else None,
                    TERMINATED if record.get("returncode") is None else int(record["returncode"]),
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a record of ours
            self._jobs[job.id] = job

    def _save_record(self, job: Job) -> None:
        write_text(self.logs / f"{job.name}.json", json.dumps(job.record()) + "\n")

    def start(self, form: dict[str, Any]) -> Job:
        """Start a new run from a training form."""
        base = NAME_UNSAFE.sub("_", str(form.get("name") or "studio")).strip("_.")[:40] or "studio"
        return self._spawn(base, lambda name: train_command(form, self.runs, name, self.data))

    def resume(self, run: Path, form: dict[str, Any]) -> Job:
        """Continue a run of the runs folder (optionally with a new --kimg / --minutes)."""
        if any(job.run_dir(self.runs) == run and job.poll() is None for job in self._jobs.values()):
            raise StudioError(409, f"run {run.name} is already training")
        return self._spawn(run.name.split("-", 1)[-1][:40], lambda name: resume_command(run, form, self.runs), run)

    def _spawn(self, base: str, make_command, run: Path | None = None) -> Job:
        with self._lock:
            if sum(job.poll() is None for job in self._jobs.values()) >= self.max_running:
                raise StudioError(429, f"{self.max_running} training runs are already running; stop one first")
            now = time.monotonic()
            while self._starts and now - self._starts[0] > 60:
                self._starts.popleft()
            if len(self._starts) >= self.max_starts_per_minute:
                raise StudioError(
                    429, f"{self.max_starts_per_minute} training runs were started in the last minute; wait a moment"
                )
            job_id = uuid.uuid4().hex[:8]
            name = f"{base}-{job_id}"
            command = make_command(name)
            self._starts.append(now)
            log = self.logs / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "wb") as handle:
                process = subprocess.Popen(
                    command,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    start_new_session=True,
                )
            job = self._jobs[job_id] = Job(job_id, name, command, log, process, run=run)
            self._save_record(job)
            threading.Thread(target=self._record_exit, args=(job,), daemon=True).start()
            return job

    def _record_exit(self, job: Job) -> None:
        job.process.wait()
        self._save_record(job)

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
        if job.process is not None and job.process.poll() is None:
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
            if job.poll() is None:
                self.stop(job.id)
        for job in self.all():
            if job.process is None:
                continue
            try:
                job.process.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()

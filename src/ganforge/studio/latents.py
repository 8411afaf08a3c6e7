"""Latent control in the studio, over `ganforge.latent`: attribute directions found on demand (SeFa, Shen & Zhou
2021; GANSpace, Haerkoenen et al. 2020) or read from `ganforge directions` files, cached per model; images of a
seed or a projected photo moved along several directions at once; and photo projections (Karras et al. 2020's
inversion) running in the background with their progress and current image readable while they run."""

from __future__ import annotations

import secrets
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..artifacts.generator import LoadedGenerator
from ..errors import GanforgeError
from ..imaging import to_uint8
from ..latent import Directions, find_directions, load_directions, project
from ..latent.edit import edited_latents
from ..latent.project import save_latent
from ..latent.spaces import as_generator, render
from .bounded import Bounded
from .errors import StudioError

MAX_CACHED = 16  # direction sets and finished projections kept
METHODS = ("sefa", "ganspace")
GANSPACE_STUDIO_SAMPLES = 2000  # fewer samples than the CLI's 10000: an answer in seconds on a CPU


def _latent_model(generator: LoadedGenerator) -> LoadedGenerator:
    try:
        return as_generator(generator)
    except GanforgeError as error:
        raise StudioError(422, str(error)) from None


class DirectionSets:
    """Directions per (model file, method or file, count), computed once."""

    def __init__(self):
        self._sets = Bounded(MAX_CACHED)
        self._lock = threading.Lock()

    def get(self, generator: LoadedGenerator, source: str | Path, num: int) -> Directions:
        generator = _latent_model(generator)
        key = (generator.source, str(source), num)
        with self._lock:
            if key in self._sets:
                return self._sets[key]
        try:
            if isinstance(source, Path):
                found = load_directions(source, generator, flag="directions file")
            elif source == "ganspace":
                found = find_directions(generator, "ganspace", num, samples=GANSPACE_STUDIO_SAMPLES)
            elif source == "sefa":
                found = find_directions(generator, "sefa", num)
            else:
                raise StudioError(400, f"method {source!r}: choose {' or '.join(METHODS)}, or a directions file")
        except GanforgeError as error:
            raise StudioError(422, str(error)) from None
        with self._lock:
            return self._sets.remember(key, found)


def seed_latent(generator: LoadedGenerator, seed: int, truncation: float) -> tuple[torch.Tensor, str]:
    """(latent [1, ...], space) of a seed: its truncated w for StyleGAN2, its scaled z for DCGAN, as /api/generate."""
    z = generator.latents([seed])  # [1, z_dim]
    if generator.has_styles:
        with torch.no_grad():
            return generator.styles(z, truncation=truncation)[:, 0], "w"  # [1, w_dim]
    return z * truncation, "z"


def edited_image(
    generator: LoadedGenerator, latent: torch.Tensor, space: str, directions: Directions, strengths: Sequence[float]
) -> np.ndarray:
    """uint8 [H, W, C]: the latent moved by strengths[k] standard deviations along direction k, for every k."""
    if len(strengths) > len(directions.vectors):
        raise StudioError(400, f"strengths: {len(strengths)} values for {len(directions.vectors)} directions")
    for vector, strength in zip(directions.vectors, strengths):
        if strength:
            latent, space = edited_latents(generator, latent, space, vector, [strength])
    with torch.no_grad():
        return to_uint8(render(generator, latent, space))[0].permute(1, 2, 0).numpy()


@dataclass
class ProjectionJob:
    id: str
    generator: LoadedGenerator
    target: np.ndarray  # uint8 [H, W, C] the photo as uploaded
    steps: int
    step: int = 0
    image: np.ndarray | None = None  # uint8 [H, W, C] the current reconstruction
    latent: torch.Tensor | None = None  # when done: [1, ...] in `space`
    space: str = ""
    scores: dict = field(default_factory=dict)
    error: str = ""
    cancelled: bool = False  # set by cancel(): the projection stops at its next step

    @property
    def done(self) -> bool:
        return self.latent is not None or bool(self.error)

    def describe(self) -> dict:
        return {
            "id": self.id,
            "step": self.step,
            "steps": self.steps,
            "done": self.done,
            "error": self.error,
            "scores": self.scores,
            "space": self.space,
        }


class _Cancelled(Exception):
    """Raised in a projection's progress callback to stop it."""


class Projections:
    """Photo projections in background threads, at most `max_running` at once; finished ones kept (bounded)."""

    def __init__(self, max_running: int = 1):
        self._jobs = Bounded(MAX_CACHED)
        self._slots = threading.BoundedSemaphore(max_running)
        self._lock = threading.Lock()

    def start(self, generator: LoadedGenerator, target: np.ndarray, steps: int) -> ProjectionJob:
        generator = _latent_model(generator)
        if not self._slots.acquire(blocking=False):
            raise StudioError(429, "a projection is already running; wait for it to finish")
        job = ProjectionJob(secrets.token_hex(8), generator, target, steps)
        with self._lock:
            self._jobs.remember(job.id, job)
        threading.Thread(target=self._run, args=(job,), daemon=True).start()
        return job

    def _run(self, job: ProjectionJob) -> None:
        def progress(step: int, total: int, image: torch.Tensor) -> None:  # image uint8 [C, H, W]
            job.image, job.step = image.permute(1, 2, 0).numpy(), step
            if job.cancelled:
                raise _Cancelled

        try:
            result = project(job.generator, job.target, steps=job.steps, callback=progress)
            job.image, job.scores, job.space = result.image.permute(1, 2, 0).numpy(), result.scores, result.space
            job.step, job.latent = job.steps, result.latent
        except _Cancelled:
            job.error = f"cancelled at step {job.step} of {job.steps}"
        except GanforgeError as error:
            job.error = str(error)
        except Exception as error:  # reported on the page rather than lost in a thread
            job.error = f"projection failed: {type(error).__name__}: {error}"
        finally:
            self._slots.release()

    def get(self, job_id: str) -> ProjectionJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise StudioError(404, f"projection {job_id!r}: no such projection (it may have been forgotten)")
        return job

    def cancel(self, job_id: str) -> ProjectionJob:
        job = self.get(job_id)
        job.cancelled = True
        return job

    def latent_file(self, job_id: str) -> bytes:
        """A finished projection's latent as the latent.npz `ganforge project` writes (`ganforge edit --latent`)."""
        job = self.get(job_id)
        if job.latent is None:
            raise StudioError(409, f"projection {job_id!r}: not finished yet")
        with tempfile.TemporaryDirectory() as folder:
            return save_latent(Path(folder) / "latent.npz", job.latent, job.space, job.generator).read_bytes()

    def latent(self, job_id: str, generator: LoadedGenerator) -> tuple[torch.Tensor, str]:
        job = self.get(job_id)
        if job.latent is None:
            raise StudioError(409, f"projection {job_id!r}: not finished yet")
        if job.generator.source != generator.source:
            raise StudioError(400, f"projection {job_id!r} belongs to another model")
        return job.latent, job.space


def direction_source(value: str, resolve) -> str | Path:
    """'sefa' | 'ganspace', or a client path to a directions .npz (resolved safely by `resolve`)."""
    return value if value in METHODS else resolve(value, "directions file")

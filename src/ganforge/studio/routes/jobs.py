"""The studio's runs and training jobs: listing, live view, start, resume, stop, delete."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Body

from ...artifacts.rundir import LOCK_NAME
from ..errors import StudioError
from ..runs import run_summary
from ..state import StudioDep

router = APIRouter()


@router.get("/api/runs", summary="Run folders, including ones trained elsewhere, with progress.")
def runs(studio: StudioDep) -> list[dict[str, Any]]:
    out = []
    for path in studio.run_paths():
        summary = run_summary(path)
        out.append(
            {
                key: summary[key]
                for key in ("name", "model", "data", "resolution", "kimg", "total_kimg", "finished", "state")
            }
            | {"id": studio.roots.client_path(path)}
        )
    return out


@router.get("/api/run", summary="One run's live view: stats rows, metrics, progress, ETA, newest grid.")
def run(studio: StudioDep, run: str) -> dict[str, Any]:
    path = studio.roots.resolve(run, "run")
    if not (path.is_dir() and (path / "config.json").is_file()):
        raise StudioError(404, f"run {run!r}: not a run folder (no config.json)")
    summary = run_summary(path)
    grid = summary.pop("grid")
    summary["grid"] = studio.roots.client_path(grid) if grid else None
    summary["id"] = run
    return summary


@router.get("/api/data", summary="What a training run may read: built-in sets and folders under the data roots.")
def data_choices(studio: StudioDep) -> list[str]:
    return studio.data.choices()


@router.get("/api/jobs", summary="Training runs started by this studio.")
def jobs(studio: StudioDep) -> list[dict[str, Any]]:
    return [studio.describe_job(job) for job in studio.jobs.all()]


@router.post("/api/jobs", summary="Start `ganforge train` as a separate process from a form.")
def start_job(
    studio: StudioDep, form: dict[str, Any] = Body(..., examples=[{"data": "shapes", "model": "dcgan", "kimg": 10}])
):
    return studio.describe_job(studio.jobs.start(form))


@router.post(
    "/api/jobs/resume",
    summary="Continue a run of the runs folder (`ganforge train --resume`), optionally with a new kimg / minutes.",
)
def resume_job(
    studio: StudioDep, form: dict[str, Any] = Body(..., examples=[{"run": "runs/00000-shapes-dcgan-32", "kimg": 20}])
):
    return studio.describe_job(studio.jobs.resume(studio.own_run(form.pop("run", None)), form))


@router.delete("/api/run", summary="Delete a run folder of the runs folder (not while it trains).")
def delete_run(studio: StudioDep, run: str) -> dict[str, Any]:
    path = studio.own_run(run)
    if (path / LOCK_NAME).exists() or any(
        job.poll() is None and job.run_dir(studio.runs_dir) == path for job in studio.jobs.all()
    ):
        raise StudioError(409, f"run {run!r} is training: stop it first")
    shutil.rmtree(path)
    return {"deleted": run}


@router.post("/api/jobs/{job_id}/stop", summary="Stop a training run (SIGTERM: a clean final snapshot).")
def stop_job(studio: StudioDep, job_id: str) -> dict[str, Any]:
    return studio.describe_job(studio.jobs.stop(job_id))

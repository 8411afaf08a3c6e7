"""`ganforge pairs`: paired (A, B) training data for pix2pix from any folder of photos.

B is the photo; A is made from it by a *pair task* (data/degradations.py: edges, noise, rain, low resolution, damage,
grayscale), deterministically from a seed, so a generator can learn A -> B. Every bad file is skipped and reported.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..atomic import atomic_open, write_text
from ..errors import ConfigError, DataError
from ..imaging import encode_png
from ..parallel import map_files
from .degradations import PAIR_TASKS
from .folder import ImageSource
from .images import ImageDecodeError, min_side, open_sized, resize_center_crop, to_array

LAYOUTS = ("folders", "side-by-side", "unpaired")


# ----------------------------------------------------------------------------------------------- make_pairs


@dataclass
class PairReport:
    out: Path  # the folder written
    task: str
    written: int  # training pairs
    holdout: int  # evaluation pairs (out/holdout)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, reason, detail)


def pair_stems(names: list[str]) -> list[str]:
    """Output names: the relative path with '/' -> '_' and the extension -> .png; collisions (a/b.png vs a_b.png,
    x.jpg vs x.png) get the old extension, then a counter, appended. Deterministic for a sorted listing."""
    stems, used = [], set()
    for name in names:
        path = PurePosixPath(name)
        base = path.with_suffix("").as_posix().replace("/", "_")
        stem, counter = base, 1
        if stem in used:
            stem = f"{base}_{path.suffix.lstrip('.').lower()}"
        while stem in used:
            counter += 1
            stem = f"{base}_{counter}"
        used.add(stem)
        stems.append(stem)
    return stems


def pair_rng(seed: int, index: int) -> np.random.Generator:
    """The generator that makes pair `index` (position in the sorted listing) for `seed`."""
    return np.random.default_rng([seed, 1, index])


def _make_pair(job: tuple) -> tuple[int, list[bytes] | None, str, str, str]:
    """Decode one photo and make its pair: (index, [A png, B png] or [A|B png], reason, detail, digest of B)."""
    source, name, index, task_name, options, resolution, seed, layout, min_size = job
    try:
        image = open_sized(source.read(name), name, min_size)
        photo = to_array(image, 3)
        if resolution:
            photo = resize_center_crop(photo, resolution)
    except ImageDecodeError as error:
        return index, None, error.reason, error.detail, ""
    except (OSError, ValueError) as error:
        return index, None, "unreadable", f"{name}: {error}", ""
    try:
        made = PAIR_TASKS.get(task_name)(photo, pair_rng(seed, index), **options)
    except Exception as error:  # noqa: BLE001 -- one odd photo must not stop the run; reported per file
        return index, None, "task failed", f"{name}: {task_name}: {type(error).__name__}: {error}", ""
    made = np.asarray(made)
    if made.ndim == 2:
        made = made[:, :, None]
    if made.shape[:2] != photo.shape[:2] or made.shape[2] not in (1, 3) or made.dtype != np.uint8:
        return (
            index,
            None,
            "task failed",
            (
                f"{name}: {task_name} returned {made.dtype} {tuple(made.shape)}, "
                f"expected uint8 {photo.shape[:2] + (1,)} or {photo.shape}"
            ),
            "",
        )
    digest = hashlib.blake2b(photo.tobytes() + str(photo.shape).encode(), digest_size=16).hexdigest()
    if layout == "side-by-side":
        pngs = [encode_png(np.concatenate([np.repeat(made, 3 // made.shape[2], axis=2), photo], axis=1))]
    else:
        pngs = [encode_png(made), encode_png(photo)]
    return index, pngs, "", "", digest


def make_pairs(
    task: str,
    src: str | Path,
    out: str | Path,
    resolution: int | None = 256,
    seed: int = 0,
    holdout: int = 0,
    layout: str = "folders",
    options: dict[str, Any] | None = None,
    workers: int | None = None,
) -> PairReport:
    """Write an (A, B) pair for every readable image of `src` (folder or zip): B the photo (resized and
    centre-cropped to `resolution` unless None), A = PAIR_TASKS[task](B, rng) with rng seeded by
    (seed, index in the sorted listing), so each pair is reproducible on its own.

    layout "folders": out/A/<stem>.png and out/B/<stem>.png; "side-by-side": out/<stem>.png with A|B (pix2pix);
    "unpaired" (CycleGAN): along a seeded permutation, the photos alternate between out/trainA/ (the photo) and
    out/trainB/ (the task's output), so no trainB image is made from a trainA photo; held-out photos give testA/<stem> + testB/<stem>.
    `holdout` = N: the last N readable images of a seeded permutation go to out/holdout/ instead.
    `options`: keyword arguments for the task (e.g. {"factor": 2} for superres, {"method": "canny"} for edges).
    Unreadable, corrupt, too-small and non-image files, and duplicates (the same photo, as resized, as an earlier
    file), are skipped and listed in the report and out/pairs.json.
    """
    try:
        function = PAIR_TASKS.get(task)
    except ConfigError as error:
        raise DataError(f"--task: {error}") from None
    options = dict(options or {})
    try:
        inspect.signature(function).bind(None, None, **options)
    except TypeError as error:
        raise ConfigError(f"--task {task}: bad option(s) {options}: {error}") from None
    if layout not in LAYOUTS:
        raise ConfigError(f"--layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if resolution is not None and resolution < 8:
        raise ConfigError(f"--resolution {resolution}: must be at least 8 (or omitted to keep each photo's size)")
    if seed < 0:
        raise ConfigError(f"--seed {seed}: must be >= 0")
    if holdout < 0:
        raise ConfigError(f"--holdout {holdout}: must be >= 0")
    if not Path(src).expanduser().exists():
        raise DataError(f"{src}: no such file or folder")
    source = ImageSource(src)
    out = Path(out).expanduser()
    src_path, out_path = source.path.resolve(), out.resolve()
    if out_path == src_path or src_path in out_path.parents:
        raise DataError(f"--out {out} is inside the source {source.path}; write the pairs somewhere else")
    skipped = source.non_images()
    if not source.names:
        raise DataError(
            f"{source.path}: no images found (png/jpg/jpeg/webp/bmp"
            f"{' in the zip' if source.is_zip else ', searched recursively'})"
        )
    count = len(source.names)
    if holdout >= count:
        raise ConfigError(f"--holdout {holdout}: {source.path} has only {count} image file(s); leave some for training")
    stems = pair_stems(source.names)
    min_size = min_side(resolution)
    # holdout candidates (the permutation's tail) are made first, so exactly `holdout` readable ones are held out
    # the unpaired layout alternates A and B along the same seeded permutation, so the halves are random
    shuffled = holdout or layout == "unpaired"
    order = np.random.default_rng([seed, 0]).permutation(count)[::-1].tolist() if shuffled else range(count)
    jobs = [(source, source.names[i], i, task, options, resolution, seed, layout, min_size) for i in order]
    previous = _previous_files(out)
    files: dict[str, str] = {}
    first_with: dict[str, str] = {}  # digest of a photo (as resized) -> the first file that had it
    held = written = 0
    for index, pngs, reason, detail, digest in map_files(_make_pair, jobs, workers, chunksize=8):
        name = source.names[index]
        if pngs is None:
            skipped.append((name, reason, detail))
            continue
        if digest in first_with:  # the same photo twice: one pair, so no held-out pair repeats a training one
            skipped.append((name, "duplicate", f"{name}: the same image as {first_with[digest]}"))
            continue
        first_with[digest] = name
        folder = "holdout/" if held < holdout else ""
        held, written = (held + 1, written) if folder else (held, written + 1)
        targets = (
            [f"{folder}{stems[index]}.png"]
            if len(pngs) == 1
            else [f"{folder}A/{stems[index]}.png", f"{folder}B/{stems[index]}.png"]
        )
        if layout == "unpaired":
            targets, pngs = _unpaired_targets(stems[index], pngs, test=bool(folder), domain_b=written % 2 == 0)
        for target, png in zip(targets, pngs):
            with atomic_open(out / target) as handle:
                handle.write(png)
            files[target] = name
    if not files:
        problems = [detail for name, _, detail in skipped if name in source.names]
        raise DataError(
            f"{source.path}: none of the {count} image files could be made into pairs; "
            f"first problem: {problems[0] if problems else 'unknown'}"
        )
    for stale in sorted(set(previous) - set(files)):  # pairs of an earlier run into the same folder
        (out / stale).unlink(missing_ok=True)
    skipped.sort()
    meta = {
        "task": task,
        "options": options,
        "seed": seed,
        "resolution": resolution,
        "layout": layout,
        "source": str(source.path),
        "written": written,
        "holdout": held,
        "skipped_count": len(skipped),
        "skipped": [{"file": n, "reason": r, "detail": d} for n, r, d in skipped],
        "files": dict(sorted(files.items())),
    }
    write_text(out / "pairs.json", json.dumps(meta, indent=1))
    return PairReport(out, task, written, held, skipped)


def _unpaired_targets(stem: str, pngs: list[bytes], test: bool, domain_b: bool) -> tuple[list[str], list[bytes]]:
    """Where one photo's [made, photo] PNGs go in the unpaired layout: both to testB/ + testA/ when held out, else
    the photo to trainA/ or the made image to trainB/."""
    made, photo = pngs
    if test:
        return [f"testB/{stem}.png", f"testA/{stem}.png"], [made, photo]
    return ([f"trainB/{stem}.png"], [made]) if domain_b else ([f"trainA/{stem}.png"], [photo])


def _previous_files(out: Path) -> list[str]:
    """PNG paths an earlier make_pairs recorded in out/pairs.json (only plain relative .png paths)."""
    try:
        files = json.loads((out / "pairs.json").read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return []
    return [
        f
        for f in files
        if isinstance(f, str) and f.endswith(".png") and not f.startswith("/") and ".." not in PurePosixPath(f).parts
    ]

"""`ganforge prepare`: convert a folder or zip of images into a clean training zip (PNG at one resolution +
dataset.json with labels), reporting every skipped file with its reason. Two `prepare` writing the same zip at once:
the second is refused (a lock file beside the zip while it is written)."""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_open
from ..errors import ConfigError, DataError
from ..filelock import exclusive_lock
from ..imaging import encode_png
from ..parallel import map_files
from .folder import ImageSource, detect_channels, labels_for
from .images import ImageDecodeError, load_image, min_side


@dataclass
class PrepareReport:
    out: Path  # the zip written
    converted: int  # images in it
    resolution: int
    channels: int
    class_names: tuple[str, ...]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, reason, detail)


def _convert(job: tuple[ImageSource, str, int, int, int]) -> tuple[str, bytes | None, str, str]:
    source, name, resolution, channels, min_size = job
    try:
        array = load_image(source.read(name), resolution, channels, name, min_size=min_size)
    except ImageDecodeError as error:
        return name, None, error.reason, error.detail
    except OSError as error:
        return name, None, "unreadable", f"{name}: {error}"
    return name, encode_png(array), "", ""


def prepare_dataset(src: str | Path, out: str | Path, resolution: int = 64, channels: int | None = None,
                    min_size: int | None = None, strict: bool = False, workers: int | None = None) -> PrepareReport:
    """Convert every readable image of `src` to `resolution`; skip (or with `strict`, stop at) bad files.

    `min_size`: images whose shorter side is below it are skipped as too small (default: resolution / 4).
    """
    if resolution < 4 or resolution & (resolution - 1):
        raise DataError(f"--resolution {resolution}: must be a power of two >= 4")
    if channels not in (None, 1, 3):
        raise ConfigError(f"--channels {channels}: must be 1 (grayscale) or 3 (RGB)")
    source = ImageSource(src)
    out = Path(out).expanduser()
    if out.resolve() == source.path.resolve():
        raise DataError(f"--out {out} would overwrite the source")
    skipped = []
    if not source.is_zip:  # files whose extension is not an image's are reported too
        skipped += source.non_images()
    if not source.names:
        raise DataError(f"{source.path}: no images found (png/jpg/jpeg/webp/bmp)")
    labels, class_names = labels_for(source)
    channels = channels or detect_channels(source)
    min_size = min_side(resolution) if min_size is None else min_size
    jobs = [(source, name, resolution, channels, min_size) for name in source.names]
    label_of = dict(zip(source.names, labels))
    kept_labels, originals = {}, {}
    out.parent.mkdir(parents=True, exist_ok=True)
    busy = f"--out {out} is being written by {{}} (another `ganforge prepare`); wait for it or choose another --out"
    with exclusive_lock(out.with_name(f".{out.name}.lock"), busy.format), atomic_open(out) as handle, \
            zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
        for name, png, reason, detail in map_files(_convert, jobs, workers, chunksize=16):
            if png is None:
                if strict:
                    raise DataError(f"--strict: {detail}")
                skipped.append((name, reason, detail))
                continue
            member = f"images/{len(originals):08d}.png"
            archive.writestr(member, png)
            originals[member] = name
            kept_labels[member] = label_of[name]
        if not originals:
            raise DataError(f"{source.path}: none of the {len(source.names)} image files could be converted; "
                            f"first problem: {skipped[0][2] if skipped else 'unknown'}")
        meta = {"resolution": resolution, "channels": channels, "class_names": list(class_names),
                "labels": kept_labels if class_names else None, "sources": originals}
        archive.writestr("dataset.json", json.dumps(meta, indent=1))
    return PrepareReport(out, len(originals), resolution, channels, class_names, skipped)


"""`ganforge pairs`: paired (A, B) training data for pix2pix from any folder of photos.

B is the photo; A is made from it by a *pair task* (edges, noise, rain, low resolution, damage, grayscale),
deterministically from a seed, so a generator can learn A -> B. Every bad file is skipped and reported.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage, signal

from ..atomic import atomic_open, write_text
from ..errors import ConfigError, DataError
from ..parallel import worker_pool
from ..registry import Registry
from .folder import ImageSource
from .images import ImageDecodeError, open_image, resize_center_crop, to_array

# name -> task(photo uint8 [H, W, 3], rng, **options) -> A uint8 [H, W, 1 or 3]
PairTask = Callable[..., np.ndarray]
PAIR_TASKS: Registry[PairTask] = Registry("pair task")
LAYOUTS = ("folders", "side-by-side", "unpaired")
DEFAULT_EDGES = "xdog"  # edges() method: "xdog" (ink-drawing look) or "canny" (1-pixel contours)
META_FILES = ("labels.json", "dataset.json", "pairs.json")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601


# ----------------------------------------------------------------------------------------------- helpers

def _gray(photo: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 BT.601 luma in [0, 1]."""
    return (photo[:, :, :3].astype(np.float32) @ LUMA) / 255.0


def _stretch(gray: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Percentile contrast stretch to [0, 1], so dark or flat-lit photos give edges too."""
    lo, hi = np.percentile(gray, [low, high])
    return np.clip((gray - lo) / max(hi - lo, 1e-3), 0.0, 1.0)


def _u8(values: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8, rounded; [H, W] gains a channel axis."""
    out = (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def _scale(photo: np.ndarray) -> float:
    """Sizes are tuned at 256 px; larger photos scale pixel sizes up (never down below the 256 look)."""
    return max(1.0, min(photo.shape[:2]) / 256.0)


# ----------------------------------------------------------------------------------------------- edges

def edges_xdog(photo: np.ndarray, rng: np.random.Generator | None = None, sigma: float = 0.7, k: float = 1.6,
               tau: float = 0.98, eps: float = -0.005, phi: float = 120.0, strong: float = -0.03,
               min_area: int = 20) -> np.ndarray:
    """Ink-drawing lines by XDoG (Winnemöller, Kyprianidis & Olsen 2012, "XDoG: an eXtended difference-of-Gaussians
    compendium"): D = G_sigma - tau * G_k*sigma, soft-thresholded as 1 + tanh(phi * (D - eps)) below eps.

    Cleaned like Canny's hysteresis: a stroke is kept only if it holds a pixel with D < `strong` and covers
    at least `min_area` pixels, so fur and noise texture do not become speckle. uint8 [H, W, 1], dark on white.
    """
    scale = _scale(photo)
    gray = _stretch(_gray(photo))
    fine = ndimage.gaussian_filter(gray, sigma * scale)
    coarse = ndimage.gaussian_filter(gray, k * sigma * scale)
    dog = fine - tau * coarse
    soft = np.where(dog >= eps, 1.0, 1.0 + np.tanh(phi * (dog - eps)))
    ink = soft < 0.5
    labels, count = ndimage.label(ink, structure=np.ones((3, 3)))
    keep = np.zeros(count + 1, dtype=bool)
    keep[labels[ink & (dog < strong)]] = True
    keep &= np.bincount(labels.ravel(), minlength=count + 1) >= min_area * scale * scale
    keep[0] = False
    near = ndimage.maximum_filter(keep[labels], size=3)  # kept strokes keep their anti-aliased rim
    return _u8(np.where(near, soft, 1.0))


def edges_canny(photo: np.ndarray, rng: np.random.Generator | None = None, sigma: float = 1.2,
                high_percentile: float = 80.0, low_ratio: float = 0.4, min_length: int = 15) -> np.ndarray:
    """Canny (1986) edges: Gaussian smoothing, Sobel gradients, non-maximum suppression along the gradient,
    hysteresis via connected components. Thresholds are automatic: `high` is the `high_percentile` of the
    gradient magnitude at the suppressed maxima, `low` = `low_ratio` * `high`; contours shorter than
    `min_length` pixels are dropped. uint8 [H, W, 1]: 1-pixel black lines on white."""
    scale = _scale(photo)
    smooth = ndimage.gaussian_filter(_stretch(_gray(photo)), sigma * scale)
    gx, gy = ndimage.sobel(smooth, axis=1), ndimage.sobel(smooth, axis=0)
    magnitude = np.hypot(gx, gy)
    sector = np.round(np.arctan2(gy, gx) / (np.pi / 4)).astype(np.int64) % 4  # 0, 45, 90, 135 degrees
    height, width = magnitude.shape
    padded = np.pad(magnitude, 1)

    def neighbour(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]

    maxima = np.zeros((height, width), dtype=bool)
    for index, (dy, dx) in enumerate([(0, 1), (1, 1), (1, 0), (1, -1)]):  # (row, col) step along the gradient
        maxima |= (sector == index) & (magnitude >= neighbour(dy, dx)) & (magnitude > neighbour(-dy, -dx))
    maxima &= magnitude > 1e-3
    if not maxima.any():
        return np.full((height, width, 1), 255, dtype=np.uint8)
    high = np.percentile(magnitude[maxima], high_percentile)
    weak = maxima & (magnitude >= low_ratio * high)
    labels, count = ndimage.label(weak, structure=np.ones((3, 3)))
    keep = np.zeros(count + 1, dtype=bool)
    keep[labels[weak & (magnitude >= high)]] = True
    keep &= np.bincount(labels.ravel(), minlength=count + 1) >= min_length * scale
    keep[0] = False
    return np.where(keep[labels], 0, 255).astype(np.uint8)[:, :, None]


EDGE_METHODS: dict[str, PairTask] = {"xdog": edges_xdog, "canny": edges_canny}


@PAIR_TASKS.register("edges")
def edges(photo: np.ndarray, rng: np.random.Generator, method: str | None = None) -> np.ndarray:
    """edges2photo (as pix2pix's edges2shoes): a sketch of the photo, dark lines on white, 1 channel.
    `method`: "xdog" (default, DEFAULT_EDGES; see edges_xdog) or "canny" (see edges_canny)."""
    method = method or DEFAULT_EDGES
    if method not in EDGE_METHODS:
        raise ConfigError(f"edges method {method!r}: choose one of {', '.join(EDGE_METHODS)}")
    return EDGE_METHODS[method](photo, rng)


# ----------------------------------------------------------------------------------------------- restoration

@PAIR_TASKS.register("denoise")
def denoise(photo: np.ndarray, rng: np.random.Generator, kind: str | None = None,
            strength: float | None = None) -> np.ndarray:
    """Noisy photo for denoising (as in DnCNN, Zhang et al. 2017, and Noise2Noise, Lehtinen et al. 2018).

    `kind` "gaussian": additive N(0, sigma^2), sigma = `strength` in 0-255 units (random 5-50);
    "poisson": shot noise Poisson(peak * x) / peak, peak = `strength` photons at white (random 4-100, log-uniform;
    fewer is noisier). Both chosen per image from `rng` when not given. 3 channels."""
    kind = kind or ("gaussian", "poisson")[int(rng.integers(2))]
    image = photo.astype(np.float32) / 255.0
    if kind == "gaussian":
        sigma = (strength if strength is not None else rng.uniform(5.0, 50.0)) / 255.0
        noisy = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    elif kind == "poisson":
        peak = strength if strength is not None else float(np.exp(rng.uniform(np.log(4.0), np.log(100.0))))
        noisy = rng.poisson(image * peak).astype(np.float32) / peak
    else:
        raise ConfigError(f"denoise kind {kind!r}: choose gaussian or poisson")
    return _u8(noisy)


def _streak_kernel(length: float, angle: float) -> np.ndarray:
    """A motion-blur kernel: an anti-aliased line `length` px long, `angle` radians from vertical,
    fading at both ends like a falling drop's streak; peak 1."""
    radius = int(math.ceil(length / 2)) + 1
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1), dtype=np.float64)
    t = np.linspace(-length / 2, length / 2, max(2, int(length * 3)))
    x, y = radius + t * math.sin(angle), radius + t * math.cos(angle)
    weight = np.sqrt(np.clip(1.0 - (2.0 * t / length) ** 2, 0.05, 1.0))
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + dy, x0 + dx), w * weight)
    return kernel / kernel.max()


def _rain_layer(shape: tuple[int, int], rng: np.random.Generator, density: float, length: float, angle: float,
                width: float, brightness: float) -> np.ndarray:
    """Sparse drops motion-blurred along the fall direction: float [H, W] in [0, 1]."""
    kernel = _streak_kernel(length, angle)
    pad = kernel.shape[0]
    height, width_px = shape[0] + 2 * pad, shape[1] + 2 * pad  # drops outside the frame streak into it
    drops = (rng.random((height, width_px)) < density) * rng.uniform(0.5, 1.0, (height, width_px))
    streaks = signal.fftconvolve(drops, kernel, mode="same")[pad:-pad, pad:-pad]
    if width > 0:
        streaks = ndimage.gaussian_filter(streaks, width) * (1.0 + 2.0 * width)  # keep the core bright
    return np.clip(streaks * brightness, 0.0, 1.0).astype(np.float32)


@PAIR_TASKS.register("rain")
def rain(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Synthetic rain for deraining, after the streak model of Garg & Nayar (2006) as used for Rain100L/H
    (Yang et al. 2017): random sparse drops, motion-blurred into streaks (random angle, length, density,
    brightness), a far layer of fine streaks and a near layer of long wide ones, screen-blended over the photo
    with a light haze. 3 channels."""
    scale = _scale(photo)
    side = min(photo.shape[:2])
    angle = math.radians(rng.uniform(-25.0, 25.0))
    brightness = rng.uniform(0.45, 0.9)
    image = photo.astype(np.float32) / 255.0
    haze = rng.uniform(0.0, 0.15)
    image = image * (1.0 - haze) + haze * 0.8
    heaviness = float(np.exp(rng.uniform(np.log(0.2), 0.0)))  # drizzle .. downpour
    layers = []
    far_length = rng.uniform(0.03, 0.07) * side
    layers.append(_rain_layer(photo.shape[:2], rng, heaviness * rng.uniform(0.005, 0.015) / scale ** 2, far_length,
                              angle + rng.normal(0.0, 0.03), 0.4 * scale, brightness * 0.7))
    near_length = rng.uniform(0.08, 0.2) * side
    layers.append(_rain_layer(photo.shape[:2], rng, heaviness * rng.uniform(0.001, 0.003) / scale ** 2, near_length,
                              angle + rng.normal(0.0, 0.03), 0.8 * scale, brightness))
    streaks = 1.0 - (1.0 - layers[0]) * (1.0 - layers[1])
    tint = np.array([0.92, 0.95, 1.0], dtype=np.float32)  # rain catches the sky light: slightly blue-white
    return _u8(1.0 - (1.0 - image) * (1.0 - streaks[:, :, None] * tint))


@PAIR_TASKS.register("superres")
def superres(photo: np.ndarray, rng: np.random.Generator, factor: int = 4, kernel: str | None = None) -> np.ndarray:
    """Low-resolution input for super-resolution (the SRCNN/SRGAN setting: Dong et al. 2014, Ledig et al. 2017):
    downscale by `factor` (2 or 4, default 4) with a box or bicubic kernel (`kernel`, random per image when
    not given), then bicubic upscale back to the original size so A and B stay pixel-aligned. 3 channels."""
    if factor not in (2, 4):
        raise ConfigError(f"superres factor {factor}: choose 2 or 4")
    kernel = kernel or ("box", "bicubic")[int(rng.integers(2))]
    if kernel not in ("box", "bicubic"):
        raise ConfigError(f"superres kernel {kernel!r}: choose box or bicubic")
    height, width = photo.shape[:2]
    image = Image.fromarray(photo)
    small = image.resize((max(1, round(width / factor)), max(1, round(height / factor))),
                         Image.Resampling.BOX if kernel == "box" else Image.Resampling.BICUBIC)
    return np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.uint8).copy()


def _scratch_points(rng: np.random.Generator, height: int, width: int) -> list[tuple[float, float]]:
    """A long gently wandering curve, mostly vertical like film scratches, sometimes at any angle."""
    if rng.random() < 0.6:
        x0, x1 = rng.uniform(0, width, 2)
        x1 = x0 + (x1 - x0) * 0.2
        start, end = np.array([x0, -2.0]), np.array([x1, height + 2.0])
    else:
        start, end = rng.uniform(0, 1, 2) * (width, height), rng.uniform(0, 1, 2) * (width, height)
    t = np.linspace(0.0, 1.0, 48)[:, None]
    direction = end - start
    normal = np.array([-direction[1], direction[0]]) / (np.linalg.norm(direction) + 1e-6)
    wobble = rng.uniform(0.0, 0.04) * min(height, width) * np.sin(
        2 * np.pi * (rng.uniform(0.3, 1.5) * t + rng.uniform()))
    points = start + t * direction + wobble * normal
    cut = np.sort(rng.uniform(0.0, 1.0, 2))  # a scratch often covers only part of its path
    keep = (t[:, 0] >= cut[0] * 0.5) & (t[:, 0] <= 0.5 + cut[1] * 0.5)
    return [tuple(p) for p in points[keep]]


@PAIR_TASKS.register("repair")
def repair(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Old-photo damage for restoration (the synthetic degradations of Wan et al. 2020, "Bringing old photos
    back to life"): thin bright or dark scratches along wandering curves, blurred yellow-brown or dark stains,
    and missing blocks filled with white, black or noise; at least one defect per image. 3 channels."""
    height, width = photo.shape[:2]
    scale, side = _scale(photo), min(height, width)
    image = photo.astype(np.float32) / 255.0
    scratches, stains, blocks = int(rng.integers(0, 7)), int(rng.integers(0, 4)), int(rng.integers(0, 3))
    if scratches + stains + blocks == 0:
        scratches = 2
    if stains:
        texture = ndimage.gaussian_filter(rng.random((height, width)).astype(np.float32), side / 40)
        texture = (texture - texture.mean()) / (texture.std() + 1e-6)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        for _ in range(stains):
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            ry, rx = rng.uniform(0.05, 0.2, 2) * side
            field = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 - 0.35 * texture  # ragged ellipse
            mask = ndimage.gaussian_filter((field < 1.0).astype(np.float32), rng.uniform(1.0, 4.0) * scale)
            if rng.random() < 0.7:
                colour = np.array([0.80, 0.62, 0.35]) * rng.uniform(0.7, 1.0)  # tea/water stain: darkens, yellows
            else:
                colour = np.full(3, rng.uniform(0.15, 0.4))  # dark blot
            opacity = rng.uniform(0.35, 0.8)
            image *= 1.0 - (opacity * mask)[:, :, None] * (1.0 - colour.astype(np.float32))
    if scratches:
        lines = Image.new("L", (width, height), 0)
        tones = Image.new("L", (width, height), 0)
        draw_line, draw_tone = ImageDraw.Draw(lines), ImageDraw.Draw(tones)
        for _ in range(scratches):
            points = _scratch_points(rng, height, width)
            if len(points) < 2:
                continue
            line_width = max(1, round(rng.choice([1, 1, 1, 2, 3]) * scale))
            tone = int(rng.choice([rng.integers(200, 256), rng.integers(0, 50)], p=[0.75, 0.25]))
            draw_line.line(points, fill=int(rng.integers(150, 256)), width=line_width)
            draw_tone.line(points, fill=tone, width=line_width)
        alpha = ndimage.gaussian_filter(np.asarray(lines, dtype=np.float32) / 255.0, 0.5 * scale)[:, :, None]
        tone_layer = np.asarray(tones, dtype=np.float32)[:, :, None] / 255.0
        image = image * (1.0 - alpha) + tone_layer * alpha
    for _ in range(blocks):
        bh, bw = (rng.uniform(0.05, 0.2, 2) * side).astype(int) + 2
        top, left = int(rng.integers(0, max(1, height - bh))), int(rng.integers(0, max(1, width - bw)))
        fill = int(rng.integers(3))
        region = image[top:top + bh, left:left + bw]
        if fill == 0:
            region[...] = 1.0
        elif fill == 1:
            region[...] = 0.0
        else:
            region[...] = rng.random(region.shape)
    return _u8(image)


@PAIR_TASKS.register("colorize")
def colorize(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grayscale input for colorization (pix2pix's colorization task; Zhang, Isola & Efros 2016):
    ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B, rounded. 1 channel."""
    rgb = photo[:, :, :3].astype(np.uint32)
    luma = (rgb[:, :, 0] * 299 + rgb[:, :, 1] * 587 + rgb[:, :, 2] * 114 + 500) // 1000
    return luma.astype(np.uint8)[:, :, None]



# ----------------------------------------------------------------------------------------------- stylisation

@PAIR_TASKS.register("cartoon")
def cartoon(photo: np.ndarray, rng: np.random.Generator, colours: int = 8, smoothing: int = 3) -> np.ndarray:
    """A cartoon rendering for unpaired photo <-> cartoon translation (CycleGAN; use --layout unpaired so the
    cartoons come from other photos than domain A): edge-preserving smoothing by `smoothing` rounds of a 5x5
    median filter (flat regions, kept boundaries), colour quantisation to a `colours`-colour median-cut palette,
    and dark XDoG ink lines (see edges_xdog) over it. 3 channels."""
    size = max(3, 2 * round(2 * _scale(photo)) + 1)  # 5 px at 256, wider on larger photos
    smooth = photo[:, :, :3]
    for _ in range(smoothing):
        smooth = ndimage.median_filter(smooth, size=(size, size, 1))
    flat = np.asarray(Image.fromarray(smooth).quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                                                       dither=Image.Dither.NONE).convert("RGB"))
    ink = edges_xdog(photo, rng).astype(np.float32) / 255.0  # [H, W, 1], 0 on lines
    return (flat.astype(np.float32) * ink + 0.5).astype(np.uint8)


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


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _make_pair(job: tuple) -> tuple[int, list[bytes] | None, str, str, str]:
    """Decode one photo and make its pair: (index, [A png, B png] or [A|B png], reason, detail, digest of B)."""
    source, name, index, task_name, options, resolution, seed, layout, min_size = job
    try:
        image = open_image(source.read(name), name)
        if min(image.size) < min_size:
            raise ImageDecodeError("too small", f"{name} is {image.size[0]}x{image.size[1]}, "
                                                f"smaller than the minimum side {min_size}")
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
        return index, None, "task failed", (f"{name}: {task_name} returned {made.dtype} {tuple(made.shape)}, "
                                            f"expected uint8 {photo.shape[:2] + (1,)} or {photo.shape}"), ""
    digest = hashlib.blake2b(photo.tobytes() + str(photo.shape).encode(), digest_size=16).hexdigest()
    if layout == "side-by-side":
        pngs = [_png(np.concatenate([np.repeat(made, 3 // made.shape[2], axis=2), photo], axis=1))]
    else:
        pngs = [_png(made), _png(photo)]
    return index, pngs, "", "", digest


def make_pairs(task: str, src: str | Path, out: str | Path, resolution: int | None = 256, seed: int = 0,
               holdout: int = 0, layout: str = "folders", options: dict[str, Any] | None = None,
               workers: int | None = None) -> PairReport:
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
    skipped = [(n, "not an image", f"{n}: not a png/jpg/jpeg/webp/bmp file")
               for n in sorted(set(source._all_names()) - set(source.names)) if n not in META_FILES]
    if not source.names:
        raise DataError(f"{source.path}: no images found (png/jpg/jpeg/webp/bmp"
                        f"{' in the zip' if source.is_zip else ', searched recursively'})")
    count = len(source.names)
    if holdout >= count:
        raise ConfigError(f"--holdout {holdout}: {source.path} has only {count} image file(s); "
                          f"leave some for training")
    stems = pair_stems(source.names)
    min_size = max(4, resolution // 4) if resolution else 4
    # holdout candidates (the permutation's tail) are made first, so exactly `holdout` readable ones are held out
    # the unpaired layout alternates A and B along the same seeded permutation, so the halves are random
    shuffled = holdout or layout == "unpaired"
    order = np.random.default_rng([seed, 0]).permutation(count)[::-1].tolist() if shuffled else range(count)
    jobs = [(source, source.names[i], i, task, options, resolution, seed, layout, min_size) for i in order]
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    if count < 64:
        workers = 1  # starting worker processes costs more than it saves
    previous = _previous_files(out)
    files: dict[str, str] = {}
    first_with: dict[str, str] = {}  # digest of a photo (as resized) -> the first file that had it
    held = written = 0
    with worker_pool(workers) as pool:
        for index, pngs, reason, detail, digest in pool.imap(_make_pair, jobs, chunksize=8):
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
            targets = [f"{folder}{stems[index]}.png"] if len(pngs) == 1 else \
                [f"{folder}A/{stems[index]}.png", f"{folder}B/{stems[index]}.png"]
            if layout == "unpaired":
                targets, pngs = _unpaired_targets(stems[index], pngs, test=bool(folder), domain_b=written % 2 == 0)
            for target, png in zip(targets, pngs):
                with atomic_open(out / target) as handle:
                    handle.write(png)
                files[target] = name
    if not files:
        problems = [detail for name, _, detail in skipped if name in source.names]
        raise DataError(f"{source.path}: none of the {count} image files could be made into pairs; "
                        f"first problem: {problems[0] if problems else 'unknown'}")
    for stale in sorted(set(previous) - set(files)):  # pairs of an earlier run into the same folder
        (out / stale).unlink(missing_ok=True)
    skipped.sort()
    meta = {"task": task, "options": options, "seed": seed, "resolution": resolution, "layout": layout,
            "source": str(source.path), "written": written, "holdout": held, "skipped_count": len(skipped),
            "skipped": [{"file": n, "reason": r, "detail": d} for n, r, d in skipped],
            "files": dict(sorted(files.items()))}
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
    return [f for f in files if isinstance(f, str) and f.endswith(".png") and not f.startswith("/")
            and ".." not in PurePosixPath(f).parts]


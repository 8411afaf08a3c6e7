"""The pair tasks of `ganforge pairs`: each makes an input A from a photo B (edges, noise, rain, low resolution,
damage, grayscale, cartoon), deterministically from the generator it is given, so a model can learn A -> B.
Registered by name in PAIR_TASKS; data/pair_tasks.py writes the pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage, signal

from ..errors import ConfigError
from ..registry import Registry

# name -> task(photo uint8 [H, W, 3], rng, **options) -> A uint8 [H, W, 1 or 3]
PairTask = Callable[..., np.ndarray]
PAIR_TASKS: Registry[PairTask] = Registry("pair task")
DEFAULT_EDGES = "xdog"  # edges() method: "xdog" (ink-drawing look) or "canny" (1-pixel contours)
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


def edges_xdog(
    photo: np.ndarray,
    rng: np.random.Generator | None = None,
    sigma: float = 0.7,
    k: float = 1.6,
    tau: float = 0.98,
    eps: float = -0.005,
    phi: float = 120.0,
    strong: float = -0.03,
    min_area: int = 20,
) -> np.ndarray:
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


def edges_canny(
    photo: np.ndarray,
    rng: np.random.Generator | None = None,
    sigma: float = 1.2,
    high_percentile: float = 80.0,
    low_ratio: float = 0.4,
    min_length: int = 15,
) -> np.ndarray:
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
        return padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

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
def denoise(
    photo: np.ndarray, rng: np.random.Generator, kind: str | None = None, strength: float | None = None
) -> np.ndarray:
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


def _rain_layer(
    shape: tuple[int, int],
    rng: np.random.Generator,
    density: float,
    length: float,
    angle: float,
    width: float,
    brightness: float,
) -> np.ndarray:
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
    layers.append(
        _rain_layer(
            photo.shape[:2],
            rng,
            heaviness * rng.uniform(0.005, 0.015) / scale**2,
            far_length,
            angle + rng.normal(0.0, 0.03),
            0.4 * scale,
            brightness * 0.7,
        )
    )
    near_length = rng.uniform(0.08, 0.2) * side
    layers.append(
        _rain_layer(
            photo.shape[:2],
            rng,
            heaviness * rng.uniform(0.001, 0.003) / scale**2,
            near_length,
            angle + rng.normal(0.0, 0.03),
            0.8 * scale,
            brightness,
        )
    )
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
    small = image.resize(
        (max(1, round(width / factor)), max(1, round(height / factor))),
        Image.Resampling.BOX if kernel == "box" else Image.Resampling.BICUBIC,
    )
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
    wobble = (
        rng.uniform(0.0, 0.04) * min(height, width) * np.sin(2 * np.pi * (rng.uniform(0.3, 1.5) * t + rng.uniform()))
    )
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
        region = image[top : top + bh, left : left + bw]
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
    flat = np.asarray(
        Image.fromarray(smooth)
        .quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        .convert("RGB")
    )
    ink = edges_xdog(photo, rng).astype(np.float32) / 255.0  # [H, W, 1], 0 on lines
    return (flat.astype(np.float32) * ink + 0.5).astype(np.uint8)

"""A line plot drawn with Pillow (no matplotlib): y against categorical x positions, one coloured line per series,
95%-interval error bars, axes with ticks and labels, a title and a legend."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..atomic import atomic_open

WIDTH, HEIGHT = 900, 560
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 250, 50, 60
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))
Y_TICK_TARGET = 6  # about this many y ticks


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _nice_step(span: float) -> float:
    raw = span / Y_TICK_TARGET
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def line_plot(
    series: dict[str, dict[float, tuple[float, float]]],
    path: str | Path,
    *,
    title: str,
    x_label: str = "training images per class",
    y_label: str = "test accuracy (%)",
    y_max: float | None = 100.0,
    log_y: bool = False,
) -> Path:
    """series: name -> {x: (mean, half-width)}; x values are placed evenly in sorted order; the y axis starts at or
    above 0 and ends at or below `y_max` (None: no upper bound). `log_y`: a logarithmic y axis (positive values,
    ticks at 1, 2, 5 x 10^k), for quantities such as FID that fall by orders of magnitude."""
    top_limit = math.inf if y_max is None else y_max
    xs = sorted({x for points in series.values() for x in points})
    values = [
        (m - (h if math.isfinite(h) else 0), m + (h if math.isfinite(h) else 0))
        for points in series.values()
        for m, h in points.values()
        if math.isfinite(m)
    ]
    low = min((v[0] for v in values), default=0.0)
    high = max((v[1] for v in values), default=100.0)
    if log_y:
        positive = [m for points in series.values() for m, _ in points.values() if math.isfinite(m) and m > 0]
        smallest, largest = min(positive, default=1.0), max(high, min(positive, default=1.0))
        decades = range(math.floor(math.log10(smallest)), math.ceil(math.log10(largest)) + 1)
        candidates = [m * 10.0**k for k in decades for m in (1, 2, 5)]
        low = max(t for t in candidates if t <= smallest * (1 + 1e-9))
        high = min(t for t in candidates if t >= largest * (1 - 1e-9))
        high = high if high > low else low * 2
        ticks = [t for t in candidates if low <= t <= high]
    else:
        step = _nice_step(max(high - low, 1.0))
        low, high = max(0.0, math.floor(low / step) * step), min(top_limit, math.ceil(high / step) * step)
        if high <= low:
            low, high = max(0.0, low - step), min(top_limit, high + step)
        ticks = [low + index * step for index in range(round((high - low) / step) + 1)]

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(12)
    left, right, top, bottom = MARGIN_LEFT, WIDTH - MARGIN_RIGHT, MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def px(index: int) -> float:
        return left + (index + 0.5) * (right - left) / max(len(xs), 1)

    def py(value: float) -> float:
        if log_y:
            value = max(value, low)  # an error bar reaching below the axis is cut at it
            return bottom - math.log(value / low) / math.log(high / low) * (bottom - top)
        return bottom - (value - low) / (high - low) * (bottom - top)

    draw.text((WIDTH / 2, 18), title, fill="black", font=font, anchor="mm")
    for tick in ticks:
        y = py(tick)
        draw.line((left, y, right, y), fill=(230, 230, 230))
        draw.line((left - 5, y, left, y), fill="black")
        draw.text((left - 8, y), f"{tick:g}", fill="black", font=small, anchor="rm")
    for index, x in enumerate(xs):
        draw.line((px(index), bottom, px(index), bottom + 5), fill="black")
        draw.text((px(index), bottom + 8), f"{x:g}", fill="black", font=small, anchor="mt")
    draw.line((left, top, left, bottom), fill="black", width=2)
    draw.line((left, bottom, right, bottom), fill="black", width=2)
    draw.text(((left + right) / 2, HEIGHT - 18), x_label, fill="black", font=font, anchor="mm")
    label = Image.new("RGB", (240, 20), "white")
    ImageDraw.Draw(label).text((120, 10), y_label, fill="black", font=font, anchor="mm")
    image.paste(label.rotate(90, expand=True), (8, (top + bottom) // 2 - 120))

    offsets = len(series)
    for number, (name, points) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        shift = (number - (offsets - 1) / 2) * 4  # spread error bars of different series apart
        coordinates = []
        for index, x in enumerate(xs):
            if x not in points or not math.isfinite(points[x][0]):
                continue
            mean, half = points[x]
            cx, cy = px(index) + shift, py(mean)
            if math.isfinite(half) and half > 0:
                draw.line((cx, py(mean - half), cx, py(mean + half)), fill=colour, width=1)
                for end in (mean - half, mean + half):
                    draw.line((cx - 4, py(end), cx + 4, py(end)), fill=colour, width=1)
            coordinates.append((cx, cy))
        if len(coordinates) > 1:
            draw.line(coordinates, fill=colour, width=2)
        for cx, cy in coordinates:
            draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), fill=colour)
        legend_y = top + 10 + number * 24
        draw.line((right + 20, legend_y, right + 50, legend_y), fill=colour, width=3)
        draw.ellipse((right + 31, legend_y - 4, right + 39, legend_y + 4), fill=colour)
        draw.text((right + 58, legend_y), name, fill="black", font=small, anchor="lm")
    path = Path(path)
    with atomic_open(path) as handle:
        image.save(handle, format="PNG")
    return path

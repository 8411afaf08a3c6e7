"""Query parameters and values that several of the studio's endpoints share."""

from __future__ import annotations

import base64

from fastapi import Query

from ...limits import SEED, TRUNCATION
from ..errors import StudioError
from ..render import png_bytes


# Shared query parameters (each use needs its own Query object: FastAPI keeps the first parameter's name on it)
def seed_query(default: int = 0):
    return Query(default, ge=SEED.low, le=SEED.high, description="Generator seed.")


def truncation_query():
    return Query(
        1.0, ge=TRUNCATION.low, le=TRUNCATION.high, description="Truncation psi (1: none; 0: the average image)."
    )


def class_query():
    return Query(None, ge=0, description="Class for conditional generators.")


def stream_query():
    return Query(None, max_length=64, description="Slider stream id: a newer request on it drops this one if waiting.")


def data_url(array) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(array)).decode()


def seed_list(text: str, what: str, limit: int = 8) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise StudioError(400, f"{what} {text!r}: give comma-separated integer seeds, e.g. 1,2,3") from None
    if not 1 <= len(seeds) <= limit or any(not SEED.low <= s <= SEED.high for s in seeds):
        raise StudioError(400, f"{what}: give 1 to {limit} seeds in {SEED.low}..{SEED.high}")
    return seeds
